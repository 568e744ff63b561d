/* The keeper: one background thread that
 *  - reads every wrapping counter often enough to never miss a wrap, and
 *    samples power-only devices so their integral stays fine-grained. A
 *    RAPL package counter of range R µJ at power P W wraps every R/P µs
 *    (262 kJ at 500 W: 8.7 minutes); the keeper reads at a quarter of the
 *    shortest such period, so the largest safe gap between reads is 4×
 *    its interval;
 *  - teaches the edge trackers (core/edge.c) when slow counters update:
 *    while a counter's timing is unknown it reads it densely (every 1 ms,
 *    or twice its read time if slower), so each update is bracketed
 *    closely; once periodic, just after each update (which records the
 *    period's energy), and every PROBE_EVERY updates, or while the model
 *    is loose, also at a random point inside the predicted update's
 *    uncertainty (which narrows it). A counter whose read is slow (an
 *    H200's takes ~3 ms of CPU) is read at most READ_BUDGET of the time:
 *    after every few updates instead of each;
 *  - reads those devices' instant power every ~5 ms, or a quarter of its
 *    refresh period once that is learned (dithered, so the reads never
 *    lock onto a power source's own refresh), so an edge knows how power
 *    moved since the counter's last update.
 * Its timing reads skip a device another thread holds or read a moment
 * ago (a window edge, the sampler): a dense window loop then teaches the
 * trackers alone, and never waits for the keeper. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "core/context.h"
#include "core/edge.h"
#include "base/error.h"

#define KEEPER_MIN_NS 1000000LL          /* 1 ms */
#define KEEPER_MAX_NS 10000000000LL      /* 10 s */
#define KEEPER_POWER_ONLY_NS 20000000LL  /* 20 ms for integrated devices */
#define KEEPER_DEFAULT_MAX_W 1000.0      /* when a device gives no bound */
#define POWER_POLL_NS 5000000.0          /* instant power, ±40 % dither */
#define AVERAGE_EVERY 4                  /* average power every 4th poll */
#define MIN_MARGIN_NS 200000.0           /* beyond a predicted update */
#define LEARN_READ_NS 1000000.0          /* counter reads while learning */
#define LEARN_BUDGET 0.25                /* of the time in counter reads */
#define READ_BUDGET 0.01                 /* the same once periodic */
#define PROBE_EVERY 4                    /* updates per narrowing probe */
#define PRECISE_SHARE 0.02               /* of a period: a tight model */
#define FRESH_READ_NS 100000LL           /* a counter read this recent will do */

struct keeper_dev {
    int64_t next_wrap, next_power, next_counter;
    int64_t target;       /* the update the probe/after pair aims at */
    int after_pending;
    unsigned polls, updates;
    double read_ns;       /* how long a counter read takes (EWMA) */
};

struct keeper {
    struct joule_ctx *ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    int64_t wrap_ns;      /* 0: no device needs wrap reads */
    uint64_t rng;
    struct keeper_dev dev[];
};

/* Interval the devices need for wraps and integrals, 0 if none. */
static int64_t needed_interval_ns(const struct joule_ctx *ctx)
{
    int64_t best = 0;
    for (int i = 0; i < ctx->ndev; i++) {
        const struct joule_device *d = ctx->devs[i];
        int64_t need = 0;
        if (!d->ops->read_energy_uj) {
            need = KEEPER_POWER_ONLY_NS;
        } else if (d->counter_range_uj) {
            double max_w = d->max_power_mw ? d->max_power_mw / 1000.0 : KEEPER_DEFAULT_MAX_W;
            double wrap_s = (double)d->counter_range_uj / 1e6 / max_w;
            need = (int64_t)(wrap_s / 4.0 * 1e9);
        }
        if (need > 0) {
            if (need < KEEPER_MIN_NS)
                need = KEEPER_MIN_NS;
            if (need > KEEPER_MAX_NS)
                need = KEEPER_MAX_NS;
            if (!best || need < best)
                best = need;
        }
    }
    return best;
}

static double rand01(struct keeper *k)
{
    k->rng ^= k->rng << 13;
    k->rng ^= k->rng >> 7;
    k->rng ^= k->rng << 17;
    return (double)(k->rng >> 11) / (double)(1ull << 53);
}

static int needs_wrap_reads(const struct joule_device *d)
{
    return d->counter_range_uj || !d->ops->read_energy_uj;
}

/* When to read device i's counter next, for its timing. */
static int64_t next_counter_read(struct keeper *k, int i, int64_t now)
{
    struct joule_device *d = k->ctx->devs[i];
    struct keeper_dev *kd = &k->dev[i];
    pthread_mutex_lock(&d->lock);
    struct timing t = k->ctx->edges[i].counter;
    pthread_mutex_unlock(&d->lock);
    double p = timing_period_ns(&t);
    if (!(p > 0))
        p = 100e6;
    double margin = fmax(MIN_MARGIN_NS, 2 * kd->read_ns);
    int64_t at;
    if (t.state == JOULE_TIMING_PERIODIC) {
        double delta;
        if (kd->after_pending) { /* just after the update the probe aimed at */
            kd->after_pending = 0;
            at = kd->target + (int64_t)(t.delta_ns + margin);
        } else {
            /* A model looser than a read can place an update is narrowed
             * by a probe before the update; one as tight as the reads
             * allow only now and then. */
            int probe = t.delta_ns > fmax(PRECISE_SHARE * p, 1.5 * kd->read_ns) ||
                        kd->updates++ % PROBE_EVERY == 0;
            /* The next update the read budget allows (a probe is a read). */
            double gap = (probe ? 2 : 1) * kd->read_ns / READ_BUDGET;
            int64_t from = now + (int64_t)gap - (int64_t)p;
            timing_next_update(&t, from > now ? from : now, &kd->target, &delta);
            if (probe) {
                /* A probe inside its uncertainty, then just after it. */
                kd->after_pending = 1;
                double w = delta + margin;
                at = kd->target - (int64_t)w + (int64_t)(rand01(k) * 2 * w);
            } else {
                at = kd->target + (int64_t)(delta + margin);
            }
        }
    } else if (t.state == JOULE_TIMING_CONTINUOUS) {
        at = now + (int64_t)p; /* finer than reads: nothing to place */
    } else {
        /* Learning: dense reads (as fast as the counter can be read
         * within the budget, at most 1 kHz) bracket each update closely
         * from the first one on. */
        double gap = fmax(LEARN_READ_NS, kd->read_ns / LEARN_BUDGET);
        at = now + (int64_t)(gap * (0.5 + rand01(k)));
    }
    return at > now ? at : now + 1;
}

