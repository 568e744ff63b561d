/* `joule run --carbon/--price`: each run's energy per UTC hour. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run_hourly.h"

/* $JOULE_HOURLY_CLOCK_OFFSET_S shifts the wall clock the hour split uses,
 * so a test can put an hour boundary inside a run of a second. */
static double clock_offset_s(void)
{
    static double offset = NAN;
    if (isnan(offset)) {
        const char *e = getenv("JOULE_HOURLY_CLOCK_OFFSET_S");
        char *end;
        double v = e ? strtod(e, &end) : 0;
        offset = e && end != e && !*end && fabs(v) < 1e9 ? v : 0;
    }
    return offset;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9 + clock_offset_s();
}

/* Every device's cumulative energy now (NAN where it cannot be read). */
static double read_all(joule_ctx *ctx, int ndev, double *cum)
{
    double t = wall_s();
    for (int i = 0; i < ndev; i++) {
        int q;
        if (joule_device_energy_j(ctx, i, &cum[i], &q))
            cum[i] = NAN;
    }
    return t;
}

static void *boundary_thread(void *arg)
{
    struct run_hourly *h = arg;
    double *cum = malloc(sizeof *cum * (size_t)(h->ndev ? h->ndev : 1));
    pthread_mutex_lock(&h->lock);
    while (!h->stop && cum) {
        double next = joule_hour_of(wall_s()) + JOULE_HOUR_S - clock_offset_s();
        struct timespec at = {(time_t)floor(next),
                              (long)((next - floor(next)) * 1e9) % 1000000000L};
        int rc = 0;
        while (!h->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&h->wake, &h->lock, &at);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->lock);
        double t = read_all(h->ctx, h->ndev, cum);
        pthread_mutex_lock(&h->lock);
        if (h->nb == h->bcap) {
            int cap = h->bcap ? 2 * h->bcap : 8;
            double *bt = realloc(h->bt, sizeof *bt * (size_t)cap);
            if (bt)
                h->bt = bt;
            double *bc = realloc(h->bcum, sizeof *bc * (size_t)cap * (size_t)h->ndev);
            if (bc)
                h->bcum = bc;
            if (!bt || !bc)
                continue; /* that boundary is lost: its run is split coarser */
            h->bcap = cap;
        }
        h->bt[h->nb] = t;
        memcpy(h->bcum + (size_t)h->nb * h->ndev, cum, sizeof *cum * (size_t)h->ndev);
        h->nb++;
    }
    pthread_mutex_unlock(&h->lock);
    free(cum);
    return NULL;
}

int run_hourly_start(struct run_hourly *h, joule_ctx *ctx, int runs)
{
    memset(h, 0, sizeof *h);
    h->ctx = ctx;
    clock_offset_s(); /* read once, before the thread */
    h->ndev = joule_device_count(ctx);
    h->runs = runs;
    size_t nd = (size_t)(h->ndev ? h->ndev : 1);
    h->labels = calloc(nd, sizeof *h->labels);
    h->cum0 = calloc(nd, sizeof *h->cum0);
    h->per_run = calloc((size_t)runs, sizeof *h->per_run);
    if (!h->labels || !h->cum0 || !h->per_run) {
        fprintf(stderr, "joule run: out of memory\n");
        return 1;
    }
    for (int i = 0; i < h->ndev; i++)
        h->labels[i] = joule_device_label(joule_device_at(ctx, i));
    for (int r = 0; r < runs; r++)
        hourly_table_init(&h->per_run[r], h->ndev, h->labels);
    hourly_table_init(&h->total, h->ndev, h->labels);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    h->inited = 1;
    if (pthread_create(&h->thread, NULL, boundary_thread, h)) {
        fprintf(stderr, "joule run: cannot start the hour-boundary thread\n");
        return 1;
    }
    h->started = 1;
    return 0;
}

void run_hourly_begin(struct run_hourly *h)
{
    h->t0 = read_all(h->ctx, h->ndev, h->cum0);
}

void run_hourly_end(struct run_hourly *h, int r, const double *energy_j)
{
    int nd = h->ndev;
    double *cum1 = malloc(sizeof *cum1 * (size_t)(nd ? nd : 1));
    if (!cum1 || r < 0 || r >= h->runs) {
        free(cum1);
        return;
    }
    double t1 = read_all(h->ctx, nd, cum1);
    pthread_mutex_lock(&h->lock);
    int mids = 0;
    for (int b = 0; b < h->nb; b++)
        mids += h->bt[b] > h->t0 && h->bt[b] < t1;
    int n = mids + 2;
    double *t = malloc(sizeof *t * (size_t)n), *cum = malloc(sizeof *cum * (size_t)n);
    double *hours = malloc(sizeof *hours * (size_t)n), *js = malloc(sizeof *js * (size_t)n);
    for (int i = 0; i < nd && t && cum && hours && js; i++) {
        if (isnan(energy_j[i]))
            continue;
        int m = 0;
        t[m] = h->t0;
        cum[m++] = h->cum0[i];
        for (int b = 0; b < h->nb; b++)
            if (h->bt[b] > h->t0 && h->bt[b] < t1) {
                t[m] = h->bt[b];
                cum[m++] = h->bcum[(size_t)b * nd + i];
            }
        t[m] = t1;
        cum[m++] = cum1[i];
        int nh = joule_hourly_split(t, cum, m, hours, js, n);
        if (nh <= 0) { /* no time passed: all of it in the hour of the end */
            nh = 1;
            hours[0] = joule_hour_of(t1);
            js[0] = 0;
        }
        double sum = 0;
        int usable = 1;
        for (int k = 0; k < nh; k++) {
            sum += js[k];
            usable &= isfinite(js[k]) && js[k] >= 0;
        }
        for (int k = 0; k < nh; k++) {
            double part = usable && sum > 0 ? js[k] * energy_j[i] / sum : energy_j[i] / nh;
            hourly_table_add(&h->per_run[r], hours[k], i, part);
        }
    }
    pthread_mutex_unlock(&h->lock);
    free(t);
    free(cum);
    free(hours);
    free(js);
    free(cum1);
}

void run_hourly_finish(struct run_hourly *h)
{
    if (h->started) {
        pthread_mutex_lock(&h->lock);
        h->stop = 1;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->thread, NULL);
        h->started = 0;
    }
    if (h->finished)
        return;
    h->finished = 1;
    for (int r = 0; r < h->runs; r++)
        for (int k = 0; k < h->per_run[r].nh; k++)
            for (int i = 0; i < h->ndev; i++)
                hourly_table_add(&h->total, h->per_run[r].hours[k], i,
                                 h->per_run[r].j[(size_t)k * h->ndev + i]);
}

void run_hourly_free(struct run_hourly *h)
{
    run_hourly_finish(h);
    if (h->inited) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->wake);
    }
    for (int r = 0; h->per_run && r < h->runs; r++)
        hourly_table_free(&h->per_run[r]);
    hourly_table_free(&h->total);
    free(h->per_run);
    free(h->labels);
    free(h->cum0);
    free(h->bt);
    free(h->bcum);
    memset(h, 0, sizeof *h);
}
