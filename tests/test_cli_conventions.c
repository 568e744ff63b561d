/* The CLI's output conventions (docs/cli.md "Conventions"): machine output
 * on stdout, the progress line only on a terminal, durations with units
 * everywhere through one parser, `joule help CMD`, the one-line hint for a
 * mistyped option, and the "no devices" error on short lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "progress.h"
#include "test_support.h"

/* Runs joule with args (NULL-terminated) and env; captures both streams. */
#define cli(env, out, err, ...) ts_run_args(JOULE_TEST_CLI, env, out, err, __VA_ARGS__)

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' not found in: %s", needle, hay ? hay : "(null)");
}

/* ---- progress line ------------------------------------------------------ */

/* The ticker of a long uncounted call (plan's solve): redraws from its
 * thread, stops and blanks the line on clear. Runs under TSan. */
static void test_progress_busy_ticker(void **state)
{
    (void)state;
    struct cli_progress p;
    setenv("JOULE_PROGRESS", "1", 1);
    cli_progress_start(&p, 0);
    unsetenv("JOULE_PROGRESS");
    FILE *f = tmpfile();
    assert_non_null(f);
    p.out = f;
    cli_progress_busy(&p, "planning", 0);
    ts_sleep_ms(1600);
    cli_progress_clear(&p);
    cli_progress_clear(&p); /* twice is harmless */
    long n = ftell(f);
    assert_true(n > 0);
    char buf[512] = "";
    rewind(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    assert_contains(buf, "\rplanning  elapsed 0s");
    assert_contains(buf, "\rplanning  elapsed 1s");
    assert_true(got > 0 && buf[got - 1] == '\r');

    /* quiet: no thread, nothing written */
    cli_progress_start(&p, 1);
    cli_progress_busy(&p, "planning", 0);
    assert_false(p.ticking);
    cli_progress_clear(&p);
}

/* plan's ticker starts only after 2 s and never off a terminal. */
static void test_plan_progress_quiet_off_tty(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), prof[1024], path[1100];
    ts_pipeline_profile_csv(prof, sizeof prof, 3, 300, 1.2);
    ts_write(dir, "p.csv", prof);
    snprintf(path, sizeof path, "%s/p.csv", dir);
    char *err = NULL;
    assert_int_equal(cli(NULL, NULL, &err, "plan", path, "-s", "2", "-m", "4", NULL), 0);
    assert_null(strchr(err, '\r'));
    free(err);
    ts_rmtree(dir);
    free(dir);
}

static void test_progress_format(void **state)
{
    (void)state;
    char b[128];
    cli_progress_format(b, sizeof b, "setting 250 W", 2, 12, 65.4);
    /* 2 runs in 65 s: 32.7 s each, 10 left: 327 s */
    assert_string_equal(b, "setting 250 W  run 3/12  elapsed 1m05s  ETA 5m27s");
    cli_progress_format(b, sizeof b, "setting 250 W", 0, 12, 3);
    assert_string_equal(b, "setting 250 W  run 1/12  elapsed 3s  ETA ?");
    cli_progress_format(b, sizeof b, NULL, 12, 12, 7322);
    assert_string_equal(b, "run 12/12  elapsed 2h02m  ETA 0s");
    cli_progress_format(b, sizeof b, "planning 8 stages x 256 microbatches", 0, 0, 12.5);
    assert_string_equal(b, "planning 8 stages x 256 microbatches  elapsed 12s");
    cli_progress_hms(59.99, b, sizeof b);
    assert_string_equal(b, "59s");
    cli_progress_hms(3600, b, sizeof b);
    assert_string_equal(b, "1h00m");
    cli_progress_hms(NAN, b, sizeof b);
    assert_string_equal(b, "?");
    cli_progress_hms(-1, b, sizeof b);
    assert_string_equal(b, "?");
}

