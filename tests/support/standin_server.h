/* A stand-in for an OpenAI-compatible LLM server (vLLM), test code only:
 * POST /v1/completions (and /v1/chat/completions) streams SSE tokens whose timing follows a
 * simulated GPU's SM clock, GET /metrics shows vLLM-named metrics.
 *
 * Performance model (docs/inference.md, "The stand-in"): with f the GPU's
 * SM clock (read at each token) and f_max its highest supported clock,
 * slow(f) = alpha * f_max / f + 1 - alpha (alpha = 0.8, the sim's speed
 * model: the share of time that scales with the clock), and n the
 * requests streaming at that moment,
 *   time to first token = ttft_s * slow(f)
 *   each further token   = (itl_s + itl_per_request_s * (n - 1)) * slow(f)
 * Each request streams exactly max_tokens tokens, then "data: [DONE]". */
#ifndef JOULE_TEST_STANDIN_SERVER_H
#define JOULE_TEST_STANDIN_SERVER_H

#include <joule/joule.h>

enum standin_fault {
    STANDIN_OK = 0,
    STANDIN_DROP,        /* close the connection after fault_after tokens */
    STANDIN_MALFORMED,   /* send a broken data: line after fault_after tokens */
    STANDIN_HTTP_STATUS, /* answer with http_status and a vLLM-style error body */
};

struct standin_options {
    joule_ctx *ctx;          /* the simulated GPU's context; NULL: f = f_max always */
    int gpu;
    /* Instead of ctx: the SM clock now and the top clock, in MHz (e.g. read
     * from the NVML test double's state file, which another process sets). */
    double (*clock_mhz)(void *user);
    double f_max_mhz;
    void *clock_user;
    double ttft_s, itl_s, itl_per_request_s;
    double alpha;            /* 0: 0.8 */
    const char *model;       /* requests naming another model get 404 */
    double load_per_request; /* > 0: sets the sim GPU's load to min(1, n * this) */
    int fault;               /* enum standin_fault */
    int fault_request;       /* the 1-based request it hits; 0: every request */
    int fault_after;         /* tokens before the fault */
    int http_status;
};

struct standin;

/* Starts on an ephemeral port of 127.0.0.1; NULL on failure. */
struct standin *standin_start(const struct standin_options *o);
void standin_stop(struct standin *s);
int standin_port(const struct standin *s);
/* "http://127.0.0.1:PORT" */
const char *standin_url(const struct standin *s);
/* Completion requests received so far; tokens streamed so far. */
int standin_requests(struct standin *s);
long standin_tokens(struct standin *s);
/* The slow-down factor at clock f (MHz) of a GPU whose top clock is f_max. */
double standin_slow(double alpha, double f_mhz, double f_max_mhz);

#endif
