/* joule — measure, limit and optimize the energy of ML workloads.
 *
 * The one public header of libjoule. Handles are opaque; functions return 0
 * or a negative JOULE_E* code and leave a message for joule_last_error().
 * Energy is in joules and time in seconds (doubles) at this edge; inside,
 * the library counts microjoules and CLOCK_MONOTONIC nanoseconds.
 * The library never prints, exits or aborts.
 */
#ifndef JOULE_JOULE_H
#define JOULE_JOULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_VERSION_MAJOR 0
#define JOULE_VERSION_MINOR 1
#define JOULE_VERSION_PATCH 0
#define JOULE_VERSION_STRING "0.1.0"

const char *joule_version(void);

/* A duration as the CLI and jouled take it: a decimal number with a unit
 * (ns, us, ms, s, m, h, d), e.g. "100ms", "1.5s", "7d", or a bare number
 * counted in bare_unit_s seconds (0: a bare number is refused, the unit is
 * required). 0 and the seconds in *out_s, or JOULE_EINVAL; the caller
 * checks the range. */
int joule_parse_duration(const char *text, double bare_unit_s, double *out_s);

/* ---- errors ------------------------------------------------------------ */

/* Every error code, once: X(NAME, value, what it means). It makes the
 * JOULE_<NAME> constants below, joule_strerror(), joule_error_name() and
 * joule_error_text(),
 * and the Python binding reads it through joule_error_name(). A new code
 * goes at the end with the next negative value; values never change. */
#define JOULE_ERROR_LIST(X)                                                    \
    X(OK, 0, "no error")                                                       \
    X(EINVAL, -1, "bad argument or input")                                     \
    X(ENOMEM, -2, "out of memory")                                             \
    X(ENODEV, -3, "no such device, or its backend is absent")                  \
    X(EPERM, -4, "permission denied")                                          \
    X(ENOTSUP, -5, "the device cannot do this")                                \
    X(EIO, -6, "reading or writing a device or file failed")                   \
    X(EEXIST, -7, "already exists, e.g. a window with that name is open")      \
    X(ENOENT, -8, "not found, e.g. no window with that name")                  \
    X(ERANGE, -9, "value outside the allowed range")                           \
    X(EGPULOST, -10, "the GPU fell off the bus or was lost")                   \
    X(ELIB, -11, "a vendor library failed to load or reported an error")       \
    X(EBUSY, -12, "busy: in use, or not done yet")

#define JOULE_ERROR_ENUM_ITEM_(name, value, text) JOULE_##name = value,
enum joule_error { JOULE_ERROR_LIST(JOULE_ERROR_ENUM_ITEM_) };
#undef JOULE_ERROR_ENUM_ITEM_

/* Message describing the last error on this thread: names the cause and the
 * fix. Valid until the next joule call on the same thread. Never NULL. */
const char *joule_last_error(void);
/* Short constant name for a code ("JOULE_EPERM"); "JOULE_E?" if unknown. */
const char *joule_strerror(int code);
/* The code's name without the prefix ("EPERM", "OK"); NULL if unknown, so
 * bindings can list every code by asking for 0, -1, -2, ... */
const char *joule_error_name(int code);
/* What the code means ("permission denied"); NULL if unknown. The message
 * of a failure is joule_last_error(): this is only the code's gist. */
const char *joule_error_text(int code);
/* For libraries layered on libjoule (libjoule_mpi): records message as
 * this thread's joule_last_error() and returns code. */
int joule_error_set(int code, const char *message);

/* ---- options ----------------------------------------------------------- */

typedef struct joule_options joule_options;
typedef struct joule_ctx joule_ctx;

/* Called at both window edges before counters are read. */
typedef void (*joule_sync_fn)(void *user);

enum joule_log_format { JOULE_LOG_CSV = 0, JOULE_LOG_JSONL = 1 };

