/* The in-loop power-limit optimizer (src/optimize/plo.c) on simulated GPUs:
 *  - on a trace-mode V100 it picks the same limit as `joule optimize
 *    select` on its own window log;
 *  - an epoch ending mid-profile cancels that window and retries the limit;
 *  - profiles persist in SQLite: the same key skips profiling, a stopped
 *    profile resumes where it stopped, kill -9 mid-write never leaves a
 *    half-written profile, and locked or corrupt databases are clear errors;
 *  - multi-GPU energy is summed and the reduce callback is applied;
 *  - SIGTERM mid-profile restores the limit (on the NVML double, whose
 *    settings outlive the process). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "fakes/fake_harness.h"
#include "optimize/plo_store.h"
#include "test_support.h"

static joule_ctx *open_sim(const char *spec, const char *log)
{
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, spec), 0);
    if (log)
        assert_int_equal(joule_options_set_log(o, log, JOULE_LOG_CSV), 0);
    if (joule_open(o, &ctx))
        fail_msg("open %s: %s", spec, joule_last_error());
    joule_options_destroy(o);
    return ctx;
}

static joule_plo_options *opts(int warmup, int profile, double step, const char *sel,
                               const char *db, const char *job)
{
    joule_plo_options *o = NULL;
    assert_int_equal(joule_plo_options_create(&o), 0);
    assert_int_equal(joule_plo_options_set_warmup_steps(o, warmup), 0);
    assert_int_equal(joule_plo_options_set_profile_steps(o, profile), 0);
    assert_int_equal(joule_plo_options_set_pl_step_w(o, step), 0);
    assert_int_equal(joule_plo_options_set_selector(o, sel), 0);
    /* These tests follow the step counts: windows of exactly profile
     * steps (test_short_steps_measured_long_enough covers extension). */
    assert_int_equal(joule_plo_options_set_target_uncertainty(o, 0), 0);
    if (db)
        assert_int_equal(joule_plo_options_set_db(o, db), 0);
    assert_int_equal(joule_plo_options_set_job(o, job), 0);
    return o;
}

static double current_limit(joule_ctx *ctx, int gpu)
{
    double w = 0;
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, gpu, &w, NULL, NULL, NULL, NULL), 0);
    return w;
}

/* One training step of a fixed amount of work on a trace-mode GPU. */
static void trace_step(joule_ctx *ctx, double epochs)
{
    double w0, w;
    assert_int_equal(joule_sim_work_done(ctx, 0, &w0), 0);
    do {
        ts_sleep_ms(1);
        assert_int_equal(joule_sim_work_done(ctx, 0, &w), 0);
    } while (w - w0 < epochs);
}

/* A step of a fixed amount of work, spinning: 1 ms steps need no sleep. */
static void trace_spin(joule_ctx *ctx, double epochs)
{
    double w0, w;
    assert_int_equal(joule_sim_work_done(ctx, 0, &w0), 0);
    do
        assert_int_equal(joule_sim_work_done(ctx, 0, &w), 0);
    while (w - w0 < epochs);
}

/* Profiles every limit of a trace GPU with steps of `epochs` and returns
 * the limit chosen for the least energy; *note gets the optimizer's note. */
static double choose_with_steps(double epochs, int profile_steps, int spin, char *note,
                                size_t len)
{
    joule_ctx *ctx = open_sim("sim:1:trace=v100/imagenet/resnet50/256", NULL);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo_options *o = NULL;
    assert_int_equal(joule_plo_options_create(&o), 0);
    assert_int_equal(joule_plo_options_set_warmup_steps(o, 2), 0);
    assert_int_equal(joule_plo_options_set_profile_steps(o, profile_steps), 0);
    assert_int_equal(joule_plo_options_set_selector(o, "energy"), 0);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_options_destroy(o);
    for (int steps = 0; joule_plo_state(plo) != JOULE_PLO_DONE && steps < 100000; steps++) {
        assert_int_equal(joule_plo_step_begin(plo), 0);
        if (spin)
            trace_spin(ctx, epochs);
        else
            trace_step(ctx, epochs);
    }
    double w = 0;
    assert_int_equal(joule_plo_result(plo, &w), 0);
    snprintf(note, len, "%s", joule_plo_note(plo));
    joule_plo_destroy(plo);
    joule_close(ctx);
    return w;
}

