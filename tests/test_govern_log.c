/* `joule analyze --govern-log` on hand-written governor logs, against
 * numbers worked out by hand; a format 1 log (before the header and the
 * estimate fields) read for what it holds; bad logs named by line. The
 * log of a real governor run is checked in test_inference_govern.c. */
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

/* SLOs ITL 50 ms, TTFT 500 ms, interval 10 s. Decisions at 0, 10, 20, 30 s
 * locking 1980, 1980, 1410, 1605 MHz; the summary says 40 s. So 1980 MHz
 * for 20 s, 1410 and 1605 for 10 s each. Violations: ITL 60 ms at 20 s,
 * TTFT 600 ms at 30 s: 2 of 3 observed intervals. Tokens 1000 at 1980 MHz
 * (0.3 J/token, top 0.3), 800 at 1980 (0.25, top 0.25), 500 at 1410 (0.15,
 * top 0.25): governed 300 + 200 + 75 = 575 J, top clock 300 + 200 + 125 =
 * 625 J, saved 50 J = 8 %. */
static const char *v2 =
    "{\"joule_govern_log\":2,\"itl_slo_s\":0.05,\"ttft_slo_s\":0.5,\"margin\":0.1,"
    "\"interval_s\":10,\"profile\":\"p.json\",\"metrics_url\":\"http://x/metrics\","
    "\"start_unix_s\":1764867000}\n"
    "{\"t_s\":0,\"load\":4,\"itl_p90_s\":null,\"ttft_p90_s\":null,\"sm_clock_mhz\":1980,"
    "\"reason\":\"start\",\"tokens\":null,\"tokens_clock_mhz\":0,\"max_sm_clock_mhz\":1980,"
    "\"energy_per_token_j\":null,\"max_clock_energy_per_token_j\":0.3}\n"
    "{\"t_s\":10,\"load\":4,\"itl_p90_s\":0.03,\"ttft_p90_s\":0.2,\"sm_clock_mhz\":1980,"
    "\"reason\":\"keep\",\"tokens\":1000,\"tokens_clock_mhz\":1980,\"max_sm_clock_mhz\":1980,"
    "\"energy_per_token_j\":0.3,\"max_clock_energy_per_token_j\":0.3}\n"
    "\n"
    "{\"t_s\":20,\"load\":1,\"itl_p90_s\":0.06,\"ttft_p90_s\":0.3,\"sm_clock_mhz\":1410,"
    "\"reason\":\"down\",\"tokens\":800,\"tokens_clock_mhz\":1980,\"max_sm_clock_mhz\":1980,"
    "\"energy_per_token_j\":0.25,\"max_clock_energy_per_token_j\":0.25}\n"
    "{\"t_s\":30,\"load\":1,\"itl_p90_s\":0.04,\"ttft_p90_s\":0.6,\"sm_clock_mhz\":1605,"
    "\"reason\":\"feedback\",\"tokens\":500,\"tokens_clock_mhz\":1410,\"max_sm_clock_mhz\":1980,"
    "\"energy_per_token_j\":0.15,\"max_clock_energy_per_token_j\":0.25}\n"
    "{\"summary\":{\"time_s\":40,\"energy_j\":900,\"tokens\":2300}}\n";

static cJSON *analyze_json(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(ts_write(dir, name, text), 0);
    char *argv[] = {JOULE_TEST_CLI, "analyze", "--govern-log", path, "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = ts_run(argv, NULL, &out, &err);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    free(out);
    free(err);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", k);
    return v->valuedouble;
}

static void clock_time(const cJSON *j, int k, int mhz, double s)
{
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "time_at_clock"), k);
    assert_int_equal((int)num(c, "sm_clock_mhz"), mhz);
    assert_float_equal(num(c, "time_s"), s, 1e-12);
}

