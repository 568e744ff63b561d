/* GPU control through the public API and joule_restore, on the NVML
 * double. The double keeps its settings in a state file, so a restore done
 * by a child process (at exit, or on a signal) is visible to the parent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/context.h"
#include "fakes/fake_harness.h"

static const char *privileged =
    "{\"privileged\": true, \"record\": \"@REC@\", \"state\": \"@STATE@\", \"gpus\": ["
    " {\"model\": \"h100\", \"load\": 1.0}, {\"model\": \"a100\"}]}";

static void test_set_and_restore(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, privileged);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);

    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 300), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 350), 0); /* original kept */
    assert_int_equal(joule_gpu_lock_clocks_mhz(ctx, 0, 900, 1410), 0);
    assert_int_equal(joule_gpu_lock_memory_clocks_mhz(ctx, 1, 1215, 1215), 0);
    assert_int_equal(joule_gpu_set_persistence(ctx, 1, 1), 0);

    double cur;
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, 0, &cur, NULL, NULL, NULL, NULL), 0);
    assert_true(cur == 350);
    int sm = 0, mem = 0;
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &sm, &mem), 0);
    assert_true(sm <= 1410);
    uint64_t mask = 0;
    assert_int_equal(joule_gpu_throttle_reasons(ctx, 0, &mask), 0);
    assert_true(mask & (JOULE_THROTTLE_SW_POWER_CAP | JOULE_THROTTLE_APP_CLOCKS));
    char names[128];
    assert_int_equal(joule_throttle_names(mask, names, sizeof names), 0);
    /* 1410 MHz keeps the H100 under 350 W: the clocks, not the cap, limit it. */
    assert_non_null(strstr(names, "app_clocks"));
    assert_true(fh_state(&h, 0, "pl_w") == 350);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 1410);
    assert_true(fh_state(&h, 1, "mem_lock_max_mhz") == 1215);
    assert_true(fh_state(&h, 1, "persistence") == 1);

    assert_int_equal(joule_restore(ctx), 0);
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    assert_true(fh_state(&h, 0, "lock_min_mhz") == 0);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 0);
    assert_true(fh_state(&h, 1, "mem_lock_max_mhz") == 0);
    assert_true(fh_state(&h, 1, "persistence") == 0);
    assert_int_equal(fh_calls(&h, "nvmlDeviceSetPowerManagementLimit gpu=0 700000 -> 0"), 1);
    assert_int_equal(fh_calls(&h, "nvmlDeviceResetGpuLockedClocks gpu=0 -> 0"), 1);
    assert_int_equal(fh_calls(&h, "nvmlDeviceResetMemoryLockedClocks gpu=1 -> 0"), 1);
    assert_int_equal(fh_calls(&h, "nvmlDeviceSetPersistenceMode gpu=1 0 -> 0"), 1);
    /* Nothing left to restore; a second restore asks for nothing. */
    fh_clear_calls(&h);
    assert_int_equal(joule_restore(ctx), 0);
    assert_int_equal(fh_calls(&h, "Set"), 0);
    assert_int_equal(fh_calls(&h, "Reset"), 0);

    /* Reset to the default and unlock by hand. */
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 1, 250), 0);
    assert_int_equal(joule_gpu_reset_power_limit(ctx, 1), 0);
    assert_true(fh_state(&h, 1, "pl_w") == 400);
    assert_int_equal(joule_gpu_lock_clocks_mhz(ctx, 1, 1005, 1005), 0);
    assert_int_equal(joule_gpu_reset_clocks(ctx, 1), 0);
    assert_true(fh_state(&h, 1, "lock_max_mhz") == 0);
    joule_close(ctx);
    fh_finish(&h);
}

static void test_range_errors(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, privileged);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 50), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "200.0-700.0 W"));
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 1, 401), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "100.0-400.0 W"));
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, -5), JOULE_EINVAL);
    assert_int_equal(joule_gpu_lock_clocks_mhz(ctx, 0, 100, 5000), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "345-1980 MHz"));
    assert_int_equal(joule_gpu_lock_clocks_mhz(ctx, 0, 1400, 900), JOULE_EINVAL);
    assert_int_equal(joule_gpu_lock_memory_clocks_mhz(ctx, 0, 100, 9999), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "1309-2619 MHz"));
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 5, 300), JOULE_ENODEV);
    /* Nothing was changed, so nothing is restored. */
    fh_clear_calls(&h);
    assert_int_equal(joule_restore(ctx), 0);
    assert_int_equal(fh_calls(&h, "Set"), 0);
    joule_close(ctx);
    fh_finish(&h);
}

