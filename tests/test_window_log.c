/* The window log: Zeus-compatible CSV and JSONL, one row per ended window,
 * flushed per row, appended to but never clobbered, bad names rejected
 * before anything is written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "test_support.h"

#define RANGE 262143328850ULL
#define ZEUS_HEADER "start_time,window_name,elapsed_time,gpu0_energy,gpu1_energy,cpu0_energy,dram0_energy"
#define HEADER ZEUS_HEADER ",gpu0_energy_uncertainty_j,gpu1_energy_uncertainty_j," \
                           "cpu0_energy_uncertainty_j,dram0_energy_uncertainty_j"

struct fixture {
    char *dir;      /* temp dir: the fake sysfs root and the logs */
    char log[1024];
    uint64_t pkg, dram;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = ts_mkdtemp();
    f->pkg = 1000000;
    f->dram = 2000000;
    ts_rapl_zone(f->dir, "intel-rapl:0", "package-0", f->pkg, RANGE);
    ts_rapl_zone(f->dir, "intel-rapl:0:0", "dram", f->dram, RANGE);
    snprintf(f->log, sizeof f->log, "%s/log.csv", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ts_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int open_log(struct fixture *f, const char *spec, const char *path,
                    enum joule_log_format fmt, joule_ctx **ctx)
{
    joule_options *o = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, spec), 0);
    assert_int_equal(joule_options_set_sysfs_root(o, f->dir), 0);
    assert_int_equal(joule_options_set_keeper_interval_ms(o, -1), 0);
    /* The fake RAPL counters change only when a test writes them: rows
     * must show their plain differences. */
    assert_int_equal(joule_options_set_edge_correction(o, 0), 0);
    assert_int_equal(joule_options_set_log(o, path, fmt), 0);
    *ctx = NULL;
    int rc = joule_open(o, ctx);
    joule_options_destroy(o);
    return rc;
}

/* Moves the fake CPU counters forward by the given µJ. */
static void spend(struct fixture *f, uint64_t pkg_uj, uint64_t dram_uj)
{
    f->pkg += pkg_uj;
    f->dram += dram_uj;
    assert_int_equal(ts_rapl_set(f->dir, "intel-rapl:0", f->pkg), 0);
    assert_int_equal(ts_rapl_set(f->dir, "intel-rapl:0:0", f->dram), 0);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* Line k (0-based) of text, copied into buf. */
static const char *line_at(const char *text, int k, char *buf, size_t len)
{
    const char *p = text;
    for (int i = 0; i < k && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p || !*p)
        return NULL;
    size_t n = strcspn(p, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Splits a CSV line on commas (the log never quotes: names with commas,
 * quotes or newlines are refused). */
static int split(char *line, char **fields, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, ",", &save); t && n < max;
         t = strtok_r(NULL, ",", &save))
        fields[n++] = t;
    return n;
}

static double num(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end)
        fail_msg("'%s' is not a number", s);
    return v;
}

/* Checks CSV row text against result r: name, start, elapsed and energy
 * per column (gpu0, gpu1, cpu0, dram0, which is the context's order
 * mapped by label). */
static void check_row(const char *row_text, joule_ctx *ctx, const joule_result *r)
{
    char row[1024];
    snprintf(row, sizeof row, "%s", row_text);
    char *fields[16];
    int n = split(row, fields, 16);
    assert_int_equal(n, 11);
    assert_string_equal(fields[1], joule_result_name(r));
    assert_true(fabs(num(fields[0]) - joule_result_start_unix_s(r)) < 2e-6);
    assert_true(fabs(num(fields[2]) - joule_result_time_s(r)) < 1e-8);
    static const char *const cols[] = {"gpu0", "gpu1", "cpu0", "dram0"};
    for (int c = 0; c < 4; c++) {
        int dev = -1;
        for (int i = 0; i < joule_device_count(ctx); i++)
            if (strcmp(joule_device_label(joule_device_at(ctx, i)), cols[c]) == 0)
                dev = i;
        assert_true(dev >= 0);
        double e = joule_result_energy_j(r, dev, NULL, NULL);
        if (fabs(num(fields[3 + c]) - e) > 1e-6)
            fail_msg("%s column %s, result %.9f", cols[c], fields[3 + c], e);
        double u = joule_result_uncertainty_j(r, dev);
        if (fabs(num(fields[7 + c]) - u) > 1e-6)
            fail_msg("%s uncertainty column %s, result %.9f", cols[c], fields[7 + c], u);
    }
}

