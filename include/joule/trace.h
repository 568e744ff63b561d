/* joule traces: power timelines saved by `joule run --trace`, read back,
 * analysed (energy, percentiles, peak moving-average power) and drawn.
 *
 * The file is CSV with '#' metadata lines (docs/cli.md, "Traces"):
 *   # joule-trace 1
 *   # start_unix_s=1764022800.123456 duration_s=12.5 interval_s=0.01
 *   # device label=gpu0 kind=gpu power_limit_w=700 name=NVIDIA H100 ...
 *   # window start_s=0.5 end_s=1.7 name=step 3
 *   time_s,device,domain,value
 *   0.000123,gpu0,power_w,385.214
 * `name=` runs to the end of its line; a backslash, line feed or carriage
 * return in a name is written as \\, \n or \r and read back as itself.
 *
 * Functions return 0 or a negative JOULE_E* code and leave a message for
 * joule_last_error(). Times are seconds, power watts, energy joules. */
#ifndef JOULE_TRACE_H
#define JOULE_TRACE_H

#include <joule/joule.h>

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_TRACE_API_VERSION 1

/* ---- reading -------------------------------------------------------------- */

typedef struct joule_trace joule_trace;

/* Parses a trace file. Errors name the file, the line, the column and the
 * value. A last line without a line end (a writer cut short) is left out
 * and reported by joule_trace_torn_line(). */
int joule_trace_read(const char *path, joule_trace **out);
void joule_trace_free(joule_trace *t);

double joule_trace_start_unix_s(const joule_trace *t);
double joule_trace_duration_s(const joule_trace *t);
/* The sampling interval, 0 when the file does not say. */
double joule_trace_interval_s(const joule_trace *t);
/* The line left out for having no line end, else 0. */
int joule_trace_torn_line(const joule_trace *t);

int joule_trace_device_count(const joule_trace *t);
/* NULL for an index out of range; kind is "" when the file does not say. */
const char *joule_trace_device_label(const joule_trace *t, int i);
const char *joule_trace_device_kind(const joule_trace *t, int i);
const char *joule_trace_device_name(const joule_trace *t, int i);
/* Kind "gpu", or no kind and a label starting with "gpu". */
int joule_trace_device_is_gpu(const joule_trace *t, int i);
/* Whether the device has power samples (instant, counter-derived or
 * average power). */
int joule_trace_device_has_power(const joule_trace *t, int i);

int joule_trace_window_count(const joule_trace *t);
/* NULL for an index out of range. */
const char *joule_trace_window_name(const joule_trace *t, int i);
int joule_trace_window_span(const joule_trace *t, int i, double *start_s, double *end_s);

/* ---- analysis --------------------------------------------------------------- */

#define JOULE_TRACE_TIMESCALES 5
/* 0.01, 0.1, 1, 10 and 60 s for k = 0 .. JOULE_TRACE_TIMESCALES - 1. */
double joule_trace_timescale_s(int k);

/* Statistics of a power step function over the trace. Layout fixed for
 * JOULE_TRACE_API_VERSION 1. */
typedef struct joule_trace_stats {
    double duration_s, energy_j, mean_power_w, p50_power_w, p95_power_w, p99_power_w,
        peak_power_w;
    /* Peak moving-average power per timescale; NAN where the trace does
     * not resolve it (shorter than the timescale, or sampled more coarsely). */
    double peak_avg_power_w[JOULE_TRACE_TIMESCALES];
} joule_trace_stats;

/* Of device i's power (instant, else counter-derived, else average);
 * JOULE_ENOENT when it has none. */
int joule_trace_device_stats(const joule_trace *t, int i, joule_trace_stats *out);
/* Energy of device i's power (as joule_trace_device_stats integrates it)
 * between t0_s and t1_s, seconds since the trace started. */
int joule_trace_device_energy_j(const joule_trace *t, int i, double t0_s, double t1_s,
                                double *joules);
/* Of the sum of every GPU's power (what a shared feed carries when GPUs
 * move in lockstep); *ngpus is how many were summed. JOULE_ENOENT when no
 * GPU has power samples. */
int joule_trace_gpu_sum_stats(const joule_trace *t, joule_trace_stats *out, int *ngpus);

/* ---- drawing ------------------------------------------------------------------ */

/* A self-contained SVG: one line per device with power samples. */
int joule_trace_write_svg(const joule_trace *t, FILE *f);
/* One HTML page: the SVG and a table of each device's totals. */
int joule_trace_write_html(const joule_trace *t, FILE *f);

/* ---- writing -------------------------------------------------------------------- */

/* What to save of a sampler's timeline. Layout fixed for
 * JOULE_TRACE_API_VERSION 1. */
typedef struct joule_trace_range {
    double t0_s, t1_s;      /* monotonic range (joule_now_s()) to save */
    double start_unix_s;    /* wall clock at t0_s */
    double interval_s;      /* the sampler's interval */
    const char *window_log; /* JSONL window log whose windows to embed, or NULL */
    const char *name;       /* the name errors give the file, NULL: path */
} joule_trace_range;

/* Writes the trace of every sampled device and domain to path. A write
 * that fails (a full disk) leaves whole lines only. */
int joule_trace_write(joule_ctx *ctx, joule_sampler *s, const char *path,
                      const joule_trace_range *range);
/* Cuts a regular file back to the end of its last whole line. */
int joule_trace_trim_torn(const char *path);

/* The pieces of the format, for a writer that appends a trace as it is
 * sampled (`joule run --trace`). duration_s < 0 leaves duration_s out (a
 * reader then takes the last row's time). */
int joule_trace_format_header(FILE *f, joule_ctx *ctx, double start_unix_s, double duration_s,
                              double interval_s);
void joule_trace_format_window(FILE *f, double start_s, double end_s, const char *name);
void joule_trace_format_row(FILE *f, double time_s, const char *device_label, int domain,
                            double value);
/* Window lines for the windows of a JSONL window log, from byte *offset
 * on, whole lines only (a line still being written waits); *offset moves
 * past what was read. Times are relative to start_unix_s. A log that
 * cannot be opened adds nothing. */
void joule_trace_format_log_windows(FILE *f, const char *window_log, long *offset,
                                    double start_unix_s);

/* A job-level trace from the traces of n nodes (`joule report --trace`):
 * every node's devices, labelled "<prefix>.<label>" and named
 * "<node>: <name>" (prefixes[i] up to 15 characters, nodes[i] its name),
 * and its windows ("<node>: <name>"), on one time axis from the earliest
 * start (the wall clock aligns the nodes), plus a device "job" of kind
 * "job" whose power_w is the sum of every node's GPU power while all of
 * them have samples. Errors name the input file. */
int joule_trace_merge(const char *const *paths, const char *const *prefixes,
                      const char *const *nodes, int n, const char *out_path);

/* Writes s as one CSV field, quoted per RFC 4180 when it holds a comma, a
 * double quote or a line break (the one quoting routine of libjoule's CSV
 * window log, for callers' CSV reports to match it). */
void joule_csv_write_field(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif
#endif
