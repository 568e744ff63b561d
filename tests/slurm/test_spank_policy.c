/* The SPANK plugin's parts that need no Slurm: option and plugstack.conf
 * parsing, report paths, the report itself (on simulated GPUs), written
 * as root and through the as-the-user child, and the job's record for
 * the epilog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <joule/joule.h>

#include "spank_policy.h"
#include "spank_report.h"
#include "spank_state.h"
#include "test_support.h"

static void test_watts(void **state)
{
    (void)state;
    char err[256];
    double w = 0;
    assert_int_equal(sj_parse_watts("300", &w, err, sizeof err), 0);
    assert_true(w == 300);
    assert_int_equal(sj_parse_watts("250.5W", &w, err, sizeof err), 0);
    assert_true(w == 250.5);
    const char *bad[] = {"", "abc", "-5", "0", "300x", "nan", "inf", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sj_parse_watts(bad[i], &w, err, sizeof err), -1);
        assert_non_null(strstr(err, "is not a number of watts"));
    }
}

static void test_clocks(void **state)
{
    (void)state;
    char err[256];
    int lo = 0, hi = 0;
    assert_int_equal(sj_parse_clocks("1000,1500", &lo, &hi, err, sizeof err), 0);
    assert_int_equal(lo, 1000);
    assert_int_equal(hi, 1500);
    const char *bad[] = {"fast", "1000", "1000,", ",1500", "1000,15x0", "-1,5", "0,100", "1000 ,1500"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sj_parse_clocks(bad[i], &lo, &hi, err, sizeof err), -1);
        assert_non_null(strstr(err, "are not MIN,MAX in MHz"));
    }
    assert_int_equal(sj_parse_clocks("1500,1000", &lo, &hi, err, sizeof err), -1);
    assert_string_equal(err, "GPU clocks '1500,1000': MIN 1500 MHz is above MAX 1000 MHz");
}

static void test_site_args(void **state)
{
    (void)state;
    char err[512];
    struct sj_site site;
    memset(&site, 0, sizeof site);
    assert_int_equal(sj_parse_site_arg(&site, "default_power_limit=300", err, sizeof err), 0);
    assert_int_equal(sj_parse_site_arg(&site, "default_gpu_clocks=900,1400", err, sizeof err), 0);
    assert_int_equal(sj_parse_site_arg(&site, "report_dir=/var/log/joule", err, sizeof err), 0);
    assert_int_equal(sj_parse_site_arg(&site, "env=JOULE_NVML_LIBRARY=/x/y.so", err, sizeof err), 0);
    assert_true(site.dflt.power_limit_w == 300);
    assert_int_equal(site.dflt.clock_max_mhz, 1400);
    assert_string_equal(site.report_dir, "/var/log/joule");
    assert_int_equal(site.nenv, 1);
    assert_string_equal(site.env[0], "JOULE_NVML_LIBRARY=/x/y.so");

    assert_int_equal(sj_parse_site_arg(&site, "default_power_limt=300", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown plugstack.conf argument 'default_power_limt=300'"));
    assert_int_equal(sj_parse_site_arg(&site, "default_power_limit=lots", err, sizeof err), -1);
    assert_int_equal(sj_parse_site_arg(&site, "env=NOVALUE", err, sizeof err), -1);
    assert_int_equal(sj_parse_site_arg(&site, "env==x", err, sizeof err), -1);
    assert_int_equal(sj_parse_site_arg(&site, "report_dir=", err, sizeof err), -1);

    /* The step's options win over the site's defaults. */
    struct sj_policy user = {.power_limit_w = 0}, eff;
    sj_effective(&site, &user, &eff);
    assert_true(eff.power_limit_w == 300);
    assert_int_equal(eff.clock_min_mhz, 900);
    assert_string_equal(eff.report, "/var/log/joule/%j/%n.step%s.json");
    user.power_limit_w = 250;
    user.clock_min_mhz = 1000;
    user.clock_max_mhz = 1100;
    snprintf(user.report, sizeof user.report, "/home/u/e.json");
    sj_effective(&site, &user, &eff);
    assert_true(eff.power_limit_w == 250);
    assert_int_equal(eff.clock_min_mhz, 1000);
    assert_int_equal(eff.clock_max_mhz, 1100);
    assert_string_equal(eff.report, "/home/u/e.json");
}

