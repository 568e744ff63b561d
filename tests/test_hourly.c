/* Hourly carbon intensity and price (joule/hourly.h) against numbers worked
 * out by hand: a window across an hour boundary, the PUE, WattTime's
 * lb/MWh, a missing hour, errors naming file, line and column; and
 * `joule analyze` / `joule run` with --carbon, --price and --pue.
 * python/tests/test_hourly_cli.py checks the same fixtures against the
 * Python implementation. */
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
#include <time.h>

#include <joule/joule.h>
#include <joule/hourly.h>

#include "test_support.h"

#define CLOSE(a, b) assert_true(fabs((double)(a) - (double)(b)) <= 1e-9 * (1 + fabs((double)(b))))
#define FIXTURE(name) JOULE_TEST_SOURCE_DIR "/tests/fixtures/hourly/" name

/* 2025-12-04T16:00:00Z */
#define H16 1764864000.0

static void times_parse_as_python_reads_them(void **state)
{
    (void)state;
    double t;
    assert_int_equal(joule_parse_utc_time("2025-12-04 16:00:00", &t), 0);
    CLOSE(t, H16);
    assert_int_equal(joule_parse_utc_time(" 2025-12-04T16:30:00Z ", &t), 0);
    CLOSE(t, H16 + 1800);
    assert_int_equal(joule_parse_utc_time("2025-12-04T17:30:00.5+01:00", &t), 0);
    CLOSE(t, H16 + 1800.5);
    assert_int_equal(joule_parse_utc_time("2025-12-04T11:00-0500", &t), 0);
    CLOSE(t, H16);
    assert_int_equal(joule_parse_utc_time("2025-12-04", &t), 0);
    CLOSE(t, H16 - 16 * 3600);
    assert_int_equal(joule_parse_utc_time("1764864000.25", &t), 0);
    CLOSE(t, H16 + 0.25);
    assert_int_equal(joule_parse_utc_time("2025-02-29T00:00:00", &t), -1);
    assert_int_equal(joule_parse_utc_time("yesterday", &t), -1);
    assert_int_equal(joule_parse_utc_time("", &t), -1);
    char buf[32];
    joule_hour_format(H16 + 3599.9, buf, sizeof buf);
    assert_string_equal(buf, "2025-12-04T16:59:59Z");
    CLOSE(joule_hour_of(H16 + 3599.9), H16);
    CLOSE(joule_hour_of(H16 + 3600), H16 + 3600);
}

/* A window from 16:50 to 17:10 with cumulative readings at its edges and at
 * the 17:00 boundary: 100 J before it and 250 J after. */
static void split_at_the_hour_boundary(void **state)
{
    (void)state;
    double t[] = {H16 + 3000, H16 + 3600, H16 + 4200};
    double cum[] = {1000, 1100, 1350};
    double hours[4], j[4];
    assert_int_equal(joule_hourly_split(t, cum, 3, hours, j, 4), 2);
    CLOSE(hours[0], H16);
    CLOSE(j[0], 100);
    CLOSE(hours[1], H16 + 3600);
    CLOSE(j[1], 250);
    /* Inside one hour: one part. */
    double t1[] = {H16 + 10, H16 + 20};
    double c1[] = {5, 7};
    assert_int_equal(joule_hourly_split(t1, c1, 2, hours, j, 4), 1);
    CLOSE(j[0], 2);
    assert_int_equal(joule_hourly_split(t, cum, 3, hours, j, 1), JOULE_ERANGE);
}

