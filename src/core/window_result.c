/* What a window measured: each device's energy between its begin and end
 * edges, its uncertainty and its quality (core/window_result.h). */
#include "core/window_result.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/context.h"
#include "core/edge.h"
#include "base/error.h"
#include "core/result.h"
#include "core/sampler.h"

/* Power readings of GPUs without a counter are within ±5 % (NVML's
 * documented accuracy); the bound adds the same again for what sampling
 * between reads misses. */
#define INTEGRATED_ERROR 0.10

/* A counter device's energy over the window: the counter difference
 * with both edges put at their true instants (core/edge.c), or, with the
 * correction off, the plain difference and how far off that can be. */
static void counter_energy(struct joule_ctx *ctx, int i, const struct edge_value *b,
                           const struct edge_value *e, const struct edge_span *span,
                           double time_s, struct result_device *rd)
{
    const struct joule_device *d = ctx->devs[i];
    double counted = (double)(e->total_uj - b->total_uj);
    double uj, bound, unseen = b->unseen_uj + e->unseen_uj;
    if (span->same_step) {
        /* One counter step: only power between the edges counts. */
        uj = span->uj;
        bound = span->bound_uj;
        unseen = b->unseen_uj + span->unseen_uj;
        rd->plain_j = 0;
        rd->plain_bound_j = (uj + bound) / 1e6;
    } else {
        if (ctx->edge_correction) {
            /* Energy is never negative: a window of microseconds across
             * a counter update can estimate below 0, and clamping only
             * makes the error smaller. */
            uj = counted + e->corr_uj - b->corr_uj;
            if (uj < 0)
                uj = 0;
            bound = b->bound_uj + e->bound_uj;
        } else {
            uj = counted;
            bound = b->lag_uj + e->lag_uj;
        }
        rd->plain_j = counted / 1e6;
        rd->plain_bound_j = (b->lag_uj + e->lag_uj) / 1e6;
    }
    rd->energy_j = uj / 1e6;
    rd->uncertainty_j = bound / 1e6;
    /* EXACT also allows for a jump no reading could show yet. */
    double worst = bound + (ctx->edge_correction ? unseen : 0);
    if (worst <= 0.01 * fabs(uj))
        rd->quality = JOULE_QUALITY_EXACT;
    else if (time_s * 1e6 < joule_device_update_period_us(d))
        rd->quality = JOULE_QUALITY_BELOW_RESOLUTION;
    else
        rd->quality = JOULE_QUALITY_APPROX;
}

/* A device without a counter: the sampler's finer step-function integral
 * when one is running, else the keeper's trapezoids; either may miss the
 * power's own noise and any step between reads (docs/measurement.md). */
static void integrated_energy(struct joule_ctx *ctx, int i, int64_t begin_ns, int64_t end_ns,
                              uint64_t counted, struct result_device *rd)
{
    double sampled_uj;
    rd->quality = JOULE_QUALITY_APPROX;
    rd->energy_j = (double)counted / 1e6;
    pthread_rwlock_rdlock(&ctx->sampler_lock);
    if (ctx->sampler && sampler_running(ctx->sampler) &&
        sampler_energy_uj(ctx->sampler, i, begin_ns / 1000, end_ns / 1000, &sampled_uj) == 0)
        rd->energy_j = sampled_uj / 1e6;
    pthread_rwlock_unlock(&ctx->sampler_lock);
    rd->uncertainty_j = INTEGRATED_ERROR * fabs(rd->energy_j);
    rd->plain_j = rd->energy_j;
    rd->plain_bound_j = rd->uncertainty_j;
}

joule_result *window_measure(struct joule_ctx *ctx, const char *name, int64_t begin_ns,
                             double begin_unix_s, struct edge_value *begin,
                             const int *begin_status, int64_t end_ns)
{
    joule_result *r = result_new(ctx->ndev, name);
    if (!r)
        return NULL;
    r->time_s = (double)(end_ns - begin_ns) / 1e9;
    r->start_unix_s = begin_unix_s;
    int n = ctx->ndev;
    struct edge_value ends[n ? n : 1];
    int status[n ? n : 1];
    struct edge_span spans[n ? n : 1];
    char errors[n ? n : 1][JCTX_ERROR_LEN];
    jctx_read_edges(ctx, end_ns, ends, status, errors, begin, spans);
    for (int i = 0; i < n; i++) {
        struct joule_device *d = ctx->devs[i];
        struct result_device *rd = &r->dev[i];
        const struct edge_value *ev = &ends[i];
        rd->kind = d->kind;
        rd->status = 0;
        rd->error[0] = '\0';
        memcpy(rd->label, d->label, sizeof rd->label);
        if (begin_status[i] || status[i]) {
            rd->status = begin_status[i] ? begin_status[i] : status[i];
            rd->quality = JOULE_QUALITY_ERROR;
            rd->energy_j = rd->uncertainty_j = rd->plain_j = rd->plain_bound_j = NAN;
            if (status[i])
                snprintf(rd->error, sizeof rd->error, "%s", errors[i]);
            else
                snprintf(rd->error, sizeof rd->error, "%s: failed at window begin", d->label);
            continue;
        }
        if (d->ops->read_energy_uj)
            counter_energy(ctx, i, &begin[i], ev, &spans[i], r->time_s, rd);
        else
            integrated_energy(ctx, i, begin_ns, end_ns, ev->total_uj - begin[i].total_uj, rd);
    }
    return r;
}
