/* `joule gpu limit|clocks|persistence` end to end: the CLI binary against
 * the NVML double (settings persist across processes through the double's
 * state file) and against simulated GPUs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes/fake_harness.h"

static int run_cli(const struct fh *h, char **out, char **err, char **argv);

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
    return run_cli(h, out, err, argv);
}

/* Runs `joule ARGS...` (any command) with the double's environment. */
static int joule_any(const struct fh *h, char **out, char **err, ...)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 15 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_cli(h, out, err, argv);
}

static int run_cli(const struct fh *h, char **out, char **err, char **argv)
{
    static char cfg[600], lib[600];
    int rocm = h->kind == FH_ROCM;
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_%s_CONFIG=%s", rocm ? "ROCM" : "NVML", h->cfg);
    snprintf(lib, sizeof lib, "JOULE_%s_LIBRARY=%s", rocm ? "ROCM_SMI" : "NVML", h->lib);
    char *env[] = {cfg, lib,
                   rocm ? (char *)"JOULE_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"
                        : (char *)"JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so",
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
    /* The hint points at jouled as it exists now, not a later version. */
    assert_non_null(strstr(err, "start jouled as root"));
    assert_non_null(strstr(err, "scope.control = user:"));
    assert_non_null(strstr(err, "/etc/joule/jouled.conf"));
    assert_null(strstr(err, "later version"));
    assert_string_equal(out, "");
    assert_true(fh_state(&h, 0, "pl_w") != 300);
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
        {"limit", "--gpus", "9", NULL},
        {"clocks", "--gpus", "9", "--reset", NULL},
        {"persistence", "on", "off", NULL},
        {"persistence", "on", "--reset", NULL},
        {"limit", "on", NULL},
        {"limit", "--list", NULL},
        {"clocks", "--list", "--reset", NULL},
        {"limit", "--json", "--watts", "300", NULL},
        {"persistence", "--json", "on", NULL},
        {"clocks", "--lock", "900", "--json", NULL},
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
    /* A GPU that does not exist is bad usage (2), like any bad --gpus. */
    assert_int_equal(joule(&h, &out, &err, "limit", "--gpus", "5", "--watts", "300", NULL), 2);
    assert_non_null(strstr(err, "gpu5 not found"));
    assert_non_null(strstr(err, "2 GPUs present: gpu0, gpu1"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "on", "--gpus", "0,9", NULL), 2);
    assert_non_null(strstr(err, "gpu9 not found"));
    assert_string_equal(out, "");
    assert_true(fh_state(&h, 0, "persistence") != 1); /* nothing was changed */
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

static cJSON *parse_json(const char *text)
{
    cJSON *o = cJSON_Parse(text);
    if (!o)
        fail_msg("not JSON: %s", text ? text : "(null)");
    return o;
}

static cJSON *gpu_entry(const cJSON *root, int i)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "gpus");
    assert_true(cJSON_IsArray(arr));
    cJSON *o = cJSON_GetArrayItem(arr, i);
    assert_non_null(o);
    return o;
}

static double num(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", key);
    return v->valuedouble;
}

static int is_true(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsBool(v))
        fail_msg("'%s' is not a boolean", key);
    return cJSON_IsTrue(v);
}

/* Counts occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The on/off word and the options come in any order; with no word the
 * current mode is shown, as text or JSON. */
