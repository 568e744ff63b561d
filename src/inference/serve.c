/* The inference benchmark's load generator: libcurl's multi interface
 * with one easy handle (one connection) per concurrency slot, an SSE
 * parser fed token by token from the write callback, and the ML.ENERGY
 * steady-state window measured with a joule window (docs/inference.md). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"
#include "joule/inference.h"
#include "inference/sse.h"

struct req {
    int prompt;        /* index into the prompts */
    double t_sent, t_first, t_end;
    double *tok;       /* arrival time of each token */
    int ntok, cap;
    double *itl;       /* filled at the end: ntok - 1 gaps */
};

struct run;

struct slot {
    struct run *run;
    CURL *easy;
    int req;           /* -1: idle */
    char *body;
    struct sse_parser sse; /* the stream, its failure and its reason */
    double chunk_t;    /* when the chunk being parsed arrived */
    long http;         /* status once known */
    char errbody[320];
    size_t errlen;
    char curlerr[CURL_ERROR_SIZE];
};

struct run {
    joule_ctx *ctx;
    const joule_prompts *prompts;
    const joule_serve_options *o;
    char url[1024];
    struct curl_slist *hdrs;
    struct req *reqs;
    int n, c, sent, finished, nfirst;
    double t0;
    /* the steady window */
    char wname[64];
    int wopen, wdone, wfail;
    double ws, we;
    joule_result *res;
    char werr[256];
    /* server metrics */
    char murl[1024];
    CURL *scrape;
    int scraping, scrape_off;
    double next_scrape;
    char *mbuf;
    size_t mlen, mcap;
    joule_serve_metrics *ms;
    int nms, capms;
    char merr[512];
};

struct joule_serve_result {
    joule_serve_stats st;
    struct req *reqs;
    int n;
    joule_serve_metrics *ms;
    int nms;
    char merr[512];
};

JOULE_EXPORT void joule_serve_options_default(joule_serve_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->concurrency = 1;
    o->min_steady_s = 30;
    o->request_timeout_s = 600;
    o->ignore_eos = 1;
    o->metrics_interval_s = 1;
}

static const char *const invalid_names[JOULE_SERVE_INVALID_COUNT] = {
    "steady_window_too_short", "power_below_bounds", "power_above_bounds", "energy_unreadable"};

JOULE_EXPORT const char *joule_serve_invalid_name(int k)
{
    return k >= 0 && k < JOULE_SERVE_INVALID_COUNT ? invalid_names[k] : "unknown";
}

static int ensure_curl(void)
{
    static int done = 0, rc = 0;
    /* curl_global_init is not thread-safe on old libcurl; joule calls it
     * once, from the first run. */
    if (!done) {
        rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
        done = 1;
    }
    return rc ? joule_set_error(JOULE_ELIB, "libcurl failed to initialise") : 0;
}

/* ---- the steady window ----------------------------------------------------- */

static void window_open(struct run *r)
{
    double a = joule_now_s();
    if (joule_window_begin(r->ctx, r->wname, 0)) {
        r->wfail = 1;
        snprintf(r->werr, sizeof r->werr, "cannot open the steady-state window: %s",
                 joule_last_error());
        return;
    }
    r->ws = 0.5 * (a + joule_now_s());
    r->wopen = 1;
}

static void window_close(struct run *r)
{
    double a = joule_now_s();
    if (joule_window_end(r->ctx, r->wname, 0, &r->res)) {
        r->wfail = 1;
        snprintf(r->werr, sizeof r->werr, "cannot close the steady-state window: %s",
                 joule_last_error());
    }
    r->we = 0.5 * (a + joule_now_s());
    r->wopen = 0;
    r->wdone = 1;
}

/* ---- SSE ------------------------------------------------------------------- */

static void slot_fail(struct slot *s, const char *fmt, const char *detail)
{
    sse_fail(&s->sse, fmt, detail);
}

