/* The inference benchmark's library (include/joule/inference.h):
 *  - prompts JSONL: good lines, bad lines named by number, empty files;
 *  - percentiles, the energy-per-token vs ITL p90 frontier and the SLO
 *    recommendation on a constructed profile;
 *  - runs against the stand-in server (support/standin_server.h) on a
 *    simulated H100: token counts exact, latency percentiles near the
 *    stand-in's known timings (generous bounds), energy per token the
 *    simulated energy over the steady window over its tokens, and the
 *    stand-in's clock model seen through a locked SM clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/inference.h>

#include "standin_server.h"
#include "test_support.h"

static char *write_prompts(const char *text)
{
    char *dir = ts_mkdtemp();
    assert_int_equal(ts_write(dir, "p.jsonl", text), 0);
    char *path = malloc(strlen(dir) + 16);
    sprintf(path, "%s/p.jsonl", dir);
    free(dir);
    return path;
}

static void drop_prompts(char *path)
{
    char *slash = strrchr(path, '/');
    *slash = 0;
    ts_rmtree(path);
    free(path);
}

static void test_prompts(void **state)
{
    (void)state;
    char *p = write_prompts("{\"prompt\": \"hello\", \"max_tokens\": 8}\n\n"
                            "{\"prompt\": \"world\", \"max_tokens\": 3, \"extra\": 1}\n");
    joule_prompts *pr = NULL;
    assert_int_equal(joule_prompts_load(p, &pr), 0);
    assert_int_equal(joule_prompts_count(pr), 2);
    int mt = 0, line = 0;
    assert_string_equal(joule_prompts_get(pr, 1, &mt, &line), "world");
    assert_int_equal(mt, 3);
    assert_int_equal(line, 3);
    assert_null(joule_prompts_get(pr, 2, NULL, NULL));
    joule_prompts_free(pr);
    drop_prompts(p);

    const char *bad[] = {
        "{\"prompt\": \"a\", \"max_tokens\": 1}\n{\"prompt\": \"b\", \"max_tokens\": 1}\nnot json\n",
        "{\"prompt\": \"a\", \"max_tokens\": 1}\n\n{\"prompt\": \"b\"}\n",
        "{\"prompt\": \"a\", \"max_tokens\": 1}\n{\"prompt\": 5, \"max_tokens\": 1}\n"
        "{\"prompt\": \"a\", \"max_tokens\": 1.5}\n",
        "{\"prompt\": \"a\", \"max_tokens\": 1}\n{\"prompt\": \"\", \"max_tokens\": 1}\n"
        "{\"prompt\": \"a\", \"max_tokens\": 0}\n",
    };
    const char *want_line[] = {"line 3", "line 3", "line 2", "line 2"};
    for (int i = 0; i < 4; i++) {
        p = write_prompts(bad[i]);
        pr = (joule_prompts *)1;
        assert_int_equal(joule_prompts_load(p, &pr), JOULE_EINVAL);
        assert_null(pr);
        if (!strstr(joule_last_error(), want_line[i]) || !strstr(joule_last_error(), p))
            fail_msg("case %d: '%s' does not name %s of %s", i, joule_last_error(), want_line[i],
                     p);
        drop_prompts(p);
    }
    p = write_prompts("\n  \n");
    assert_int_equal(joule_prompts_load(p, &pr), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "no prompts"));
    drop_prompts(p);
    assert_int_equal(joule_prompts_load("/nonexistent/p.jsonl", &pr), JOULE_ENOENT);
    assert_non_null(strstr(joule_last_error(), "/nonexistent/p.jsonl"));
}

static void test_percentiles(void **state)
{
    (void)state;
    double v[] = {5, 1, 4, 2, 3, 6, 7, 8, 9, 10};
    joule_serve_percentiles p;
    joule_serve_percentiles_of(v, 10, &p);
    assert_float_equal(p.p50_s, 5.5, 1e-12);
    assert_float_equal(p.p90_s, 9.1, 1e-12);
    assert_float_equal(p.p99_s, 9.91, 1e-12);
    assert_float_equal(p.mean_s, 5.5, 1e-12);
    assert_float_equal(v[0], 5, 0); /* untouched */
    joule_serve_percentiles_of(v, 1, &p);
    assert_float_equal(p.p99_s, 5, 0);
    joule_serve_percentiles_of(v, 0, &p);
    assert_true(isnan(p.p50_s));
}

