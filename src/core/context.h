/* The context behind joule_ctx: selected devices, open windows, the
 * counter keeper thread, the window log and the control restore list. */
#ifndef JOULE_CORE_CONTEXT_H
#define JOULE_CORE_CONTEXT_H

#include <joule/joule.h>
#include <pthread.h>
#include <stdio.h>

#include "devices/device.h"

#define JOULE_MAX_BACKENDS 8

struct joule_backend_status {
    const char *name;
    int available;
    int code;           /* discover()'s result */
    char reason[512];
};

struct joule_options {
    char *devices;
    char *sysfs_root;
    char *log_path;
    enum joule_log_format log_format;
    joule_sync_fn sync_fn;
    void *sync_user;
    int cuda_sync;
    int keeper_interval_ms;
    int restore_on_exit;
    int allow_empty;     /* internal: `joule info` lists backends anyway */
};

/* Lets joule_open succeed with no devices (for `joule info`). */
void joule_options_allow_empty(joule_options *opts);

struct window_table; /* core/windows.c */
struct cuda_sync;    /* core/cuda_sync.c */
struct control_state; /* core/control.c */

struct joule_ctx {
    struct joule_device **devs;
    int ndev;
    struct joule_backend_status backends[JOULE_MAX_BACKENDS];
    int nbackends;
    int64_t open_ns;

    /* Measurement windows. */
    struct window_table *windows;
    joule_sync_fn sync_fn;
    void *sync_user;
    struct cuda_sync *cuda;

    /* Window log, one row per ended window. */
    FILE *log;
    enum joule_log_format log_format;
    pthread_mutex_t log_lock;

    /* Background reads that keep wrapping counters and power-only
     * integrals correct between windows. */
    pthread_t keeper;
    int keeper_running;
    int keeper_stop;
    int64_t keeper_interval_ns;
    pthread_mutex_t keeper_lock;
    pthread_cond_t keeper_cond;

    /* The power sampler, if one was created (core/sampler.c). Window
     * ends read it under the read lock; create and destroy write it. */
    struct joule_sampler *sampler;
    pthread_rwlock_t sampler_lock;

    /* GPU settings changed through this context, for joule_restore(). */
    struct control_state *control;

    /* Pipeline plan runtime (optimize/planner/runtime.c). */
    void *plan_state;
    void (*plan_state_free)(void *);
};

/* Monotonic nanoseconds. */
int64_t joule_now_ns(void);

/* Device i's cumulative energy in µJ since the context opened (wrap
 * corrected; integrated from power for devices without a counter), and the
 * time it was read. Thread-safe. */
int jctx_read_energy_uj(struct joule_ctx *ctx, int i, uint64_t *uj,
                        int64_t *t_ns);
/* The same with the caller's timestamp, so a window edge reads the clock
 * once for all devices. */
int jctx_read_energy_at(struct joule_ctx *ctx, int i, int64_t t_ns,
                        uint64_t *uj);
/* The GPU with CUDA-visible index gpu, or NULL with an error set. */
struct joule_device *jctx_gpu(struct joule_ctx *ctx, int gpu);

/* Windows (core/windows.c). */
int windows_create(struct window_table **out);
void windows_destroy(struct window_table *w);

/* Keeper thread (core/keeper.c). */
int keeper_start(struct joule_ctx *ctx, int interval_ms);
void keeper_stop(struct joule_ctx *ctx);

/* Control restore (core/control.c): control_init is called by joule_open
 * after selection, control_destroy by joule_close. */
int control_init(struct joule_ctx *ctx, int restore_on_exit);
void control_destroy(struct joule_ctx *ctx);
/* Turns restore_on_exit on for an open context (the power-limit optimizer
 * does, so that exit, SIGINT and SIGTERM never leave its limit behind). */
int control_guard(struct joule_ctx *ctx);

/* CUDA sync (core/cuda_sync.c). */
int cuda_sync_create(struct joule_ctx *ctx, struct cuda_sync **out);
void cuda_sync_run(struct cuda_sync *c);
void cuda_sync_destroy(struct cuda_sync *c);

/* Window log (core/window_log.c). */
int window_log_open(struct joule_ctx *ctx, const char *path,
                    enum joule_log_format fmt);
int window_log_write(struct joule_ctx *ctx, const joule_result *r);
void window_log_close(struct joule_ctx *ctx);

#endif
