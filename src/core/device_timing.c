/* Each device's edge tracker (core/edge.c) and what it has learned about
 * when the device's readings change: set up at open, taught by every read
 * the core makes, and taught faster by joule_learn_timing's dense reads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/counter.h"
#include "core/edge.h"
#include "base/error.h"
#include "base/export.h"

#define LEARN_POLL_NS 1000000LL /* dense reads, about 1 kHz */

/* The option when set (1 on, 2 off), else $JOULE_EDGE_CORRECTION, else on. */
static int correction_wanted(int option)
{
    if (option)
        return option == 1;
    const char *v = getenv("JOULE_EDGE_CORRECTION");
    return !(v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no")));
}

int edges_create(struct joule_ctx *ctx, int option)
{
    ctx->edge_correction = correction_wanted(option);
    ctx->edges = calloc((size_t)(ctx->ndev ? ctx->ndev : 1), sizeof *ctx->edges);
    if (!ctx->edges)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < ctx->ndev; i++) {
        const struct joule_device *d = ctx->devs[i];
        double counter_ns = d->ops->read_energy_uj ? d->update_period_us * 1e3 : 0;
        /* Until learned, a power reading may be as stale as the counter. */
        double power_ns = d->power_period_us > 0 ? d->power_period_us * 1e3 : counter_ns;
        edge_init(&ctx->edges[i], counter_ns, power_ns, d->resolution_uj, d->max_power_mw);
    }
    return 0;
}

void edges_destroy(struct joule_ctx *ctx)
{
    free(ctx->edges);
    ctx->edges = NULL;
}

/* Classified, or not read, or not seen to change lately (a power reading
 * is steady while the power is). */
static int classified(const struct timing *t)
{
    return !t->reads || t->state == JOULE_TIMING_PERIODIC ||
           t->state == JOULE_TIMING_CONTINUOUS || t->state == JOULE_TIMING_APERIODIC ||
           (t->nrecent == TIMING_RECENT && t->recent_changes == 0);
}

/* Whether every tracked device's counter and instant power timing has
 * been classified, and its readings' noise measured against the counter
 * (a counter period with a power jump teaches nothing about noise, so a
 * device whose power keeps jumping may take the whole budget). The
 * average power is not waited for: it is only shown. */
static int all_learned(struct joule_ctx *ctx)
{
    for (int i = 0; i < ctx->ndev; i++) {
        if (!jctx_edge_tracked(ctx, i))
            continue;
        struct joule_device *d = ctx->devs[i];
        pthread_mutex_lock(&d->lock);
        const struct edge_track *e = &ctx->edges[i];
        int done = classified(&e->counter) && classified(&e->power) &&
                   (e->span_n >= EDGE_CALIBRATED || !e->pw_n);
        pthread_mutex_unlock(&d->lock);
        if (!done)
            return 0;
    }
    return 1;
}

/* Dense reads for at least min_s and at most max_s, stopping between
 * the two once every tracked counter's timing is classified. */
static void poll_densely(struct joule_ctx *ctx, double min_s, double max_s)
{
    int64_t start = joule_now_ns(), least = (int64_t)(min_s * 1e9), most = (int64_t)(max_s * 1e9);
    uint64_t rng = (uint64_t)start | 1;
    for (;;) {
        int64_t spent = joule_now_ns() - start;
        if (spent >= most || (spent >= least && all_learned(ctx)))
            break;
        for (int i = 0; i < ctx->ndev; i++) {
            uint64_t uj;
            int64_t t;
            if (ctx->devs[i]->ops->read_energy_uj)
                jctx_read_energy_uj(ctx, i, &uj, &t);
            jctx_poll_power(ctx, i, 1, 0);
        }
        /* Dithered, so reads do not lock onto a source's own period. */
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        struct timespec ts = {0, LEARN_POLL_NS / 2 + (long)(rng % LEARN_POLL_NS)};
        nanosleep(&ts, NULL);
    }
}