static int add_token(struct slot *s, double t)
{
    struct run *r = s->run;
    struct req *q = &r->reqs[s->req];
    if (q->ntok == q->cap) {
        int cap = q->cap ? 2 * q->cap : 256;
        double *v = realloc(q->tok, (size_t)cap * sizeof *v);
        if (!v) {
            slot_fail(s, "%s", "out of memory");
            return -1;
        }
        q->tok = v;
        q->cap = cap;
    }
    q->tok[q->ntok++] = t;
    if (q->ntok == 1) {
        q->t_first = t;
        if (++r->nfirst == r->c && !r->wopen && !r->wdone && !r->wfail)
            window_open(r);
    }
    return 0;
}

/* A token event of the stream: it arrived in the chunk being read. */
static int on_token(void *user)
{
    struct slot *s = user;
    return add_token(s, s->chunk_t);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct slot *s = user;
    size_t len = size * nmemb;
    if (!s->http)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->http);
    if (s->http >= 300) { /* keep the start of an error body for the message */
        size_t room = sizeof s->errbody - 1 - s->errlen;
        size_t k = len < room ? len : room;
        memcpy(s->errbody + s->errlen, data, k);
        s->errlen += k;
        s->errbody[s->errlen] = 0;
        return len;
    }
    s->chunk_t = joule_now_s();
    /* A failed stream is abandoned: returning short makes curl stop. */
    return sse_feed(&s->sse, data, len) ? 0 : len;
}

/* ---- requests -------------------------------------------------------------- */

static int slot_start(struct slot *s, CURLM *multi)
{
    struct run *r = s->run;
    int i = r->sent++;
    int np = joule_prompts_count(r->prompts);
    int max_tokens = 0;
    const char *prompt = joule_prompts_get(r->prompts, i % np, &max_tokens, NULL);
    r->reqs[i].prompt = i % np;
    cJSON *b = cJSON_CreateObject();
    if (!b)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    cJSON_AddStringToObject(b, "model", r->o->model ? r->o->model : "");
    if (r->o->chat) {
        cJSON *msgs = cJSON_AddArrayToObject(b, "messages");
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", prompt);
        cJSON_AddItemToArray(msgs, m);
    } else {
        cJSON_AddStringToObject(b, "prompt", prompt);
    }
    cJSON_AddNumberToObject(b, "max_tokens", max_tokens);
    cJSON_AddBoolToObject(b, "stream", 1);
    if (r->o->ignore_eos)
        cJSON_AddBoolToObject(b, "ignore_eos", 1);
    free(s->body);
    s->body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!s->body)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    s->req = i;
    sse_init(&s->sse, on_token, s);
    s->http = 0;
    s->errlen = 0;
    s->errbody[0] = 0;
    s->curlerr[0] = 0;
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curlerr);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->o->request_timeout_s * 1000));
    r->reqs[i].t_sent = joule_now_s();
    if (curl_multi_add_handle(multi, e) != CURLM_OK)
        return joule_set_error(JOULE_ELIB, "libcurl refused to start request %d", i + 1);
    return 0;
}

