/* Saved traces: parsing and its errors, analysis checked against figures
 * worked out by hand, the SVG plot, and `joule analyze` / `joule plot`. */
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

#include <joule/joule.h>
#include <joule/trace.h>

#include "core/trace.h"
#include "core/trace_svg.h"
#include "core/trace_write.h"
#include "test_support.h"

/* gpu0: 100 W on [0,1), 300 W on [1,1.5), 100 W on [1.5,4)
 * gpu1:  50 W on [0,2), 250 W on [2,3),  50 W on [3,4)
 * cpu0:  20 W throughout (counter-derived power) */
static const char *crafted =
    "# joule-trace 1\n"
    "# start_unix_s=1000.0 duration_s=4 interval_s=0.01\n"
    "# device label=gpu0 kind=gpu power_limit_w=300 name=Test GPU <A>\n"
    "# device label=gpu1 kind=gpu power_limit_w=250 name=Test GPU B\n"
    "# device label=cpu0 kind=cpu-package name=package-0\n"
    "# window start_s=0.5 end_s=1.5 name=step & 1\n"
    "time_s,device,domain,value\n"
    "0,gpu0,power_w,100\n"
    "0,gpu1,power_w,50\n"
    "0,cpu0,counter_power_w,20\n"
    "0,gpu0,temp_c,40\n"
    "1,gpu0,power_w,300\n"
    "1.5,gpu0,power_w,100\n"
    "2,gpu1,power_w,250\n"
    "3,gpu1,power_w,50\n";

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = ts_mkdtemp();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ts_rmtree(dir);
    free(dir);
    return 0;
}

