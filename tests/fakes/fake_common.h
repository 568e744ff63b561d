/* Shared machinery of the NVML and ROCm SMI test doubles: the JSON config,
 * the simulated GPUs (driven by src/devices/sim/sim_model.c, the one model),
 * injected errors, the call record, the cross-process state file and the
 * clock. Every entry point of a double takes fake_lock() first. See
 * docs/gpu.md for the config format. */
#ifndef JOULE_FAKE_COMMON_H
#define JOULE_FAKE_COMMON_H

#include <stdint.h>

#include "devices/sim/sim_model.h"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define FAKE_MAX_GPUS 16
#define FAKE_MAX_MIG 16
#define FAKE_MAX_ERRORS 32

struct fake_gpu {
    struct sim_gpu m;
    char model[32];
    char name[96];
    char uuid[96];
    char pci_bus_id[32];
    int arch;                 /* NVML architecture number */
    int lost;                 /* fell off the bus: every call fails */
    int field_values;         /* nvmlDeviceGetFieldValues answers power */
    int scope_gpu;            /* GPU scope works (else MODULE only) */
    int memory_power;
    char memory_power_field[16]; /* "instant", "average" or "zero" (success, 0 mW) */
    int energy_counter;
    double module_extra_w;    /* CPU share added in MODULE scope */
    double counter_scale;     /* ROCm: broken counters report energy × this */
    int rocm_power_ave;       /* ROCm: rsmi_dev_power_ave_get works */
    int rocm_power_get;       /* ROCm: rsmi_dev_power_get works (current power) */
    uint64_t energy_start_mj; /* counter value at "driver load" */
    int64_t energy_read_ns;   /* how long an energy read takes (an H200's: ~3 ms) */
    int mem_lock_min, mem_lock_max;
    int mig_mode;
};

struct fake_mig {
    char uuid[96];
    int parent;
};

struct fake_error_rule {
    char function[64];        /* exact name, or "*" for every function */
    int gpu;                  /* -1: any */
    int code;
    long after;               /* this many matching calls succeed first */
    long times;               /* then this many fail; -1 = all */
    long seen, fired;
};

struct fake_state {
    int init_count;
    int loaded;
    int ngpu;
    struct fake_gpu gpu[FAKE_MAX_GPUS];
    int nmig;
    struct fake_mig mig[FAKE_MAX_MIG];
    int privileged;
    int manual_clock;
    int64_t manual_now_ns;
    int init_error;
    int nerr;
    struct fake_error_rule err[FAKE_MAX_ERRORS];
    int record_fd;
    char state_path[512];
};

extern struct fake_state S;

/* Each double provides these. */
int fake_error_code(const char *name); /* "GPU_IS_LOST" -> 15, -1 unknown */
extern const char *const fake_config_env; /* "JOULE_FAKE_NVML_CONFIG" */
extern const int fake_lost_code;          /* returned by a lost GPU */

void fake_lock(void);
void fake_unlock(void);
int64_t fake_now(void);

/* Loads the config (first init). Returns 0, or -1 with a message on
 * stderr (the doubles are test tools; they may print). */
int fake_load(void);
void fake_unload(void);

/* Injected error for this call of fn on gpu (-1 = not a device call), or 0.
 * A lost GPU fails every call with fake_lost_code. */
int fake_inject(const char *fn, int gpu);

/* Appends "fn gpu=N args -> rc" to the call record. */
/* Whether calls are being recorded: callers skip formatting their
 * arguments when not, so the double costs what a driver call would. */
static inline int fake_recording(void) { return S.record_fd >= 0; }
void fake_record(const char *fn, int gpu, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Saves power limits, locked clocks and persistence to the state file. */
void fake_save_state(void);

#endif
