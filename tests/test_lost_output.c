/* Output that cannot be written is an error, never a silent success: every
 * command writing its report, data or plot to /dev/full (a device whose
 * writes fail with ENOSPC, like a full disk) exits non-zero and says which
 * output and why. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <joule/joule.h>

#include "core/trace.h"
#include "test_support.h"

static char *dir;
static char trace[1024], profile[1024], plo_log[1024];

static int setup(void **state)
{
    (void)state;
    dir = ts_mkdtemp();
    ts_write(dir, "t.csv",
             "# joule-trace 1\n"
             "# start_unix_s=1000.0 duration_s=2 interval_s=0.1\n"
             "# device label=gpu0 kind=gpu power_limit_w=300 name=Test GPU\n"
             "time_s,device,domain,value\n"
             "0,gpu0,power_w,100\n"
             "1,gpu0,power_w,200\n");
    snprintf(trace, sizeof trace, "%s/t.csv", dir);
    char csv[16384];
    ts_pipeline_profile_csv(csv, sizeof csv, 4, 200, 1.2);
    ts_write(dir, "prof.csv", csv);
    snprintf(profile, sizeof profile, "%s/prof.csv", dir);
    ts_write(dir, "plo.csv",
             "start_time,window_name,elapsed_time,gpu0_energy\n"
             "1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
             "2,__GlobalPowerLimitOptimizer_250,1.2,90\n");
    snprintf(plo_log, sizeof plo_log, "%s/plo.csv", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_rmtree(dir);
    free(dir);
    return 0;
}

/* Runs joule ARGS... with stdout to `to`; expects exit 1 and stderr naming
 * `what` and ENOSPC's message. */
static void expect_lost(const char *to, const char *what, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    va_list ap;
    va_start(ap, what);
    for (char *a; n < 31 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *err = NULL;
    int rc = ts_run_to(argv, to, &err);
    char want[256];
    snprintf(want, sizeof want, "cannot write %s: No space left on device", what);
    if (rc != 1 || !strstr(err, want))
        fail_msg("joule %s ... > %s: exit %d, stderr '%s' (want exit 1 and '%s')", argv[1], to,
                 rc, err, want);
    free(err);
}

static void run_and_sweep_reports(void **state)
{
    (void)state;
    expect_lost("/dev/null", "'/dev/full'", "run", "--devices", "sim:1:h100", "--json", "-o",
                "/dev/full", "--", "true", NULL);
    expect_lost("/dev/full", "to stdout", "run", "--devices", "sim:1:h100", "--csv", "-o", "-",
                "--", "true", NULL);
    expect_lost("/dev/null", "trace '/dev/full'", "run", "--devices", "sim:1:h100", "--trace",
                "/dev/full", "--", "true", NULL);
    expect_lost("/dev/null", "'/dev/full'", "sweep", "--devices", "sim:1:h100",
                "--power-limits", "700,600", "--json", "-o", "/dev/full", "--", "true", NULL);
    expect_lost("/dev/null", "'/dev/full'", "sweep", "--devices", "sim:1:h100",
                "--power-limits", "700,600", "-o", "-", "--plot", "/dev/full", "--", "true",
                NULL);
}

static void stdout_of_every_command(void **state)
{
    (void)state;
    expect_lost("/dev/full", "to stdout", "info", "--devices", "sim:1:h100", NULL);
    expect_lost("/dev/full", "to stdout", "info", "--devices", "sim:1:h100", "--json", NULL);
    expect_lost("/dev/full", "to stdout", "analyze", trace, "--json", NULL);
    expect_lost("/dev/full", "to stdout", "analyze", trace, NULL);
    expect_lost("/dev/full", "to stdout", "optimize", "select", "-p", plo_log, NULL);
    expect_lost("/dev/full", "to stdout", "optimize", "select", "-p", plo_log, "--json", NULL);
    expect_lost("/dev/full", "to stdout", "plan", profile, "-s", "2", "-m", "2", NULL);
    expect_lost("/dev/full", "to stdout", "plot", trace, "-o", "-", NULL);
    expect_lost("/dev/full", "to stdout", "monitor", "--devices", "sim:1:h100", "--interval",
                "10", "--duration", "5", NULL);
}

static void output_files(void **state)
{
    (void)state;
    expect_lost("/dev/null", "'/dev/full'", "plot", trace, "-o", "/dev/full", NULL);
    expect_lost("/dev/null", "'/dev/full'", "plot", trace, "--html", "-o", "/dev/full", NULL);
    expect_lost("/dev/null", "/dev/full", "plan", profile, "-s", "2", "-m", "2", "-q", "-o",
                "/dev/full", NULL);
    expect_lost("/dev/null", "/dev/full", "plan", profile, "-s", "2", "-m", "2", "-q",
                "--json", "/dev/full", NULL);
    expect_lost("/dev/null", "/dev/full", "plan", profile, "-s", "2", "-m", "2", "-q", "--at",
                "min-energy", "--json", "/dev/full", NULL);
    expect_lost("/dev/null", "/dev/full", "plan", profile, "-s", "2", "-m", "2", "-q", "--svg",
                "/dev/full", NULL);
    expect_lost("/dev/null", "/dev/full", "plan", profile, "-s", "2", "-m", "2", "-q",
                "--frontier-svg", "/dev/full", NULL);
    expect_lost("/dev/full", "to stdout", "plan", profile, "-s", "2", "-m", "2", "-o", "-",
                NULL);
}

/* `run --trace` on a disk that fills up (a file size limit of 1200 bytes,
 * SIGXFSZ ignored, so writes fail with EFBIG part way): joule says so and
 * exits 1, and the trace holds whole rows only, readable as it is. */
static void trace_on_a_full_disk(void **state)
{
    (void)state;
    char path[1024], errpath[1024];
    snprintf(path, sizeof path, "%s/full.csv", dir);
    snprintf(errpath, sizeof errpath, "%s/full.err", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1200, 1200};
        setrlimit(RLIMIT_FSIZE, &rl);
        execl(JOULE_TEST_CLI, JOULE_TEST_CLI, "run", "--devices", "sim:1:h100", "--trace", path,
              "--", "sleep", "3", (char *)NULL);
        _exit(126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char *err = ts_read(errpath);
    assert_non_null(err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(err, "cannot write trace") ||
        !strstr(err, "File too large"))
        fail_msg("status %d, stderr '%s'", status, err);
    free(err);
    char *text = ts_read(path);
    assert_non_null(text);
    size_t len = strlen(text);
    assert_true(len > 0 && len <= 1200);
    assert_true(text[len - 1] == '\n');
    free(text);
    struct trace t;
    if (trace_read(path, &t))
        fail_msg("the trace left on a full disk does not read: %s", joule_last_error());
    assert_int_equal(t.torn_line, 0);
    assert_int_equal(t.ndevices, 1);
    trace_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_and_sweep_reports),
        cmocka_unit_test(stdout_of_every_command),
        cmocka_unit_test(output_files),
        cmocka_unit_test(trace_on_a_full_disk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
