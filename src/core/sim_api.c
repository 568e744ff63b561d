/* Public controls for simulated GPUs: the device's sim_ops, which only
 * the sim backend fills. */
#include "core/context.h"
#include "base/error.h"
#include "base/export.h"

static struct joule_device *sim_gpu(joule_ctx *ctx, int gpu)
{
    struct joule_device *d = jctx_gpu(ctx, gpu);
    if (d && !d->sim_ops) {
        joule_set_error(JOULE_ENOTSUP, "gpu%d (%s) is not simulated", gpu, d->name);
        return NULL;
    }
    return d;
}

JOULE_EXPORT int joule_sim_set_load(joule_ctx *ctx, int gpu, double load)
{
    struct joule_device *d = sim_gpu(ctx, gpu);
    if (!d)
        return joule_set_error(ctx ? JOULE_ENODEV : JOULE_EINVAL, "%s", joule_last_error());
    pthread_mutex_lock(&d->lock);
    int rc = d->sim_ops->set_load(d, load);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_sim_work_done(joule_ctx *ctx, int gpu, double *work)
{
    struct joule_device *d = sim_gpu(ctx, gpu);
    if (!d)
        return joule_set_error(ctx ? JOULE_ENODEV : JOULE_EINVAL, "%s", joule_last_error());
    if (!work)
        return joule_set_error(JOULE_EINVAL, "work is NULL");
    pthread_mutex_lock(&d->lock);
    int rc = d->sim_ops->work_done(d, work);
    pthread_mutex_unlock(&d->lock);
    return rc;
}
