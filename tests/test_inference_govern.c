/* joule govern (include/joule/inference.h, src/inference/govern.c):
 *  - the decision on a constructed profile: steps down when the load
 *    falls (after the hysteresis), up at once when it rises, one step up
 *    at once when the observed p90 breaks the SLO, then holds;
 *  - Prometheus histograms and the interval p90;
 *  - profiles read from joule bench serve's JSON, bad ones named;
 *  - the loop against the stand-in on a simulated H100: the load read
 *    from its metrics, the clock locked low when idle, up under traffic,
 *    restored; the period's energy and tokens;
 *  - `joule govern` through the NVML double: locks, and restores on
 *    SIGTERM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <joule/inference.h>

#include "fakes/fake_harness.h"
#include "standin_server.h"

/* Clocks 990/1500/1980 at loads 4 and 16: at 4 every clock meets ITL p90
 * <= 50 ms and 990 costs least; at 16 only 1500 and 1980 do. */
static joule_govern_profile *profile(void)
{
    joule_govern_profile *p = NULL;
    assert_int_equal(joule_govern_profile_create(&p), 0);
    const struct {
        double load;
        int clk;
        double itl, ttft, ept;
    } e[] = {
        {4, 990, 0.030, 0.2, 0.10},  {4, 1500, 0.022, 0.15, 0.14},  {4, 1980, 0.018, 0.1, 0.20},
        {16, 990, 0.060, 0.5, 0.05}, {16, 1500, 0.040, 0.3, 0.07}, {16, 1980, 0.030, 0.2, 0.10},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        assert_int_equal(joule_govern_profile_add(p, e[i].load, e[i].clk, e[i].itl, e[i].ttft,
                                                  e[i].ept), 0);
    assert_int_equal(joule_govern_profile_count(p), 6);
    return p;
}

static void expect(joule_governor *g, double load, double itl, int want_clk, int want_reason)
{
    int reason = -1;
    int clk = joule_governor_step(g, load, itl, NAN, &reason);
    if (clk != want_clk || reason != want_reason)
        fail_msg("load %g, ITL %g: %d MHz (%s), want %d MHz (%s)", load, itl, clk,
                 joule_govern_reason_name(reason), want_clk,
                 joule_govern_reason_name(want_reason));
}

static void test_decisions(void **state)
{
    (void)state;
    joule_govern_profile *p = profile();
    joule_govern_options o;
    joule_govern_options_default(&o);
    joule_governor *g = NULL;
    assert_int_equal(joule_governor_create(p, &o, &g), JOULE_EINVAL); /* no SLO */
    o.itl_slo_s = 0.05;
    assert_int_equal(joule_governor_create(p, &o, &g), 0);
    /* 1500's 40 ms is within 0.9 x 50 ms; 990's 60 ms is not */
    expect(g, 12, NAN, 1500, JOULE_GOVERN_START);
    expect(g, 16, 0.03, 1500, JOULE_GOVERN_KEEP);
    /* load falls: down after two intervals (hysteresis) */
    expect(g, 3, 0.02, 1500, JOULE_GOVERN_HOLD);
    expect(g, 3, 0.02, 990, JOULE_GOVERN_DOWN);
    /* load rises: up at once */
    expect(g, 10, 0.02, 1500, JOULE_GOVERN_UP);
    /* above every profiled level: the highest level's choice */
    expect(g, 40, 0.03, 1500, JOULE_GOVERN_KEEP);
    /* the SLO broke: one step up at once, then held three intervals */
    expect(g, 16, 0.055, 1980, JOULE_GOVERN_FEEDBACK);
    expect(g, 16, 0.03, 1980, JOULE_GOVERN_HOLD);
    expect(g, 16, 0.03, 1980, JOULE_GOVERN_HOLD);
    expect(g, 16, 0.03, 1980, JOULE_GOVERN_HOLD);
    expect(g, 16, 0.03, 1980, JOULE_GOVERN_HOLD);
    expect(g, 16, 0.03, 1500, JOULE_GOVERN_DOWN);
    /* a blip of low load does not move it */
    expect(g, 2, 0.03, 1500, JOULE_GOVERN_HOLD);
    expect(g, 16, 0.03, 1500, JOULE_GOVERN_KEEP);
    /* unknown load keeps the clock */
    expect(g, NAN, NAN, 1500, JOULE_GOVERN_KEEP);
    /* at the top, a violation stays at the top */
    expect(g, 16, 0.07, 1980, JOULE_GOVERN_FEEDBACK);
    expect(g, 16, 0.07, 1980, JOULE_GOVERN_FEEDBACK);
    joule_governor_destroy(g);

    /* An SLO nothing meets: the top clock. */
    o.itl_slo_s = 0.01;
    assert_int_equal(joule_governor_create(p, &o, &g), 0);
    expect(g, 4, NAN, 1980, JOULE_GOVERN_START);
    joule_governor_destroy(g);
    /* A TTFT SLO alone. */
    o.itl_slo_s = 0;
    o.ttft_slo_s = 0.25;
    assert_int_equal(joule_governor_create(p, &o, &g), 0);
    expect(g, 16, NAN, 1980, JOULE_GOVERN_START); /* 0.2 <= 0.225; 0.3 is not */
    joule_governor_destroy(g);
    assert_int_equal(joule_govern_profile_add(p, 4, 0, 0.1, 0.1, 0.1), JOULE_EINVAL);
    assert_int_equal(joule_govern_profile_add(p, NAN, 990, 0.1, 0.1, 0.1), JOULE_EINVAL);
    joule_govern_profile_free(p);
}

static void test_histogram(void **state)
{
    (void)state;
    const char *a = "vllm:time_per_output_token_seconds_bucket{le=\"0.01\",model_name=\"m\"} 0\n"
                    "vllm:time_per_output_token_seconds_bucket{le=\"0.02\",model_name=\"m\"} 10\n"
                    "vllm:time_per_output_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 10\n"
                    "vllm:time_per_output_token_seconds_bucket{model_name=\"}\",le=\"0.04\"} 10\n";
    const char *b = "vllm:time_per_output_token_seconds_bucket{le=\"0.01\",model_name=\"m\"} 0\n"
                    "vllm:time_per_output_token_seconds_bucket{le=\"0.02\",model_name=\"m\"} 10\n"
                    "vllm:time_per_output_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 110\n"
                    "vllm:time_per_output_token_seconds_bucket{model_name=\"}\",le=\"0.04\"} 110\n";
    double le[8], ca[8], cb[8];
    assert_int_equal(joule_serve_parse_histogram(a, "vllm:time_per_output_token_seconds", le, ca,
                                                 8), 4);
    assert_int_equal(joule_serve_parse_histogram(b, "vllm:time_per_output_token_seconds", le, cb,
                                                 8), 4);
    assert_float_equal(le[2], 0.04, 0);
    assert_true(isinf(le[3]));
    /* between the scrapes: 100 observations, all in (0.02, 0.04] */
    assert_float_equal(joule_serve_histogram_quantile(le, ca, cb, 4, 0.9), 0.02 + 0.02 * 0.9,
                       1e-12);
    /* nothing new: unknown */
    assert_true(isnan(joule_serve_histogram_quantile(le, cb, cb, 4, 0.9)));
    /* since the start */
    assert_float_equal(joule_serve_histogram_quantile(le, NULL, ca, 4, 0.5), 0.015, 1e-12);
    assert_int_equal(joule_serve_parse_histogram(a, "vllm:other", le, ca, 8), 0);
}

static void test_profile_file(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    ts_write(dir, "p.json",
             "{\"knob\": \"sm_clock_mhz\", \"configurations\": ["
             "{\"sm_clock_mhz\": 1980, \"concurrency\": 8, \"valid\": true, "
             "\"energy_per_token_j\": 0.2, \"itl_s\": {\"p90\": 0.02}, \"ttft_s\": {\"p90\": 0.1}},"
             "{\"sm_clock_mhz\": 990, \"concurrency\": 8, \"valid\": false, "
             "\"energy_per_token_j\": 0.1, \"itl_s\": {\"p90\": 0.04}, \"ttft_s\": {\"p90\": 0.2}},"
             "{\"sm_clock_mhz\": 1500, \"concurrency\": 8, \"valid\": true, "
             "\"energy_per_token_j\": 0.15, \"itl_s\": {\"p90\": 0.03}, \"ttft_s\": {\"p90\": 0.15}}]}");
    ts_write(dir, "pl.json", "{\"knob\": \"power_limit_w\", \"configurations\": []}");
    ts_write(dir, "bad.json",
             "{\"knob\": \"sm_clock_mhz\", \"configurations\": [{\"sm_clock_mhz\": 1980}]}");
    ts_write(dir, "junk.json", "{not json");
    char path[512];
    joule_govern_profile *p = NULL;
    snprintf(path, sizeof path, "%s/p.json", dir);
    assert_int_equal(joule_govern_profile_load(path, &p), 0);
    assert_int_equal(joule_govern_profile_count(p), 2); /* the invalid one left out */
    joule_govern_options o;
    joule_govern_options_default(&o);
    o.itl_slo_s = 0.04;
    joule_governor *g = NULL;
    assert_int_equal(joule_governor_create(p, &o, &g), 0);
    int reason;
    assert_int_equal(joule_governor_step(g, 8, NAN, NAN, &reason), 1500);
    joule_governor_destroy(g);
    joule_govern_profile_free(p);
    const char *bad[] = {"pl.json", "bad.json", "junk.json", "none.json"};
    const char *want[] = {"not a clock profile", "configuration 1", "not JSON", "cannot open"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, bad[i]);
        assert_true(joule_govern_profile_load(path, &p) < 0);
        if (!strstr(joule_last_error(), want[i]) || !strstr(joule_last_error(), bad[i]))
            fail_msg("%s: '%s'", bad[i], joule_last_error());
    }
    ts_rmtree(dir);
    free(dir);
}

