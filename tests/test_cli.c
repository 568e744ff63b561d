/* The joule CLI as a user runs it: exit codes, signal forwarding, and the
 * --json / --csv reports parsed back and checked against the sim model. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "fakes/fake_harness.h"
#include "test_support.h"

/* H100 preset: idle 70 W, TDP 700 W, so a load of 0.5 draws 385 W. */
#define H100_HALF_W 385.0
/* The sim counter updates every 100 ms: a run can miss up to one update. */

static char *tmpdir;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs joule with args (NULL-terminated) and env; captures both streams. */
#define joule_cli(env, out, err, ...) ts_run_args(JOULE_TEST_CLI, env, out, err, __VA_ARGS__)

static char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static cJSON *item(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        fail_msg("JSON has no '%s'", key);
    return v;
}

static double number(const cJSON *o, const char *key)
{
    cJSON *v = item(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", key);
    return v->valuedouble;
}

static const char *string(const cJSON *o, const char *key)
{
    cJSON *v = item(o, key);
    if (!cJSON_IsString(v))
        fail_msg("'%s' is not a string", key);
    return v->valuestring;
}

static cJSON *parse_or_fail(const char *text)
{
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    if (!o)
        fail_msg("not JSON: %s", text ? text : "(null)");
    return o;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' not found in: %s", needle, hay ? hay : "(null)");
}

/* ---- exit codes and usage ---------------------------------------------- */

static void test_version_and_help(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(joule_cli(NULL, &out, NULL, "--version", NULL), 0);
    char want[64];
    snprintf(want, sizeof want, "joule %s\n", JOULE_VERSION_STRING);
    assert_string_equal(out, want);
    free(out);

    assert_int_equal(joule_cli(NULL, &out, NULL, "--help", NULL), 0);
    assert_contains(out, "usage: joule");
    assert_contains(out, "run");
    assert_contains(out, "info");
    free(out);

    assert_int_equal(joule_cli(NULL, &out, NULL, "run", "--help", NULL), 0);
    assert_contains(out, "usage: joule run");
    assert_contains(out, "--devices");
    assert_contains(out, "whole-device");
    free(out);

    assert_int_equal(joule_cli(NULL, &out, NULL, "info", "--help", NULL), 0);
    assert_contains(out, "usage: joule info");
    assert_contains(out, "--json");
    free(out);

    assert_int_equal(joule_cli(NULL, NULL, &err, "frobnicate", NULL), 2);
    assert_contains(err, "unknown command 'frobnicate'");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, NULL), 2);
    assert_contains(err, "usage: joule");
    free(err);
}

static void test_run_bad_usage(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", NULL), 2);
    assert_contains(err, "missing command");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:1:h100", "--", NULL), 2);
    assert_contains(err, "missing command");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "--bogus", "--", "true", NULL), 2);
    /* One line and the hint, not the whole usage. */
    assert_string_equal(err, "joule run: unrecognized option '--bogus'\n"
                             "Try 'joule run --help'.\n");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-r", "0", "--", "true", NULL), 2);
    assert_contains(err, "'0'");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-r", "3x", "--", "true", NULL), 2);
    assert_contains(err, "'3x'");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "--json", "--csv", "--", "true", NULL), 2);
    assert_contains(err, "--json");
    free(err);

    /* An unknown device spec: exit 1, the spec named. */
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "bogus:7", "--", "true", NULL), 1);
    assert_contains(err, "bogus:7");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:2:b200", "--", "true", NULL), 1);
    assert_contains(err, "b200");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "info", "--devices", "gpu:x", NULL), 1);
    assert_contains(err, "gpu:x");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "info", "extra", NULL), 2);
    assert_contains(err, "'extra'");
    free(err);

    /* An unwritable report path is named, and nothing runs. */
    char *out = NULL;
    assert_int_equal(joule_cli(NULL, &out, &err, "run", "-d", "sim:1:h100", "-o",
                               "/nonexistent/dir/report.txt", "--", "echo", "ran", NULL), 2);
    assert_contains(err, "/nonexistent/dir/report.txt");
    assert_null(strstr(out, "ran"));
    free(out);
    free(err);
}

