/* `joule bench serve` end to end, against the stand-in LLM server
 * (support/standin_server.h) in this process and the NVML test double in
 * the CLI's: the stand-in reads the SM clock the CLI locked from the
 * double's state file, so each configuration streams at its clock.
 *  - a clock sweep over two concurrencies: JSON, CSV, SVG and the table;
 *    lower clocks stream slower and cost less per token; the frontier and
 *    the recommendation under --itl-slo; the clocks are unlocked after;
 *  - --json - puts JSON alone on stdout;
 *  - bad input: a server that refuses connections or drops them
 *    mid-stream, malformed SSE, HTTP 4xx and 5xx, empty or broken prompts
 *    files, bad flags: a clear error, the settings restored, what was
 *    measured before still reported;
 *  - SIGINT restores and exits 130. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakes/fake_harness.h"
#include "standin_server.h"

#define F_MAX 1980

static const char *fake_config =
    "{\"privileged\": true, \"state\": \"@STATE@\", \"gpus\": [{\"model\": \"h100\", \"load\": 0.5}]}";

/* The SM clock the CLI locked on gpu0, from the double's state file. */
static double locked_clock(void *user)
{
    const struct fh *h = user;
    double v = fh_state(h, 0, "lock_max_mhz");
    return v > 0 ? v : F_MAX;
}

struct env {
    struct fh h;
    struct standin *srv;
    char prompts[600], json[600], csv[600], svg[600];
};

static struct standin *start_server(struct env *e, int fault, int fault_request, int after,
                                    int status)
{
    struct standin_options so = {.ttft_s = 0.02, .itl_s = 0.01, .model = "m",
                                 .clock_mhz = locked_clock, .clock_user = &e->h,
                                 .f_max_mhz = F_MAX, .fault = fault,
                                 .fault_request = fault_request, .fault_after = after,
                                 .http_status = status};
    struct standin *s = standin_start(&so);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    fh_start(&e->h, FH_NVML, fake_config);
    char text[2048] = "";
    for (int i = 0; i < 12; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "{\"prompt\": \"prompt %d\", \"max_tokens\": 8}\n", i);
    ts_write(e->h.dir, "prompts.jsonl", text);
    snprintf(e->prompts, sizeof e->prompts, "%s/prompts.jsonl", e->h.dir);
    snprintf(e->json, sizeof e->json, "%s/out.json", e->h.dir);
    snprintf(e->csv, sizeof e->csv, "%s/out.csv", e->h.dir);
    snprintf(e->svg, sizeof e->svg, "%s/out.svg", e->h.dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    standin_stop(e->srv);
    fh_finish(&e->h);
    free(e);
    return 0;
}

static void argv_of(struct env *e, const char *url, char **args, char **argv)
{
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    argv[n++] = "bench";
    argv[n++] = "serve";
    argv[n++] = "--devices";
    argv[n++] = "gpu";
    if (url) {
        argv[n++] = "--url";
        argv[n++] = (char *)url;
    }
    argv[n++] = "--model";
    argv[n++] = "m";
    argv[n++] = "--prompts";
    argv[n++] = e->prompts;
    for (int i = 0; args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
}

static char **env_of(struct env *e)
{
    static char cfg[700], lib[700];
    static char *env[4];
    snprintf(cfg, sizeof cfg, "JOULE_FAKE_NVML_CONFIG=%s", e->h.cfg);
    snprintf(lib, sizeof lib, "JOULE_NVML_LIBRARY=%s", e->h.lib);
    env[0] = cfg;
    env[1] = lib;
    env[2] = "JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so";
    env[3] = NULL;
    return env;
}

static int bench(struct env *e, const char *url, char **args, char **out, char **err)
{
    char *argv[64];
    argv_of(e, url, args, argv);
    return ts_run(argv, env_of(e), out, err);
}

static cJSON *read_json(const char *path)
{
    char *text = ts_read(path);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x))
        fail_msg("no number '%s'", k);
    return x->valuedouble;
}