/* The trace's least-energy limit is 150 W, 3 % under the next best.
 * Steps of 1 ms (40 of them: 40 ms windows, where a counter difference
 * is up to half off) are measured as long as ±1 % takes and pick what
 * ten 0.1 s steps pick; the optimizer says it lengthened them. */
static void test_short_steps_measured_long_enough(void **state)
{
    (void)state;
    char note[512], long_note[512];
    /* Ten spun steps: a sleeping step overshoots its work by a scheduler
     * tick, which on a busy machine is noise on the 3 % being decided. */
    double long_w = choose_with_steps(2.8e-5, 10, 1, long_note, sizeof long_note);
    assert_true(long_w == 150);
    /* 2.8e-7 epoch is 1 ms at 250 W (3515 s per epoch). A 1 ms step the
     * scheduler preempts runs a tick past its work: real workload noise,
     * not measurement error, and under a loaded `make test -j2` enough
     * to flip a 3 % decision now and then. Two of three runs must agree. */
    int agree = 0, runs = 0;
    double short_w = 0;
    while (runs < 3 && agree < 2 && runs - agree < 2) {
        short_w = choose_with_steps(2.8e-7, 40, 1, note, sizeof note);
        assert_non_null(strstr(note, "extended"));
        assert_non_null(strstr(note, "40 steps of"));
        agree += short_w == long_w;
        runs++;
        if (short_w != long_w)
            print_message("run %d: 1 ms steps chose %g W (%s)\n", runs, short_w, note);
    }
    if (agree < 2)
        fail_msg("1 ms steps chose %g W, 0.1 s steps %g W (%s)", short_w, long_w, note);
}

/* Epochs of 30 steps, windows that need ~10x their 10 profile steps for
 * ±1 %: an epoch end in a lengthened window keeps it as measured (and
 * goes back to the maximum between epochs), so profiling finishes instead
 * of cutting the same window every epoch. */
static void test_epoch_end_keeps_a_lengthened_window(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim("sim:1:v100", NULL);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo_options *o = opts(1, 10, 50, "energy", NULL, NULL);
    assert_int_equal(joule_plo_options_set_target_uncertainty(o, 0.01), 0);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_options_destroy(o);
    int epochs = 0;
    for (; joule_plo_state(plo) != JOULE_PLO_DONE && epochs < 20; epochs++) {
        for (int k = 0; k < 30 && joule_plo_state(plo) != JOULE_PLO_DONE; k++) {
            assert_int_equal(joule_plo_step_begin(plo), 0);
            ts_sleep_ms(1);
        }
        assert_int_equal(joule_plo_epoch_end(plo), 0);
        if (joule_plo_state(plo) != JOULE_PLO_DONE)
            assert_true(current_limit(ctx, 0) == 300); /* max between epochs */
    }
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_DONE);
    assert_non_null(strstr(joule_plo_note(plo), "extended"));
    assert_int_equal(joule_plo_measurement_count(plo), 4); /* 300..150 W by 50 */
    print_message("done after %d epochs of 30 steps\n", epochs);
    joule_plo_destroy(plo);
    joule_close(ctx);
}

