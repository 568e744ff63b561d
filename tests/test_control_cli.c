/* `joule gpu limit|clocks|persistence` end to end: the CLI binary against
 * the NVML double (settings persist across processes through the double's
 * state file) and against simulated GPUs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fakes/fake_harness.h"

/* Runs `joule gpu ARGS...` with the double's environment. */
static int joule(const struct fh *h, char **out, char **err, ...)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    argv[n++] = (char *)"gpu";
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 15 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    static char cfg[600], lib[600];
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_NVML_CONFIG=%s", h->cfg);
    snprintf(lib, sizeof lib, "JOULE_NVML_LIBRARY=%s", h->lib);
    char *env[] = {cfg, lib, (char *)"JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so",
                   NULL};
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    return ts_run(argv, env, out, err);
}

static const char *config(int privileged)
{
    return privileged
               ? "{\"privileged\": true, \"state\": \"@STATE@\", \"gpus\": ["
                 " {\"model\": \"h100\"}, {\"model\": \"a100\"}]}"
               : "{\"state\": \"@STATE@\", \"gpus\": [{\"model\": \"h100\"}, {\"model\": \"a100\"}]}";
}

static void test_limit_without_privilege(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(0));
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "limit", "--watts", "300", "--gpus", "0", NULL), 1);
    assert_non_null(strstr(err, "Insufficient Permissions"));
    assert_non_null(strstr(err, "needs root"));
    assert_non_null(strstr(err, "jouled"));
    free(out);
    free(err);
    /* Reading needs no privilege. */
    assert_int_equal(joule(&h, &out, &err, "limit", NULL), 0);
    assert_non_null(strstr(out, "gpu0 (NVIDIA H100 80GB HBM3 (simulated)): power limit 700.0 W"));
    assert_non_null(strstr(out, "range 100.0-400.0 W"));
    free(out);
    free(err);
    fh_finish(&h);
}

static void test_limit_persists(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(1));
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "limit", "--watts", "300", "--gpus", "0", NULL), 0);
    assert_non_null(strstr(out, "power limit 300.0 W (was 700.0 W)"));
    free(out);
    free(err);
    /* The setting outlives the command. */
    assert_true(fh_state(&h, 0, "pl_w") == 300);
    assert_true(fh_state(&h, 1, "pl_w") == 400);
    assert_int_equal(joule(&h, &out, &err, "limit", "--gpus", "0", NULL), 0);
    assert_non_null(strstr(out, "power limit 300.0 W"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "limit", "--reset", NULL), 0);
    assert_true(fh_state(&h, 0, "pl_w") == 700);
    free(out);
    free(err);
    /* Out of range: the message lists the range. */
    assert_int_equal(joule(&h, &out, &err, "limit", "--watts", "1000", NULL), 1);
    assert_non_null(strstr(err, "200.0-700.0 W"));
    free(out);
    free(err);
    fh_finish(&h);
}

static void test_clocks_and_persistence(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(1));
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "clocks", "--lock", "900,1400", "--gpus", "1", NULL), 0);
    assert_non_null(strstr(out, "gpu1"));
    assert_non_null(strstr(out, "SM clocks locked to 900-1400 MHz"));
    free(out);
    free(err);
    assert_true(fh_state(&h, 1, "lock_max_mhz") == 1400);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--lock", "1215", "--memory", NULL), 1);
    free(out);
    free(err); /* gpu0's memory is 2619/1309 MHz: 1215 is out of range */
    assert_int_equal(joule(&h, &out, &err, "clocks", "--lock", "1215", "--memory", "--gpus", "1",
                           NULL), 0);
    assert_true(fh_state(&h, 1, "mem_lock_max_mhz") == 1215);
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--reset", NULL), 0);
    assert_true(fh_state(&h, 1, "lock_max_mhz") == 0);
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", NULL), 0);
    assert_non_null(strstr(out, "supported SM clocks"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "on", NULL), 0);
    assert_true(fh_state(&h, 0, "persistence") == 1);
    assert_true(fh_state(&h, 1, "persistence") == 1);
    free(out);
    free(err);
    fh_finish(&h);
}

static void test_usage(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(1));
    char *out, *err;
    static const char *bad[][5] = {
        {"limit", "--watts", "abc", NULL},
        {"limit", "--watts", "300", "--reset", NULL},
        {"clocks", "--lock", "1400,900", NULL},
        {"clocks", "--lock", NULL},
        {"persistence", "maybe", NULL},
        {"bogus", NULL},
        {"limit", "--frobnicate", NULL},
        {"limit", "--gpus", "x", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = joule(&h, &out, &err, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
        if (rc != 2)
            print_error("case %zu: exit %d, stderr: %s\n", i, rc, err ? err : "");
        assert_int_equal(rc, 2);
        assert_true(err && strlen(err) > 0);
        free(out);
        free(err);
    }
    assert_int_equal(joule(&h, &out, &err, "limit", "--gpus", "5", "--watts", "300", NULL), 1);
    assert_non_null(strstr(err, "gpu5 not found"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "--help", NULL), 0);
    assert_non_null(strstr(out, "joule gpu limit"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--help", NULL), 0);
    free(out);
    free(err);
    fh_finish(&h);
}

/* Simulated GPUs take the same commands. */
static void test_sim_devices(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(0));
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "limit", "--devices", "sim:2:h100", "--watts", "400",
                           NULL), 0);
    assert_non_null(strstr(out, "gpu1"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--devices", "sim:1:h100", "--lock", "5000",
                           NULL), 1);
    assert_non_null(strstr(err, "345-1980 MHz"));
    free(out);
    free(err);
    fh_finish(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_without_privilege),
        cmocka_unit_test(test_limit_persists),
        cmocka_unit_test(test_clocks_and_persistence),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_sim_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
