/* The context behind joule_ctx: selected devices, open windows, the
 * counter keeper thread, the window log and the control restore list. */
#ifndef JOULE_CORE_CONTEXT_H
#define JOULE_CORE_CONTEXT_H

#include <joule/joule.h>
#include <pthread.h>
#include <stdio.h>

#include "base/clock.h"
#include "devices/device.h"
#include "devices/registry.h"

/* Each backend of the table runs at most once per context. */
#define JOULE_MAX_BACKENDS JDEV_REGISTRY_COUNT

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
    int edge_correction; /* 0 default ($JOULE_EDGE_CORRECTION, else on), 1 on, 2 off */
    int allow_empty;     /* internal: `joule info` lists backends anyway */
};

/* Lets joule_open succeed with no devices (for `joule info`). */

struct window_table; /* core/windows.c */
struct edge_track;   /* core/edge.c */
struct edge_value;
struct keeper;       /* core/keeper.c */
struct cuda_sync;    /* core/cuda_sync.c */
struct control_state; /* core/control.h */

/* An object a higher layer parks on the context, so that joule_close
 * ends it (the planner's runtime thread) without the core knowing what it
 * is: attach, find and detach by a key the owner chooses. */
#define JCTX_MAX_ATTACHED 4
struct jctx_attachment {
    const void *key;
    void *obj;
    void (*free_fn)(void *obj);
};
struct device_counter; /* core/counter.h */

struct joule_ctx {
    struct joule_device **devs;
    int ndev;
    /* The core's own state per device (running totals, learned timing),
     * counters[i] guarded by devs[i]->lock (core/counter.c). */
    struct device_counter *counters;
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
    int log_uncertainty; /* CSV: with the uncertainty columns */
    pthread_mutex_t log_lock;

    /* Per device, guarded by the device's lock: what every read taught
     * about its counter and power timing (core/edge.c). */
    struct edge_track *edges;
    int edge_correction;

    /* Background reads that keep wrapping counters and power-only
     * integrals correct between windows and learn counter timing. */
    struct keeper *keeper;

    /* The power sampler, if one was created (core/sampler.c). Window
     * ends read it under the read lock; create and destroy write it. */
    struct joule_sampler *sampler;
    pthread_rwlock_t sampler_lock;

    /* GPU settings changed through this context, for joule_restore(). */
    struct control_state *control;

    /* Objects higher layers park here (core/attach.c). */
    struct jctx_attachment attached[JCTX_MAX_ATTACHED];
};

/* JOULE_EEXIST when key is attached already, JOULE_ENOMEM when the slots
 * are full. */
int jctx_attach(struct joule_ctx *ctx, const void *key, void *obj, void (*free_fn)(void *));
/* The object attached under key, or NULL. */
void *jctx_attached(struct joule_ctx *ctx, const void *key);
/* Removes it without freeing it; returns it (NULL when none). */
void *jctx_detach(struct joule_ctx *ctx, const void *key);
/* Frees every attachment, the last attached first (joule_close). */
void jctx_detach_all(struct joule_ctx *ctx);

/* Device i's cumulative energy in µJ since the context opened (wrap
 * corrected; integrated from power for devices without a counter), and the
 * time it was read. Thread-safe. */
int jctx_read_energy_uj(struct joule_ctx *ctx, int i, uint64_t *uj,
                        int64_t *t_ns);
/* The same with the caller's timestamp, so a window edge reads the clock
 * once for all devices. */
int jctx_read_energy_at(struct joule_ctx *ctx, int i, int64_t t_ns,
                        uint64_t *uj);
/* The keeper's reads: JCTX_SKIPPED, without reading, while another thread
 * holds device i or when its counter was read less than fresh_ns ago.
 * That other read brings the same news, and a window edge then never
 * waits for a background read nor has to wake one. */
#define JCTX_SKIPPED 1
int jctx_try_read_energy_uj(struct joule_ctx *ctx, int i, int64_t fresh_ns, uint64_t *uj,
                            int64_t *t_ns);
/* A window edge at t_ns: reads every device's counter (and instant power,
 * where that sharpens the edge) and estimates the energy from each
 * counter's last update to t_ns (core/edge_read.c). v, status and errors
 * (which may be NULL) have ndev entries. At a window's end, begin holds
 * its begin edges and span gets what the window adds per device: where
 * both edges saw one counter value, the energy between them from power
 * alone (v is then not estimated); elsewhere the begin edge is estimated
 * again with what was read since. Thread-safe. */
#define JCTX_ERROR_LEN 256
struct edge_span;
int jctx_read_edges(struct joule_ctx *ctx, int64_t t_ns, struct edge_value *v, int *status,
                    char (*errors)[JCTX_ERROR_LEN], struct edge_value *begin,
                    struct edge_span *span);
/* Reads device i's instant (and, when avg is set, average) power into its
 * edge tracker; for the keeper. Without avg: JCTX_SKIPPED, without
 * reading, while another thread holds the device or when its instant
 * power was read less than fresh_ns ago. */
int jctx_poll_power(struct joule_ctx *ctx, int i, int avg, int64_t fresh_ns);
/* A power reading someone else made (the sampler), with device i's lock
 * held: teaches its edge tracker. kind is a jdev_power_kind. */
void jctx_note_power_locked(struct joule_ctx *ctx, int i, int kind, int64_t start, int64_t end,
                            uint32_t mw);
/* Whether device i's edges are corrected with power (a counter that
 * updates more slowly than it can be read). */
int jctx_edge_tracked(const struct joule_ctx *ctx, int i);

/* Whether joule_detect_update_periods measured device i's periods
 * (core/device_timing.c). Thread-safe. */
int jctx_periods_measured(const struct joule_ctx *ctx, int i);

/* The GPU with CUDA-visible index gpu, or NULL with an error set. */
struct joule_device *jctx_gpu(struct joule_ctx *ctx, int gpu);

/* Discovery (core/device_backends.c): runs the entries of the backend
 * table the spec asks for, in its order, recording each one's status in
 * ctx->backends; found gets their devices. */
struct devspec;
struct jdev_discover_args;
int backends_run(struct joule_ctx *ctx, const struct devspec *spec,
                 const struct jdev_discover_args *args, struct jdev_list *found);
/* "\n  name: reason", one indented line each, for every backend run (only
 * the unavailable ones when unavailable_only), into buf; JOULE_EPERM when
 * one of those was refused access, else JOULE_ENODEV. */
int backends_why(const struct joule_ctx *ctx, int unavailable_only, char *buf, size_t len);

/* Selection (core/device_select.c): moves the devices the spec selects
 * from found into ctx->devs, labelled and ordered; an error when a named
 * one is missing or, unless allow_empty, none is left. */
int devices_select(struct joule_ctx *ctx, const struct devspec *spec, struct jdev_list *found,
                   int allow_empty);

/* Windows (core/windows.c). */
int windows_create(struct window_table **out);
void windows_destroy(struct window_table *w);

/* Keeper thread (core/keeper.c). */
int keeper_start(struct joule_ctx *ctx, int interval_ms);
void keeper_stop(struct joule_ctx *ctx);

/* Edge trackers (core/edge_setup.c): one per device, set up after
 * selection; freed by joule_close. */
int edges_create(struct joule_ctx *ctx, int correction_option);
void edges_destroy(struct joule_ctx *ctx);

/* Control restore (core/control_exit.c): control_init is called by joule_open
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