static void test_no_permission(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, "{\"state\": \"@STATE@\", \"gpus\": [{\"model\": \"h100\"}]}");
    setenv("JOULE_DAEMON", "off", 1); /* a jouled on this host would take over */
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 300), JOULE_EPERM);
    assert_non_null(strstr(joule_last_error(), "Insufficient Permissions"));
    assert_non_null(strstr(joule_last_error(), "needs root"));
    assert_int_equal(joule_gpu_lock_clocks_mhz(ctx, 0, 900, 900), JOULE_EPERM);
    assert_int_equal(joule_gpu_set_persistence(ctx, 0, 1), JOULE_EPERM);
    assert_int_equal(joule_restore(ctx), 0);
    joule_close(ctx);
    unsetenv("JOULE_DAEMON");
    fh_finish(&h);
}

/* joule_close restores only with restore_on_exit. */
static void test_close_semantics(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, privileged);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 300), 0);
    joule_close(ctx);
    assert_true(fh_state(&h, 0, "pl_w") == 300); /* persists, like `joule gpu` */

    assert_int_equal(fh_open(NULL, -1, 1, &ctx), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 250), 0);
    assert_int_equal(joule_gpu_lock_clocks_mhz(ctx, 0, 1200, 1200), 0);
    joule_close(ctx);
    /* Back to the value at open (300 W), clocks unlocked. */
    assert_true(fh_state(&h, 0, "pl_w") == 300);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 0);
    fh_finish(&h);
}

enum child_end { END_SIGTERM_FROM_PARENT, END_RAISE_SIGINT, END_EXIT };

/* The child (this program re-executed, so that sanitizers see a fresh
 * single-threaded process) opens with restore_on_exit, changes settings,
 * tells the parent through fd, then ends as asked. */
static int child_main(const char *how, int fd)
{
    alarm(30); /* never outlive a failed parent for long */
    joule_ctx *ctx = NULL;
    if (fh_open(NULL, 50, 1, &ctx) || joule_gpu_set_power_limit_w(ctx, 0, 300) ||
        joule_gpu_lock_clocks_mhz(ctx, 0, 900, 1200) || joule_gpu_set_persistence(ctx, 1, 1)) {
        fprintf(stderr, "child: %s\n", joule_last_error());
        return 3;
    }
    if (write(fd, "r", 1) != 1)
        return 4;
    /* Wait until the parent has seen the changed settings. */
    char go;
    if (strcmp(how, "wait") && read(fd, &go, 1) != 1)
        return 4;
    close(fd);
    if (!strcmp(how, "raise-sigint"))
        raise(SIGINT);
    else if (!strcmp(how, "exit"))
        exit(0);
    for (;;)
        pause();
}

/* Returns the child's wait status. */
static int run_child(struct fh *h, enum child_end how)
{
    int ready[2]; /* [0] parent's end, [1] child's: "r"eady up, "g"o down */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ready), 0);
    const char *mode = how == END_RAISE_SIGINT ? "raise-sigint"
                       : how == END_EXIT       ? "exit"
                                               : "wait";
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", ready[1]);
        execl("/proc/self/exe", "test_control", "--child", mode, fd, (char *)NULL);
        _exit(5);
    }
    close(ready[1]);
    char c = 0;
    ssize_t got = read(ready[0], &c, 1);
    /* The child has changed the settings. */
    double pl = fh_state(h, 0, "pl_w");
    if (how == END_SIGTERM_FROM_PARENT)
        kill(pid, SIGTERM);
    else if (write(ready[0], "g", 1) != 1)
        fail_msg("cannot tell the child to go on");
    close(ready[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(got, 1);
    assert_true(pl == 300);
    return st;
}

static void check_restored(struct fh *h)
{
    assert_true(fh_state(h, 0, "pl_w") == 700);
    assert_true(fh_state(h, 0, "lock_min_mhz") == 0);
    assert_true(fh_state(h, 0, "lock_max_mhz") == 0);
    assert_true(fh_state(h, 1, "persistence") == 0);
}

static void test_restore_on_sigterm(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, privileged);
    int st = run_child(&h, END_SIGTERM_FROM_PARENT);
    /* The child still dies of the signal, after restoring. */
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    check_restored(&h);
    fh_finish(&h);
}

