/* Library integration with jouled: an unprivileged process (uid 65534)
 * whose RAPL energy_uj is unreadable and whose NVML setters are refused
 * gets CPU energy and GPU control through the daemon, transparently. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "test_daemon_harness.h"

static const char *gpus = "[{\"model\": \"h100\"}, {\"model\": \"a100\"}]";

static int wait_byte(int fd)
{
    char c = 0;
    return read(fd, &c, 1) == 1 ? c : -1;
}

static void test_remote_rapl_and_control(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    char *sys = ts_mkdtemp();
    chmod(sys, 0755);
    assert_int_equal(ts_rapl_zone(sys, "intel-rapl:0", "package-0", 1000000, 262143328850ULL), 0);
    assert_int_equal(ts_rapl_zone(sys, "intel-rapl:0:0", "dram", 500000, 65712999613ULL), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0/energy_uj", sys);
    chmod(path, 0400); /* root-only, like Linux >= 5.10 */
    snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0:0/energy_uj", sys);
    chmod(path, 0400);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "chmod -R a+rX %s/class && chmod 0400 %s/class/powercap/*/energy_uj",
             sys, sys);
    assert_int_equal(system(cmd), 0);
    setenv("JOULE_SYSFS_ROOT", sys, 1);

    struct dm m;
    assert_int_equal(dm_start(&m, gpus, "devices = all\nscope.read = all\n"
                                        "scope.control = uid:65534\n"),
                     0);
    char daemon_env[600];
    snprintf(daemon_env, sizeof daemon_env, "unix:%s", m.sock);

    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t child = fork();
    if (child == 0) {
        close(up[0]);
        close(down[1]);
        dm_become(65534, 65534, -1);
        setenv("JOULE_DAEMON", daemon_env, 1);
        joule_options *o = NULL;
        joule_options_create(&o);
        joule_options_set_devices(o, "all");
        joule_options_set_keeper_interval_ms(o, -1);
        joule_options_set_edge_correction(o, 0); /* the fake tree's counters */
        joule_ctx *ctx = NULL;
        int rc = joule_open(o, &ctx);
        joule_options_destroy(o);
        if (rc) {
            fprintf(stderr, "open: %s\n", joule_last_error());
            _exit(10);
        }
        int cpu = -1, dram = -1;
        for (int i = 0; i < joule_device_count(ctx); i++) {
            const joule_device *d = joule_device_at(ctx, i);
            if (!strcmp(joule_device_label(d), "cpu0") &&
                !strcmp(joule_device_backend(d), "remote"))
                cpu = i;
            if (!strcmp(joule_device_label(d), "dram0"))
                dram = i;
        }
        if (cpu < 0 || dram < 0)
            _exit(11);
        if (joule_window_begin(ctx, "w", 0))
            _exit(12);
        dm_write_all(up[1], "b", 1);
        if (wait_byte(down[0]) != 'c')
            _exit(13);
        joule_result *r = NULL;
        if (joule_window_end(ctx, "w", 0, &r))
            _exit(14);
        double e = joule_result_energy_j(r, cpu, NULL, NULL);
        double ed = joule_result_energy_j(r, dram, NULL, NULL);
        joule_result_free(r);
        if (fabs(e - 5.0) > 1e-6 || fabs(ed - 2.0) > 1e-6) {
            fprintf(stderr, "energy %f %f\n", e, ed);
            _exit(15);
        }
        /* GPU control: refused locally, done by jouled (persists, like a
         * local change without restore_on_exit). */
        if (joule_gpu_set_power_limit_w(ctx, 0, 300)) {
            fprintf(stderr, "set: %s\n", joule_last_error());
            _exit(16);
        }
        /* jouled's range check reaches the caller */
        if (joule_gpu_set_power_limit_w(ctx, 1, 50) != JOULE_ERANGE)
            _exit(17);
        joule_close(ctx);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    assert_int_equal(wait_byte(up[0]), 'b');
    assert_int_equal(ts_rapl_set(sys, "intel-rapl:0", 6000000), 0);
    assert_int_equal(ts_rapl_set(sys, "intel-rapl:0:0", 2500000), 0);
    dm_write_all(down[1], "c", 1);
    int st = 0;
    waitpid(child, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(fh_state(&m.h, 0, "pl_w") == 300);

    /* restore_on_exit: the change is tied to the process; kill -9 it and
     * jouled restores. */
    close(up[0]);
    assert_int_equal(pipe(up), 0);
    child = fork();
    if (child == 0) {
        close(up[0]);
        dm_become(65534, 65534, -1);
        setenv("JOULE_DAEMON", daemon_env, 1);
        joule_ctx *ctx = NULL;
        if (fh_open("gpu", -1, 1, &ctx)) {
            fprintf(stderr, "open: %s\n", joule_last_error());
            _exit(20);
        }
        if (joule_gpu_set_power_limit_w(ctx, 1, 250)) {
            fprintf(stderr, "set: %s\n", joule_last_error());
            _exit(21);
        }
        dm_write_all(up[1], "s", 1);
        close(up[1]);
        pause();
        _exit(0);
    }
    close(up[1]);
    int got = wait_byte(up[0]);
    double pl = fh_state(&m.h, 1, "pl_w");
    kill(child, SIGKILL);
    if (got != 's' || pl != 250) {
        int ws = 0;
        waitpid(child, &ws, 0);
        print_message("second child: got %d, pl_w %g, status 0x%x\n", got, pl, ws);
    }
    assert_int_equal(got, 's');
    assert_true(pl == 250);
    waitpid(child, NULL, 0);
    assert_true(dm_wait_state(&m, 1, "pl_w", 400, 5) == 400);
    close(up[0]);
    close(down[1]);
    dm_stop(&m);
    unsetenv("JOULE_SYSFS_ROOT");
    ts_rmtree(sys);
    free(sys);
}

/* `joule sweep` as an ordinary user: each setting goes through jouled,
 * the command sees it applied, and the limit is back afterwards. */
static void test_sweep_through_jouled(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    struct dm m;
    assert_int_equal(dm_start(&m, gpus, "scope.read = all\nscope.control = uid:65534\n"), 0);
    char daemon_env[600], out[700], seen[700], script[1600];
    snprintf(daemon_env, sizeof daemon_env, "unix:%s", m.sock);
    snprintf(out, sizeof out, "%s/sweep.json", m.h.dir);
    snprintf(seen, sizeof seen, "%s/seen", m.h.dir);
    chmod(m.h.dir, 0777);
    chmod(m.h.state, 0644);
    /* Each run logs gpu0's limit as the double's state file has it. */
    snprintf(script, sizeof script,
             "grep -o '\"pl_w\":[[:space:]]*[0-9.]*' %s | head -1 >> %s; sleep 0.2",
             m.h.state, seen);
    pid_t child = fork();
    if (child == 0) {
        dm_become(65534, 65534, -1);
        setenv("JOULE_DAEMON", daemon_env, 1);
        execl(JOULE_TEST_CLI, JOULE_TEST_CLI, "sweep", "--devices", "gpu", "--gpus", "0",
              "--power-limits", "700,500", "--json", "-o", out, "--", "sh", "-c", script,
              (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(child, &st, 0);
    char *log = ts_read(seen);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !log)
        fail_msg("sweep as uid 65534: status 0x%x, runs saw '%s'", st, log ? log : "");
    /* the first run at 700 W, the second at 500 W */
    const char *a = strstr(log, "700"), *b = strstr(log, "500");
    if (!a || !b || b < a)
        fail_msg("runs saw '%s'", log);
    free(log);
    char *json = ts_read(out);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"settings\""));
    free(json);
    assert_true(dm_wait_state(&m, 0, "pl_w", 700, 5) == 700);

    /* `joule gpu limit` through jouled reads back what jouled set. */
    char said[700];
    snprintf(said, sizeof said, "%s/limit.txt", m.h.dir);
    child = fork();
    if (child == 0) {
        dm_become(65534, 65534, -1);
        setenv("JOULE_DAEMON", daemon_env, 1);
        int fd = open(said, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        execl(JOULE_TEST_CLI, JOULE_TEST_CLI, "gpu", "limit", "--gpus", "0", "--watts", "333",
              (char *)NULL);
        _exit(127);
    }
    waitpid(child, &st, 0);
    char *text = ts_read(said);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !text ||
        !strstr(text, "power limit 333.0 W (was 700.0 W)"))
        fail_msg("joule gpu limit through jouled: status 0x%x, said '%s'", st, text ? text : "");
    free(text);
    assert_true(fh_state(&m.h, 0, "pl_w") == 333);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_rapl_and_control),
        cmocka_unit_test(test_sweep_through_jouled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