int joule_options_create(joule_options **out);
void joule_options_destroy(joule_options *opts);
/* Device selection spec: "all" (default), "gpu", "gpu:0,1", "cpu",
 * "cpu:0", "dram", "psys", "core", "uncore", "sim:4:h100",
 * "sim:2:v100,a100", "sim:1:trace=v100/imagenet/resnet50/256";
 * several items joined with '+', e.g. "gpu:0+cpu". NULL means
 * $JOULE_DEVICES or "all". */
int joule_options_set_devices(joule_options *opts, const char *spec);
/* Root of sysfs for the RAPL backend (default $JOULE_SYSFS_ROOT or /sys). */
int joule_options_set_sysfs_root(joule_options *opts, const char *root);
/* Append one row per ended window to PATH (flushed per row). */
int joule_options_set_log(joule_options *opts, const char *path,
                          enum joule_log_format fmt);
/* A spec that finds no device opens an empty context instead of failing
 * (for listing which backends are absent and why: joule_backend_*). */
void joule_options_allow_empty(joule_options *opts);
/* Whether GPU control and root-only reads would go through jouled, and
 * where: $JOULE_DAEMON (unix:PATH or tcp:HOST:PORT; off, none or empty:
 * no daemon), else the default socket /run/joule/jouled.sock when it
 * exists. Returns 1 with desc ("unix:/run/joule/jouled.sock"), else 0.
 * Does not connect. */
int joule_daemon_configured(char *desc, size_t len);
/* User sync hook, run at window edges before reading counters. */
int joule_options_set_sync(joule_options *opts, joule_sync_fn fn, void *user);
/* Built-in CUDA sync: dlopens libcudart and synchronizes every monitored
 * CUDA GPU, restoring the caller's current device. */
int joule_options_set_cuda_sync(joule_options *opts, int enable);
/* Period of the background counter keeper that catches wrap-arounds and
 * integrates power-only devices. 0 = automatic, <0 = no keeper thread. */
int joule_options_set_keeper_interval_ms(joule_options *opts, int ms);
/* Restore every GPU setting changed through the context at exit and on
 * SIGINT/SIGTERM (see joule_restore). */
int joule_options_set_restore_on_exit(joule_options *opts, int enable);
/* Put each window edge at its true instant: add the energy since the
 * counter's last update, estimated from power (default on;
 * $JOULE_EDGE_CORRECTION=0 turns it off when this is not called). Off,
 * energies are plain counter differences, as Zeus reports them, and
 * their uncertainty says how far off that can be. */
int joule_options_set_edge_correction(joule_options *opts, int enable);

/* ---- context and devices ---------------------------------------------- */

/* Discovers devices from every backend and keeps those the spec selects.
 * Fails when the spec selects nothing or names a device that is absent. */
int joule_open(const joule_options *opts, joule_ctx **out);
void joule_close(joule_ctx *ctx);

enum joule_device_kind {
    JOULE_KIND_GPU = 0,
    JOULE_KIND_CPU_PACKAGE = 1,
    JOULE_KIND_DRAM = 2,
    JOULE_KIND_PSYS = 3,
    JOULE_KIND_CPU_CORE = 4,   /* RAPL core subzone (part of the package) */
    JOULE_KIND_CPU_UNCORE = 5, /* RAPL uncore subzone (part of the package) */
    JOULE_KIND_COUNT = 6,
};
const char *joule_kind_name(enum joule_device_kind kind);

/* Capability bits. */
#define JOULE_CAP_ENERGY_COUNTER   (1u << 0)  /* hardware energy counter */
#define JOULE_CAP_POWER_INSTANT    (1u << 1)
#define JOULE_CAP_POWER_AVERAGE    (1u << 2)
#define JOULE_CAP_POWER_MEMORY     (1u << 3)
#define JOULE_CAP_TEMPERATURE      (1u << 4)
#define JOULE_CAP_CLOCKS           (1u << 5)
#define JOULE_CAP_THROTTLE         (1u << 6)
#define JOULE_CAP_POWER_LIMIT      (1u << 7)  /* read limits */
#define JOULE_CAP_SET_POWER_LIMIT  (1u << 8)
#define JOULE_CAP_LOCK_CLOCKS      (1u << 9)
#define JOULE_CAP_PERSISTENCE      (1u << 10)
#define JOULE_CAP_SIMULATED        (1u << 11)
#define JOULE_CAP_CUDA             (1u << 12) /* a CUDA GPU: window edges can wait for its work */
/* Name of one capability bit ("energy_counter"), NULL if unknown. */
const char *joule_cap_name(uint32_t bit);

