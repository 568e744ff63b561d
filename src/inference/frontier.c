/* Percentiles, the energy-per-token vs ITL frontier and the SLO-aware
 * recommendation of the inference benchmark. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"
#include "joule/inference.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1)
        return sorted[n - 1];
    double frac = pos - lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

JOULE_EXPORT void joule_serve_percentiles_of(const double *v, int n, joule_serve_percentiles *out)
{
    if (!out)
        return;
    out->p50_s = out->p90_s = out->p99_s = out->mean_s = NAN;
    if (!v || n <= 0)
        return;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    out->mean_s = sum / n;
    out->p50_s = quantile(s, n, 0.50);
    out->p90_s = quantile(s, n, 0.90);
    out->p99_s = quantile(s, n, 0.99);
    free(s);
}

static int usable(const joule_serve_point *p)
{
    return p->valid && isfinite(p->energy_per_token_j) && isfinite(p->itl_p90_s);
}


JOULE_EXPORT int joule_serve_frontier(const joule_serve_point *p, int n, int *front)
{
    if (!p || !front || n < 0)
        return joule_set_error(JOULE_EINVAL, "joule_serve_frontier: NULL argument");
    int m = 0;
    for (int i = 0; i < n; i++)
        if (usable(&p[i]))
            front[m++] = i;
    /* Sort by ITL ascending (energy breaks ties; an insertion sort, the
     * points are few), then keep each point whose energy is below every
     * faster point's. */
    for (int i = 1; i < m; i++) {
        int k = front[i], j = i - 1;
        while (j >= 0) {
            const joule_serve_point *a = &p[front[j]], *b = &p[k];
            int after = a->itl_p90_s > b->itl_p90_s ||
                        (a->itl_p90_s == b->itl_p90_s &&
                         a->energy_per_token_j > b->energy_per_token_j);
            if (!after)
                break;
            front[j + 1] = front[j];
            j--;
        }
        front[j + 1] = k;
    }
    int nf = 0;
    double best = INFINITY;
    for (int i = 0; i < m; i++) {
        int k = front[i];
        if (p[k].energy_per_token_j < best) {
            best = p[k].energy_per_token_j;
            front[nf++] = k;
        }
    }
    return nf;
}

JOULE_EXPORT int joule_serve_recommend(const joule_serve_point *p, int n, double itl_slo_s,
                                       double ttft_slo_s)
{
    if (!p || n < 0)
        return joule_set_error(JOULE_EINVAL, "joule_serve_recommend: NULL argument");
    int check_itl = isfinite(itl_slo_s) && itl_slo_s > 0;
    int check_ttft = isfinite(ttft_slo_s) && ttft_slo_s > 0;
    int best = -1;
    double min_itl = INFINITY, min_ttft = INFINITY;
    for (int i = 0; i < n; i++) {
        if (!usable(&p[i]))
            continue;
        if (p[i].itl_p90_s < min_itl)
            min_itl = p[i].itl_p90_s;
        if (p[i].ttft_p90_s < min_ttft)
            min_ttft = p[i].ttft_p90_s;
        if (check_itl && !(p[i].itl_p90_s <= itl_slo_s))
            continue;
        if (check_ttft && !(p[i].ttft_p90_s <= ttft_slo_s))
            continue;
        if (best < 0 || p[i].energy_per_token_j < p[best].energy_per_token_j ||
            (p[i].energy_per_token_j == p[best].energy_per_token_j &&
             p[i].itl_p90_s < p[best].itl_p90_s))
            best = i;
    }
    if (best >= 0)
        return best;
    if (!isfinite(min_itl))
        return joule_set_error(JOULE_ENOENT, "no valid configuration was measured");
    return joule_set_error(JOULE_ENOENT,
                           "no configuration meets the SLOs (ITL p90 <= %g s, TTFT p90 <= %g s); "
                           "the lowest ITL p90 measured is %g s and the lowest TTFT p90 %g s",
                           check_itl ? itl_slo_s : INFINITY, check_ttft ? ttft_slo_s : INFINITY,
                           min_itl, min_ttft);
}
