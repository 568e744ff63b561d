/* `joule monitor` stopped by SIGINT (totals printed, CSV intact), its
 * energy and average power against the sim's known power, counter-derived
 * power on a fake RAPL tree and the warning for intervals finer than a
 * counter changes; `joule run --trace` (a trace holding the command's own
 * windows whose energy agrees with the run's report, appended as the run
 * goes so a killed run leaves a valid trace). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "core/trace.h"
#include "test_support.h"

/* Starts argv with stdout and stderr to files; returns the pid. */
static pid_t spawn(char *const argv[], const char *out, const char *err, const char *env)
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* its own group, so a test can reap what it started */
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

/* A device's line of the totals monitor prints at the end; returns 0 when
 * found, with the elapsed time they cover. */
static int parse_totals(const char *text, const char *dev, double *elapsed, double *energy,
                        double *avg, double *peak)
{
    const char *t = strstr(text, "# totals over ");
    if (!t || sscanf(t, "# totals over %lf s", elapsed) != 1)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "\n# %s ", dev);
    const char *l = strstr(t, key);
    char label[32];
    if (!l || sscanf(l + 1, "# %31s %lf %lf %lf", label, energy, avg, peak) != 4)
        return -1;
    return 0;
}

/* Whether avg is energy / elapsed, as far as the printed decimals
 * (0.001 J, 0.001 s, 0.01 W) allow. */
static int same_avg(double avg, double energy, double elapsed)
{
    return fabs(avg - energy / elapsed) <= 0.006 + avg * 0.0006 / elapsed + 0.0006 / elapsed;
}

/* Splits a CSV row of monitor output (no quoted fields before the last)
 * into fields; returns how many. Empty fields stay empty strings. */