static void test_frontier_and_recommendation(void **state)
{
    (void)state;
    /* A profile of an SM-clock sweep: lower clocks cost less per token
     * but stream slower, until the lowest where static power dominates. */
    const joule_serve_point p[] = {
        {0.50, 0.020, 0.10, 1}, /* 0: 1980 MHz: fastest */
        {0.40, 0.024, 0.12, 1}, /* 1: 1600 */
        {0.42, 0.026, 0.12, 1}, /* 2: dominated by 1 */
        {0.33, 0.032, 0.15, 1}, /* 3: 1200 */
        {0.30, 0.045, 0.30, 1}, /* 4: 800 */
        {0.31, 0.070, 0.40, 1}, /* 5: 500: dominated by 4 */
        {0.10, 0.010, 0.05, 0}, /* 6: invalid: left out */
        {NAN, 0.030, 0.10, 1},  /* 7: no energy: left out */
    };
    int front[8];
    int nf = joule_serve_frontier(p, 8, front);
    assert_int_equal(nf, 4);
    int want[] = {0, 1, 3, 4};
    for (int i = 0; i < 4; i++)
        assert_int_equal(front[i], want[i]);
    /* No SLO: the least energy per token. */
    assert_int_equal(joule_serve_recommend(p, 8, 0, 0), 4);
    assert_int_equal(joule_serve_recommend(p, 8, NAN, NAN), 4);
    /* ITL p90 <= 35 ms: 1200 MHz. */
    assert_int_equal(joule_serve_recommend(p, 8, 0.035, 0), 3);
    /* and TTFT p90 <= 120 ms: 1600 MHz. */
    assert_int_equal(joule_serve_recommend(p, 8, 0.035, 0.12), 1);
    /* Nothing that fast. */
    assert_int_equal(joule_serve_recommend(p, 8, 0.015, 0), JOULE_ENOENT);
    assert_non_null(strstr(joule_last_error(), "0.02 s"));
    /* Ties in energy go to the lower ITL. */
    const joule_serve_point t[] = {{0.3, 0.05, 0.1, 1}, {0.3, 0.04, 0.1, 1}};
    assert_int_equal(joule_serve_recommend(t, 2, 0, 0), 1);
    assert_int_equal(joule_serve_frontier(t, 2, front), 1);
    assert_int_equal(front[0], 1);
    assert_int_equal(joule_serve_frontier(p, 0, front), 0);
    assert_int_equal(joule_serve_recommend(p, 0, 0, 0), JOULE_ENOENT);
}

/* ---- runs against the stand-in on a simulated H100 ------------------------- */

#define N_REQ 24
#define CONC 4
#define MAX_TOK 16
#define TTFT_S 0.040
#define ITL_S 0.015
#define LOAD 0.6

struct fixture {
    joule_ctx *ctx;
    struct standin *srv;
    char *prompts_path;
    joule_prompts *prompts;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    joule_options *o;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, "sim:1:h100"), 0);
    assert_int_equal(joule_open(o, &f->ctx), 0);
    joule_options_destroy(o);
    /* The GPU works at a constant load while the server is busy, so the
     * expected energy is power x time. */
    assert_int_equal(joule_sim_set_load(f->ctx, 0, LOAD), 0);
    struct standin_options so = {.ctx = f->ctx, .gpu = 0, .ttft_s = TTFT_S, .itl_s = ITL_S,
                                 .model = "m"};
    f->srv = standin_start(&so);
    assert_non_null(f->srv);
    char text[4096] = "";
    for (int i = 0; i < 6; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "{\"prompt\": \"prompt %d\", \"max_tokens\": %d}\n", i, MAX_TOK);
    f->prompts_path = write_prompts(text);
    assert_int_equal(joule_prompts_load(f->prompts_path, &f->prompts), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    standin_stop(f->srv);
    joule_prompts_free(f->prompts);
    drop_prompts(f->prompts_path);
    joule_close(f->ctx);
    free(f);
    return 0;
}

static void run_once(struct fixture *f, double min_steady_s, joule_serve_result **out)
{
    joule_serve_options o;
    joule_serve_options_default(&o);
    o.url = standin_url(f->srv);
    o.model = "m";
    o.concurrency = CONC;
    o.requests = N_REQ;
    o.min_steady_s = min_steady_s;
    o.metrics_interval_s = 0.2;
    int rc = joule_serve_run(f->ctx, f->prompts, &o, out);
    if (rc)
        fail_msg("joule_serve_run: %s", joule_last_error());
}

