/* `joule govern --json` logs: writing the header and estimate fields, and
 * `joule analyze --govern-log`'s summary of a log (govern_log.h). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govern_log.h"

#define NREASONS 6
#define MAX_CLOCKS 64

static void num_or_null(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

void govern_log_header(FILE *f, const joule_govern_options *o, double interval_s,
                       const char *profile, const char *metrics_url)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "joule_govern_log", GOVERN_LOG_VERSION);
    num_or_null(h, "itl_slo_s", o->itl_slo_s > 0 ? o->itl_slo_s : NAN);
    num_or_null(h, "ttft_slo_s", o->ttft_slo_s > 0 ? o->ttft_slo_s : NAN);
    cJSON_AddNumberToObject(h, "margin", o->margin);
    cJSON_AddNumberToObject(h, "interval_s", interval_s);
    cJSON_AddStringToObject(h, "profile", profile);
    cJSON_AddStringToObject(h, "metrics_url", metrics_url);
    cJSON_AddNumberToObject(h, "start_unix_s", (double)ts.tv_sec + ts.tv_nsec / 1e9);
    char *t = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (t) {
        fprintf(f, "%s\n", t);
        fflush(f);
        free(t);
    }
}

void govern_log_add_estimate(cJSON *o, const joule_govern_decision *d)
{
    cJSON_AddNumberToObject(o, "tokens_clock_mhz", d->tokens_clock_mhz);
    cJSON_AddNumberToObject(o, "max_sm_clock_mhz", d->max_sm_clock_mhz);
    num_or_null(o, "energy_per_token_j", d->energy_per_token_j);
    num_or_null(o, "max_clock_energy_per_token_j", d->max_clock_energy_per_token_j);
}

int govern_log_detect(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c))
        ;
    fclose(f);
    return c == '{';
}

/* ---- reading ------------------------------------------------------------ */

struct decision {
    double t, itl, ttft, tokens, ept, max_ept;
    int clock, tokens_clock, reason, has_estimate;
};

struct glog {
    int version;
    double itl_slo, ttft_slo, interval;
    int max_clock;
    struct decision *d;
    int n, cap;
    int have_summary;
    double sum_time, sum_energy;
};

static double get_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int bad(const char *path, int line, const char *what)
{
    fprintf(stderr, "joule analyze: %s:%d: %s\n", path, line, what);
    return 1;
}

static int reason_of(const char *name)
{
    for (int r = 0; r < NREASONS; r++)
        if (!strcmp(name, joule_govern_reason_name(r)))
            return r;
    return -1;
}

static int read_record(const char *path, int line, const cJSON *o, struct glog *g)
{
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "joule_govern_log");
    if (ver) {
        if (g->n || g->version)
            return bad(path, line, "a header after the first record");
        if (!cJSON_IsNumber(ver) || ver->valuedouble != (int)ver->valuedouble ||
            ver->valueint < 2)
            return bad(path, line, "\"joule_govern_log\" is not a format version");
        if (ver->valueint > GOVERN_LOG_VERSION) {
            char m[160];
            snprintf(m, sizeof m, "format version %d is newer than this joule reads (%d); "
                     "use the joule that wrote it", ver->valueint, GOVERN_LOG_VERSION);
            return bad(path, line, m);
        }
        g->version = ver->valueint;
        g->itl_slo = get_num(o, "itl_slo_s");
        g->ttft_slo = get_num(o, "ttft_slo_s");
        g->interval = get_num(o, "interval_s");
        return 0;
    }
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(o, "summary");
    if (sum) {
        if (!cJSON_IsObject(sum))
            return bad(path, line, "\"summary\" is not an object");
        g->have_summary = 1;
        g->sum_time = get_num(sum, "time_s");
        g->sum_energy = get_num(sum, "energy_j");
        return 0;
    }
    if (!g->version)
        g->version = 1; /* decisions before any header: a version 1 log */
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
    double t = get_num(o, "t_s"), clock = get_num(o, "sm_clock_mhz");
    if (isnan(t) || isnan(clock) || !cJSON_IsString(reason))
        return bad(path, line, "not a governor log record (a decision has t_s, sm_clock_mhz "
                   "and reason; a header joule_govern_log; a summary summary)");
    int r = reason_of(reason->valuestring);
    if (r < 0)
        return bad(path, line, "unknown reason (start, keep, down, up, feedback or hold)");
    if (!(t >= 0) || !(clock >= 0 && clock < 1e6) || (g->n && t < g->d[g->n - 1].t))
        return bad(path, line, "t_s goes back in time, or a value is out of range");
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        struct decision *d = realloc(g->d, sizeof *d * (size_t)cap);
        if (!d)
            return bad(path, line, "out of memory");
        g->d = d;
        g->cap = cap;
    }
    struct decision *d = &g->d[g->n++];
    *d = (struct decision){t, get_num(o, "itl_p90_s"), get_num(o, "ttft_p90_s"),
                           get_num(o, "tokens"), get_num(o, "energy_per_token_j"),
                           get_num(o, "max_clock_energy_per_token_j"), (int)clock, 0, r, 0};
    double tc = get_num(o, "tokens_clock_mhz"), mc = get_num(o, "max_sm_clock_mhz");
    d->has_estimate = !isnan(tc);
    d->tokens_clock = isnan(tc) ? 0 : (int)tc;
    if (!isnan(mc))
        g->max_clock = (int)mc;
    return 0;
}