static void test_run_exit_status(void **state)
{
    (void)state;
    char *err = NULL, *out = NULL;
    assert_int_equal(joule_cli(NULL, &out, &err, "run", "-d", "sim:2:h100", "--", "echo",
                               "hello", NULL), 0);
    /* CMD's own output is untouched; the report goes to stderr. */
    assert_string_equal(out, "hello\n");
    assert_contains(err, "seconds time elapsed");
    assert_contains(err, "gpu0");
    assert_contains(err, "gpu1");
    assert_contains(err, "whole-device");
    free(out);
    free(err);

    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:2:h100", "--", "true", NULL), 0);
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:2:h100", "--", "sh", "-c",
                               "exit 3", NULL), 3);
    assert_contains(err, "seconds time elapsed");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:2:h100", "--", "sh", "-c",
                               "kill -TERM $$", NULL), 128 + SIGTERM);
    assert_contains(err, "seconds time elapsed");
    free(err);
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:1:h100", "--",
                               "joule-no-such-command-xyz", NULL), 127);
    assert_contains(err, "joule-no-such-command-xyz");
    free(err);
    /* Not executable: 126, like a shell. */
    assert_int_equal(ts_write(tmpdir, "noexec.sh", "#!/bin/sh\nexit 0\n"), 0);
    assert_int_equal(chmod(tmp_path("noexec.sh"), 0644), 0);
    if (geteuid() != 0) {
        assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:1:h100", "--",
                                   tmp_path("noexec.sh"), NULL), 126);
        assert_contains(err, "noexec.sh");
        free(err);
    }
    /* Without "--" the command still starts at the first non-option. */
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:1:h100", "sh", "-c",
                               "exit 5", NULL), 5);
    free(err);
}

/* ---- reports ----------------------------------------------------------- */

static void test_run_json(void **state)
{
    (void)state;
    char *const env[] = {"JOULE_SIM_LOAD=0.5", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(joule_cli(env, &out, &err, "run", "-d", "sim:2:h100", "--json", "--",
                               "sleep", "0.3", NULL), 0);
    /* Machine-readable output goes to stdout (`joule run --json -- cmd | jq`). */
    assert_null(strstr(err, "\"runs\""));
    free(err);
    err = out;
    cJSON *o = parse_or_fail(err);
    assert_int_equal((int)number(o, "runs"), 1);
    assert_int_equal((int)number(o, "exit_status"), 0);
    double t = number(o, "time_s");
    assert_true(t >= 0.3 && t < 5.0);
    cJSON *cmd = item(o, "command");
    assert_int_equal(cJSON_GetArraySize(cmd), 2);
    assert_string_equal(cJSON_GetArrayItem(cmd, 0)->valuestring, "sleep");
    cJSON *devs = item(o, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 2);
    double sum = 0;
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_GetArrayItem(devs, i);
        char label[8];
        snprintf(label, sizeof label, "gpu%d", i);
        assert_string_equal(string(d, "label"), label);
        assert_string_equal(string(d, "kind"), "gpu");
        assert_string_equal(string(d, "backend"), "sim");
        /* Edges at their true instants: power × time within the reported
         * uncertainty (the sim's noise is zero-sum), which the first
         * second after open, still learning the counters' timing, keeps
         * above 1 % for a short run at times. */
        const char *quality = string(d, "quality");
        assert_true(!strcmp(quality, "exact") || !strcmp(quality, "approx"));
        double e = number(d, "energy_j"), u = number(d, "energy_uncertainty_j");
        assert_true(u > 0 && u < 0.05 * e);
        if (fabs(e - H100_HALF_W * t) > u + 0.05)
            fail_msg("gpu%d: %.3f J in %.3f s; expected %.3f +- %.3f J", i, e, t,
                     H100_HALF_W * t, u);
        assert_true(fabs(number(d, "avg_power_w") - e / t) < 1e-6);
        sum += e;
    }
    cJSON *tot = item(o, "total_energy_j");
    assert_true(fabs(number(tot, "gpu") - sum) < 1e-9);
    assert_true(fabs(number(tot, "all") - sum) < 1e-9);
    assert_true(fabs(number(tot, "cpu-package")) < 1e-12);
    assert_true(cJSON_IsTrue(item(o, "whole_device")));
    assert_true(cJSON_IsTrue(item(o, "simulated")));
    cJSON *per_run = item(o, "per_run");
    assert_int_equal(cJSON_GetArraySize(per_run), 1);
    cJSON *r0 = cJSON_GetArrayItem(per_run, 0);
    assert_true(fabs(number(r0, "time_s") - t) < 1e-12);
    assert_true(fabs(number(item(r0, "energy_j"), "gpu0") +
                     number(item(r0, "energy_j"), "gpu1") - sum) < 1e-9);
    cJSON_Delete(o);
    free(err);
}