typedef struct joule_device joule_device;

int joule_device_count(const joule_ctx *ctx);
const joule_device *joule_device_at(const joule_ctx *ctx, int i);
enum joule_device_kind joule_device_kind(const joule_device *d);
/* Index within its kind: gpu0, cpu1, dram0 (GPU indices follow
 * CUDA_VISIBLE_DEVICES like CUDA does). */
int joule_device_index(const joule_device *d);
const char *joule_device_name(const joule_device *d);    /* "NVIDIA H100" */
const char *joule_device_label(const joule_device *d);   /* "gpu0" */
const char *joule_device_backend(const joule_device *d); /* "nvml" */
const char *joule_device_uuid(const joule_device *d);    /* "" if none */
uint32_t joule_device_caps(const joule_device *d);
/* Smallest energy step the counter reports, microjoules. */
double joule_device_energy_resolution_uj(const joule_device *d);
/* How often the counter (or power reading) changes, microseconds. */
double joule_device_update_period_us(const joule_device *d);
/* Free-form note ("energy belongs to the whole GPU"), "" if none. */
const char *joule_device_note(const joule_device *d);
/* PCI bus id ("00000000:3B:00.0"), "" when unknown. */
const char *joule_device_pci_bus_id(const joule_device *d);
/* Architecture as the vendor names it ("Hopper"), "" when unknown. */
const char *joule_device_arch(const joule_device *d);

/* What a GPU's power readings cover. */
enum joule_power_scope {
    JOULE_POWER_SCOPE_NONE = 0,   /* unknown, or not a GPU */
    JOULE_POWER_SCOPE_GPU = 1,    /* the GPU board alone */
    JOULE_POWER_SCOPE_MODULE = 2, /* a superchip module: GPU + CPU (Grace
                                     Hopper); the energy counter is still
                                     the GPU's */
};
/* A JOULE_POWER_SCOPE_* value. */
int joule_device_power_scope(const joule_device *d);

/* Backends that were tried; for an absent one, why and what to do. */
int joule_backend_count(const joule_ctx *ctx);
/* Returns the backend's name; *available is 1 when it found devices;
 * *reason says why not (or "" when available). */
const char *joule_backend_at(const joule_ctx *ctx, int i, int *available,
                             const char **reason);

/* Cumulative energy of one device since the context opened, wrap-corrected,
 * in joules; *quality gets a JOULE_QUALITY_* value. */
int joule_device_energy_j(joule_ctx *ctx, int i, double *joules, int *quality);
/* The same, read now, with *t_s the instant of the read on joule_now_s()'s
 * clock (the one a sampler, a window and jouled's answers use). */
int joule_device_energy_at(joule_ctx *ctx, int i, double *joules, double *t_s);
/* Current power in watts (instant where available, else average). */
int joule_device_power_w(joule_ctx *ctx, int i, double *watts);
/* A list of this context's GPUs as users write it: "all", indices
 * ("0,2"), labels ("gpu0,gpu2") or GPU UUIDs, comma-separated. Fills
 * gpus[] with GPU indices (in the list's order; "all": every GPU) and
 * returns how many, or a negative code with a message naming the entry
 * that is unknown, repeated, or past cap. */
int joule_parse_gpu_list(joule_ctx *ctx, const char *list, int *gpus, int cap);
/* Read every counter now (done automatically by the keeper thread). */
int joule_update(joule_ctx *ctx);

/* ---- measurement windows ----------------------------------------------- */

