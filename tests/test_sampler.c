/* The sampler and its compressed histories: integration accuracy against
 * the simulator's ground truth, step-function integration, ring overflow,
 * start/stop lifecycle, counter-derived power, and concurrent readers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <joule/joule.h>

#include "core/context.h"
#include "core/stream.h"
#include "devices/sim/sim.h"
#include "test_support.h"

static joule_ctx *open_spec(const char *spec, const char *root)
{
    joule_options *o;
    joule_ctx *ctx = NULL;
    joule_options_create(&o);
    joule_options_set_devices(o, spec);
    if (root)
        joule_options_set_sysfs_root(o, root);
    if (joule_open(o, &ctx))
        fail_msg("joule_open(%s): %s", spec, joule_last_error());
    joule_options_destroy(o);
    return ctx;
}

/* ---- stream: the compressed history ---- */

static void stream_round_trips_and_dedups(void **state)
{
    (void)state;
    struct stream s;
    stream_init(&s, 3600);
    /* 1 ms reads with jitter; a value repeated 3 times is stored once. */
    int64_t t = 1000000;
    int64_t want_t[5000], want_v[5000];
    int n = 0;
    for (int k = 0; k < 5000; k++) {
        t += 1000 + (k % 7) * 13 - 40;
        int64_t v = 385000 + ((k / 3) % 11) * 1234 - 5000 * (k % 2 ? 0 : 0);
        v = 385000 + (int64_t)((k / 3) * 7919 % 23100) - 11550;
        assert_int_equal(stream_append(&s, t, v), 0);
        if (n == 0 || want_v[n - 1] != v) {
            want_t[n] = t;
            want_v[n++] = v;
        }
    }
    struct sample *got;
    int64_t last;
    int m = stream_read(&s, 0, INT64_MAX, &got, &last);
    assert_int_equal(m, n);
    assert_int_equal(last, t);
    for (int k = 0; k < n; k++) {
        assert_int_equal(got[k].t_us, want_t[k]);
        assert_int_equal(got[k].v, want_v[k]);
    }
    free(got);
    /* A range read starts with the step in force at t0. */
    m = stream_read(&s, want_t[10] + 1, want_t[20], &got, NULL);
    assert_int_equal(m, 11);
    assert_int_equal(got[0].t_us, want_t[10]);
    assert_int_equal(got[10].t_us, want_t[20]);
    free(got);
    /* Noisy 1 kHz power codes in a few bytes a sample. */
    assert_true(stream_bytes(&s) < (size_t)n * 6 + 8192);
    stream_destroy(&s);
}

static void stream_drops_oldest_and_counts(void **state)
{
    (void)state;
    struct stream s;
    stream_init(&s, 1.0); /* 1 s of history */
    const int total = 10000;
    for (int k = 0; k < total; k++)
        stream_append(&s, (int64_t)k * 1000, k); /* 1 kHz, every value new */
    uint64_t dropped = stream_dropped(&s);
    struct sample *got;
    int m = stream_read(&s, 0, INT64_MAX, &got, NULL);
    assert_true(dropped > 0);
    assert_int_equal((uint64_t)m + dropped, (uint64_t)total);
    /* What is kept covers the last second (plus at most one block). */
    assert_true(got[0].t_us <= (int64_t)(total - 1000) * 1000);
    assert_true(got[0].t_us > (int64_t)(total - 3000) * 1000);
    assert_int_equal(got[m - 1].v, total - 1);
    free(got);
    /* Memory stays bounded however long it runs. */
    size_t before = stream_bytes(&s);
    for (int k = total; k < 5 * total; k++)
        stream_append(&s, (int64_t)k * 1000, k);
    assert_true(stream_bytes(&s) <= before + 8192);
    stream_destroy(&s);
}

/* ---- sampler on devices ---- */