static void test_run_repeat_json(void **state)
{
    (void)state;
    char *const env[] = {"JOULE_SIM_LOAD=0.5", NULL};
    char *err = NULL, *path = tmp_path("repeat.json");
    assert_int_equal(joule_cli(env, NULL, &err, "run", "-d", "sim:1:h100", "-r", "3", "--json",
                               "-o", path, "--", "sleep", "0.05", NULL), 0);
    /* The report went to the file, not to stderr. */
    assert_null(strstr(err, "\"runs\""));
    free(err);
    char *text = ts_read(path);
    cJSON *o = parse_or_fail(text);
    assert_int_equal((int)number(o, "runs"), 3);
    cJSON *per_run = item(o, "per_run");
    assert_int_equal(cJSON_GetArraySize(per_run), 3);
    double tsum = 0, esum = 0;
    for (int r = 0; r < 3; r++) {
        cJSON *run = cJSON_GetArrayItem(per_run, r);
        double t = number(run, "time_s");
        assert_true(t >= 0.05);
        tsum += t;
        esum += number(item(run, "energy_j"), "gpu0");
    }
    /* The summary is the mean of the runs. */
    assert_true(fabs(number(o, "time_s") - tsum / 3) < 1e-9);
    cJSON *d = cJSON_GetArrayItem(item(o, "devices"), 0);
    assert_true(fabs(number(d, "energy_j") - esum / 3) < 1e-9);
    assert_true(number(d, "energy_j_stddev") >= 0);
    assert_true(number(o, "time_s_stddev") >= 0);
    cJSON_Delete(o);
    free(text);

    /* The text report says how many runs, with +- spreads. */
    path = tmp_path("repeat.txt");
    assert_int_equal(joule_cli(env, NULL, NULL, "run", "-d", "sim:1:h100", "-r", "2", "-o", path,
                               "--", "true", NULL), 0);
    text = ts_read(path);
    assert_contains(text, "(2 runs)");
    assert_contains(text, "seconds time elapsed");
    assert_contains(text, "+-");
    free(text);

    /* A failing run stops the repeats, and the exit status is its. */
    assert_int_equal(joule_cli(env, NULL, &err, "run", "-d", "sim:1:h100", "-r", "3", "--json",
                               "-o", path, "--", "false", NULL), 1);
    assert_contains(err, "stopped after 1 of 3 runs");
    free(err);
    text = ts_read(path);
    o = parse_or_fail(text);
    assert_int_equal((int)number(o, "runs"), 1);
    assert_int_equal((int)number(o, "exit_status"), 1);
    cJSON_Delete(o);
    free(text);
}

/* Splits one CSV line (RFC 4180 quotes) into at most max fields. */
static int csv_split(const char *line, char fields[][128], int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        char *f = fields[n];
        size_t k = 0;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                if (k < 127)
                    f[k++] = *p;
                p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',') {
                if (k < 127)
                    f[k++] = *p;
                p++;
            }
        }
        f[k] = '\0';
        n++;
        if (*p != ',' || n == max)
            break;
        p++;
    }
    return n;
}

static void test_run_csv(void **state)
{
    (void)state;
    char *const env[] = {"JOULE_SIM_LOAD=0.5", NULL};
    char *path = tmp_path("report.csv");
    char *err = NULL;
    assert_int_equal(joule_cli(env, NULL, &err, "run", "-d", "sim:2:h100", "-r", "2", "--csv",
                               "-o", path, "--", "sleep", "0.12", NULL), 0);
    free(err);
    char *text = ts_read(path);
    assert_non_null(text);
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    assert_string_equal(line, "run,label,kind,name,time_s,energy_j,energy_uncertainty_j,"
                              "avg_power_w,quality,error");
    int rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char f[11][128];
        assert_int_equal(csv_split(line, f, 11), 10);
        assert_string_equal(f[9], "");
        int run = atoi(f[0]);
        assert_int_equal(run, rows / 2 + 1);
        char label[8];
        snprintf(label, sizeof label, "gpu%d", rows % 2);
        assert_string_equal(f[1], label);
        assert_string_equal(f[2], "gpu");
        assert_string_equal(f[3], "NVIDIA H100 80GB HBM3 (simulated)");
        double t = strtod(f[4], NULL), e = strtod(f[5], NULL), u = strtod(f[6], NULL);
        double p = strtod(f[7], NULL);
        assert_true(t >= 0.12);
        assert_true(fabs(p - e / t) < 1e-3 + 2e-5 * p); /* t is printed to 1 µs */
        if (fabs(e - H100_HALF_W * t) > u + 0.05)
            fail_msg("row %d: %.3f J +- %.3f J in %.3f s", rows, e, u, t);
        assert_true(!strcmp(f[8], "exact") || !strcmp(f[8], "approx"));
        rows++;
    }
    assert_int_equal(rows, 4);
    free(text);
}