/* 3.6 MJ is 1 kWh: x PUE 1.5 x 400 g/kWh = 600 g. */
static void pue_multiplies_the_energy(void **state)
{
    (void)state;
    CLOSE(joule_hourly_amount(3.6e6, 1.5, 400), 600);
    CLOSE(joule_hourly_amount(1.8e6, 1.0, 0.30), 0.15);
    assert_int_equal(joule_hourly_check_pue(1.0), 0);
    assert_int_equal(joule_hourly_check_pue(0.9), JOULE_EINVAL);
    assert_int_equal(joule_hourly_check_pue(NAN), JOULE_EINVAL);
    joule_hourly *s;
    assert_int_equal(joule_hourly_constant(-1, &s), JOULE_EINVAL);
    assert_int_equal(joule_hourly_open_carbon("250", &s), 0);
    double v;
    assert_true(joule_hourly_is_constant(s));
    assert_int_equal(joule_hourly_value(s, 0, &v), 0);
    CLOSE(v, 250);
    joule_hourly_free(s);
}

/* 900 and 1000 lb/MWh in the 16:00 hour average to 950 lb/MWh =
 * 950 x 0.45359237 = 430.9127515 g/kWh; 700, 800, 750 at 18:00 to 750 =
 * 340.1942775 g/kWh; 17:00 has no point. */
static void watttime_pounds_per_mwh(void **state)
{
    (void)state;
    joule_hourly *s;
    assert_int_equal(joule_hourly_open_carbon(FIXTURE("watttime.json"), &s), 0);
    assert_int_equal(joule_hourly_count(s), 2);
    double h, v;
    assert_int_equal(joule_hourly_at(s, 0, &h, &v), 0);
    CLOSE(h, H16);
    CLOSE(v, 430.9127515);
    assert_int_equal(joule_hourly_value(s, H16 + 2 * 3600 + 59, &v), 0);
    CLOSE(v, 340.1942775);
    assert_int_equal(joule_hourly_value(s, H16 + 3600, &v), JOULE_ENOENT);
    joule_hourly_free(s);
}

/* The Electricity Maps export: a byte order mark, CRLF, quoted names with
 * a non-ASCII subscript, a blank line, a quoted comma, an empty (missing)
 * 17:00 value, and a life-cycle column that "direct" must not take. */
static void electricity_maps_csv_and_a_missing_hour(void **state)
{
    (void)state;
    joule_hourly *s;
    assert_int_equal(joule_hourly_read_electricity_maps_csv(FIXTURE("electricity_maps.csv"),
                                                            NULL, &s), 0);
    double v;
    assert_int_equal(joule_hourly_value(s, H16 + 1, &v), 0);
    CLOSE(v, 300);
    assert_int_equal(joule_hourly_value(s, H16 + 3600, &v), JOULE_ENOENT);
    assert_int_equal(joule_hourly_value(s, H16 + 7200, &v), 0);
    CLOSE(v, 275.25);
    joule_hourly_free(s);
    assert_int_equal(joule_hourly_read_electricity_maps_csv(FIXTURE("electricity_maps.csv"),
                                                            "lca", &s), 0);
    assert_int_equal(joule_hourly_value(s, H16 + 3600, &v), 0);
    CLOSE(v, 360);
    joule_hourly_free(s);
    /* EUR/MWh is divided by 1000. */
    assert_int_equal(joule_hourly_open_price(FIXTURE("price.csv"), &s), 0);
    assert_int_equal(joule_hourly_value(s, H16 + 3600, &v), 0);
    CLOSE(v, 0.2105);
    joule_hourly_free(s);
}