/* The tests' stderr is a pipe: no progress unless forced, none with -q. */
static void test_sweep_progress_only_on_tty(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(cli(NULL, &out, &err, "sweep", "-d", "sim:1:h100", "--power-limits",
                         "600,400", "--json", "--", "true", NULL), 0);
    assert_null(strchr(err, '\r'));
    assert_null(strstr(err, "ETA"));
    /* --json on stdout, alone */
    assert_contains(out, "\"settings\"");
    free(out);
    free(err);

    char *const force[] = {"JOULE_PROGRESS=1", NULL};
    assert_int_equal(cli(force, NULL, &err, "sweep", "-d", "sim:1:h100", "--power-limits",
                         "600,400", "--json", "--", "true", NULL), 0);
    assert_contains(err, "\rsetting 600 W  run 1/2  elapsed ");
    assert_contains(err, "setting 400 W  run 2/2");
    /* cleared at the end: the last thing written is a '\r' after blanks */
    size_t n = strlen(err);
    assert_true(n > 0 && err[n - 1] == '\r');
    free(err);

    assert_int_equal(cli(force, NULL, &err, "sweep", "-q", "-d", "sim:1:h100",
                         "--power-limits", "600,400", "--json", "--", "true", NULL), 0);
    assert_null(strchr(err, '\r'));
    free(err);
}


/* ---- machine output on stdout ------------------------------------------- */

/* run --json goes to stdout after CMD's own output; the text report stays
 * on stderr, like perf stat. */
static void test_run_report_streams(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(cli(NULL, &out, &err, "run", "-d", "sim:1:h100", "--json", "--", "echo",
                         "hello", NULL), 0);
    assert_true(!strncmp(out, "hello\n{", 7));
    assert_contains(out, "\"runs\"");
    assert_null(strstr(err, "\"runs\""));
    free(out);
    free(err);

    assert_int_equal(cli(NULL, &out, &err, "run", "-d", "sim:1:h100", "--csv", "--", "true",
                         NULL), 0);
    assert_contains(out, "gpu0");
    assert_null(strstr(err, "gpu0"));
    free(out);
    free(err);

    assert_int_equal(cli(NULL, &out, &err, "run", "-d", "sim:1:h100", "--", "echo", "hi", NULL),
                     0);
    assert_string_equal(out, "hi\n");
    assert_contains(err, "seconds time elapsed");
    free(out);
    free(err);
}

/* ---- durations ------------------------------------------------------------ */