/* A finished transfer: 0, or the run's error. */
static int slot_done(struct slot *s, CURLcode cc)
{
    struct run *r = s->run;
    struct req *q = &r->reqs[s->req];
    q->t_end = joule_now_s();
    int line = 0;
    joule_prompts_get(r->prompts, q->prompt, NULL, &line);
    long http = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &http);
    char why[640];
    why[0] = 0;
    if (http >= 300) {
        char *b = s->errbody;
        for (char *c = b; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        snprintf(why, sizeof why, "HTTP %ld from %s%s%.300s", http, r->url, b[0] ? ": " : "", b);
    } else if (s->sse.failed) {
        snprintf(why, sizeof why, "%s (after %d tokens)", s->sse.err, q->ntok);
    } else if (cc != CURLE_OK) {
        const char *d = s->curlerr[0] ? s->curlerr : curl_easy_strerror(cc);
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
            snprintf(why, sizeof why, "cannot connect to %s: %s; is the server running?", r->url,
                     d);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            snprintf(why, sizeof why, "no complete response within %g s (after %d tokens): %s",
                     r->o->request_timeout_s, q->ntok, d);
        else
            snprintf(why, sizeof why, "the connection failed after %d tokens: %s", q->ntok, d);
    } else if (!s->sse.saw_done) {
        snprintf(why, sizeof why,
                 "the stream ended after %d tokens without 'data: [DONE]' (the server closed "
                 "the connection mid-stream%s)", q->ntok,
                 http == 200 ? "" : ", or did not answer with an SSE stream");
    } else if (q->ntok == 0) {
        snprintf(why, sizeof why, "the stream held no tokens");
    }
    if (why[0])
        return joule_set_error(JOULE_EIO, "request %d (prompt on line %d): %s", s->req + 1, line,
                               why);
    s->req = -1;
    if (++r->finished == r->n - r->c - 1 && r->wopen)
        window_close(r);
    return 0;
}

/* ---- server metrics -------------------------------------------------------- */

#define METRICS_MAX_BYTES (8u << 20)

static size_t on_metrics(char *data, size_t size, size_t nmemb, void *user)
{
    struct run *r = user;
    size_t len = size * nmemb;
    if (r->mlen + len + 1 > METRICS_MAX_BYTES)
        return 0;
    if (r->mlen + len + 1 > r->mcap) {
        size_t cap = r->mcap ? r->mcap : 65536;
        while (cap < r->mlen + len + 1)
            cap *= 2;
        char *b = realloc(r->mbuf, cap);
        if (!b)
            return 0;
        r->mbuf = b;
        r->mcap = cap;
    }
    memcpy(r->mbuf + r->mlen, data, len);
    r->mlen += len;
    r->mbuf[r->mlen] = 0;
    return len;
}

static void scrape_start(struct run *r, CURLM *multi, double now)
{
    if (!r->scrape && !(r->scrape = curl_easy_init())) {
        snprintf(r->merr, sizeof r->merr, "libcurl could not create a handle for the metrics");
        r->scrape_off = 1;
        return;
    }
    r->mlen = 0;
    CURL *e = r->scrape;
    curl_easy_setopt(e, CURLOPT_URL, r->murl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_metrics);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        snprintf(r->merr, sizeof r->merr, "libcurl refused the metrics request");
        r->scrape_off = 1;
        return;
    }
    r->scraping = 1;
    r->next_scrape = now + r->o->metrics_interval_s;
}

static void scrape_done(struct run *r, CURLcode cc, double now)
{
    r->scraping = 0;
    long http = 0;
    curl_easy_getinfo(r->scrape, CURLINFO_RESPONSE_CODE, &http);
    if (cc != CURLE_OK || http != 200) {
        if (cc != CURLE_OK)
            snprintf(r->merr, sizeof r->merr, "scraping %s failed: %s; metrics not kept after "
                     "%d scrapes", r->murl, curl_easy_strerror(cc), r->nms);
        else
            snprintf(r->merr, sizeof r->merr, "scraping %s: HTTP %ld; metrics not kept after "
                     "%d scrapes", r->murl, http, r->nms);
        r->scrape_off = 1;
        return;
    }
    joule_serve_metrics m;
    if (joule_serve_parse_metrics(r->mbuf ? r->mbuf : "", &m) == 0) {
        snprintf(r->merr, sizeof r->merr, "%s holds none of vLLM's metrics "
                 "(vllm:num_requests_running, ...); scraping stopped", r->murl);
        r->scrape_off = 1;
        return;
    }
    m.t_s = now - r->t0;
    if (r->nms == r->capms) {
        int cap = r->capms ? 2 * r->capms : 64;
        joule_serve_metrics *v = realloc(r->ms, (size_t)cap * sizeof *v);
        if (!v) {
            r->scrape_off = 1;
            return;
        }
        r->ms = v;
        r->capms = cap;
    }
    r->ms[r->nms++] = m;
}