static void test_clock_sweep(void **state)
{
    struct env *e = *state;
    e->srv = start_server(e, STANDIN_OK, 0, 0, 0);
    char *args[] = {"--sm-clocks", "1980,990", "--concurrency", "2,4", "--requests", "12",
                    "--min-steady", "0.1", "--json", e->json, "--csv", e->csv, "--svg", e->svg,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = bench(e, standin_url(e->srv), args, &out, &err);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    /* the table on stdout, one row per configuration and a recommendation */
    assert_non_null(strstr(out, "SM MHz"));
    assert_non_null(strstr(out, "recommendation: 990 MHz"));
    assert_int_equal(standin_requests(e->srv), 4 * 12);
    cJSON *j = read_json(e->json);
    assert_non_null(j);
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "configurations");
    assert_int_equal(cJSON_GetArraySize(cs), 4);
    double itl[4], ept[4];
    const double want_clk[] = {1980, 1980, 990, 990}, want_conc[] = {2, 4, 2, 4};
    for (int i = 0; i < 4; i++) {
        const cJSON *c = cJSON_GetArrayItem(cs, i);
        assert_float_equal(num(c, "sm_clock_mhz"), want_clk[i], 0);
        assert_float_equal(num(c, "concurrency"), want_conc[i], 0);
        assert_float_equal(num(c, "output_tokens"), 12 * 8, 0);
        itl[i] = num(cJSON_GetObjectItemCaseSensitive(c, "itl_s"), "p50");
        ept[i] = num(c, "energy_per_token_j");
        assert_true(ept[i] > 0);
        assert_float_equal(ept[i], num(c, "energy_j") / num(c, "steady_tokens"), 1e-9 * ept[i]);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "valid")));
        /* the stand-in's vLLM metrics, scraped once a second from the start
         * (the previous configuration's last streams may still count) */
        const cJSON *sm = cJSON_GetObjectItemCaseSensitive(c, "server_metrics");
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(sm, "error")));
        const cJSON *smp = cJSON_GetObjectItemCaseSensitive(sm, "samples");
        assert_true(cJSON_GetArraySize(smp) >= 1);
        const cJSON *m0 = cJSON_GetArrayItem(smp, 0);
        assert_true(num(m0, "num_requests_running") >= 0 &&
                    num(m0, "num_requests_running") <= 4);
        assert_float_equal(num(m0, "num_requests_waiting"), 0, 0);
    }
    /* 990 MHz: the stand-in's tokens come 1.8x slower; the double draws
     * far less power there, so each token costs less. Generous bounds. */
    for (int i = 0; i < 2; i++) {
        double ratio = itl[i + 2] / itl[i];
        if (!(ratio > 1.3 && ratio < 2.6))
            fail_msg("ITL at 990 MHz / at 1980 MHz = %g (the model's 1.8)", ratio);
        assert_true(ept[i + 2] < ept[i]);
    }
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(j, "frontier");
    assert_true(cJSON_GetArraySize(fr) >= 1);
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "recommendation");
    assert_true(cJSON_IsObject(rec));
    assert_float_equal(num(rec, "sm_clock_mhz"), 990, 0);
    /* the recommendation is on the frontier */
    int idx = (int)num(rec, "index"), on = 0;
    for (int i = 0; i < cJSON_GetArraySize(fr); i++)
        on |= (int)cJSON_GetArrayItem(fr, i)->valuedouble == idx;
    assert_true(on);
    cJSON_Delete(j);
    /* CSV: a header with units and four rows */
    char *csv = ts_read(e->csv);
    assert_non_null(strstr(csv, "sm_clock_mhz,concurrency,requests,output_tokens,steady_s,"));
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 5);
    free(csv);
    char *svg = ts_read(e->svg);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "class=\"frontier\""));
    assert_non_null(strstr(svg, "class=\"recommended\""));
    assert_non_null(strstr(svg, "990 MHz c2"));
    assert_non_null(strstr(svg, ": energy per token against ITL p90</title>"));
    assert_non_null(strstr(svg, ">recommendation</text>"));
    free(svg);
    /* the clocks are unlocked again */
    assert_true(fh_state(&e->h, 0, "lock_max_mhz") <= 0);
    free(out);
    free(err);

    /* An ITL SLO only 1980 MHz meets (the model's ITL: 10 ms there, 26 ms
     * at 660 MHz): the recommendation moves there. */
    double slo_ms = 18;
    char slo[] = "18ms";
    char *args2[] = {"--sm-clocks", "1980,660", "--concurrency", "2", "--requests", "12",
                     "--min-steady", "0.1", "--itl-slo", slo, "--json", "-", NULL};
    rc = bench(e, standin_url(e->srv), args2, &out, &err);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    j = cJSON_Parse(out); /* stdout holds the JSON alone */
    if (!j)
        fail_msg("stdout is not JSON: %s", out);
    assert_non_null(strstr(err, "recommendation:")); /* the table went to stderr */
    rec = cJSON_GetObjectItemCaseSensitive(j, "recommendation");
    if (!cJSON_IsObject(rec))
        fail_msg("no recommendation under ITL p90 <= %s: %s", slo, out);
    /* p90 may exceed p50 by jitter; the SLO holds for the one chosen */
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "configurations"),
                                        (int)num(rec, "index"));
    assert_true(num(cJSON_GetObjectItemCaseSensitive(c, "itl_s"), "p90") <= slo_ms / 1e3);
    assert_float_equal(num(j, "itl_slo_s"), slo_ms / 1e3, 1e-9);
    assert_float_equal(num(rec, "sm_clock_mhz"), 1980, 0);
    cJSON_Delete(j);
    free(out);
    free(err);
}

