/* Measurement windows on simulated GPUs: nesting, overlap, cancel,
 * restart, many windows, concurrency, quality flags and the sync hook. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <joule/joule.h>

#include "test_support.h"

static joule_ctx *open_spec(const char *spec)
{
    joule_options *o;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, spec), 0);
    int rc = joule_open(o, &ctx);
    if (rc)
        fail_msg("joule_open(%s): %s", spec, joule_last_error());
    joule_options_destroy(o);
    return ctx;
}

/* H100 preset: idle 70 W, TDP 700 W; load 0.5 → 385 W. */
#define H100_HALF_W 385.0

static void window_energy_is_power_times_time(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:2:h100");
    assert_int_equal(joule_device_count(ctx), 2);
    assert_int_equal(joule_sim_set_load(ctx, 0, 0.5), 0);
    assert_int_equal(joule_sim_set_load(ctx, 1, 1.0), 0);
    /* Once the counters' timing is learned, each edge sits at its true
     * instant: the window is power × time to within its uncertainty
     * (the noise is zero-sum over pairs of 1 ms ticks), and that is
     * under 1 % of it. */
    assert_int_equal(joule_learn_timing(ctx, 2.0), 0);
    assert_int_equal(joule_window_begin(ctx, "step", 0), 0);
    ts_sleep_ms(350);
    joule_result *r;
    assert_int_equal(joule_window_end(ctx, "step", 0, &r), 0);
    double t = joule_result_time_s(r);
    assert_true(t >= 0.35 && t < 1.0);
    int q, s;
    double e0 = joule_result_energy_j(r, 0, &q, &s);
    assert_int_equal(q, JOULE_QUALITY_EXACT);
    assert_int_equal(s, 0);
    double u0 = joule_result_uncertainty_j(r, 0);
    assert_true(u0 > 0 && u0 <= 0.01 * e0);
    assert_true(fabs(e0 - H100_HALF_W * t) <= u0 + 0.05);
    double e1 = joule_result_energy_j(r, 1, NULL, NULL), u1 = joule_result_uncertainty_j(r, 1);
    assert_true(fabs(e1 - 700.0 * 0.995 * t) <= u1 + 0.05);
    assert_true(fabs(joule_result_total_j(r, JOULE_KIND_GPU) - (e0 + e1)) < 1e-9);
    assert_true(fabs(joule_result_total_all_j(r) - (e0 + e1)) < 1e-9);
    assert_string_equal(joule_result_name(r), "step");
    joule_result_free(r);
    joule_close(ctx);
}

static void nested_and_overlapping(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:a100");
    joule_sim_set_load(ctx, 0, 1.0);
    joule_result *outer, *inner, *a, *b;
    assert_int_equal(joule_window_begin(ctx, "outer", 0), 0);
    ts_sleep_ms(120);
    assert_int_equal(joule_window_begin(ctx, "inner", 0), 0);
    ts_sleep_ms(220);
    assert_int_equal(joule_window_end(ctx, "inner", 0, &inner), 0);
    ts_sleep_ms(120);
    assert_int_equal(joule_window_end(ctx, "outer", 0, &outer), 0);
    assert_true(joule_result_time_s(outer) > joule_result_time_s(inner) + 0.2);
    assert_true(joule_result_energy_j(outer, 0, NULL, NULL) >
                joule_result_energy_j(inner, 0, NULL, NULL));

    /* a: [0, 300] ms, b: [150, 450] ms */
    assert_int_equal(joule_window_begin(ctx, "a", 0), 0);
    ts_sleep_ms(150);
    assert_int_equal(joule_window_begin(ctx, "b", 0), 0);
    assert_int_equal(joule_window_open_count(ctx), 2);
    ts_sleep_ms(150);
    assert_int_equal(joule_window_end(ctx, "a", 0, &a), 0);
    ts_sleep_ms(150);
    assert_int_equal(joule_window_end(ctx, "b", 0, &b), 0);
    assert_int_equal(joule_window_open_count(ctx), 0);
    for (int i = 0; i < 2; i++) {
        joule_result *r = i ? b : a;
        double t = joule_result_time_s(r), e = joule_result_energy_j(r, 0, NULL, NULL);
        assert_true(t >= 0.3 && t < 1.5); /* sleeps overshoot on loaded machines */
        assert_true(fabs(e - 400 * 0.995 * t) <= 40.0 + 1.0);
    }
    joule_result_free(outer);
    joule_result_free(inner);
    joule_result_free(a);
    joule_result_free(b);
    joule_close(ctx);
}

