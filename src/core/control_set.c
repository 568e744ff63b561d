/* The setters: power limits, locked SM and memory clocks, persistence.
 * Each records what it changes (control.h) before the first change, so
 * joule_restore() can put it back, and falls back to jouled when refused
 * locally. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "core/control.h"
#include "base/error.h"
#include "base/export.h"

static int set_limit_locked(joule_ctx *ctx, struct joule_device *d, uint32_t mw)
{
    if (!d->ops->set_power_limit_mw || !d->ops->get_power_limits)
        return ctl_unsupported(d, "set a power limit");
    struct jdev_power_limits l;
    int rc = d->ops->get_power_limits(d, &l);
    if (rc)
        return rc;
    if (mw < l.min_mw || mw > l.max_mw)
        return joule_set_error(JOULE_ERANGE,
            "power limit %.1f W is outside %s (%s)'s allowed range %.1f-%.1f W",
            mw / 1000.0, d->label, d->name, l.min_mw / 1000.0, l.max_mw / 1000.0);
    struct ctl_dev *cd = ctl_of(ctx, d);
    rc = d->ops->set_power_limit_mw(d, mw);
    rc = ctl_via_daemon(ctx->control, d, rc, DAEMON_SET_POWER_LIMIT, (int)mw, 0);
    if (rc == 0 && cd && !cd->pl_changed) {
        cd->pl_changed = 1;
        cd->pl_orig_mw = l.current_mw;
    }
    return rc;
}

JOULE_EXPORT int joule_gpu_set_power_limit_w(joule_ctx *ctx, int gpu, double watts)
{
    if (!isfinite(watts) || watts <= 0 || watts > 1e6)
        return joule_set_error(JOULE_EINVAL, "power limit %g W: need a positive number of watts",
                               watts);
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int rc = set_limit_locked(ctx, d, (uint32_t)lround(watts * 1000.0));
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_gpu_reset_power_limit(joule_ctx *ctx, int gpu)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    struct jdev_power_limits l;
    int rc = d->ops->get_power_limits ? d->ops->get_power_limits(d, &l)
                                      : ctl_unsupported(d, "report power limits");
    if (!rc)
        rc = set_limit_locked(ctx, d, l.default_mw);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int lock_range(joule_ctx *ctx, int gpu, int min_mhz, int max_mhz, int memory)
{
    const char *what = memory ? "memory" : "SM";
    if (min_mhz <= 0 || max_mhz <= 0 || min_mhz > max_mhz)
        return joule_set_error(JOULE_EINVAL,
                               "locked %s clocks %d,%d MHz: need 0 < MIN <= MAX", what,
                               min_mhz, max_mhz);
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int (*op)(struct joule_device *, int, int) =
        memory ? d->ops->lock_mem_clocks_mhz : d->ops->lock_clocks_mhz;
    int rc = op ? op(d, min_mhz, max_mhz)
                : ctl_unsupported(d, memory ? "lock memory clocks" : "lock SM clocks");
    rc = ctl_via_daemon(ctx->control, d, rc, memory ? DAEMON_LOCK_MEM_CLOCKS : DAEMON_LOCK_CLOCKS,
                    min_mhz, max_mhz);
    struct ctl_dev *cd = ctl_of(ctx, d);
    if (rc == 0 && cd) {
        if (memory)
            cd->mem_clocks_changed = 1;
        else
            cd->clocks_changed = 1;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int reset_range(joule_ctx *ctx, int gpu, int memory)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int (*op)(struct joule_device *) = memory ? d->ops->reset_mem_clocks : d->ops->reset_clocks;
    int rc = op ? op(d) : ctl_unsupported(d, memory ? "reset memory clocks" : "reset SM clocks");
    rc = ctl_via_daemon(ctx->control, d, rc, memory ? DAEMON_RESET_MEM_CLOCKS : DAEMON_RESET_CLOCKS,
                    0, 0);
    struct ctl_dev *cd = ctl_of(ctx, d);
    if (rc == 0 && cd) {
        /* Reset is what a restore would do. */
        if (memory)
            cd->mem_clocks_changed = 0;
        else
            cd->clocks_changed = 0;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_gpu_lock_clocks_mhz(joule_ctx *ctx, int gpu, int min_mhz, int max_mhz)
{
    return lock_range(ctx, gpu, min_mhz, max_mhz, 0);
}

JOULE_EXPORT int joule_gpu_reset_clocks(joule_ctx *ctx, int gpu) { return reset_range(ctx, gpu, 0); }

JOULE_EXPORT int joule_gpu_lock_memory_clocks_mhz(joule_ctx *ctx, int gpu, int min_mhz,
                                                  int max_mhz)
{
    return lock_range(ctx, gpu, min_mhz, max_mhz, 1);
}

JOULE_EXPORT int joule_gpu_reset_memory_clocks(joule_ctx *ctx, int gpu)
{
    return reset_range(ctx, gpu, 1);
}

JOULE_EXPORT int joule_gpu_set_persistence(joule_ctx *ctx, int gpu, int enable)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int rc, orig = -1;
    if (!d->ops->set_persistence) {
        rc = ctl_unsupported(d, "set persistence mode");
    } else {
        if (d->ops->get_persistence && d->ops->get_persistence(d, &orig) != 0)
            orig = -1;
        rc = d->ops->set_persistence(d, enable != 0);
        rc = ctl_via_daemon(ctx->control, d, rc, DAEMON_SET_PERSISTENCE, enable != 0, 0);
    }
    struct ctl_dev *cd = ctl_of(ctx, d);
    if (rc == 0 && cd && !cd->persist_changed && orig >= 0) {
        cd->persist_changed = 1;
        cd->persist_orig = orig;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}