static void hand_written_log(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    cJSON *j = analyze_json(dir, "v2.jsonl", v2);
    assert_int_equal((int)num(j, "format"), 2);
    assert_float_equal(num(j, "period_s"), 40, 1e-12);
    assert_int_equal((int)num(j, "decisions"), 4);
    const cJSON *r = cJSON_GetObjectItem(j, "reasons");
    assert_int_equal((int)num(r, "down"), 1);
    assert_int_equal((int)num(r, "feedback"), 1);
    clock_time(j, 0, 1980, 20);
    clock_time(j, 1, 1605, 10);
    clock_time(j, 2, 1410, 10);
    const cJSON *v = cJSON_GetObjectItem(j, "slo_violations");
    assert_int_equal((int)num(v, "intervals"), 2);
    assert_int_equal((int)num(v, "itl"), 1);
    assert_int_equal((int)num(v, "ttft"), 1);
    assert_int_equal((int)num(j, "observed_intervals"), 3);
    assert_float_equal(num(j, "tokens"), 2300, 1e-9);
    assert_float_equal(num(j, "est_governed_j"), 575, 1e-9);
    assert_float_equal(num(j, "est_max_clock_j"), 625, 1e-9);
    assert_float_equal(num(j, "est_saved_j"), 50, 1e-9);
    assert_float_equal(num(j, "est_saving"), 0.08, 1e-12);
    assert_float_equal(num(j, "measured_energy_j"), 900, 1e-12);
    cJSON_Delete(j);

    /* Text, and the log recognised when given where a trace goes. */
    char path[600];
    snprintf(path, sizeof path, "%s/v2.jsonl", dir);
    char *argv[] = {JOULE_TEST_CLI, "analyze", path, NULL};
    char *out = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, NULL), 0);
    assert_non_null(strstr(out, "saved 50 J (8.0 %)"));
    assert_non_null(strstr(out, "2 of 3 observed intervals"));
    assert_non_null(strstr(out, "1980 MHz       20.000    50.0%"));
    free(out);
    ts_rmtree(dir);
    free(dir);
}

/* Format 1: no header, no estimate fields, no summary: the period ends one
 * mean gap (10 s) after the last decision; SLOs and saving unknown. */
static void format_1_log(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    cJSON *j = analyze_json(dir, "v1.jsonl",
        "{\"t_s\":0,\"load\":4,\"itl_p90_s\":null,\"ttft_p90_s\":null,\"sm_clock_mhz\":1980,"
        "\"reason\":\"start\",\"tokens\":null}\n"
        "{\"t_s\":10,\"load\":1,\"itl_p90_s\":0.03,\"ttft_p90_s\":0.2,\"sm_clock_mhz\":1410,"
        "\"reason\":\"down\",\"tokens\":1000}\n"
        "{\"t_s\":20,\"load\":1,\"itl_p90_s\":0.03,\"ttft_p90_s\":0.2,\"sm_clock_mhz\":1410,"
        "\"reason\":\"keep\",\"tokens\":800}\n");
    assert_int_equal((int)num(j, "format"), 1);
    assert_float_equal(num(j, "period_s"), 30, 1e-12);
    clock_time(j, 0, 1980, 10);
    clock_time(j, 1, 1410, 20);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "slo_violations")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "est_saving")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "est_governed_j")));
    cJSON_Delete(j);
    ts_rmtree(dir);
    free(dir);
}

static void expect_bad(const char *dir, const char *name, const char *text, const char *want)
{
    char path[600], full[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(ts_write(dir, name, text), 0);
    char *argv[] = {JOULE_TEST_CLI, "analyze", "--govern-log", path, NULL};
    char *err = NULL;
    assert_int_equal(ts_run(argv, NULL, NULL, &err), 1);
    snprintf(full, sizeof full, "%s%s", path, want);
    if (!strstr(err, full))
        fail_msg("'%s' lacks '%s'", err, full);
    free(err);
}

static void bad_logs(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    expect_bad(dir, "newer.jsonl", "{\"joule_govern_log\":9}\n", ":1: format version 9 is newer");
    expect_bad(dir, "json.jsonl",
               "{\"t_s\":0,\"sm_clock_mhz\":990,\"reason\":\"start\"}\n{\"t_s\": 1,\n", ":2: column");
    expect_bad(dir, "reason.jsonl", "{\"t_s\":0,\"sm_clock_mhz\":990,\"reason\":\"sideways\"}\n",
               ":1: unknown reason");
    expect_bad(dir, "back.jsonl",
               "{\"t_s\":5,\"sm_clock_mhz\":990,\"reason\":\"start\"}\n"
               "{\"t_s\":4,\"sm_clock_mhz\":990,\"reason\":\"keep\"}\n", ":2: t_s goes back");
    expect_bad(dir, "other.jsonl", "{\"prompt\": \"hi\"}\n", ":1: not a governor log record");
    expect_bad(dir, "empty.jsonl", "{\"joule_govern_log\":2}\n", ":1: no decisions");
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_written_log),
        cmocka_unit_test(format_1_log),
        cmocka_unit_test(bad_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