static void build_metrics_url(struct run *r, const joule_serve_options *o)
{
    if (o->metrics_url) {
        snprintf(r->murl, sizeof r->murl, "%s", o->metrics_url);
        return;
    }
    size_t n = strlen(o->url);
    while (n && o->url[n - 1] == '/')
        n--;
    if (n >= 20 && !strncmp(o->url + n - 20, "/v1/chat/completions", 20))
        n -= 20;
    else if (n >= 15 && !strncmp(o->url + n - 15, "/v1/completions", 15))
        n -= 15;
    else if (n >= 12 && !strncmp(o->url + n - 12, "/completions", 12))
        n -= 12;
    snprintf(r->murl, sizeof r->murl, "%.*s/metrics", (int)n, o->url);
}

static void build_url(struct run *r, const char *url, int chat)
{
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    if (n >= 12 && !strncmp(url + n - 12, "/completions", 12))
        snprintf(r->url, sizeof r->url, "%.*s", (int)n, url);
    else
        snprintf(r->url, sizeof r->url, "%.*s/v1/%scompletions", (int)n, url,
                 chat ? "chat/" : "");
}

/* ---- statistics ------------------------------------------------------------ */

static int find_device(joule_ctx *ctx, int gpu)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == gpu)
            return i;
    }
    return -1;
}

static void add_invalid(joule_serve_stats *st, unsigned bit, const char *one)
{
    st->invalid |= bit;
    size_t l = strlen(st->invalid_text);
    snprintf(st->invalid_text + l, sizeof st->invalid_text - l, "%s%s", l ? "; " : "", one);
}