/* ---- the loop on a simulated GPU ------------------------------------------- */

struct loop {
    joule_ctx *ctx;
    joule_governor *g;
    const char *murl;
    volatile int stop;
    int rc;
    joule_govern_summary sum;
    int n, clocks[256], reasons[256];
    double loads[256];
    double est_gov, est_max; /* added up from the decisions, as a log reader does */
    int max_clock;
};

static void record(void *user, const joule_govern_decision *d)
{
    struct loop *l = user;
    if (l->n < 256) {
        l->clocks[l->n] = d->sm_clock_mhz;
        l->reasons[l->n] = d->reason;
        l->loads[l->n] = d->load;
        l->max_clock = d->max_sm_clock_mhz;
        if (!isnan(d->tokens) && d->tokens_clock_mhz && !isnan(d->energy_per_token_j) &&
            !isnan(d->max_clock_energy_per_token_j)) {
            l->est_gov += d->tokens * d->energy_per_token_j;
            l->est_max += d->tokens * d->max_clock_energy_per_token_j;
        }
        __atomic_store_n(&l->n, l->n + 1, __ATOMIC_RELEASE);
    }
}

static void *loop_thread(void *arg)
{
    struct loop *l = arg;
    l->rc = joule_govern_run(l->ctx, l->g, l->murl, NULL, 0, 0.1, &l->stop, record, l, &l->sum);
    return NULL;
}