/* P(f) of the sim H100 at LOAD (docs/sim.md). */
static double sim_power_w(double f, double fmax)
{
    return 70 + LOAD * (700 - 70) * pow(f / fmax, 3);
}

static void check_run(const joule_serve_result *r, double slow, double f, double fmax)
{
    const joule_serve_stats *st = joule_serve_result_stats(r);
    assert_int_equal(st->requests, N_REQ);
    assert_int_equal(st->concurrency, CONC);
    assert_int_equal(st->output_tokens, N_REQ * MAX_TOK);
    assert_float_equal(st->mean_output_tokens, MAX_TOK, 1e-12);
    assert_int_equal(joule_serve_result_request_count(r), N_REQ);
    for (int i = 0; i < N_REQ; i++) {
        int tok = 0, nitl = 0;
        double ttft = 0, e2e = 0;
        const double *itl = NULL;
        assert_int_equal(joule_serve_result_request(r, i, &tok, &ttft, &e2e, &itl, &nitl), 0);
        assert_int_equal(tok, MAX_TOK);
        assert_int_equal(nitl, MAX_TOK - 1);
        assert_true(ttft > 0 && e2e >= ttft);
        for (int k = 0; k < nitl; k++)
            assert_true(itl[k] >= 0);
    }
    /* Latencies follow the stand-in's model: never faster than it, and
     * (generous bounds on a busy 2-core machine) not far slower. */
    double ttft_want = TTFT_S * slow, itl_want = ITL_S * slow;
    if (!(st->ttft.p50_s > 0.9 * ttft_want && st->ttft.p50_s < 3 * ttft_want + 0.05))
        fail_msg("TTFT p50 %g s, the stand-in's %g s", st->ttft.p50_s, ttft_want);
    if (!(st->itl.p50_s > 0.8 * itl_want && st->itl.p50_s < 2 * itl_want + 0.01))
        fail_msg("ITL p50 %g s, the stand-in's %g s", st->itl.p50_s, itl_want);
    assert_true(st->itl.p50_s <= st->itl.p90_s && st->itl.p90_s <= st->itl.p99_s);
    assert_true(st->ttft.p50_s <= st->ttft.p90_s && st->ttft.p90_s <= st->ttft.p99_s);
    /* The steady window: inside the run, holding part of the tokens. */
    assert_true(st->steady_start_s > 0 && st->steady_end_s > st->steady_start_s);
    assert_true(st->steady_end_s <= st->duration_s);
    assert_true(st->steady_s > 0.5 * (st->steady_end_s - st->steady_start_s));
    assert_true(st->steady_tokens > 0 && st->steady_tokens < st->output_tokens);
    /* Energy per token is the window's energy over its tokens, and that
     * energy is the sim's power over the window. */
    assert_int_equal(st->ngpus, 1);
    assert_float_equal(st->energy_per_token_j, st->energy_j / st->steady_tokens,
                       1e-12 * st->energy_per_token_j);
    assert_float_equal(st->energy_per_request_j, st->energy_per_token_j * MAX_TOK,
                       1e-9 * st->energy_per_request_j);
    double p_want = sim_power_w(f, fmax);
    double e_want = p_want * st->steady_s;
    if (fabs(st->energy_j - e_want) > 0.03 * e_want + st->energy_uncertainty_j)
        fail_msg("energy %g J over %g s, the sim's %g J (%g W)", st->energy_j, st->steady_s,
                 e_want, p_want);
    assert_float_equal(st->avg_power_w, st->energy_j / st->steady_s, 1e-9 * st->avg_power_w);
    assert_float_equal(st->output_tokens_per_s, st->steady_tokens / st->steady_s, 1e-9);
    assert_float_equal(st->tps_per_user, st->output_tokens_per_s / CONC, 1e-9);
    assert_float_equal(st->tps_per_w, st->output_tokens_per_s / st->avg_power_w, 1e-12);
}