static void test_persistence_any_order_and_show(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(1));
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "persistence", "on", "--gpus", "0", NULL), 0);
    assert_non_null(strstr(out, "gpu0 (NVIDIA H100 80GB HBM3 (simulated)): persistence mode on\n"));
    assert_null(strstr(out, "gpu1"));
    assert_null(strstr(out, "simulated GPU:")); /* the double's settings persist */
    free(out);
    free(err);
    assert_true(fh_state(&h, 0, "persistence") == 1);
    assert_true(fh_state(&h, 1, "persistence") == 0);

    assert_int_equal(joule(&h, &out, &err, "persistence", "--gpus", "1", "on", NULL), 0);
    free(out);
    free(err);
    assert_true(fh_state(&h, 1, "persistence") == 1);
    assert_int_equal(joule(&h, &out, &err, "persistence", "--gpus=0", "off", NULL), 0);
    free(out);
    free(err);
    assert_true(fh_state(&h, 0, "persistence") == 0);
    assert_int_equal(joule(&h, &out, &err, "persistence", "--gpus", "0", "--", "on", NULL), 0);
    free(out);
    free(err);
    assert_true(fh_state(&h, 0, "persistence") == 1);
    assert_int_equal(joule(&h, &out, &err, "persistence", "off", "--gpus", "0", NULL), 0);
    free(out);
    free(err);

    /* Show: gpu0 off, gpu1 on. */
    assert_int_equal(joule(&h, &out, &err, "persistence", NULL), 0);
    assert_string_equal(out,
                        "gpu0 (NVIDIA H100 80GB HBM3 (simulated)): persistence mode off\n"
                        "gpu1 (NVIDIA A100-SXM4-40GB (simulated)): persistence mode on\n");
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "--json", "--gpus", "1", NULL), 0);
    cJSON *o = parse_json(out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "gpus")), 1);
    cJSON *g = gpu_entry(o, 0);
    assert_true(num(g, "index") == 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "label")->valuestring, "gpu1");
    assert_true(is_true(g, "persistence"));
    cJSON_Delete(o);
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "--json", NULL), 0);
    o = parse_json(out);
    assert_false(is_true(gpu_entry(o, 0), "persistence"));
    assert_true(is_true(gpu_entry(o, 1), "persistence"));
    cJSON_Delete(o);
    free(out);
    free(err);
    /* Short forms, like joule info: -d SPEC, -j. */
    assert_int_equal(joule(&h, &out, &err, "persistence", "-j", "-d", "sim:1:h100", NULL), 0);
    o = parse_json(out);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(gpu_entry(o, 0), "backend")->valuestring,
                        "sim");
    assert_false(is_true(gpu_entry(o, 0), "persistence"));
    cJSON_Delete(o);
    free(out);
    free(err);
    /* Showing changes nothing. */
    assert_true(fh_state(&h, 0, "persistence") == 0);
    assert_true(fh_state(&h, 1, "persistence") == 1);
    fh_finish(&h);
}

/* --list prints every supported SM clock, descending, wrapped; --json has
 * the same list and the current clocks. */
