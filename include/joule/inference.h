/* Inference energy: an ML.ENERGY-style benchmark of an OpenAI-compatible
 * streaming LLM server (vLLM, SGLang, TRT-LLM, llama.cpp), the engine of
 * `joule bench serve` (docs/inference.md).
 *
 * The load generator keeps `concurrency` streaming requests in flight
 * (libcurl, one connection per slot), timestamps every streamed token,
 * and measures the GPUs' energy with a joule window over exactly the
 * steady state of the ML.ENERGY benchmark: from the moment `concurrency`
 * requests have their first token until `requests - concurrency - 1`
 * requests have finished.
 *
 * Functions return 0 (or a count/index) or a negative JOULE_E* code and
 * leave a message for joule_last_error(). Times in seconds, energy in
 * joules, power in watts, clocks in MHz. */
#ifndef JOULE_INFERENCE_H
#define JOULE_INFERENCE_H

#include <joule/joule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_INFERENCE_API_VERSION 1

/* ---- prompts -------------------------------------------------------------- */

typedef struct joule_prompts joule_prompts;

/* Reads JSONL: one {"prompt": "...", "max_tokens": N} per line (blank
 * lines skipped). A line that is not such an object is JOULE_EINVAL
 * naming the file and line; a file without prompts is JOULE_EINVAL. */
int joule_prompts_load(const char *path, joule_prompts **out);
void joule_prompts_free(joule_prompts *p);
int joule_prompts_count(const joule_prompts *p);
/* The i-th prompt; *max_tokens and *line (its line in the file) may be NULL. */
const char *joule_prompts_get(const joule_prompts *p, int i, int *max_tokens, int *line);

/* ---- one run at one concurrency ------------------------------------------ */

/* Called from the run's thread about every 0.25 s and at the end. */
typedef void (*joule_serve_progress_fn)(void *user, int finished, int total, double steady_s,
                                        int steady_state);

/* Layout fixed for JOULE_INFERENCE_API_VERSION 1; start from
 * joule_serve_options_default(). */
typedef struct joule_serve_options {
    const char *url;          /* server base URL, "http://host:8000" (no path)
                                 or a full ".../completions" URL */
    const char *model;        /* the "model" of each request */
    int concurrency;          /* requests in flight (1) */
    int requests;             /* requests in all; 0: one per prompt */
    const int *gpus;          /* GPU indices whose energy counts; NULL: every GPU */
    int ngpus;
    double min_steady_s;      /* validity: the steady window is at least this (30) */
    double min_power_w;       /* validity: average power per GPU at least this (0: > 0) */
    double max_power_w;       /* validity: at most this per GPU (0: 1.1 x its maximum
                                 power limit, or no bound when unknown) */
    double request_timeout_s; /* one request, start to [DONE] (600) */
    int ignore_eos;           /* send "ignore_eos": true (vLLM) so each request
                                 streams exactly max_tokens (1) */
    volatile const int *stop; /* non-zero: stop now (JOULE_EBUSY "interrupted"); set
                                 from a signal handler, or atomically from a thread */
    /* Server metrics (Prometheus text, vLLM's names) scraped every
     * metrics_interval_s during the run; 0: not scraped (default 1). A
     * scrape that fails stops the scraping, not the run
     * (joule_serve_result_metrics_error says why). */
    double metrics_interval_s;
    const char *metrics_url;  /* NULL: the server's base URL + "/metrics" */
    int chat;                 /* 1: POST /v1/chat/completions with the prompt as one user
                                 message; 0: /v1/completions (default) */
    joule_serve_progress_fn progress;
    void *progress_user;
} joule_serve_options;

void joule_serve_options_default(joule_serve_options *o);

/* Percentiles of a set of latencies (linear interpolation between order
 * statistics, as numpy's default); NAN when empty. */
typedef struct joule_serve_percentiles {
    double p50_s, p90_s, p99_s, mean_s;
} joule_serve_percentiles;

/* Validity failures, a bit each (joule_serve_invalid_name names them). */
#define JOULE_SERVE_INVALID_SHORT_WINDOW (1u << 0) /* steady window < min_steady_s */
#define JOULE_SERVE_INVALID_POWER_LOW    (1u << 1) /* a GPU's average power below bounds */
#define JOULE_SERVE_INVALID_POWER_HIGH   (1u << 2) /* a GPU's average power above bounds */
#define JOULE_SERVE_INVALID_ENERGY       (1u << 3) /* a GPU's energy could not be read */
#define JOULE_SERVE_INVALID_COUNT 4
/* "steady_window_too_short", "power_below_bounds", "power_above_bounds",
 * "energy_unreadable" for bit k = 0..3. */
const char *joule_serve_invalid_name(int k);