static void test_trace_choice_matches_select(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char log[1024];
    snprintf(log, sizeof log, "%s/windows.csv", dir);
    joule_ctx *ctx = open_sim("sim:1:trace=v100/imagenet/resnet50/256", log);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo_options *o = opts(1, 3, 25, "cost:0.5", NULL, NULL);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_options_destroy(o);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
    assert_true(current_limit(ctx, 0) == 250);
    double w;
    assert_int_equal(joule_plo_result(plo, &w), JOULE_EBUSY);
    /* 7 limits (250..100 W) x 4 steps of 3e-5 epoch (0.11-0.2 s each) */
    int steps = 0;
    while (joule_plo_state(plo) != JOULE_PLO_DONE && steps < 200) {
        assert_int_equal(joule_plo_step_begin(plo), 0);
        if (joule_plo_state(plo) == JOULE_PLO_DONE)
            break;
        trace_step(ctx, 3e-5);
        steps++;
    }
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_DONE);
    assert_int_equal(steps, 7 * 4);
    assert_int_equal(joule_plo_result(plo, &w), 0);
    assert_true(current_limit(ctx, 0) == w);
    assert_int_equal(joule_plo_measurement_count(plo), 7);
    double pl, t, e;
    assert_int_equal(joule_plo_measurement(plo, 6, &pl, &t, &e), 0);
    assert_true(pl == 100);
    /* at 100 W the trace runs at 6781 s/epoch: 0.203 s per 3e-5 epoch */
    assert_true(t > 0.19 && t < 0.4); /* slack for a loaded CI machine */
    joule_plo_destroy(plo);
    assert_true(current_limit(ctx, 0) == 250); /* back to the max */
    joule_close(ctx);

    /* select on the log */
    char *argv[] = {(char *)JOULE_TEST_CLI, "optimize", "select", "--profile", log,
                    "--selector", "cost", "--eta", "0.5", "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = ts_run(argv, NULL, &out, &err);
    if (rc != 0)
        fail_msg("select exited %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choice");
    double chosen = cJSON_GetObjectItemCaseSensitive(ch, "power_limit_w")->valuedouble;
    if (chosen != w)
        fail_msg("optimizer chose %g W, select on its log %g W:\n%s", w, chosen, out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "points")), 7);
    cJSON_Delete(j);
    free(out);
    free(err);
    ts_rmtree(dir);
    free(dir);
}

static int count_lines(const char *path, const char *needle)
{
    char *text = ts_read(path);
    int n = 0;
    for (char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    free(text);
    return n;
}

static void test_epoch_end_retries(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char log[1024];
    snprintf(log, sizeof log, "%s/windows.csv", dir);
    joule_ctx *ctx = open_sim("sim:1:v100", log); /* 150-300 W */
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo_options *o = opts(1, 3, 50, "energy", NULL, NULL);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_options_destroy(o);
#define STEP()                                                 \
    do {                                                       \
        assert_int_equal(joule_plo_step_begin(plo), 0);        \
        ts_sleep_ms(15);                                          \
    } while (0)
    /* 300 W: 1 warmup + 3 profile steps */
    for (int i = 0; i < 4; i++)
        STEP();
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_PROFILE);
    STEP(); /* closes 300 W, warms up 250 W */
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_WARMUP);
    assert_true(current_limit(ctx, 0) == 250);
    STEP();
    STEP(); /* 250 W profiling, 2 of 3 steps */
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_PROFILE);
    assert_int_equal(joule_window_open_count(ctx), 1);
    assert_int_equal(joule_plo_epoch_end(plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
    assert_int_equal(joule_window_open_count(ctx), 0);
    assert_true(current_limit(ctx, 0) == 300); /* max between epochs */
    assert_int_equal(joule_plo_measurement_count(plo), 1);
    /* next epoch: 250 W again, from its warmup; an epoch end in warmup too */
    STEP();
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_WARMUP);
    assert_true(current_limit(ctx, 0) == 250);
    assert_int_equal(joule_plo_epoch_end(plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
    int steps = 0;
    while (joule_plo_state(plo) != JOULE_PLO_DONE && steps < 100) {
        STEP();
        steps++;
    }
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_DONE);
    assert_int_equal(steps, 3 * 4 + 1); /* 250, 200, 150 W, then the closing step */
    assert_int_equal(joule_plo_epoch_end(plo), 0); /* no effect once done */
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_DONE);
    assert_int_equal(joule_plo_measurement_count(plo), 4);
    double w;
    assert_int_equal(joule_plo_result(plo, &w), 0);
    joule_plo_destroy(plo);
    joule_close(ctx);
    /* the log holds each limit once: the cancelled window was not logged */
    assert_int_equal(count_lines(log, "__GlobalPowerLimitOptimizer_"), 4);
    assert_int_equal(count_lines(log, "__GlobalPowerLimitOptimizer_250,"), 1);
    ts_rmtree(dir);
    free(dir);
#undef STEP
}

/* Runs an optimizer to completion with fast steps; returns the optimum. */
static double run_to_done(joule_ctx *ctx, joule_plo *plo)
{
    for (int i = 0; i < 200 && joule_plo_state(plo) != JOULE_PLO_DONE; i++) {
        int rc = joule_plo_step_begin(plo);
        if (rc)
            fail_msg("step: %s", joule_last_error());
        ts_sleep_ms(12);
    }
    (void)ctx;
    double w = 0;
    assert_int_equal(joule_plo_result(plo, &w), 0);
    return w;
}