/* A port nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Whether err names request k with its prompt's line k, k within one of
 * want: with two requests in flight, the server may see the client's
 * requests k and k + 1 in either order. */
static int names_request(const char *err, int want)
{
    const char *p = strstr(err, "request ");
    int k = 0, line = 0;
    return p && sscanf(p, "request %d (prompt on line %d)", &k, &line) == 2 && k == line &&
           abs(k - want) <= 1;
}

/* Runs a failing benchmark at two clocks; checks the exit, the message and
 * that the clocks were restored. */
static void expect_failure_at(struct env *e, const char *url, const char *want1,
                              const char *want2, int request)
{
    char *args[] = {"--sm-clocks", "990", "--concurrency", "2", "--requests", "12",
                    "--min-steady", "0.1", "--json", e->json, NULL};
    char *out = NULL, *err = NULL;
    unlink(e->json);
    int rc = bench(e, url, args, &out, &err);
    if (rc != 1 || !strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("exit %d, stderr '%s' (want 1, '%s', '%s')", rc, err, want1,
                 want2 ? want2 : "");
    assert_non_null(strstr(err, "settings are restored"));
    if (request && !names_request(err, request))
        fail_msg("'%s' does not name request %d (or a neighbour) and its line", err, request);
    assert_true(fh_state(&e->h, 0, "lock_max_mhz") <= 0);
    free(out);
    free(err);
}

static void expect_failure(struct env *e, const char *url, const char *want1, const char *want2)
{
    expect_failure_at(e, url, want1, want2, 0);
}

static void test_refused(void **state)
{
    struct env *e = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    expect_failure(e, url, "cannot connect to", "is the server running?");
}

static void test_dropped_mid_stream(void **state)
{
    struct env *e = *state;
    e->srv = start_server(e, STANDIN_DROP, 3, 4, 0);
    expect_failure_at(e, standin_url(e->srv), "the connection failed after 4 tokens", NULL, 3);
}

static void test_malformed_sse(void **state)
{
    struct env *e = *state;
    e->srv = start_server(e, STANDIN_MALFORMED, 0, 2, 0);
    expect_failure(e, standin_url(e->srv), "malformed SSE", "not a JSON object");
}

static void test_http_errors(void **state)
{
    struct env *e = *state;
    e->srv = start_server(e, STANDIN_HTTP_STATUS, 5, 0, 503);
    expect_failure_at(e, standin_url(e->srv), "HTTP 503", "stand-in fault", 5);
    standin_stop(e->srv);
    e->srv = start_server(e, STANDIN_OK, 0, 0, 0);
    /* wrong path: 404 */
    char url[128];
    snprintf(url, sizeof url, "%s/v2/completions", standin_url(e->srv));
    expect_failure(e, url, "HTTP 404", "/v2/completions");
}

static void test_wrong_model_keeps_earlier_results(void **state)
{
    struct env *e = *state;
    /* the 1980 MHz configuration runs; then the server starts refusing */
    e->srv = start_server(e, STANDIN_HTTP_STATUS, 13, 0, 400);
    char *args[] = {"--sm-clocks", "1980,990", "--concurrency", "2", "--requests", "12",
                    "--min-steady", "0.1", "--json", e->json, NULL};
    char *out = NULL, *err = NULL;
    int rc = bench(e, standin_url(e->srv), args, &out, &err);
    if (rc != 1 || !strstr(err, "990 MHz, concurrency 2: request ") || !strstr(err, "HTTP 400") ||
        !names_request(err, 1))
        fail_msg("exit %d: %s", rc, err);
    cJSON *j = read_json(e->json);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "configurations")), 1);
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(j, "error")->valuestring, "HTTP 400"));
    cJSON_Delete(j);
    assert_true(fh_state(&e->h, 0, "lock_max_mhz") <= 0);
    free(out);
    free(err);
}

