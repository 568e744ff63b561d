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

/* The table of codes comes from JOULE_ERROR_LIST in joule.h alone. */
#define NAME_CASE_(name, value, text) case JOULE_##name: return #name;
#define PREFIXED_CASE_(name, value, text) case JOULE_##name: return "JOULE_" #name;
#define TEXT_CASE_(name, value, text) case JOULE_##name: return text;

JOULE_EXPORT const char *joule_strerror(int code)
{
    switch (code) {
    JOULE_ERROR_LIST(PREFIXED_CASE_)
    default: return "JOULE_E?";
    }
}

JOULE_EXPORT const char *joule_error_name(int code)
{
    switch (code) {
    JOULE_ERROR_LIST(NAME_CASE_)
    default: return NULL;
    }
}

JOULE_EXPORT const char *joule_error_text(int code)
{
    switch (code) {
    JOULE_ERROR_LIST(TEXT_CASE_)
    default: return NULL;
    }
}

JOULE_EXPORT const char *joule_version(void) { return JOULE_VERSION_STRING; }

JOULE_EXPORT int joule_error_set(int code, const char *message)
{
    return joule_set_error(code, "%s", message ? message : "");
}