static void expect_error(const char *dir, const char *name, const char *text, int carbon,
                         const char *where)
{
    char path[512], want[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(ts_write(dir, name, text), 0);
    joule_hourly *s = NULL;
    int rc = carbon ? joule_hourly_open_carbon(path, &s) : joule_hourly_open_price(path, &s);
    assert_int_equal(rc, JOULE_EINVAL);
    assert_null(s);
    snprintf(want, sizeof want, "%s%s", path, where);
    if (!strstr(joule_last_error(), want))
        fail_msg("'%s' does not hold '%s'", joule_last_error(), want);
}

static void bad_files_name_file_line_and_column(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    expect_error(dir, "num.csv",
                 "Datetime (UTC),Carbon Intensity gCO2eq/kWh (direct)\n"
                 "2025-12-04 16:00:00,300\n\n2025-12-04 17:00:00,lots\n",
                 1, ":4:2: not a number: 'lots'");
    expect_error(dir, "neg.csv", "datetime,price\n2025-12-04T16:00:00Z,-3\n", 0,
                 ":2:2: '-3' is not a value >= 0");
    expect_error(dir, "time.csv", "datetime,price\nnoon,3\n", 0, ":2:1: not a time: 'noon'");
    expect_error(dir, "short.csv", "datetime,price\n2025-12-04T16:00:00Z\n", 0,
                 ":2:2: row has 1 fields");
    expect_error(dir, "nocol.csv", "when,co2\n1,2\n", 1, ":1: no time column");
    expect_error(dir, "quote.csv", "datetime,price\n\"2025-12-04,3\n", 0,
                 ":2: unterminated quoted field");
    expect_error(dir, "bad.json", "{\"data\": [\n  {\"point_time\": 1, \"value\": }\n]}", 1,
                 ":2:");
    expect_error(dir, "units.json", "{\"data\": [], \"meta\": {\"units\": \"percentile\"}}", 1,
                 ": meta.units is 'percentile'");
    expect_error(dir, "value.json", "[{\"point_time\": \"2025-12-04T16:00:00Z\"}]", 1,
                 ": data[0].value is absent");
    joule_hourly *s;
    assert_int_equal(joule_hourly_open_price("/nonexistent/p.csv", &s), JOULE_ENOENT);
    assert_non_null(strstr(joule_last_error(), "/nonexistent/p.csv"));
    ts_rmtree(dir);
    free(dir);
}

static cJSON *analyze(const char *carbon, const char *price, const char *pue)
{
    char *argv[] = {JOULE_TEST_CLI, "analyze", FIXTURE("trace.csv"), "--json", "--carbon",
                    (char *)carbon, "--price", (char *)price, "--pue", (char *)pue, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    free(out);
    free(err);
    return cJSON_GetObjectItemCaseSensitive(j, "carbon_price") ? j : NULL;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

/* trace.csv, 16:50 to 18:05 UTC: gpu0 100 W then 400 W from 16:55 and
 * 120 W from 18:01:40; gpu1 200 W then 250.5 W from 17:23:20; cpu0 50 W.
 * Per hour: 16:00 300000 J (gpu0 150000, gpu1 120000, cpu0 30000),
 * 17:00 2451100 J, 18:00 154150 J. */
static void cli_analyze_by_hour(void **state)
{
    (void)state;
    cJSON *j = analyze(FIXTURE("watttime.json"), FIXTURE("price.csv"), "1.25");
    assert_non_null(j);
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(j, "carbon_price");
    const cJSON *hours = cJSON_GetObjectItemCaseSensitive(cp, "hours");
    assert_int_equal(cJSON_GetArraySize(hours), 3);
    const cJSON *h0 = cJSON_GetArrayItem(hours, 0), *h1 = cJSON_GetArrayItem(hours, 1);
    assert_string_equal(cJSON_GetObjectItem(h0, "hour_utc")->valuestring, "2025-12-04T16:00:00Z");
    CLOSE(num(h0, "energy_j", NULL), 300000);
    CLOSE(num(h0, "energy_j_by_device", "gpu0"), 150000);
    CLOSE(num(h1, "energy_j", NULL), 2451100);
    CLOSE(num(cJSON_GetArrayItem(hours, 2), "energy_j", NULL), 154150);
    /* 16:00: 300000 J x 1.25 / 3.6e6 x 430.9127515 g/kWh = 44.886745 g;
     * 18:00: 154150 x 1.25 / 3.6e6 x 340.1942775 = 18.208650 g; 17:00
     * has no intensity: missing, left out. */
    CLOSE(num(h0, "emissions_g", NULL), 300000 * 1.25 / 3.6e6 * 430.9127515);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(h1, "emissions_g")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(h1, "missing")));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cp, "carbon");
    CLOSE(num(c, "emissions_g", NULL),
          300000 * 1.25 / 3.6e6 * 430.9127515 + 154150 * 1.25 / 3.6e6 * 340.1942775);
    const cJSON *miss = cJSON_GetObjectItem(c, "missing_hours");
    assert_int_equal(cJSON_GetArraySize(miss), 1);
    assert_string_equal(cJSON_GetArrayItem(miss, 0)->valuestring, "2025-12-04T17:00:00Z");
    /* cost: (300000 x 0.1 + 2451100 x 0.2105 + 154150 x 0.095) x 1.25 / 3.6e6 */
    CLOSE(num(cp, "price", "cost"),
          (300000 * 0.1 + 2451100 * 0.2105 + 154150 * 0.095) * 1.25 / 3.6e6);
    CLOSE(num(cJSON_GetObjectItem(cp, "price"), "by_device", "cpu0"),
          (30000 * 0.1 + 180000 * 0.2105 + 15000 * 0.095) * 1.25 / 3.6e6);
    cJSON_Delete(j);

    /* Text names the missing hour. */
    char *argv[] = {JOULE_TEST_CLI, "analyze", FIXTURE("trace.csv"), "--carbon",
                    FIXTURE("electricity_maps.csv"), NULL};
    char *out = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, NULL), 0);
    assert_non_null(strstr(out, "2025-12-04T17:00:00Z"));
    assert_non_null(strstr(out, "MISSING"));
    free(out);
    /* CSV: one row per hour and device; the missing hour flagged. */
    char *csv[] = {JOULE_TEST_CLI, "analyze", FIXTURE("trace.csv"), "--csv", "--carbon",
                   FIXTURE("electricity_maps.csv"), "--price", "0.5", NULL};
    assert_int_equal(ts_run(csv, NULL, &out, NULL), 0);
    assert_non_null(strstr(out, "hour_utc,label,energy_j,carbon_g_per_kwh,emissions_g,"
                                "price_per_kwh,cost,missing\n"
                                "2025-12-04T16:00:00Z,gpu0,150000,300,12.5,0.5,0.0208333333,0\n"));
    assert_non_null(strstr(out, "2025-12-04T17:00:00Z,cpu0,180000,,,0.5,0.025,1\n"));
    free(out);
}