static int finish_stats(struct run *r, const int *dev, const int *gpus, int ngpu,
                        joule_serve_result *out)
{
    joule_serve_stats *st = &out->st;
    const joule_serve_options *o = r->o;
    st->concurrency = r->c;
    st->requests = r->n;
    st->ngpus = ngpu;
    long ntok = 0, nitl = 0;
    double tmax = r->t0;
    for (int i = 0; i < r->n; i++) {
        ntok += r->reqs[i].ntok;
        if (r->reqs[i].ntok > 1)
            nitl += r->reqs[i].ntok - 1;
        if (r->reqs[i].t_end > tmax)
            tmax = r->reqs[i].t_end;
    }
    st->output_tokens = ntok;
    st->mean_output_tokens = (double)ntok / r->n;
    st->duration_s = tmax - r->t0;
    double *ttft = malloc((size_t)r->n * sizeof *ttft);
    double *itl = malloc((size_t)(nitl ? nitl : 1) * sizeof *itl);
    if (!ttft || !itl) {
        free(ttft);
        free(itl);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    long k = 0, steady = 0;
    for (int i = 0; i < r->n; i++) {
        struct req *q = &r->reqs[i];
        ttft[i] = q->t_first - q->t_sent;
        if (q->ntok > 1) {
            q->itl = malloc((size_t)(q->ntok - 1) * sizeof *q->itl);
            if (!q->itl) {
                free(ttft);
                free(itl);
                return joule_set_error(JOULE_ENOMEM, "out of memory");
            }
        }
        for (int t = 0; t < q->ntok; t++) {
            if (t > 0)
                itl[k++] = q->itl[t - 1] = q->tok[t] - q->tok[t - 1];
            if (q->tok[t] >= r->ws && q->tok[t] <= r->we)
                steady++;
        }
    }
    joule_serve_percentiles_of(ttft, r->n, &st->ttft);
    joule_serve_percentiles_of(itl, (int)nitl, &st->itl);
    free(ttft);
    free(itl);

    st->steady_start_s = r->ws - r->t0;
    st->steady_end_s = r->we - r->t0;
    st->steady_s = joule_result_time_s(r->res);
    st->steady_tokens = steady;
    st->output_tokens_per_s = steady / st->steady_s;
    st->tps_per_user = st->output_tokens_per_s / r->c;

    double e = 0, u = 0;
    char why[160];
    for (int g = 0; g < ngpu; g++) {
        int status = 0;
        double eg = joule_result_energy_j(r->res, dev[g], NULL, &status);
        if (status || !isfinite(eg)) {
            snprintf(why, sizeof why, "gpu%d: energy unreadable", gpus[g]);
            add_invalid(st, JOULE_SERVE_INVALID_ENERGY, why);
            e = NAN;
            continue;
        }
        e += eg;
        u += joule_result_uncertainty_j(r->res, dev[g]);
        double pw = eg / st->steady_s;
        double lo = o->min_power_w > 0 ? o->min_power_w : 0, hi = o->max_power_w;
        if (!(hi > 0)) {
            double mx = 0;
            if (joule_gpu_get_power_limit_w(r->ctx, gpus[g], NULL, NULL, &mx, NULL, NULL) == 0 &&
                mx > 0)
                hi = 1.1 * mx;
        }
        if (lo > 0 ? pw < lo : !(pw > 0)) {
            snprintf(why, sizeof why, "gpu%d: average power %.4g W is below the plausible %.4g W",
                     gpus[g], pw, lo);
            add_invalid(st, JOULE_SERVE_INVALID_POWER_LOW, why);
        }
        if (hi > 0 && pw > hi) {
            snprintf(why, sizeof why, "gpu%d: average power %.4g W is above the plausible %.4g W",
                     gpus[g], pw, hi);
            add_invalid(st, JOULE_SERVE_INVALID_POWER_HIGH, why);
        }
    }
    if (st->steady_s < o->min_steady_s) {
        snprintf(why, sizeof why, "the steady window is %.3g s, shorter than %.3g s",
                 st->steady_s, o->min_steady_s);
        add_invalid(st, JOULE_SERVE_INVALID_SHORT_WINDOW, why);
    }
    st->energy_j = e;
    st->energy_uncertainty_j = u;
    st->energy_per_token_j = steady ? e / steady : NAN;
    st->energy_per_request_j = st->energy_per_token_j * st->mean_output_tokens;
    st->avg_power_w = e / st->steady_s;
    st->tps_per_w = st->output_tokens_per_s / st->avg_power_w;
    return 0;
}

/* ---- the run --------------------------------------------------------------- */

JOULE_EXPORT int joule_serve_run(joule_ctx *ctx, const joule_prompts *p,
                                 const joule_serve_options *o, joule_serve_result **out)
{
    if (!ctx || !p || !o || !out)
        return joule_set_error(JOULE_EINVAL, "joule_serve_run: NULL argument");
    *out = NULL;
    if (!o->url || !o->url[0])
        return joule_set_error(JOULE_EINVAL, "no server URL given");
    if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8))
        return joule_set_error(JOULE_EINVAL, "server URL '%s' must start with http:// or https://",
                               o->url);
    int n = o->requests > 0 ? o->requests : joule_prompts_count(p);
    int c = o->concurrency;
    if (c < 1)
        return joule_set_error(JOULE_EINVAL, "concurrency %d must be at least 1", c);
    if (n < c + 2)
        return joule_set_error(JOULE_EINVAL,
                               "%d requests at concurrency %d leave no steady state: it ends "
                               "when requests - concurrency - 1 have finished; use at least %d "
                               "requests (ML.ENERGY uses many more)", n, c, 2 * c + 1);
    if (!(o->request_timeout_s > 0))
        return joule_set_error(JOULE_EINVAL, "request timeout must be > 0 s");

    /* The GPUs whose energy counts. */
    int ngpu = 0;
    int *gpus = calloc((size_t)joule_device_count(ctx) + (size_t)(o->ngpus > 0 ? o->ngpus : 0) + 1,
                       sizeof *gpus);
    int *dev = calloc((size_t)joule_device_count(ctx) + (size_t)(o->ngpus > 0 ? o->ngpus : 0) + 1,
                      sizeof *dev);
    if (!gpus || !dev) {
        free(gpus);
        free(dev);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    if (o->gpus && o->ngpus > 0) {
        for (int i = 0; i < o->ngpus; i++) {
            int d = find_device(ctx, o->gpus[i]);
            if (d < 0) {
                free(gpus);
                free(dev);
                return joule_set_error(JOULE_ENODEV, "no gpu%d among the devices", o->gpus[i]);
            }
            gpus[ngpu] = o->gpus[i];
            dev[ngpu++] = d;
        }
    } else {
        for (int i = 0; i < joule_device_count(ctx); i++) {
            const joule_device *d = joule_device_at(ctx, i);
            if (joule_device_kind(d) == JOULE_KIND_GPU) {
                gpus[ngpu] = joule_device_index(d);
                dev[ngpu++] = i;
            }
        }
    }
    if (!ngpu) {
        free(gpus);
        free(dev);
        return joule_set_error(JOULE_ENODEV, "no GPU among the devices to measure the server's "
                               "energy on; choose them with --devices (e.g. gpu:0,1)");
    }
    int rc = ensure_curl();
    if (rc) {
        free(gpus);
        free(dev);
        return rc;
    }

    struct run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.prompts = p;
    r.o = o;
    r.n = n;
    r.c = c;
    build_url(&r, o->url, o->chat);
    build_metrics_url(&r, o);
    r.scrape_off = !(o->metrics_interval_s > 0);
    snprintf(r.wname, sizeof r.wname, "joule-serve-steady-%p", (void *)&r);
    r.hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    r.hdrs = curl_slist_append(r.hdrs, "Accept: text/event-stream");
    r.reqs = calloc((size_t)n, sizeof *r.reqs);
    struct slot *slots = calloc((size_t)c, sizeof *slots);
    CURLM *multi = curl_multi_init();
    rc = (!r.hdrs || !r.reqs || !slots || !multi)
             ? joule_set_error(JOULE_ENOMEM, "out of memory starting the load") : 0;
    for (int i = 0; !rc && i < c; i++) {
        slots[i].run = &r;
        slots[i].req = -1;
        if (!(slots[i].easy = curl_easy_init()))
            rc = joule_set_error(JOULE_ELIB, "libcurl could not create a handle");
    }
    if (!rc)
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)c + 1);

    r.t0 = joule_now_s();
    r.next_scrape = r.t0;
    double last_progress = r.t0;
    for (int i = 0; !rc && i < c; i++)
        rc = slot_start(&slots[i], multi);
    while (!rc && r.finished < n) {
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            rc = joule_set_error(JOULE_ELIB, "libcurl's multi interface failed");
            break;
        }
        CURLMsg *m;
        int left;
        while (!rc && (m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            CURL *e = m->easy_handle;
            CURLcode cc = m->data.result;
            curl_multi_remove_handle(multi, e);
            if (e == r.scrape) {
                scrape_done(&r, cc, joule_now_s());
                continue;
            }
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
            rc = slot_done(s, cc);
            if (!rc && r.sent < n)
                rc = slot_start(s, multi);
        }
        if (rc)
            break;
        if (r.wfail) {
            rc = joule_set_error(JOULE_EIO, "%s", r.werr);
            break;
        }
        if (o->stop && __atomic_load_n(o->stop, __ATOMIC_RELAXED)) {
            rc = joule_set_error(JOULE_EBUSY, "interrupted after %d of %d requests", r.finished,
                                 n);
            break;
        }
        double now = joule_now_s();
        if (!r.scrape_off && !r.scraping && now >= r.next_scrape)
            scrape_start(&r, multi, now);
        if (o->progress && now - last_progress >= 0.25) {
            last_progress = now;
            o->progress(o->progress_user, r.finished, n,
                        r.wopen ? now - r.ws : r.wdone ? r.we - r.ws : 0, r.wopen);
        }
        if (r.finished < n)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    if (!rc && !r.wdone)
        rc = joule_set_error(JOULE_EINVAL,
                             "no steady state: %d requests finished before %d had their first "
                             "token; use more requests (at least %d)", n - c - 1, c, 2 * c + 1);
    if (!rc && o->progress)
        o->progress(o->progress_user, r.finished, n, r.we - r.ws, 0);

    joule_serve_result *res = NULL;
    if (!rc) {
        res = calloc(1, sizeof *res);
        if (!res)
            rc = joule_set_error(JOULE_ENOMEM, "out of memory");
        else if ((rc = finish_stats(&r, dev, gpus, ngpu, res)) == 0) {
            res->reqs = r.reqs;
            res->n = n;
            r.reqs = NULL;
            res->ms = r.ms;
            res->nms = r.nms;
            r.ms = NULL;
            snprintf(res->merr, sizeof res->merr, "%s", r.merr);
        }
    }
    if (r.wopen)
        joule_window_cancel(ctx, r.wname);
    joule_result_free(r.res);
    for (int i = 0; slots && i < c; i++) {
        if (slots[i].easy) {
            if (slots[i].req >= 0)
                curl_multi_remove_handle(multi, slots[i].easy);
            curl_easy_cleanup(slots[i].easy);
        }
        free(slots[i].body);
    }
    free(slots);
    if (r.scrape) {
        if (r.scraping)
            curl_multi_remove_handle(multi, r.scrape);
        curl_easy_cleanup(r.scrape);
    }
    free(r.mbuf);
    free(r.ms);
    if (multi)
        curl_multi_cleanup(multi);
    curl_slist_free_all(r.hdrs);
    if (r.reqs) {
        for (int i = 0; i < n; i++) {
            free(r.reqs[i].tok);
            free(r.reqs[i].itl);
        }
        free(r.reqs);
    }
    free(gpus);
    free(dev);
    if (rc) {
        if (res) {
            free(res);
        }
        return rc;
    }
    *out = res;
    return 0;
}