static void cancel_and_restart(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:h100");
    joule_result *r = NULL;
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(joule_window_cancel(ctx, "w"), 0);
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), JOULE_ENOENT);
    assert_null(r);
    assert_non_null(strstr(joule_last_error(), "'w'"));
    assert_int_equal(joule_window_cancel(ctx, "never"), JOULE_ENOENT);

    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), JOULE_EEXIST);
    assert_non_null(strstr(joule_last_error(), "already open"));
    ts_sleep_ms(500);
    assert_int_equal(joule_window_begin(ctx, "w", JOULE_WINDOW_RESTART), 0);
    assert_int_equal(joule_window_open_count(ctx), 1);
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    assert_true(joule_result_time_s(r) < 0.4); /* timed from the restart */
    joule_result_free(r);
    joule_close(ctx);
}

static void bad_names_are_refused(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:h100");
    const char *bad[] = {"a,b", "say \"hi\"", "two\nlines", "", "tab\there", "bell\a"};
    /* The message names the input, control characters escaped. */
    const char *shown[] = {"'a,b'", "'say \"hi\"'", "'two\\nlines'", "", "'tab\\there'",
                           "'bell\\x07'"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(joule_window_begin(ctx, bad[i], 0), JOULE_EINVAL);
        if (bad[i][0] && !strstr(joule_last_error(), shown[i]))
            fail_msg("'%s' should show the name as %s", joule_last_error(), shown[i]);
    }
    assert_int_equal(joule_window_begin(ctx, NULL, 0), JOULE_EINVAL);
    assert_int_equal(joule_window_open_count(ctx), 0);
    joule_close(ctx);
}

static void ten_thousand_sequential_windows(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:8:h100");
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "step-%d", i % 7);
        assert_int_equal(joule_window_begin(ctx, name, 0), 0);
        joule_result *r;
        assert_int_equal(joule_window_end(ctx, name, 0, &r), 0);
        assert_int_equal(joule_result_device_count(r), 8);
        assert_true(joule_result_energy_j(r, 7, NULL, NULL) >= 0);
        joule_result_free(r);
    }
    assert_int_equal(joule_window_open_count(ctx), 0);
    joule_close(ctx);
}

struct thread_arg {
    joule_ctx *ctx;
    int id, failures;
};

static void *window_thread(void *p)
{
    struct thread_arg *a = p;
    char name[32];
    for (int i = 0; i < 400; i++) {
        snprintf(name, sizeof name, "t%d-%d", a->id, i % 5);
        joule_result *r = NULL;
        if (joule_window_begin(a->ctx, name, 0) ||
            joule_window_end(a->ctx, name, 0, &r) ||
            !(joule_result_energy_j(r, 0, NULL, NULL) >= 0))
            a->failures++;
        joule_result_free(r);
        /* A name shared by every thread: exactly one begin can win. */
        if (joule_window_begin(a->ctx, "shared", 0) == 0)
            joule_window_cancel(a->ctx, "shared");
    }
    return NULL;
}

static void eight_threads_at_once(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:4:h100");
    pthread_t th[8];
    struct thread_arg args[8];
    assert_int_equal(joule_window_begin(ctx, "whole", 0), 0);
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){ctx, i, 0};
        pthread_create(&th[i], NULL, window_thread, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    joule_result *r;
    assert_int_equal(joule_window_end(ctx, "whole", 0, &r), 0);
    joule_result_free(r);
    assert_int_equal(joule_window_open_count(ctx), 0);
    joule_close(ctx);
}