static char *write_trace(const char *name, const char *text)
{
    static char path[512];
    ts_write(dir, name, text);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void parses_crafted_trace(void **state)
{
    (void)state;
    struct trace t;
    assert_int_equal(trace_read(write_trace("t.csv", crafted), &t), 0);
    assert_int_equal(t.ndevices, 3);
    CLOSE(t.duration_s, 4);
    CLOSE(t.interval_s, 0.01);
    assert_string_equal(t.devices[0].name, "Test GPU <A>");
    CLOSE(t.devices[1].power_limit_w, 250);
    assert_int_equal(t.nwindows, 1);
    assert_string_equal(t.windows[0].name, "step & 1");
    const struct trace_series *p = trace_power(&t.devices[0]);
    assert_non_null(p);
    assert_int_equal(p->n, 3);
    assert_int_equal(trace_power(&t.devices[2])->domain, JOULE_DOMAIN_POWER_COUNTER);
    trace_free(&t);
}

static void stats_match_hand_computation(void **state)
{
    (void)state;
    struct trace t;
    assert_int_equal(trace_read(write_trace("t.csv", crafted), &t), 0);
    struct trace_stats s;
    const struct trace_series *g0 = trace_power(&t.devices[0]);
    assert_int_equal(trace_stats_of(g0->t, g0->v, g0->n, t.duration_s, t.interval_s, &s), 0);
    CLOSE(s.energy_j, 500);   /* 100 + 150 + 250 */
    CLOSE(s.mean_w, 125);
    CLOSE(s.p50_w, 100);      /* 100 W for 87.5 % of the time */
    CLOSE(s.p95_w, 300);
    CLOSE(s.p99_w, 300);
    CLOSE(s.peak_w, 300);
    CLOSE(s.peak_avg_w[0], 300); /* 10 ms */
    CLOSE(s.peak_avg_w[1], 300); /* 100 ms */
    CLOSE(s.peak_avg_w[2], 200); /* 1 s: half at 300 W, half at 100 W */
    assert_true(isnan(s.peak_avg_w[3]) && isnan(s.peak_avg_w[4])); /* longer than the trace */

    const struct trace_series *g1 = trace_power(&t.devices[1]);
    assert_int_equal(trace_stats_of(g1->t, g1->v, g1->n, t.duration_s, t.interval_s, &s), 0);
    CLOSE(s.energy_j, 400);
    CLOSE(s.p50_w, 50);
    CLOSE(s.p95_w, 250);
    CLOSE(s.peak_avg_w[2], 250);

    const struct trace_series *c0 = trace_power(&t.devices[2]);
    assert_int_equal(trace_stats_of(c0->t, c0->v, c0->n, t.duration_s, t.interval_s, &s), 0);
    CLOSE(s.energy_j, 80);

    /* Sum of GPUs: 150, 350, 150, 350, 150 W on [0,1,1.5,2,3,4). */
    const struct trace_series *gpus[2] = {g0, g1};
    double *st, *sv;
    int sn;
    assert_int_equal(trace_sum(gpus, 2, &st, &sv, &sn), 0);
    assert_int_equal(sn, 5);
    assert_int_equal(trace_stats_of(st, sv, sn, t.duration_s, t.interval_s, &s), 0);
    CLOSE(s.energy_j, 900);
    CLOSE(s.mean_w, 225);
    CLOSE(s.p50_w, 150);
    CLOSE(s.p95_w, 350);
    CLOSE(s.peak_w, 350);
    CLOSE(s.peak_avg_w[2], 350); /* [2, 3] */
    free(st);
    free(sv);
    trace_free(&t);
}

static void coarse_sampling_does_not_resolve_short_timescales(void **state)
{
    (void)state;
    double t[] = {0, 0.5, 1.0}, v[] = {10, 20, 10};
    struct trace_stats s;
    assert_int_equal(trace_stats_of(t, v, 3, 2.0, 0.5, &s), 0);
    assert_true(isnan(s.peak_avg_w[0]) && isnan(s.peak_avg_w[1]));
    CLOSE(s.peak_avg_w[2], 15);
    assert_int_equal(trace_stats_of(t, v, 3, 0.0, 0.5, &s), JOULE_EINVAL); /* empty span */
}

static void bad_traces_name_the_line(void **state)
{
    (void)state;
#define G0 "# device label=gpu0 kind=gpu name=G\n"
    struct {
        const char *text, *want;
    } bad[] = {
        {"time_s,device,domain,value\n0,gpu0,power_w,1\n", "not a joule trace"},
        {"# joule-trace 1\ntime_s,device,domain,watts\n", "unknown column 'watts'"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n1,gpu0,power_w,5\n"
         "0.5,gpu0,power_w,6\n",
         "line 5: time_s 0.5 goes back"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n1,gpu0,power_w,abc\n",
         "line 4, column 4: value 'abc' is not a finite number"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n1,gpu0,volts,5\n",
         "line 4, column 3: unknown domain 'volts'"},
        /* A row's field count is checked in full: an extra field is not
         * dropped, a missing one is not guessed. */
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,70\n"
         "1,gpu0,power_w,70,5\n",
         "line 5: 5 fields, expected 4"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,70,\n",
         "line 4: 5 fields, expected 4"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,70\n",
         "line 4: 3 fields, expected 4"},
        {"# joule-trace 1\n" G0 "value,domain,time_s,device\n70,power_w,0,gpu0,x\n",
         "line 4: 5 fields, expected 4"},
        /* Every row's device is declared by a '# device' line before it,
         * so a garbled label is not summed into gpu-sum as a new GPU. */
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,70\n"
         "0,gpu7,power_w,70\n",
         "line 5, column 2: device 'gpu7' is not declared (no '# device label=gpu7' line before it)"},
        {"# joule-trace 1\ntime_s,device,domain,value\n0,gpu0,power_w,70\n",
         "line 3, column 2: device 'gpu0' is not declared"},
        /* Power is finite, non-negative and at most 1 MW. */
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,-5\n",
         "line 4, column 4: power_w '-5' is out of range (power is 0 to 1000000 W)"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,1e308\n",
         "line 4, column 4: power_w '1e308' is out of range (power is 0 to 1000000 W)"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,avg_power_w,1000000.5\n",
         "line 4, column 4: avg_power_w '1000000.5' is out of range"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,counter_power_w,-0.001\n",
         "line 4, column 4: counter_power_w '-0.001' is out of range"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,nan\n",
         "line 4, column 4: value 'nan' is not a finite number"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,inf\n",
         "line 4, column 4: value 'inf' is not a finite number"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,-inf\n",
         "line 4, column 4: value '-inf' is not a finite number"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,temp_c,1e999\n",
         "line 4, column 4: value '1e999' is not a finite number"},
        /* A column named twice makes the header ambiguous. */
        {"# joule-trace 1\n" G0 "time_s,device,domain,time_s\n",
         "line 3, column 4: column 'time_s' repeated"},
        /* Times and durations are bounded (1e9 s), so no sum or integral
         * overflows: duration_s=1e300 gave 6.9e301 J, extreme times inf. */
        {"# joule-trace 1\n# start_unix_s=1 duration_s=1e300 interval_s=0.1\n",
         "line 2: duration_s '1e300' is not a number from 0 to 1e+09 s"},
        {"# joule-trace 1\n# start_unix_s=1 duration_s=3 interval_s=-1\n",
         "line 2: interval_s '-1' is not a number from 0 to 1e+09 s"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n0,gpu0,power_w,5\n"
         "1e300,gpu0,power_w,6\n",
         "line 5, column 1: time_s '1e300' is not a number from 0 to 1e+09 s"},
        {"# joule-trace 1\n" G0 "time_s,device,domain,value\n-1,gpu0,power_w,5\n",
         "line 4, column 1: time_s '-1' is not a number"},
        {"# joule-trace 1\n# device label=gpu0 kind=gpu power_limit_w=1e300 name=G\n",
         "line 2: power_limit_w '1e300' is not a number from 0 to 1e+06 W"},
        {"# joule-trace 1\n# window start_s=0 end_s=1e300 name=w\n",
         "line 2: window line needs numeric start_s <= end_s (within 1e+09 s)"},
        {"# joule-trace 1\n# device kind=gpu\n", "line 2: device line without label"},
        {"# joule-trace 1\n", "truncated"},
        {"", "empty"},
    };