static int read_log(const char *path, struct glog *g)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "joule analyze: cannot open '%s'\n", path);
        return 1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0, rc = 0;
    while (!rc && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        const char *p = buf;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            continue;
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithOpts(p, &end, 0);
        while (o && end && isspace((unsigned char)*end))
            end++;
        if (!o || !cJSON_IsObject(o) || (end && *end)) {
            char m[80];
            snprintf(m, sizeof m, "column %d: not a JSON object",
                     (int)((end && end > buf ? end : p) - buf) + 1);
            rc = bad(path, line, m);
        } else {
            rc = read_record(path, line, o, g);
        }
        cJSON_Delete(o);
    }
    free(buf);
    fclose(f);
    if (!rc && g->n == 0)
        rc = bad(path, line ? line : 1, "no decisions in the log");
    return rc;
}

/* ---- the summary ------------------------------------------------------------ */

struct clock_time {
    int mhz;
    double s;
};

struct summary {
    double start, end, period;
    int reasons[NREASONS];
    struct clock_time clocks[MAX_CLOCKS];
    int nclocks;
    int observed, viol, viol_itl, viol_ttft, slo_known;
    int estimate_known;
    double tokens, est_gov, est_max;
};

static void summarise(const struct glog *g, struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->start = g->d[0].t;
    double gap = g->interval;
    if (!(gap > 0) && g->n > 1)
        gap = (g->d[g->n - 1].t - g->d[0].t) / (g->n - 1);
    s->end = g->d[g->n - 1].t + (gap > 0 ? gap : 0);
    if (g->have_summary && g->sum_time >= g->d[g->n - 1].t)
        s->end = g->sum_time;
    s->period = s->end - s->start;
    s->slo_known = g->version >= 2;
    s->estimate_known = 1;
    for (int k = 0; k < g->n; k++) {
        const struct decision *d = &g->d[k];
        s->reasons[d->reason]++;
        double until = k + 1 < g->n ? g->d[k + 1].t : s->end;
        int c = 0;
        while (c < s->nclocks && s->clocks[c].mhz != d->clock)
            c++;
        if (c == s->nclocks && c < MAX_CLOCKS)
            s->clocks[s->nclocks++] = (struct clock_time){d->clock, 0};
        if (c < MAX_CLOCKS)
            s->clocks[c].s += until - d->t;
        if (!isnan(d->itl) || !isnan(d->ttft)) {
            s->observed++;
            int vi = g->itl_slo > 0 && d->itl > g->itl_slo;
            int vt = g->ttft_slo > 0 && d->ttft > g->ttft_slo;
            s->viol_itl += vi;
            s->viol_ttft += vt;
            s->viol += vi || vt;
        }
        if (!d->has_estimate)
            s->estimate_known = 0;
        /* as joule_govern_run adds up its summary */
        if (!isnan(d->tokens) && d->tokens_clock) {
            s->tokens += d->tokens;
            if (!isnan(d->ept) && !isnan(d->max_ept)) {
                s->est_gov += d->tokens * d->ept;
                s->est_max += d->tokens * d->max_ept;
            }
        }
    }
    /* highest clock first */
    for (int i = 1; i < s->nclocks; i++)
        for (int j = i; j > 0 && s->clocks[j].mhz > s->clocks[j - 1].mhz; j--) {
            struct clock_time t = s->clocks[j];
            s->clocks[j] = s->clocks[j - 1];
            s->clocks[j - 1] = t;
        }
}

