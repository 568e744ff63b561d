/* The integral of a power step function (t[i], v[i]) on [t[0], end]: the
 * energy from t[0] to x, read at increasing x with a cursor that only moves
 * forward, so a sweep over n points costs O(n). Shared by the swing
 * analysis (core/trace_swing.c) and its spectrum (core/spectrum.c). */
#ifndef JOULE_CORE_STEPFN_H
#define JOULE_CORE_STEPFN_H

#include <stdlib.h>

struct stepfn {
    const double *t, *v;
    int n;
    double end;
    double *cum; /* cum[i]: energy from t[0] to t[i] (n + 1 entries) */
};

/* 0, or -1 when out of memory. */
static inline int stepfn_init(struct stepfn *f, const double *t, const double *v, int n,
                              double end)
{
    f->t = t;
    f->v = v;
    f->n = n;
    f->end = end;
    f->cum = malloc(sizeof *f->cum * (size_t)(n + 1));
    if (!f->cum)
        return -1;
    f->cum[0] = 0;
    for (int i = 0; i < n; i++) {
        double next = i + 1 < n ? t[i + 1] : end;
        if (next > end)
            next = end;
        f->cum[i + 1] = f->cum[i] + v[i] * (next > t[i] ? next - t[i] : 0);
    }
    return 0;
}

static inline void stepfn_free(struct stepfn *f) { free(f->cum); }

/* Energy from t[0] to x (x clamped to [t[0], end]); *cursor starts at 0
 * and must see non-decreasing x. */
static inline double stepfn_energy_to(const struct stepfn *f, int *cursor, double x)
{
    if (x <= f->t[0])
        return 0;
    if (x > f->end)
        x = f->end;
    int i = *cursor;
    while (i + 1 < f->n && f->t[i + 1] <= x)
        i++;
    *cursor = i;
    return f->cum[i] + f->v[i] * (x - f->t[i]);
}

#endif
