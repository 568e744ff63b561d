/* Window fidelity (issue 11's targets), through the C API on power that
 * jumps between 170 W and 560 W every 0.35-0.55 s, each GPU's 100 ms
 * counter at its own phase: simulated GPUs, and the NVML test double with
 * instant power refreshed every 20 ms, as the independent stand-in does.
 * Windows of 0.12-2 s open at random phases from the moment the context
 * opens (no time to learn first); each is compared with the model's exact
 * integral of power:
 *
 *   window length   median error   p95 error
 *   1-2 s           <= 0.5 %       <= 1.5 %
 *   0.3-1 s         <= 1 %         <= 4 %
 *   0.12-0.3 s      <= 2 %         <= 12 %
 *
 * and the uncertainty covers the error in >= 95 % of windows, and no
 * EXACT value is more than 1 % off. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/context.h"
#include "devices/sim/sim.h"
#include "fakes/fake_harness.h"
#include "fidelity.h"

#define SQUARE "square:170W,560W,0.35,0.55"

static const double median_max[FID_BUCKETS] = {2.0, 1.0, 0.5};
static const double p95_max[FID_BUCKETS] = {12.0, 4.0, 1.5};

static void check_targets(const char *what, const struct fid_record *r, int n)
{
    for (int b = 0; b < FID_BUCKETS; b++) {
        struct fid_stats s, plain;
        fid_stats(r, n, b, 0, &s);
        fid_stats(r, n, b, 1, &plain);
        print_message("%s %.2f-%.2f s: n %d, median %.2f %% (plain %.2f %%), p95 %.2f %% "
                      "(plain %.2f %%), covered %.1f %%, EXACT %d\n",
                      what, fid_bucket_lo[b], fid_bucket_hi[b], s.n, s.median_pct,
                      plain.median_pct, s.p95_pct, plain.p95_pct, 100 * s.coverage, s.exact);
        if (s.n < 20)
            fail_msg("%s: only %d windows of %.2f-%.2f s", what, s.n, fid_bucket_lo[b],
                     fid_bucket_hi[b]);
        if (s.median_pct > median_max[b] || s.p95_pct > p95_max[b])
            fail_msg("%s %.2f-%.2f s: median %.2f %%, p95 %.2f %% (targets %.1f %%, %.1f %%)",
                     what, fid_bucket_lo[b], fid_bucket_hi[b], s.median_pct, s.p95_pct,
                     median_max[b], p95_max[b]);
        if (s.coverage < 0.95)
            fail_msg("%s %.2f-%.2f s: the uncertainty covers only %.1f %% of errors", what,
                     fid_bucket_lo[b], fid_bucket_hi[b], 100 * s.coverage);
        if (s.exact_off)
            fail_msg("%s %.2f-%.2f s: %d EXACT values more than 1 %% off", what,
                     fid_bucket_lo[b], fid_bucket_hi[b], s.exact_off);
    }
}

static int sim_truth(void *user, int device, int64_t t_ns, double *joules)
{
    joule_ctx *ctx = user;
    return sim_device_true_energy_at_j(ctx->devs[device], t_ns, joules);
}

static void simulated_gpus(void **state)
{
    (void)state;
    setenv("JOULE_SIM_LOAD", SQUARE, 1);
    setenv("JOULE_SIM_POWER_PERIOD_MS", "20", 1);
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, "sim:4:h100"), 0);
    if (joule_open(o, &ctx))
        fail_msg("open: %s", joule_last_error());
    joule_options_destroy(o);
    unsetenv("JOULE_SIM_LOAD");
    unsetenv("JOULE_SIM_POWER_PERIOD_MS");
    struct fid_options fo = {.duration_s = 12, .open_every_s = 0.05, .seed = 11};
    struct fid_record *r = NULL;
    int n = fid_run(ctx, &fo, sim_truth, ctx, &r);
    assert_true(n > 0);
    check_targets("sim", r, n);
    free(r);
    joule_close(ctx);
}

struct nvml_truth {
    double (*energy_at)(int, int64_t);
};

static int double_truth(void *user, int device, int64_t t_ns, double *joules)
{
    struct nvml_truth *t = user;
    *joules = t->energy_at(device, t_ns);
    return *joules < 0 ? -1 : 0;
}

static void nvml_double(void **state)
{
    (void)state;
    struct fh h;
    char cfg[1024], gpu[160];
    size_t len = (size_t)snprintf(cfg, sizeof cfg, "{\"gpus\": [");
    for (int i = 0; i < 4; i++) {
        snprintf(gpu, sizeof gpu, "%s{\"model\": \"h100\", \"schedule\": \"" SQUARE "\","
                 " \"power_period_ms\": 20}", i ? ", " : "");
        len += (size_t)snprintf(cfg + len, sizeof cfg - len, "%s", gpu);
    }
    snprintf(cfg + len, sizeof cfg - len, "]}");
    fh_start(&h, FH_NVML, cfg);
    joule_ctx *ctx = NULL;
    if (fh_open(NULL, 0, 0, &ctx))
        fail_msg("open: %s", joule_last_error());
    struct nvml_truth truth = {(double (*)(int, int64_t))fh_hook(&h, "fake_energy_at_j")};
    assert_non_null(truth.energy_at);
    struct fid_options fo = {.duration_s = 12, .open_every_s = 0.05, .seed = 12};
    struct fid_record *r = NULL;
    int n = fid_run(ctx, &fo, double_truth, &truth, &r);
    assert_true(n > 0);
    check_targets("nvml", r, n);
    free(r);
    joule_close(ctx);
    fh_finish(&h);
}

static int count_lines_with(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* An H200's energy read takes ~3 ms of CPU: the keeper reads such a
 * counter at most 1 % of the time once its timing is learned (every few
 * updates instead of each), and windows stay within their bound. */