static void test_run_at_max_clock(void **state)
{
    struct fixture *f = *state;
    joule_serve_result *r = NULL;
    run_once(f, 0.5, &r);
    int mhz[1];
    assert_true(joule_gpu_supported_clocks_mhz(f->ctx, 0, mhz, 1) >= 1);
    check_run(r, 1.0, mhz[0], mhz[0]);
    const joule_serve_stats *st = joule_serve_result_stats(r);
    if (st->invalid)
        fail_msg("invalid: %s", st->invalid_text);
    assert_int_equal(standin_tokens(f->srv), N_REQ * MAX_TOK);
    /* The stand-in's vLLM metrics, scraped every 0.2 s. */
    assert_null(joule_serve_result_metrics_error(r));
    int nm = joule_serve_result_metrics_count(r), busy = 0;
    assert_true(nm >= 3);
    double last_t = -1, last_tok = -1;
    for (int i = 0; i < nm; i++) {
        joule_serve_metrics m;
        assert_int_equal(joule_serve_result_metrics(r, i, &m), 0);
        assert_true(m.t_s > last_t);
        assert_true(m.running >= 0 && m.running <= CONC);
        busy += m.running >= 1;
        assert_float_equal(m.waiting, 0, 0);
        assert_true(m.generation_tokens >= last_tok && m.generation_tokens <= N_REQ * MAX_TOK);
        assert_true(m.ttft_count <= N_REQ && m.itl_count <= N_REQ * (MAX_TOK - 1));
        last_t = m.t_s;
        last_tok = m.generation_tokens;
    }
    assert_true(busy >= 1);
    assert_int_equal(joule_serve_result_metrics(r, nm, &(joule_serve_metrics){0}), JOULE_EINVAL);
    joule_serve_result_free(r);

    /* A window shorter than required is named, not hidden. */
    run_once(f, 1000, &r);
    st = joule_serve_result_stats(r);
    assert_int_equal(st->invalid, JOULE_SERVE_INVALID_SHORT_WINDOW);
    assert_non_null(strstr(st->invalid_text, "shorter than 1e+03 s"));
    assert_string_equal(joule_serve_invalid_name(0), "steady_window_too_short");
    joule_serve_result_free(r);
}

static void test_run_at_locked_clock(void **state)
{
    struct fixture *f = *state;
    int mhz[512];
    int n = joule_gpu_supported_clocks_mhz(f->ctx, 0, mhz, 512);
    assert_true(n > 2);
    int fmax = mhz[0], half = mhz[0];
    for (int i = 0; i < n; i++)
        if (abs(mhz[i] - fmax / 2) < abs(half - fmax / 2))
            half = mhz[i];
    assert_int_equal(joule_gpu_lock_clocks_mhz(f->ctx, 0, half, half), 0);
    joule_serve_result *r = NULL;
    run_once(f, 0.5, &r);
    double slow = standin_slow(0.8, half, fmax);
    assert_true(slow > 1.7);
    check_run(r, slow, half, fmax);
    joule_serve_result_free(r);
    assert_int_equal(joule_restore(f->ctx), 0);
}

/* The chat endpoint: the prompt as a user message, tokens in
 * delta.content, the opening role event not counted. */
static void test_chat(void **state)
{
    struct fixture *f = *state;
    joule_serve_options o;
    joule_serve_options_default(&o);
    o.url = standin_url(f->srv);
    o.model = "m";
    o.concurrency = 2;
    o.requests = 6;
    o.min_steady_s = 0;
    o.chat = 1;
    joule_serve_result *r = NULL;
    if (joule_serve_run(f->ctx, f->prompts, &o, &r))
        fail_msg("%s", joule_last_error());
    const joule_serve_stats *st = joule_serve_result_stats(r);
    assert_int_equal(st->output_tokens, 6 * MAX_TOK);
    for (int i = 0; i < 6; i++) {
        int tok = 0;
        double ttft = 0;
        assert_int_equal(joule_serve_result_request(r, i, &tok, &ttft, NULL, NULL, NULL), 0);
        assert_int_equal(tok, MAX_TOK);
        assert_true(ttft > 0.9 * TTFT_S); /* the first token, not the role event */
    }
    joule_serve_result_free(r);
}