static void test_clocks_list_and_json(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(1));
    /* What the library reports, to compare with. */
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    int want[2][512], nwant[2], sm[2], mem[2];
    for (int g = 0; g < 2; g++) {
        nwant[g] = joule_gpu_supported_clocks_mhz(ctx, g, want[g], 512);
        assert_true(nwant[g] > 10 && nwant[g] <= 512);
        assert_int_equal(joule_gpu_clocks_mhz(ctx, g, &sm[g], &mem[g]), 0);
    }
    joule_close(ctx);
    /* The H100 preset: 345-1980 MHz in 15 MHz steps. */
    assert_int_equal(nwant[0], 110);
    assert_int_equal(want[0][0], 1980);
    assert_int_equal(want[0][109], 345);

    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "clocks", "--gpus", "0", "--list", NULL), 0);
    const char *head = "gpu0 (NVIDIA H100 80GB HBM3 (simulated)): SM 345 MHz, memory 2619 MHz; "
                       "supported SM clocks 345-1980 MHz (110 steps)\n"
                       "  supported SM clocks (MHz):\n";
    assert_memory_equal(out, head, strlen(head));
    /* The rest: indented lines of "MHz," entries, each at most 78 columns. */
    int got[600], ngot = 0, lines = 0, prev_len = 0;
    for (const char *p = out + strlen(head); *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(nl - p <= 78);
        /* Filled greedily: the previous line had no room for this line's
         * first entry (" 1234,"). */
        if (lines > 0) {
            int first = (int)strcspn(p + 4, ",\n") + 1;
            assert_true(prev_len + 1 + first > 78);
        }
        prev_len = (int)(nl - p);
        assert_true(nl - p > 4);
        assert_memory_equal(p, "    ", 4);
        lines++;
        for (const char *q = p + 4; q < nl;) {
            char *end;
            long v = strtol(q, &end, 10);
            assert_true(end > q);
            assert_true(ngot < 600);
            got[ngot++] = (int)v;
            q = end;
            if (q < nl) {
                assert_int_equal(*q, ',');
                q++;
            }
            if (q < nl) {
                assert_int_equal(*q, ' ');
                q++;
            }
        }
        /* Every line but the last ends with a comma. */
        if (nl[1])
            assert_int_equal(nl[-1], ',');
        else
            assert_true(nl[-1] != ',');
        p = nl + 1;
    }
    assert_int_equal(ngot, nwant[0]);
    for (int i = 0; i < ngot; i++)
        assert_int_equal(got[i], want[0][i]);
    /* 66 four-digit entries at 12 a line, then 44 three-digit ones at 14. */
    assert_int_equal(lines, 9);
    free(out);
    free(err);
    /* Without --list: the summary only. */
    assert_int_equal(joule(&h, &out, &err, "clocks", "--gpus", "0", NULL), 0);
    assert_int_equal(count(out, "\n"), 1);
    free(out);
    free(err);
    /* --list is per GPU. */
    assert_int_equal(joule(&h, &out, &err, "clocks", "--list", NULL), 0);
    assert_int_equal(count(out, "supported SM clocks (MHz):"), 2);
    assert_non_null(strstr(out, "    1410, 1395,")); /* the A100's top clocks */
    free(out);
    free(err);

    assert_int_equal(joule(&h, &out, &err, "clocks", "--json", NULL), 0);
    cJSON *o = parse_json(out);
    for (int g = 0; g < 2; g++) {
        cJSON *e = gpu_entry(o, g);
        assert_true(num(e, "index") == g);
        assert_true(num(e, "sm_clock_mhz") == sm[g]);
        assert_true(num(e, "memory_clock_mhz") == mem[g]);
        assert_true(num(e, "supported_sm_clock_max_mhz") == want[g][0]);
        assert_true(num(e, "supported_sm_clock_min_mhz") == want[g][nwant[g] - 1]);
        cJSON *list = cJSON_GetObjectItemCaseSensitive(e, "supported_sm_clocks_mhz");
        assert_int_equal(cJSON_GetArraySize(list), nwant[g]);
        for (int i = 0; i < nwant[g]; i++)
            assert_true(cJSON_GetArrayItem(list, i)->valuedouble == want[g][i]);
    }
    assert_true(sm[0] == 345 && mem[0] == 2619); /* idle H100 */
    cJSON_Delete(o);
    free(out);
    free(err);
    fh_finish(&h);
}

static void test_limit_json(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(1));
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "limit", "--watts", "250", "--gpus", "1", NULL), 0);
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "limit", "--json", NULL), 0);
    cJSON *o = parse_json(out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "gpus")), 2);
    static const double want[2][5] = {{700, 200, 700, 700, 700}, {250, 100, 400, 400, 250}};
    static const char *const keys[5] = {"power_limit_w", "min_w", "max_w", "default_w",
                                        "enforced_w"};
    for (int g = 0; g < 2; g++) {
        cJSON *e = gpu_entry(o, g);
        char label[8];
        snprintf(label, sizeof label, "gpu%d", g);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "label")->valuestring, label);
        assert_true(num(e, "index") == g);
        assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring,
                               g ? "A100" : "H100"));
        for (int k = 0; k < 5; k++)
            if (num(e, keys[k]) != want[g][k])
                fail_msg("gpu%d %s: %g, expected %g", g, keys[k], num(e, keys[k]), want[g][k]);
    }
    cJSON_Delete(o);
    free(out);
    free(err);
    fh_finish(&h);
}

/* Without --gpus, a change skips GPUs that cannot make it (a pre-Volta
 * P100 cannot lock clocks); naming one is an error. */
