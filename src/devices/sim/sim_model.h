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
#define SIM_HISTORY 256                /* segments kept for averages and truth */
#define SIM_SCHEDULE_MAX 32
/* What the counter already showed when the model started: the GPU ran
 * before (at its initial power), so updates just before t0 count too. */
#define SIM_COUNTER_BASE_J 1000.0

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

    /* Square-wave load: alternates between sq_load[0] and sq_load[1], each
     * level held for a seeded random time in [sq_min_s, sq_max_s], like
     * the compute and communication phases of a training step. */
    int square;
    double sq_load[2], sq_min_s, sq_max_s;
    int sq_level;
    uint64_t sq_count;
    int64_t sq_next_ns;            /* relative time of the next switch */

    /* When readings change (relative to t0): the counter at
     * counter_phase_ns + k * counter_period_ns, instant power at
     * power_phase_ns + k * power_period_ns (sample-and-hold; 0 = every
     * 1 ms tick). */
    int64_t counter_period_ns, counter_phase_ns;
    /* Each counter update comes up to this much early or late (seeded,
     * uniform), as an H200's does (±3 ms); 0: exactly periodic. */
    int64_t counter_jitter_ns;
    int64_t power_period_ns, power_phase_ns;

    /* Derived from the settings for the current segment. */
    double sm_mhz;
    double speed;                  /* work units per second */
    int capped;

    struct sim_segment seg[SIM_HISTORY]; /* ring; seg[cur] is current */
    double mean_before_w;          /* power before t0 (energy < 0 there) */
    int cur, nseg;
    double work_at_seg_start;
};

/* Starts a model at now_ns at idle with the default power limit. */
void sim_gpu_init(struct sim_gpu *g, const struct sim_preset *p,
                  const struct sim_trace *trace, uint64_t seed,
                  int64_t now_ns);
/* Parses "0.8", "0:0.1,2:0.9,8:0.1" (seconds:load) or
 * "square:LOW,HIGH,MIN_S,MAX_S" (loads in [0,1], or watts with a W suffix
 * like 170W) into the schedule. Returns 0, or -1 with the bad position in
 * *err_pos. */
int sim_gpu_set_schedule(struct sim_gpu *g, const char *text, int *err_pos);

/* Counter update phase and instant-power refresh (period 0 = every
 * tick), both relative to t0. */
/* Counter updates jittered by up to ±jitter_ns (< period / 2). */
void sim_gpu_set_counter_jitter(struct sim_gpu *g, int64_t jitter_ns);
void sim_gpu_set_timing(struct sim_gpu *g, int64_t counter_phase_ns,
                        int64_t power_period_ns, int64_t power_phase_ns);
/* A seeded phase in [0, period) for device number i. */
int64_t sim_seeded_phase_ns(uint64_t seed, int64_t period_ns);

/* Setters take effect at now_ns. */
void sim_gpu_set_load(struct sim_gpu *g, int64_t now_ns, double load);
void sim_gpu_set_power_limit(struct sim_gpu *g, int64_t now_ns, double w);
void sim_gpu_lock_clocks(struct sim_gpu *g, int64_t now_ns, int min_mhz,
                         int max_mhz);

/* Exact energy since t0 (integral of the instant power), joules. A time
 * earlier than the last call is answered from the retained history. */
double sim_gpu_energy_j(struct sim_gpu *g, int64_t now_ns);
/* What the hardware counter shows: SIM_COUNTER_BASE_J plus the energy at
 * the last update (every 100 ms at the counter phase), truncated to whole
 * millijoules. */
uint64_t sim_gpu_counter_mj(struct sim_gpu *g, int64_t now_ns);
/* Instant power of the 1 ms tick at the last power refresh. */
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
