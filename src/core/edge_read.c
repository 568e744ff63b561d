/* The reads that feed the edge trackers (core/edge.c): window edges,
 * which read every device at one instant, and the power reads of the
 * keeper and the sampler. */
#include <stdio.h>
#include <string.h>

#include "core/context.h"
#include "core/counter.h"
#include "core/edge.h"
#include "base/error.h"

int jctx_edge_tracked(const struct joule_ctx *ctx, int i)
{
    const struct joule_device *d = ctx->devs[i];
    return ctx->edges && ctx->edge_correction && d->ops->read_energy_uj &&
           counter_update_period_us(&ctx->counters[i]) >= EDGE_TRACK_MIN_PERIOD_US;
}

/* Instant power in the counter's domain, or ENOTSUP: module-scope power
 * (GPU + CPU on a superchip) is not what the counter counts. */
static int read_instant_locked(const struct joule_ctx *ctx, int i, uint32_t *mw)
{
    struct joule_device *d = ctx->devs[i];
    if (!jctx_edge_tracked(ctx, i) || !d->ops->read_power_mw ||
        !(d->caps & JOULE_CAP_POWER_INSTANT) || d->power_scope == JOULE_POWER_SCOPE_MODULE)
        return -1;
    return d->ops->read_power_mw(d, JDEV_POWER_INSTANT, mw);
}

int jctx_read_edges(struct joule_ctx *ctx, int64_t t_ns, struct edge_value *v, int *status,
                    char (*errors)[JCTX_ERROR_LEN], struct edge_value *begin,
                    struct edge_span *span)
{
    /* Every device is read under its lock before any is processed, so
     * one clock read after them stamps them all: an edge costs two clock
     * reads, however many devices there are. Locks are taken in device
     * order; every other path holds one device lock at a time. */
    int n = ctx->ndev;
    uint64_t raw[n ? n : 1];
    uint32_t mw[n ? n : 1];
    char has_mw[n ? n : 1], tracked[n ? n : 1];
    for (int i = 0; i < n; i++) {
        struct joule_device *d = ctx->devs[i];
        pthread_mutex_lock(&d->lock);
        status[i] = counter_read_raw_locked(d, &raw[i]);
        if (status[i] && errors) /* the message is per thread: keep each */
            snprintf(errors[i], JCTX_ERROR_LEN, "%s", joule_last_error());
        tracked[i] = (char)jctx_edge_tracked(ctx, i);
        has_mw[i] = tracked[i] && status[i] == 0 && read_instant_locked(ctx, i, &mw[i]) == 0;
    }
    int64_t end = joule_now_ns();
    for (int i = 0; i < n; i++) {
        struct joule_device *d = ctx->devs[i];
        uint64_t uj;
        status[i] = counter_apply_locked(ctx, i, t_ns, end, status[i], raw[i], &uj);
        if (span)
            span[i].same_step = 0;
        struct edge_track *e = ctx->edges ? &ctx->edges[i] : NULL;
        if (status[i] || !e || !d->ops->read_energy_uj) {
            memset(&v[i], 0, sizeof v[i]);
        } else {
            if (has_mw[i])
                edge_power_read(e, t_ns, end, mw[i]);
            if (begin && tracked[i] && begin[i].total_uj == uj && e->pw_n) {
                /* The update instant cancels: no edge to place. */
                edge_between(e, begin[i].t_ns, t_ns, &span[i]);
                memset(&v[i], 0, sizeof v[i]);
            } else if (!begin && tracked[i]) {
                /* A begin edge: estimated in full at the window's end. */
                edge_estimate_provisional(e, t_ns, ctx->counters[i].recent_power_mw, &v[i]);
            } else {
                edge_estimate(e, t_ns, ctx->counters[i].recent_power_mw, &v[i]);
                if (begin && tracked[i])
                    edge_reestimate(e, &begin[i]);
            }
        }
        v[i].t_ns = t_ns;
        v[i].total_uj = uj;
    }
    for (int i = n - 1; i >= 0; i--)
        pthread_mutex_unlock(&ctx->devs[i]->lock);
    return 0;
}

void jctx_note_power_locked(struct joule_ctx *ctx, int i, int kind, int64_t start, int64_t end,
                            uint32_t mw)
{
    const struct joule_device *d = ctx->devs[i];
    if (!jctx_edge_tracked(ctx, i) || d->power_scope == JOULE_POWER_SCOPE_MODULE)
        return;
    if (kind == JDEV_POWER_INSTANT)
        edge_power_read(&ctx->edges[i], start, end, mw);
    else if (kind == JDEV_POWER_AVERAGE)
        edge_average_read(&ctx->edges[i], start, end, mw);
}

int jctx_poll_power(struct joule_ctx *ctx, int i, int avg, int64_t fresh_ns)
{
    struct joule_device *d = ctx->devs[i];
    struct edge_track *e = &ctx->edges[i];
    uint32_t mw;
    /* Edges never read average power: that poll waits its turn. */
    if (avg)
        pthread_mutex_lock(&d->lock);
    else if (pthread_mutex_trylock(&d->lock))
        return JCTX_SKIPPED;
    int64_t start = joule_now_ns();
    if (!avg && start - edge_power_seen_ns(e) < fresh_ns) {
        pthread_mutex_unlock(&d->lock);
        return JCTX_SKIPPED;
    }
    if (read_instant_locked(ctx, i, &mw) == 0)
        edge_power_read(e, start, joule_now_ns(), mw);
    if (avg && d->ops->read_power_mw && (d->caps & JOULE_CAP_POWER_AVERAGE) &&
        d->power_scope != JOULE_POWER_SCOPE_MODULE) {
        start = joule_now_ns();
        if (d->ops->read_power_mw(d, JDEV_POWER_AVERAGE, &mw) == 0)
            edge_average_read(e, start, joule_now_ns(), mw);
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}