static void test_loop_on_sim(void **state)
{
    (void)state;
    joule_options *o;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, "sim:1:h100"), 0);
    assert_int_equal(joule_open(o, &ctx), 0);
    joule_options_destroy(o);
    assert_int_equal(joule_sim_set_load(ctx, 0, 0.5), 0); /* an idle GPU shows its lowest clock */
    int mhz[512];
    int nclk = joule_gpu_supported_clocks_mhz(ctx, 0, mhz, 512);
    assert_true(nclk > 4);
    int top = mhz[0], low = mhz[nclk / 2];
    /* idle server (load 0): the low clock suffices */
    joule_govern_profile *p = NULL;
    assert_int_equal(joule_govern_profile_create(&p), 0);
    assert_int_equal(joule_govern_profile_add(p, 0, low, 0.02, 0.1, 0.1), 0);
    assert_int_equal(joule_govern_profile_add(p, 0, top, 0.01, 0.05, 0.2), 0);
    assert_int_equal(joule_govern_profile_add(p, 8, low, 0.08, 0.4, 0.05), 0);
    assert_int_equal(joule_govern_profile_add(p, 8, top, 0.03, 0.1, 0.08), 0);
    joule_govern_options go;
    joule_govern_options_default(&go);
    go.itl_slo_s = 0.05;
    struct loop l;
    memset(&l, 0, sizeof l);
    l.ctx = ctx;
    assert_int_equal(joule_governor_create(p, &go, &l.g), 0);
    joule_govern_profile_free(p);
    struct standin_options so = {.ctx = ctx, .gpu = 0, .ttft_s = 0.01, .itl_s = 0.01,
                                 .model = "m"};
    struct standin *srv = standin_start(&so);
    assert_non_null(srv);
    char murl[128];
    snprintf(murl, sizeof murl, "%s/metrics", standin_url(srv));
    l.murl = murl;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, loop_thread, &l), 0);
    for (int i = 0; i < 100 && __atomic_load_n(&l.n, __ATOMIC_ACQUIRE) < 4; i++)
        ts_sleep_ms(20);
    int sm = 0;
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &sm, NULL), 0);
    assert_int_equal(sm, low); /* locked: no requests running */
    /* Traffic: 4 requests in flight is load level 8, where only the top
     * clock meets the SLO: the governor steps up. */
    char *dir = ts_mkdtemp();
    char text[1024] = "";
    for (int i = 0; i < 8; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "{\"prompt\": \"p%d\", \"max_tokens\": 20}\n", i);
    ts_write(dir, "p.jsonl", text);
    char path[600];
    snprintf(path, sizeof path, "%s/p.jsonl", dir);
    joule_prompts *pr = NULL;
    assert_int_equal(joule_prompts_load(path, &pr), 0);
    joule_serve_options so2;
    joule_serve_options_default(&so2);
    so2.url = standin_url(srv);
    so2.model = "m";
    so2.concurrency = 4;
    so2.requests = 24;
    so2.min_steady_s = 0;
    so2.metrics_interval_s = 0;
    joule_serve_result *r = NULL;
    if (joule_serve_run(ctx, pr, &so2, &r))
        fail_msg("%s", joule_last_error());
    joule_serve_result_free(r);
    joule_prompts_free(pr);
    ts_rmtree(dir);
    free(dir);
    int up = 0;
    for (int i = 0; i < __atomic_load_n(&l.n, __ATOMIC_ACQUIRE); i++)
        up |= l.clocks[i] == top && l.reasons[i] == JOULE_GOVERN_UP;
    assert_true(up);
    ts_sleep_ms(250); /* a scrape after the last token */
    __atomic_store_n(&l.stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    assert_int_equal(l.rc, 0);
    assert_true(l.n >= 4);
    assert_int_equal(l.reasons[0], JOULE_GOVERN_START);
    assert_float_equal(l.loads[0], 0, 0);
    /* the load fell back to 0, but the last decision may still hold */
    assert_true(l.clocks[l.n - 1] == low || l.clocks[l.n - 1] == top);
    /* the period measured: the sim GPU at load 0.5, at the top clock until
     * the first lock, then at the low one */
    assert_true(l.sum.time_s > 0.3);
    double p_low = 70 + 0.5 * 630 * pow((double)low / top, 3), p_top = 70 + 0.5 * 630;
    double pw = l.sum.energy_j / l.sum.time_s;
    if (!(pw > 0.95 * p_low && pw < 1.05 * p_top))
        fail_msg("%g J over %g s: not between the sim's %g W at %d MHz and %g W at %d MHz",
                 l.sum.energy_j, l.sum.time_s, p_low, low, p_top, top);
    /* the served tokens, counted from the stand-in's metrics */
    if (!(l.sum.tokens > 0 && l.sum.tokens <= 24 * 20))
        fail_msg("%g tokens", l.sum.tokens);
    assert_float_equal(l.sum.energy_per_token_j, l.sum.energy_j / l.sum.tokens, 1e-12);
    assert_true(l.sum.est_max_clock_j > 0);
    assert_true(l.sum.est_saving >= 0 && l.sum.est_saving < 1);
    /* the decisions carry the whole estimate (joule analyze --govern-log) */
    assert_float_equal(l.est_gov, l.sum.est_governed_j, 1e-9);
    assert_float_equal(l.est_max, l.sum.est_max_clock_j, 1e-9);
    assert_int_equal(l.max_clock, top);
    /* restored at the end */
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &sm, NULL), 0);
    assert_int_equal(sm, top);
    standin_stop(srv);
    joule_governor_destroy(l.g);
    joule_close(ctx);
}

