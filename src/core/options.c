#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "base/error.h"
#include "base/export.h"

JOULE_EXPORT int joule_options_create(joule_options **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_options_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    return 0;
}

JOULE_EXPORT void joule_options_destroy(joule_options *o)
{
    if (!o)
        return;
    free(o->devices);
    free(o->sysfs_root);
    free(o->log_path);
    free(o);
}

static int replace_string(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    free(*slot);
    *slot = copy;
    return 0;
}

JOULE_EXPORT int joule_options_set_devices(joule_options *o, const char *spec)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    return replace_string(&o->devices, spec);
}

JOULE_EXPORT int joule_options_set_sysfs_root(joule_options *o, const char *root)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    return replace_string(&o->sysfs_root, root);
}

JOULE_EXPORT int joule_options_set_log(joule_options *o, const char *path,
                                       enum joule_log_format fmt)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    if (fmt != JOULE_LOG_CSV && fmt != JOULE_LOG_JSONL)
        return joule_set_error(JOULE_EINVAL, "log format %d is neither CSV nor JSONL", (int)fmt);
    o->log_format = fmt;
    return replace_string(&o->log_path, path);
}

JOULE_EXPORT int joule_options_set_sync(joule_options *o, joule_sync_fn fn, void *user)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    o->sync_fn = fn;
    o->sync_user = user;
    return 0;
}

JOULE_EXPORT int joule_options_set_cuda_sync(joule_options *o, int enable)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    o->cuda_sync = enable != 0;
    return 0;
}

JOULE_EXPORT int joule_options_set_keeper_interval_ms(joule_options *o, int ms)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    o->keeper_interval_ms = ms;
    return 0;
}

JOULE_EXPORT int joule_options_set_restore_on_exit(joule_options *o, int enable)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    o->restore_on_exit = enable != 0;
    return 0;
}

JOULE_EXPORT void joule_options_allow_empty(joule_options *o)
{
    if (o)
        o->allow_empty = 1;
}

JOULE_EXPORT int joule_options_set_edge_correction(joule_options *o, int enable)
{
    if (!o)
        return joule_set_error(JOULE_EINVAL, "options is NULL");
    o->edge_correction = enable ? 1 : 2;
    return 0;
}
