/* Reading a GPU's power limits, clocks, temperature, throttle reasons and
 * persistence mode through the public API. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/control.h"
#include "base/error.h"
#include "base/export.h"

JOULE_EXPORT int joule_gpu_get_power_limit_w(joule_ctx *ctx, int gpu, double *current_w,
                                             double *min_w, double *max_w,
                                             double *default_w, double *enforced_w)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    struct jdev_power_limits l = {0};
    int rc = d->ops->get_power_limits ? d->ops->get_power_limits(d, &l)
                                      : ctl_unsupported(d, "report power limits");
    pthread_mutex_unlock(&d->lock);
    if (rc)
        return rc;
    if (current_w)
        *current_w = l.current_mw / 1000.0;
    if (min_w)
        *min_w = l.min_mw / 1000.0;
    if (max_w)
        *max_w = l.max_mw / 1000.0;
    if (default_w)
        *default_w = l.default_mw / 1000.0;
    if (enforced_w)
        *enforced_w = l.enforced_mw / 1000.0;
    return 0;
}

JOULE_EXPORT int joule_gpu_clocks_mhz(joule_ctx *ctx, int gpu, int *sm_mhz, int *mem_mhz)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int sm = 0, mem = 0;
    int rc = d->ops->read_clocks_mhz ? d->ops->read_clocks_mhz(d, &sm, &mem)
                                     : ctl_unsupported(d, "report clocks");
    pthread_mutex_unlock(&d->lock);
    if (rc)
        return rc;
    if (sm_mhz)
        *sm_mhz = sm;
    if (mem_mhz)
        *mem_mhz = mem;
    return 0;
}

JOULE_EXPORT int joule_gpu_temperature_c(joule_ctx *ctx, int gpu, int *celsius)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int c = 0;
    int rc = d->ops->read_temperature_c ? d->ops->read_temperature_c(d, &c)
                                        : ctl_unsupported(d, "report its temperature");
    pthread_mutex_unlock(&d->lock);
    if (!rc && celsius)
        *celsius = c;
    return rc;
}

JOULE_EXPORT int joule_gpu_throttle_reasons(joule_ctx *ctx, int gpu, uint64_t *mask)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    uint64_t m = 0;
    int rc = d->ops->read_throttle ? d->ops->read_throttle(d, &m)
                                   : ctl_unsupported(d, "report throttle reasons");
    pthread_mutex_unlock(&d->lock);
    if (!rc && mask)
        *mask = m;
    return rc;
}

JOULE_EXPORT int joule_gpu_supported_clocks_mhz(joule_ctx *ctx, int gpu, int *mhz, int cap)
{
    if (cap < 0 || (cap > 0 && !mhz))
        return joule_set_error(JOULE_EINVAL, "supported clocks: need a buffer for %d values", cap);
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int rc = d->ops->supported_clocks_mhz ? d->ops->supported_clocks_mhz(d, mhz, cap)
                                          : ctl_unsupported(d, "list its supported clocks");
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static const char *const throttle_names[] = {
    "gpu_idle",   "app_clocks", "sw_power_cap",   "hw_slowdown",    "sync_boost",
    "sw_thermal", "hw_thermal", "hw_power_brake", "display_clocks",
};

JOULE_EXPORT int joule_throttle_names(uint64_t mask, char *buf, size_t len)
{
    if (!buf || len == 0)
        return joule_set_error(JOULE_EINVAL, "joule_throttle_names: no buffer");
    char tmp[256] = "";
    size_t used = 0;
    int n = 0;
    for (unsigned b = 0; b < sizeof throttle_names / sizeof throttle_names[0]; b++)
        if (mask & (1ull << b))
            used += (size_t)snprintf(tmp + used, sizeof tmp - used, "%s%s", n++ ? "," : "",
                                     throttle_names[b]);
    uint64_t unknown = mask & ~((1ull << (sizeof throttle_names / sizeof throttle_names[0])) - 1);
    if (unknown)
        snprintf(tmp + used, sizeof tmp - used, "%sunknown_0x%llx", n++ ? "," : "",
                 (unsigned long long)unknown);
    if (n == 0)
        snprintf(tmp, sizeof tmp, "none");
    if (strlen(tmp) >= len) {
        memcpy(buf, tmp, len - 1);
        buf[len - 1] = '\0';
        return joule_set_error(JOULE_ERANGE,
                               "joule_throttle_names: buffer of %zu bytes is too small "
                               "for '%s'", len, tmp);
    }
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

JOULE_EXPORT int joule_gpu_get_persistence(joule_ctx *ctx, int gpu, int *on)
{
    struct joule_device *d = ctl_lock_gpu(ctx, gpu);
    if (!d)
        return ctx ? JOULE_ENODEV : JOULE_EINVAL;
    int v = 0;
    int rc = d->ops->get_persistence ? d->ops->get_persistence(d, &v)
                                     : ctl_unsupported(d, "report persistence mode");
    pthread_mutex_unlock(&d->lock);
    if (!rc && on)
        *on = v != 0;
    return rc;
}