JOULE_EXPORT void joule_serve_result_free(joule_serve_result *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        free(r->reqs[i].tok);
        free(r->reqs[i].itl);
    }
    free(r->reqs);
    free(r->ms);
    free(r);
}

JOULE_EXPORT int joule_serve_result_metrics_count(const joule_serve_result *r)
{
    return r ? r->nms : 0;
}

JOULE_EXPORT int joule_serve_result_metrics(const joule_serve_result *r, int i,
                                            joule_serve_metrics *out)
{
    if (!r || !out || i < 0 || i >= r->nms)
        return joule_set_error(JOULE_EINVAL, "no metrics sample %d", i);
    *out = r->ms[i];
    return 0;
}

JOULE_EXPORT const char *joule_serve_result_metrics_error(const joule_serve_result *r)
{
    return r && r->merr[0] ? r->merr : NULL;
}

JOULE_EXPORT const joule_serve_stats *joule_serve_result_stats(const joule_serve_result *r)
{
    return r ? &r->st : NULL;
}

JOULE_EXPORT int joule_serve_result_request_count(const joule_serve_result *r)
{
    return r ? r->n : 0;
}

JOULE_EXPORT int joule_serve_result_request(const joule_serve_result *r, int i, int *tokens,
                                            double *ttft_s, double *e2e_s, const double **itl,
                                            int *nitl)
{
    if (!r || i < 0 || i >= r->n)
        return joule_set_error(JOULE_EINVAL, "no request %d", i);
    const struct req *q = &r->reqs[i];
    if (tokens)
        *tokens = q->ntok;
    if (ttft_s)
        *ttft_s = q->t_first - q->t_sent;
    if (e2e_s)
        *e2e_s = q->t_end - q->t_sent;
    if (itl)
        *itl = q->itl;
    if (nitl)
        *nitl = q->ntok > 0 ? q->ntok - 1 : 0;
    return 0;
}