static void test_restore_on_sigint(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, privileged);
    int st = run_child(&h, END_RAISE_SIGINT);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGINT);
    check_restored(&h);
    fh_finish(&h);
}

static void test_restore_at_exit(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, privileged);
    int st = run_child(&h, END_EXIT);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    check_restored(&h);
    fh_finish(&h);
}

static void test_throttle_names(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(joule_throttle_names(0, buf, sizeof buf), 0);
    assert_string_equal(buf, "none");
    assert_int_equal(joule_throttle_names(JOULE_THROTTLE_SW_POWER_CAP | JOULE_THROTTLE_HW_SLOWDOWN,
                                          buf, sizeof buf), 0);
    assert_string_equal(buf, "sw_power_cap,hw_slowdown");
    assert_int_equal(joule_throttle_names(0x1ff, buf, sizeof buf), 0);
    assert_string_equal(buf, "gpu_idle,app_clocks,sw_power_cap,hw_slowdown,sync_boost,"
                             "sw_thermal,hw_thermal,hw_power_brake,display_clocks");
    assert_int_equal(joule_throttle_names(JOULE_THROTTLE_SW_THERMAL | (1ull << 40), buf,
                                          sizeof buf), 0);
    assert_string_equal(buf, "sw_thermal,unknown_0x10000000000");
    char small[8];
    assert_int_equal(joule_throttle_names(JOULE_THROTTLE_SW_POWER_CAP, small, sizeof small),
                     JOULE_ERANGE);
    assert_int_equal(strlen(small), 7);
}

/* Control works on simulated GPUs too (no NVML involved). */
static void test_sim_control(void **state)
{
    (void)state;
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open("sim:2:a100", -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 1, 200), 0);
    double cur;
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, 1, &cur, NULL, NULL, NULL, NULL), 0);
    assert_true(cur == 200);
    assert_int_equal(joule_restore(ctx), 0);
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, 1, &cur, NULL, NULL, NULL, NULL), 0);
    assert_true(cur == 400);
    joule_close(ctx);
}

/* joule_gpu_get_persistence reads the device's mode. */
static void test_get_persistence(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"privileged\": true, \"record\": \"@REC@\", \"state\": \"@STATE@\", "
             "\"gpus\": [{\"model\": \"h100\"}, {\"model\": \"a100\", \"persistence\": true}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    int on = -1;
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), 0);
    assert_int_equal(on, 0);
    on = -1;
    assert_int_equal(joule_gpu_get_persistence(ctx, 1, &on), 0);
    assert_int_equal(on, 1);
    assert_int_equal(joule_gpu_set_persistence(ctx, 0, 1), 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), 0);
    assert_int_equal(on, 1);
    assert_int_equal(joule_gpu_set_persistence(ctx, 1, 0), 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 1, &on), 0);
    assert_int_equal(on, 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 1, NULL), 0); /* output optional */
    /* Reading changes nothing and is not recorded for restore. */
    fh_clear_calls(&h);
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), 0);
    assert_int_equal(fh_calls(&h, "nvmlDeviceGetPersistenceMode gpu=0"), 1);
    assert_int_equal(fh_calls(&h, "Set"), 0);
    assert_int_equal(joule_restore(ctx), 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), 0);
    assert_int_equal(on, 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 1, &on), 0);
    assert_int_equal(on, 1);
    /* No such GPU. */
    on = 7;
    assert_int_equal(joule_gpu_get_persistence(ctx, 5, &on), JOULE_ENODEV);
    assert_non_null(strstr(joule_last_error(), "gpu5"));
    assert_int_equal(on, 7);
    assert_int_equal(joule_gpu_get_persistence(NULL, 0, &on), JOULE_EINVAL);
    joule_close(ctx);

    /* The library's error comes through with NVML's text. */
    fh_config(&h, "{\"state\": \"@STATE@\", \"gpus\": [{\"model\": \"h100\"}], "
                  "\"errors\": [{\"function\": \"nvmlDeviceGetPersistenceMode\", "
                  "\"error\": \"NVML_ERROR_UNKNOWN\", \"after\": 1, \"times\": -1}]}");
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    on = 7;
    int rc = joule_gpu_get_persistence(ctx, 0, &on);
    assert_true(rc < 0);
    assert_int_equal(on, 7);
    assert_non_null(strstr(joule_last_error(), "nvmlDeviceGetPersistenceMode"));
    joule_close(ctx);
    fh_finish(&h);

    /* ROCm SMI has no persistence mode: not supported, saying which GPU. */
    fh_start(&h, FH_ROCM, "{\"gpus\": [{\"model\": \"a100\"}]}");
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), JOULE_ENOTSUP);
    assert_non_null(strstr(joule_last_error(), "gpu0"));
    assert_non_null(strstr(joule_last_error(), "persistence"));
    joule_close(ctx);
    fh_finish(&h);

    /* Simulated GPUs keep the mode in the context. */
    assert_int_equal(fh_open("sim:1:h100", -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), 0);
    assert_int_equal(on, 0);
    assert_int_equal(joule_gpu_set_persistence(ctx, 0, 1), 0);
    assert_int_equal(joule_gpu_get_persistence(ctx, 0, &on), 0);
    assert_int_equal(on, 1);
    joule_close(ctx);
}

