/* `joule sweep` end to end:
 *  - a simulated V100 in trace mode (imagenet/resnet50/256): the frontier
 *    over (s/epoch, J/epoch) matches the trace's own time_per_epoch and
 *    time_per_epoch x average_power within 1 %;
 *  - through the NVML test double (settings persist in its state file, so
 *    what the sweep leaves behind is visible): a CMD that fails on one
 *    setting leaves the others reported and the limit restored; SIGINT
 *    stops the sweep and restores; progress lines give per-unit numbers;
 *  - bad input is refused before anything runs;
 *  - libjoule's sweep (include/joule/sweep.h) with a C function as the
 *    step, as Python would use it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <joule/sweep.h>

#include "fakes/fake_harness.h"

static cJSON *read_json(const char *path)
{
    char *text = ts_read(path);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("not JSON: %s", text);
    free(text);
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x))
        fail_msg("no number '%s'", key);
    return x->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? x->valuestring : "";
}

/* The trace's row for (imagenet, resnet50, 256, adadelta) at pl W. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void trace_row(double pl, double *tpe, double *power)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/zeus-nsdi23/summary_power_v100.csv", JOULE_TEST_DATA_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        double w, t, p;
        if (sscanf(line, "imagenet,resnet50,256,adadelta,%lf,%lf,%lf", &w, &t, &p) == 3 &&
            w == pl) {
            *tpe = t;
            *power = p;
            found = 1;
        }
    }
    fclose(f);
    assert_true(found);
}

static void test_trace_frontier(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char out[1024], svg[1024];
    snprintf(out, sizeof out, "%s/sweep.json", dir);
    snprintf(svg, sizeof svg, "%s/sweep.svg", dir);
    /* 4 limits x ~1.1 s: the sweep aligns its window edges with the 100 ms
     * counter updates, so 1 s runs are exact to well under 1 %. */
    char *argv[] = {(char *)JOULE_TEST_CLI, "sweep", "--devices",
                    "sim:1:trace=v100/imagenet/resnet50/256", "--power-limits", "250:100:50",
                    "--json", "-o", out, "--plot", svg, "--", "sleep", "1", NULL};
    char *err = NULL;
    int rc = ts_run(argv, NULL, NULL, &err);
    if (rc != 0)
        fail_msg("sweep exited %d: %s", rc, err);
    free(err);
    cJSON *j = read_json(out);
    assert_string_equal(str(j, "metric"), "per_unit");
    assert_string_equal(str(j, "knob"), "power_limit_w");
    /* Every setting: s/epoch and J/epoch as the trace says. */
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(j, "settings");
    assert_int_equal(cJSON_GetArraySize(settings), 4);
    static const double want_pl[] = {250, 200, 150, 100};
    for (int i = 0; i < 4; i++) {
        const cJSON *s = cJSON_GetArrayItem(settings, i);
        assert_true(num(s, "power_limit_w") == want_pl[i]);
        assert_string_equal(str(s, "status"), "ok");
        double tpe, pw;
        trace_row(want_pl[i], &tpe, &pw);
        double t = num(s, "time_s_per_unit"), e = num(s, "energy_j_per_unit");
        if (fabs(t / tpe - 1) > 0.01 || fabs(e / (tpe * pw) - 1) > 0.01)
            fail_msg("%g W: %g s/epoch, %g J/epoch; the trace says %g, %g", want_pl[i], t, e,
                     tpe, tpe * pw);
        assert_true(fabs(num(s, "avg_power_w") / pw - 1) < 0.01);
    }
    /* The frontier: 250, 200, 150 W (100 W is slower and costlier than
     * 150 W in the trace), each within 1 % of the trace's numbers. */
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(j, "frontier");
    assert_int_equal(cJSON_GetArraySize(fr), 3);
    static const double front_pl[] = {250, 200, 150};
    for (int i = 0; i < 3; i++) {
        const cJSON *p = cJSON_GetArrayItem(fr, i);
        assert_true(num(p, "power_limit_w") == front_pl[i]);
        double tpe, pw;
        trace_row(front_pl[i], &tpe, &pw);
        assert_true(fabs(num(p, "time_s") / tpe - 1) < 0.01);
        assert_true(fabs(num(p, "energy_j") / (tpe * pw) - 1) < 0.01);
    }
    /* Choices worked out from the trace: energy 150 W, time 250 W, cost
     * (eta 0.5, P_max 250 W): 0.5 E + 125 T -> 200 W (805 k vs 819 k at
     * 150 W and 826 k at 250 W), slowdown 1.1 (T <= 3866 s) -> 200 W. */
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    assert_true(num(cJSON_GetObjectItemCaseSensitive(ch, "energy"), "power_limit_w") == 150);
    assert_true(num(cJSON_GetObjectItemCaseSensitive(ch, "time"), "power_limit_w") == 250);
    assert_true(num(cJSON_GetObjectItemCaseSensitive(ch, "cost"), "power_limit_w") == 200);
    assert_true(num(cJSON_GetObjectItemCaseSensitive(ch, "slowdown"), "power_limit_w") == 200);
    cJSON_Delete(j);
    char *plot = ts_read(svg);
    assert_non_null(plot);
    assert_non_null(strstr(plot, "<svg"));
    assert_non_null(strstr(plot, "class=\"frontier\""));
    assert_non_null(strstr(plot, ">150 W<"));
    /* A title naming the command, and a legend entry per kind of mark. */
    assert_non_null(strstr(plot, "<title>joule sweep: sleep 1</title>"));
    assert_int_equal(count_of(plot, "class=\"legend\""), 3);
    free(plot);
    ts_rmtree(dir);
    free(dir);
}