static void cli_errors(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    assert_int_equal(ts_write(dir, "c.csv", "datetime,carbon intensity\n2025-12-04,x\n"), 0);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/c.csv", dir);
    char *a1[] = {JOULE_TEST_CLI, "analyze", FIXTURE("trace.csv"), "--carbon", bad, NULL};
    char *err = NULL;
    assert_int_equal(ts_run(a1, NULL, NULL, &err), 1);
    assert_non_null(strstr(err, "c.csv:2:2: not a number"));
    free(err);
    char *a2[] = {JOULE_TEST_CLI, "analyze", FIXTURE("trace.csv"), "--carbon", "300", "--pue",
                  "0.5", NULL};
    assert_int_equal(ts_run(a2, NULL, NULL, &err), 2);
    assert_non_null(strstr(err, "--pue '0.5'"));
    free(err);
    char *a4[] = {JOULE_TEST_CLI, "analyze", FIXTURE("trace.csv"), "--pue", "1.2", NULL};
    assert_int_equal(ts_run(a4, NULL, NULL, &err), 2);
    assert_non_null(strstr(err, "--pue only applies with --carbon or --price"));
    free(err);
    /* run: a bad file is refused before the command runs. */
    char marker[512], script[700];
    snprintf(marker, sizeof marker, "%s/ran", dir);
    snprintf(script, sizeof script, "touch %s", marker);
    char *a3[] = {JOULE_TEST_CLI, "run", "--price", bad, "--", "sh", "-c", script, NULL};
    char *env[] = {"JOULE_DEVICES=sim:1:h100", NULL};
    assert_int_equal(ts_run(a3, env, NULL, &err), 1);
    assert_non_null(strstr(err, "c.csv:1: no price column"));
    assert_null(ts_read(marker));
    free(err);
    ts_rmtree(dir);
    free(dir);
}

