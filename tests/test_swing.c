/* Power swings (include/joule/swing.h) on synthetic traces whose answers
 * are known by hand: a square wave's swing and ramp, a linear ramp's rate,
 * a 1 Hz oscillation (all of its variance in the 0.1-20 Hz band) against a
 * 0.01 Hz drift (none of it), what a 100 ms source can resolve, TDP from
 * the trace's limits; and `joule analyze` / `joule plot` showing them. */
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

#include <joule/swing.h>

#include "test_support.h"

/* |a - b| <= eps, printing both when not (this cmocka has no double assert). */
#define assert_double_equal(a, b, eps) near_check((a), (b), (eps), #a, __LINE__)
static void near_check(double a, double b, double eps, const char *what, int line)
{
    if (!(fabs(a - b) <= eps))
        print_message("line %d: %s = %.9g, want %.9g +- %g\n", line, what, a, b, eps);
    assert_true(fabs(a - b) <= eps);
}

/* n samples every dt seconds of p(t); *t and *v malloc'd. */
static int sampled(double (*p)(double), double dt, double dur, double **t, double **v)
{
    int n = (int)llround(dur / dt);
    *t = malloc(sizeof **t * (size_t)n);
    *v = malloc(sizeof **v * (size_t)n);
    for (int i = 0; i < n; i++) {
        (*t)[i] = i * dt;
        (*v)[i] = p(i * dt);
    }
    return n;
}

/* 100 W for 1 s, 500 W for 1 s, ... */
static double square(double x) { return fmod(x, 2.0) < 1.0 - 1e-9 ? 100 : 500; }
/* 0 W at 0 s, rising 250 W/s */
static double ramp(double x) { return 250 * x; }
static double sine_1hz(double x) { return 400 + 100 * sin(2 * M_PI * 1.0 * x); }
static double drift(double x) { return 400 + 100 * sin(2 * M_PI * 0.01 * x); }
static double sine_3hz(double x) { return 400 + 100 * sin(2 * M_PI * 3.0 * x); }
static double sine_8hz(double x) { return 400 + 100 * sin(2 * M_PI * 8.0 * x); }

static void test_square_wave(void **state)
{
    (void)state;
    double *t, *v;
    int n = sampled(square, 0.01, 20, &t, &v);
    joule_swing s;
    assert_int_equal(joule_swing_of(t, v, n, 20, 0.01, 700, &s), 0);
    assert_true(s.peak_w == 500 && s.trough_w == 100 && s.swing_w == 400);
    /* 400 W of 700 W */
    assert_double_equal(s.swing_pct_tdp, 400.0 / 700 * 100, 1e-9);
    /* The whole 400 W step falls between two adjacent 100 ms windows:
     * 400 W / 0.1 s. */
    assert_double_equal(s.ramp_window_s, 0.1, 1e-12);
    assert_double_equal(s.ramp_up_w_per_s, 4000, 1e-6);
    assert_double_equal(s.ramp_down_w_per_s, 4000, 1e-6);
    assert_double_equal(fmod(s.ramp_up_time_s, 2.0), 1.0, 1e-6);   /* at an up edge */
    assert_double_equal(fmod(s.ramp_down_time_s, 2.0), 0.0, 1e-6); /* at a down edge */
    /* a 0.5 Hz square wave: its fundamental and odd harmonics up to 20 Hz
     * carry all but a sliver (8/pi^2 * sum over k of 1/k^2, k odd <= 39) */
    assert_true(s.band_share > 0.98 && s.band_share <= 1.0);
    assert_double_equal(s.variance_w2, 200.0 * 200.0, 1e-6);
    assert_double_equal(s.band_hi_hz, 20, 1e-12);
    /* unknown TDP */
    assert_int_equal(joule_swing_of(t, v, n, 20, 0.01, 0, &s), 0);
    assert_true(isnan(s.tdp_w) && isnan(s.swing_pct_tdp));
    free(t);
    free(v);
}

static void test_linear_ramp(void **state)
{
    (void)state;
    double *t, *v;
    int n = sampled(ramp, 0.01, 10, &t, &v);
    joule_swing s;
    assert_int_equal(joule_swing_of(t, v, n, 10, 0.01, NAN, &s), 0);
    /* shifting a 100 ms window by 100 ms adds 25 W to each of its samples */
    assert_double_equal(s.ramp_up_w_per_s, 250, 1e-6);
    assert_double_equal(s.ramp_down_w_per_s, 0, 1e-12);
    assert_true(isnan(s.ramp_down_time_s));
    assert_double_equal(s.swing_w, 250 * 9.99, 1e-6);
    /* sampled every 250 ms: the window is the sample period, stated */
    free(t);
    free(v);
    n = sampled(ramp, 0.25, 10, &t, &v);
    assert_int_equal(joule_swing_of(t, v, n, 10, 0.25, NAN, &s), 0);
    assert_double_equal(s.ramp_window_s, 0.25, 1e-12);
    assert_double_equal(s.ramp_up_w_per_s, 250, 1e-6);
    free(t);
    free(v);
}