static const char *fake_config =
    "{\"privileged\": true, \"state\": \"@STATE@\", \"gpus\": [{\"model\": \"h100\", \"load\": 0.5}]}";

static int sweep_fake(const struct fh *h, char **out, char **err, char **args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    argv[n++] = "sweep";
    argv[n++] = "--devices";
    argv[n++] = "gpu";
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    static char cfg[600], lib[600];
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_NVML_CONFIG=%s", h->cfg);
    snprintf(lib, sizeof lib, "JOULE_NVML_LIBRARY=%s", h->lib);
    char *env[] = {cfg, lib, "JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so", NULL};
    return ts_run(argv, env, out, err);
}

static void test_failed_setting(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, fake_config);
    char script[1024], out[1024];
    /* fails on its second run (the 500 W setting) */
    snprintf(script, sizeof script,
             "n=$(cat %s/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s/count; "
             "sleep 0.25; [ $n -ne 2 ]", h.dir, h.dir);
    snprintf(out, sizeof out, "%s/sweep.json", h.dir);
    char *args[] = {"--power-limits", "700:300:200", "--json", "-o", out, "--",
                    "sh", "-c", script, NULL};
    char *err = NULL;
    int rc = sweep_fake(&h, NULL, &err, args);
    if (rc != 0)
        fail_msg("sweep exited %d: %s", rc, err);
    assert_non_null(strstr(err, "500 W: command exited with status 1; going on"));
    free(err);
    cJSON *j = read_json(out);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "settings");
    assert_int_equal(cJSON_GetArraySize(s), 3);
    assert_string_equal(str(cJSON_GetArrayItem(s, 0), "status"), "ok");
    assert_string_equal(str(cJSON_GetArrayItem(s, 1), "status"), "failed");
    assert_string_equal(str(cJSON_GetArrayItem(s, 1), "error"), "command exited with status 1");
    assert_string_equal(str(cJSON_GetArrayItem(s, 2), "status"), "ok");
    assert_true(num(cJSON_GetArrayItem(s, 0), "time_s") > 0.2);
    assert_true(num(cJSON_GetArrayItem(s, 2), "energy_j") > 0);
    assert_string_equal(str(j, "metric"), "per_run");
    /* two settings measured: a frontier and choices exist */
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "frontier")) >= 1);
    assert_true(cJSON_IsObject(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "choices"), "energy")));
    cJSON_Delete(j);
    /* restored to the original 700 W */
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    fh_finish(&h);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A clock sweep of one GPU of two, with a cooldown, reporting JSON on
 * stdout: each run sees its clock locked on gpu0 only, the pause between
 * settings is kept, and the clocks are unlocked at the end. */
