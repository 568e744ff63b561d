/* The frequency content of a power step function (core/spectrum.c), for
 * the swing analysis (core/trace_swing.c). */
#ifndef JOULE_CORE_SPECTRUM_H
#define JOULE_CORE_SPECTRUM_H

/* Welch segments are at least this long, so the 0.1 Hz edge lies several
 * bins above 0 and a slow drift stays below it. */
#define SPECTRUM_SEGMENT_S 40.0
/* Resampling is never finer than this: 100 Hz of Nyquist covers the
 * 20 Hz band with little loss to the averaging bins. */
#define SPECTRUM_MIN_BIN_S 0.005

struct band_power {
    double bin_s;        /* the resampling bin */
    double variance;     /* of the resampled series, W^2 */
    double band_hi_hz;   /* min(hi_hz, Nyquist); NAN when <= lo_hz */
    double band_power;   /* W^2 in [lo_hz, band_hi_hz] (one-sided); NAN likewise, or
                            when the series is shorter than 1 / lo_hz */
    double freq_step_hz; /* bin spacing of the periodogram */
};

/* Resamples the step function (t[i], v[i]) on [t[0], end_s] to bins of
 * max(sample_s, SPECTRUM_MIN_BIN_S) (exact averages of the step function
 * over each bin) and estimates, with a Welch periodogram, how much of its
 * variance lies between lo_hz and hi_hz. */
int spectrum_band_power(const double *t, const double *v, int n, double end_s, double sample_s,
                        double lo_hz, double hi_hz, struct band_power *out);

/* In-place radix-2 FFT of n (a power of two) complex values. */
void spectrum_fft(double *re, double *im, int n);

#endif
