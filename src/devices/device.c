#include "devices/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct joule_device *jdev_new(enum joule_device_kind kind, const char *backend,
                              const struct jdev_ops *ops)
{
    struct joule_device *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->kind = kind;
    d->backend = backend;
    d->ops = ops;
    d->resolution_uj = 1.0;
    d->update_period_us = 1000.0;
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

void jdev_free(struct joule_device *d)
{
    if (!d)
        return;
    if (d->ops && d->ops->close)
        d->ops->close(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int jdev_list_push(struct jdev_list *l, struct joule_device *d)
{
    if (l->count == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        struct joule_device **items = realloc(l->items, sizeof *items * cap);
        if (!items)
            return joule_set_error(JOULE_ENOMEM, "out of memory listing devices");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = d;
    return 0;
}

void jdev_list_free_all(struct jdev_list *l)
{
    for (int i = 0; i < l->count; i++)
        jdev_free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = l->cap = 0;
}

/* Index of the one physical GPU whose UUID starts with prefix ("GPU-" is
 * optional in the prefix, as CUDA allows), -1 if none, -2 if ambiguous. */
static int match_uuid(const char *prefix, size_t len, const char *const *uuids,
                      int n)
{
    int found = -1;
    if (len >= 4 && strncmp(prefix, "GPU-", 4) == 0) {
        prefix += 4;
        len -= 4;
    }
    if (len == 0)
        return -1;
    for (int i = 0; i < n; i++) {
        const char *u = uuids[i] ? uuids[i] : "";
        if (strncmp(u, "GPU-", 4) == 0)
            u += 4;
        if (strncasecmp(u, prefix, len) == 0) {
            if (found >= 0)
                return -2;
            found = i;
        }
    }
    return found;
}

int jdev_cuda_visible_map(const char *cvd, const char *const *uuids, int n,
                          int *map, int *count)
{
    *count = 0;
    if (!cvd) {
        for (int i = 0; i < n; i++)
            map[i] = i;
        *count = n;
        return 0;
    }
    const char *p = cvd;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        if (len == 0) {
            if (!end)
                break;
            return joule_set_error(JOULE_EINVAL,
                "CUDA_VISIBLE_DEVICES='%s' has an empty entry", cvd);
        }
        int phys;
        if (strncmp(p, "MIG-", 4) == 0) {
            return joule_set_error(JOULE_ENOTSUP,
                "CUDA_VISIBLE_DEVICES entry '%.*s' is a MIG instance; joule "
                "measures whole GPUs: name the parent GPU instead",
                (int)len, p);
        } else if (p[0] == '-' && len > 1 && strspn(p + 1, "0123456789") == len - 1) {
            break; /* "-1": CUDA's idiom for "no more GPUs" (stop, like CUDA) */
        } else if (strspn(p, "0123456789") == len) {
            char *num_end;
            errno = 0;
            long v = strtol(p, &num_end, 10);
            if (errno)
                return joule_set_error(JOULE_EINVAL,
                    "CUDA_VISIBLE_DEVICES entry '%.*s' is not a GPU index or "
                    "UUID", (int)len, p);
            if (v >= n)
                return joule_set_error(JOULE_ENODEV,
                    "CUDA_VISIBLE_DEVICES entry %ld: there are %d GPUs "
                    "(indices 0-%d)", v, n, n - 1);
            phys = (int)v;
        } else {
            /* Not all digits: a UUID, with or without "GPU-" (it may
             * start with a digit). */
            phys = match_uuid(p, len, uuids, n);
            if (phys == -2)
                return joule_set_error(JOULE_EINVAL,
                    "CUDA_VISIBLE_DEVICES entry '%.*s' matches more than one "
                    "GPU UUID; give more of the UUID", (int)len, p);
            if (phys < 0)
                return joule_set_error(strspn(p, "0123456789abcdefABCDEF-") == len ||
                                               !strncmp(p, "GPU-", 4)
                                           ? JOULE_ENODEV
                                           : JOULE_EINVAL,
                    "CUDA_VISIBLE_DEVICES entry '%.*s' is not a GPU index and matches no "
                    "GPU UUID (see `joule info`)", (int)len, p);
        }
        for (int k = 0; k < *count; k++)
            if (map[k] == phys)
                return joule_set_error(JOULE_EINVAL,
                    "CUDA_VISIBLE_DEVICES lists GPU %d twice", phys);
        map[(*count)++] = phys;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}
