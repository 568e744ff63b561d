/* Power swings of a trace: what a utility sees when many GPUs move in
 * lockstep between compute and communication (`joule analyze`, docs/cluster.md,
 * "Power swings").
 *
 * - peak-to-trough swing, in W and in % of TDP (the devices' maximum power
 *   limit as the trace recorded it, else their recorded limit; unknown: NAN);
 * - the largest ramp rate, in W/s: the largest change between the average
 *   power of two adjacent windows of ramp_window_s (100 ms, or the sample
 *   period where that is coarser), divided by ramp_window_s;
 * - the share of the power's variance in the 0.1-20 Hz band utilities
 *   watch, from a Welch periodogram (Hann windows, 50% overlap) of the power
 *   resampled to uniform bins. Only frequencies up to the Nyquist frequency
 *   of the sampling can be seen: band_hi_hz says how far the band was
 *   resolved (a 100 ms source resolves 0.1-5 Hz of it).
 *
 * Functions return 0 or a negative JOULE_E* code and leave a message for
 * joule_last_error(). Times are seconds from the trace's start, power W. */
#ifndef JOULE_SWING_H
#define JOULE_SWING_H

#include <joule/trace.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_SWING_API_VERSION 1

/* The band utilities watch for forced oscillations. */
#define JOULE_SWING_BAND_LO_HZ 0.1
#define JOULE_SWING_BAND_HI_HZ 20.0
/* The ramp window when the sampling is finer. */
#define JOULE_SWING_RAMP_WINDOW_S 0.1

/* Layout fixed for JOULE_SWING_API_VERSION 1. NAN marks what the trace
 * cannot tell. */
typedef struct joule_swing {
    double peak_w, peak_time_s, trough_w, trough_time_s;
    double swing_w;            /* peak_w - trough_w */
    double tdp_w;              /* NAN: unknown */
    double swing_pct_tdp;      /* NAN when tdp_w is */
    double sample_s;           /* the sampling the analysis assumed */
    double ramp_window_s;      /* max(100 ms, sample_s) */
    double ramp_up_w_per_s;    /* largest rise (>= 0); NAN: trace < 2 windows */
    double ramp_up_time_s;     /* where the two windows meet */
    double ramp_down_w_per_s;  /* largest fall, as a magnitude (>= 0) */
    double ramp_down_time_s;
    double variance_w2;        /* of the resampled power */
    double band_lo_hz;         /* 0.1 */
    double band_hi_hz;         /* min(20, Nyquist); NAN: nothing resolvable */
    double band_share;         /* of variance_w2 in [band_lo_hz, band_hi_hz]; NAN: unresolved
                                  (nothing of the band, or a trace < 1 / band_lo_hz = 10 s) */
    double freq_step_hz;       /* the periodogram's bin spacing */
} joule_swing;

/* Of the step function (t[i], v[i]) on [t[0], end_s]. sample_s: the
 * sampling interval (<= 0: the median step). tdp_w <= 0 or NAN: unknown. */
int joule_swing_of(const double *t, const double *v, int n, double end_s, double sample_s,
                   double tdp_w, joule_swing *out);
/* Of device i's power; TDP from its recorded limits. JOULE_ENOENT when it
 * has no power samples. */
int joule_trace_device_swing(const joule_trace *t, int i, joule_swing *out);
/* Of the sum of every GPU's power; TDP is the sum of theirs, known only if
 * every GPU's is. JOULE_ENOENT when no GPU has power samples. */
int joule_trace_gpu_sum_swing(const joule_trace *t, joule_swing *out, int *ngpus);

/* Where the TDP of device i comes from: "max_power_limit_w",
 * "power_limit_w" or NULL (unknown). */
const char *joule_trace_device_tdp_source(const joule_trace *t, int i);

#ifdef __cplusplus
}
#endif
#endif
