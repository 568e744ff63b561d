/* joule govern: an SLO-aware SM clock governor for one inference server
 * (DynamoLLM style). The decision is a pure step function over a profile
 * made by `joule bench serve --sm-clocks`; joule_govern_run adds the loop:
 * scrape the server's metrics, step, lock the clock, log, restore. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/export.h"
#include "joule/inference.h"

struct entry {
    double load;
    int clock;
    double itl, ttft, ept;
};

struct joule_govern_profile {
    struct entry *v;
    int n, cap;
};

struct joule_governor {
    struct entry *v;
    int n;
    int *clocks; /* distinct, ascending */
    int nclocks;
    joule_govern_options o;
    int cur, started, down_count, hold;
};

JOULE_EXPORT int joule_govern_profile_create(joule_govern_profile **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_govern_profile_create: NULL argument");
    *out = calloc(1, sizeof **out);
    return *out ? 0 : joule_set_error(JOULE_ENOMEM, "out of memory");
}

JOULE_EXPORT void joule_govern_profile_free(joule_govern_profile *p)
{
    if (p) {
        free(p->v);
        free(p);
    }
}

JOULE_EXPORT int joule_govern_profile_count(const joule_govern_profile *p)
{
    return p ? p->n : 0;
}

JOULE_EXPORT int joule_govern_profile_add(joule_govern_profile *p, double load, int sm_clock_mhz,
                                          double itl_p90_s, double ttft_p90_s,
                                          double energy_per_token_j)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "joule_govern_profile_add: NULL profile");
    if (!(load >= 0) || !isfinite(load) || sm_clock_mhz <= 0 || !(itl_p90_s >= 0) ||
        !isfinite(itl_p90_s) || !(ttft_p90_s >= 0) || !isfinite(ttft_p90_s) ||
        !(energy_per_token_j >= 0) || !isfinite(energy_per_token_j))
        return joule_set_error(JOULE_EINVAL,
                               "profile entry (load %g, %d MHz, ITL p90 %g s, TTFT p90 %g s, "
                               "%g J/token): every value must be a finite number >= 0 and the "
                               "clock > 0", load, sm_clock_mhz, itl_p90_s, ttft_p90_s,
                               energy_per_token_j);
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        struct entry *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v)
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (struct entry){load, sm_clock_mhz, itl_p90_s, ttft_p90_s, energy_per_token_j};
    return 0;
}