/* What one run measured. Layout fixed for JOULE_INFERENCE_API_VERSION 1. */
typedef struct joule_serve_stats {
    int concurrency, requests;   /* as run */
    long output_tokens;          /* streamed by all requests */
    double mean_output_tokens;   /* per request */
    double duration_s;           /* first request sent to last finished */
    /* The steady window: seconds from the first request, and its length. */
    double steady_start_s, steady_end_s, steady_s;
    long steady_tokens;          /* tokens that arrived inside the window */
    joule_serve_percentiles ttft, itl; /* all requests, all tokens */
    double output_tokens_per_s;  /* steady_tokens / steady_s */
    double tps_per_user;         /* output_tokens_per_s / concurrency */
    double energy_j;             /* the GPUs over the steady window */
    double energy_uncertainty_j;
    double energy_per_token_j;   /* energy_j / steady_tokens */
    double energy_per_request_j; /* energy_per_token_j x mean_output_tokens */
    double avg_power_w;          /* energy_j / steady_s, all GPUs together */
    double tps_per_w;            /* output_tokens_per_s / avg_power_w */
    int ngpus;
    unsigned invalid;            /* JOULE_SERVE_INVALID_* bits; 0: valid */
    char invalid_text[256];      /* the failures in words */
} joule_serve_stats;

typedef struct joule_serve_result joule_serve_result;

/* Runs the load against the server and measures it. Needs
 * requests >= concurrency + 2 (else the steady window is empty). Any
 * failed request (connection refused or dropped, HTTP 4xx/5xx,
 * malformed SSE, a stream without tokens) stops the run: JOULE_EIO
 * naming the request, its prompt's line and the cause; the window is
 * cancelled and nothing else is changed. */
int joule_serve_run(joule_ctx *ctx, const joule_prompts *p, const joule_serve_options *o,
                    joule_serve_result **out);
void joule_serve_result_free(joule_serve_result *r);
const joule_serve_stats *joule_serve_result_stats(const joule_serve_result *r);
int joule_serve_result_request_count(const joule_serve_result *r);
/* Request i (in the order sent): its output tokens, TTFT, end-to-end time
 * and inter-token latencies (*itl points into r, *nitl = tokens - 1). */
int joule_serve_result_request(const joule_serve_result *r, int i, int *tokens, double *ttft_s,
                               double *e2e_s, const double **itl, int *nitl);

/* One scrape of the server's Prometheus metrics: vLLM's gauges summed over
 * their label sets, and its latency histograms' running sums and counts
 * (NAN where the server does not expose the metric). Layout fixed for
 * JOULE_INFERENCE_API_VERSION 1. */
typedef struct joule_serve_metrics {
    double t_s;                  /* seconds from the run's first request */
    double running, waiting;     /* vllm:num_requests_running, _waiting */
    double generation_tokens;    /* vllm:generation_tokens_total */
    double ttft_sum_s, ttft_count; /* vllm:time_to_first_token_seconds_sum/_count */
    double itl_sum_s, itl_count; /* vllm:time_per_output_token_seconds_sum/_count
                                    (or vllm:inter_token_latency_seconds) */
} joule_serve_metrics;

/* Parses Prometheus exposition text into *out (t_s untouched). Returns how
 * many of the metrics above were found; comments, other metrics and lines
 * that do not parse are skipped. */
int joule_serve_parse_metrics(const char *text, joule_serve_metrics *out);
int joule_serve_result_metrics_count(const joule_serve_result *r);
int joule_serve_result_metrics(const joule_serve_result *r, int i, joule_serve_metrics *out);
/* Why scraping stopped, or NULL when it did not (or was off). */
const char *joule_serve_result_metrics_error(const joule_serve_result *r);

/* Percentiles of v[0..n-1] (v is not changed). */
void joule_serve_percentiles_of(const double *v, int n, joule_serve_percentiles *out);

/* ---- the frontier and the recommendation ---------------------------------- */

/* One measured configuration. Layout fixed for JOULE_INFERENCE_API_VERSION 1. */
typedef struct joule_serve_point {
    double energy_per_token_j;
    double itl_p90_s;
    double ttft_p90_s;
    int valid;   /* 0: left out of the frontier and the recommendation */
} joule_serve_point;

/* The Pareto-optimal points in (itl_p90_s, energy_per_token_j), both
 * lower is better: front (room for n) gets their indices by ITL p90
 * ascending. Returns how many. */
int joule_serve_frontier(const joule_serve_point *p, int n, int *front);

/* The valid point of least energy per token whose ITL p90 <= itl_slo_s
 * and TTFT p90 <= ttft_slo_s (a bound <= 0 or NAN is not checked); ties
 * go to the lower ITL p90. Returns its index, or JOULE_ENOENT naming the
 * best ITL and TTFT p90 seen. */
int joule_serve_recommend(const joule_serve_point *p, int n, double itl_slo_s,
                          double ttft_slo_s);

/* A histogram's buckets from Prometheus text: name_bucket{le="..."} lines
 * summed over their other labels, le ascending (+Inf last as INFINITY),
 * cumulative counts. Fills up to cap; returns how many buckets. */
int joule_serve_parse_histogram(const char *text, const char *name, double *le, double *count,
                                int cap);
/* The q-quantile of the observations between two scrapes of a histogram
 * with the same buckets (counts before and after), interpolated linearly
 * inside the bucket as Prometheus' histogram_quantile does; NAN when
 * nothing was observed. */
double joule_serve_histogram_quantile(const double *le, const double *before,
                                      const double *after, int n, double q);