static void test_csv_rows(void **state)
{
    struct fixture *f = *state;
    joule_ctx *ctx = NULL;
    if (open_log(f, "sim:2:h100+cpu", f->log, JOULE_LOG_CSV, &ctx))
        fail_msg("open: %s", joule_last_error());
    assert_int_equal(joule_device_count(ctx), 4);

    /* The header is written at open, and is Zeus's. */
    char *text = ts_read(f->log);
    assert_string_equal(text, HEADER "\n");
    free(text);

    assert_int_equal(joule_window_begin(ctx, "epoch 1", 0), 0);
    spend(f, 4500000, 1234567);
    ts_sleep_ms(120);
    joule_result *r1 = NULL;
    assert_int_equal(joule_window_end(ctx, "epoch 1", 0, &r1), 0);
    assert_true(joule_result_energy_j(r1, 0, NULL, NULL) > 0);

    /* Flushed per row: readable while the context is still open. */
    text = ts_read(f->log);
    assert_int_equal(count_lines(text), 2);
    char line[1024];
    assert_non_null(line_at(text, 0, line, sizeof line));
    assert_string_equal(line, HEADER);
    assert_non_null(line_at(text, 1, line, sizeof line));
    check_row(line, ctx, r1);
    {
        /* The CPU columns are exactly the counter differences. */
        char copy[1024];
        snprintf(copy, sizeof copy, "%s", line);
        char *fields[16];
        split(copy, fields, 16);
        assert_string_equal(fields[5], "4.500000");
        assert_string_equal(fields[6], "1.234567");
    }
    free(text);

    /* A cancelled window writes nothing; nested windows log in end order. */
    assert_int_equal(joule_window_begin(ctx, "cancelled", 0), 0);
    assert_int_equal(joule_window_cancel(ctx, "cancelled"), 0);
    assert_int_equal(joule_window_begin(ctx, "outer", 0), 0);
    assert_int_equal(joule_window_begin(ctx, "inner", 0), 0);
    spend(f, 1000, 2000);
    ts_sleep_ms(5);
    joule_result *r2 = NULL, *r3 = NULL;
    assert_int_equal(joule_window_end(ctx, "inner", 0, &r2), 0);
    spend(f, 3000, 4000);
    ts_sleep_ms(5);
    assert_int_equal(joule_window_end(ctx, "outer", 0, &r3), 0);
    /* A window ended without asking for the result is logged too. */
    assert_int_equal(joule_window_begin(ctx, "no result", 0), 0);
    ts_sleep_ms(2);
    assert_int_equal(joule_window_end(ctx, "no result", 0, NULL), 0);

    text = ts_read(f->log);
    assert_int_equal(count_lines(text), 5);
    assert_null(strstr(text, "cancelled"));
    line_at(text, 2, line, sizeof line);
    check_row(line, ctx, r2);
    assert_non_null(strstr(line, ",0.001000,0.002000"));
    line_at(text, 3, line, sizeof line);
    check_row(line, ctx, r3);
    assert_non_null(strstr(line, ",0.004000,0.006000"));
    line_at(text, 4, line, sizeof line);
    assert_int_equal(strncmp(strchr(line, ',') + 1, "no result,", 10), 0);
    free(text);
    joule_result_free(r1);
    joule_result_free(r2);
    joule_result_free(r3);
    joule_close(ctx);
}