static void test_persistence(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    joule_ctx *ctx = open_sim("sim:1:v100", NULL);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo_options *o = opts(0, 2, 50, "energy", db, "resnet");
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    double w1 = run_to_done(ctx, plo);
    joule_plo_destroy(plo);

    /* Same key: done at once, the optimum applied, no profiling. */
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_DONE);
    double w2;
    assert_int_equal(joule_plo_result(plo, &w2), 0);
    assert_true(w2 == w1);
    assert_true(current_limit(ctx, 0) == w1);
    assert_int_equal(joule_plo_measurement_count(plo), 4);
    assert_int_equal(joule_plo_step_begin(plo), 0);
    assert_int_equal(joule_window_open_count(ctx), 0);
    joule_plo_destroy(plo);
    assert_true(current_limit(ctx, 0) == 300);

    /* Another job name: profiles again. */
    assert_int_equal(joule_plo_options_set_job(o, "bert"), 0);
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
    joule_plo_destroy(plo);
    joule_close(ctx);

    /* Another GPU count: profiles again. */
    ctx = open_sim("sim:2:v100", NULL);
    assert_int_equal(joule_plo_options_set_job(o, "resnet"), 0);
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
    joule_plo_destroy(plo);
    joule_close(ctx);

    /* Without a job name nothing is written. */
    joule_plo_options_destroy(o);
    unsetenv("JOULE_JOB");
    char db2[1024];
    snprintf(db2, sizeof db2, "%s/none.db", dir);
    o = opts(0, 2, 50, "energy", db2, NULL);
    ctx = open_sim("sim:1:v100", NULL);
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_destroy(plo);
    joule_close(ctx);
    assert_int_equal(access(db2, F_OK), -1);
    joule_plo_options_destroy(o);
    ts_rmtree(dir);
    free(dir);
}

/* joule creates only its default data folder; another path's folder must
 * exist (it used to create any missing folder, even as root). */
static void test_folders(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024], probe[1024];
    unsetenv("JOULE_DB");
    joule_ctx *ctx = open_sim("sim:1:v100", NULL);
    joule_plo *plo = NULL;

    /* an explicit path with a missing folder: a clear error, nothing made */
    snprintf(db, sizeof db, "%s/sub/dir/joule.db", dir);
    joule_plo_options *o = opts(0, 2, 50, "energy", db, "job");
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_ENOENT);
    assert_null(plo);
    assert_non_null(strstr(joule_last_error(), "sub/dir' of the power-limit database"));
    assert_non_null(strstr(joule_last_error(), "creates only its default folder"));
    snprintf(probe, sizeof probe, "%s/sub", dir);
    assert_int_equal(access(probe, F_OK), -1);
    joule_plo_options_destroy(o);

    /* the same through $JOULE_DB */
    setenv("JOULE_DB", db, 1);
    o = opts(0, 2, 50, "energy", NULL, "job");
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_ENOENT);
    assert_int_equal(access(probe, F_OK), -1);
    unsetenv("JOULE_DB");

    /* the default under $XDG_DATA_HOME: its joule folder is made */
    char xdg[1024];
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    assert_int_equal(mkdir(xdg, 0700), 0);
    setenv("XDG_DATA_HOME", xdg, 1);
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_destroy(plo);
    snprintf(probe, sizeof probe, "%s/joule/joule.db", xdg);
    assert_int_equal(access(probe, F_OK), 0);
    /* ... but not a missing $XDG_DATA_HOME itself */
    snprintf(xdg, sizeof xdg, "%s/no-xdg", dir);
    setenv("XDG_DATA_HOME", xdg, 1);
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_EIO);
    assert_int_equal(access(xdg, F_OK), -1);
    unsetenv("XDG_DATA_HOME");

    /* the default under $HOME: .local/share/joule is made */
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", dir, 1);
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_destroy(plo);
    snprintf(probe, sizeof probe, "%s/.local/share/joule/joule.db", dir);
    assert_int_equal(access(probe, F_OK), 0);
    if (home)
        setenv("HOME", home, 1);
    else
        unsetenv("HOME");
    free(home);
    joule_plo_options_destroy(o);
    joule_close(ctx);
    ts_rmtree(dir);
    free(dir);
}

