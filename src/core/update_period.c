/* How often does each counter and power reading actually change? Polled
 * every millisecond for at most 200 ms: the period is the median gap
 * between observed changes. Sources that change at every poll report the
 * poll interval (an upper bound); those that change fewer than twice, or
 * within 15 % of their nominal period, keep the nominal period. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/error.h"
#include "core/export.h"

#define DETECT_BUDGET_NS 200000000LL
#define DETECT_POLL_NS 1000000LL
#define MAX_CHANGES 16

struct watch {
    int active, have;
    uint64_t last;
    int n;
    int64_t at[MAX_CHANGES];
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_gap_us(const struct watch *w)
{
    if (w->n < 2)
        return 0;
    int64_t gaps[MAX_CHANGES];
    for (int k = 1; k < w->n; k++)
        gaps[k - 1] = w->at[k] - w->at[k - 1];
    qsort(gaps, (size_t)(w->n - 1), sizeof gaps[0], cmp_i64);
    return (double)gaps[(w->n - 1) / 2] / 1e3;
}

static void observe(struct watch *w, uint64_t v, int64_t t)
{
    if (w->have && v != w->last && w->n < MAX_CHANGES)
        w->at[w->n++] = t;
    w->last = v;
    w->have = 1;
}

static int done(const struct watch *w, int ndev)
{
    for (int i = 0; i < 2 * ndev; i++)
        if (w[i].active && w[i].n < MAX_CHANGES)
            return 0;
    return 1;
}

JOULE_EXPORT int joule_detect_update_periods(joule_ctx *ctx)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    int n = ctx->ndev;
    struct watch *w = calloc((size_t)(n ? n : 1) * 2, sizeof *w); /* [i][counter, power] */
    if (!w)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const struct joule_device *d = ctx->devs[i];
        w[2 * i].active = d->ops->read_energy_uj != NULL;
        w[2 * i + 1].active = d->ops->read_power_mw &&
                              (d->caps & (JOULE_CAP_POWER_INSTANT | JOULE_CAP_POWER_AVERAGE));
    }
    int64_t start = joule_now_ns();
    while (joule_now_ns() - start < DETECT_BUDGET_NS && !done(w, n)) {
        for (int i = 0; i < n; i++) {
            struct joule_device *d = ctx->devs[i];
            pthread_mutex_lock(&d->lock);
            uint64_t uj;
            uint32_t mw;
            if (w[2 * i].active && d->ops->read_energy_uj(d, &uj) == 0)
                observe(&w[2 * i], uj, joule_now_ns());
            if (w[2 * i + 1].active &&
                d->ops->read_power_mw(d, (d->caps & JOULE_CAP_POWER_INSTANT) ? JDEV_POWER_INSTANT
                                                                              : JDEV_POWER_AVERAGE,
                                      &mw) == 0)
                observe(&w[2 * i + 1], mw, joule_now_ns());
            pthread_mutex_unlock(&d->lock);
        }
        struct timespec ts = {0, DETECT_POLL_NS};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < n; i++) {
        struct joule_device *d = ctx->devs[i];
        double counter = median_gap_us(&w[2 * i]), power = median_gap_us(&w[2 * i + 1]);
        /* Windows read these without the device lock. */
        if (!d->ops->read_energy_uj)
            counter = power;
        /* A measurement within 15 % of the nominal period confirms it;
         * keep the nominal value rather than one polling jitter. */
        double nominal = joule_device_update_period_us(d);
        if (counter > 0 && nominal > 0 && counter > 0.85 * nominal && counter < 1.15 * nominal)
            counter = nominal;
        if (counter > 0)
            __atomic_store(&d->update_period_us, &counter, __ATOMIC_RELAXED);
        if (power > 0)
            __atomic_store(&d->power_period_us, &power, __ATOMIC_RELAXED);
        int measured = counter > 0 || power > 0;
        __atomic_store_n(&d->periods_measured, measured, __ATOMIC_RELAXED);
    }
    free(w);
    return 0;
}

JOULE_EXPORT double joule_device_power_period_us(const joule_device *d)
{
    double v = 0;
    if (d)
        __atomic_load(&d->power_period_us, &v, __ATOMIC_RELAXED);
    return v;
}
