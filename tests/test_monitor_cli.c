/* `joule monitor` stopped by SIGINT (totals printed, CSV intact) and
 * `joule run --trace` (a trace holding the command's own windows whose
 * energy agrees with the run's report). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/trace.h"
#include "test_support.h"

/* Starts argv with stdout and stderr to files; returns the pid. */
static pid_t spawn(char *const argv[], const char *out, const char *err, const char *env)
{
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        if (env)
            putenv((char *)env);
        execv(argv[0], argv);
        _exit(126);
    }
    return pid;
}

static void monitor_sigint_prints_totals_and_valid_csv(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), out[512], err[512];
    snprintf(out, sizeof out, "%s/out.csv", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *argv[] = {JOULE_TEST_CLI, "monitor", "--devices", "sim:2:h100", "--interval", "50",
                    "--format", "csv", NULL};
    pid_t pid = spawn(argv, out, err, "JOULE_SIM_LOAD=0.5");
    ts_sleep_ms(1200);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    char *csv = ts_read(out), *text = ts_read(err);
    assert_non_null(strstr(text, "# totals over"));
    assert_non_null(strstr(text, "gpu1"));
    /* Every line is complete and has the header's 9 fields. */
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int commas = 0;
        for (char *c = line; *c; c++)
            commas += *c == ',';
        assert_int_equal(commas, 8);
        if (rows == 0) {
            assert_string_equal(line, "timestamp,elapsed_s,device,power_w,avg_power_w,energy_j,"
                                      "temp_c,sm_clock_mhz,throttle");
        } else {
            char dev[16];
            double elapsed, power;
            assert_int_equal(sscanf(strchr(line, ',') + 1, "%lf,%15[^,],%lf", &elapsed, dev,
                                    &power), 3);
            assert_true(power > 385 * 0.95 && power < 385 * 1.05);
        }
        rows++;
    }
    assert_true(rows >= 1 + 2 * 10); /* ~20 ticks x 2 GPUs in 1.2 s at 50 ms */
    free(csv);
    free(text);
    ts_rmtree(dir);
    free(dir);
}

static void monitor_rejects_bad_intervals(void **state)
{
    (void)state;
    const char *bad[] = {"0", "0.5", "-3", "abc", "70000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {JOULE_TEST_CLI, "monitor", "-d", "sim:1:h100", "-i", (char *)bad[i], NULL};
        char *out = NULL, *err = NULL;
        assert_int_equal(ts_run(argv, NULL, &out, &err), 2);
        assert_non_null(strstr(err, bad[i]));
        free(out);
        free(err);
    }
    char *argv[] = {JOULE_TEST_CLI, "monitor", "-d", "sim:1:h100", "-f", "xml", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "xml"));
    free(out);
    free(err);
}

static void monitor_duration_jsonl(void **state)
{
    (void)state;
    char *argv[] = {JOULE_TEST_CLI, "monitor", "-d", "sim:1:a100", "-i", "100", "-t", "0.5",
                    "-f", "jsonl", NULL};
    char *env[] = {"JOULE_SIM_LOAD=1", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, env, &out, &err), 0);
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_string_equal(cJSON_GetObjectItem(o, "device")->valuestring, "gpu0");
        assert_true(cJSON_GetObjectItem(o, "power_w")->valuedouble > 380);
        cJSON_Delete(o);
        lines++;
    }
    assert_true(lines >= 4 && lines <= 6);
    assert_non_null(strstr(err, "# totals"));
    free(out);
    free(err);
}

/* A command that measures its own windows through libjoule. */
static const char *windowed_program =
    "#!/bin/sh\n"
    "exec \"$JOULE_CLI\" run -d sim:1:h100 -o /dev/null -- sleep 0.3\n";

static void run_trace_has_timeline_and_windows(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), trace[512], report[512], prog[512];
    snprintf(trace, sizeof trace, "%s/run.csv", dir);
    snprintf(report, sizeof report, "%s/report.json", dir);
    snprintf(prog, sizeof prog, "%s/prog.sh", dir);
    ts_write(dir, "prog.sh", windowed_program);
    chmod(prog, 0755);
    /* The inner `joule run` opens its own context, which logs its window
     * to the JOULE_WINDOW_LOG the outer one set. */
    char *argv[] = {JOULE_TEST_CLI, "run", "-d", "sim:2:h100", "--trace", trace, "--interval",
                    "10", "--json", "-o", report, "--", prog, NULL};
    char cli_env[600];
    snprintf(cli_env, sizeof cli_env, "JOULE_CLI=%s", JOULE_TEST_CLI);
    char *env[] = {"JOULE_SIM_LOAD=0.5", cli_env, NULL};
    char *out = NULL, *err = NULL;
    int rc = ts_run(argv, env, &out, &err);
    if (rc)
        fail_msg("joule run --trace exited %d: %s", rc, err);
    free(out);
    free(err);

    struct trace t;
    assert_int_equal(trace_read(trace, &t), 0);
    assert_int_equal(t.ndevices, 2);
    assert_true(fabs(t.interval_s - 0.01) < 1e-9);
    assert_true(t.duration_s > 0.3);
    assert_int_equal(t.nwindows, 1);
    assert_string_equal(t.windows[0].name, "joule run");
    assert_true(t.windows[0].end_s - t.windows[0].start_s > 0.29);
    assert_true(fabs(t.devices[0].power_limit_w - 700) < 1e-9);
    const struct trace_series *p = trace_power(&t.devices[0]);
    assert_non_null(p);
    assert_true(p->n > 20);

    /* The trace's energy agrees with the run's own counter reading. */
    struct trace_stats st;
    assert_int_equal(trace_stats_of(p->t, p->v, p->n, t.duration_s, t.interval_s, &st), 0);
    char *json = ts_read(report);
    cJSON *r = cJSON_Parse(json);
    double counted = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "devices"), 0),
                                         "energy_j")->valuedouble;
    /* the counter steps every 100 ms (38.5 J at 385 W) */
    assert_true(fabs(st.energy_j - counted) < 385 * 0.1 + 0.03 * counted);
    cJSON_Delete(r);
    free(json);
    trace_free(&t);
    ts_rmtree(dir);
    free(dir);
}

static void run_trace_bad_arguments(void **state)
{
    (void)state;
    char *argv1[] = {JOULE_TEST_CLI, "run", "-d", "sim:1:h100", "--interval", "10", "--", "true",
                     NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv1, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--trace"));
    free(out);
    free(err);
    char *argv2[] = {JOULE_TEST_CLI, "run", "-d", "sim:1:h100", "--trace", "/nonexistent/t.csv",
                     "--", "true", NULL};
    assert_int_equal(ts_run(argv2, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "/nonexistent/t.csv"));
    free(out);
    free(err);
    char *argv3[] = {JOULE_TEST_CLI, "run", "-d", "sim:1:h100", "--trace", "/tmp/x.csv", "-i",
                     "0.1", "--", "true", NULL};
    assert_int_equal(ts_run(argv3, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "0.1"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(monitor_sigint_prints_totals_and_valid_csv),
        cmocka_unit_test(monitor_rejects_bad_intervals),
        cmocka_unit_test(monitor_duration_jsonl),
        cmocka_unit_test(run_trace_has_timeline_and_windows),
        cmocka_unit_test(run_trace_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