static int split_row(char *line, char *field[], int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        field[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

/* A fake powercap tree whose package-0 and dram counters a thread moves
 * on at constant power every period_ms, each value replaced atomically
 * (written beside it, then renamed over it). */
#define BIG_RANGE 262143328850ULL
struct rapl_writer {
    char *root;
    double period_ms, watts[2];
    atomic_int stop; /* read by the writer thread */
    pthread_t thread;
};
static const char *const writer_zones[2] = {"intel-rapl:0", "intel-rapl:0:0"};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *rapl_writer_main(void *arg)
{
    struct rapl_writer *w = arg;
    double t0 = mono_s();
    while (!atomic_load(&w->stop)) {
        double t = mono_s() - t0;
        for (int z = 0; z < 2; z++) {
            char path[1024], tmp[1100];
            snprintf(path, sizeof path, "%s/class/powercap/%s/energy_uj", w->root, writer_zones[z]);
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            FILE *f = fopen(tmp, "w");
            if (!f)
                continue;
            fprintf(f, "%llu\n", 1000000ULL + (unsigned long long)(w->watts[z] * t * 1e6));
            fclose(f);
            rename(tmp, path);
        }
        ts_sleep_ms(w->period_ms);
    }
    return NULL;
}

static void rapl_writer_start(struct rapl_writer *w, double period_ms, double pkg_w, double dram_w)
{
    memset(w, 0, sizeof *w);
    w->root = ts_mkdtemp();
    w->period_ms = period_ms;
    w->watts[0] = pkg_w;
    w->watts[1] = dram_w;
    assert_int_equal(ts_rapl_zone(w->root, writer_zones[0], "package-0", 1000000, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(w->root, writer_zones[1], "dram", 1000000, BIG_RANGE), 0);
    assert_int_equal(pthread_create(&w->thread, NULL, rapl_writer_main, w), 0);
    ts_sleep_ms(50);
}

static void rapl_writer_stop(struct rapl_writer *w)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    ts_rmtree(w->root);
    free(w->root);
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
    /* Totals: the energy is 385 W over the time they cover, give or take
     * one 100 ms step of the sim's counter, and the average is that energy
     * over that same time. */
    for (int g = 0; g < 2; g++) {
        double elapsed, e, avg, peak;
        assert_int_equal(parse_totals(text, g ? "gpu1" : "gpu0", &elapsed, &e, &avg, &peak), 0);
        assert_true(elapsed > 0.5 && elapsed < 1.3);
        if (fabs(e - 385 * elapsed) > 385 * 0.1 + 0.01 * 385 * elapsed)
            fail_msg("gpu%d: %.3f J over %.3f s, expected %.1f J", g, e, elapsed, 385 * elapsed);
        assert_true(same_avg(avg, e, elapsed));
        assert_true(peak > 385 * 0.95 && peak < 385 * 1.05);
    }
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

/* Energy and average power against the sim's known power: start, rows and
 * end are read alike, and --duration ends the run on time even when the
 * interval is longer. */
static void monitor_energy_matches_power_times_time(void **state)
{
    (void)state;
    char *env[] = {"JOULE_SIM_LOAD=0.5", NULL}; /* h100: 70 + 0.5 x 630 = 385 W */
    char *argv[] = {JOULE_TEST_CLI, "monitor", "-d", "sim:2:h100", "--interval", "1000",
                    "--duration", "3", "--format", "csv", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, env, &out, &err), 0);
    double last_row_e[2] = {NAN, NAN};
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[9];
        if (rows++ == 0)
            continue;
        assert_int_equal(split_row(line, f, 9), 9);
        last_row_e[strcmp(f[2], "gpu0") != 0] = atof(f[5]);
    }
    assert_int_equal(rows, 1 + 2 * 3);
    for (int g = 0; g < 2; g++) {
        double elapsed, e, avg, peak;
        assert_int_equal(parse_totals(err, g ? "gpu1" : "gpu0", &elapsed, &e, &avg, &peak), 0);
        assert_true(fabs(elapsed - 3) < 0.1);
        /* The counter steps every 100 ms: within one step (38.5 J) + 1 %.
         * Reading the end from the sampler's stored samples ran ~300 ms
         * (~115 J) low. */
        if (fabs(e - 385 * elapsed) > 385 * 0.1 + 0.01 * 385 * elapsed)
            fail_msg("gpu%d: %.3f J over %.3f s, expected %.1f J", g, e, elapsed, 385 * elapsed);
        assert_true(same_avg(avg, e, elapsed));
        assert_true(fabs(avg - 385) < 385 * 0.05);
        /* The last row and the totals read the counter moments apart. */
        assert_true(fabs(last_row_e[g] - e) <= 385 * 0.1 + 1e-6);
    }
    free(out);
    free(err);

    /* --duration shorter than the interval: one row, at the deadline. */
    char *argv2[] = {JOULE_TEST_CLI, "monitor", "-d", "sim:1:h100", "--interval", "3000",
                     "--duration", "0.5", "--format", "csv", NULL};
    double t0 = mono_s();
    assert_int_equal(ts_run(argv2, env, &out, &err), 0);
    double wall = mono_s() - t0;
    if (wall >= 1.5)
        fail_msg("--duration 0.5 --interval 3000 ran %.2f s", wall);
    double elapsed, e, avg, peak;
    assert_int_equal(parse_totals(err, "gpu0", &elapsed, &e, &avg, &peak), 0);
    assert_true(elapsed >= 0.5 && elapsed < 0.6);
    assert_true(fabs(e - 385 * elapsed) <= 385 * 0.1 + 0.01 * 385 * elapsed);
    assert_true(same_avg(avg, e, elapsed));
    int lines = 0;
    for (char *c = out; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 2); /* header + one row */
    free(out);
    free(err);
}

/* CPU package and DRAM power from a RAPL counter that moves every ms: each
 * row shows the latest complete counter step, never '-' / empty. */
static void monitor_shows_rapl_counter_power(void **state)
{
    (void)state;
    struct rapl_writer w;
    rapl_writer_start(&w, 1, 50, 5);
    char root_env[600];
    snprintf(root_env, sizeof root_env, "JOULE_SYSFS_ROOT=%s", w.root);
    char *env[] = {root_env, NULL};
    char *argv[] = {JOULE_TEST_CLI, "monitor", "--devices", "cpu", "--interval", "500",
                    "--duration", "2", "--format", "csv", NULL};
    char *out = NULL, *err = NULL;
    int rc = ts_run(argv, env, &out, &err);
    rapl_writer_stop(&w);
    if (rc)
        fail_msg("joule monitor exited %d: %s", rc, err);
    int rows = 0, seen[2] = {0, 0}, off[2] = {0, 0};
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[9];
        if (rows++ == 0)
            continue;
        assert_int_equal(split_row(line, f, 9), 9);
        int z = strcmp(f[2], "cpu0") == 0 ? 0 : strcmp(f[2], "dram0") == 0 ? 1 : -1;
        assert_true(z >= 0);
        double want = z == 0 ? 50 : 5, elapsed = atof(f[1]);
        if (!f[3][0])
            fail_msg("%s has no power_w at %s s: '%s'", f[2], f[1], line);
        double p = atof(f[3]), e = atof(f[5]);
        /* One step's power: the writer thread can stall for tens of ms
         * on a loaded machine, so one row in four may be off. */
        if (fabs(p - want) > want * 0.15 && off[z]++ >= 1)
            fail_msg("%s: power_w %.3f W, expected %.0f W (a second row off)", f[2], p, want);
        if (fabs(e - want * elapsed) > want * elapsed * 0.05 + want * 0.01)
            fail_msg("%s: energy_j %.3f J at %.3f s, expected %.3f J", f[2], e, elapsed,
                     want * elapsed);
        seen[z]++;
    }
    assert_int_equal(seen[0], 4);
    assert_int_equal(seen[1], 4);
    double elapsed, e, avg, peak;
    assert_int_equal(parse_totals(err, "cpu0", &elapsed, &e, &avg, &peak), 0);
    assert_true(fabs(avg - 50) < 50 * 0.05);
    assert_true(peak > 50 * 0.9 && peak < 50 * 1.5);
    assert_int_equal(parse_totals(err, "dram0", &elapsed, &e, &avg, &peak), 0);
    assert_true(fabs(avg - 5) < 5 * 0.05);
    assert_null(strstr(err, "warning"));
    free(out);
    free(err);
}