static void test_jsonl_rows(void **state)
{
    struct fixture *f = *state;
    char path[1100];
    snprintf(path, sizeof path, "%s/log.jsonl", f->dir);
    joule_ctx *ctx = NULL;
    if (open_log(f, "sim:2:h100+cpu", path, JOULE_LOG_JSONL, &ctx))
        fail_msg("open: %s", joule_last_error());
    /* No header line in JSONL. */
    char *text = ts_read(path);
    assert_string_equal(text, "");
    free(text);

    joule_result *rs[2] = {NULL, NULL};
    const char *names[2] = {"short", "long"};
    int ms[2] = {5, 150};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(joule_window_begin(ctx, names[k], 0), 0);
        spend(f, 1000000 * (uint64_t)(k + 1), 0);
        ts_sleep_ms(ms[k]);
        assert_int_equal(joule_window_end(ctx, names[k], 0, &rs[k]), 0);
    }
    text = ts_read(path);
    assert_int_equal(count_lines(text), 2);
    for (int k = 0; k < 2; k++) {
        char line[4096];
        assert_non_null(line_at(text, k, line, sizeof line));
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "window_name");
        assert_true(cJSON_IsString(name));
        assert_string_equal(name->valuestring, names[k]);
        cJSON *el = cJSON_GetObjectItemCaseSensitive(o, "elapsed_time_s");
        assert_true(cJSON_IsNumber(el));
        assert_true(fabs(el->valuedouble - joule_result_time_s(rs[k])) < 1e-9);
        cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "start_time_unix_s");
        assert_true(cJSON_IsNumber(st));
        assert_true(fabs(st->valuedouble - joule_result_start_unix_s(rs[k])) < 1e-6);
        cJSON *devs = cJSON_GetObjectItemCaseSensitive(o, "devices");
        assert_int_equal(cJSON_GetArraySize(devs), 4);
        for (int i = 0; i < joule_device_count(ctx); i++) {
            const char *label = joule_device_label(joule_device_at(ctx, i));
            cJSON *d = cJSON_GetObjectItemCaseSensitive(devs, label);
            if (!d)
                fail_msg("no devices.%s in %s", label, line);
            int q = -1;
            double e = joule_result_energy_j(rs[k], i, &q, NULL);
            cJSON *ej = cJSON_GetObjectItemCaseSensitive(d, "energy_j");
            assert_true(cJSON_IsNumber(ej));
            assert_true(fabs(ej->valuedouble - e) < 1e-9);
            cJSON *qj = cJSON_GetObjectItemCaseSensitive(d, "quality");
            assert_true(cJSON_IsString(qj));
            assert_string_equal(qj->valuestring, joule_quality_name(q));
        }
        /* The sim GPU (100 ms counter) is below resolution in the short
         * window; a plain difference over the long one is not within 1 %. */
        cJSON *g0 = cJSON_GetObjectItemCaseSensitive(devs, "gpu0");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(g0, "quality")->valuestring,
                            k == 0 ? "below_resolution" : "approx");
        cJSON *c0 = cJSON_GetObjectItemCaseSensitive(devs, "cpu0");
        assert_true(fabs(cJSON_GetObjectItemCaseSensitive(c0, "energy_j")->valuedouble -
                         (k + 1)) < 1e-9);
        cJSON *tot = cJSON_GetObjectItemCaseSensitive(o, "total_energy_j");
        assert_true(fabs(tot->valuedouble - joule_result_total_all_j(rs[k])) < 1e-6);
        cJSON_Delete(o);
    }
    free(text);
    joule_result_free(rs[0]);
    joule_result_free(rs[1]);
    joule_close(ctx);
}

static void test_append_keeps_rows(void **state)
{
    struct fixture *f = *state;
    joule_ctx *ctx = NULL;
    for (int run = 0; run < 2; run++) {
        if (open_log(f, "sim:2:h100+cpu", f->log, JOULE_LOG_CSV, &ctx))
            fail_msg("open %d: %s", run, joule_last_error());
        assert_int_equal(joule_window_begin(ctx, run ? "second" : "first", 0), 0);
        ts_sleep_ms(2);
        assert_int_equal(joule_window_end(ctx, run ? "second" : "first", 0, NULL), 0);
        joule_close(ctx);
    }
    char *text = ts_read(f->log);
    assert_int_equal(count_lines(text), 3);
    char line[1024];
    assert_string_equal(line_at(text, 0, line, sizeof line), HEADER);
    assert_non_null(strstr(line_at(text, 1, line, sizeof line), ",first,"));
    assert_non_null(strstr(line_at(text, 2, line, sizeof line), ",second,"));
    free(text);
}

/* A log written in plain Zeus format (no uncertainty columns) is continued
 * in that format: its readers keep working. */
static void test_zeus_log_continued_as_is(void **state)
{
    struct fixture *f = *state;
    const char *old = ZEUS_HEADER "\n1700000000.000000,old run,1.5,1,2,3,4\n";
    assert_int_equal(ts_write(f->dir, "log.csv", old), 0);
    joule_ctx *ctx = NULL;
    if (open_log(f, "sim:2:h100+cpu", f->log, JOULE_LOG_CSV, &ctx))
        fail_msg("open: %s", joule_last_error());
    assert_int_equal(joule_window_begin(ctx, "new", 0), 0);
    ts_sleep_ms(2);
    assert_int_equal(joule_window_end(ctx, "new", 0, NULL), 0);
    joule_close(ctx);
    char *text = ts_read(f->log);
    char line[1024], *fields[16];
    assert_int_equal(count_lines(text), 3);
    assert_string_equal(line_at(text, 0, line, sizeof line), ZEUS_HEADER);
    line_at(text, 2, line, sizeof line);
    assert_int_equal(split(line, fields, 16), 7);
    assert_string_equal(fields[1], "new");
    free(text);
}

