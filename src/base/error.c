#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/export.h"

static _Thread_local char last_message[1024];

int joule_set_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}

int joule_wrap_error(int code, const char *fmt, ...)
{
    char prefix[512], old[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_message, sizeof old);
    snprintf(last_message, sizeof last_message, "%s: %s", prefix, old);
    return code;
}

void joule_clear_error(void) { last_message[0] = '\0'; }

JOULE_EXPORT const char *joule_last_error(void)
{
    return last_message[0] ? last_message : "no error";
}

JOULE_EXPORT const char *joule_strerror(int code)
{
    switch (code) {
    case JOULE_OK: return "JOULE_OK";
    case JOULE_EINVAL: return "JOULE_EINVAL";
    case JOULE_ENOMEM: return "JOULE_ENOMEM";
    case JOULE_ENODEV: return "JOULE_ENODEV";
    case JOULE_EPERM: return "JOULE_EPERM";
    case JOULE_ENOTSUP: return "JOULE_ENOTSUP";
    case JOULE_EIO: return "JOULE_EIO";
    case JOULE_EEXIST: return "JOULE_EEXIST";
    case JOULE_ENOENT: return "JOULE_ENOENT";
    case JOULE_ERANGE: return "JOULE_ERANGE";
    case JOULE_EGPULOST: return "JOULE_EGPULOST";
    case JOULE_ELIB: return "JOULE_ELIB";
    case JOULE_EBUSY: return "JOULE_EBUSY";
    default: return "JOULE_E?";
    }
}

JOULE_EXPORT const char *joule_version(void) { return JOULE_VERSION_STRING; }