static void integration_matches_ground_truth(void **state)
{
    (void)state;
    setenv("JOULE_SIM_LOAD", "0:0.6,3:0.2,6:0.9", 1);
    joule_ctx *ctx = open_spec("sim:1:h100", NULL);
    unsetenv("JOULE_SIM_LOAD");
    joule_sampler *s;
    assert_int_equal(joule_sampler_create(ctx, 10, 60, &s), 0);
    assert_int_equal(joule_sampler_start(s), 0);
    ts_sleep_ms(50);
    double t0 = joule_now_s(), e0;
    assert_int_equal(sim_device_true_energy_j(ctx->devs[0], &e0), 0);
    ts_sleep_ms(10000);
    double t1 = joule_now_s(), e1;
    assert_int_equal(sim_device_true_energy_j(ctx->devs[0], &e1), 0);
    double est;
    assert_int_equal(joule_sampler_energy_j(s, 0, t0, t1, &est), 0);
    double truth = e1 - e0;
    assert_true(truth > 1000);
    if (fabs(est - truth) / truth >= 0.005)
        fail_msg("sampled %.3f J vs ground truth %.3f J", est, truth);
    assert_int_equal(joule_sampler_dropped(s, 0, JOULE_DOMAIN_POWER), 0);
    /* The timeline holds about one sample per 10 ms read. */
    int n = joule_sampler_timeline(s, 0, JOULE_DOMAIN_POWER, t0, t1, NULL, NULL, 0);
    assert_true(n > 700 && n < 1100);
    double *ts = malloc(sizeof *ts * (size_t)n), *vs = malloc(sizeof *vs * (size_t)n);
    assert_int_equal(joule_sampler_timeline(s, 0, JOULE_DOMAIN_POWER, t0, t1, ts, vs, n), n);
    for (int k = 1; k < n; k++)
        assert_true(ts[k] > ts[k - 1]);
    assert_true(vs[n - 1] > 500 && vs[n - 1] < 700); /* load 0.9: 637 W ± 3 % */
    /* The latest sample over the same span is the timeline's last one. */
    double lt, lv;
    assert_int_equal(joule_sampler_latest(s, 0, JOULE_DOMAIN_POWER, t0, t1, &lt, &lv), 0);
    assert_true(lt == ts[n - 1] && lv == vs[n - 1]);
    /* Before any sample: nothing. */
    assert_int_equal(joule_sampler_latest(s, 0, JOULE_DOMAIN_POWER, 1, 2, &lt, &lv),
                     JOULE_ENOENT);
    free(ts);
    free(vs);
    assert_true(joule_sampler_has(s, 0, JOULE_DOMAIN_TEMPERATURE));
    assert_false(joule_sampler_has(s, 0, JOULE_DOMAIN_POWER_COUNTER));
    assert_int_equal(joule_sampler_timeline(s, 0, JOULE_DOMAIN_POWER_COUNTER, t0, t1, NULL,
                                            NULL, 0), JOULE_ENOTSUP);
    joule_sampler_destroy(s);
    joule_close(ctx);
}

static void rejects_bad_arguments(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:h100", NULL);
    joule_sampler *s = NULL;
    assert_int_equal(joule_sampler_create(ctx, 0, 60, &s), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "1-1000 ms"));
    assert_int_equal(joule_sampler_create(ctx, 0.5, 60, &s), JOULE_EINVAL);
    assert_int_equal(joule_sampler_create(ctx, 10, -1, &s), JOULE_EINVAL);
    assert_int_equal(joule_sampler_create(ctx, 10, 60, &s), 0);
    joule_sampler *again;
    assert_int_equal(joule_sampler_create(ctx, 10, 60, &again), JOULE_EBUSY);
    double j;
    assert_int_equal(joule_sampler_energy_j(s, 5, 0, 1, &j), JOULE_EINVAL);
    assert_int_equal(joule_sampler_energy_j(s, 0, 2, 1, &j), JOULE_EINVAL);
    assert_int_equal(joule_sampler_energy_j(s, 0, 0, 1, &j), JOULE_ENOENT); /* never ran */
    joule_close(ctx); /* destroys the sampler too */
}

static void start_stop_a_thousand_times(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:2:a100", NULL);
    joule_sampler *s;
    assert_int_equal(joule_sampler_create(ctx, 1, 10, &s), 0);
    for (int k = 0; k < 1000; k++) {
        assert_int_equal(joule_sampler_start(s), 0);
        assert_int_equal(joule_sampler_start(s), 0); /* idempotent */
        assert_int_equal(joule_sampler_stop(s), 0);
    }
    assert_int_equal(joule_sampler_stop(s), 0);
    double cpu;
    assert_int_equal(joule_sampler_cpu_s(s, &cpu), 0);
    assert_true(cpu >= 0);
    /* Every start read the devices at least once. */
    assert_true(joule_sampler_timeline(s, 1, JOULE_DOMAIN_ENERGY, 0, 1e12, NULL, NULL, 0) >= 1);
    joule_sampler_destroy(s);
    joule_close(ctx);
}

/* RAPL: power from counter deltas, stamped at each interval's start,
 * integrates back to the counter's energy. */
