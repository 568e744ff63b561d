/* Loading a vendor management library (NVML, ROCm SMI) at run time. */
#ifndef JOULE_DEVICES_VENDOR_LIB_H
#define JOULE_DEVICES_VENDOR_LIB_H

#include <stddef.h>

/* Opens the library named in $env_var when it is set (and only that one,
 * so a wrong path is an error, not a silent switch), else the first of the
 * NULL-terminated defaults that loads. *path gets the name opened. On
 * failure returns NULL with reason filled: dlopen's message for an
 * explicit path, absent_hint otherwise. */
void *vendor_dlopen(const char *env_var, const char *const *defaults, const char *absent_hint,
                    const char **path, char *reason, size_t reason_len);

#endif