/* What a profiler child reports back to the test. */
struct report {
    double chosen_w;
    int profiled_steps; /* steps this process spent in WARMUP or PROFILE */
    int measured;       /* measurements it knows at the end */
};

/* One training process: a simulated H100, the optimizer over 700, 450 and
 * 200 W, 15 ms steps until DONE. */
static void profiler_child(const char *db, int out_fd)
{
    alarm(60); /* never outlive a failed parent for long */
    joule_ctx *ctx = open_sim("sim:1:h100", NULL);
    joule_sim_set_load(ctx, 0, 1.0);
    joule_plo_options *o = opts(1, 2, 250, "energy", db, "shared-job");
    joule_plo *plo = NULL;
    if (joule_plo_create(ctx, o, &plo)) {
        fprintf(stderr, "child: %s\n", joule_last_error());
        _exit(3);
    }
    struct report r = {0};
    for (int i = 0; i < 2000 && joule_plo_state(plo) != JOULE_PLO_DONE; i++) {
        if (joule_plo_step_begin(plo)) {
            fprintf(stderr, "child step: %s\n", joule_last_error());
            _exit(4);
        }
        enum joule_plo_state st = joule_plo_state(plo);
        r.profiled_steps += st == JOULE_PLO_WARMUP || st == JOULE_PLO_PROFILE;
        ts_sleep_ms(15);
    }
    if (joule_plo_result(plo, &r.chosen_w))
        _exit(5);
    if (current_limit(ctx, 0) != r.chosen_w)
        _exit(6);
    r.measured = joule_plo_measurement_count(plo);
    joule_plo_destroy(plo);
    joule_close(ctx);
    joule_plo_options_destroy(o);
    if (write(out_fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(7);
    _exit(0);
}

/* Three processes optimize one key at once: one profiles, the other two
 * wait for its profile and apply the same limit (each used to profile
 * everything and could end at a different limit). */
static void test_three_processes_share_a_profile(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    int fds[3][2];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(fds[i][0]);
            profiler_child(db, fds[i][1]);
        }
        close(fds[i][1]);
    }
    struct report r[3];
    int profilers = 0;
    for (int i = 0; i < 3; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d ended with status %d", i, status);
        assert_int_equal(read(fds[i][0], &r[i], sizeof r[i]), (ssize_t)sizeof r[i]);
        close(fds[i][0]);
        profilers += r[i].profiled_steps > 0;
        assert_int_equal(r[i].measured, 3);
    }
    assert_int_equal(profilers, 1);
    assert_true(r[0].chosen_w == r[1].chosen_w && r[1].chosen_w == r[2].chosen_w);
    /* one complete profile, and no claim left behind */
    sqlite3 *raw = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT (SELECT count(*) FROM plo_profile WHERE "
                                             "complete = 1), (SELECT count(*) FROM plo_claim)",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_int_equal(sqlite3_column_int(st, 1), 0);
    sqlite3_finalize(st);
    sqlite3_close(raw);
    ts_rmtree(dir);
    free(dir);
}

/* The process that profiles dies (SIGKILL) mid-profile: a waiter sees its
 * claim lapse (its process is gone), takes over and profiles only the
 * limits left. */
static void test_waiter_takes_over(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    joule_plo_options *o = opts(1, 2, 250, "energy", db, "takeover");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* profiles 700 W, then dies in the middle of 450 W */
        alarm(30);
        close(ready[0]);
        joule_ctx *ctx = open_sim("sim:1:h100", NULL);
        joule_sim_set_load(ctx, 0, 1.0);
        joule_plo *plo = NULL;
        if (joule_plo_create(ctx, o, &plo))
            _exit(1);
        while (joule_plo_measurement_count(plo) < 1) {
            joule_plo_step_begin(plo);
            ts_sleep_ms(15);
        }
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        for (;;) {
            joule_plo_step_begin(plo);
            ts_sleep_ms(15);
        }
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    joule_ctx *ctx = open_sim("sim:1:h100", NULL);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    /* the child holds the claim: wait at the maximum limit */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(joule_plo_step_begin(plo), 0);
        assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
        assert_true(current_limit(ctx, 0) == 700);
    }
    double w;
    assert_int_equal(joule_plo_result(plo, &w), JOULE_EBUSY);
    assert_non_null(strstr(joule_last_error(), "profiles job 'takeover'"));
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ts_sleep_ms(1100); /* one poll interval */
    assert_int_equal(joule_plo_step_begin(plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_WARMUP);
    assert_true(current_limit(ctx, 0) != 700); /* 700 W was measured by the child */
    run_to_done(ctx, plo);
    assert_int_equal(joule_plo_measurement_count(plo), 3);
    joule_plo_destroy(plo);
    joule_close(ctx);
    joule_plo_options_destroy(o);
    ts_rmtree(dir);
    free(dir);
}

static void test_resume_after_stop(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    joule_plo_options *o = opts(1, 2, 50, "energy", db, "resume");
    /* A child profiles two limits (300, 250 W) and dies by SIGKILL in the
     * middle of the third. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        joule_ctx *ctx = open_sim("sim:1:v100", NULL);
        joule_sim_set_load(ctx, 0, 1.0);
        joule_plo *plo = NULL;
        if (joule_plo_create(ctx, o, &plo))
            _exit(1);
        while (joule_plo_measurement_count(plo) < 2) {
            joule_plo_step_begin(plo);
            ts_sleep_ms(10);
        }
        joule_plo_step_begin(plo); /* 200 W warmup -> profile */
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    joule_ctx *ctx = open_sim("sim:1:v100", NULL);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    assert_int_equal(joule_plo_state(plo), JOULE_PLO_READY);
    assert_int_equal(joule_plo_measurement_count(plo), 2);
    double pl;
    assert_int_equal(joule_plo_measurement(plo, 1, &pl, NULL, NULL), 0);
    assert_true(pl == 250);
    /* the first step goes straight to the first unmeasured limit */
    assert_int_equal(joule_plo_step_begin(plo), 0);
    assert_true(current_limit(ctx, 0) == 200);
    double w = run_to_done(ctx, plo);
    assert_int_equal(joule_plo_measurement_count(plo), 4);
    joule_plo_destroy(plo);
    joule_close(ctx);
    /* and it is stored complete */
    struct plo_store *s = NULL;
    assert_int_equal(plo_store_open(db, 1000, &s), 0);
    struct jopt_point pts[8];
    int complete = 0;
    struct plo_key key = {"Tesla V100-SXM2-32GB (simulated)", 1, "resume"};
    int n = plo_store_load(s, &key, pts, 8, &complete);
    if (n != 4) {
        /* the model name may differ: list what is there */
        fail_msg("stored %d points (complete %d) for key '%s'", n, complete, key.gpu_model);
    }
    assert_int_equal(complete, 1);
    plo_store_close(s);
    (void)w;
    joule_plo_options_destroy(o);
    ts_rmtree(dir);
    free(dir);
}

/* The values the writer child stores for job k at limit pl. */
static struct jopt_point expected_point(int k, double pl)
{
    return (struct jopt_point){pl, 0.1 + k * 1e-3 + pl * 1e-6, 50.0 + k + pl / 10.0};
}

static void writer_child(const char *db)
{
    struct plo_store *s = NULL;
    if (plo_store_open(db, 5000, &s))
        _exit(3);
    static const double pls[] = {300, 250, 200, 150};
    for (int k = 0;; k++) {
        char job[32];
        snprintf(job, sizeof job, "job%d", k);
        struct plo_key key = {"GPU model", 1, job};
        struct jopt_point pts[4];
        for (int i = 0; i < 4; i++)
            pts[i] = expected_point(k, pls[i]);
        for (int i = 0; i < 3; i++)
            if (plo_store_put(s, &key, &pts[i]))
                _exit(4);
        if (plo_store_complete(s, &key, pts, 4, 200, "energy"))
            _exit(5);
    }
}

static void test_kill9_mid_write(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    srand(12345);
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            writer_child(db);
        ts_sleep_ms(40 + rand() % 120);
        kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFSIGNALED(status))
            fail_msg("writer exited %d before the kill", WEXITSTATUS(status));
    }
    /* The file is intact and every profile is whole. */
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(raw);

    struct plo_store *s = NULL;
    assert_int_equal(plo_store_open(db, 1000, &s), 0);
    int complete_profiles = 0;
    for (int k = 0; k < 1000000; k++) {
        char job[32];
        snprintf(job, sizeof job, "job%d", k);
        struct plo_key key = {"GPU model", 1, job};
        struct jopt_point pts[8];
        int complete = 0;
        int n = plo_store_load(s, &key, pts, 8, &complete);
        assert_true(n >= 0);
        if (n == 0)
            break;
        if (complete) {
            assert_int_equal(n, 4);
            complete_profiles++;
        } else {
            assert_true(n <= 3);
        }
        for (int i = 0; i < n; i++) {
            struct jopt_point want = expected_point(k, pts[i].knob);
            assert_true(pts[i].time_s == want.time_s);
            assert_true(pts[i].energy_j == want.energy_j);
        }
    }
    assert_true(complete_profiles > 0);
    print_message("kill -9 rounds left %d complete profiles, all whole\n", complete_profiles);
    plo_store_close(s);
    ts_rmtree(dir);
    free(dir);
}