JOULE_EXPORT int joule_learn_timing(joule_ctx *ctx, double max_s)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    if (!(max_s >= 0 && max_s <= 60))
        return joule_set_error(JOULE_EINVAL, "learning time %g s is outside [0, 60] s", max_s);
    poll_densely(ctx, 0, max_s);
    return 0;
}

/* A source's period as far as known (µs): learned, else the mean
 * spacing of the changes seen, else 0. */
static double observed_period_us(const struct timing *t)
{
    switch (t->state) {
    case JOULE_TIMING_PERIODIC: return t->period_ns / 1e3;
    case JOULE_TIMING_CONTINUOUS: return LEARN_POLL_NS / 1e3; /* at most */
    default: return timing_mean_gap_ns(t) / 1e3;
    }
}

JOULE_EXPORT int joule_detect_update_periods(joule_ctx *ctx)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    poll_densely(ctx, 0.2, 0.2);
    for (int i = 0; i < ctx->ndev; i++) {
        struct joule_device *d = ctx->devs[i];
        struct device_counter *c = &ctx->counters[i];
        pthread_mutex_lock(&d->lock);
        double counter = observed_period_us(&ctx->edges[i].counter);
        double power = observed_period_us(&ctx->edges[i].power);
        pthread_mutex_unlock(&d->lock);
        if (!d->ops->read_energy_uj)
            counter = power;
        /* Windows read these without the device lock. */
        int measured = counter > 0 || power > 0;
        if (counter > 0)
            __atomic_store(&c->update_period_us, &counter, __ATOMIC_RELAXED);
        if (power > 0)
            __atomic_store(&c->power_period_us, &power, __ATOMIC_RELAXED);
        __atomic_store_n(&c->periods_measured, measured, __ATOMIC_RELAXED);
    }
    return 0;
}

JOULE_EXPORT const char *joule_timing_state_name(int state)
{
    static const char *const names[] = {"unknown", "learning", "periodic", "aperiodic",
                                        "continuous"};
    return state >= 0 && state <= JOULE_TIMING_CONTINUOUS ? names[state] : "invalid";
}

int jctx_periods_measured(const struct joule_ctx *ctx, int i)
{
    return __atomic_load_n(&ctx->counters[i].periods_measured, __ATOMIC_RELAXED);
}

JOULE_EXPORT double joule_device_power_period_us(const joule_device *d)
{
    double v = 0;
    const struct device_counter *c = d ? counter_of(d) : NULL;
    if (c)
        __atomic_load(&c->power_period_us, &v, __ATOMIC_RELAXED);
    else if (d)
        v = d->power_period_us;
    return v;
}

JOULE_EXPORT int joule_device_timing(joule_ctx *ctx, int i, int source, double *period_us,
                                     double *uncertainty_us, double *jitter_us)
{
    if (!ctx || i < 0 || i >= ctx->ndev)
        return joule_set_error(JOULE_EINVAL, "device %d out of range", i);
    if (source < JOULE_SOURCE_COUNTER || source > JOULE_SOURCE_POWER_AVERAGE)
        return joule_set_error(JOULE_EINVAL, "unknown timing source %d", source);
    struct joule_device *d = ctx->devs[i];
    pthread_mutex_lock(&d->lock);
    const struct edge_track *e = &ctx->edges[i];
    const struct timing *t = source == JOULE_SOURCE_COUNTER ? &e->counter
                             : source == JOULE_SOURCE_POWER ? &e->power
                                                            : &e->average;
    int state = t->state;
    double p = (state == JOULE_TIMING_APERIODIC ? timing_mean_gap_ns(t) : timing_period_ns(t)) /
               1e3;
    double u = state == JOULE_TIMING_PERIODIC ? t->delta_ns / 1e3 : NAN;
    double j = state == JOULE_TIMING_PERIODIC ? t->jitter_ns / 1e3 : NAN;
    pthread_mutex_unlock(&d->lock);
    if (period_us)
        *period_us = p;
    if (uncertainty_us)
        *uncertainty_us = u;
    if (jitter_us)
        *jitter_us = j;
    return state;
}
