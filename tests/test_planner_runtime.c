/* joule_plan_load / joule_plan_instruction_begin / joule_plan_unload on a
 * simulated GPU. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>
#include <joule/planner.h>

#include "optimize/planner/planner.h"
#include "test_support.h"

static char plan_path[64], bad_path[64];
static int want_mhz[64];
static int want_instr[64];
static int nsteps;

/* A 2-stage, 3-microbatch frontier; writes its cheapest plan (low clocks)
 * and remembers stage 1's sequence. */
static int setup(void **state)
{
    (void)state;
    char csv[8192];
    size_t n = ts_pipeline_profile_csv(csv, sizeof csv, 8, 150, 1.3);
    pl_profile *prof;
    if (pl_profile_parse(csv, n, "rt.csv", &prof))
        return -1;
    pl_config cfg;
    pl_config_default(&cfg);
    cfg.stages = 2;
    cfg.microbatches = 3;
    pl_problem pb;
    pl_frontier f;
    if (pl_problem_init(&pb, prof, &cfg) || pl_solve(&pb, &f))
        return -1;
    pl_profile_free(prof);
    snprintf(plan_path, sizeof plan_path, "/tmp/joule_plan_rt_XXXXXX");
    int fd = mkstemp(plan_path);
    if (fd < 0)
        return -1;
    close(fd);
    const pl_plan *p = &f.pts[f.n - 1];
    if (pl_write_plan_json(&pb, p, plan_path))
        return -1;
    nsteps = 0;
    for (int k = 0; k < 6; k++) {
        int c = pb.dag.stage_seq[6 + k];
        want_instr[nsteps] = (c / 3) % 2;
        want_mhz[nsteps++] = pl_kind_of(&pb, c)->opt[p->choice[c]].freq_mhz;
    }
    /* the same plan with a clock the simulated H100 does not have */
    snprintf(bad_path, sizeof bad_path, "/tmp/joule_plan_rt_bad_XXXXXX");
    fd = mkstemp(bad_path);
    if (fd < 0)
        return -1;
    close(fd);
    FILE *bf = fopen(bad_path, "w");
    fprintf(bf, "{\"time_s\":1,\"energy_j\":1,\"stages\":[[{\"instruction\":"
                "\"forward\",\"microbatch\":0,\"frequency_mhz\":1980}],"
                "[{\"instruction\":\"forward\",\"microbatch\":0,"
                "\"frequency_mhz\":1745}]]}\n");
    fclose(bf);
    pl_frontier_free(&f);
    pl_problem_free(&pb);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(plan_path);
    unlink(bad_path);
    return 0;
}

static joule_ctx *open_sim(void)
{
    joule_options *o;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, "sim:1:h100"), 0);
    assert_int_equal(joule_options_set_keeper_interval_ms(o, -1), 0);
    int rc = joule_open(o, &ctx);
    joule_options_destroy(o);
    if (rc)
        fail_msg("joule_open: %s", joule_last_error());
    /* busy but below the power cap, so the clock is the locked one */
    assert_int_equal(joule_sim_set_load(ctx, 0, 0.5), 0);
    return ctx;
}

/* Waits until the simulated GPU runs at mhz (the control thread is
 * asynchronous). */
static int wait_clock(joule_ctx *ctx, int mhz)
{
    for (int i = 0; i < 4000; i++) {
        int sm = 0, mem = 0;
        assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &sm, &mem), 0);
        if (sm == mhz)
            return 1;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static const char *iname(int instr) { return instr ? "backward" : "forward"; }

/* Waits until the control thread has served or dropped every request. */
static void settle(joule_ctx *ctx, unsigned long *req, unsigned long *sup,
                   unsigned long *app)
{
    for (int i = 0; i < 4000; i++) {
        assert_int_equal(pl_runtime_stats(ctx, req, sup, app), 0);
        if (*sup + *app == *req)
            return;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    fail_msg("requests %lu, superseded %lu, applied %lu", *req, *sup, *app);
}

static void test_apply_plan(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim();
    int base = 0, mem = 0;
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &base, &mem), 0);
    assert_int_equal(joule_plan_load(ctx, plan_path, 1, 0), 0);
    assert_int_equal(joule_plan_load(ctx, plan_path, 1, 0), JOULE_EEXIST);
    int lowered = 0;
    for (int it = 0; it < 2; it++) { /* the plan repeats every iteration */
        for (int k = 0; k < nsteps; k++) {
            assert_int_equal(
                joule_plan_instruction_begin(ctx, iname(want_instr[k])), 0);
            if (!wait_clock(ctx, want_mhz[k]))
                fail_msg("step %d: the GPU never reached %d MHz", k,
                         want_mhz[k]);
            lowered |= want_mhz[k] < 1980;
        }
    }
    assert_true(lowered); /* the cheapest plan slows something down */
    unsigned long req, sup, app;
    settle(ctx, &req, &sup, &app);
    /* every request was served, or replaced by the next one while waiting
     * (when two computations in a row share a clock, the wait above ends
     * before the control thread took the request) */
    assert_int_equal(req, 2 * nsteps);
    assert_int_equal(sup + app, req);
    assert_true(app >= 2);
    /* unload resets the clocks */
    assert_int_equal(joule_plan_unload(ctx), 0);
    assert_true(wait_clock(ctx, base));
    assert_int_equal(joule_plan_unload(ctx), JOULE_EINVAL);
    assert_int_equal(joule_plan_instruction_begin(ctx, "forward"),
                     JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "no plan is loaded"));
    joule_close(ctx);
}