/* A run's emissions are its energy x PUE / 3.6e6 x the constant. */
static void cli_run_constant(void **state)
{
    (void)state;
    char *argv[] = {JOULE_TEST_CLI, "run", "--json", "-o", "-", "--carbon", "400", "--price",
                    "0.3", "--pue", "1.5", "--", "sleep", "0.2", NULL};
    char *env[] = {"JOULE_DEVICES=sim:2:h100", NULL};
    char *out = NULL;
    assert_int_equal(ts_run(argv, env, &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    double e = num(j, "total_energy_j", "all");
    assert_true(e > 0);
    const cJSON *cp = cJSON_GetObjectItem(j, "carbon_price");
    CLOSE(num(cp, "carbon", "emissions_g"), e * 1.5 / 3.6e6 * 400);
    CLOSE(num(cp, "price", "cost"), e * 1.5 / 3.6e6 * 0.3);
    const cJSON *run0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "per_run"), 0);
    CLOSE(num(cJSON_GetObjectItem(cp, "carbon"), "by_device", "gpu1"),
          num(run0, "energy_j", "gpu1") * 1.5 / 3.6e6 * 400);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(cp, "carbon"), "missing_hours")), 0);
    cJSON_Delete(j);
    free(out);

    char *csv[] = {JOULE_TEST_CLI, "run", "--csv", "-o", "-", "--carbon", "400", "--",
                   "true", NULL};
    assert_int_equal(ts_run(csv, env, &out, NULL), 0);
    assert_non_null(strstr(out, ",error,emissions_g,cost,missing_hours\n"));
    free(out);
}

/* A run across an hour boundary (the wall clock shifted so the boundary
 * falls 0.4 s into a 1 s run): two hours, their parts summing to the run's
 * energy, each about its share of the time (the sim GPU idles at a steady
 * power). */
static void cli_run_across_an_hour(void **state)
{
    (void)state;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double t = (double)now.tv_sec + now.tv_nsec / 1e9;
    double offset = (floor(t / 3600) + 1) * 3600 - 0.4 - t;
    char env_offset[64];
    snprintf(env_offset, sizeof env_offset, "JOULE_HOURLY_CLOCK_OFFSET_S=%.6f", offset);
    char *env[] = {"JOULE_DEVICES=sim:1:h100", env_offset, NULL};
    char *argv[] = {JOULE_TEST_CLI, "run", "--json", "-o", "-", "--carbon", "100", "--",
                    "sleep", "1", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, env, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    double e = num(j, "total_energy_j", "all");
    const cJSON *hours = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "carbon_price"), "hours");
    if (cJSON_GetArraySize(hours) != 2)
        fail_msg("%d hours: %s", cJSON_GetArraySize(hours), out);
    double e0 = num(cJSON_GetArrayItem(hours, 0), "energy_j", NULL);
    double e1 = num(cJSON_GetArrayItem(hours, 1), "energy_j", NULL);
    CLOSE(e0 + e1, e);
    /* 0.4 s of ~1 s before the boundary; the run's start and the reading at
     * the boundary each land within a few 10 ms of where they are meant. */
    if (!(e0 > 0.25 * e && e0 < 0.55 * e))
        fail_msg("%g J of %g J before the boundary", e0, e);
    CLOSE(num(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "carbon_price"), "carbon"),
              "emissions_g", NULL), e * 100 / 3.6e6);
    cJSON_Delete(j);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times_parse_as_python_reads_them),
        cmocka_unit_test(split_at_the_hour_boundary),
        cmocka_unit_test(pue_multiplies_the_energy),
        cmocka_unit_test(watttime_pounds_per_mwh),
        cmocka_unit_test(electricity_maps_csv_and_a_missing_hour),
        cmocka_unit_test(bad_files_name_file_line_and_column),
        cmocka_unit_test(cli_analyze_by_hour),
        cmocka_unit_test(cli_errors),
        cmocka_unit_test(cli_run_constant),
        cmocka_unit_test(cli_run_across_an_hour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
