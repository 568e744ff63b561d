/* How much of a power trace's variance lies in a frequency band: the step
 * function resampled to uniform bins (exact bin averages, which also damp
 * what lies above the bins' Nyquist frequency), then a Welch periodogram —
 * Hann-windowed segments of at least SPECTRUM_SEGMENT_S, half overlapping,
 * each with its own mean removed — summed over the band. The band's power
 * is compared with the variance of the whole resampled series, so a drift
 * slower than a segment counts as variation outside the band. */
#include "core/spectrum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "base/error.h"
#include "core/stepfn.h"

/* Beyond this many bins the bin grows: ~23 h at 5 ms, 32 MiB of doubles. */
#define MAX_BINS (1 << 22)
/* A long trace averages this many segments spread over it, not every
 * half-overlapping one: enough for the estimate, and its cost bounded
 * (an 11-hour trace at 10 ms has ~2,000). */
#define MAX_SEGMENTS 256

void spectrum_fft(double *re, double *im, int n)
{
    for (int i = 1, j = 0; i < n; i++) { /* bit-reversal permutation */
        int bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double tr = re[i], ti = im[i];
            re[i] = re[j];
            im[i] = im[j];
            re[j] = tr;
            im[j] = ti;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        double ang = -2 * M_PI / len, stepr = cos(ang), stepi = sin(ang);
        for (int i = 0; i < n; i += len) {
            double wr = 1, wi = 0; /* e^(i·ang·k) by recurrence: two trig calls a stage */
            for (int k = 0; k < len / 2; k++) {
                double *ar = &re[i + k], *ai = &im[i + k];
                double *br = &re[i + k + len / 2], *bi = &im[i + k + len / 2];
                double xr = *br * wr - *bi * wi, xi = *br * wi + *bi * wr;
                *br = *ar - xr;
                *bi = *ai - xi;
                *ar += xr;
                *ai += xi;
                double t = wr * stepr - wi * stepi;
                wi = wr * stepi + wi * stepr;
                wr = t;
            }
        }
    }
}

static int pow2_at_least(long x)
{
    int p = 1;
    while (p < x && p < (1 << 30))
        p <<= 1;
    return p;
}

/* Adds one segment's one-sided band power (W^2) to *band. */
static void segment_band(const double *x, int len, int nfft, double bin_s, double lo_hz,
                         double hi_hz, double *re, double *im, double *band)
{
    double mean = 0, wsum2 = 0;
    for (int i = 0; i < len; i++)
        mean += x[i];
    mean /= len;
    for (int i = 0; i < nfft; i++) {
        double w = i < len && len > 1 ? 0.5 - 0.5 * cos(2 * M_PI * i / (len - 1)) : i < len;
        re[i] = i < len ? (x[i] - mean) * w : 0;
        im[i] = 0;
        wsum2 += w * w;
    }
    spectrum_fft(re, im, nfft);
    /* Parseval: sum over all nfft bins of |X|^2 / (nfft * sum w^2) is the
     * windowed mean square, an estimate of the segment's variance. */
    double scale = 1.0 / ((double)nfft * wsum2), df = 1.0 / (nfft * bin_s);
    for (int k = 1; k <= nfft / 2; k++) {
        double f = k * df;
        if (f < lo_hz - 1e-12 || f > hi_hz + 1e-12)
            continue;
        double p = (re[k] * re[k] + im[k] * im[k]) * scale;
        *band += k == nfft / 2 ? p : 2 * p; /* one-sided: the mirror bin too */
    }
}

int spectrum_band_power(const double *t, const double *v, int n, double end_s, double sample_s,
                        double lo_hz, double hi_hz, struct band_power *out)
{
    memset(out, 0, sizeof *out);
    out->band_hi_hz = out->band_power = out->variance = out->freq_step_hz = NAN;
    double span = end_s - t[0];
    double bin = fmax(sample_s, SPECTRUM_MIN_BIN_S);
    if (span / bin > MAX_BINS)
        bin = span / MAX_BINS;
    out->bin_s = bin;
    long nbins = (long)floor(span / bin + 1e-9);
    if (nbins < 2)
        return 0; /* shorter than two bins: no variation to speak of */
    struct stepfn fn;
    double *x = malloc(sizeof *x * (size_t)nbins);
    if (!x || stepfn_init(&fn, t, v, n, end_s)) {
        free(x);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    int cur = 0;
    double prev = 0, mean = 0;
    for (long i = 0; i < nbins; i++) {
        double e = stepfn_energy_to(&fn, &cur, t[0] + (double)(i + 1) * bin);
        x[i] = (e - prev) / bin;
        prev = e;
        mean += x[i];
    }
    stepfn_free(&fn);
    mean /= (double)nbins;
    double var = 0;
    for (long i = 0; i < nbins; i++)
        var += (x[i] - mean) * (x[i] - mean);
    out->variance = var / (double)nbins;

    /* Segments of >= SPECTRUM_SEGMENT_S (a power of two of bins); a trace
     * shorter than that is one segment, zero-padded. */
    int seg = pow2_at_least((long)ceil(SPECTRUM_SEGMENT_S / bin));
    int len = nbins >= seg ? seg : (int)nbins;
    int nfft = pow2_at_least(len);
    double nyquist = 0.5 / bin;
    out->freq_step_hz = 1.0 / (nfft * bin);
    if (fmin(hi_hz, nyquist) > lo_hz)
        out->band_hi_hz = fmin(hi_hz, nyquist);
    double *re = malloc(sizeof *re * (size_t)nfft), *im = malloc(sizeof *im * (size_t)nfft);
    if (!re || !im) {
        free(x);
        free(re);
        free(im);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    /* A series shorter than 1 / lo_hz cannot tell lo_hz from a slower
     * drift: its band power stays unknown. */
    if (!isnan(out->band_hi_hz) && (double)nbins * bin >= 1.0 / lo_hz - 1e-9) {
        double band = 0;
        int count = 0;
        long last = nbins - len;
        long hop = len / 2 > 0 ? len / 2 : 1;
        if (last / hop + 1 > MAX_SEGMENTS)
            hop = last / (MAX_SEGMENTS - 1);
        for (long s = 0;; s += hop) {
            if (s > last)
                s = last; /* the last segment ends with the series */
            segment_band(x + s, len, nfft, bin, lo_hz, out->band_hi_hz, re, im, &band);
            count++;
            if (s == last)
                break;
        }
        out->band_power = band / count;
    }
    free(x);
    free(re);
    free(im);
    return 0;
}