static void test_clock_sweep_gpus_cooldown_stdout(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"privileged\": true, \"record\": \"@REC@\", \"state\": \"@STATE@\", "
             "\"gpus\": [{\"model\": \"h100\", \"load\": 0.5}, {\"model\": \"h100\"}]}");
    char script[1024];
    /* Each run logs the locked range it sees on both GPUs. */
    snprintf(script, sizeof script,
             "grep -o '\"lock_max_mhz\":[[:space:]]*[0-9]*' %s >> %s/seen; sleep 0.2", h.state, h.dir);
    char *args[] = {"--sm-clocks", "1980,1500", "--gpus", "0", "--cooldown", "0.5",
                    "--json", "-o", "-", "--", "sh", "-c", script, NULL};
    char *out = NULL, *err = NULL;
    double t0 = now_s();
    int rc = sweep_fake(&h, &out, &err, args);
    double took = now_s() - t0;
    if (rc != 0)
        fail_msg("sweep exited %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("stdout is not JSON: '%s'", out);
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(j, "settings");
    assert_int_equal(cJSON_GetArraySize(set), 2);
    assert_true(took >= 0.5 + 2 * 0.2);
    char path[1024];
    snprintf(path, sizeof path, "%s/seen", h.dir);
    char *seen = ts_read(path);
    /* gpu0 at 1980 then 1500 MHz; gpu1 never locked */
    const char *a = strstr(seen, "1980"), *b = strstr(seen, "1500");
    if (!a || !b || b < a)
        fail_msg("runs saw locks '%s'", seen);
    free(seen);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 0);
    assert_true(fh_state(&h, 1, "lock_max_mhz") == 0);
    assert_int_equal(fh_calls(&h, "nvmlDeviceSetGpuLockedClocks gpu=1"), 0);
    cJSON_Delete(j);
    free(out);
    free(err);
    fh_finish(&h);
}

static void test_progress_units_and_csv(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, fake_config);
    char *args[] = {"--power-limits", "600,400", "-r", "2", "--csv", "--", "sh", "-c",
                    "echo 'joule:work 10' >> \"$JOULE_PROGRESS_FD\"; sleep 0.2; "
                    "echo 'joule:work 15' >> \"$JOULE_PROGRESS_FD\"", NULL};
    char *out = NULL, *err = NULL;
    int rc = sweep_fake(&h, &out, &err, args);
    if (rc != 0)
        fail_msg("sweep exited %d: %s", rc, err);
    /* machine-readable output goes to stdout (as joule run's does) */
    assert_null(strstr(err, "power_limit_w,status"));
    const char *csv = strstr(out, "power_limit_w,status,runs,time_s");
    assert_non_null(csv);
    char line[512];
    const char *row = strchr(csv, '\n') + 1;
    for (int i = 0; i < 2; i++) {
        size_t len = strcspn(row, "\n");
        memcpy(line, row, len);
        line[len] = '\0';
        double pl, t, tsd, e, esd, pw, units, tpu, epu;
        int runs;
        assert_int_equal(sscanf(line, "%lf,ok,%d,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &pl, &runs,
                                &t, &tsd, &e, &esd, &pw, &units, &tpu, &epu), 10);
        assert_true(pl == (i == 0 ? 600 : 400));
        assert_int_equal(runs, 2);
        assert_true(units == 25);
        assert_true(fabs(tpu - t / 25) < 1e-3 * tpu);
        assert_true(fabs(epu - e / 25) < 1e-3 * epu);
        row += len + 1;
    }
    free(out);
    free(err);
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    fh_finish(&h);
}

/* A progress line whose count is not a finite number >= 0 (or a total past
 * the largest double) fails its setting, naming the line, instead of
 * being skipped or turning every per-unit figure into 0 or inf. */
