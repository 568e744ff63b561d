/* joule_parse_gpu_list: the one reader of a user's list of GPUs, for the
 * CLI's --gpus, jouled's {id} and ?gpus=, and the Python binding. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"
#include "core/context.h"

/* The GPU named by one entry ("2", "gpu2" or a UUID), or -1. */
static int resolve(joule_ctx *ctx, const char *entry, size_t len)
{
    const char *num = len > 3 && !strncmp(entry, "gpu", 3) ? entry + 3 : entry;
    size_t numlen = len - (size_t)(num - entry);
    char *end;
    errno = 0;
    long k = numlen && num[0] >= '0' && num[0] <= '9' ? strtol(num, &end, 10) : -1;
    int numeric = k >= 0 && !errno && end == num + numlen;
    for (int i = 0; i < ctx->ndev; i++) {
        const struct joule_device *d = ctx->devs[i];
        if (d->kind != JOULE_KIND_GPU)
            continue;
        if (numeric ? d->index == k
                    : d->uuid[0] && strlen(d->uuid) == len && !strncmp(d->uuid, entry, len))
            return d->index;
    }
    return -1;
}

static void list_present(joule_ctx *ctx, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < ctx->ndev && used < cap; i++)
        if (ctx->devs[i]->kind == JOULE_KIND_GPU)
            used += (size_t)snprintf(out + used, cap - used, "%sgpu%d", used ? ", " : "",
                                     ctx->devs[i]->index);
}

JOULE_EXPORT int joule_parse_gpu_list(joule_ctx *ctx, const char *list, int *gpus, int cap)
{
    if (!ctx || !list || !gpus || cap < 1)
        return joule_set_error(JOULE_EINVAL, "joule_parse_gpu_list: NULL argument");
    int n = 0;
    if (!strcmp(list, "all")) {
        for (int i = 0; i < ctx->ndev; i++) {
            if (ctx->devs[i]->kind != JOULE_KIND_GPU)
                continue;
            if (n == cap)
                return joule_set_error(JOULE_EINVAL, "more than %d GPUs", cap);
            gpus[n++] = ctx->devs[i]->index;
        }
        if (!n)
            return joule_set_error(JOULE_ENODEV, "no GPUs found");
        return n;
    }
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return joule_set_error(JOULE_EINVAL,
                                   "GPU list '%s': empty entry at character %d (expected "
                                   "indices like 0,2, labels like gpu0, UUIDs or 'all')",
                                   list, (int)(p - list) + 1);
        int g = resolve(ctx, p, len);
        if (g < 0) {
            char present[256];
            list_present(ctx, present, sizeof present);
            return joule_set_error(JOULE_ENODEV, "GPU list '%s': no GPU '%.*s' (present: %s)",
                                   list, (int)len, p, present[0] ? present : "none");
        }
        for (int i = 0; i < n; i++)
            if (gpus[i] == g)
                return joule_set_error(JOULE_EINVAL, "GPU list '%s' names gpu%d twice", list, g);
        if (n == cap)
            return joule_set_error(JOULE_EINVAL, "GPU list '%s': more than %d GPUs", list, cap);
        gpus[n++] = g;
        if (!p[len])
            return n;
        p += len + 1;
    }
}