/* ---- joule govern: an SLO-aware SM clock governor (DynamoLLM style) ------- */

/* A profile: for each load level (requests running) and SM clock, the
 * profiled p90 ITL and TTFT and the energy per token. */
typedef struct joule_govern_profile joule_govern_profile;

int joule_govern_profile_create(joule_govern_profile **out);
int joule_govern_profile_add(joule_govern_profile *p, double load, int sm_clock_mhz,
                             double itl_p90_s, double ttft_p90_s, double energy_per_token_j);
/* Reads `joule bench serve --sm-clocks ... --json` output: each valid
 * configuration is one entry, its concurrency the load level. Errors name
 * the file and the configuration. */
int joule_govern_profile_load(const char *path, joule_govern_profile **out);
void joule_govern_profile_free(joule_govern_profile *p);
int joule_govern_profile_count(const joule_govern_profile *p);

/* Layout fixed for JOULE_INFERENCE_API_VERSION 1; start from
 * joule_govern_options_default(). */
typedef struct joule_govern_options {
    double itl_slo_s, ttft_slo_s; /* p90 targets; <= 0: none (one is needed) */
    double margin;      /* a clock qualifies when its profiled p90s are within
                           (1 - margin) x the SLOs (0.1) */
    int down_after;     /* intervals a lower clock must stay the choice before
                           the governor steps down (2): hysteresis */
    int hold_after_up;  /* intervals without stepping down after a feedback
                           step up (3) */
} joule_govern_options;
void joule_govern_options_default(joule_govern_options *o);

typedef struct joule_governor joule_governor;
int joule_governor_create(const joule_govern_profile *p, const joule_govern_options *o,
                          joule_governor **out);
void joule_governor_destroy(joule_governor *g);

/* Why the governor chose its clock. */
enum joule_govern_reason {
    JOULE_GOVERN_START = 0,     /* the first choice */
    JOULE_GOVERN_KEEP = 1,      /* no change */
    JOULE_GOVERN_DOWN = 2,      /* the load allows a lower clock (after down_after) */
    JOULE_GOVERN_UP = 3,        /* the load needs a higher clock: at once */
    JOULE_GOVERN_FEEDBACK = 4,  /* the observed p90 broke an SLO: one step up at once */
    JOULE_GOVERN_HOLD = 5,      /* a lower clock would do, but held (hysteresis) */
};
/* "start", "keep", "down", "up", "feedback", "hold". */
const char *joule_govern_reason_name(int reason);

/* One interval: the load (requests running, and waiting) and the p90s
 * observed over the interval (NAN: unknown). Returns the SM clock to
 * lock (MHz) and sets *reason. The profile's lowest load level at or
 * above the load is used (its highest when the load is above them all). */
int joule_governor_step(joule_governor *g, double load, double itl_p90_s, double ttft_p90_s,
                        int *reason);

/* One decision of joule_govern_run, for its log. */
typedef struct joule_govern_decision {
    double t_s;          /* seconds since the start */
    double load;         /* running + waiting */
    double itl_p90_s, ttft_p90_s; /* observed over the interval, NAN when unknown */
    int sm_clock_mhz;    /* locked */
    int reason;          /* enum joule_govern_reason */
    double tokens;       /* generated since the previous scrape
                            (vllm:generation_tokens_total), NAN when unknown */
    /* What the summary's estimate adds up, so a log alone can be
     * summarised (`joule analyze --govern-log`): the clock those tokens ran
     * at (the one locked before this decision; 0: none yet), the top clock,
     * and the profile's energy per token at the load level of this load at
     * each (NAN: not profiled, or no clock yet). Appended fields: the
     * struct is only ever passed to the log callback by pointer. */
    int tokens_clock_mhz, max_sm_clock_mhz;
    double energy_per_token_j, max_clock_energy_per_token_j;
} joule_govern_decision;

/* What a governed period cost. Layout fixed for JOULE_INFERENCE_API_VERSION 1. */
typedef struct joule_govern_summary {
    double time_s;
    double energy_j;          /* the governed GPUs, measured (a joule window) */
    double tokens;            /* generated meanwhile, from the server's metrics */
    double energy_per_token_j;
    /* The profile's estimate over the same tokens: at the clocks chosen,
     * and at the top clock throughout; saving = 1 - governed / top. */
    double est_governed_j, est_max_clock_j, est_saving;
} joule_govern_summary;
typedef void (*joule_govern_log_fn)(void *user, const joule_govern_decision *d);

/* The loop: every interval_s, scrape metrics_url (vLLM's Prometheus
 * metrics), step the governor and lock the chosen clock on the GPUs (all
 * of ctx's when gpus is NULL) through joule's control API, until *stop.
 * The clocks are unlocked at the end (joule_restore). A scrape that fails
 * keeps the last clock and is logged as unknown load. *summary (may be
 * NULL) gets the period's measured energy and tokens and the profile's
 * estimate of the saving against the top clock. */
int joule_govern_run(joule_ctx *ctx, joule_governor *g, const char *metrics_url,
                     const int *gpus, int ngpus, double interval_s, volatile const int *stop,
                     joule_govern_log_fn log, void *user, joule_govern_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