#undef G0
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct trace t;
        assert_int_equal(trace_read(write_trace("bad.csv", bad[i].text), &t), JOULE_EINVAL);
        if (!strstr(joule_last_error(), bad[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, joule_last_error(), bad[i].want);
    }
    struct trace t;
    assert_int_equal(trace_read("/nonexistent/trace.csv", &t), JOULE_EIO);
}

/* The limits are inclusive: 0 W and 1 MW parse, and only power domains are
 * bounded (a temperature may be negative). CRLF line ends are fine. */
static void trace_value_edges_parse(void **state)
{
    (void)state;
    struct trace t;
    const char *text = "# joule-trace 1\r\n"
                       "# device label=gpu0 kind=gpu name=G\r\n"
                       "time_s,device,domain,value\r\n"
                       "0,gpu0,power_w,0\r\n"
                       "0,gpu0,temp_c,-12.5\r\n"
                       "1,gpu0,power_w,1e6\r\n"
                       "2,gpu0,energy_j,5e9\r\n";
    assert_int_equal(trace_read(write_trace("edges.csv", text), &t), 0);
    assert_int_equal(t.ndevices, 1);
    const struct trace_series *p = trace_series_of(&t.devices[0], JOULE_DOMAIN_POWER);
    assert_non_null(p);
    assert_int_equal(p->n, 2);
    CLOSE(p->v[0], 0);
    CLOSE(p->v[1], 1e6);
    CLOSE(trace_series_of(&t.devices[0], JOULE_DOMAIN_TEMPERATURE)->v[0], -12.5);
    trace_free(&t);
}

/* A last row without its line end (a writer cut short by a full disk) is
 * left out with a warning; what came before it is read as it is. */
static void torn_last_row_is_left_out(void **state)
{
    (void)state;
    const char *whole = "# joule-trace 1\n"
                        "# start_unix_s=1 duration_s=2 interval_s=0.1\n"
                        "# device label=gpu0 kind=gpu name=G\n"
                        "time_s,device,domain,value\n"
                        "0,gpu0,power_w,100\n"
                        "1,gpu0,power_w,200\n";
    char text[1024];
    snprintf(text, sizeof text, "%s1.5,gpu0,pow", whole);
    struct trace t;
    assert_int_equal(trace_read(write_trace("torn.csv", text), &t), 0);
    assert_int_equal(t.torn_line, 7);
    assert_int_equal(trace_power(&t.devices[0])->n, 2);
    trace_free(&t);
    assert_int_equal(trace_read(write_trace("whole.csv", whole), &t), 0);
    assert_int_equal(t.torn_line, 0);
    trace_free(&t);

    /* What a writer cut short leaves is cut back to its last whole line. */
    char *cut = strdup(write_trace("cut.csv", text));
    assert_int_equal(trace_trim_torn(cut), 0);
    char *left = ts_read(cut);
    assert_string_equal(left, whole);
    free(left);
    assert_int_equal(trace_trim_torn(cut), 0); /* already whole */
    left = ts_read(cut);
    assert_string_equal(left, whole);
    free(left);
    write_trace("cut.csv", "no line end at all");
    assert_int_equal(trace_trim_torn(cut), 0);
    left = ts_read(cut);
    assert_string_equal(left, "");
    free(left);
    free(cut);

    char *path = strdup(write_trace("torn.csv", text));
    char *argv[] = {JOULE_TEST_CLI, "analyze", path, "--json", NULL};
    char *out, *err;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    assert_non_null(strstr(err, "warning"));
    assert_non_null(strstr(err, "torn.csv line 7 has no line end"));
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "ignored_torn_line")->valueint, 7);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "devices"), 0);
    CLOSE(cJSON_GetObjectItemCaseSensitive(d, "energy_j")->valuedouble, 300); /* 100 + 200 */
    cJSON_Delete(j);
    free(out);
    free(err);
    free(path);
}

