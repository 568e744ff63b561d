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
    expect_error(1, "line 3, column 3 (250 W): elapsed_time is 0 s",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,0,90\n", "-p", "@P@", NULL);
    expect_error(1, "GPU energy is 0 J",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,0\n"
                 "2,__GlobalPowerLimitOptimizer_250,1,90\n", "-p", "@P@", NULL);
    expect_error(1, "cannot open profile", NULL, "-p", "/nonexistent/p.csv", NULL);
}

/* Input that used to give a wrong answer with exit 0 is an error naming
 * the file, line and column. */
static void test_ambiguous_or_overflowing(void **state)
{
    (void)state;
    /* a duplicated GPU column doubled the energy and counted 2 GPUs */
    expect_error(1, "p.csv line 1, column 5: 'gpu0_energy' repeats column 4",
                 "start_time,window_name,elapsed_time,gpu0_energy,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,100,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,1.2,90,90\n", "-p", "@P@", NULL);
    /* one GPU under two spellings */
    expect_error(1, "line 1, column 5: 'gpu00_energy' repeats column 4 ('gpu0_energy')",
                 "start_time,window_name,elapsed_time,gpu0_energy,gpu00_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,100,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,1.2,90,90\n", "-p", "@P@", NULL);
    /* a duplicated elapsed_time moved the choice from 250 W to 200 W */
    expect_error(1, "line 1, column 5: 'elapsed_time' repeats column 3",
                 "start_time,window_name,elapsed_time,gpu0_energy,elapsed_time\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,200,3.0\n"
                 "2,__GlobalPowerLimitOptimizer_250,1.1,150,1.1\n"
                 "3,__GlobalPowerLimitOptimizer_200,1.5,140,1.2\n", "-p", "@P@", NULL);
    /* 1e308 J on two GPUs overflowed to inf and entered the frontier */
    expect_error(1, "line 2, column 5 (300 W): the GPU energies sum to more than",
                 "start_time,window_name,elapsed_time,gpu0_energy,gpu1_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,1e308,1e308\n"
                 "2,__GlobalPowerLimitOptimizer_250,1.2,90,90\n", "-p", "@P@", NULL);
    /* a 1e308 W limit made every cost inf, and was picked */
    expect_error(1, "line 3, column 2: window '__GlobalPowerLimitOptimizer_1e308' does not "
                 "end in a power limit",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
                 "2,__GlobalPowerLimitOptimizer_1e308,1.2,90\n", "-p", "@P@", NULL);
    /* the cost's P_max * N * T term and the average power must be finite */
    expect_error(1, "line 2, column 3 (300 W): elapsed_time 1e+306 s times the highest limit "
                 "300 W and 1 GPU(s) is not a finite number",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1e306,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,1.2,90\n", "-p", "@P@", NULL);
    expect_error(1, "line 3, column 3 (250 W): 1e+300 J in 1e-10 s is not a finite average "
                 "power", "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,1e-10,1e300\n", "-p", "@P@", NULL);
    expect_error(1, "line 2, column 3: elapsed_time '1e999' is not a finite number",
                 "start_time,window_name,elapsed_time,gpu0_energy\n"
                 "1,__GlobalPowerLimitOptimizer_300,1e999,100\n"
                 "2,__GlobalPowerLimitOptimizer_250,1,90\n", "-p", "@P@", NULL);
}

/* 200,000 limits (1..200000 W), every one on the frontier: read, sorted
 * and chosen correctly (the reader and the frontier were quadratic). */
static void test_many_limits(void **state)
{
    (void)state;
    enum { N = 200000 };
    char *dir = ts_mkdtemp();
    char path[1024];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "start_time,window_name,elapsed_time,gpu0_energy\n");
    for (int w = 1; w <= N; w++) /* faster and costlier as the limit rises */
        fprintf(f, "%d,__GlobalPowerLimitOptimizer_%d,%.17g,%.17g\n", w, w, 1 + 1e5 / w,
                1000 + 0.01 * w);
    assert_int_equal(fclose(f), 0);
    char *out, *err;
    assert_int_equal(run_select(&out, &err, "-p", path, "-s", "energy", "--csv", NULL), 0);
    int lines = 0, frontier = 0, chosen_w = -1;
    for (char *l = strchr(out, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
        int w, on, ch;
        double t, e, p;
        char *end = strchr(l + 1, '\n');
        if (end)
            *end = '\0'; /* sscanf would measure the whole rest of the output */
        assert_int_equal(sscanf(l + 1, "%d,%lf,%lf,%lf,%d,%d", &w, &t, &e, &p, &on, &ch), 6);
        if (end)
            *end = '\n';
        assert_int_equal(w, N - lines); /* highest first */
        lines++;
        frontier += on;
        if (ch)
            chosen_w = w;
    }
    assert_int_equal(lines, N);
    assert_int_equal(frontier, N);
    assert_int_equal(chosen_w, 1);
    free(out);
    free(err);
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_and_csv),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_ambiguous_or_overflowing),
        cmocka_unit_test(test_many_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