static double share_of(double (*p)(double), double dt, double dur, joule_swing *s)
{
    double *t, *v;
    int n = sampled(p, dt, dur, &t, &v);
    assert_int_equal(joule_swing_of(t, v, n, dur, dt, 700, s), 0);
    free(t);
    free(v);
    return s->band_share;
}

static void test_band_share(void **state)
{
    (void)state;
    joule_swing s;
    /* 10 ms sampling: Nyquist 50 Hz, the whole band resolved */
    double on = share_of(sine_1hz, 0.01, 120, &s);
    print_message("1 Hz sine: band share %.6f\n", on);
    assert_true(on > 0.97 && on <= 1.0);
    assert_double_equal(s.band_hi_hz, 20, 1e-12);
    assert_double_equal(s.variance_w2, 100.0 * 100 / 2, 50); /* A^2/2 */
    double off = share_of(drift, 0.01, 120, &s);
    print_message("0.01 Hz drift: band share %.6f\n", off);
    assert_true(off >= 0 && off < 0.03);
    /* A 100 ms source resolves 0.1-5 Hz: a 3 Hz swing is seen, the band
     * is said to end at 5 Hz. */
    double three = share_of(sine_3hz, 0.1, 120, &s);
    assert_double_equal(s.band_hi_hz, 5, 1e-12);
    assert_true(three > 0.97);
    /* An 8 Hz swing sampled every 100 ms aliases to 2 Hz: a source that
     * coarse cannot tell, which is why the resolved band is reported. */
    (void)share_of(sine_8hz, 0.1, 120, &s);
    assert_double_equal(s.band_hi_hz, 5, 1e-12);
    /* Sampled every 10 s: Nyquist 0.05 Hz, nothing of the band resolved */
    share_of(sine_1hz, 10, 600, &s);
    assert_true(isnan(s.band_hi_hz) && isnan(s.band_share));
    /* 5 s cannot tell 0.1 Hz from drift: resolved band, unknown share */
    share_of(sine_1hz, 0.01, 5, &s);
    assert_double_equal(s.band_hi_hz, 20, 1e-12);
    assert_true(isnan(s.band_share));
    /* A flat trace has no variation: share 0, ramps 0 */
    double t[2] = {0, 5}, v[2] = {300, 300};
    assert_int_equal(joule_swing_of(t, v, 2, 10, 0.1, 700, &s), 0);
    assert_true(s.swing_w == 0 && s.band_share == 0 && s.ramp_up_w_per_s == 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    joule_swing s;
    double t[3] = {0, 2, 1}, v[3] = {1, 2, 3};
    assert_int_equal(joule_swing_of(t, v, 3, 5, 0.1, 0, &s), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "in order"));
    assert_int_equal(joule_swing_of(t, v, 0, 5, 0.1, 0, &s), JOULE_EINVAL);
    double t2[2] = {0, 1}, v2[2] = {1, NAN};
    assert_int_equal(joule_swing_of(t2, v2, 2, 5, 0.1, 0, &s), JOULE_EINVAL);
    /* shorter than two ramp windows: ramps unknown, not 0 */
    double t3[2] = {0, 0.05}, v3[2] = {100, 200};
    assert_int_equal(joule_swing_of(t3, v3, 2, 0.1, 0.05, 0, &s), 0);
    assert_true(isnan(s.ramp_up_w_per_s) && s.swing_w == 100);
}

/* Two GPUs in lockstep (square waves, 10 ms), a CPU without a limit. */
static char *write_trace(const char *dir, int with_max)
{
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len,
                            "# joule-trace 1\n# start_unix_s=1764022800 duration_s=20 "
                            "interval_s=0.01\n");
    for (int g = 0; g < 2; g++)
        len += (size_t)snprintf(text + len, cap - len,
                                "# device label=gpu%d kind=gpu power_limit_w=500%s name=sim "
                                "h100\n", g, with_max ? " max_power_limit_w=700" : "");
    len += (size_t)snprintf(text + len, cap - len,
                            "# device label=cpu0 kind=cpu name=sim cpu\n"
                            "time_s,device,domain,value\n");
    for (int i = 0; i < 2000; i++) {
        double x = i * 0.01;
        for (int g = 0; g < 2; g++)
            len += (size_t)snprintf(text + len, cap - len, "%.6f,gpu%d,power_w,%g\n", x, g,
                                    square(x));
        len += (size_t)snprintf(text + len, cap - len, "%.6f,cpu0,power_w,50\n", x);
    }
    char name[32];
    snprintf(name, sizeof name, "sq%d.csv", with_max);
    ts_write(dir, name, text);
    free(text);
    char *path = malloc(strlen(dir) + 40);
    sprintf(path, "%s/%s", dir, name);
    return path;
}