static void print_text(const char *path, const struct glog *g, const struct summary *s)
{
    printf("\n Governor log '%s' (format %d):\n\n", path, g->version);
    printf("   period:     %.3f s (t = %.3f to %.3f s)\n", s->period, s->start, s->end);
    printf("   decisions:  %d (", g->n);
    for (int r = 0, first = 1; r < NREASONS; r++)
        if (s->reasons[r]) {
            printf("%s%s %d", first ? "" : ", ", joule_govern_reason_name(r), s->reasons[r]);
            first = 0;
        }
    printf(")\n\n   %10s %12s %8s\n", "sm_clock", "time_s", "share");
    for (int c = 0; c < s->nclocks; c++)
        printf("   %6d MHz %12.3f %7.1f%%\n", s->clocks[c].mhz, s->clocks[c].s,
               s->period > 0 ? 100 * s->clocks[c].s / s->period : 0.0);
    printf("\n");
    if (!s->slo_known) {
        printf("   SLO violations: unknown (a format 1 log does not hold the SLOs)\n");
    } else {
        char itl[32] = "-", ttft[32] = "-";
        if (g->itl_slo > 0)
            snprintf(itl, sizeof itl, "%g ms", 1e3 * g->itl_slo);
        if (g->ttft_slo > 0)
            snprintf(ttft, sizeof ttft, "%g ms", 1e3 * g->ttft_slo);
        printf("   SLO violations: %d of %d observed intervals (ITL p90 > %s: %d, TTFT p90 > "
               "%s: %d)\n", s->viol, s->observed, itl, s->viol_itl, ttft, s->viol_ttft);
    }
    if (!s->estimate_known) {
        printf("   energy saved: unknown (a format 1 log does not hold the profile's energy per "
               "token; rerun joule govern with this joule)\n");
    } else if (!(s->est_max > 0)) {
        printf("   energy saved: no estimate (%.0f tokens generated at a profiled clock)\n",
               s->tokens);
    } else {
        printf("   tokens:       %.0f\n", s->tokens);
        printf("   energy (profile's energy per token at the observed load):\n"
               "     governed %.4g J, at a fixed %d MHz %.4g J: saved %.4g J (%.1f %%)\n",
               s->est_gov, g->max_clock, s->est_max, s->est_max - s->est_gov,
               100 * (1 - s->est_gov / s->est_max));
    }
    if (g->have_summary && isfinite(g->sum_energy))
        printf("   measured:     %.4g J on the governed GPUs\n", g->sum_energy);
}

static void print_json(const char *path, const struct glog *g, const struct summary *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "govern_log", path);
    cJSON_AddNumberToObject(o, "format", g->version);
    cJSON_AddNumberToObject(o, "period_s", s->period);
    cJSON_AddNumberToObject(o, "start_t_s", s->start);
    cJSON_AddNumberToObject(o, "end_t_s", s->end);
    cJSON_AddNumberToObject(o, "decisions", g->n);
    cJSON *r = cJSON_AddObjectToObject(o, "reasons");
    for (int k = 0; k < NREASONS; k++)
        cJSON_AddNumberToObject(r, joule_govern_reason_name(k), s->reasons[k]);
    cJSON *c = cJSON_AddArrayToObject(o, "time_at_clock");
    for (int k = 0; k < s->nclocks; k++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "sm_clock_mhz", s->clocks[k].mhz);
        cJSON_AddNumberToObject(x, "time_s", s->clocks[k].s);
        cJSON_AddItemToArray(c, x);
    }
    num_or_null(o, "itl_slo_s", g->itl_slo);
    num_or_null(o, "ttft_slo_s", g->ttft_slo);
    cJSON_AddNumberToObject(o, "observed_intervals", s->observed);
    if (s->slo_known) {
        cJSON *v = cJSON_AddObjectToObject(o, "slo_violations");
        cJSON_AddNumberToObject(v, "intervals", s->viol);
        cJSON_AddNumberToObject(v, "itl", s->viol_itl);
        cJSON_AddNumberToObject(v, "ttft", s->viol_ttft);
    } else {
        cJSON_AddNullToObject(o, "slo_violations");
    }
    int est = s->estimate_known && s->est_max > 0;
    cJSON_AddNumberToObject(o, "tokens", s->tokens);
    num_or_null(o, "max_sm_clock_mhz", g->max_clock ? g->max_clock : NAN);
    num_or_null(o, "est_governed_j", s->estimate_known ? s->est_gov : NAN);
    num_or_null(o, "est_max_clock_j", s->estimate_known ? s->est_max : NAN);
    num_or_null(o, "est_saved_j", s->estimate_known ? s->est_max - s->est_gov : NAN);
    num_or_null(o, "est_saving", est ? 1 - s->est_gov / s->est_max : NAN);
    num_or_null(o, "measured_energy_j", g->have_summary ? g->sum_energy : NAN);
    char *t = cJSON_Print(o);
    cJSON_Delete(o);
    if (t) {
        printf("%s\n", t);
        free(t);
    }
}

int govern_log_analyze(const char *path, int json)
{
    struct glog g = {0};
    g.itl_slo = g.ttft_slo = g.interval = NAN;
    int rc = read_log(path, &g);
    if (!rc) {
        struct summary s;
        summarise(&g, &s);
        if (json)
            print_json(path, &g, &s);
        else
            print_text(path, &g, &s);
    }
    free(g.d);
    return rc;
}