/* ---- the CLI and SIGTERM --------------------------------------------------- */

static void test_cli_sigterm_restores(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"privileged\": true, \"state\": \"@STATE@\", \"gpus\": [{\"model\": \"h100\"}]}");
    ts_write(h.dir, "p.json",
             "{\"knob\": \"sm_clock_mhz\", \"configurations\": ["
             "{\"sm_clock_mhz\": 1980, \"concurrency\": 4, \"valid\": true, "
             "\"energy_per_token_j\": 0.2, \"itl_s\": {\"p90\": 0.02}, \"ttft_s\": {\"p90\": 0.1}},"
             "{\"sm_clock_mhz\": 990, \"concurrency\": 4, \"valid\": true, "
             "\"energy_per_token_j\": 0.1, \"itl_s\": {\"p90\": 0.03}, \"ttft_s\": {\"p90\": 0.2}}]}");
    struct standin_options so = {.ttft_s = 0.01, .itl_s = 0.01, .model = "m"};
    struct standin *srv = standin_start(&so);
    assert_non_null(srv);
    char prof[600], log[600], errp[600], cfg[700], lib[700];
    snprintf(prof, sizeof prof, "%s/p.json", h.dir);
    snprintf(log, sizeof log, "%s/log.jsonl", h.dir);
    snprintf(errp, sizeof errp, "%s/err.txt", h.dir);
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_NVML_CONFIG=%s", h.cfg);
    snprintf(lib, sizeof lib, "JOULE_NVML_LIBRARY=%s", h.lib);
    char *argv[] = {(char *)JOULE_TEST_CLI, "govern", "--devices", "gpu", "--url",
                    (char *)standin_url(srv), "--profile", prof, "--itl-slo", "40ms",
                    "--interval", "0.1", "--json", log, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(errp, "w", stderr);
        (void)f;
        putenv(cfg);
        putenv(lib);
        putenv("JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so");
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < 200 && fh_state(&h, 0, "lock_max_mhz") != 990; i++)
        ts_sleep_ms(25);
    assert_true(fh_state(&h, 0, "lock_max_mhz") == 990);
    ts_sleep_ms(300);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    char *err = ts_read(errp);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("status %d: %s", status, err);
    assert_non_null(strstr(err, "-> 990 MHz (start)"));
    assert_non_null(strstr(err, "clocks are restored"));
    free(err);
    assert_true(fh_state(&h, 0, "lock_max_mhz") <= 0);
    char *text = ts_read(log);
    assert_non_null(strstr(text, "\"sm_clock_mhz\":990,\"reason\":\"start\""));
    assert_non_null(strstr(text, "\"load\":0"));
    assert_non_null(strstr(text, "{\"summary\":{\"time_s\":"));
    assert_non_null(strstr(text, "{\"joule_govern_log\":2,\"itl_slo_s\":0.04,"));
    /* joule analyze summarises the log: every decision, the period split
     * over the clocks, and the summary's own estimate. */
    int ndec = 0;
    for (const char *q = text; (q = strstr(q, "\"reason\":")); q++)
        ndec++;
    free(text);
    char *an[] = {(char *)JOULE_TEST_CLI, "analyze", "--govern-log", log, "--json", NULL};
    char *out = NULL;
    assert_int_equal(ts_run(an, NULL, &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "format")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(j, "decisions")->valueint, ndec);
    assert_true(ndec >= 2);
    double at = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "time_at_clock"))
        at += cJSON_GetObjectItem(c, "time_s")->valuedouble;
    assert_true(fabs(at - cJSON_GetObjectItem(j, "period_s")->valuedouble) < 1e-9);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j,
                     "time_at_clock"), 0), "sm_clock_mhz")->valueint, 990);
    assert_int_equal(cJSON_GetObjectItem(j, "max_sm_clock_mhz")->valueint, 1980);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "slo_violations"),
                                         "intervals")->valueint, 0);
    cJSON_Delete(j);
    free(out);
    standin_stop(srv);
    fh_finish(&h);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_profile_file),
        cmocka_unit_test(test_loop_on_sim),
        cmocka_unit_test(test_cli_sigterm_restores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
