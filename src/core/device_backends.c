/* Discovery: runs the backend table's entries (devices/registry.c) the
 * device spec asks for, and keeps each one's status for `joule info` and
 * for the errors that say why a device is missing. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"
#include "core/context.h"
#include "core/devspec.h"
#include "devices/registry.h"

/* Runs one backend and records whether it found anything and why not. */
static int run_backend(struct joule_ctx *ctx, const struct jdev_backend *b,
                       const struct jdev_discover_args *args,
                       struct jdev_list *found, int required)
{
    struct joule_backend_status *st = &ctx->backends[ctx->nbackends++];
    st->name = b->name;
    int before = found->count;
    joule_clear_error();
    int rc = b->discover(args, found, st->reason, sizeof st->reason);
    st->code = rc;
    st->available = rc == 0 && found->count > before;
    if (rc && !st->reason[0])
        snprintf(st->reason, sizeof st->reason, "%s", joule_last_error());
    if (rc == 0 && found->count == before && !st->reason[0])
        snprintf(st->reason, sizeof st->reason, "no devices found");
    /* A malformed request (bad sim spec, bad CUDA_VISIBLE_DEVICES) is the
     * caller's error, not an absent backend. */
    if (rc == JOULE_EINVAL || (rc && required))
        return joule_set_error(rc, "%s", st->reason);
    return 0;
}

static int gpu_wanted(const struct devspec *s)
{
    return s->all || s->kinds[JOULE_KIND_GPU].wanted;
}

static int cpu_wanted(const struct devspec *s)
{
    for (int k = JOULE_KIND_CPU_PACKAGE; k < JOULE_KIND_COUNT; k++)
        if (s->kinds[k].wanted)
            return 1;
    return s->all;
}

/* Walks the backend table (devices/registry.c) in its order. */
int backends_run(struct joule_ctx *ctx, const struct devspec *spec,
                 const struct jdev_discover_args *args, struct jdev_list *found)
{
    int prev_ran = 0, rc = 0;
    for (int r = 0; !rc && r < JDEV_REGISTRY_COUNT; r++) {
        const struct jdev_registry_entry *e = &jdev_registry[r];
        int named = e->by_name && args->sim_spec;
        int run = named;
        switch (e->when) {
        case JDEV_RUN_FOR_GPUS: run |= gpu_wanted(spec); break;
        case JDEV_RUN_FOR_CPUS: run |= cpu_wanted(spec); break;
        case JDEV_RUN_AFTER_REFUSAL:
            run |= prev_ran && ctx->backends[ctx->nbackends - 1].code == JOULE_EPERM;
            break;
        }
        prev_ran = run;
        if (run)
            rc = run_backend(ctx, e->backend, args, found, named);
    }
    return rc;
}

int backends_why(const struct joule_ctx *ctx, int unavailable_only, char *buf, size_t len)
{
    int code = JOULE_ENODEV; /* EPERM when a backend was refused access */
    buf[0] = '\0';
    for (int b = 0; b < ctx->nbackends; b++) {
        const struct joule_backend_status *st = &ctx->backends[b];
        if (unavailable_only && st->available)
            continue;
        if (st->code == JOULE_EPERM)
            code = JOULE_EPERM;
        size_t used = strlen(buf);
        /* One indented line per backend: the message's headline stays short
         * and each reason reads on its own (the CLI prefixes the first line
         * only). */
        snprintf(buf + used, len - used, "\n  %s: %s", st->name, st->reason);
    }
    return code;
}

JOULE_EXPORT int joule_backend_count(const joule_ctx *ctx) { return ctx ? ctx->nbackends : 0; }

JOULE_EXPORT const char *joule_backend_at(const joule_ctx *ctx, int i, int *available,
                                          const char **reason)
{
    if (!ctx || i < 0 || i >= ctx->nbackends)
        return NULL;
    if (available)
        *available = ctx->backends[i].available;
    if (reason)
        *reason = ctx->backends[i].reason;
    return ctx->backends[i].name;
}