static void test_clocks_skip_pre_volta(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"privileged\": true, \"state\": \"@STATE@\", \"record\": \"@REC@\", "
             "\"gpus\": [{\"model\": \"h100\"}, {\"model\": \"p100\"}]}");
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "clocks", "--lock", "1200", NULL), 0);
    assert_non_null(strstr(out, "gpu0 (NVIDIA H100 80GB HBM3 (simulated)): SM clocks locked to "
                                "1200-1200 MHz\n"));
    assert_non_null(strstr(out, "gpu1: skipped (cannot lock clocks)\n"));
    free(out);
    free(err);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 1200);
    assert_int_equal(fh_calls(&h, "nvmlDeviceSetGpuLockedClocks gpu=1"), 0);

    fh_clear_calls(&h);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--reset", NULL), 0);
    assert_non_null(strstr(out, "gpu0 (NVIDIA H100 80GB HBM3 (simulated)): SM clocks unlocked\n"));
    assert_non_null(strstr(out, "gpu1: skipped (cannot lock clocks)\n"));
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 0);
    assert_int_equal(fh_calls(&h, "nvmlDeviceResetGpuLockedClocks gpu=0 -> 0"), 1);
    assert_int_equal(fh_calls(&h, "nvmlDeviceResetGpuLockedClocks gpu=1"), 0);
    /* "all" names no GPU in particular: same as leaving --gpus out. */
    assert_int_equal(joule(&h, &out, &err, "clocks", "--reset", "--gpus", "all", NULL), 0);
    assert_non_null(strstr(out, "gpu1: skipped (cannot lock clocks)"));
    free(out);
    free(err);

    /* Named explicitly: an error. */
    assert_int_equal(joule(&h, &out, &err, "clocks", "--reset", "--gpus", "1", NULL), 1);
    assert_null(strstr(out, "skipped"));
    assert_true(strlen(err) > 0);
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--lock", "1000", "--gpus", "0,1", NULL), 1);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 1000); /* gpu0 still done */
    free(out);
    free(err);
    fh_finish(&h);

    /* Only GPUs that cannot lock: --reset has nothing to do (0), --lock
     * could not do what was asked (1). */
    fh_start(&h, FH_NVML, "{\"privileged\": true, \"state\": \"@STATE@\", "
                          "\"gpus\": [{\"model\": \"p100\"}]}");
    assert_int_equal(joule(&h, &out, &err, "clocks", "--reset", NULL), 0);
    assert_string_equal(out, "gpu0: skipped (cannot lock clocks)\n");
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--lock", "1000", NULL), 1);
    assert_non_null(strstr(err, "no GPU can lock clocks"));
    free(out);
    free(err);
    fh_finish(&h);
}

/* Simulated GPUs lose their settings when the command exits: it says so. */
static void test_sim_settings_do_not_persist(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, config(0));
    char *out, *err;
    static const char *note = "; simulated GPU: the setting is lost when this command exits\n";
    assert_int_equal(joule(&h, &out, &err, "limit", "--devices", "sim:2:h100", "--watts", "300",
                           NULL), 0);
    assert_int_equal(count(out, note), 2);
    assert_non_null(strstr(out, "gpu1 (NVIDIA H100 80GB HBM3 (simulated)): power limit 300.0 W "
                                "(was 700.0 W); simulated GPU"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "clocks", "--devices", "sim:1:h100", "--lock", "1200",
                           NULL), 0);
    assert_int_equal(count(out, note), 1);
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "--devices", "sim:1:h100", "on",
                           NULL), 0);
    assert_int_equal(count(out, note), 1);
    free(out);
    free(err);
    /* And indeed a new process sees the default again. */
    assert_int_equal(joule(&h, &out, &err, "limit", "--devices", "sim:1:h100", "--json", NULL), 0);
    cJSON *o = parse_json(out);
    assert_true(num(gpu_entry(o, 0), "power_limit_w") == 700);
    cJSON_Delete(o);
    free(out);
    free(err);
    /* Showing values is not a change: no note. */
    assert_int_equal(joule(&h, &out, &err, "limit", "--devices", "sim:1:h100", NULL), 0);
    assert_null(strstr(out, "simulated GPU:"));
    free(out);
    free(err);
    fh_finish(&h);
}