/* How often to read device i's instant power: often enough to see each
 * refresh soon after it happens. */
static double power_poll_ns(struct joule_ctx *ctx, int i)
{
    struct joule_device *d = ctx->devs[i];
    pthread_mutex_lock(&d->lock);
    const struct timing *t = &ctx->edges[i].power;
    double p = t->state == JOULE_TIMING_PERIODIC ? t->period_ns : 0;
    pthread_mutex_unlock(&d->lock);
    return fmax(POWER_POLL_NS, p / 4);
}

static void do_due_reads(struct keeper *k, int64_t now)
{
    struct joule_ctx *ctx = k->ctx;
    for (int i = 0; i < ctx->ndev; i++) {
        struct keeper_dev *kd = &k->dev[i];
        uint64_t uj;
        int64_t t;
        if (now >= kd->next_wrap) { /* rare, and never skipped */
            jctx_read_energy_uj(ctx, i, &uj, &t);
            kd->next_wrap = now + k->wrap_ns;
        }
        if (!jctx_edge_tracked(ctx, i))
            continue;
        /* A device another thread is reading (a window edge, the
         * sampler), or read a moment ago, is not read again for its
         * timing: that read brings the same news, and the edge never
         * waits on the keeper. */
        if (now >= kd->next_power) {
            double poll = power_poll_ns(ctx, i);
            jctx_poll_power(ctx, i, kd->polls++ % AVERAGE_EVERY == 0, (int64_t)(poll / 4));
            kd->next_power = now + (int64_t)(poll * (0.6 + 0.8 * rand01(k)));
        }
        if (now >= kd->next_counter) {
            if (jctx_try_read_energy_uj(ctx, i, FRESH_READ_NS, &uj, &t) == JCTX_SKIPPED) {
                kd->next_counter = next_counter_read(k, i, now);
                continue;
            }
            double took = (double)(joule_now_ns() - t);
            kd->read_ns = kd->read_ns > 0 ? 0.8 * kd->read_ns + 0.2 * took : took;
            kd->next_counter = next_counter_read(k, i, joule_now_ns());
        }
    }
}

static int64_t next_due(const struct keeper *k)
{
    int64_t due = INT64_MAX;
    for (int i = 0; i < k->ctx->ndev; i++) {
        const struct keeper_dev *kd = &k->dev[i];
        int64_t d = kd->next_wrap;
        if (jctx_edge_tracked(k->ctx, i)) {
            d = d < kd->next_power ? d : kd->next_power;
            d = d < kd->next_counter ? d : kd->next_counter;
        }
        due = d < due ? d : due;
    }
    return due;
}

static void *keeper_main(void *arg)
{
    struct keeper *k = arg;
    pthread_mutex_lock(&k->lock);
    while (!k->stop) {
        int64_t due = next_due(k);
        struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
        int rc = 0;
        while (!k->stop && rc != ETIMEDOUT && joule_now_ns() < due)
            rc = pthread_cond_timedwait(&k->cond, &k->lock, &ts);
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->lock);
        do_due_reads(k, joule_now_ns());
        pthread_mutex_lock(&k->lock);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

int keeper_start(struct joule_ctx *ctx, int interval_ms)
{
    if (interval_ms < 0)
        return 0;
    int64_t wrap = interval_ms > 0 ? (int64_t)interval_ms * 1000000LL : needed_interval_ns(ctx);
    int tracked = 0;
    for (int i = 0; i < ctx->ndev; i++)
        tracked |= jctx_edge_tracked(ctx, i);
    if (wrap == 0 && !tracked)
        return 0;
    struct keeper *k = calloc(1, sizeof *k + (size_t)ctx->ndev * sizeof k->dev[0]);
    if (!k)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    k->ctx = ctx;
    k->wrap_ns = wrap;
    int64_t now = joule_now_ns();
    k->rng = (uint64_t)now | 1;
    for (int i = 0; i < ctx->ndev; i++) {
        k->dev[i].next_wrap = wrap && needs_wrap_reads(ctx->devs[i]) ? now + wrap : INT64_MAX;
        k->dev[i].next_power = k->dev[i].next_counter = now;
    }
    pthread_mutex_init(&k->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&k->thread, NULL, keeper_main, k)) {
        pthread_mutex_destroy(&k->lock);
        pthread_cond_destroy(&k->cond);
        free(k);
        return joule_set_error(JOULE_ENOMEM, "cannot start the counter keeper thread");
    }
    ctx->keeper = k;
    return 0;
}

void keeper_stop(struct joule_ctx *ctx)
{
    struct keeper *k = ctx->keeper;
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stop = 1;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->cond);
    free(k);
    ctx->keeper = NULL;
}