/* A GPU lost during the run: its row says so once, the total counts only
 * the GPU that measured, and the CSV row carries the error text. */
static void test_run_gpu_lost(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"gpus\": [{\"model\": \"h100\", \"load\": 1.0}, {\"model\": \"h100\","
             " \"load\": 1.0}], \"errors\": [{\"function\": "
             "\"nvmlDeviceGetTotalEnergyConsumption\", \"gpu\": 1, \"error\": \"GPU_IS_LOST\","
             " \"after\": 2}]}");
    char cfg[600], lib[600];
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_NVML_CONFIG=%s", h.cfg);
    snprintf(lib, sizeof lib, "JOULE_NVML_LIBRARY=%s", h.lib);
    char *const env[] = {cfg, lib, NULL};
    char *err = NULL;
    joule_cli(env, NULL, &err, "run", "-d", "gpu", "--", "sleep", "0.2", NULL);
    assert_contains(err, "total of 1 (1 failed, not counted)");
    assert_contains(err, "GPU is lost");
    assert_null(strstr(err, "gpu1    NVIDIA")); /* the label is not repeated */
    free(err);
    fh_finish(&h);
    fh_start(&h, FH_NVML,
             "{\"gpus\": [{\"model\": \"h100\", \"load\": 1.0}, {\"model\": \"h100\","
             " \"load\": 1.0}], \"errors\": [{\"function\": "
             "\"nvmlDeviceGetTotalEnergyConsumption\", \"gpu\": 1, \"error\": \"GPU_IS_LOST\","
             " \"after\": 2}]}");
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_NVML_CONFIG=%s", h.cfg);
    char *out = NULL;
    joule_cli(env, &out, NULL, "run", "-d", "gpu", "--csv", "-o", "-", "--", "sleep", "0.2",
              NULL);
    char *save = NULL, f[11][128];
    strtok_r(out, "\n", &save); /* header */
    char *row0 = strtok_r(NULL, "\n", &save), *row1 = strtok_r(NULL, "\n", &save);
    assert_non_null(row1);
    assert_int_equal(csv_split(row0, f, 11), 10);
    assert_true(!strcmp(f[8], "exact") || !strcmp(f[8], "approx"));
    assert_int_equal(csv_split(row1, f, 11), 10);
    assert_string_equal(f[8], "error");
    assert_string_equal(f[6], ""); /* no uncertainty for a failed device */
    assert_non_null(strstr(f[9], "GPU is lost"));
    free(out);
    fh_finish(&h);
}

static void test_run_output_file_and_env_default(void **state)
{
    (void)state;
    char *path = tmp_path("report.txt");
    char *err = NULL;
    assert_int_equal(joule_cli(NULL, NULL, &err, "run", "-d", "sim:1:h100", "-o", path, "--",
                               "true", NULL), 0);
    assert_null(strstr(err, "seconds time elapsed"));
    free(err);
    char *text = ts_read(path);
    assert_contains(text, "seconds time elapsed");
    assert_contains(text, "gpu0");
    assert_contains(text, "whole-device");
    free(text);

    /* $JOULE_DEVICES is the default spec; --devices overrides it. */
    char *const env[] = {"JOULE_DEVICES=sim:1:v100", NULL};
    path = tmp_path("env.json");
    assert_int_equal(joule_cli(env, NULL, NULL, "run", "--json", "-o", path, "--", "true", NULL), 0);
    text = ts_read(path);
    cJSON *o = parse_or_fail(text);
    cJSON *devs = item(o, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 1);
    assert_contains(string(cJSON_GetArrayItem(devs, 0), "name"), "V100");
    cJSON_Delete(o);
    free(text);
    assert_int_equal(joule_cli(env, NULL, NULL, "run", "--json", "-o", path, "-d", "sim:2:a100",
                               "--", "true", NULL), 0);
    text = ts_read(path);
    o = parse_or_fail(text);
    devs = item(o, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 2);
    assert_contains(string(cJSON_GetArrayItem(devs, 1), "name"), "A100");
    cJSON_Delete(o);
    free(text);
    char *const bad_env[] = {"JOULE_DEVICES=nonsense", NULL};
    assert_int_equal(joule_cli(bad_env, NULL, &err, "run", "--", "true", NULL), 1);
    assert_contains(err, "nonsense");
    free(err);
}