static void counter_power_integrates_to_counter_energy(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    ts_rapl_zone(root, "intel-rapl:0", "package-0", 1000, 262143328850ull);
    joule_ctx *ctx = open_spec("cpu", root);
    joule_sampler *s;
    assert_int_equal(joule_sampler_create(ctx, 5, 60, &s), 0);
    assert_true(joule_sampler_has(s, 0, JOULE_DOMAIN_POWER_COUNTER));
    assert_int_equal(joule_sampler_start(s), 0);
    unsigned long long uj = 1000;
    for (int k = 0; k < 40; k++) { /* 1 J per 10 ms = 100 W, then 50 W */
        ts_sleep_ms(10);
        uj += k < 20 ? 1000000 : 500000;
        ts_rapl_set(root, "intel-rapl:0", uj);
    }
    ts_sleep_ms(30);
    joule_sampler_stop(s);
    double t[512], v[512];
    int n = joule_sampler_timeline(s, 0, JOULE_DOMAIN_ENERGY, 0, 1e12, t, v, 512);
    assert_true(n >= 2 && n <= 512);
    double first_t = t[0], last_t = t[n - 1], counted = v[n - 1] - v[0];
    assert_true(fabs(counted - (double)(uj - 1000) / 1e6) < 1e-9);
    double integrated;
    assert_int_equal(joule_sampler_energy_j(s, 0, first_t, last_t, &integrated), 0);
    assert_true(fabs(integrated - counted) < 1e-3);
    joule_sampler_destroy(s);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

/* A GPU without an energy counter: windows integrate the sampler's power. */
static void approx_windows_use_the_sampler(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:p100", NULL);
    joule_sim_set_load(ctx, 0, 0.5);
    joule_sampler *s;
    assert_int_equal(joule_sampler_create(ctx, 2, 60, &s), 0);
    assert_int_equal(joule_sampler_start(s), 0);
    double e0, e1;
    sim_device_true_energy_j(ctx->devs[0], &e0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    ts_sleep_ms(600);
    joule_result *r;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    sim_device_true_energy_j(ctx->devs[0], &e1);
    int q;
    double e = joule_result_energy_j(r, 0, &q, NULL);
    assert_int_equal(q, JOULE_QUALITY_APPROX);
    assert_true(fabs(e - (e1 - e0)) / (e1 - e0) < 0.03);
    joule_result_free(r);
    joule_sampler_destroy(s);
    joule_close(ctx);
}

struct reader_arg {
    joule_sampler *s;
    joule_ctx *ctx;
    int id, errors;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    for (int k = 0; k < 200; k++) {
        double now = joule_now_s(), j;
        int n = joule_sampler_timeline(a->s, a->id % 2, JOULE_DOMAIN_POWER, now - 1, now, NULL,
                                       NULL, 0);
        if (n < 0)
            a->errors++;
        if (joule_sampler_energy_j(a->s, a->id % 2, now - 0.2, now, &j) == 0 && !(j > 0))
            a->errors++;
        char name[16];
        snprintf(name, sizeof name, "r%d", a->id);
        joule_result *r = NULL;
        if (joule_window_begin(a->ctx, name, 0) || joule_window_end(a->ctx, name, 0, &r))
            a->errors++;
        joule_result_free(r);
    }
    return NULL;
}

static void concurrent_readers_while_sampling(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:2:h100", NULL);
    joule_sim_set_load(ctx, 0, 0.7);
    joule_sampler *s;
    assert_int_equal(joule_sampler_create(ctx, 1, 5, &s), 0);
    assert_int_equal(joule_sampler_start(s), 0);
    ts_sleep_ms(300);
    pthread_t th[4];
    struct reader_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct reader_arg){s, ctx, i, 0};
        pthread_create(&th[i], NULL, reader, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    joule_sampler_destroy(s);
    joule_close(ctx);
}

struct churn_arg {
    joule_ctx *ctx;
    int errors;
};

static void *window_churn(void *p)
{
    struct churn_arg *a = p;
    for (int k = 0; k < 300; k++) {
        joule_result *r = NULL;
        if (joule_window_begin(a->ctx, "churn", 0) || joule_window_end(a->ctx, "churn", 0, &r) ||
            !(joule_result_energy_j(r, 0, NULL, NULL) >= 0))
            a->errors++;
        joule_result_free(r);
    }
    return NULL;
}

/* Samplers come and go while another thread ends windows on a GPU whose
 * windows integrate the sampler's power: no race, no stale sampler. */
static void sampler_churn_during_windows(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:p100", NULL);
    joule_sim_set_load(ctx, 0, 0.5);
    struct churn_arg a = {ctx, 0};
    pthread_t th;
    pthread_create(&th, NULL, window_churn, &a);
    for (int k = 0; k < 20; k++) {
        joule_sampler *s;
        if (joule_sampler_create(ctx, 1, 5, &s) == 0) {
            joule_sampler_start(s);
            ts_sleep_ms(2);
            joule_sampler_destroy(s);
        }
    }
    pthread_join(th, NULL);
    assert_int_equal(a.errors, 0);
    joule_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_round_trips_and_dedups),
        cmocka_unit_test(stream_drops_oldest_and_counts),
        cmocka_unit_test(rejects_bad_arguments),
        cmocka_unit_test(start_stop_a_thousand_times),
        cmocka_unit_test(counter_power_integrates_to_counter_energy),
        cmocka_unit_test(approx_windows_use_the_sampler),
        cmocka_unit_test(concurrent_readers_while_sampling),
        cmocka_unit_test(sampler_churn_during_windows),
        cmocka_unit_test(integration_matches_ground_truth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
