/* The keeper: one background thread that reads every wrapping counter
 * often enough to never miss a wrap, and samples power-only devices so
 * their integral stays fine-grained. A RAPL package counter of range R µJ
 * at power P W wraps every R/P µs (262 kJ at 500 W: 8.7 minutes); the
 * keeper reads at a quarter of the shortest such period, so the largest
 * safe gap between reads is 4× its interval. */
#include <errno.h>
#include <time.h>

#include "core/context.h"
#include "core/error.h"

#define KEEPER_MIN_NS 1000000LL          /* 1 ms */
#define KEEPER_MAX_NS 10000000000LL      /* 10 s */
#define KEEPER_POWER_ONLY_NS 20000000LL  /* 20 ms for integrated devices */
#define KEEPER_DEFAULT_MAX_W 1000.0      /* when a device gives no bound */

/* Interval the devices need, 0 if none needs a keeper. */
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

static void *keeper_main(void *arg)
{
    struct joule_ctx *ctx = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&ctx->keeper_lock);
    while (!ctx->keeper_stop) {
        int64_t ns = next.tv_nsec + ctx->keeper_interval_ns;
        next.tv_sec += ns / 1000000000LL;
        next.tv_nsec = ns % 1000000000LL;
        int rc = 0;
        while (!ctx->keeper_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&ctx->keeper_cond, &ctx->keeper_lock, &next);
        if (ctx->keeper_stop)
            break;
        pthread_mutex_unlock(&ctx->keeper_lock);
        for (int i = 0; i < ctx->ndev; i++) {
            const struct joule_device *d = ctx->devs[i];
            if (d->counter_range_uj || !d->ops->read_energy_uj) {
                uint64_t uj;
                int64_t t;
                jctx_read_energy_uj(ctx, i, &uj, &t);
            }
        }
        pthread_mutex_lock(&ctx->keeper_lock);
    }
    pthread_mutex_unlock(&ctx->keeper_lock);
    return NULL;
}

int keeper_start(struct joule_ctx *ctx, int interval_ms)
{
    if (interval_ms < 0)
        return 0;
    int64_t ns = interval_ms > 0 ? (int64_t)interval_ms * 1000000LL : needed_interval_ns(ctx);
    if (ns == 0)
        return 0;
    ctx->keeper_interval_ns = ns;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&ctx->keeper_cond);
    pthread_cond_init(&ctx->keeper_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&ctx->keeper, NULL, keeper_main, ctx))
        return joule_set_error(JOULE_ENOMEM, "cannot start the counter keeper thread");
    ctx->keeper_running = 1;
    return 0;
}

void keeper_stop(struct joule_ctx *ctx)
{
    if (!ctx->keeper_running)
        return;
    pthread_mutex_lock(&ctx->keeper_lock);
    ctx->keeper_stop = 1;
    pthread_cond_signal(&ctx->keeper_cond);
    pthread_mutex_unlock(&ctx->keeper_lock);
    pthread_join(ctx->keeper, NULL);
    ctx->keeper_running = 0;
}