static void short_window_is_flagged_not_zero(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:h100");
    joule_sim_set_load(ctx, 0, 0.5);
    joule_result *r;
    assert_int_equal(joule_window_begin(ctx, "tiny", 0), 0);
    ts_sleep_ms(2);
    assert_int_equal(joule_window_end(ctx, "tiny", 0, &r), 0);
    int q;
    double e = joule_result_energy_j(r, 0, &q, NULL);
    double t = joule_result_time_s(r);
    assert_int_equal(q, JOULE_QUALITY_BELOW_RESOLUTION);
    assert_true(e > 0);
    /* estimated from instant power (385 W ± 3 % noise) */
    assert_true(fabs(e / t - H100_HALF_W) < H100_HALF_W * 0.05);
    joule_result_free(r);
    joule_close(ctx);
}

static void gpu_without_counter_is_approx(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:1:p100");
    const joule_device *d = joule_device_at(ctx, 0);
    assert_false(joule_device_caps(d) & JOULE_CAP_ENERGY_COUNTER);
    joule_sim_set_load(ctx, 0, 1.0);
    joule_result *r;
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    ts_sleep_ms(400);
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    int q;
    double e = joule_result_energy_j(r, 0, &q, NULL);
    double t = joule_result_time_s(r);
    assert_int_equal(q, JOULE_QUALITY_APPROX);
    /* P100 at full load: its 250 W TDP, capped 0.5 % under the limit */
    assert_true(fabs(e / t - 250 * 0.995) < 250 * 0.05);
    joule_result_free(r);
    joule_close(ctx);
}

static int sync_calls;
static void count_sync(void *user)
{
    (void)user;
    __atomic_fetch_add(&sync_calls, 1, __ATOMIC_SEQ_CST);
}

static void sync_hook_runs_at_both_edges(void **state)
{
    (void)state;
    joule_options *o;
    joule_ctx *ctx;
    joule_options_create(&o);
    joule_options_set_devices(o, "sim:1:h100");
    joule_options_set_sync(o, count_sync, NULL);
    assert_int_equal(joule_open(o, &ctx), 0);
    joule_options_destroy(o);
    sync_calls = 0;
    joule_result *r;
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    joule_result_free(r);
    assert_int_equal(sync_calls, 2);
    assert_int_equal(joule_window_begin(ctx, "w", JOULE_WINDOW_NO_SYNC), 0);
    assert_int_equal(joule_window_end(ctx, "w", JOULE_WINDOW_NO_SYNC, NULL), 0);
    assert_int_equal(sync_calls, 2);
    joule_close(ctx);
}

static void device_list_describes_devices(void **state)
{
    (void)state;
    joule_ctx *ctx = open_spec("sim:3:v100,a100");
    assert_int_equal(joule_device_count(ctx), 3);
    const char *want[] = {"V100", "A100", "V100"};
    for (int i = 0; i < 3; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        char label[8];
        snprintf(label, sizeof label, "gpu%d", i);
        assert_string_equal(joule_device_label(d), label);
        assert_int_equal(joule_device_index(d), i);
        assert_int_equal(joule_device_kind(d), JOULE_KIND_GPU);
        assert_string_equal(joule_device_backend(d), "sim");
        assert_non_null(strstr(joule_device_name(d), want[i]));
        assert_true(joule_device_caps(d) & JOULE_CAP_ENERGY_COUNTER);
        assert_true(joule_device_caps(d) & JOULE_CAP_SIMULATED);
        assert_true(fabs(joule_device_update_period_us(d) - 100000.0) < 1e-9);
        assert_true(fabs(joule_device_energy_resolution_uj(d) - 1000.0) < 1e-9);
    }
    assert_null(joule_device_at(ctx, 3));
    joule_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_energy_is_power_times_time),
        cmocka_unit_test(nested_and_overlapping),
        cmocka_unit_test(cancel_and_restart),
        cmocka_unit_test(bad_names_are_refused),
        cmocka_unit_test(ten_thousand_sequential_windows),
        cmocka_unit_test(eight_threads_at_once),
        cmocka_unit_test(short_window_is_flagged_not_zero),
        cmocka_unit_test(gpu_without_counter_is_approx),
        cmocka_unit_test(sync_hook_runs_at_both_edges),
        cmocka_unit_test(device_list_describes_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