JOULE_EXPORT int joule_govern_profile_load(const char *path, joule_govern_profile **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_govern_profile_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
                               "cannot open profile '%s': %s", path, strerror(errno));
    size_t cap = 65536, len = 0;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *t = realloc(text, cap *= 2);
            if (!t) {
                free(text);
                text = NULL;
            } else {
                text = t;
            }
        }
    }
    fclose(f);
    if (!text)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading '%s'", path);
    text[len] = 0;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        return joule_set_error(JOULE_EINVAL, "profile '%s' is not JSON (make it with joule "
                               "bench serve --sm-clocks ... --json FILE)", path);
    int rc = 0;
    const cJSON *knob = cJSON_GetObjectItemCaseSensitive(j, "knob");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "configurations");
    if (!cJSON_IsString(knob) || strcmp(knob->valuestring, "sm_clock_mhz") || !cJSON_IsArray(cs)) {
        cJSON_Delete(j);
        return joule_set_error(JOULE_EINVAL, "profile '%s' is not a clock profile: it needs "
                               "\"knob\": \"sm_clock_mhz\" and \"configurations\" (joule bench "
                               "serve --sm-clocks ... --json FILE)", path);
    }
    joule_govern_profile *p = NULL;
    if ((rc = joule_govern_profile_create(&p))) {
        cJSON_Delete(j);
        return rc;
    }
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cs)
    {
        const cJSON *valid = cJSON_GetObjectItemCaseSensitive(c, "valid");
        const cJSON *clk = cJSON_GetObjectItemCaseSensitive(c, "sm_clock_mhz");
        const cJSON *conc = cJSON_GetObjectItemCaseSensitive(c, "concurrency");
        const cJSON *ept = cJSON_GetObjectItemCaseSensitive(c, "energy_per_token_j");
        const cJSON *itl = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(c, "itl_s"), "p90");
        const cJSON *ttft = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(c, "ttft_s"), "p90");
        i++;
        if (cJSON_IsFalse(valid))
            continue; /* the benchmark found it invalid */
        if (!cJSON_IsNumber(clk) || !cJSON_IsNumber(conc) || !cJSON_IsNumber(ept) ||
            !cJSON_IsNumber(itl) || !cJSON_IsNumber(ttft)) {
            rc = joule_set_error(JOULE_EINVAL, "profile '%s', configuration %d: needs numbers "
                                 "sm_clock_mhz, concurrency, energy_per_token_j, itl_s.p90 and "
                                 "ttft_s.p90", path, i);
            break;
        }
        if ((rc = joule_govern_profile_add(p, conc->valuedouble, (int)clk->valuedouble,
                                           itl->valuedouble, ttft->valuedouble,
                                           ept->valuedouble))) {
            rc = joule_set_error(rc, "profile '%s', configuration %d: %s", path, i,
                                 joule_last_error());
            break;
        }
    }
    cJSON_Delete(j);
    if (!rc && p->n == 0)
        rc = joule_set_error(JOULE_EINVAL, "profile '%s' has no valid configuration", path);
    if (rc) {
        joule_govern_profile_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

JOULE_EXPORT void joule_govern_options_default(joule_govern_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->margin = 0.1;
    o->down_after = 2;
    o->hold_after_up = 3;
}

static const char *const reason_names[] = {"start", "keep", "down", "up", "feedback", "hold"};

JOULE_EXPORT const char *joule_govern_reason_name(int reason)
{
    return reason >= 0 && reason < 6 ? reason_names[reason] : "unknown";
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

JOULE_EXPORT int joule_governor_create(const joule_govern_profile *p,
                                       const joule_govern_options *o, joule_governor **out)
{
    if (!p || !o || !out)
        return joule_set_error(JOULE_EINVAL, "joule_governor_create: NULL argument");
    *out = NULL;
    if (p->n == 0)
        return joule_set_error(JOULE_EINVAL, "the governor's profile is empty");
    if (!(o->itl_slo_s > 0) && !(o->ttft_slo_s > 0))
        return joule_set_error(JOULE_EINVAL, "the governor needs an ITL or a TTFT SLO");
    if (!(o->margin >= 0 && o->margin < 1) || o->down_after < 1 || o->hold_after_up < 0)
        return joule_set_error(JOULE_EINVAL, "governor options: margin in [0, 1), down_after "
                               ">= 1, hold_after_up >= 0");
    joule_governor *g = calloc(1, sizeof *g);
    if (!g)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    g->v = malloc((size_t)p->n * sizeof *g->v);
    g->clocks = malloc((size_t)p->n * sizeof *g->clocks);
    if (!g->v || !g->clocks) {
        joule_governor_destroy(g);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    memcpy(g->v, p->v, (size_t)p->n * sizeof *g->v);
    g->n = p->n;
    g->o = *o;
    for (int i = 0; i < p->n; i++)
        g->clocks[i] = p->v[i].clock;
    qsort(g->clocks, (size_t)p->n, sizeof *g->clocks, cmp_int);
    for (int i = 0; i < p->n; i++)
        if (g->nclocks == 0 || g->clocks[g->nclocks - 1] != g->clocks[i])
            g->clocks[g->nclocks++] = g->clocks[i];
    *out = g;
    return 0;
}

JOULE_EXPORT void joule_governor_destroy(joule_governor *g)
{
    if (g) {
        free(g->v);
        free(g->clocks);
        free(g);
    }
}

static int max_clock(const joule_governor *g)
{
    return g->clocks[g->nclocks - 1];
}

/* The profile's load level for a load. */
static double level_of(const joule_governor *g, double load)
{
    double level = -1, top = -1;
    for (int i = 0; i < g->n; i++) {
        if (g->v[i].load >= load && (level < 0 || g->v[i].load < level))
            level = g->v[i].load;
        if (g->v[i].load > top)
            top = g->v[i].load;
    }
    return level < 0 ? top : level;
}

/* The profiled energy per token at a load and clock, NAN when not profiled. */
static double profile_ept(const joule_governor *g, double load, int clock)
{
    double level = level_of(g, load);
    for (int i = 0; i < g->n; i++)
        if (g->v[i].load == level && g->v[i].clock == clock)
            return g->v[i].ept;
    return NAN;
}

/* The least-energy clock that meets the SLOs with margin at this load. */
static int choose(const joule_governor *g, double load)
{
    double level = -1, top = -1;
    for (int i = 0; i < g->n; i++) {
        if (g->v[i].load >= load && (level < 0 || g->v[i].load < level))
            level = g->v[i].load;
        if (g->v[i].load > top)
            top = g->v[i].load;
    }
    if (level < 0)
        level = top;
    double k = 1 - g->o.margin;
    int best = -1;
    for (int i = 0; i < g->n; i++) {
        const struct entry *e = &g->v[i];
        if (e->load != level)
            continue;
        if (g->o.itl_slo_s > 0 && e->itl > k * g->o.itl_slo_s)
            continue;
        if (g->o.ttft_slo_s > 0 && e->ttft > k * g->o.ttft_slo_s)
            continue;
        if (best < 0 || e->ept < g->v[best].ept ||
            (e->ept == g->v[best].ept && e->clock > g->v[best].clock))
            best = i;
    }
    return best < 0 ? max_clock(g) : g->v[best].clock;
}

static int next_up(const joule_governor *g, int clock)
{
    for (int i = 0; i < g->nclocks; i++)
        if (g->clocks[i] > clock)
            return g->clocks[i];
    return max_clock(g);
}

JOULE_EXPORT int joule_governor_step(joule_governor *g, double load, double itl_p90_s,
                                     double ttft_p90_s, int *reason)
{
    if (!g)
        return joule_set_error(JOULE_EINVAL, "joule_governor_step: NULL governor");
    int why;
    int target = isnan(load) ? (g->started ? g->cur : max_clock(g)) : choose(g, load);
    int violated = (g->o.itl_slo_s > 0 && itl_p90_s > g->o.itl_slo_s) ||
                   (g->o.ttft_slo_s > 0 && ttft_p90_s > g->o.ttft_slo_s);
    if (!g->started) {
        g->started = 1;
        g->cur = violated ? max_clock(g) : target;
        why = JOULE_GOVERN_START;
    } else if (violated) {
        int up = next_up(g, g->cur);
        g->cur = target > up ? target : up;
        g->hold = g->o.hold_after_up;
        g->down_count = 0;
        why = JOULE_GOVERN_FEEDBACK;
    } else if (target > g->cur) {
        g->cur = target;
        g->down_count = 0;
        why = JOULE_GOVERN_UP;
    } else if (target < g->cur) {
        if (g->hold > 0) {
            g->hold--;
            g->down_count = 0;
            why = JOULE_GOVERN_HOLD;
        } else if (++g->down_count >= g->o.down_after) {
            g->cur = target;
            g->down_count = 0;
            why = JOULE_GOVERN_DOWN;
        } else {
            why = JOULE_GOVERN_HOLD;
        }
    } else {
        g->down_count = 0;
        if (g->hold > 0)
            g->hold--;
        why = JOULE_GOVERN_KEEP;
    }
    if (reason)
        *reason = why;
    return g->cur;
}

/* ---- the loop -------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct buf *b = user;
    size_t len = size * nmemb;
    if (b->len + len + 1 > (8u << 20))
        return 0;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = 0;
    return len;
}

#define HB 64
struct hist {
    double le[HB], c[HB];
    int n;
};

static double interval_p90(const char *text, const char *const *names, struct hist *prev)
{
    struct hist h = {0};
    for (int k = 0; names[k] && h.n == 0; k++)
        h.n = joule_serve_parse_histogram(text, names[k], h.le, h.c, HB);
    double q = NAN;
    if (h.n > 0 && prev->n == h.n && !memcmp(prev->le, h.le, (size_t)h.n * sizeof h.le[0]))
        q = joule_serve_histogram_quantile(h.le, prev->c, h.c, h.n, 0.9);
    *prev = h;
    return q;
}

/* *stop is set by a signal handler or another thread (atomically). */
static int stopped(volatile const int *stop)
{
    return stop && __atomic_load_n(stop, __ATOMIC_RELAXED);
}

static void sleep_until_or_stop(double t, volatile const int *stop)
{
    while (!stopped(stop)) {
        double left = t - joule_now_s();
        if (left <= 0)
            return;
        double s = left < 0.05 ? left : 0.05;
        struct timespec ts = {0, (long)(s * 1e9)};
        nanosleep(&ts, NULL);
    }
}

JOULE_EXPORT int joule_govern_run(joule_ctx *ctx, joule_governor *g, const char *metrics_url,
                                  const int *gpus, int ngpus, double interval_s,
                                  volatile const int *stop, joule_govern_log_fn log, void *user,
                                  joule_govern_summary *summary)
{
    if (!ctx || !g || !metrics_url)
        return joule_set_error(JOULE_EINVAL, "joule_govern_run: NULL argument");
    if (!(interval_s > 0) || !isfinite(interval_s))
        return joule_set_error(JOULE_EINVAL, "the governor's interval must be > 0 s");
    int all[256], nall = 0;
    if (!gpus || ngpus <= 0) {
        for (int i = 0; i < joule_device_count(ctx) && nall < 256; i++) {
            const joule_device *d = joule_device_at(ctx, i);
            if (joule_device_kind(d) == JOULE_KIND_GPU)
                all[nall++] = joule_device_index(d);
        }
        gpus = all;
        ngpus = nall;
    }
    if (ngpus <= 0)
        return joule_set_error(JOULE_ENODEV, "no GPU to govern among the devices");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return joule_set_error(JOULE_ELIB, "libcurl failed to initialise");
    CURL *e = curl_easy_init();
    if (!e)
        return joule_set_error(JOULE_ELIB, "libcurl could not create a handle");
    static const char *const ttft_names[] = {"vllm:time_to_first_token_seconds", NULL};
    static const char *const itl_names[] = {"vllm:time_per_output_token_seconds",
                                            "vllm:inter_token_latency_seconds", NULL};
    struct hist ttft_prev = {0}, itl_prev = {0};
    struct buf b = {0};
    int rc = 0, locked = 0;
    char wname[64];
    snprintf(wname, sizeof wname, "joule-govern-%p", (void *)g);
    int wopen = joule_window_begin(ctx, wname, 0) == 0;
    double prev_tokens = NAN, tokens = 0, est_gov = 0, est_max = 0;
    double t0 = joule_now_s(), next = t0;
    while (!stopped(stop)) {
        b.len = 0;
        if (b.p)
            b.p[0] = 0;
        curl_easy_setopt(e, CURLOPT_URL, metrics_url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        long tmo = (long)(interval_s * 1000);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo < 500 ? 500L : tmo);
        CURLcode cc = curl_easy_perform(e);
        long http = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
        joule_govern_decision d = {joule_now_s() - t0, NAN, NAN, NAN, 0, 0, NAN, 0, 0, NAN, NAN};
        if (cc == CURLE_OK && http == 200 && b.p) {
            joule_serve_metrics m;
            if (joule_serve_parse_metrics(b.p, &m) > 0 && !isnan(m.running))
                d.load = m.running + (isnan(m.waiting) ? 0 : m.waiting);
            if (!isnan(m.generation_tokens)) {
                if (!isnan(prev_tokens) && m.generation_tokens >= prev_tokens)
                    d.tokens = m.generation_tokens - prev_tokens;
                prev_tokens = m.generation_tokens;
            }
            d.ttft_p90_s = interval_p90(b.p, ttft_names, &ttft_prev);
            d.itl_p90_s = interval_p90(b.p, itl_names, &itl_prev);
        }
        /* the tokens of the interval that just ended ran at the locked clock */
        double lo = isnan(d.load) ? 0 : d.load;
        d.tokens_clock_mhz = locked;
        d.max_sm_clock_mhz = max_clock(g);
        d.energy_per_token_j = locked ? profile_ept(g, lo, locked) : NAN;
        d.max_clock_energy_per_token_j = profile_ept(g, lo, max_clock(g));
        if (!isnan(d.tokens) && locked) {
            double eg = d.energy_per_token_j, em = d.max_clock_energy_per_token_j;
            tokens += d.tokens;
            if (!isnan(eg) && !isnan(em)) {
                est_gov += d.tokens * eg;
                est_max += d.tokens * em;
            }
        }
        int clock = joule_governor_step(g, d.load, d.itl_p90_s, d.ttft_p90_s, &d.reason);
        d.sm_clock_mhz = clock;
        if (clock != locked) {
            for (int i = 0; i < ngpus && !rc; i++)
                if ((rc = joule_gpu_lock_clocks_mhz(ctx, gpus[i], clock, clock)))
                    rc = joule_set_error(rc, "cannot lock gpu%d at %d MHz: %s", gpus[i], clock,
                                         joule_last_error());
            if (rc)
                break;
            locked = clock;
        }
        if (log)
            log(user, &d);
        next += interval_s;
        sleep_until_or_stop(next, stop);
    }
    curl_easy_cleanup(e);
    free(b.p);
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->time_s = joule_now_s() - t0;
        summary->energy_j = NAN;
        summary->tokens = tokens;
        summary->est_governed_j = est_gov;
        summary->est_max_clock_j = est_max;
        summary->est_saving = est_max > 0 ? 1 - est_gov / est_max : NAN;
    }
    joule_result *res = NULL;
    if (wopen && joule_window_end(ctx, wname, 0, &res) == 0 && summary) {
        double en = 0;
        summary->time_s = joule_result_time_s(res);
        for (int i = 0; i < joule_device_count(ctx); i++) {
            const joule_device *dv = joule_device_at(ctx, i);
            for (int k = 0; k < ngpus; k++)
                if (joule_device_kind(dv) == JOULE_KIND_GPU && joule_device_index(dv) == gpus[k])
                    en += joule_result_energy_j(res, i, NULL, NULL);
        }
        summary->energy_j = en;
    }
    joule_result_free(res);
    if (summary)
        summary->energy_per_token_j = tokens > 0 ? summary->energy_j / tokens : NAN;
    char saved[512] = "";
    if (rc)
        snprintf(saved, sizeof saved, "%s", joule_last_error());
    int rrc = joule_restore(ctx);
    if (rc)
        return joule_set_error(rc, "%s", saved);
    if (rrc)
        return rrc;
    return 0;
}