enum joule_quality {
    JOULE_QUALITY_EXACT = 0,            /* from a hardware counter, and its
                                           uncertainty is at most 1 % of it */
    JOULE_QUALITY_APPROX = 1,           /* integrated from power (no
                                           counter), or a counter value whose
                                           uncertainty is above 1 % */
    JOULE_QUALITY_BELOW_RESOLUTION = 2, /* window shorter than the counter's
                                           update period; mostly estimated
                                           from power × time */
    JOULE_QUALITY_ERROR = 3,            /* device failed; see status */
};
const char *joule_quality_name(int quality);

#define JOULE_WINDOW_RESTART (1u << 0) /* begin: replace an open window */
#define JOULE_WINDOW_NO_SYNC (1u << 1) /* skip the sync hook at this edge */

typedef struct joule_result joule_result;

int joule_window_begin(joule_ctx *ctx, const char *name, unsigned flags);
/* Ends the window; *out (free with joule_result_free) gets the result. */
int joule_window_end(joule_ctx *ctx, const char *name, unsigned flags,
                     joule_result **out);
int joule_window_cancel(joule_ctx *ctx, const char *name);
/* The result so far of an open window, as if it ended now (sync hook and
 * all); the window stays open and nothing is logged. */
int joule_window_peek(joule_ctx *ctx, const char *name, unsigned flags, joule_result **out);
/* Number of open windows. */
int joule_window_open_count(joule_ctx *ctx);

void joule_result_free(joule_result *r);
const char *joule_result_name(const joule_result *r);
double joule_result_time_s(const joule_result *r);
/* Wall-clock start, seconds since the Unix epoch. */
double joule_result_start_unix_s(const joule_result *r);
int joule_result_device_count(const joule_result *r);
/* Device i (same order as the context). Returns the energy in joules;
 * quality and status (0 or a JOULE_E* code) may be NULL. */
double joule_result_energy_j(const joule_result *r, int i, int *quality,
                             int *status);
/* All devices at once (for bindings, where each call costs): fills up to
 * cap entries of energy_j, quality and status (any may be NULL) and
 * returns the device count. */
int joule_result_read(const joule_result *r, double *energy_j, int *quality,
                      int *status, int cap);
/* Sum over devices of one kind (devices in error are skipped). */
double joule_result_total_j(const joule_result *r, enum joule_device_kind k);
/* GPU + CPU package + DRAM (psys, core and uncore overlap those). */
double joule_result_total_all_j(const joule_result *r);
/* A bound on |error| of device i's energy, joules: it holds for at least
 * 95 % of windows, also on power that jumps between levels
 * (docs/measurement.md, "Uncertainty"). NAN for a device in error. */
double joule_result_uncertainty_j(const joule_result *r, int i);
/* All devices at once (for bindings): fills up to cap bounds and returns
 * the device count. */
int joule_result_read_uncertainty(const joule_result *r, double *uncertainty_j, int cap);
/* The bounds of one kind's devices added up (devices in error skipped). */
double joule_result_total_uncertainty_j(const joule_result *r, enum joule_device_kind k);
/* Device i's label ("gpu0") and kind (a joule_device_kind), as the
 * result has them: a combined result (libjoule_mpi) labels its devices
 * with their node ("n1.gpu0"). NULL / -1 for an index out of range. */
const char *joule_result_device_label(const joule_result *r, int i);
int joule_result_device_kind(const joule_result *r, int i);
/* A result put together from others (libjoule_mpi's job totals): ndev
 * devices, each in error JOULE_ENOENT until set. Free with
 * joule_result_free. */
int joule_result_create(const char *name, int ndev, double time_s, double start_unix_s,
                        joule_result **out);
/* Sets device i of a created result; status 0 or a JOULE_E* code (then
 * energy and uncertainty read NAN and error says why, or NULL). */
int joule_result_set_device(joule_result *r, int i, enum joule_device_kind kind,
                            const char *label, double energy_j, double uncertainty_j,
                            int quality, int status, const char *error);

