/* Loading a vendor management library (NVML, ROCm SMI) at run time. */
#ifndef JOULE_DEVICES_VENDOR_LIB_H
#define JOULE_DEVICES_VENDOR_LIB_H

#include <pthread.h>
#include <stddef.h>

/* Opens the library named in $env_var when it is set (and only that one,
 * so a wrong path is an error, not a silent switch), else the first of the
 * NULL-terminated defaults that loads. *path gets the name opened. On
 * failure returns NULL with reason filled: dlopen's message for an
 * explicit path, absent_hint otherwise. */
void *vendor_dlopen(const char *env_var, const char *const *defaults, const char *absent_hint,
                    const char **path, char *reason, size_t reason_len);

/* A vendor library loaded once per process and shared by reference: the
 * first acquire calls open (load, resolve symbols, initialise: 0, or a
 * JOULE_E* code with reason filled and nothing left loaded), the last
 * release calls close (shut down, unload). Both run under the lock, so the
 * backend's symbol table changes only while nobody holds a reference. */
struct vendor_lib {
    pthread_mutex_t lock;
    int users;
    int (*open)(char *reason, size_t reason_len);
    void (*close)(void);
};
#define VENDOR_LIB_INIT(open_fn, close_fn) {PTHREAD_MUTEX_INITIALIZER, 0, open_fn, close_fn}

int vendor_lib_acquire(struct vendor_lib *l, char *reason, size_t reason_len);
/* One more reference, for a caller that already holds one. */
void vendor_lib_retain(struct vendor_lib *l);
void vendor_lib_release(struct vendor_lib *l);

#endif