static void test_db_errors(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char db[1024];
    joule_ctx *ctx = open_sim("sim:1:v100", NULL);
    joule_plo *plo = NULL;

    /* corrupt: reported, file untouched */
    const char *junk = "this is not an SQLite database, just some text that a user put here\n";
    ts_write(dir, "bad.db", junk);
    snprintf(db, sizeof db, "%s/bad.db", dir);
    joule_plo_options *o = opts(0, 2, 50, "energy", db, "job");
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_EIO);
    assert_null(plo);
    assert_non_null(strstr(joule_last_error(), "corrupt"));
    assert_non_null(strstr(joule_last_error(), "bad.db"));
    char *after = ts_read(db);
    assert_string_equal(after, junk);
    free(after);
    joule_plo_options_destroy(o);

    /* locked by another connection holding a write transaction */
    snprintf(db, sizeof db, "%s/locked.db", dir);
    o = opts(0, 2, 50, "energy", db, "job");
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0); /* creates the schema */
    joule_plo_destroy(plo);
    plo = NULL;
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(joule_plo_options_set_db_timeout_ms(o, 100), 0);
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_EBUSY);
    assert_non_null(strstr(joule_last_error(), "locked"));
    sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(raw);
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_destroy(plo);
    plo = NULL;
    joule_plo_options_destroy(o);

    /* bad options */
    assert_int_equal(joule_plo_options_create(&o), 0);
    assert_int_equal(joule_plo_options_set_selector(o, "fastest"), JOULE_EINVAL);
    assert_int_equal(joule_plo_options_set_selector(o, "cost:1.5"), JOULE_ERANGE);
    assert_int_equal(joule_plo_options_set_selector(o, "slowdown:0.5"), JOULE_ERANGE);
    assert_int_equal(joule_plo_options_set_profile_steps(o, 0), JOULE_EINVAL);
    assert_int_equal(joule_plo_options_set_warmup_steps(o, -1), JOULE_EINVAL);
    assert_int_equal(joule_plo_options_set_pl_step_w(o, 0), JOULE_EINVAL);
    assert_int_equal(joule_plo_options_set_job(o, ""), JOULE_EINVAL);
    int gpus[] = {5};
    assert_int_equal(joule_plo_options_set_gpus(o, gpus, 1), 0);
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_ENODEV);
    assert_int_equal(joule_plo_options_set_gpus(o, NULL, 0), 0);
    /* a step that leaves one limit in 150-300 W */
    assert_int_equal(joule_plo_options_set_pl_step_w(o, 200), 0);
    assert_int_equal(joule_plo_create(ctx, o, &plo), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "150-300 W"));
    joule_plo_options_destroy(o);
    joule_close(ctx);
    ts_rmtree(dir);
    free(dir);
}