/* ---- power over time: the sampler --------------------------------------- */

/* What a sampler records per device, where the device supports it. */
enum joule_domain {
    JOULE_DOMAIN_POWER = 0,          /* instant power, W */
    JOULE_DOMAIN_POWER_AVERAGE = 1,  /* the device's ~1 s average power, W */
    JOULE_DOMAIN_POWER_MEMORY = 2,   /* memory power, W */
    JOULE_DOMAIN_POWER_COUNTER = 3,  /* power from energy-counter deltas
                                        over the measured interval, W
                                        (CPU package, DRAM, psys) */
    JOULE_DOMAIN_ENERGY = 4,         /* energy counter since open, J */
    JOULE_DOMAIN_TEMPERATURE = 5,    /* °C */
    JOULE_DOMAIN_SM_CLOCK = 6,       /* MHz */
    JOULE_DOMAIN_THROTTLE = 7,       /* JOULE_THROTTLE_* bitmask */
    JOULE_DOMAIN_COUNT = 8,
};
/* Column-style name with its unit: "power_w", "energy_j", "temp_c". */
const char *joule_domain_name(int domain);

typedef struct joule_sampler joule_sampler;

/* Monotonic seconds (CLOCK_MONOTONIC): the time base of sampler queries. */
double joule_now_s(void);

/* A sampler: one background thread reading every device of ctx each
 * interval_ms (1 to 1000 ms; 1 ms = 1 kHz) into bounded histories of
 * history_s seconds. One sampler per context. Created stopped. */
int joule_sampler_create(joule_ctx *ctx, double interval_ms, double history_s,
                         joule_sampler **out);
/* Start and stop any number of times; history is kept across. */
int joule_sampler_start(joule_sampler *s);
int joule_sampler_stop(joule_sampler *s);
/* Stops it and frees it (joule_close destroys one left over). */
void joule_sampler_destroy(joule_sampler *s);
/* Whether device i is sampled in this domain. */
int joule_sampler_has(joule_sampler *s, int device, int domain);
/* Samples of device i in a domain with time in [t0_s, t1_s], preceded by
 * the sample in force at t0_s. Values change only when stored: each sample
 * holds until the next (a step function). Fills up to cap pairs into
 * t_s/values (either may be NULL to count) and returns how many there are,
 * or a negative code. */
int joule_sampler_timeline(joule_sampler *s, int device, int domain, double t0_s,
                           double t1_s, double *t_s, double *values, int cap);
/* The last sample of a domain in [t0_s, t1_s] (the one in force at t0_s
 * when none is newer): its time and value. JOULE_ENOENT when there is
 * none. Counter power (JOULE_DOMAIN_POWER_COUNTER) is known only once the
 * counter has changed again, so look back a few counter periods for it. */
int joule_sampler_latest(joule_sampler *s, int device, int domain, double t0_s, double t1_s,
                         double *t_s, double *value);
/* Energy of device i over [t0_s, t1_s], integrating its power as the step
 * function the hardware reports (exact within each step, the boundary
 * steps cut at t0_s and t1_s). */
int joule_sampler_energy_j(joule_sampler *s, int device, double t0_s, double t1_s,
                           double *joules);
/* Samples dropped from a device's history because it was full. */
uint64_t joule_sampler_dropped(joule_sampler *s, int device, int domain);
/* Memory held by the histories, bytes. */
size_t joule_sampler_memory_bytes(joule_sampler *s);
/* CPU time the sampler thread has used so far, seconds. */
int joule_sampler_cpu_s(joule_sampler *s, double *total_s);

/* Measures how often each device's energy counter and power reading
 * change (at most 200 ms), replacing the nominal update periods that
 * joule_device_update_period_us and joule_device_power_period_us report. */
int joule_detect_update_periods(joule_ctx *ctx);
/* How often the power reading changes, microseconds (0 if unknown). */
double joule_device_power_period_us(const joule_device *d);

