/* Device access shared by the control files: a GPU locked by index, its
 * record of changed settings, and the "cannot do this" error. */
#include <pthread.h>

#include "core/control.h"
#include "base/error.h"

struct ctl_dev *ctl_of(struct joule_ctx *ctx, struct joule_device *d)
{
    struct control_state *st = ctx->control;
    if (!st)
        return NULL;
    for (int i = 0; i < st->n; i++)
        if (st->dev[i].d == d)
            return &st->dev[i];
    return NULL;
}

/* The GPU, locked; NULL with the error set. */
struct joule_device *ctl_lock_gpu(joule_ctx *ctx, int gpu)
{
    struct joule_device *d = jctx_gpu(ctx, gpu);
    if (d)
        pthread_mutex_lock(&d->lock);
    return d;
}

int ctl_unsupported(const struct joule_device *d, const char *what)
{
    return joule_set_error(JOULE_ENOTSUP, "%s (%s, %s backend) cannot %s", d->label,
                           d->name, d->backend, what);
}