/* PCI bus id, architecture and power scope, as the backends read them. */
static void test_device_identity(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"gpus\": [{\"model\": \"h100\", \"pci_bus_id\": \"00000000:3B:00.0\"},"
             " {\"model\": \"h100\", \"power_scope\": \"module\"}, {\"model\": \"p100\"}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 3);
    const joule_device *d0 = joule_device_at(ctx, 0), *d1 = joule_device_at(ctx, 1),
                       *d2 = joule_device_at(ctx, 2);
    assert_string_equal(joule_device_pci_bus_id(d0), "00000000:3B:00.0");
    assert_string_equal(joule_device_pci_bus_id(d1), "00000000:11:00.0");
    assert_string_equal(joule_device_pci_bus_id(d2), "00000000:12:00.0");
    assert_string_equal(joule_device_arch(d0), "Hopper");
    assert_string_equal(joule_device_arch(d2), "Pascal");
    assert_int_equal(joule_device_power_scope(d0), JOULE_POWER_SCOPE_GPU);
    assert_int_equal(joule_device_power_scope(d1), JOULE_POWER_SCOPE_MODULE);
    assert_int_equal(joule_device_power_scope(d2), JOULE_POWER_SCOPE_GPU);
    /* An architecture NVML has no name for reads as unknown: "". */
    struct joule_device *raw = ctx->devs[0];
    snprintf(raw->arch, sizeof raw->arch, "unknown");
    assert_string_equal(joule_device_arch(d0), "");
    /* Only the two defined scopes come out; anything else is NONE. */
    raw->power_scope = 7;
    assert_int_equal(joule_device_power_scope(d0), JOULE_POWER_SCOPE_NONE);
    raw->power_scope = -1;
    assert_int_equal(joule_device_power_scope(d0), JOULE_POWER_SCOPE_NONE);
    joule_close(ctx);
    fh_finish(&h);

    /* The old driver's NVML has no nvmlDeviceGetArchitecture: "". */
    fh_start(&h, FH_NVML_OLD, "{\"gpus\": [{\"model\": \"h100\"}]}");
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_string_equal(joule_device_arch(joule_device_at(ctx, 0)), "");
    /* nvmlDeviceGetPciInfo v1 has only the legacy 4-digit domain form. */
    assert_string_equal(joule_device_pci_bus_id(joule_device_at(ctx, 0)), "0000:10:00.0");
    joule_close(ctx);
    fh_finish(&h);

    /* Simulated GPUs: a preset architecture, no PCI address, no scope. */
    assert_int_equal(fh_open("sim:1:a100", -1, 0, &ctx), 0);
    const joule_device *s = joule_device_at(ctx, 0);
    assert_string_equal(joule_device_arch(s), "Ampere");
    assert_string_equal(joule_device_pci_bus_id(s), "");
    assert_int_equal(joule_device_power_scope(s), JOULE_POWER_SCOPE_NONE);
    joule_close(ctx);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child"))
        return child_main(argv[2], atoi(argv[3]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_restore),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_no_permission),
        cmocka_unit_test(test_close_semantics),
        cmocka_unit_test(test_restore_on_sigterm),
        cmocka_unit_test(test_restore_on_sigint),
        cmocka_unit_test(test_restore_at_exit),
        cmocka_unit_test(test_throttle_names),
        cmocka_unit_test(test_sim_control),
        cmocka_unit_test(test_get_persistence),
        cmocka_unit_test(test_device_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