static void test_bad_input(void **state)
{
    struct env *e = *state;
    e->srv = start_server(e, STANDIN_OK, 0, 0, 0);
    const char *url = standin_url(e->srv);
    char *out = NULL, *err = NULL;
    struct {
        const char *prompts; /* NULL: the good file */
        char *args[8];
        const char *want;
    } cases[] = {
        {"", {NULL}, "has no prompts"},
        {"{\"prompt\": \"a\", \"max_tokens\": 4}\n{\"prompt\": \"b\"}\n", {NULL}, "line 2"},
        {NULL, {"--concurrency", "8", "--requests", "9", NULL}, "at least 17"},
        {NULL, {"--concurrency", "0", NULL}, "--concurrency '0'"},
        {NULL, {"--itl-slo", "fast", NULL}, "--itl-slo 'fast'"},
        {NULL, {"--power-limits", "300", "--sm-clocks", "990", NULL}, "at most one of"},
        {NULL, {"--sm-clocks", "99999", NULL}, "outside"},
        {NULL, {"--json", "-", "--csv", "-", NULL}, "only one report"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].prompts)
            ts_write(e->h.dir, "prompts.jsonl", cases[i].prompts);
        int rc = bench(e, url, cases[i].args, &out, &err);
        if (rc != 2 || !strstr(err, cases[i].want))
            fail_msg("case %zu: exit %d, stderr '%s' (want 2, '%s')", i, rc, err, cases[i].want);
        free(out);
        free(err);
        if (cases[i].prompts) {
            char text[1024] = "";
            for (int k = 0; k < 12; k++)
                snprintf(text + strlen(text), sizeof text - strlen(text),
                         "{\"prompt\": \"p%d\", \"max_tokens\": 8}\n", k);
            ts_write(e->h.dir, "prompts.jsonl", text);
        }
    }
    char *noargs[] = {NULL};
    int rc = bench(e, NULL, noargs, &out, &err);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "--url is required"));
    free(out);
    free(err);
    assert_int_equal(standin_requests(e->srv), 0);
    assert_true(fh_state(&e->h, 0, "lock_max_mhz") <= 0);
}

static void test_sigint_restores(void **state)
{
    struct env *e = *state;
    e->srv = start_server(e, STANDIN_OK, 0, 0, 0);
    char *args[] = {"--sm-clocks", "990", "--concurrency", "2", "--requests", "2000",
                    "--min-steady", "0.1", NULL};
    char *argv[64];
    argv_of(e, standin_url(e->srv), args, argv);
    char **env = env_of(e);
    char errpath[700];
    snprintf(errpath, sizeof errpath, "%s/err.txt", e->h.dir);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(errpath, "w", stderr);
        (void)f;
        for (char **p = env; *p; p++)
            putenv(*p);
        execv(argv[0], argv);
        _exit(127);
    }
    /* wait until requests stream, then interrupt */
    for (int i = 0; i < 200 && standin_tokens(e->srv) < 20; i++)
        ts_sleep_ms(25);
    assert_true(fh_state(&e->h, 0, "lock_max_mhz") == 990);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    char *err = ts_read(errpath);
    assert_non_null(strstr(err, "interrupted"));
    free(err);
    assert_true(fh_state(&e->h, 0, "lock_max_mhz") <= 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clock_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_sse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_model_keeps_earlier_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigint_restores, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
