/* The public device accessors (joule_device_*) and the GPU lookup the
 * GPU-level API uses. What they return was filled by the backend, except
 * the label and index the core assigns and the periods it learns. */
#include <string.h>

#include "base/error.h"
#include "base/export.h"
#include "core/context.h"
#include "core/counter.h"

struct joule_device *jctx_gpu(struct joule_ctx *ctx, int gpu)
{
    if (!ctx) {
        joule_set_error(JOULE_EINVAL, "context is NULL");
        return NULL;
    }
    int gpus = 0;
    for (int i = 0; i < ctx->ndev; i++) {
        struct joule_device *d = ctx->devs[i];
        if (d->kind != JOULE_KIND_GPU)
            continue;
        gpus++;
        if (d->index == gpu)
            return d;
    }
    joule_set_error(JOULE_ENODEV, "gpu%d is not monitored by this context (%d GPU%s)",
                    gpu, gpus, gpus == 1 ? "" : "s");
    return NULL;
}

/* ---- accessors ---- */

JOULE_EXPORT int joule_device_count(const joule_ctx *ctx) { return ctx ? ctx->ndev : 0; }

JOULE_EXPORT const joule_device *joule_device_at(const joule_ctx *ctx, int i)
{
    if (!ctx || i < 0 || i >= ctx->ndev) {
        joule_set_error(JOULE_EINVAL, "device %d out of range", i);
        return NULL;
    }
    return ctx->devs[i];
}

JOULE_EXPORT enum joule_device_kind joule_device_kind(const joule_device *d) { return d->kind; }
JOULE_EXPORT int joule_device_index(const joule_device *d) { return d->index; }
JOULE_EXPORT const char *joule_device_name(const joule_device *d) { return d->name; }
JOULE_EXPORT const char *joule_device_label(const joule_device *d) { return d->label; }
JOULE_EXPORT const char *joule_device_backend(const joule_device *d) { return d->backend; }
JOULE_EXPORT const char *joule_device_uuid(const joule_device *d) { return d->uuid; }
JOULE_EXPORT uint32_t joule_device_caps(const joule_device *d) { return d->caps; }
JOULE_EXPORT double joule_device_energy_resolution_uj(const joule_device *d) { return d->resolution_uj; }
JOULE_EXPORT double joule_device_update_period_us(const joule_device *d)
{
    const struct device_counter *c = counter_of(d);
    return c ? counter_update_period_us(c) : d->update_period_us;
}
JOULE_EXPORT const char *joule_device_note(const joule_device *d) { return d->note; }
JOULE_EXPORT const char *joule_device_pci_bus_id(const joule_device *d) { return d->pci_bus_id; }

JOULE_EXPORT const char *joule_device_arch(const joule_device *d)
{
    /* Backends write "unknown" when the vendor library has no name for it. */
    return strcmp(d->arch, "unknown") ? d->arch : "";
}

JOULE_EXPORT int joule_device_power_scope(const joule_device *d)
{
    return d->power_scope == JOULE_POWER_SCOPE_GPU || d->power_scope == JOULE_POWER_SCOPE_MODULE
               ? d->power_scope
               : JOULE_POWER_SCOPE_NONE;
}