static void test_analyze_and_plot(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char *path = write_trace(dir, 1);
    joule_trace *tr;
    assert_int_equal(joule_trace_read(path, &tr), 0);
    joule_swing s;
    int ngpu = 0;
    assert_int_equal(joule_trace_gpu_sum_swing(tr, &s, &ngpu), 0);
    assert_int_equal(ngpu, 2);
    assert_true(s.swing_w == 800 && s.tdp_w == 1400);
    assert_double_equal(s.ramp_up_w_per_s, 8000, 1e-6);
    assert_string_equal(joule_trace_device_tdp_source(tr, 0), "max_power_limit_w");
    assert_null(joule_trace_device_tdp_source(tr, 2));
    assert_int_equal(joule_trace_device_swing(tr, 2, &s), 0);
    assert_true(isnan(s.tdp_w) && s.swing_w == 0);
    joule_trace_free(tr);

    char *out = NULL, *err = NULL;
    char *argv[] = {JOULE_TEST_CLI, "analyze", "--json", path, NULL};
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    const cJSON *sw = cJSON_GetObjectItem(root, "swings");
    const cJSON *sum = cJSON_GetObjectItem(sw, "gpu_sum");
    assert_double_equal(cJSON_GetObjectItem(sum, "swing_w")->valuedouble, 800, 1e-9);
    assert_double_equal(cJSON_GetObjectItem(sum, "swing_pct_tdp")->valuedouble,
                        800.0 / 1400 * 100, 1e-9);
    assert_double_equal(cJSON_GetObjectItem(sum, "ramp_up_w_per_s")->valuedouble, 8000, 1e-6);
    assert_double_equal(cJSON_GetObjectItem(sum, "ramp_window_s")->valuedouble, 0.1, 1e-12);
    assert_double_equal(cJSON_GetObjectItem(sum, "band_hi_hz")->valuedouble, 20, 1e-12);
    assert_true(cJSON_GetObjectItem(sum, "band_share")->valuedouble > 0.95);
    const cJSON *devs = cJSON_GetObjectItem(sw, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 3);
    const cJSON *cpu = cJSON_GetArrayItem(devs, 2);
    assert_string_equal(cJSON_GetObjectItem(cpu, "label")->valuestring, "cpu0");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cpu, "tdp_w")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cpu, "swing_pct_tdp")));
    cJSON_Delete(root);
    free(out);
    free(err);

    /* the text names the window and the TDP that is unknown */
    char *targv[] = {JOULE_TEST_CLI, "analyze", path, NULL};
    assert_int_equal(ts_run(targv, NULL, &out, &err), 0);
    assert_non_null(
        strstr(out, "Power swings (sampled every 10 ms; ramps between adjacent 100 ms"));
    assert_non_null(strstr(out, "TDP unknown"));
    assert_non_null(strstr(out, "gpu-sum"));
    free(out);
    free(err);

    /* A trace without max_power_limit_w takes its recorded limit. */
    char *old = write_trace(dir, 0);
    assert_int_equal(joule_trace_read(old, &tr), 0);
    assert_string_equal(joule_trace_device_tdp_source(tr, 0), "power_limit_w");
    assert_int_equal(joule_trace_gpu_sum_swing(tr, &s, NULL), 0);
    assert_true(s.tdp_w == 1000);
    joule_trace_free(tr);

    /* the plot marks each GPU's largest rise and fall */
    char svg[600];
    snprintf(svg, sizeof svg, "%s/sq.svg", dir);
    char *pargv[] = {JOULE_TEST_CLI, "plot", path, "-o", svg, NULL};
    assert_int_equal(ts_run(pargv, NULL, &out, &err), 0);
    free(out);
    free(err);
    char *text = ts_read(svg);
    assert_non_null(text);
    int rises = 0, falls = 0;
    for (const char *p = text; (p = strstr(p, "largest rise: +4000 W/s over 100 ms")); p++)
        rises++;
    for (const char *p = text; (p = strstr(p, "largest fall: -4000 W/s over 100 ms")); p++)
        falls++;
    assert_int_equal(rises, 2);
    assert_int_equal(falls, 2);
    assert_non_null(strstr(text, ">largest rise +4000 W/s</text>"));
    assert_non_null(strstr(text, ">largest fall -4000 W/s</text>"));
    free(text);
    free(path);
    free(old);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square_wave),
        cmocka_unit_test(test_linear_ramp),
        cmocka_unit_test(test_band_share),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_analyze_and_plot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
