#include "fidelity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/result.h"

const double fid_bucket_lo[FID_BUCKETS] = {0.12, 0.3, 1.0};
const double fid_bucket_hi[FID_BUCKETS] = {0.3, 1.0, 2.0};

#define MAX_OPEN 256

struct open_window {
    char name[32];
    int64_t end_at;
    int64_t t_begin;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {t / 1000000000LL, t % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
}

static double uniform(unsigned *seed) { return rand_r(seed) / ((double)RAND_MAX + 1.0); }

/* An edge's instant: the middle of the call that made it. */
static int edge(joule_ctx *ctx, const char *name, int end, int64_t *t, joule_result **r)
{
    int64_t a = now_ns();
    int rc = end ? joule_window_end(ctx, name, 0, r) : joule_window_begin(ctx, name, 0);
    *t = a + (now_ns() - a) / 2;
    return rc;
}

static int record(joule_ctx *ctx, const joule_result *res, int64_t tb, int64_t te,
                  fid_truth_fn truth, void *user, struct fid_record **out, int *n, int *cap)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        if (!(joule_device_caps(joule_device_at(ctx, i)) & JOULE_CAP_ENERGY_COUNTER))
            continue;
        double e0, e1;
        if (truth(user, i, tb, &e0) || truth(user, i, te, &e1))
            return -1;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 1024;
            struct fid_record *m = realloc(*out, (size_t)*cap * sizeof **out);
            if (!m)
                return -1;
            *out = m;
        }
        const struct result_device *rd = &res->dev[i];
        struct fid_record *f = &(*out)[(*n)++];
        f->device = i;
        f->begin_s = (double)tb / 1e9;
        f->len_s = res->time_s;
        f->truth_j = e1 - e0;
        f->energy_j = rd->energy_j;
        f->bound_j = rd->uncertainty_j;
        f->plain_j = rd->plain_j;
        f->plain_bound_j = rd->plain_bound_j;
        f->quality = rd->quality;
    }
    return 0;
}

int fid_run(joule_ctx *ctx, const struct fid_options *o, fid_truth_fn truth, void *user,
            struct fid_record **out)
{
    struct open_window open[MAX_OPEN];
    int nopen = 0, n = 0, cap = 0, id = 0;
    unsigned seed = o->seed;
    *out = NULL;
    int64_t start = now_ns(), stop = start + (int64_t)(o->duration_s * 1e9);
    int64_t next_open = start;
    while (next_open < stop || nopen) {
        int first = -1;
        for (int k = 0; k < nopen; k++)
            if (first < 0 || open[k].end_at < open[first].end_at)
                first = k;
        int opening = next_open < stop && (first < 0 || next_open <= open[first].end_at);
        if (opening && nopen < MAX_OPEN) {
            sleep_until(next_open);
            struct open_window *w = &open[nopen];
            snprintf(w->name, sizeof w->name, "fid%d", id++);
            int b = (int)(uniform(&seed) * FID_BUCKETS);
            double len = fid_bucket_lo[b] + uniform(&seed) * (fid_bucket_hi[b] - fid_bucket_lo[b]);
            if (edge(ctx, w->name, 0, &w->t_begin, NULL))
                goto fail;
            w->end_at = w->t_begin + (int64_t)(len * 1e9);
            nopen++;
            next_open += (int64_t)(o->open_every_s * (0.5 + uniform(&seed)) * 1e9);
            continue;
        }
        if (opening) { /* full: skip this opening */
            next_open += (int64_t)(o->open_every_s * 1e9);
            continue;
        }
        sleep_until(open[first].end_at);
        joule_result *res = NULL;
        int64_t t_end;
        if (edge(ctx, open[first].name, 1, &t_end, &res))
            goto fail;
        int rc = record(ctx, res, open[first].t_begin, t_end, truth, user, out, &n, &cap);
        joule_result_free(res);
        if (rc)
            goto fail;
        open[first] = open[--nopen];
    }
    return n;
fail:
    fprintf(stderr, "fidelity: %s\n", joule_last_error());
    free(*out);
    *out = NULL;
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void fid_stats(const struct fid_record *r, int n, int bucket, int plain, struct fid_stats *out)
{
    memset(out, 0, sizeof *out);
    double *err = malloc((size_t)(n ? n : 1) * sizeof *err);
    int m = 0, covered = 0;
    for (int i = 0; i < n && err; i++) {
        if (r[i].len_s < fid_bucket_lo[bucket] || r[i].len_s >= fid_bucket_hi[bucket] + 0.05)
            continue;
        if (bucket + 1 < FID_BUCKETS && r[i].len_s >= fid_bucket_hi[bucket])
            continue;
        double e = plain ? r[i].plain_j : r[i].energy_j;
        double b = plain ? r[i].plain_bound_j : r[i].bound_j;
        double abs_err = fabs(e - r[i].truth_j);
        err[m++] = 100.0 * abs_err / r[i].truth_j;
        covered += abs_err <= b;
        if (!plain && r[i].quality == JOULE_QUALITY_EXACT) {
            out->exact++;
            out->exact_off += abs_err > 0.01 * r[i].truth_j;
        }
    }
    out->n = m;
    if (m) {
        qsort(err, (size_t)m, sizeof *err, cmp_double);
        out->median_pct = err[m / 2];
        out->p95_pct = err[(m * 95 + 99) / 100 - 1];
        out->coverage = (double)covered / m;
    }
    free(err);
}