/* A GPU that cannot report a value is said so when values are shown (not
 * a failure); a change it cannot make is skipped unless named. ROCm SMI
 * has no persistence mode. */
static void test_show_unsupported(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_ROCM, "{\"privileged\": true, \"gpus\": [{\"model\": \"a100\"}]}");
    char *out, *err;
    assert_int_equal(joule(&h, &out, &err, "persistence", NULL), 0);
    assert_string_equal(out, "gpu0 (NVIDIA A100-SXM4-40GB (simulated), rocm_smi backend) cannot "
                             "report persistence mode\n");
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "--json", NULL), 0);
    cJSON *o = parse_json(out);
    cJSON *g = gpu_entry(o, 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "persistence")));
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(g, "unsupported")->valuestring,
                           "cannot report persistence mode"));
    assert_null(cJSON_GetObjectItemCaseSensitive(g, "error"));
    cJSON_Delete(o);
    free(out);
    free(err);
    /* The power limit it does have. */
    assert_int_equal(joule(&h, &out, &err, "limit", "--json", NULL), 0);
    o = parse_json(out);
    assert_true(num(gpu_entry(o, 0), "max_w") == 400);
    cJSON_Delete(o);
    free(out);
    free(err);
    /* A change: every GPU skipped is a failure to do what was asked. */
    assert_int_equal(joule(&h, &out, &err, "persistence", "on", NULL), 1);
    assert_string_equal(out, "gpu0: skipped (has no persistence mode)\n");
    assert_non_null(strstr(err, "no GPU has a persistence mode"));
    free(out);
    free(err);
    assert_int_equal(joule(&h, &out, &err, "persistence", "on", "--gpus", "0", NULL), 1);
    assert_non_null(strstr(err, "cannot set persistence mode"));
    free(out);
    free(err);
    fh_finish(&h);
}

/* joule info shows the identity the backend read: PCI bus id,
 * architecture and power scope. */
static void test_info_identity(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"gpus\": [{\"model\": \"h100\", \"pci_bus_id\": \"00000000:3B:00.0\"},"
             " {\"model\": \"h100\", \"power_scope\": \"module\"},"
             " {\"model\": \"p100\"}]}");
    char *out, *err;
    assert_int_equal(joule_any(&h, &out, &err, "info", "--devices", "gpu", NULL), 0);
    assert_non_null(strstr(out, "          pci 00000000:3B:00.0, arch Hopper, power scope gpu\n"));
    assert_non_null(strstr(out, "          pci 00000000:11:00.0, arch Hopper, power scope "
                                "module (GPU + CPU)\n"));
    assert_non_null(strstr(out, "          pci 00000000:12:00.0, arch Pascal, power scope gpu\n"));
    free(out);
    free(err);
    assert_int_equal(joule_any(&h, &out, &err, "info", "--json", "--devices", "gpu", NULL), 0);
    cJSON *o = parse_json(out);
    cJSON *devs = cJSON_GetObjectItemCaseSensitive(o, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 3);
    static const char *const pci[3] = {"00000000:3B:00.0", "00000000:11:00.0",
                                       "00000000:12:00.0"};
    static const char *const arch[3] = {"Hopper", "Hopper", "Pascal"};
    static const char *const scope[3] = {"gpu", "module", "gpu"};
    for (int i = 0; i < 3; i++) {
        cJSON *d = cJSON_GetArrayItem(devs, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "pci_bus_id")->valuestring,
                            pci[i]);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "arch")->valuestring, arch[i]);
        cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "power_scope");
        assert_true(cJSON_IsString(s));
        assert_string_equal(s->valuestring, scope[i]);
    }
    cJSON_Delete(o);
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
        cmocka_unit_test(test_persistence_any_order_and_show),
        cmocka_unit_test(test_clocks_list_and_json),
        cmocka_unit_test(test_limit_json),
        cmocka_unit_test(test_clocks_skip_pre_volta),
        cmocka_unit_test(test_sim_settings_do_not_persist),
        cmocka_unit_test(test_show_unsupported),
        cmocka_unit_test(test_info_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
