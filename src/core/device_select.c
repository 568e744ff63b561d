/* Selection: numbers the GPUs the backends found, keeps the devices the
 * spec selects (every simulated one: it exists only because the spec
 * asked for it), labels them and puts them in kind, then index, order. */
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "core/context.h"
#include "core/devspec.h"
#include "devices/names.h"

/* Every explicitly named index must exist. */
static int check_named(const struct devspec *s, const struct jdev_list *found,
                       const struct joule_ctx *ctx)
{
    for (int k = 0; k < JOULE_KIND_COUNT; k++) {
        const struct devspec_kind *dk = &s->kinds[k];
        if (!dk->wanted)
            continue;
        int have = 0;
        for (int i = 0; i < found->count; i++)
            have += found->items[i]->kind == (enum joule_device_kind)k;
        for (int j = 0; j < dk->n || (dk->all && j == 0); j++) {
            int ok = 0;
            for (int i = 0; i < found->count; i++)
                ok |= found->items[i]->kind == (enum joule_device_kind)k &&
                      (dk->all || found->items[i]->index == dk->idx[j]);
            if (ok)
                continue;
            char why[1200];
            int code = backends_why(ctx, 1, why, sizeof why);
            if (dk->all)
                return joule_set_error(code, "no %s devices found%s%s", joule_kind_name(k),
                                       why[0] ? "; the backends say:" : "", why);
            return joule_set_error(code,
                "%s%d not found: %d %s device%s present%s%s",
                jdev_label_prefix(k), dk->idx[j], have, joule_kind_name(k),
                have == 1 ? "" : "s", why[0] ? "; the backends say:" : "", why);
        }
    }
    return 0;
}

int devices_select(struct joule_ctx *ctx, const struct devspec *spec, struct jdev_list *found,
                   int allow_empty)
{
    int gpus = 0;
    for (int i = 0; i < found->count; i++) {
        struct joule_device *d = found->items[i];
        if (d->kind == JOULE_KIND_GPU)
            d->index = gpus++;
    }
    int rc = check_named(spec, found, ctx);
    if (rc)
        return rc;
    ctx->devs = calloc(found->count ? found->count : 1, sizeof *ctx->devs);
    if (!ctx->devs)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < found->count; i++) {
        struct joule_device *d = found->items[i];
        /* Simulated devices exist only because the spec asked for them. */
        int simulated = (d->caps & JOULE_CAP_SIMULATED) != 0;
        if (simulated || devspec_selects(spec, d->kind, d->index)) {
            snprintf(d->label, sizeof d->label, "%s%d", jdev_label_prefix(d->kind), d->index);
            ctx->devs[ctx->ndev++] = d;
            found->items[i] = NULL;
        }
    }
    /* Kind, then index: gpu0.., cpu0.., dram0.. whatever order the
     * backends listed them in (die zones, CUDA_VISIBLE_DEVICES). */
    for (int i = 1; i < ctx->ndev; i++)
        for (int j = i; j > 0; j--) {
            struct joule_device *a = ctx->devs[j - 1], *b = ctx->devs[j];
            if (a->kind < b->kind || (a->kind == b->kind && a->index <= b->index))
                break;
            ctx->devs[j - 1] = b;
            ctx->devs[j] = a;
        }
    if (ctx->ndev == 0 && !allow_empty) {
        char why[1200];
        backends_why(ctx, 0, why, sizeof why);
        return joule_set_error(JOULE_ENODEV,
            "no devices to measure; the backends say:%s\n"
            "Try --devices sim:2:h100 for simulated GPUs", why);
    }
    return 0;
}
