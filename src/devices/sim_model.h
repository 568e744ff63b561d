/* The simulated GPU power model, shared by the `sim` backend and by the
 * NVML / ROCm SMI test doubles (one simulation, two front doors).
 * The model is a pure function of time: every call takes now_ns
 * (CLOCK_MONOTONIC), so tests drive it with synthetic clocks. It is not
 * thread-safe; callers lock. The formulas are in docs/sim.md. */
#ifndef JOULE_DEVICES_SIM_MODEL_H
#define JOULE_DEVICES_SIM_MODEL_H

#include <stdint.h>

struct sim_preset {
    const char *key;          /* "h100" */
    const char *name;         /* "NVIDIA H100 80GB HBM3 (simulated)" */
    const char *arch;         /* "Hopper" */
    double tdp_w;             /* draw at full load and max clock */
    double pl_min_w, pl_max_w, pl_default_w;
    double idle_w;
    int sm_min_mhz, sm_max_mhz, mem_mhz;
    int has_energy_counter;   /* 0 for pre-Volta parts */
    int has_memory_power;
};

/* Known presets: v100, a100, h100, a40, rtx6000, p100 (no counter). */
const struct sim_preset *sim_preset_find(const char *key);
int sim_preset_count(void);
const struct sim_preset *sim_preset_at(int i);

/* Trace mode: one (gpu, dataset, network, batch size, optimizer) from
 * zeus-nsdi23/summary_power_<gpu>.csv, sorted by power limit. */
#define SIM_TRACE_MAX_POINTS 64
struct sim_trace {
    char gpu[16], dataset[64], network[64], optimizer[32];
    int batch_size;
    int n;
    double pl_w[SIM_TRACE_MAX_POINTS];
    double time_per_epoch_s[SIM_TRACE_MAX_POINTS];
    double avg_power_w[SIM_TRACE_MAX_POINTS];
};
/* spec: "v100/imagenet/resnet50/256" with an optional "/adam" (default:
 * the first optimizer in the file). data_dir holds zeus-nsdi23/. */
int sim_trace_load(const char *data_dir, const char *spec,
                   struct sim_trace *out);
/* Power and epoch time at a limit, linear between measured limits and
 * clamped to the measured range. */
void sim_trace_at(const struct sim_trace *t, double pl_w, double *power_w,
                  double *time_per_epoch_s);

#define SIM_TICK_NS 1000000LL          /* power is constant per 1 ms tick */
#define SIM_COUNTER_PERIOD_NS 100000000LL /* energy counter updates, 100 ms */
#define SIM_NOISE_FRACTION 0.03        /* instant-power noise amplitude */
#define SIM_CAP_MARGIN 0.995           /* DVFS aims this far under a cap */
#define SIM_COMPUTE_FRACTION 0.8       /* α: share of time that scales 1/f */
#define SIM_HISTORY 64                 /* segments kept for 1-s averages */
#define SIM_SCHEDULE_MAX 32

/* A stretch of time with constant mean power and speed. */
struct sim_segment {
    int64_t start_ns;        /* relative to the model's t0 */
    double mean_w;
    double energy_j_at_start;
};

struct sim_gpu {
    struct sim_preset p;
    const struct sim_trace *trace; /* NULL unless trace mode */
    uint64_t seed;
    int64_t t0_ns;                 /* monotonic time of t = 0 */

    /* Settings. */
    double load;                   /* 0..1 */
    double pl_w;
    int lock_min_mhz, lock_max_mhz; /* 0 = not locked */
    int persistence;

    /* Load schedule: at schedule_t_s[i] seconds the load becomes
     * schedule_load[i]; next_schedule is the first one not yet applied. */
    int schedule_n, next_schedule;
    double schedule_t_s[SIM_SCHEDULE_MAX], schedule_load[SIM_SCHEDULE_MAX];

    /* Derived from the settings for the current segment. */
    double sm_mhz;
    double speed;                  /* work units per second */
    int capped;

    struct sim_segment seg[SIM_HISTORY]; /* ring; seg[cur] is current */
    int cur, nseg;
    double work_at_seg_start;
};

/* Starts a model at now_ns at idle with the default power limit. */
void sim_gpu_init(struct sim_gpu *g, const struct sim_preset *p,
                  const struct sim_trace *trace, uint64_t seed,
                  int64_t now_ns);
/* Parses "0.8" or "0:0.1,2:0.9,8:0.1" (seconds:load) into the schedule.
 * Returns 0, or -1 with the bad position in *err_pos. */
int sim_gpu_set_schedule(struct sim_gpu *g, const char *text, int *err_pos);

/* Setters take effect at now_ns. */
void sim_gpu_set_load(struct sim_gpu *g, int64_t now_ns, double load);
void sim_gpu_set_power_limit(struct sim_gpu *g, int64_t now_ns, double w);
void sim_gpu_lock_clocks(struct sim_gpu *g, int64_t now_ns, int min_mhz,
                         int max_mhz);

/* Exact energy since t0 (integral of the instant power), joules. */
double sim_gpu_energy_j(struct sim_gpu *g, int64_t now_ns);
/* What the hardware counter shows: energy at the last 100 ms update,
 * truncated to whole millijoules. */
uint64_t sim_gpu_counter_mj(struct sim_gpu *g, int64_t now_ns);
/* Instant power of the current 1 ms tick. */
double sim_gpu_instant_power_w(struct sim_gpu *g, int64_t now_ns);
/* Average power over the second before the last 100 ms update. */
double sim_gpu_average_power_w(struct sim_gpu *g, int64_t now_ns);
double sim_gpu_memory_power_w(struct sim_gpu *g, int64_t now_ns);
int sim_gpu_temperature_c(struct sim_gpu *g, int64_t now_ns);
int sim_gpu_sm_clock_mhz(struct sim_gpu *g, int64_t now_ns);
/* JOULE_THROTTLE_* bits. */
uint64_t sim_gpu_throttle(struct sim_gpu *g, int64_t now_ns);
/* Work done since t0: full-speed seconds, or epochs in trace mode. */
double sim_gpu_work(struct sim_gpu *g, int64_t now_ns);

#endif