static void test_parse_metrics(void **state)
{
    (void)state;
    const char *text =
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 7.0\n"
        "vllm:num_requests_running{engine=\"1\",model_name=\"a}b \\\"q\\\"\"} 2\n"
        "vllm:num_requests_waiting{model_name=\"m\"} 3 1712345678000\n"
        "vllm:generation_tokens_total{model_name=\"m\"} 1.5e3\n"
        "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 10\n"
        "vllm:time_to_first_token_seconds_sum{model_name=\"m\"} 1.25\n"
        "vllm:time_to_first_token_seconds_count{model_name=\"m\"} 10\n"
        "vllm:inter_token_latency_seconds_sum{model_name=\"m\"} 99\n"
        "vllm:time_per_output_token_seconds_sum{model_name=\"m\"} 4.5\n"
        "vllm:time_per_output_token_seconds_count{model_name=\"m\"} 300\n"
        "vllm:num_requests_running{broken 5\n"
        "vllm:num_requests_waiting{model_name=\"m\"} notanumber\n"
        "other_metric 5\n";
    joule_serve_metrics m;
    assert_int_equal(joule_serve_parse_metrics(text, &m), 7);
    assert_float_equal(m.running, 9, 0);
    assert_float_equal(m.waiting, 3, 0);
    assert_float_equal(m.generation_tokens, 1500, 0);
    assert_float_equal(m.ttft_sum_s, 1.25, 0);
    assert_float_equal(m.ttft_count, 10, 0);
    assert_float_equal(m.itl_sum_s, 4.5, 0); /* the older name wins when both are there */
    assert_float_equal(m.itl_count, 300, 0);
    /* the newer name alone */
    assert_int_equal(joule_serve_parse_metrics("vllm:inter_token_latency_seconds_sum 2\n"
                                               "vllm:inter_token_latency_seconds_count 8", &m), 2);
    assert_float_equal(m.itl_sum_s, 2, 0);
    assert_float_equal(m.itl_count, 8, 0);
    assert_true(isnan(m.running));
    assert_int_equal(joule_serve_parse_metrics("", &m), 0);
    assert_int_equal(joule_serve_parse_metrics(NULL, &m), 0);
}

static void test_metrics_not_found(void **state)
{
    struct fixture *f = *state;
    joule_serve_options o;
    joule_serve_options_default(&o);
    char murl[128];
    snprintf(murl, sizeof murl, "%s/nometrics", standin_url(f->srv));
    o.url = standin_url(f->srv);
    o.model = "m";
    o.concurrency = 2;
    o.requests = 6;
    o.min_steady_s = 0;
    o.metrics_url = murl;
    joule_serve_result *r = NULL;
    assert_int_equal(joule_serve_run(f->ctx, f->prompts, &o, &r), 0);
    const char *e = joule_serve_result_metrics_error(r);
    assert_non_null(e);
    if (!strstr(e, "HTTP 404") || !strstr(e, "/nometrics"))
        fail_msg("'%s'", e);
    assert_int_equal(joule_serve_result_metrics_count(r), 0);
    joule_serve_result_free(r);
    /* off */
    o.metrics_interval_s = 0;
    assert_int_equal(joule_serve_run(f->ctx, f->prompts, &o, &r), 0);
    assert_null(joule_serve_result_metrics_error(r));
    assert_int_equal(joule_serve_result_metrics_count(r), 0);
    joule_serve_result_free(r);
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    joule_serve_options o;
    joule_serve_options_default(&o);
    joule_serve_result *r = NULL;
    o.model = "m";
    o.url = standin_url(f->srv);
    o.concurrency = 4;
    o.requests = 5;
    assert_int_equal(joule_serve_run(f->ctx, f->prompts, &o, &r), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "no steady state"));
    o.requests = 0; /* one per prompt: 6 */
    o.concurrency = 0;
    assert_int_equal(joule_serve_run(f->ctx, f->prompts, &o, &r), JOULE_EINVAL);
    o.concurrency = 2;
    o.url = "ftp://x";
    assert_int_equal(joule_serve_run(f->ctx, f->prompts, &o, &r), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "http://"));
    o.url = standin_url(f->srv);
    int gpu = 3;
    o.gpus = &gpu;
    o.ngpus = 1;
    assert_int_equal(joule_serve_run(f->ctx, f->prompts, &o, &r), JOULE_ENODEV);
    assert_null(r);
    assert_int_equal(joule_window_open_count(f->ctx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_frontier_and_recommendation),
        cmocka_unit_test(test_parse_metrics),
        cmocka_unit_test_setup_teardown(test_chat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_at_max_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_at_locked_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
