/* `joule optimize select` on the real profiles: the JSON shape, the
 * frontier and choice against values worked out by hand, the text and CSV
 * twins, and clear errors for bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static int run_select(char **out, char **err, ...)
{
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    argv[n++] = "optimize";
    argv[n++] = "select";
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 23 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    *out = *err = NULL;
    return ts_run(argv, NULL, out, err);
}

static char *profile(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/power-limit-profiles/%s", JOULE_TEST_DATA_DIR, name);
    return path;
}

static void test_json(void **state)
{
    (void)state;
    char *out, *err;
    /* V100 resnet18 gpu0: frontier 250, 150, 125 W; cost 0.5 -> 150 W */
    assert_int_equal(run_select(&out, &err, "--profile", profile("V100+resnet18+gpu0.csv"),
                                "--selector", "cost", "--eta", "0.5", "--json", NULL), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(j, "frontier");
    assert_int_equal(cJSON_GetArraySize(fr), 3);
    static const double pl[] = {250, 150, 125};
    for (int i = 0; i < 3; i++) {
        const cJSON *p = cJSON_GetArrayItem(fr, i);
        assert_true(cJSON_GetObjectItemCaseSensitive(p, "power_limit_w")->valuedouble == pl[i]);
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "time_s")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "energy_j")));
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choice");
    assert_true(cJSON_GetObjectItemCaseSensitive(ch, "power_limit_w")->valuedouble == 150);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(ch, "time_s")->valuedouble -
                     10.183896581991576) < 1e-9);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(ch, "energy_j")->valuedouble -
                     1449.710000000021) < 1e-9);
    cJSON_Delete(j);
    free(out);
    free(err);

    /* several GPUs summed: A40 resnet50 x4, slowdown 1.1 -> 100 W */
    assert_int_equal(run_select(&out, &err, "-p", profile("A40+resnet50+gpu0,1,2,3.csv"), "-s",
                                "slowdown", "--max", "1.1", "--json", NULL), 0);
    j = cJSON_Parse(out);
    ch = cJSON_GetObjectItemCaseSensitive(j, "choice");
    assert_true(cJSON_GetObjectItemCaseSensitive(ch, "power_limit_w")->valuedouble == 100);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(ch, "energy_j")->valuedouble -
                     (839.1720000058413 + 870.1389999985695 + 845.6410000026226 +
                      837.4890000075102)) < 1e-6);
    cJSON_Delete(j);
    free(out);
    free(err);
}

static void test_text_and_csv(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(run_select(&out, &err, "-p", profile("V100+resnet18+gpu0.csv"), "-s",
                                "energy", NULL), 0);
    assert_non_null(strstr(out, "Frontier (time ascending): 250 W 150 W 125 W"));
    assert_non_null(strstr(out, "Choice (energy): 125 W"));
    free(out);
    free(err);
    assert_int_equal(run_select(&out, &err, "-p", profile("V100+resnet18+gpu0.csv"), "-s",
                                "time", "--csv", NULL), 0);
    assert_non_null(strstr(out, "power_limit_w,time_s,energy_j,avg_power_w,frontier,chosen\n"));
    assert_non_null(strstr(out, "\n250,9.99105019,1900.333,"));
    assert_non_null(strstr(out, ",1,1\n")); /* 250 W: on the frontier and chosen */
    free(out);
    free(err);
}

static void expect_error(int code, const char *msg, const char *text, ...)
{
    char *dir = ts_mkdtemp();
    char path[1024];
    snprintf(path, sizeof path, "%s/p.csv", dir);
    if (text)
        ts_write(dir, "p.csv", text);
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    argv[n++] = "optimize";
    argv[n++] = "select";
    va_list ap;
    va_start(ap, text);
    for (char *a; n < 23 && (a = va_arg(ap, char *));)
        argv[n++] = strcmp(a, "@P@") ? a : path;
    va_end(ap);
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = ts_run(argv, NULL, &out, &err);
    if (rc != code || !strstr(err, msg))
        fail_msg("exit %d (want %d), stderr '%s' (want '%s')", rc, code, err, msg);
    free(out);
    free(err);
    ts_rmtree(dir);
    free(dir);
}

static void test_errors(void **state)
{
    (void)state;
    const char *good = "start_time,window_name,elapsed_time,gpu0_energy\n"
                       "1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
                       "2,__GlobalPowerLimitOptimizer_250,1.2,90\n";
    expect_error(2, "unknown selector 'fast'", good, "-p", "@P@", "-s", "fast", NULL);
    expect_error(2, "outside [0, 1]", good, "-p", "@P@", "-s", "cost", "--eta", "1.5", NULL);
    expect_error(2, "must be a finite number >= 1", good, "-p", "@P@", "-s", "slowdown",
                 "--max", "0.9", NULL);
    expect_error(2, "--eta only applies to --selector cost", good, "-p", "@P@", "-s", "energy",
                 "--eta", "0.5", NULL);
    expect_error(2, "--profile FILE is required", NULL, "-s", "energy", NULL);
    expect_error(1, "is empty", "", "-p", "@P@", NULL);
    expect_error(1, "holds one power limit (300 W)",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,100\n", "-p", "@P@", NULL);
    expect_error(1, "line 3 (250 W): elapsed_time is 0 s",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,0,90\n", "-p", "@P@", NULL);
    expect_error(1, "GPU energy is 0 J",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,0\n"
                 "2,__GlobalPowerLimitOptimizer_250,1,90\n", "-p", "@P@", NULL);
    expect_error(1, "cannot open profile", NULL, "-p", "/nonexistent/p.csv", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_and_csv),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