static void test_other_header_refused(void **state)
{
    struct fixture *f = *state;
    const char *old = "start_time,window_name,elapsed_time,gpu0_energy\n"
                      "1700000000.000000,old run,1.5,300.000000\n";
    assert_int_equal(ts_write(f->dir, "log.csv", old), 0);
    joule_ctx *ctx = NULL;
    int rc = open_log(f, "sim:2:h100+cpu", f->log, JOULE_LOG_CSV, &ctx);
    assert_int_equal(rc, JOULE_EINVAL);
    assert_null(ctx);
    assert_non_null(strstr(joule_last_error(), f->log));
    char *text = ts_read(f->log);
    assert_string_equal(text, old);
    free(text);

    /* The same devices in the old file: accepted, old rows kept. */
    rc = open_log(f, "sim:1:h100", f->log, JOULE_LOG_CSV, &ctx);
    if (rc)
        fail_msg("open: %s", joule_last_error());
    assert_int_equal(joule_window_begin(ctx, "new run", 0), 0);
    assert_int_equal(joule_window_end(ctx, "new run", 0, NULL), 0);
    joule_close(ctx);
    text = ts_read(f->log);
    assert_int_equal(strncmp(text, old, strlen(old)), 0);
    assert_non_null(strstr(text + strlen(old), ",new run,"));
    assert_int_equal(count_lines(text), 3);
    free(text);
}

/* An existing log whose last row lost its newline (a crash mid-write, an
 * editor): the new row goes on its own line and the old one is kept. */
static void test_append_after_unterminated_row(void **state)
{
    struct fixture *f = *state;
    const char *old = "start_time,window_name,elapsed_time,gpu0_energy\n"
                      "1700000000.000000,old,1.5,300.000000";
    for (int fmt = 0; fmt < 2; fmt++) {
        const char *text0 = fmt ? "{\"window_name\":\"old\"}" : old;
        assert_int_equal(ts_write(f->dir, "log.csv", text0), 0);
        joule_ctx *ctx = NULL;
        if (open_log(f, "sim:1:h100", f->log, fmt ? JOULE_LOG_JSONL : JOULE_LOG_CSV, &ctx))
            fail_msg("open: %s", joule_last_error());
        assert_int_equal(joule_window_begin(ctx, "new", 0), 0);
        assert_int_equal(joule_window_end(ctx, "new", 0, NULL), 0);
        joule_close(ctx);
        char *text = ts_read(f->log);
        size_t n = strlen(text0);
        assert_int_equal(strncmp(text, text0, n), 0);
        assert_int_equal(text[n], '\n');
        assert_int_equal(count_lines(text), fmt ? 2 : 3);
        if (fmt) {
            char line[4096];
            cJSON *o = cJSON_Parse(line_at(text, 1, line, sizeof line));
            assert_non_null(o);
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "window_name")->valuestring,
                                "new");
            cJSON_Delete(o);
        } else {
            assert_int_equal(strncmp(text + n + 1, "1", 1), 0);
            assert_non_null(strstr(text + n + 1, ",new,"));
        }
        free(text);
    }
}

static void test_unwritable_path(void **state)
{
    struct fixture *f = *state;
    joule_ctx *ctx = NULL;
    const char *path = "/nonexistent/dir/log.csv";
    int rc = open_log(f, "sim:1:h100", path, JOULE_LOG_CSV, &ctx);
    assert_int_equal(rc, JOULE_EIO);
    assert_null(ctx);
    assert_non_null(strstr(joule_last_error(), path));
    assert_non_null(strstr(joule_last_error(), "No such file or directory"));

    /* A directory is not a log file either. */
    rc = open_log(f, "sim:1:h100", f->dir, JOULE_LOG_JSONL, &ctx);
    assert_int_equal(rc, JOULE_EIO);
    assert_null(ctx);
    assert_non_null(strstr(joule_last_error(), f->dir));
}

