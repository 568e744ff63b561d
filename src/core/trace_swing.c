/* Power swings (include/joule/swing.h): peak-to-trough swing, the largest
 * ramp between adjacent windows, and the share of variance in the band
 * utilities watch (core/spectrum.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>
#include <joule/swing.h>

#include "base/error.h"
#include "base/export.h"
#include "core/spectrum.h"
#include "core/stepfn.h"
#include "core/trace.h"
#include "core/trace_swing.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median positive step between samples; 0 when there is none. */
static double median_step(const double *t, int n)
{
    double *gaps = malloc(sizeof *gaps * (size_t)(n > 1 ? n - 1 : 1));
    int m = 0;
    if (!gaps)
        return 0;
    for (int i = 1; i < n; i++)
        if (t[i] > t[i - 1])
            gaps[m++] = t[i] - t[i - 1];
    qsort(gaps, (size_t)m, sizeof *gaps, cmp_double);
    double med = m ? gaps[m / 2] : 0;
    free(gaps);
    return med;
}

/* R(x) = (mean over [x+w, x+2w] - mean over [x, x+w]) / w is linear
 * between the points where x, x+w or x+2w meets a step edge, so its
 * extremes lie at one of them: x = edge, edge - w or edge - 2w, clamped to
 * [t0, end - 2w]. Each sweep is in increasing x, so the cursors only move
 * forward. */
static int largest_ramps(const double *t, const double *v, int n, double end, double w,
                         joule_swing *o)
{
    struct stepfn fn;
    if (stepfn_init(&fn, t, v, n, end))
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    double lo = t[0], hi = end - 2 * w;
    double up = -INFINITY, down = INFINITY, up_x = NAN, down_x = NAN;
    for (int k = 0; k < 3; k++) {
        int c0 = 0, c1 = 0, c2 = 0;
        for (int i = 0; i <= n; i++) {
            double x = (i < n ? t[i] : end) - k * w;
            x = x < lo ? lo : x > hi ? hi : x;
            double f0 = stepfn_energy_to(&fn, &c0, x);
            double f1 = stepfn_energy_to(&fn, &c1, x + w);
            double f2 = stepfn_energy_to(&fn, &c2, x + 2 * w);
            double r = (f2 - 2 * f1 + f0) / (w * w);
            if (r > up) {
                up = r;
                up_x = x;
            }
            if (r < down) {
                down = r;
                down_x = x;
            }
        }
    }
    stepfn_free(&fn);
    /* Rounding in the integrals is no ramp: a flat trace has none. */
    double vmax = 0;
    for (int i = 0; i < n; i++)
        vmax = fmax(vmax, fabs(v[i]));
    double tol = 1e-9 * vmax / w;
    o->ramp_up_w_per_s = up > tol ? up : 0;
    o->ramp_up_time_s = up > tol ? up_x + w : NAN;
    o->ramp_down_w_per_s = down < -tol ? -down : 0;
    o->ramp_down_time_s = down < -tol ? down_x + w : NAN;
    return 0;
}

int trace_ramps_of(const double *t, const double *v, int n, double end_s, double sample_s,
                   joule_swing *o)
{
    if (!(sample_s > 0) && n > 0)
        sample_s = median_step(t, n);
    o->sample_s = sample_s;
    o->ramp_window_s = fmax(JOULE_SWING_RAMP_WINDOW_S, sample_s);
    o->ramp_up_w_per_s = o->ramp_up_time_s = NAN;
    o->ramp_down_w_per_s = o->ramp_down_time_s = NAN;
    if (n <= 0 || end_s - t[0] < 2 * o->ramp_window_s - 1e-12)
        return 0;
    return largest_ramps(t, v, n, end_s, o->ramp_window_s, o);
}

