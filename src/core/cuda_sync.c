/* Built-in sync hook: wait for each monitored CUDA GPU's queued work at a
 * window edge, so asynchronous kernels are charged to the right window.
 * libcudart is loaded at run time; an already loaded copy (the one the
 * application uses) is preferred. All runtimes share the driver's primary
 * context, so synchronizing from this copy waits for the app's work. */
#include <dlfcn.h>
#include <stdlib.h>

#include "core/context.h"
#include "base/error.h"

typedef int (*cuda_int_fn)(int);
typedef int (*cuda_intp_fn)(int *);
typedef int (*cuda_void_fn)(void);

struct cuda_sync {
    void *lib;
    cuda_intp_fn get_device;
    cuda_int_fn set_device;
    cuda_void_fn synchronize;
    int ngpus;
    int gpus[64];
};

static void *open_cudart(void)
{
    static const char *const names[] = {
        "libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
    };
    const char *env = getenv("JOULE_CUDART_LIBRARY");
    if (env && *env)
        return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
        if (h)
            return h;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
    }
    return NULL;
}

int cuda_sync_create(struct joule_ctx *ctx, struct cuda_sync **out)
{
    *out = NULL;
    struct cuda_sync c = {0};
    for (int i = 0; i < ctx->ndev && c.ngpus < 64; i++) {
        const struct joule_device *d = ctx->devs[i];
        if (d->kind == JOULE_KIND_GPU && (d->caps & JOULE_CAP_CUDA))
            c.gpus[c.ngpus++] = d->index;
    }
    if (c.ngpus == 0)
        return 0; /* nothing CUDA to wait for (simulated or AMD GPUs) */
    c.lib = open_cudart();
    if (!c.lib)
        return joule_set_error(JOULE_ELIB,
            "CUDA sync was requested but libcudart could not be loaded (%s); "
            "install the CUDA runtime, set JOULE_CUDART_LIBRARY, or turn the "
            "sync off", dlerror());
    *(void **)&c.get_device = dlsym(c.lib, "cudaGetDevice");
    *(void **)&c.set_device = dlsym(c.lib, "cudaSetDevice");
    *(void **)&c.synchronize = dlsym(c.lib, "cudaDeviceSynchronize");
    if (!c.get_device || !c.set_device || !c.synchronize) {
        dlclose(c.lib);
        return joule_set_error(JOULE_ELIB, "libcudart lacks cudaGetDevice, "
                               "cudaSetDevice or cudaDeviceSynchronize");
    }
    *out = malloc(sizeof **out);
    if (!*out) {
        dlclose(c.lib);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    **out = c;
    return 0;
}

void cuda_sync_run(struct cuda_sync *c)
{
    int current = 0;
    if (c->get_device(&current) != 0)
        current = -1;
    for (int i = 0; i < c->ngpus; i++)
        if (c->set_device(c->gpus[i]) == 0)
            c->synchronize();
    if (current >= 0)
        c->set_device(current);
}

void cuda_sync_destroy(struct cuda_sync *c)
{
    if (!c)
        return;
    dlclose(c->lib);
    free(c);
}
