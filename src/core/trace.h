/* Saved power traces (`joule run --trace`): reading, writing, analysis.
 *
 * The file is CSV with '#' metadata lines:
 *   # joule-trace 1
 *   # start_unix_s=1764022800.123456 duration_s=12.5 interval_s=0.01
 *   # device label=gpu0 kind=gpu power_limit_w=700 name=NVIDIA H100 ...
 *   # window start_s=0.5 end_s=1.7 name=step 3
 *   time_s,device,domain,value
 *   0.000123,gpu0,power_w,385.214
 * time_s is seconds since the trace started (monotonic clock); rows are in
 * time order; each value holds until the next row of the same device and
 * domain (a step function); `name=` is always last on its line. */
#ifndef JOULE_CORE_TRACE_H
#define JOULE_CORE_TRACE_H

#include <stddef.h>
#include <stdio.h>

#define TRACE_NAME_MAX 128
/* Bounds on what a trace may claim, so every sum, integral and average of
 * it stays finite: well above any device (a whole 8-GPU node draws ~10 kW)
 * and any run (~32 years); beyond them the file is garbled. */
#define TRACE_MAX_POWER_W 1e6
#define TRACE_MAX_TIME_S 1e9
#define TRACE_MAX_DEVICES 1024

struct trace_series {
    int domain;        /* JOULE_DOMAIN_* */
    int n, cap;
    double *t, *v;
};

struct trace_device {
    char label[32], kind[32], name[TRACE_NAME_MAX];
    double power_limit_w; /* 0 = unknown */
    double max_power_limit_w; /* the highest limit it allows (its TDP); 0 = unknown */
    struct trace_series series[8];
    int nseries;
};

struct trace_window {
    char name[TRACE_NAME_MAX];
    double start_s, end_s;
};

struct trace {
    double start_unix_s, duration_s;
    double interval_s;   /* sampling interval, 0 if unknown */
    struct trace_device *devices;
    int ndevices;
    struct trace_window *windows;
    int nwindows;
    int torn_line;       /* a last line without its line end that was left
                            out (a writer cut short), else 0 */
    char title[TRACE_NAME_MAX]; /* the plot's title: the file's name
                                   without directory and .csv */
};

/* Parses a trace file. Errors name the file, the line, the column and the
 * value. A last line without a line end is left out and noted in
 * torn_line, for the caller to warn about. */
int trace_read(const char *path, struct trace *out);
void trace_free(struct trace *t);
/* The series of a device in a domain, NULL if absent. */
const struct trace_series *trace_series_of(const struct trace_device *d, int domain);
/* The power series analysis uses: instant, else counter-derived, else
 * average power. */
const struct trace_series *trace_power(const struct trace_device *d);
/* A GPU: kind "gpu", or a label "gpu..." in traces without kinds. */
int trace_device_is_gpu(const struct trace_device *d);
/* The power series (trace_power) of t's GPUs that have samples, in device
 * order, into series (room for t->ndevices) and, when not NULL, their
 * device indices into index. Returns how many. */
int trace_gpu_power(const struct trace *t, const struct trace_series **series, int *index);

/* ---- analysis (pure functions over step functions) ---- */

#define TRACE_TIMESCALES 5
extern const double trace_timescales_s[TRACE_TIMESCALES]; /* 0.01 ... 60 */

struct trace_stats {
    double duration_s, energy_j, mean_w, p50_w, p95_w, p99_w, peak_w;
    /* Peak moving-average power per timescale; NAN where the trace does
     * not resolve it (shorter than the timescale, or sampled more coarsely). */
    double peak_avg_w[TRACE_TIMESCALES];
};

/* Statistics of the step function (t[i], v[i]) on [t[0], end_s].
 * resolution_s is the sampling interval (0: the finest step). */
int trace_stats_of(const double *t, const double *v, int n, double end_s,
                   double resolution_s, struct trace_stats *out);
/* Energy of a power series (a step function ending at end_s) between
 * times a and b. */
double trace_energy_between(const struct trace_series *s, double end_s, double a, double b);
/* Sums step functions into one (union of breakpoints); *t and *v are
 * malloc'd. Each series is taken as 0 before its first sample. */
int trace_sum(const struct trace_series *const *s, int count, double **t, double **v,
              int *n);
/* The sum (trace_sum) of t's GPU power series (trace_gpu_power) into
 * sum->t/v/n (malloc'd); index (room for t->ndevices, may be NULL) gets
 * the GPUs' device indices, *ngpus how many there are and *all_from (may
 * be NULL) when the last of them starts. JOULE_ENOENT when no GPU has
 * power samples. */
int trace_gpu_sum(const struct trace *t, struct trace_series *sum, int *index, int *ngpus,
                  double *all_from);

/* The parsed trace behind a public handle (trace_api.c). */
struct joule_trace;
const struct trace *trace_of(const struct joule_trace *h);

#endif