static void slow_counter_reads_stay_in_budget(void **state)
{
    (void)state;
    char dir[] = "/tmp/joule-test-slow-XXXXXX", record[64], cfg[512];
    assert_non_null(mkdtemp(dir));
    snprintf(record, sizeof record, "%s/calls", dir);
    snprintf(cfg, sizeof cfg,
             "{\"record\": \"%s\", \"gpus\": [{\"model\": \"h100\", \"schedule\": \"" SQUARE
             "\", \"power_period_ms\": 102, \"energy_read_ms\": 3, \"counter_jitter_ms\": 3.3}]}",
             record);
    struct fh h;
    fh_start(&h, FH_NVML, cfg);
    joule_ctx *ctx = NULL;
    if (fh_open(NULL, 0, 0, &ctx))
        fail_msg("open: %s", joule_last_error());
    assert_int_equal(joule_learn_timing(ctx, 5), 0);
    double period_us;
    assert_int_equal(joule_device_timing(ctx, 0, JOULE_SOURCE_COUNTER, &period_us, NULL,
                                         NULL),
                     JOULE_TIMING_PERIODIC);
    const char *fn = "nvmlDeviceGetTotalEnergyConsumption";
    int before = count_lines_with(record, fn);
    ts_sleep_ms(4000);
    int reads = count_lines_with(record, fn) - before;
    print_message("keeper: %d energy reads of 3 ms in 4 s\n", reads);
    /* 4 s × 1 % / 3 ms = 13 reads, and a probe every 4th update. */
    if (reads < 4 || reads > 20)
        fail_msg("%d energy reads in 4 s, expected 4-20", reads);
    /* Windows still hold their bound (the reads at their edges take
     * 3 ms too). */
    struct nvml_truth truth = {(double (*)(int, int64_t))fh_hook(&h, "fake_energy_at_j")};
    struct fid_options fo = {.duration_s = 4, .open_every_s = 0.05, .seed = 13};
    struct fid_record *r = NULL;
    int n = fid_run(ctx, &fo, double_truth, &truth, &r), covered = 0, exact_off = 0;
    assert_true(n >= 10);
    for (int b = 0; b < FID_BUCKETS; b++) {
        struct fid_stats s;
        fid_stats(r, n, b, 0, &s);
        covered += (int)lround(s.coverage * s.n);
        exact_off += s.exact_off;
    }
    print_message("slow reads: %d windows, %d covered, %d EXACT > 1 %% off\n", n, covered,
                  exact_off);
    assert_true(covered >= 0.9 * n);
    assert_int_equal(exact_off, 0);
    free(r);
    joule_close(ctx);
    fh_finish(&h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simulated_gpus),
        cmocka_unit_test(nvml_double),
        cmocka_unit_test(slow_counter_reads_stay_in_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
