/* Turns each device's raw reading into one monotonic 64-bit microjoule
 * count: wrap-corrected for counters that wrap (RAPL), integrated
 * (trapezoids) for devices that only report power. */
#include "core/counter.h"

#include <stdlib.h>

#include "core/context.h"
#include "core/edge.h"
#include "base/error.h"
#include "base/export.h"

/* Power in mW for integration: instant where the device has it. */
static int read_power_locked(struct joule_device *d, uint32_t *mw)
{
    if (!d->ops->read_power_mw)
        return joule_set_error(JOULE_ENOTSUP, "%s (%s) reports neither energy nor power",
                               d->label, d->name);
    int rc = JOULE_ENOTSUP;
    if (d->caps & JOULE_CAP_POWER_INSTANT)
        rc = d->ops->read_power_mw(d, JDEV_POWER_INSTANT, mw);
    if (rc && (d->caps & JOULE_CAP_POWER_AVERAGE))
        rc = d->ops->read_power_mw(d, JDEV_POWER_AVERAGE, mw);
    return rc;
}

int counters_create(struct joule_ctx *ctx)
{
    ctx->counters = calloc((size_t)(ctx->ndev ? ctx->ndev : 1), sizeof *ctx->counters);
    if (!ctx->counters)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < ctx->ndev; i++) {
        struct joule_device *d = ctx->devs[i];
        ctx->counters[i].update_period_us = d->update_period_us;
        ctx->counters[i].power_period_us = d->power_period_us;
        d->core = &ctx->counters[i];
    }
    return 0;
}

void counters_destroy(struct joule_ctx *ctx)
{
    for (int i = 0; i < ctx->ndev; i++)
        ctx->devs[i]->core = NULL;
    free(ctx->counters);
    ctx->counters = NULL;
}

const struct device_counter *counter_of(const struct joule_device *d)
{
    return d->core;
}

double counter_update_period_us(const struct device_counter *c)
{
    double v;
    __atomic_load(&c->update_period_us, &v, __ATOMIC_RELAXED);
    return v;
}

static uint64_t wrap_delta(const struct joule_device *d, uint64_t last, uint64_t raw)
{
    if (raw >= last)
        return raw - last;
    if (d->counter_range_uj && last <= d->counter_range_uj)
        return d->counter_range_uj - last + raw;
    return 0; /* a non-wrapping counter went back: driver reload; skip */
}

int jctx_read_energy_uj(struct joule_ctx *ctx, int i, uint64_t *uj, int64_t *t_ns)
{
    *t_ns = joule_now_ns();
    return jctx_read_energy_at(ctx, i, *t_ns, uj);
}

/* With device i's lock held: reads its raw counter, or its power when it
 * has no counter. */
int counter_read_raw_locked(struct joule_device *d, uint64_t *raw)
{
    if (d->ops->read_energy_uj)
        return d->ops->read_energy_uj(d, raw);
    uint32_t mw = 0;
    int rc = read_power_locked(d, &mw);
    *raw = mw;
    return rc;
}

/* With device i's lock held: folds a read (rc, raw) made over [t, end]
 * into the wrap-corrected total, or, without a counter, into the power
 * integral; feeds the edge tracker. *uj gets the total. */
int counter_apply_locked(struct joule_ctx *ctx, int i, int64_t t, int64_t end, int rc,
                         uint64_t raw, uint64_t *uj)
{
    struct joule_device *d = ctx->devs[i];
    struct device_counter *c = &ctx->counters[i];
    /* Reads of one device are ordered by its lock; a caller's timestamp
     * taken just before a keeper read must not make time run backwards. */
    if (c->have_last && t < c->last_read_ns)
        t = c->last_read_ns;
    if (rc == 0 && d->ops->read_energy_uj) {
        if (c->have_last) {
            uint64_t delta = wrap_delta(d, c->last_raw_uj, raw);
            c->total_uj += delta;
            int64_t dt = t - c->last_read_ns;
            if (dt >= (int64_t)(counter_update_period_us(c) * 1000.0) && dt > 0) {
                /* Saturate: converting a double above UINT32_MAX is
                 * undefined (a full-range step in 1 ms is ~1e11 mW). */
                double mw = (double)delta * 1e6 / (double)dt;
                c->recent_power_mw = mw >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)mw;
            }
        }
        c->last_raw_uj = raw;
        if (ctx->edges)
            edge_counter_read(&ctx->edges[i], t, end < t ? t : end, raw, c->total_uj);
    } else if (rc == 0) {
        uint32_t mw = (uint32_t)raw;
        if (c->have_last) {
            double dt = (double)(t - c->last_read_ns);
            c->integral_uj += ((double)c->last_power_mw + mw) / 2.0 * dt / 1e6;
            c->total_uj = (uint64_t)c->integral_uj;
        }
        c->last_power_mw = c->recent_power_mw = mw;
    }
    if (rc == 0) {
        c->have_last = 1;
        c->last_read_ns = t;
    }
    c->last_status = rc;
    *uj = c->total_uj;
    return rc;
}