static void test_expand(void **state)
{
    (void)state;
    char out[64], err[256];
    assert_int_equal(sj_expand_path("/r/%j/%n-%s.json", "42", "batch", "gpu07", out, sizeof out,
                                    err, sizeof err), 0);
    assert_string_equal(out, "/r/42/gpu07-batch.json");
    assert_int_equal(sj_expand_path("100%%-%j", "7", "0", "n", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "100%-7");
    assert_int_equal(sj_expand_path("/r/%x", "1", "0", "n", out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown '%x'"));
    assert_int_equal(sj_expand_path("/r/%", "1", "0", "n", out, sizeof out, err, sizeof err), -1);
    assert_int_equal(sj_expand_path("%n%n%n%n%n%n%n%n", "1", "0", "0123456789", out, sizeof out,
                                    err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
}

/* The report of two simulated GPUs, written by root and by the child,
 * reads back as joule report's node format. */
static void test_report(void **state)
{
    (void)state;
    setenv("JOULE_SIM_LOAD", "0.5", 1);
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, "sim:2:h100"), 0);
    assert_int_equal(joule_open(o, &ctx), 0);
    joule_options_destroy(o);
    assert_int_equal(joule_window_begin(ctx, "slurm step", 0), 0);
    ts_sleep_ms(100);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "slurm step", 0, &r), 0);
    int use[2] = {0, 1}; /* the step has gpu1 only */
    struct sj_step_info info = {.node = "n1", .job = "42", .step = "0", .begin_unix_s = 100,
                                .end_unix_s = 101, .exit_status = 143, .power_limit_w = 300};
    char *text = sj_report_json(ctx, r, use, &info);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    assert_int_equal(cJSON_GetObjectItem(root, "joule_job_report")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(root, "node")->valuestring, "n1");
    assert_int_equal(cJSON_GetObjectItem(root, "exit_status")->valueint, 143);
    assert_true(cJSON_GetObjectItem(root, "power_limit_w")->valuedouble == 300);
    assert_null(cJSON_GetObjectItem(root, "gpu_clock_min_mhz"));
    cJSON *devs = cJSON_GetObjectItem(root, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 1);
    cJSON *d = cJSON_GetArrayItem(devs, 0);
    assert_string_equal(cJSON_GetObjectItem(d, "label")->valuestring, "gpu1");
    double e = cJSON_GetObjectItem(d, "energy_j")->valuedouble;
    double want = joule_result_energy_j(r, 1, NULL, NULL);
    /* cJSON prints 15 significant digits where they read back within
     * its own tolerance. */
    assert_true(e > 0 && fabs(e - want) <= 1e-9 * want);
    cJSON_Delete(root);

    char *dir = ts_mkdtemp(), path[600], err[700];
    snprintf(path, sizeof path, "%s/a/b/root.json", dir);
    assert_int_equal(sj_write_report(path, text, 0, 0, 0, err, sizeof err), 0);
    char *back = ts_read(path);
    assert_string_equal(back, text);
    free(back);
    snprintf(path, sizeof path, "%s/c/user.json", dir);
    assert_int_equal(sj_write_report(path, text, 1, getuid(), getgid(), err, sizeof err), 0);
    back = ts_read(path);
    assert_string_equal(back, text);
    free(back);
    assert_int_equal(sj_write_report("/proc/joule-no/x.json", text, 1, getuid(), getgid(), err,
                                     sizeof err), -1);
    assert_non_null(strstr(err, "cannot write the energy report '/proc/joule-no/x.json' as the job's user"));

    ts_rmtree(dir);
    free(dir);
    free(text);
    joule_result_free(r);
    joule_close(ctx);
    unsetenv("JOULE_SIM_LOAD");
}

/* The job's record for the epilog: steps merge into it, and a GPU keeps
 * the original of the job's first change. */
static void test_state(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), sub[600], err[700];
    snprintf(sub, sizeof sub, "%s/run/joule/spank", dir);
    struct sj_saved_gpu got[SJ_STATE_MAX_GPUS];
    assert_int_equal(sj_state_load(sub, "7", got, SJ_STATE_MAX_GPUS, err, sizeof err), 0);

    /* The batch step changes gpu A's limit (700 W before) and locks B. */
    struct sj_saved_gpu first[2] = {{.uuid = "GPU-A", .power_limit_w = 700},
                                    {.uuid = "GPU-B", .clocks_locked = 1}};
    assert_int_equal(sj_state_record(sub, "7", first, 2, err, sizeof err), 0);
    /* A nested step sees the job's own 350 W on A, sets B's limit
     * (then 650 W) and adds C. */
    struct sj_saved_gpu second[3] = {{.uuid = "GPU-A", .power_limit_w = 350},
                                     {.uuid = "GPU-B", .power_limit_w = 650},
                                     {.uuid = "GPU-C", .power_limit_w = 500, .clocks_locked = 1}};
    assert_int_equal(sj_state_record(sub, "7", second, 3, err, sizeof err), 0);
    assert_int_equal(sj_state_load(sub, "7", got, SJ_STATE_MAX_GPUS, err, sizeof err), 3);
    assert_string_equal(got[0].uuid, "GPU-A");
    assert_true(got[0].power_limit_w == 700);
    assert_int_equal(got[0].clocks_locked, 0);
    assert_true(got[1].power_limit_w == 650);
    assert_int_equal(got[1].clocks_locked, 1);
    assert_string_equal(got[2].uuid, "GPU-C");
    assert_int_equal(got[2].clocks_locked, 1);
    /* Another job's record is its own. */
    assert_int_equal(sj_state_load(sub, "8", got, SJ_STATE_MAX_GPUS, err, sizeof err), 0);
    /* Fewer slots than GPUs: the first ones. */
    assert_int_equal(sj_state_load(sub, "7", got, 1, err, sizeof err), 1);

    sj_state_remove(sub, "7");
    assert_int_equal(sj_state_load(sub, "7", got, SJ_STATE_MAX_GPUS, err, sizeof err), 0);

    /* A damaged record is an error that names the file. */
    assert_int_equal(ts_write(sub, "job-9.json", "{\"gpus\": 3"), 0);
    assert_int_equal(sj_state_load(sub, "9", got, SJ_STATE_MAX_GPUS, err, sizeof err), -1);
    assert_non_null(strstr(err, "job-9.json is not a joule job record"));
    /* A folder that cannot be made. */
    assert_int_equal(sj_state_record("/proc/joule-no/spank", "7", first, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create /proc/joule-no"));

    struct sj_site site;
    memset(&site, 0, sizeof site);
    assert_int_equal(sj_parse_site_arg(&site, "state_dir=/var/run/js", err, sizeof err), 0);
    assert_string_equal(site.state_dir, "/var/run/js");
    assert_int_equal(sj_parse_site_arg(&site, "state_dir=", err, sizeof err), -1);

    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watts),   cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_site_args), cmocka_unit_test(test_expand),
        cmocka_unit_test(test_report),  cmocka_unit_test(test_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