/* Counter timing. Every read teaches joule when each device's readings
 * change; the background keeper adds a few reads per counter period to
 * learn faster (docs/measurement.md, "Counter timing"). */
enum joule_timing_source {
    JOULE_SOURCE_COUNTER = 0,       /* the energy counter */
    JOULE_SOURCE_POWER = 1,         /* the instant power reading */
    JOULE_SOURCE_POWER_AVERAGE = 2, /* the device's own average power */
};
enum joule_timing_state {
    JOULE_TIMING_UNKNOWN = 0,    /* no change seen yet */
    JOULE_TIMING_LEARNING = 1,   /* too few changes for a model yet */
    JOULE_TIMING_PERIODIC = 2,   /* period and phase learned */
    JOULE_TIMING_APERIODIC = 3,  /* changes, but not on a steady period */
    JOULE_TIMING_CONTINUOUS = 4, /* changes at (almost) every read: faster
                                    than it is read */
};
/* "periodic", "learning", ... */
const char *joule_timing_state_name(int state);
/* What is known of how device i's source updates: returns a
 * JOULE_TIMING_* state (or a negative code); *period_us gets the learned
 * period (the nominal one until learned; for an aperiodic source the mean
 * time between its changes), *uncertainty_us the ± on each
 * predicted update instant (95 %) and *jitter_us the spread of the
 * updates (NAN unless periodic). Any pointer may be NULL. */
int joule_device_timing(joule_ctx *ctx, int i, int source, double *period_us,
                        double *uncertainty_us, double *jitter_us);
/* Reads every device densely (about 1 kHz, dithered) until each energy
 * counter's timing is learned and its power readings' noise measured
 * against it (about a second), or max_s seconds have passed. Windows work
 * without it; right after joule_open their uncertainty is just wider. */
int joule_learn_timing(joule_ctx *ctx, double max_s);

/* ---- GPU control (restored by joule_restore) ---------------------------- */

int joule_gpu_get_power_limit_w(joule_ctx *ctx, int gpu, double *current_w,
                                double *min_w, double *max_w,
                                double *default_w, double *enforced_w);
int joule_gpu_set_power_limit_w(joule_ctx *ctx, int gpu, double watts);
int joule_gpu_reset_power_limit(joule_ctx *ctx, int gpu);
int joule_gpu_lock_clocks_mhz(joule_ctx *ctx, int gpu, int min_mhz,
                              int max_mhz);
int joule_gpu_reset_clocks(joule_ctx *ctx, int gpu);
int joule_gpu_lock_memory_clocks_mhz(joule_ctx *ctx, int gpu, int min_mhz,
                                     int max_mhz);
int joule_gpu_reset_memory_clocks(joule_ctx *ctx, int gpu);
/* Fills up to cap supported SM clocks (MHz, descending); returns count. */
int joule_gpu_supported_clocks_mhz(joule_ctx *ctx, int gpu, int *mhz,
                                   int cap);
int joule_gpu_set_persistence(joule_ctx *ctx, int gpu, int enable);
/* Current persistence mode: *on gets 1 (enabled) or 0. */
int joule_gpu_get_persistence(joule_ctx *ctx, int gpu, int *on);
int joule_gpu_clocks_mhz(joule_ctx *ctx, int gpu, int *sm_mhz, int *mem_mhz);
int joule_gpu_temperature_c(joule_ctx *ctx, int gpu, int *celsius);
/* Throttle (clock-event) reasons as a bitmask of JOULE_THROTTLE_*. */
int joule_gpu_throttle_reasons(joule_ctx *ctx, int gpu, uint64_t *mask);
/* Writes "sw_power_cap,hw_slowdown" (or "none") into buf. */
int joule_throttle_names(uint64_t mask, char *buf, size_t len);
/* Puts back every setting changed through this context: the power limit
 * and persistence mode to their earlier values; locked SM and memory
 * clocks are unlocked (NVML cannot read a locked range back, so clocks
 * locked before the context opened end up unlocked too). */
