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

int vendor_lib_acquire(struct vendor_lib *l, char *reason, size_t reason_len)
{
    pthread_mutex_lock(&l->lock);
    int rc = l->users > 0 ? 0 : l->open(reason, reason_len);
    if (rc == 0)
        l->users++;
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void vendor_lib_retain(struct vendor_lib *l)
{
    pthread_mutex_lock(&l->lock);
    l->users++;
    pthread_mutex_unlock(&l->lock);
}

void vendor_lib_release(struct vendor_lib *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->users > 0 && --l->users == 0)
        l->close();
    pthread_mutex_unlock(&l->lock);
}