static void test_bad_names_leave_log_untouched(void **state)
{
    struct fixture *f = *state;
    joule_ctx *ctx = NULL;
    if (open_log(f, "sim:2:h100+cpu", f->log, JOULE_LOG_CSV, &ctx))
        fail_msg("open: %s", joule_last_error());
    assert_int_equal(joule_window_begin(ctx, "good", 0), 0);
    assert_int_equal(joule_window_end(ctx, "good", 0, NULL), 0);
    char *before = ts_read(f->log);

    static const struct {
        const char *name, *why;
    } bad[] = {
        {"a,b", "comma"},
        {"say \"hi\"", "double quote"},
        {"two\nlines", "newline"},
        {"tab\there", "control character"},
        {"", "empty"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(joule_window_begin(ctx, bad[k].name, 0), JOULE_EINVAL);
        if (!strstr(joule_last_error(), bad[k].why))
            fail_msg("'%s' for name #%zu should mention '%s'", joule_last_error(), k,
                     bad[k].why);
    }
    assert_int_equal(joule_window_open_count(ctx), 0);

    /* Duplicate and unknown names: errors naming the window, no row. */
    assert_int_equal(joule_window_begin(ctx, "dup", 0), 0);
    assert_int_equal(joule_window_begin(ctx, "dup", 0), JOULE_EEXIST);
    assert_non_null(strstr(joule_last_error(), "'dup'"));
    assert_int_equal(joule_window_end(ctx, "nope", 0, NULL), JOULE_ENOENT);
    assert_non_null(strstr(joule_last_error(), "'nope'"));
    assert_int_equal(joule_window_cancel(ctx, "dup"), 0);

    char *after = ts_read(f->log);
    assert_string_equal(after, before);
    assert_int_equal(count_lines(after), 2);
    free(before);
    free(after);
    joule_close(ctx);
}

/* A device error gives "nan" in CSV and null + error in JSONL; the other
 * columns still hold values. */
static void test_device_error_rows(void **state)
{
    struct fixture *f = *state;
    char jpath[1100];
    snprintf(jpath, sizeof jpath, "%s/err.jsonl", f->dir);
    for (int fmt = 0; fmt < 2; fmt++) {
        joule_ctx *ctx = NULL;
        const char *path = fmt ? jpath : f->log;
        if (open_log(f, "sim:2:h100+cpu", path, fmt ? JOULE_LOG_JSONL : JOULE_LOG_CSV, &ctx))
            fail_msg("open: %s", joule_last_error());
        assert_int_equal(joule_window_begin(ctx, "broken", 0), 0);
        assert_int_equal(ts_write(f->dir, "class/powercap/intel-rapl:0/energy_uj", "abc\n"), 0);
        f->dram += 777;
        assert_int_equal(ts_rapl_set(f->dir, "intel-rapl:0:0", f->dram), 0);
        ts_sleep_ms(2);
        assert_int_equal(joule_window_end(ctx, "broken", 0, NULL), 0);
        char *text = ts_read(path);
        char line[4096];
        if (fmt == 0) {
            line_at(text, 1, line, sizeof line);
            char *fields[16];
            assert_int_equal(split(line, fields, 16), 11);
            assert_string_equal(fields[5], "nan");
            assert_string_equal(fields[6], "0.000777");
            assert_string_equal(fields[9], "nan"); /* no uncertainty either */
        } else {
            line_at(text, 0, line, sizeof line);
            cJSON *o = cJSON_Parse(line);
            assert_non_null(o);
            cJSON *c0 = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(o, "devices"), "cpu0");
            assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c0, "energy_j")));
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(c0, "quality")->valuestring,
                                "error");
            assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(c0, "error")->valuestring,
                                   "intel-rapl:0/energy_uj"));
            cJSON *d0 = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(o, "devices"), "dram0");
            assert_true(fabs(cJSON_GetObjectItemCaseSensitive(d0, "energy_j")->valuedouble -
                             777e-6) < 1e-12);
            cJSON_Delete(o);
        }
        free(text);
        joule_close(ctx);
        assert_int_equal(ts_rapl_set(f->dir, "intel-rapl:0", f->pkg), 0);
    }
}

int main(void)
{
    setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    setenv("JOULE_ROCM_SMI_LIBRARY", "/nonexistent/librocm_smi64.so", 1);
    unsetenv("JOULE_DEVICES");
    unsetenv("JOULE_SIM_LOAD");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zeus_log_continued_as_is, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_header_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_after_unterminated_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_leave_log_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_error_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
