/* govern_sine: joule govern's energy against a fixed maximum clock under a
 * sinusoidal load, on the stand-in's performance model and the simulated
 * H100's power model (docs/inference.md, docs/sim.md), in virtual time.
 * Issue 18's target: >= 20 % less energy per token than the fixed maximum
 * clock with no SLO violations beyond the feedback step. Printed, not
 * asserted.
 *
 * Model: n requests running at SM clock f (MHz):
 *   slow(f)  = 0.8 * 1980 / f + 0.2
 *   ITL      = (12 ms + 0.35 ms * (n - 1)) * slow(f)    (batching slows each step)
 *   TTFT     = 60 ms * slow(f)
 *   power    = 70 + u(n) * 630 * (f / 1980)^3 W,  u(n) = min(1, 0.3 + 0.7 * n / 64)
 *   tokens/s = n / ITL
 * The profile is the model at n in {1, 2, 4, 8, 16, 24, ..., 64} and
 * eight clocks; the load is n(t) = 33 + 31 sin(2 pi t / 600 s) for an hour,
 * one decision every 5 s, and the governor sees the p90 ITL of the interval
 * that just passed (its clock, the load at its end). */
#include <math.h>
#include <stdio.h>

#include <joule/inference.h>

#define FMAX 1980.0
static const int clocks[] = {1980, 1800, 1620, 1440, 1260, 1080, 900, 720};
#define NCLK 8

static double slow(double f) { return 0.8 * FMAX / f + 0.2; }
static double itl_s(double f, double n) { return (0.012 + 0.00035 * (n - 1)) * slow(f); }
static double ttft_s(double f) { return 0.060 * slow(f); }
static double util(double n) { return fmin(1, 0.3 + 0.7 * n / 64); }
static double power_w(double f, double n) { return 70 + util(n) * 630 * pow(f / FMAX, 3); }

int main(void)
{
    const double slo = 0.040, T = 5, period = 600, hours = 1;
    const double levels[] = {1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64};
    joule_govern_profile *p = NULL;
    if (joule_govern_profile_create(&p))
        return 1;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        for (int k = 0; k < NCLK; k++) {
            double f = clocks[k], n = levels[i];
            double ept = power_w(f, n) * itl_s(f, n) / n;
            joule_govern_profile_add(p, n, clocks[k], itl_s(f, n), ttft_s(f), ept);
        }
    joule_govern_options o;
    joule_govern_options_default(&o);
    o.itl_slo_s = slo;
    joule_governor *g = NULL;
    if (joule_governor_create(p, &o, &g)) {
        fprintf(stderr, "govern_sine: %s\n", joule_last_error());
        return 1;
    }
    double e_gov = 0, tok_gov = 0, e_max = 0, tok_max = 0;
    int viol = 0, viol_max = 0, feedback = 0, intervals = 0, changes = 0;
    double f = FMAX, last_itl = NAN;
    for (double t = 0; t < hours * 3600; t += T) {
        double n = round(33 + 31 * sin(2 * M_PI * t / period));
        if (n < 1)
            n = 1;
        int reason;
        int c = joule_governor_step(g, n, last_itl, NAN, &reason);
        changes += c != f;
        f = c;
        feedback += reason == JOULE_GOVERN_FEEDBACK;
        /* the interval runs at f while the load moves to its next value */
        double n_end = round(33 + 31 * sin(2 * M_PI * (t + T) / period));
        if (n_end < 1)
            n_end = 1;
        double nm = 0.5 * (n + n_end);
        double it = itl_s(f, fmax(n, n_end));
        e_gov += power_w(f, nm) * T;
        tok_gov += nm / itl_s(f, nm) * T;
        viol += it > slo;
        e_max += power_w(FMAX, nm) * T;
        tok_max += nm / itl_s(FMAX, nm) * T;
        viol_max += itl_s(FMAX, fmax(n, n_end)) > slo;
        last_itl = it;
        intervals++;
    }
    double ept_gov = e_gov / tok_gov, ept_max = e_max / tok_max;
    printf("govern_sine: sinusoidal load 2..64 requests, period %g s, %g h, decisions every %g s, "
           "ITL p90 SLO %g ms\n", period, hours, T, 1e3 * slo);
    printf("%-22s %12s %12s %14s %16s\n", "", "energy_kJ", "tokens_M", "J_per_token",
           "slo_violations");
    printf("%-22s %12.1f %12.3f %14.5f %16d\n", "fixed 1980 MHz", e_max / 1e3, tok_max / 1e6,
           ept_max, viol_max);
    printf("%-22s %12.1f %12.3f %14.5f %16d\n", "joule govern", e_gov / 1e3, tok_gov / 1e6,
           ept_gov, viol);
    printf("energy per token saved: %.1f %% (target >= 20 %%); clock changes %d in %d intervals; "
           "feedback steps %d; intervals over the SLO %d (each answered by a feedback step)\n",
           100 * (1 - ept_gov / ept_max), changes, intervals, feedback, viol);
    joule_governor_destroy(g);
    joule_govern_profile_free(p);
    return 0;
}