JOULE_EXPORT int joule_swing_of(const double *t, const double *v, int n, double end_s,
                                double sample_s, double tdp_w, joule_swing *o)
{
    if (!t || !v || !o)
        return joule_set_error(JOULE_EINVAL, "joule_swing_of: NULL argument");
    memset(o, 0, sizeof *o);
    if (n <= 0 || !(end_s > t[0]))
        return joule_set_error(JOULE_EINVAL, "no power samples to analyse");
    for (int i = 0; i < n; i++)
        if (!isfinite(t[i]) || !isfinite(v[i]) || (i && t[i] < t[i - 1]))
            return joule_set_error(JOULE_EINVAL,
                                   "sample %d: times must be finite and in order, power finite",
                                   i);
    double span = end_s - t[0];
    if (!(sample_s > 0))
        sample_s = median_step(t, n);
    if (!(sample_s > 0) || sample_s > span)
        sample_s = span;
    o->sample_s = sample_s;

    o->peak_w = -INFINITY;
    o->trough_w = INFINITY;
    for (int i = 0; i < n && t[i] < end_s; i++) {
        if (v[i] > o->peak_w) {
            o->peak_w = v[i];
            o->peak_time_s = t[i];
        }
        if (v[i] < o->trough_w) {
            o->trough_w = v[i];
            o->trough_time_s = t[i];
        }
    }
    o->swing_w = o->peak_w - o->trough_w;
    o->tdp_w = tdp_w > 0 && isfinite(tdp_w) ? tdp_w : NAN;
    o->swing_pct_tdp = 100 * o->swing_w / o->tdp_w;

    int rc = trace_ramps_of(t, v, n, end_s, sample_s, o);
    if (rc)
        return rc;

    struct band_power bp;
    rc = spectrum_band_power(t, v, n, end_s, sample_s, JOULE_SWING_BAND_LO_HZ,
                                 JOULE_SWING_BAND_HI_HZ, &bp);
    if (rc)
        return rc;
    o->variance_w2 = bp.variance;
    o->band_lo_hz = JOULE_SWING_BAND_LO_HZ;
    o->band_hi_hz = bp.band_hi_hz;
    o->freq_step_hz = bp.freq_step_hz;
    /* Welch's estimate of a band can exceed the whole series' variance by
     * its estimation error; a share is at most all of it. A flat trace has
     * no variation to share out. */
    o->band_share = isnan(bp.band_power) || isnan(bp.variance) ? NAN
                    : bp.variance <= 1e-12 * fmax(1, o->peak_w * o->peak_w)
                        ? 0
                        : fmin(1, bp.band_power / bp.variance);
    return 0;
}

static double device_tdp(const struct trace_device *d)
{
    return d->max_power_limit_w > 0 ? d->max_power_limit_w
           : d->power_limit_w > 0   ? d->power_limit_w
                                    : NAN;
}

JOULE_EXPORT const char *joule_trace_device_tdp_source(const joule_trace *h, int i)
{
    const struct trace *t = trace_of(h);
    if (!t || i < 0 || i >= t->ndevices)
        return NULL;
    const struct trace_device *d = &t->devices[i];
    return d->max_power_limit_w > 0 ? "max_power_limit_w"
           : d->power_limit_w > 0   ? "power_limit_w"
                                    : NULL;
}

JOULE_EXPORT int joule_trace_device_swing(const joule_trace *h, int i, joule_swing *out)
{
    const struct trace *t = trace_of(h);
    const struct trace_device *d = t && i >= 0 && i < t->ndevices ? &t->devices[i] : NULL;
    const struct trace_series *s = d ? trace_power(d) : NULL;
    if (!s || !out)
        return joule_set_error(JOULE_ENOENT, "device %d of the trace has no power samples", i);
    return joule_swing_of(s->t, s->v, s->n, t->duration_s, t->interval_s, device_tdp(d), out);
}

JOULE_EXPORT int joule_trace_gpu_sum_swing(const joule_trace *h, joule_swing *out, int *ngpus)
{
    const struct trace *t = trace_of(h);
    if (!t || !out)
        return joule_set_error(JOULE_EINVAL, "joule_trace_gpu_sum_swing: NULL argument");
    int *index = calloc((size_t)t->ndevices + 1, sizeof *index);
    if (!index)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    struct trace_series sum;
    double first; /* before the last GPU's first sample the sum lacks it */
    int n, rc = trace_gpu_sum(t, &sum, index, &n, &first);
    double tdp = 0;
    for (int k = 0; k < n; k++)
        tdp += device_tdp(&t->devices[index[k]]); /* one unknown makes it NAN */
    free(index);
    if (ngpus)
        *ngpus = n;
    if (!rc) {
        /* A trough that is only the start of the file is not a swing. */
        int skip = 0;
        while (skip + 1 < sum.n && sum.t[skip] < first)
            skip++;
        rc = joule_swing_of(sum.t + skip, sum.v + skip, sum.n - skip, t->duration_s,
                            t->interval_s, tdp, out);
    }
    free(sum.t);
    free(sum.v);
    return rc;
}