/* The handle itself (include/joule/planner.h): the caller holds it, the
 * context-keyed functions do not see it, destroying it resets the clocks. */
static void test_runtime_handle(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim();
    int base = 0, mem = 0;
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &base, &mem), 0);
    joule_plan_runtime *rt = NULL;
    assert_int_equal(joule_plan_runtime_create(ctx, plan_path, 1, 0, &rt), 0);
    for (int k = 0; k < nsteps; k++) {
        assert_int_equal(joule_plan_runtime_begin(rt, iname(want_instr[k])), 0);
        if (!wait_clock(ctx, want_mhz[k]))
            fail_msg("step %d: the GPU never reached %d MHz", k, want_mhz[k]);
    }
    unsigned long req = 0, sup = 0, app = 0;
    for (int i = 0; i < 4000 && (req == 0 || sup + app != req); i++) {
        assert_int_equal(joule_plan_runtime_stats(rt, &req, &sup, &app), 0);
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(req, nsteps);
    assert_int_equal(sup + app, req);
    /* the context-keyed API sees no plan: the handle is the caller's */
    assert_int_equal(joule_plan_unload(ctx), JOULE_EINVAL);
    assert_int_equal(joule_plan_runtime_destroy(rt), 0);
    assert_true(wait_clock(ctx, base));
    assert_int_equal(joule_plan_runtime_begin(NULL, "forward"), JOULE_EINVAL);
    assert_int_equal(joule_plan_runtime_create(ctx, "/nonexistent/plan.json", 0, 0, &rt) < 0, 1);
    assert_null(rt);
    joule_close(ctx);
}

static void test_mismatch(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim();
    assert_int_equal(joule_plan_load(ctx, plan_path, 1, 0), 0);
    assert_int_equal(joule_plan_instruction_begin(ctx, iname(want_instr[0])),
                     0);
    /* stage 1 of 2 runs F0 then B0: a second forward is a mismatch */
    assert_int_equal(want_instr[1], 1);
    assert_int_equal(joule_plan_instruction_begin(ctx, "forward"),
                     JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "plan mismatch on stage 1"));
    assert_non_null(strstr(joule_last_error(), "expects backward of "
                                               "microbatch 0"));
    /* it stays out of step until reloaded */
    assert_int_equal(joule_plan_instruction_begin(ctx, "backward"),
                     JOULE_EINVAL);
    assert_int_equal(joule_plan_instruction_begin(ctx, "sideways"),
                     JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "'sideways'"));
    /* joule_close stops the thread and resets the clocks */
    joule_close(ctx);
}

static void test_bad_plans(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim();
    assert_int_equal(joule_plan_load(ctx, bad_path, 1, 0), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "1745 MHz is not a supported "
                                               "SM clock of gpu0"));
    assert_int_equal(joule_plan_load(ctx, plan_path, 5, 0), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "stage 5 is out of range"));
    assert_true(joule_plan_load(ctx, "/nonexistent/plan.json", 0, 0) < 0);
    assert_int_equal(joule_plan_load(ctx, plan_path, 0, 7), JOULE_ENODEV);
    /* a good one still loads afterwards */
    assert_int_equal(joule_plan_load(ctx, bad_path, 0, 0), 0);
    assert_int_equal(joule_plan_unload(ctx), 0);
    joule_close(ctx);
}

static int read_plan_text(const char *text, pl_stage_plan *sp)
{
    char *dir = ts_mkdtemp();
    ts_write(dir, "p.json", text);
    char path[512];
    snprintf(path, sizeof path, "%s/p.json", dir);
    int rc = pl_stage_plan_read(path, 0, sp);
    ts_rmtree(dir);
    free(dir);
    return rc;
}