/* With device i's lock held: one read at t, folded in. */
static int read_at_locked(struct joule_ctx *ctx, int i, int64_t t, uint64_t *uj)
{
    uint64_t raw = 0;
    int rc = counter_read_raw_locked(ctx->devs[i], &raw);
    return counter_apply_locked(ctx, i, t, joule_now_ns(), rc, raw, uj);
}

int jctx_read_energy_at(struct joule_ctx *ctx, int i, int64_t t, uint64_t *uj)
{
    struct joule_device *d = ctx->devs[i];
    pthread_mutex_lock(&d->lock);
    int rc = read_at_locked(ctx, i, t, uj);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int jctx_try_read_energy_uj(struct joule_ctx *ctx, int i, int64_t fresh_ns, uint64_t *uj,
                            int64_t *t_ns)
{
    struct joule_device *d = ctx->devs[i];
    if (pthread_mutex_trylock(&d->lock))
        return JCTX_SKIPPED;
    const struct device_counter *c = &ctx->counters[i];
    *t_ns = joule_now_ns();
    int fresh = c->have_last && *t_ns - c->last_read_ns < fresh_ns;
    int rc = fresh ? JCTX_SKIPPED : read_at_locked(ctx, i, *t_ns, uj);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_update(joule_ctx *ctx)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    int first = 0;
    for (int i = 0; i < ctx->ndev; i++) {
        uint64_t uj;
        int64_t t;
        int rc = jctx_read_energy_uj(ctx, i, &uj, &t);
        if (rc && !first)
            first = rc;
    }
    return first;
}

JOULE_EXPORT int joule_device_energy_j(joule_ctx *ctx, int i, double *joules, int *quality)
{
    if (!ctx || i < 0 || i >= ctx->ndev || !joules)
        return joule_set_error(JOULE_EINVAL, "device %d out of range", i);
    uint64_t uj;
    int64_t t;
    int rc = jctx_read_energy_uj(ctx, i, &uj, &t);
    *joules = (double)uj / 1e6;
    if (quality)
        *quality = rc ? JOULE_QUALITY_ERROR
                      : ctx->devs[i]->ops->read_energy_uj ? JOULE_QUALITY_EXACT
                                                          : JOULE_QUALITY_APPROX;
    return rc;
}

JOULE_EXPORT int joule_device_energy_at(joule_ctx *ctx, int i, double *joules, double *t_s)
{
    if (!ctx || i < 0 || i >= ctx->ndev || !joules || !t_s)
        return joule_set_error(JOULE_EINVAL, "device %d out of range", i);
    uint64_t uj;
    int64_t t;
    int rc = jctx_read_energy_uj(ctx, i, &uj, &t);
    *joules = (double)uj / 1e6;
    *t_s = (double)t / 1e9;
    return rc;
}

JOULE_EXPORT int joule_device_power_w(joule_ctx *ctx, int i, double *watts)
{
    if (!ctx || i < 0 || i >= ctx->ndev || !watts)
        return joule_set_error(JOULE_EINVAL, "device %d out of range", i);
    struct joule_device *d = ctx->devs[i];
    uint32_t mw = 0;
    int rc;
    pthread_mutex_lock(&d->lock);
    if (d->ops->read_power_mw) {
        rc = read_power_locked(d, &mw);
    } else {
        /* Counter-only devices (RAPL): power over the last reads. */
        mw = ctx->counters[i].recent_power_mw;
        rc = 0;
    }
    pthread_mutex_unlock(&d->lock);
    *watts = mw / 1000.0;
    return rc;
}
