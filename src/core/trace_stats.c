/* Statistics of a power step function: energy, time-weighted mean and
 * percentiles, peak, and the peak of its moving average at several
 * timescales (what a power feed must carry, for provisioning). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "base/error.h"
#include "core/trace.h"

const double trace_timescales_s[TRACE_TIMESCALES] = {0.01, 0.1, 1.0, 10.0, 60.0};

struct step {
    double v, dt;
};

static int by_value(const void *a, const void *b)
{
    double x = ((const struct step *)a)->v, y = ((const struct step *)b)->v;
    return x < y ? -1 : x > y;
}

/* Energy from t[0] to x along the step function; cum[i] is the energy up
 * to t[i]. */
static double energy_to(const double *t, const double *v, const double *cum, int n, double x)
{
    if (x <= t[0])
        return 0;
    int lo = 0, hi = n - 1;
    while (lo < hi) { /* last i with t[i] <= x */
        int mid = (lo + hi + 1) / 2;
        if (t[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    return cum[lo] + v[lo] * (x - t[lo]);
}

double trace_energy_between(const struct trace_series *s, double end_s, double a, double b)
{
    double e = 0;
    for (int i = 0; i < s->n; i++) {
        double lo = s->t[i], hi = i + 1 < s->n ? s->t[i + 1] : end_s;
        if (hi > end_s)
            hi = end_s;
        if (lo < a)
            lo = a;
        if (hi > b)
            hi = b;
        if (hi > lo)
            e += s->v[i] * (hi - lo);
    }
    return e;
}

static double percentile(const struct step *sorted, int n, double total, double q)
{
    double acc = 0;
    for (int i = 0; i < n; i++) {
        acc += sorted[i].dt;
        if (acc >= q * total - 1e-12)
            return sorted[i].v;
    }
    return n ? sorted[n - 1].v : NAN;
}

int trace_stats_of(const double *t, const double *v, int n, double end_s, double resolution_s,
                   struct trace_stats *o)
{
    memset(o, 0, sizeof *o);
    if (n <= 0 || !(end_s > t[0]))
        return joule_set_error(JOULE_EINVAL, "no power samples to analyse");
    double *cum = malloc(sizeof *cum * (size_t)(n + 1));
    struct step *steps = malloc(sizeof *steps * (size_t)n);
    if (!cum || !steps) {
        free(cum);
        free(steps);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    cum[0] = 0;
    double peak = -INFINITY, min_gap = INFINITY;
    for (int i = 0; i < n; i++) {
        double next = i + 1 < n ? t[i + 1] : end_s;
        if (next > end_s)
            next = end_s;
        double dt = next > t[i] ? next - t[i] : 0;
        steps[i] = (struct step){v[i], dt};
        cum[i + 1] = cum[i] + v[i] * dt;
        if (v[i] > peak)
            peak = v[i];
        if (i > 0 && t[i] - t[i - 1] > 0 && t[i] - t[i - 1] < min_gap)
            min_gap = t[i] - t[i - 1];
    }
    o->duration_s = end_s - t[0];
    o->energy_j = cum[n];
    o->mean_w = o->energy_j / o->duration_s;
    o->peak_w = peak;
    qsort(steps, (size_t)n, sizeof *steps, by_value);
    o->p50_w = percentile(steps, n, o->duration_s, 0.50);
    o->p95_w = percentile(steps, n, o->duration_s, 0.95);
    o->p99_w = percentile(steps, n, o->duration_s, 0.99);

    /* The sliding integral over [x, x+w] is piecewise linear in x with
     * kinks where x or x+w meets a step edge, so its maximum is at one. */
    for (int k = 0; k < TRACE_TIMESCALES; k++) {
        double w = trace_timescales_s[k];
        o->peak_avg_w[k] = NAN;
        /* Resolved only if the trace is that long and was sampled that
         * finely (its interval, or else its finest step). */
        double res = resolution_s > 0 ? resolution_s : n > 1 ? min_gap : 0;
        if (o->duration_s < w - 1e-12 || res > w + 1e-12)
            continue;
        double best = -INFINITY;
        for (int i = 0; i <= n; i++) {
            double edge = i < n ? t[i] : end_s;
            double starts[2] = {edge, edge - w};
            for (int s = 0; s < 2; s++) {
                double x = starts[s];
                if (x < t[0])
                    x = t[0];
                if (x + w > end_s)
                    x = end_s - w;
                double e = energy_to(t, v, cum, n, x + w) - energy_to(t, v, cum, n, x);
                if (e / w > best)
                    best = e / w;
            }
        }
        o->peak_avg_w[k] = best;
    }
    free(cum);
    free(steps);
    /* The readers bound times and powers, so this holds for any file; a
     * caller passing other arrays gets an error, not an inf. */
    int finite = isfinite(o->energy_j) && isfinite(o->mean_w) && isfinite(o->p99_w) &&
                 isfinite(o->peak_w);
    for (int k = 0; k < TRACE_TIMESCALES; k++)
        finite &= isnan(o->peak_avg_w[k]) || isfinite(o->peak_avg_w[k]);
    if (!finite)
        return joule_set_error(JOULE_ERANGE,
            "the power statistics are not finite numbers (energy %g J over %g s)", o->energy_j,
            o->duration_s);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int trace_sum(const struct trace_series *const *s, int count, double **t_out, double **v_out,
              int *n_out)
{
    size_t total = 0;
    for (int k = 0; k < count; k++)
        total += (size_t)s[k]->n;
    double *t = malloc(sizeof *t * (total ? total : 1));
    double *v = malloc(sizeof *v * (total ? total : 1));
    int *pos = calloc(count > 0 ? (size_t)count : 1, sizeof *pos);
    if (!t || !v || !pos) {
        free(t);
        free(v);
        free(pos);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    size_t m = 0;
    for (int k = 0; k < count; k++)
        for (int i = 0; i < s[k]->n; i++)
            t[m++] = s[k]->t[i];
    qsort(t, m, sizeof *t, cmp_double);
    size_t u = 0; /* unique breakpoints */
    for (size_t i = 0; i < m; i++)
        if (u == 0 || t[i] != t[u - 1])
            t[u++] = t[i];
    for (size_t i = 0; i < u; i++) {
        double sum = 0;
        for (int k = 0; k < count; k++) {
            while (pos[k] + 1 < s[k]->n && s[k]->t[pos[k] + 1] <= t[i])
                pos[k]++;
            if (s[k]->n && s[k]->t[pos[k]] <= t[i])
                sum += s[k]->v[pos[k]];
        }
        v[i] = sum;
    }
    free(pos);
    *t_out = t;
    *v_out = v;
    *n_out = (int)u;
    return 0;
}

int trace_gpu_sum(const struct trace *t, struct trace_series *sum, int *index, int *ngpus,
                  double *all_from)
{
    memset(sum, 0, sizeof *sum);
    *ngpus = 0;
    const struct trace_series **gpus = calloc((size_t)t->ndevices + 1, sizeof *gpus);
    if (!gpus)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int n = *ngpus = trace_gpu_power(t, gpus, index);
    int rc = n == 0 ? joule_set_error(JOULE_ENOENT, "no GPU in the trace has power samples")
                    : trace_sum(gpus, n, &sum->t, &sum->v, &sum->n);
    sum->cap = sum->n;
    for (int k = 0; !rc && all_from && k < n; k++)
        *all_from = k ? fmax(*all_from, gpus[k]->t[0]) : gpus[k]->t[0];
    free(gpus);
    return rc;
}