static void test_bad_progress(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, fake_config);
    static const char *const cmds[] = {
        "echo 'joule:work 1e999' >> \"$JOULE_PROGRESS_FD\"",
        "echo 'joule:work 1e308' >> \"$JOULE_PROGRESS_FD\"; "
        "echo 'joule:work 1e308' >> \"$JOULE_PROGRESS_FD\"",
        "echo 'joule:work -3' >> \"$JOULE_PROGRESS_FD\"",
    };
    static const char *const want[] = {"line 1: 'joule:work 1e999' is not",
                                       "line 2: 'joule:work 1e308' is not",
                                       "line 1: 'joule:work -3' is not"};
    for (int i = 0; i < 3; i++) {
        char *args[] = {"--power-limits", "600,400", "--json", "--", "sh", "-c",
                        (char *)cmds[i], NULL};
        char *err = NULL;
        int rc = sweep_fake(&h, NULL, &err, args);
        if (rc != 1 || !strstr(err, want[i]) || !strstr(err, "$JOULE_PROGRESS_FD"))
            fail_msg("case %d: exit %d, stderr '%s' (want exit 1 and '%s')", i, rc, err,
                     want[i]);
        free(err);
    }
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    fh_finish(&h);
}

static void test_sigint_restores(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, fake_config);
    char out[1024];
    snprintf(out, sizeof out, "%s/sweep.txt", h.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cfg[600], lib[600];
        snprintf(cfg, sizeof cfg, "%s", h.cfg);
        snprintf(lib, sizeof lib, "%s", h.lib);
        setenv("JOULE_FAKE_NVML_CONFIG", cfg, 1);
        setenv("JOULE_NVML_LIBRARY", lib, 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(JOULE_TEST_CLI, JOULE_TEST_CLI, "sweep", "--devices", "gpu", "--power-limits",
              "500,300", "-o", out, "--", "sleep", "5", (char *)NULL);
        _exit(127);
    }
    /* wait until the sweep has set 500 W */
    for (int i = 0; i < 200 && fh_state(&h, 0, "pl_w") != 500; i++) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    assert_true(fh_state(&h, 0, "pl_w") == 500);
    kill(pid, SIGINT);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + SIGINT);
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    fh_finish(&h);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, fake_config);
    char *err = NULL;
    char *a1[] = {"--power-limits", "800:300:100", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a1), 2);
    assert_non_null(strstr(err, "power limit 800 W is outside gpu0"));
    assert_non_null(strstr(err, "200-700 W"));
    free(err);
    char *a2[] = {"--power-limits", "700:300:0", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a2), 2);
    assert_non_null(strstr(err, "STEP > 0"));
    free(err);
    char *a3[] = {"--power-limits", "700,300", "--eta", "1.5", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a3), 2);
    assert_non_null(strstr(err, "[0, 1]"));
    free(err);
    char *a4[] = {"--power-limits", "700,300", "--max", "0.5", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a4), 2);
    assert_non_null(strstr(err, ">= 1"));
    free(err);
    char *a5[] = {"--power-limits", "700,300", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a5), 2);
    assert_non_null(strstr(err, "missing command"));
    free(err);
    char *a6[] = {"--power-limits", "700,300", "--sm-clocks", "1000", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a6), 2);
    free(err);
    /* non-finite numbers are refused: 700:600:inf gave one setting */
    char *a7[] = {"--power-limits", "700:600:inf", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a7), 2);
    assert_non_null(strstr(err, "'700:600:inf' is not HIGH:LOW:STEP with finite numbers"));
    free(err);
    char *a8[] = {"--power-limits", "700,nan", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a8), 2);
    assert_non_null(strstr(err, "is not a list of numbers"));
    free(err);
    char *a9[] = {"--sm-clocks", "1e20,1000", "--", "true", NULL};
    assert_int_equal(sweep_fake(&h, NULL, &err, a9), 2);
    assert_non_null(strstr(err, "setting 1e+20 in '1e20,1000' must be above 0 and at most 1e+06"));
    free(err);
    /* nothing was changed */
    assert_true(fh_state(&h, 0, "pl_w") == -1 || fh_state(&h, 0, "pl_w") == 700);
    fh_finish(&h);
}