struct reduce_state {
    int calls;
    double last_t, last_e;
};

static int reduce_double(double *t, double *e, void *user)
{
    struct reduce_state *r = user;
    r->calls++;
    r->last_t = *t;
    r->last_e = *e;
    *e *= 2; /* "another process" with the same energy */
    *t += 0.5; /* a slower one */
    return 0;
}

static void test_multi_gpu_and_reduce(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char log[1024];
    snprintf(log, sizeof log, "%s/windows.csv", dir);
    joule_ctx *ctx = open_sim("sim:2:v100", log);
    assert_int_equal(joule_sim_set_load(ctx, 0, 1.0), 0);
    assert_int_equal(joule_sim_set_load(ctx, 1, 0.5), 0);
    joule_plo_options *o = opts(0, 3, 75, "time", NULL, NULL);
    struct reduce_state r = {0};
    assert_int_equal(joule_plo_options_set_reduce(o, reduce_double, &r), 0);
    joule_plo *plo = NULL;
    assert_int_equal(joule_plo_create(ctx, o, &plo), 0);
    joule_plo_options_destroy(o);
    double w = run_to_done(ctx, plo);
    assert_int_equal(r.calls, 3); /* 300, 225, 150 W */
    assert_true(current_limit(ctx, 0) == w && current_limit(ctx, 1) == w);
    /* the last window: both GPUs' energies summed, then reduced */
    double pl, t, e;
    assert_int_equal(joule_plo_measurement(plo, 2, &pl, &t, &e), 0);
    assert_true(pl == 150);
    assert_true(fabs(e - 2 * r.last_e / 3) < 1e-9 * e);
    assert_true(fabs(t - (r.last_t + 0.5) / 3) < 1e-12);
    joule_plo_destroy(plo);
    joule_close(ctx);
    char *text = ts_read(log);
    const char *row = strstr(text, "__GlobalPowerLimitOptimizer_150,");
    assert_non_null(row);
    double lt, e0, e1;
    assert_int_equal(sscanf(row, "__GlobalPowerLimitOptimizer_150,%lf,%lf,%lf", &lt, &e0, &e1), 3);
    assert_true(fabs(e0 + e1 - r.last_e) < 1e-5);
    assert_true(e0 > 0 && e1 > 0); /* both capped at 150 W: near-equal */
    free(text);
    ts_rmtree(dir);
    free(dir);
}