/* The warning lines for a device, and the period each names. */
static int count_warnings(const char *err, const char *dev, double *period_ms)
{
    int n = 0;
    char key[64];
    snprintf(key, sizeof key, "warning: %s's energy counter changes only every ", dev);
    for (const char *p = err; (p = strstr(p, key)); p += strlen(key)) {
        n++;
        *period_ms = atof(p + strlen(key));
    }
    return n;
}

/* A counter that changes every ~17 ms cannot serve a 2 ms (monitor) or
 * 1 ms (run --trace) interval: one warning line per device naming it and
 * its period; none at intervals it can serve. */
static void counter_period_warnings(void **state)
{
    (void)state;
    struct rapl_writer w;
    rapl_writer_start(&w, 17, 50, 5);
    char root_env[600];
    snprintf(root_env, sizeof root_env, "JOULE_SYSFS_ROOT=%s", w.root);
    char *env[] = {root_env, NULL};
    char trace[700];
    snprintf(trace, sizeof trace, "%s/t.csv", w.root);
    /* Too fine for a ~17 ms counter (0, 1), and fine for it (2, 3). */
    char *cmds[4][13] = {
        {JOULE_TEST_CLI, "monitor", "-d", "cpu", "-i", "2", "-t", "0.2", "-f", "csv", NULL},
        {JOULE_TEST_CLI, "run", "-d", "cpu", "--trace", trace, "--interval", "1", "-o",
         "/dev/null", "--", "true", NULL},
        {JOULE_TEST_CLI, "monitor", "-d", "cpu", "-i", "100", "-t", "0.2", "-f", "csv", NULL},
        {JOULE_TEST_CLI, "run", "-d", "cpu", "--trace", trace, "--interval", "100", "-o",
         "/dev/null", "--", "true", NULL},
    };
    char *err[4];
    int rc[4];
    for (int c = 0; c < 4; c++) {
        char *out = NULL;
        rc[c] = ts_run(cmds[c], env, &out, &err[c]);
        free(out);
    }
    rapl_writer_stop(&w); /* before any assertion can leave the test */

    const char *devs[2] = {"cpu0", "dram0"};
    for (int c = 0; c < 4; c++) {
        if (rc[c])
            fail_msg("%s -i %s exited %d: %s", cmds[c][1], cmds[c][c % 2 ? 7 : 5], rc[c],
                     err[c]);
        if (c >= 2) {
            if (strstr(err[c], "warning"))
                fail_msg("%s -i 100: unexpected warning: %s", cmds[c][1], err[c]);
            continue;
        }
        for (int d = 0; d < 2; d++) {
            double period = 0;
            if (count_warnings(err[c], devs[d], &period) != 1)
                fail_msg("%s: expected one warning for %s: %s", cmds[c][1], devs[d], err[c]);
            if (!(period >= 12 && period <= 25))
                fail_msg("%s: %s's period %.1f ms, expected ~17 ms", cmds[c][1], devs[d], period);
        }
    }
    for (int c = 0; c < 4; c++)
        free(err[c]);

    /* The sim's instant power changes every ms: no warning at 2 ms. */
    char *sim[] = {JOULE_TEST_CLI, "monitor", "-d", "sim:1:h100", "-i", "2", "-t", "0.1", "-f",
                   "csv", NULL};
    char *out = NULL, *serr = NULL;
    assert_int_equal(ts_run(sim, NULL, &out, &serr), 0);
    assert_null(strstr(serr, "warning"));
    free(out);
    free(serr);
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

/* `joule run --trace` appends to the trace as the run goes: killed with
 * SIGKILL mid-run, it leaves a trace that `joule analyze` accepts and that
 * holds the samples taken so far. */
static void run_trace_killed_leaves_valid_trace(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), trace[512], out[512], err[512];
    snprintf(trace, sizeof trace, "%s/run.csv", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *argv[] = {JOULE_TEST_CLI, "run", "-d", "sim:1:h100", "--trace", trace, "--", "sleep",
                    "5", NULL};
    pid_t pid = spawn(argv, out, err, "JOULE_SIM_LOAD=0.5");
    ts_sleep_ms(1500);
    /* On a slow machine, wait (up to 2 s more, well before `sleep 5`
     * ends) for the first append. */
    for (int k = 0; k < 40; k++) {
        char *text = ts_read(trace);
        int has_rows = text && strstr(text, "\n0.");
        free(text);
        if (has_rows)
            break;
        ts_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    kill(-pid, SIGKILL); /* the orphaned `sleep 5` */

    struct trace t;
    if (trace_read(trace, &t))
        fail_msg("the killed run's trace does not parse: %s", joule_last_error());
    assert_int_equal(t.ndevices, 1);
    assert_string_equal(t.devices[0].label, "gpu0");
    const struct trace_series *p = trace_power(&t.devices[0]);
    assert_non_null(p);
    assert_true(p->n >= 3); /* 100 ms sampling, at least ~0.5 s appended */
    for (int k = 0; k < p->n; k++)
        assert_true(p->v[k] > 385 * 0.95 && p->v[k] < 385 * 1.05);
    trace_free(&t);

    char *aargv[] = {JOULE_TEST_CLI, "analyze", trace, "--json", NULL};
    char *aout = NULL, *aerr = NULL;
    int rc = ts_run(aargv, NULL, &aout, &aerr);
    if (rc)
        fail_msg("joule analyze exited %d: %s", rc, aerr);
    cJSON *j = cJSON_Parse(aout);
    assert_non_null(j);
    free(aout);
    free(aerr);
    cJSON_Delete(j);
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
        cmocka_unit_test(monitor_energy_matches_power_times_time),
        cmocka_unit_test(monitor_shows_rapl_counter_power),
        cmocka_unit_test(counter_period_warnings),
        cmocka_unit_test(run_trace_has_timeline_and_windows),
        cmocka_unit_test(run_trace_killed_leaves_valid_trace),
        cmocka_unit_test(run_trace_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
