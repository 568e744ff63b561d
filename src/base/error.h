/* Thread-local error message behind joule_last_error(). */
#ifndef JOULE_BASE_ERROR_H
#define JOULE_BASE_ERROR_H

#include <joule/joule.h>

/* Records a printf-style message for this thread and returns code, so a
 * failing path reads: return joule_set_error(JOULE_EINVAL, "...", ...). */
int joule_set_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to the current message (keeps the code). */
int joule_wrap_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void joule_clear_error(void);

#endif