/* A child profiles on the NVML double and is killed with SIGTERM while a
 * lowered limit is set: the limit is back at the maximum afterwards, with
 * no joule_plo_destroy. */
static void test_sigterm_restores(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"privileged\": true, \"state\": \"@STATE@\", \"gpus\": ["
             " {\"model\": \"h100\", \"load\": 1.0}]}");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30); /* never outlive a failed parent for long */
        close(ready[0]);
        joule_ctx *ctx = NULL;
        joule_plo *plo = NULL;
        joule_plo_options *o = NULL;
        if (joule_plo_options_create(&o) || joule_plo_options_set_warmup_steps(o, 0) ||
            joule_plo_options_set_profile_steps(o, 1) || joule_plo_options_set_pl_step_w(o, 100) ||
            fh_open(NULL, 50, 0, &ctx) || joule_plo_create(ctx, o, &plo)) {
            fprintf(stderr, "child: %s\n", joule_last_error());
            _exit(3);
        }
        for (int said = 0;;) {
            if (joule_plo_step_begin(plo))
                _exit(4);
            if (!said && joule_plo_power_limit_w(plo) < 700)
                said = write(ready[1], "r", 1) == 1;
            ts_sleep_ms(120);
        }
    }
    close(ready[1]);
    char c = 0;
    ssize_t got = read(ready[0], &c, 1);
    close(ready[0]);
    double lowered = fh_state(&h, 0, "pl_w");
    kill(pid, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(got, 1);
    assert_true(lowered < 700);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    fh_finish(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_choice_matches_select),
        cmocka_unit_test(test_short_steps_measured_long_enough),
        cmocka_unit_test(test_epoch_end_retries),
        cmocka_unit_test(test_epoch_end_keeps_a_lengthened_window),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_three_processes_share_a_profile),
        cmocka_unit_test(test_waiter_takes_over),
        cmocka_unit_test(test_resume_after_stop),
        cmocka_unit_test(test_kill9_mid_write),
        cmocka_unit_test(test_db_errors),
        cmocka_unit_test(test_multi_gpu_and_reduce),
        cmocka_unit_test(test_sigterm_restores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