int joule_restore(joule_ctx *ctx);

#define JOULE_THROTTLE_GPU_IDLE        (1ull << 0)
#define JOULE_THROTTLE_APP_CLOCKS      (1ull << 1)
#define JOULE_THROTTLE_SW_POWER_CAP    (1ull << 2)
#define JOULE_THROTTLE_HW_SLOWDOWN     (1ull << 3)
#define JOULE_THROTTLE_SYNC_BOOST      (1ull << 4)
#define JOULE_THROTTLE_SW_THERMAL      (1ull << 5)
#define JOULE_THROTTLE_HW_THERMAL      (1ull << 6)
#define JOULE_THROTTLE_HW_POWER_BRAKE  (1ull << 7)
#define JOULE_THROTTLE_DISPLAY_CLOCKS  (1ull << 8)

/* ---- simulated GPUs ----------------------------------------------------- */

/* Load level in [0,1] of a simulated GPU (the `sim` backend). Also settable
 * at open with $JOULE_SIM_LOAD ("0.8", or a schedule "0:0.1,2:0.9,8:0.1"
 * of seconds:load). */
int joule_sim_set_load(joule_ctx *ctx, int gpu, double load);
/* Work done so far by a simulated GPU, in units of full-speed seconds, or
 * in epochs for a trace-mode GPU. */
int joule_sim_work_done(joule_ctx *ctx, int gpu, double *work);

/* ---- power-limit optimization (src/optimize/) ---------------------------- */

/* Picks one of n measured settings with a selector (docs/optimize.md):
 * "energy", "time", "cost:ETA" (minimizes ETA*E + (1-ETA)*p_max_w*n_gpus*T;
 * p_max_w <= 0: the highest knob) or "slowdown:F" (lowest energy with
 * T <= F * T at the highest knob). knob is the power limit in W or the SM
 * clock in MHz. Returns the chosen index, or a negative JOULE_E* code for
 * fewer than two points, a time or energy <= 0, or a bad selector. Ties go
 * to the lower energy, then the lower time, then the higher knob. */
int joule_select(const char *selector, const double *knob, const double *time_s,
                 const double *energy_j, int n, double p_max_w, int n_gpus);

/* In-loop power-limit optimizer (Zeus's GlobalPowerLimitOptimizer):
 * profiles each candidate power limit for warmup_steps + profile_steps
 * training steps, picks one with the selector and applies it to every
 * monitored GPU. Candidates start at the GPUs' maximum limit and go down
 * by pl_step_w, staying inside the device's range. Profiles persist in
 * SQLite keyed by GPU model, GPU count and job name; a later run with the
 * same key applies the stored optimum at once. */
typedef struct joule_plo joule_plo;
typedef struct joule_plo_options joule_plo_options;

/* For multi-process jobs: called at the end of each profiling window with
 * this process's time and energy; replace them with the job's (max time,
 * summed energy across processes). Return 0 or a negative JOULE_E* code. */
typedef int (*joule_plo_reduce_fn)(double *time_s, double *energy_j, void *user);

enum joule_plo_state {
    JOULE_PLO_READY = 0,   /* next step starts warming up a limit */
    JOULE_PLO_WARMUP = 1,
    JOULE_PLO_PROFILE = 2, /* a measurement window is open */
    JOULE_PLO_DONE = 3,    /* the optimum is applied */
};

int joule_plo_options_create(joule_plo_options **out);
void joule_plo_options_destroy(joule_plo_options *o);
/* Defaults: 10 warmup steps, 40 profile steps, 25 W, selector "cost:0.5". */
int joule_plo_options_set_warmup_steps(joule_plo_options *o, int steps);
int joule_plo_options_set_profile_steps(joule_plo_options *o, int steps);
int joule_plo_options_set_pl_step_w(joule_plo_options *o, double watts);
/* "energy", "time", "cost[:ETA]", "slowdown[:F]". */
int joule_plo_options_set_selector(joule_plo_options *o, const char *selector);
/* GPUs to control (CUDA-visible indices); default: every GPU of ctx. */
int joule_plo_options_set_gpus(joule_plo_options *o, const int *gpus, int n);
/* Job name of the persisted profile (default $JOULE_JOB); without one,
 * nothing is persisted. */