/* A step as a library caller writes it: 20 ms of simulated work. */
static int sleep_step(void *user)
{
    int *calls = user;
    ++*calls;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    return 0;
}

static void test_library_sweep(void **state)
{
    (void)state;
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, "sim:2:h100"), 0);
    assert_int_equal(joule_options_set_restore_on_exit(o, 1), 0);
    assert_int_equal(joule_open(o, &ctx), 0);
    joule_options_destroy(o);

    joule_sweep_options so;
    joule_sweep_options_default(&so);
    int one = 1;
    so.gpus = &one;
    so.ngpus = 1;
    joule_sweep *sw = NULL;
    assert_int_equal(joule_sweep_create(ctx, &so, &sw), 0);
    assert_int_equal(joule_sweep_gpu_count(sw), 1);
    assert_int_equal(joule_sweep_gpu(sw, 0), 1);
    assert_int_equal(joule_sweep_simulated_count(sw), 1);
    assert_true(joule_sweep_max_power_limit_w(sw) >= 700);
    assert_int_equal(joule_sweep_check_setting(sw, 1e5), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "gpu1"));

    double knobs[2] = {700, 300};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(joule_sweep_check_setting(sw, knobs[k]), 0);
        assert_int_equal(joule_sweep_apply(sw, knobs[k]), 0);
        int calls = 0;
        joule_sweep_measurement m;
        assert_int_equal(joule_sweep_measure(sw, sleep_step, &calls, &m), 0);
        assert_int_equal(m.runs, calls);
        assert_true(m.runs >= 1 && m.runs <= so.max_runs_per_window);
        assert_false(m.stopped);
        /* per run: about one step's time */
        assert_true(m.time_s >= 0.019 && m.time_s < 1.0);
        assert_true(m.energy_j > 0 && isfinite(m.energy_j));
        assert_true(m.uncertainty_j >= 0);
        assert_true(m.sim_work >= 0);
    }
    assert_int_equal(joule_restore(ctx), 0);
    joule_sweep_destroy(sw);
    joule_close(ctx);

    /* statistics and choices over made-up points */
    double v[4] = {1, 2, 3, 4}, mean, sd;
    joule_sweep_mean_sd(v, 4, 1, &mean, &sd);
    assert_true(fabs(mean - 2.5) < 1e-12 && fabs(sd - sqrt(5.0 / 3)) < 1e-12);
    joule_sweep_mean_sd(v, 2, 2, &mean, &sd); /* 1 and 3 */
    assert_true(fabs(mean - 2) < 1e-12 && fabs(sd - sqrt(2.0)) < 1e-12);
    joule_setting_point made[3] = {{300, 1.0, 300}, {200, 1.2, 200}, {100, 2.0, 250}};
    int front[3];
    joule_sweep_choices ch;
    assert_int_equal(joule_sweep_choose(made, 3, 0.5, 1.1, 0, 1, front, &ch), 0);
    assert_int_equal(ch.nfrontier, 2); /* 100 W is beaten by 200 W in both */
    assert_int_equal(ch.choice[0], 1);  /* energy: 200 W */
    assert_int_equal(ch.choice[1], 0);  /* time: 300 W */
    assert_int_equal(ch.choice[3], 0);  /* slowdown <= 1.1x: only 300 W */
    assert_string_equal(joule_sweep_selector_name(3), "slowdown");
    assert_int_equal(joule_sweep_choose(made, 1, 0.5, 1.1, 0, 1, front, &ch), JOULE_EINVAL);
    assert_int_equal(ch.choice[0], -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_frontier),
        cmocka_unit_test(test_failed_setting),
        cmocka_unit_test(test_clock_sweep_gpus_cooldown_stdout),
        cmocka_unit_test(test_progress_units_and_csv),
        cmocka_unit_test(test_bad_progress),
        cmocka_unit_test(test_sigint_restores),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_library_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
