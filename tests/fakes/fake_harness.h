/* Test-side helpers for the NVML / ROCm SMI doubles: write a config into a
 * temporary directory, point the backends at a double, reach the double's
 * hooks, and read its call record and state file. Header-only so each test
 * program includes it as "fakes/fake_harness.h". */
#ifndef JOULE_FAKE_HARNESS_H
#define JOULE_FAKE_HARNESS_H

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "test_support.h"

enum fh_kind { FH_NVML, FH_NVML_OLD, FH_ROCM };

struct fh {
    enum fh_kind kind;
    char *dir;
    char cfg[512], rec[512], state[512], lib[512];
};

static inline const char *fh_lib_path(enum fh_kind k, char *buf, size_t len)
{
    snprintf(buf, len, "%s/tests/fakes/%s", JOULE_TEST_BUILD_DIR,
             k == FH_NVML       ? "nvml/libnvidia-ml.so.1"
             : k == FH_NVML_OLD ? "nvml_old/libnvidia-ml.so.1"
                                : "rocm/librocm_smi64.so");
    return buf;
}

/* Replaces @REC@ and @STATE@ in json with the record and state paths. */
static inline char *fh_expand(const struct fh *h, const char *json)
{
    size_t cap = strlen(json) + 4096;
    char *out = malloc(cap);
    size_t o = 0;
    for (const char *p = json; *p;) {
        if (!strncmp(p, "@REC@", 5)) {
            o += (size_t)snprintf(out + o, cap - o, "%s", h->rec);
            p += 5;
        } else if (!strncmp(p, "@STATE@", 7)) {
            o += (size_t)snprintf(out + o, cap - o, "%s", h->state);
            p += 7;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

/* Writes the config and sets the environment so that only this double is
 * found (the other vendor library points nowhere). */
static inline void fh_start(struct fh *h, enum fh_kind kind, const char *json)
{
    memset(h, 0, sizeof *h);
    h->kind = kind;
    h->dir = ts_mkdtemp();
    snprintf(h->cfg, sizeof h->cfg, "%s/config.json", h->dir);
    snprintf(h->rec, sizeof h->rec, "%s/calls.log", h->dir);
    snprintf(h->state, sizeof h->state, "%s/state.json", h->dir);
    fh_lib_path(kind, h->lib, sizeof h->lib);
    char *text = fh_expand(h, json);
    ts_write(h->dir, "config.json", text);
    free(text);
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("HIP_VISIBLE_DEVICES");
    unsetenv("ROCR_VISIBLE_DEVICES");
    unsetenv("JOULE_DEVICES");
    if (kind == FH_ROCM) {
        setenv("JOULE_FAKE_ROCM_CONFIG", h->cfg, 1);
        setenv("JOULE_ROCM_SMI_LIBRARY", h->lib, 1);
        setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    } else {
        setenv("JOULE_FAKE_NVML_CONFIG", h->cfg, 1);
        setenv("JOULE_NVML_LIBRARY", h->lib, 1);
        setenv("JOULE_ROCM_SMI_LIBRARY", "/nonexistent/librocm_smi64.so", 1);
    }
}

/* Rewrites the config (takes effect at the next library init). */
static inline void fh_config(struct fh *h, const char *json)
{
    char *text = fh_expand(h, json);
    ts_write(h->dir, "config.json", text);
    free(text);
}

static inline void fh_finish(struct fh *h)
{
    ts_rmtree(h->dir);
    free(h->dir);
    h->dir = NULL;
}

/* Opens GPUs ("gpu" unless spec) with keeper_ms (<0: no keeper). */
static inline int fh_open(const char *spec, int keeper_ms, int restore_on_exit, joule_ctx **ctx)
{
    joule_options *o = NULL;
    int rc = joule_options_create(&o);
    if (!rc)
        rc = joule_options_set_devices(o, spec ? spec : "gpu");
    if (!rc)
        rc = joule_options_set_keeper_interval_ms(o, keeper_ms);
    if (!rc && restore_on_exit)
        rc = joule_options_set_restore_on_exit(o, 1);
    if (!rc)
        rc = joule_open(o, ctx);
    joule_options_destroy(o);
    return rc;
}

/* The same for a double on its manual clock: edges are plain counter
 * differences (their true instants are on another clock than joule's). */
static inline int fh_open_manual_clock(joule_ctx **ctx)
{
    joule_options *o = NULL;
    int rc = joule_options_create(&o);
    if (!rc)
        rc = joule_options_set_devices(o, "gpu");
    if (!rc)
        rc = joule_options_set_keeper_interval_ms(o, -1);
    if (!rc)
        rc = joule_options_set_edge_correction(o, 0);
    if (!rc)
        rc = joule_open(o, ctx);
    joule_options_destroy(o);
    return rc;
}

/* A hook exported by the loaded double (it must be loaded: a context is
 * open). */
static inline void *fh_hook(const struct fh *h, const char *name)
{
    void *lib = dlopen(h->lib, RTLD_NOW | RTLD_NOLOAD);
    if (!lib)
        return NULL;
    void *f = dlsym(lib, name);
    dlclose(lib); /* the backend keeps its own reference */
    return f;
}

static inline void fh_set_time(const struct fh *h, double s)
{
    void (*f)(int64_t) = (void (*)(int64_t))fh_hook(h, "fake_set_time_ns");
    if (f)
        f((int64_t)(s * 1e9 + 0.5));
}

/* Number of lines of the call record containing needle. */
static inline int fh_calls(const struct fh *h, const char *needle)
{
    char *text = ts_read(h->rec);
    int n = 0;
    if (!text)
        return 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        n += strstr(line, needle) != NULL;
    free(text);
    return n;
}

static inline void fh_clear_calls(const struct fh *h)
{
    FILE *f = fopen(h->rec, "w");
    if (f)
        fclose(f);
}

/* A number from the double's state file: gpus[gpu].key, or -1. */
static inline double fh_state(const struct fh *h, int gpu, const char *key)
{
    char *text = ts_read(h->state);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    double v = -1;
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "gpus"), gpu);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(g, key);
    if (cJSON_IsNumber(x))
        v = x->valuedouble;
    else if (cJSON_IsBool(x))
        v = cJSON_IsTrue(x);
    cJSON_Delete(root);
    return v;
}

#endif