int joule_plo_options_set_job(joule_plo_options *o, const char *job);
/* Database path (default $JOULE_DB, else $XDG_DATA_HOME/joule/joule.db,
 * else ~/.local/share/joule/joule.db). Only that default folder is
 * created; another path's folder must exist (JOULE_ENOENT). Processes
 * optimizing the same job at once share one profile: one profiles, the
 * others wait in READY at the maximum limit (docs/optimize.md). */
int joule_plo_options_set_db(joule_plo_options *o, const char *path);
/* How long to wait for a database locked by another process (default
 * 5000 ms) before failing with JOULE_EBUSY. */
int joule_plo_options_set_db_timeout_ms(joule_plo_options *o, int ms);
int joule_plo_options_set_reduce(joule_plo_options *o, joule_plo_reduce_fn fn, void *user);
/* A profiling window goes on past profile_steps until its energy is known
 * to this fraction (default 0.01: ±1 %; 0: exactly profile_steps), but
 * never past max_profile_s seconds (default 10). Short steps are measured
 * as long as it takes; joule_plo_note says so. */
int joule_plo_options_set_target_uncertainty(joule_plo_options *o, double fraction);
int joule_plo_options_set_max_profile_s(joule_plo_options *o, double seconds);

/* Sets the maximum power limit (or the stored optimum) on the GPUs. From
 * here on the context restores its GPUs' settings at exit() and on SIGINT
 * and SIGTERM (as with joule_options_set_restore_on_exit), so a killed
 * training job never leaves a lowered limit behind. */
int joule_plo_create(joule_ctx *ctx, const joule_plo_options *o, joule_plo **out);
/* Call at the start of every training step. */
int joule_plo_step_begin(joule_plo *plo);
/* Call at the end of every epoch: a limit being warmed up or profiled is
 * cancelled and retried next epoch (its window is not logged). */
int joule_plo_epoch_end(joule_plo *plo);
/* 0 and the chosen limit once done; JOULE_EBUSY while still profiling. */
int joule_plo_result(joule_plo *plo, double *power_limit_w);
enum joule_plo_state joule_plo_state(const joule_plo *plo);
/* The limit now applied, W. */
double joule_plo_power_limit_w(const joule_plo *plo);
/* "" or, once profiling windows had to be extended for short steps, a
 * sentence with the numbers (for the caller to show once). */
const char *joule_plo_note(const joule_plo *plo);
/* Measurements so far (per training step), highest limit first. */
int joule_plo_measurement_count(const joule_plo *plo);
int joule_plo_measurement(const joule_plo *plo, int i, double *power_limit_w,
                          double *time_per_step_s, double *energy_per_step_j);
/* Cancels an open window and puts the maximum power limit back. */
void joule_plo_destroy(joule_plo *plo);


/* ---- pipeline frequency plans (joule plan) ------------------------------ */

/* Loads a plan (JSON written by `joule plan --json`) for one pipeline stage
 * and applies it to GPU `gpu` of ctx: each joule_plan_instruction_begin()
 * locks the planned SM clock for the next computation from a control
 * thread, so the caller never waits on the GPU call. */
int joule_plan_load(joule_ctx *ctx, const char *plan_file, int stage, int gpu);
/* "forward" or "backward"; a mismatch with the plan's sequence is an error. */
int joule_plan_instruction_begin(joule_ctx *ctx, const char *instruction);
/* Stops the control thread and resets the GPU's clocks (joule_close does
 * this too). */
int joule_plan_unload(joule_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif

#include <joule/trace.h>
#include <joule/optimize.h>
#include <joule/planner.h>
#include <joule/sweep.h>
#include <joule/bso.h>
#include <joule/hourly.h>