/* 50,000 windows and rows: read whole (reading reallocated per window). */
static void many_windows(void **state)
{
    (void)state;
    enum { N = 50000 };
    char path[512];
    snprintf(path, sizeof path, "%s/many.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# joule-trace 1\n# start_unix_s=1 duration_s=%d interval_s=0.1\n"
               "# device label=gpu0 kind=gpu name=G\n", N);
    for (int i = 0; i < N; i++)
        fprintf(f, "# window start_s=%d end_s=%d.5 name=step %d\n", i, i, i);
    fprintf(f, "time_s,device,domain,value\n");
    for (int i = 0; i < N; i++)
        fprintf(f, "%d,gpu0,power_w,%d\n", i, 100 + i % 2);
    assert_int_equal(fclose(f), 0);
    struct trace t;
    assert_int_equal(trace_read(path, &t), 0);
    assert_int_equal(t.nwindows, N);
    assert_string_equal(t.windows[N - 1].name, "step 49999");
    CLOSE(t.windows[N - 1].end_s, N - 0.5);
    assert_int_equal(trace_power(&t.devices[0])->n, N);
    trace_free(&t);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Every legend text, at 7 px a character (wider than 11 px sans-serif
 * averages), ends inside the viewBox's width. */
static void legend_fits(const char *svg)
{
    int width = 0;
    const char *vb = strstr(svg, "viewBox=\"0 0 ");
    assert_non_null(vb);
    assert_int_equal(sscanf(vb, "viewBox=\"0 0 %d", &width), 1);
    int rows = 0;
    for (const char *p = svg; (p = strstr(p, "<g class=\"legend\">")); p++, rows++) {
        const char *text = strstr(p, "<text x=\"");
        double x = 0;
        assert_int_equal(sscanf(text, "<text x=\"%lf", &x), 1);
        const char *start = strchr(text, '>') + 1, *end = strchr(start, '<');
        size_t chars = 0; /* characters, not UTF-8 bytes or entity text */
        for (const char *c = start; c < end; c++) {
            if (*c == '&')
                c = strchr(c, ';');
            chars += ((unsigned char)*c & 0xC0) != 0x80;
        }
        assert_true(x + 7.0 * (double)chars <= width);
    }
    assert_true(rows > 0);
}

static void svg_of_eight_gpus_has_a_total(void **state)
{
    (void)state;
    char text[8192];
    int n = snprintf(text, sizeof text, "# joule-trace 1\n# start_unix_s=1000 duration_s=2 "
                                        "interval_s=0.1\n");
    for (int i = 0; i < 8; i++)
        n += snprintf(text + n, sizeof text - n, "# device label=gpu%d kind=gpu power_limit_w=700 "
                      "name=NVIDIA H100 80GB HBM3 with a long name to cut\n", i);
    n += snprintf(text + n, sizeof text - n, "time_s,device,domain,value\n");
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 8; i++)
            n += snprintf(text + n, sizeof text - n, "%g,gpu%d,power_w,%d\n", k * 0.5 + i * 0.01,
                          i, 100 + 50 * i + 10 * k);
    struct trace t;
    assert_int_equal(trace_read(write_trace("llama 8 GPUs.csv", text), &t), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/eight.svg", dir);
    FILE *f = fopen(path, "w");
    assert_int_equal(trace_svg_write(&t, f), 0);
    fclose(f);
    trace_free(&t);
    char *svg = ts_read(path);
    assert_non_null(strstr(svg, "<title>llama 8 GPUs</title>"));
    assert_non_null(strstr(svg, "class=\"title\""));
    assert_int_equal(count(svg, "class=\"legend\""), 10); /* 8 GPUs, the limit, the total */
    assert_non_null(strstr(svg, "power limit 700 W"));
    assert_non_null(strstr(svg, "total, 8 GPUs"));
    assert_int_equal(count(svg, "class=\"total\""), 1);
    assert_int_equal(count(svg, "<path"), 9);
    assert_int_equal(count(svg, "stroke-width=\"0.9\""), 8); /* thinner per-GPU lines */
    legend_fits(svg);
    free(svg);
}

static void svg_has_one_path_per_device(void **state)
{
    (void)state;
    struct trace t;
    assert_int_equal(trace_read(write_trace("t.csv", crafted), &t), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/out.svg", dir);
    FILE *f = fopen(path, "w");
    assert_int_equal(trace_svg_write(&t, f), 0);
    fclose(f);
    trace_free(&t);
    char *svg = ts_read(path);
    assert_int_equal(count(svg, "<path"), 3);
    /* two GPU limits, each a line and a legend swatch */
    assert_int_equal(count(svg, "stroke-dasharray"), 4);
    assert_int_equal(count(svg, "class=\"legend\""), 5); /* 3 devices, 2 limits */
    assert_non_null(strstr(svg, "gpu0 power limit 300 W"));
    assert_null(strstr(svg, "class=\"total\"")); /* 2 GPUs: no total panel */
    assert_non_null(strstr(svg, "<title>t</title>")); /* the file name, less .csv */
    legend_fits(svg);
    assert_non_null(strstr(svg, "time (s)"));
    assert_non_null(strstr(svg, "power (W)"));
    assert_non_null(strstr(svg, "Test GPU &lt;A&gt;"));
    assert_non_null(strstr(svg, "step &amp; 1"));
    free(svg);
    /* It parses as XML (where python3 is there to check). */
    char *argv[] = {"/bin/sh", "-c",
                    "command -v python3 >/dev/null || exit 77; python3 -c 'import sys, "
                    "xml.dom.minidom as m; d = m.parse(sys.argv[1]); "
                    "print(len(d.getElementsByTagName(\"path\")))' \"$0\"",
                    path, NULL};
    char *out = NULL;
    int rc = ts_run(argv, NULL, &out, NULL);
    if (rc != 77) {
        assert_int_equal(rc, 0);
        assert_int_equal(atoi(out), 3);
    }
    free(out);
}

/* A name with a line break, a carriage return, a comma, a double quote and
 * a backslash is written escaped (trace.h) and comes back as itself: from
 * the reader and through `joule analyze`. */
static void names_round_trip(void **state)
{
    (void)state;
    const char *name = "step \"1\",\nnext\r\\n end";
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    fputs("# joule-trace 1\n# start_unix_s=0 duration_s=2 interval_s=0.01\n", m);
    fputs("# device label=gpu0 kind=gpu name=GPU \"A\",\\nB\\r\\\\n\n", m);
    joule_trace_format_window(m, 0.5, 1.5, name);
    fputs("time_s,device,domain,value\n", m);
    joule_trace_format_row(m, 0, "gpu0", JOULE_DOMAIN_POWER, 100);
    assert_int_equal(fclose(m), 0);
    /* one window line: the breaks are escaped */
    assert_int_equal(count(buf, "\n"), 6);
    char *path = strdup(write_trace("names.csv", buf));
    free(buf);

    joule_trace *t = NULL;
    assert_int_equal(joule_trace_read(path, &t), 0);
    assert_int_equal(joule_trace_window_count(t), 1);
    assert_string_equal(joule_trace_window_name(t, 0), name);
    assert_string_equal(joule_trace_device_name(t, 0), "GPU \"A\",\nB\r\\n");
    joule_trace_free(t);

    char *argv[] = {JOULE_TEST_CLI, "analyze", "--json", path, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), 0);
    assert_string_equal(cJSON_GetObjectItem(d0, "name")->valuestring, "GPU \"A\",\nB\r\\n");
    cJSON_Delete(j);
    free(out);
    free(err);
    free(path);
}

static void cli_analyze_and_plot(void **state)
{
    (void)state;
    char *trace = strdup(write_trace("t.csv", crafted));
    char *argv[] = {JOULE_TEST_CLI, "analyze", "--json", trace, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *sum = cJSON_GetObjectItem(j, "gpu_sum");
    CLOSE(cJSON_GetObjectItem(sum, "energy_j")->valuedouble, 900);
    CLOSE(cJSON_GetObjectItem(sum, "p50_power_w")->valuedouble, 150);
    const cJSON *mov = cJSON_GetObjectItem(sum, "peak_moving_average_power_w");
    CLOSE(cJSON_GetObjectItem(mov, "1s")->valuedouble, 350);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(mov, "10s")));
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), 0);
    assert_string_equal(cJSON_GetObjectItem(d0, "label")->valuestring, "gpu0");
    CLOSE(cJSON_GetObjectItem(d0, "mean_power_w")->valuedouble, 125);
    cJSON_Delete(j);
    free(out);
    free(err);

    char *text_argv[] = {JOULE_TEST_CLI, "analyze", trace, NULL};
    assert_int_equal(ts_run(text_argv, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "gpu-sum"));
    free(out);
    free(err);

    char html[512];
    snprintf(html, sizeof html, "%s/out.html", dir);
    char *plot_argv[] = {JOULE_TEST_CLI, "plot", trace, "-o", html, "--html", NULL};
    assert_int_equal(ts_run(plot_argv, NULL, &out, &err), 0);
    free(out);
    free(err);
    char *page = ts_read(html);
    assert_non_null(strstr(page, "<table>"));
    assert_non_null(strstr(page, "500.000")); /* gpu0's energy in the table */
    assert_int_equal(count(page, "<path"), 3);
    free(page);

    char *bad = strdup(write_trace("bad.csv", "# joule-trace 1\ntime_s,device,x,value\n"));
    char *bad_argv[] = {JOULE_TEST_CLI, "analyze", bad, NULL};
    assert_int_equal(ts_run(bad_argv, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "unknown column 'x'"));
    free(out);
    free(err);
    /* Garbled rows stop analyze and plot too, naming the line. */
    struct {
        const char *text, *want;
    } garbled[] = {
        {"1,gpu0,power_w,70,5\n", "line 5: 5 fields, expected 4"},
        {"1,gpu7,power_w,70\n", "line 5, column 2: device 'gpu7' is not declared"},
        {"1,gpu0,power_w,-5\n", "line 5, column 4: power_w '-5' is out of range"},
        {"1,gpu0,power_w,nan\n", "line 5, column 4: value 'nan' is not a finite number"},
    };
    for (size_t i = 0; i < sizeof garbled / sizeof garbled[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "# joule-trace 1\n# device label=gpu0 kind=gpu name=G\n"
                 "time_s,device,domain,value\n0,gpu0,power_w,70\n%s",
                 garbled[i].text);
        char *g = strdup(write_trace("garbled.csv", text));
        char *an_argv[] = {JOULE_TEST_CLI, "analyze", g, NULL};
        assert_int_equal(ts_run(an_argv, NULL, &out, &err), 1);
        if (!strstr(err, garbled[i].want))
            fail_msg("analyze case %zu: '%s' lacks '%s'", i, err, garbled[i].want);
        assert_true(out == NULL || strstr(out, "gpu-sum") == NULL);
        free(out);
        free(err);
        char *pl_argv[] = {JOULE_TEST_CLI, "plot", g, "-o", html, NULL};
        assert_int_equal(ts_run(pl_argv, NULL, &out, &err), 1);
        if (!strstr(err, garbled[i].want))
            fail_msg("plot case %zu: '%s' lacks '%s'", i, err, garbled[i].want);
        free(out);
        free(err);
        free(g);
    }
    char *missing_argv[] = {JOULE_TEST_CLI, "plot", trace, NULL};
    assert_int_equal(ts_run(missing_argv, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "-o"));
    free(out);
    free(err);
    free(bad);
    free(trace);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_crafted_trace),
        cmocka_unit_test(stats_match_hand_computation),
        cmocka_unit_test(coarse_sampling_does_not_resolve_short_timescales),
        cmocka_unit_test(bad_traces_name_the_line),
        cmocka_unit_test(trace_value_edges_parse),
        cmocka_unit_test(torn_last_row_is_left_out),
        cmocka_unit_test(many_windows),
        cmocka_unit_test(svg_has_one_path_per_device),
        cmocka_unit_test(svg_of_eight_gpus_has_a_total),
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(cli_analyze_and_plot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
