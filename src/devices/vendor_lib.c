#include "devices/vendor_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *vendor_dlopen(const char *env_var, const char *const *defaults, const char *absent_hint,
                    const char **path, char *reason, size_t reason_len)
{
    const char *env = getenv(env_var);
    void *h = NULL;
    if (env && *env) {
        dlerror();
        h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        *path = env;
        if (!h) {
            const char *why = dlerror();
            snprintf(reason, reason_len, "%s=%s could not be loaded: %s", env_var, env,
                     why ? why : "unknown error");
        }
        return h;
    }
    for (int i = 0; defaults[i] && !h; i++) {
        h = dlopen(defaults[i], RTLD_NOW | RTLD_LOCAL);
        *path = defaults[i];
    }
    if (!h)
        snprintf(reason, reason_len, "%s", absent_hint);
    return h;
}