static void test_parse_duration(void **state)
{
    (void)state;
    double v;
    assert_int_equal(joule_parse_duration("100ms", 1, &v), 0);
    assert_true(fabs(v - 0.1) < 1e-12);
    assert_int_equal(joule_parse_duration("1.5s", 1e-3, &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(joule_parse_duration("2m", 1, &v), 0);
    assert_true(v == 120);
    assert_int_equal(joule_parse_duration("3h", 1, &v), 0);
    assert_true(v == 10800);
    assert_int_equal(joule_parse_duration("7d", 0, &v), 0);
    assert_true(v == 7 * 86400.0);
    assert_int_equal(joule_parse_duration("500us", 1, &v), 0);
    assert_true(fabs(v - 5e-4) < 1e-15);
    assert_int_equal(joule_parse_duration("250ns", 1, &v), 0);
    assert_true(fabs(v - 2.5e-7) < 1e-18);
    /* a bare number is in the option's unit, or refused where none is */
    assert_int_equal(joule_parse_duration("250", 1e-3, &v), 0);
    assert_true(fabs(v - 0.25) < 1e-12);
    assert_int_equal(joule_parse_duration("7", 0, &v), JOULE_EINVAL);
    static const char *const bad[] = {"", "ms", "1parsec", "1 s", " 1s", "0x10", "inf",
                                      "nan", "1e999", "5sec", "1S"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (joule_parse_duration(bad[i], 1, &v) == 0)
            fail_msg("'%s' was taken as %g s", bad[i], v);
}

static void test_duration_options(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    /* monitor takes units as plan --quantum does */
    assert_int_equal(cli(NULL, &out, &err, "monitor", "-d", "sim:1:h100", "--duration", "1s",
                         "--interval", "250ms", "--format", "csv", NULL), 0);
    int rows = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        rows++;
    assert_true(rows >= 3 && rows <= 6); /* header + about 4 samples */
    free(out);
    free(err);
    /* a bare number keeps the option's documented unit (ms) */
    assert_int_equal(cli(NULL, NULL, &err, "monitor", "-d", "sim:1:h100", "--duration", "0.3",
                         "--interval", "100", "--format", "csv", NULL), 0);
    free(err);
    assert_int_equal(cli(NULL, NULL, &err, "monitor", "--interval", "5x", NULL), 2);
    assert_string_equal(err, "joule monitor: --interval '5x': give a duration from 1ms to 1m "
                             "with a unit (ns, us, ms, s, m, h) or a bare number in ms\n");
    free(err);
    assert_int_equal(cli(NULL, NULL, &err, "run", "--trace", "/dev/null", "--interval", "2s",
                         "--", "true", NULL), 2);
    assert_contains(err, "from 1ms to 1s");
    free(err);
    assert_int_equal(cli(NULL, NULL, &err, "sweep", "--cooldown", "-1s", "-p", "300", "--",
                         "true", NULL), 2);
    assert_contains(err, "--cooldown '-1s'");
    free(err);
}

/* jouled token issue --expires 7 was a 7-second token: now an error. */
static void test_token_expires_needs_unit(void **state)
{
    (void)state;
    char jouled[1024], *err = NULL;
    snprintf(jouled, sizeof jouled, "%s/daemon/jouled", JOULE_TEST_BUILD_DIR);
    char *argv[] = {jouled, "token", "issue", "--user", "a", "--scope", "read", "--expires", "7",
                    "--secret-file", "/nonexistent", NULL};
    assert_int_equal(ts_run(argv, NULL, NULL, &err), 2);
    assert_string_equal(err, "jouled token issue: --expires '7' needs a unit: s, m, h or d "
                             "(e.g. 7d for days)\n");
    free(err);
    char *bad[] = {jouled, "token", "issue", "--expiry", "7d", NULL};
    assert_int_equal(ts_run(bad, NULL, NULL, &err), 2);
    assert_string_equal(err, "jouled token issue: unrecognized option '--expiry'\n"
                             "Try 'jouled --help'.\n");
    free(err);
    char *daemon_bad[] = {jouled, "--foregrund", NULL};
    assert_int_equal(ts_run(daemon_bad, NULL, NULL, &err), 2);
    assert_string_equal(err, "jouled: unrecognized option '--foregrund'\nTry 'jouled --help'.\n");
    free(err);
}

/* ---- help and mistyped options ------------------------------------------ */

/* The commands `joule --help` lists (two-space indent, then the name). */
static int command_names(char names[][32], int cap)
{
    char *out = NULL;
    assert_int_equal(cli(NULL, &out, NULL, "--help", NULL), 0);
    const char *p = strstr(out, "Commands:\n");
    assert_non_null(p);
    p = strchr(p, '\n') + 1;
    int n = 0;
    while (n < cap && !strncmp(p, "  ", 2) && p[2] != ' ') {
        sscanf(p + 2, "%31s", names[n++]);
        p = strchr(p, '\n') + 1;
    }
    free(out);
    return n;
}

static void test_help_command(void **state)
{
    (void)state;
    char names[32][32];
    int n = command_names(names, 32);
    assert_true(n >= 10);
    for (int i = 0; i < n; i++) {
        char *a = NULL, *b = NULL;
        int ra = cli(NULL, &a, NULL, "help", names[i], NULL);
        int rb = cli(NULL, &b, NULL, names[i], "--help", NULL);
        if (ra != 0 || rb != 0 || strcmp(a, b) || !strstr(a, "usage: joule"))
            fail_msg("joule help %s (exit %d) differs from joule %s --help (exit %d)", names[i],
                     ra, names[i], rb);
        free(a);
        free(b);
    }
    char *out = NULL, *err = NULL;
    assert_int_equal(cli(NULL, &out, NULL, "help", NULL), 0);
    assert_contains(out, "Commands:");
    free(out);
    assert_int_equal(cli(NULL, NULL, &err, "help", "nope", NULL), 2);
    assert_string_equal(err, "joule help: unknown command 'nope'\nTry 'joule --help'.\n");
    free(err);
}

/* Every command: a mistyped option is one line, then where the help is. */
static void test_mistyped_option_hint(void **state)
{
    (void)state;
    static const char *const cmds[][3] = {
        {"info", NULL}, {"run", NULL}, {"monitor", NULL}, {"plot", NULL}, {"analyze", NULL},
        {"plan", NULL}, {"sweep", NULL}, {"bench", "serve"}, {"govern", NULL},
        {"optimize", "select"}, {"optimize", "bso-simulate"}, {"report", NULL},
        {"gpu", "limit"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *err = NULL;
        int rc = cmds[i][1] ? cli(NULL, NULL, &err, cmds[i][0], cmds[i][1], "--jsn", NULL)
                            : cli(NULL, NULL, &err, cmds[i][0], "--jsn", NULL);
        char hint[128], name[64];
        snprintf(name, sizeof name, "joule %s%s%s", cmds[i][0], cmds[i][1] ? " " : "",
                 cmds[i][1] ? cmds[i][1] : "");
        /* gpu's subcommands share gpu's help */
        snprintf(hint, sizeof hint, "\nTry 'joule %s%s%s --help'.\n", cmds[i][0],
                 cmds[i][1] && strcmp(cmds[i][0], "gpu") ? " " : "",
                 cmds[i][1] && strcmp(cmds[i][0], "gpu") ? cmds[i][1] : "");
        const char *nl = err ? strchr(err, '\n') : NULL;
        if (rc != 2 || !nl || strncmp(err, name, strlen(name)) || !strstr(err, "--jsn") ||
            strcmp(nl, hint))
            fail_msg("%s --jsn: exit %d, stderr '%s'", name, rc, err ? err : "");
        free(err);
    }
}

/* ---- no devices ------------------------------------------------------------ */

static void test_no_devices_short_lines(void **state)
{
    (void)state;
    char *const env[] = {"JOULE_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1",
                         "JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so",
                         "JOULE_SYSFS_ROOT=/nonexistent", NULL};
    char *err = NULL;
    assert_int_equal(cli(env, NULL, &err, "run", "-d", "all", "--", "true", NULL), 1);
    assert_true(!strncmp(err, "joule run: no devices to measure; the backends say:\n  nvml: ",
                         60));
    assert_contains(err, "\n  rapl: ");
    assert_contains(err, "\nTry --devices sim:2:h100 for simulated GPUs\n");
    int lines = 0;
    for (const char *p = err; *p; lines++) {
        size_t len = strcspn(p, "\n");
        if (len > 200)
            fail_msg("a %zu-character line: %.*s", len, (int)len, p);
        p += len + (p[len] == '\n');
    }
    assert_true(lines >= 4);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_format),
        cmocka_unit_test(test_sweep_progress_only_on_tty),
        cmocka_unit_test(test_progress_busy_ticker),
        cmocka_unit_test(test_plan_progress_quiet_off_tty),
        cmocka_unit_test(test_run_report_streams),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_duration_options),
        cmocka_unit_test(test_token_expires_needs_unit),
        cmocka_unit_test(test_help_command),
        cmocka_unit_test(test_mistyped_option_hint),
        cmocka_unit_test(test_no_devices_short_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