/* ---- signals ------------------------------------------------------------ */

/* Pid of the first child of pid, or 0. */
static pid_t child_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    char *text = ts_read(path);
    pid_t c = text ? (pid_t)atoi(text) : 0;
    free(text);
    return c;
}

static void check_signal_forwarded(int sig, int delay_ms)
{
    int pe[2];
    assert_int_equal(pipe(pe), 0);
    double t0 = now_s();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pe[1], 2);
        close(pe[0]);
        close(pe[1]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(JOULE_TEST_CLI, JOULE_TEST_CLI, "run", "-d", "sim:1:h100", "--", "sleep", "30",
              (char *)NULL);
        _exit(126);
    }
    close(pe[1]);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);
    /* Wait until joule has started the command (its handlers are in
     * place by then), plus a little. */
    pid_t cmd = 0;
    for (int k = 0; k < 300 && !(cmd = child_of(pid)); k++)
        ts_sleep_ms(10);
    if (!cmd)
        fail_msg("joule started no command within 3 s");
    ts_sleep_ms(delay_ms);
    assert_int_equal(kill(pid, sig), 0);

    int status = 0, done = 0;
    char err[16384];
    size_t len = 0;
    while (now_s() - t0 < 10.0) {
        ssize_t n = read(pe[0], err + len, sizeof err - 1 - len);
        if (n > 0)
            len += (size_t)n;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            done = 1;
            break;
        }
        ts_sleep_ms(10);
    }
    double took = now_s() - t0;
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    ssize_t n;
    while ((n = read(pe[0], err + len, sizeof err - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(pe[0]);
    if (cmd > 0 && kill(cmd, 0) == 0) { /* still running: forwarding failed */
        kill(cmd, SIGKILL);
        fail_msg("the command (pid %d) outlived joule", (int)cmd);
    }
    assert_true(done);
    assert_true(took < 5.0);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 128 + sig)
        fail_msg("joule exited %d after signal %d; stderr: %s", WEXITSTATUS(status), sig, err);
    assert_contains(err, "seconds time elapsed");
    assert_contains(err, "gpu0");
}

static void test_sigterm_forwarded(void **state)
{
    (void)state;
    check_signal_forwarded(SIGTERM, 300);
    /* Right after the fork, before the command has even exec'd: the
     * signal must still reach it (not be lost in a handler). */
    for (int k = 0; k < 5; k++)
        check_signal_forwarded(SIGTERM, 0);
}

static void test_sigint_forwarded(void **state)
{
    (void)state;
    check_signal_forwarded(SIGINT, 300);
    for (int k = 0; k < 5; k++)
        check_signal_forwarded(SIGINT, 0);
}

/* ---- info --------------------------------------------------------------- */

static void test_info_json(void **state)
{
    (void)state;
    char env_root[1100];
    snprintf(env_root, sizeof env_root, "JOULE_SYSFS_ROOT=%s", tmpdir);
    char *const env[] = {env_root, NULL};
    char *out = NULL;
    assert_int_equal(joule_cli(env, &out, NULL, "info", "--json", "-d", "sim:2:a100", NULL), 0);
    cJSON *o = parse_or_fail(out);
    assert_string_equal(string(o, "version"), JOULE_VERSION_STRING);
    cJSON *devs = item(o, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_GetArrayItem(devs, i);
        char label[8];
        snprintf(label, sizeof label, "gpu%d", i);
        assert_string_equal(string(d, "label"), label);
        assert_string_equal(string(d, "backend"), "sim");
        assert_string_equal(string(d, "kind"), "gpu");
        assert_contains(string(d, "name"), "A100");
        int has_counter = 0, simulated = 0;
        cJSON *c;
        cJSON_ArrayForEach(c, item(d, "capabilities")) {
            has_counter |= cJSON_IsString(c) && !strcmp(c->valuestring, "energy_counter");
            simulated |= cJSON_IsString(c) && !strcmp(c->valuestring, "simulated");
        }
        assert_true(has_counter);
        assert_true(simulated);
        /* Learned from the reads: the model's 100 ms, to within 1 %. */
        assert_true(fabs(number(d, "update_period_us") - 100000) < 1000);
        /* Identity: the preset's architecture; a simulated GPU has no PCI
         * address and no power scope. */
        assert_string_equal(string(d, "arch"), "Ampere");
        assert_string_equal(string(d, "pci_bus_id"), "");
        assert_true(cJSON_IsNull(item(d, "power_scope")));
        assert_true(cJSON_IsFalse(item(d, "persistence"))); /* the sim's default */
        /* The A100 preset's limits: 100-400 W. */
        cJSON *pl = cJSON_GetObjectItemCaseSensitive(d, "power_limit_w");
        assert_non_null(pl);
        assert_true(fabs(number(pl, "max") - 400) < 1e-9);
        assert_true(fabs(number(pl, "min") - 100) < 1e-9);
    }
    free(out);
    cJSON_Delete(o);

    /* With the default spec every backend is tried; RAPL is absent on an
     * empty sysfs root and says why. */
    assert_int_equal(joule_cli(env, &out, NULL, "info", "--json", "-d", "all+sim:2:a100", NULL), 0);
    o = parse_or_fail(out);
    int sims = 0;
    cJSON *d;
    cJSON_ArrayForEach(d, item(o, "devices"))
        sims += !strcmp(string(d, "backend"), "sim");
    assert_int_equal(sims, 2);
    int found = 0;
    cJSON *b;
    cJSON_ArrayForEach(b, item(o, "backends")) {
        if (strcmp(string(b, "name"), "rapl"))
            continue;
        found = 1;
        assert_true(cJSON_IsFalse(item(b, "available")));
        const char *reason = string(b, "reason");
        assert_true(reason[0] != '\0');
        assert_contains(reason, "powercap");
        assert_contains(reason, tmpdir);
    }
    assert_true(found);
    cJSON_Delete(o);
    free(out);
}

static void test_info_text(void **state)
{
    (void)state;
    char env_root[1100];
    snprintf(env_root, sizeof env_root, "JOULE_SYSFS_ROOT=%s", tmpdir);
    char *const env[] = {env_root, NULL};
    char *out = NULL;
    /* No devices at all is still a successful listing of why. */
    assert_int_equal(joule_cli(env, &out, NULL, "info", NULL), 0);
    assert_contains(out, "0 devices");
    assert_contains(out, "rapl");
    assert_contains(out, "absent");
    assert_contains(out, "powercap");
    free(out);

    /* A fake RAPL tree: the package is listed with its counter. */
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 0, 262143328850ULL), 0);
    snprintf(env_root, sizeof env_root, "JOULE_SYSFS_ROOT=%s", root);
    assert_int_equal(joule_cli(env, &out, NULL, "info", "-d", "cpu+sim:1:h100", NULL), 0);
    assert_contains(out, "cpu0");
    assert_contains(out, "package-0");
    assert_contains(out, "backend rapl");
    assert_contains(out, "gpu0");
    /* The counter's period as measured: the model's 100 ms. */
    const char *every = strstr(out, "1000 uJ resolution, updates every ");
    assert_non_null(every);
    double ms = strtod(every + strlen("1000 uJ resolution, updates every "), NULL);
    assert_true(ms > 95 && ms < 105);
    /* The identity line: only what is known (no PCI address, no scope). */
    assert_contains(out, "\n          arch Hopper\n");
    assert_true(strstr(out, "pci ") == NULL);
    assert_true(strstr(out, "power scope") == NULL);
    free(out);
    ts_rmtree(root);
    free(root);
}

static int group_setup(void **state)
{
    (void)state;
    tmpdir = ts_mkdtemp();
    return tmpdir ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    ts_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

int main(void)
{
    setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    setenv("JOULE_ROCM_SMI_LIBRARY", "/nonexistent/librocm_smi64.so", 1);
    unsetenv("JOULE_DEVICES");
    unsetenv("JOULE_SIM_LOAD");
    unsetenv("JOULE_SYSFS_ROOT");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_help),
        cmocka_unit_test(test_run_bad_usage),
        cmocka_unit_test(test_run_exit_status),
        cmocka_unit_test(test_run_json),
        cmocka_unit_test(test_run_repeat_json),
        cmocka_unit_test(test_run_csv),
        cmocka_unit_test(test_run_gpu_lost),
        cmocka_unit_test(test_run_output_file_and_env_default),
        cmocka_unit_test(test_sigterm_forwarded),
        cmocka_unit_test(test_sigint_forwarded),
        cmocka_unit_test(test_info_json),
        cmocka_unit_test(test_info_text),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