static void expect_plan_error(const char *text, const char *want)
{
    pl_stage_plan sp;
    int rc = read_plan_text(text, &sp);
    if (rc != JOULE_EINVAL || !strstr(joule_last_error(), want))
        fail_msg("plan '%s': rc %d, '%s' (want '%s')", text, rc, joule_last_error(), want);
    assert_null(sp.steps);
}

/* Integers are integers in range, and the file is one JSON value: a
 * microbatch of 2^31 overflowed an int, 1.5 was taken as 1, and text after
 * the plan was ignored. */
static void test_plan_json_input(void **state)
{
    (void)state;
#define STEP(mb) "{\"stages\":[[{\"instruction\":\"forward\",\"microbatch\":" mb \
                 ",\"frequency_mhz\":1980}]]}"
    expect_plan_error(STEP("2147483648"),
                      "stages[0][0].microbatch 2147483648 is not a whole number from 0 to "
                      "4194303");
    expect_plan_error(STEP("1.5"), "stages[0][0].microbatch 1.5 is not a whole number");
    expect_plan_error(STEP("-1"), "microbatch -1 is not");
    expect_plan_error(STEP("1e300"), "microbatch 1.0000000000000001e+300 is not");
    expect_plan_error(STEP("\"3\""), "stages[0][0].microbatch nan is not");
    expect_plan_error(STEP("0") "\ngarbage", "line 2, column 1: text after the plan's JSON");
    expect_plan_error(STEP("0") STEP("0"), "line 1, column 77: text after the plan's JSON");
    expect_plan_error("{\"stages\": [[\n  {\"instruction\": }]]}",
                      "line 2, column 19: not valid JSON");
    expect_plan_error("{\"stages\":[[{\"instruction\":\"forward\",\"microbatch\":0,"
                      "\"frequency_mhz\":1980.5}]]}",
                      "stages[0][0].frequency_mhz 1980.5 is not a whole number");
    pl_stage_plan sp;
    assert_int_equal(read_plan_text(STEP("4194303") " \n\t\n", &sp), 0); /* whitespace is fine */
    assert_int_equal(sp.n, 1);
    assert_int_equal(sp.steps[0].mb, 4194303);
    pl_stage_plan_free(&sp);
#undef STEP
}

/* A stage of 100,000 steps is read whole and in order (indexing the cJSON
 * array made this quadratic: a minute). */
static void test_long_plan(void **state)
{
    (void)state;
    enum { N = 100000 };
    char *dir = ts_mkdtemp();
    char path[512];
    snprintf(path, sizeof path, "%s/long.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"stages\": [[{\"instruction\":\"forward\",\"microbatch\":0,"
               "\"frequency_mhz\":1980}], [");
    for (int k = 0; k < N; k++)
        fprintf(f, "%s{\"instruction\":\"%s\",\"microbatch\":%d,\"frequency_mhz\":%d}",
                k ? "," : "", k % 2 ? "backward" : "forward", k / 2, 1980 - 15 * (k % 50));
    fprintf(f, "]]}\n");
    assert_int_equal(fclose(f), 0);
    pl_stage_plan sp;
    assert_int_equal(pl_stage_plan_read(path, 1, &sp), 0);
    assert_int_equal(sp.n, N);
    assert_int_equal(sp.num_stages, 2);
    for (int k = 0; k < N; k += 997) {
        assert_int_equal(sp.steps[k].instr, k % 2);
        assert_int_equal(sp.steps[k].mb, k / 2);
        assert_int_equal(sp.steps[k].freq_mhz, 1980 - 15 * (k % 50));
    }
    assert_int_equal(sp.steps[N - 1].mb, (N - 1) / 2);
    pl_stage_plan_free(&sp);
    ts_rmtree(dir);
    free(dir);
}

/* Many requests without waiting: the caller never blocks, newer requests
 * replace waiting ones, and the GPU ends at the last planned clock. */
static void test_no_blocking(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim();
    assert_int_equal(joule_plan_load(ctx, plan_path, 1, 0), 0);
    int iters = 300, last = 0;
    for (int it = 0; it < iters; it++)
        for (int k = 0; k < nsteps; k++) {
            assert_int_equal(
                joule_plan_instruction_begin(ctx, iname(want_instr[k])), 0);
            last = want_mhz[k];
        }
    assert_true(wait_clock(ctx, last));
    unsigned long req, sup, app;
    settle(ctx, &req, &sup, &app);
    assert_int_equal(req, (unsigned long)iters * nsteps);
    assert_int_equal(joule_plan_unload(ctx), 0);
    joule_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_plan),
        cmocka_unit_test(test_runtime_handle),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_bad_plans),
        cmocka_unit_test(test_plan_json_input),
        cmocka_unit_test(test_long_plan),
        cmocka_unit_test(test_no_blocking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
