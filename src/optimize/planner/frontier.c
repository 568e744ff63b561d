/* The frontier of real plans: a Pareto set in (time, energy) with a pool
 * of recycled choice arrays. */
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

uint16_t *pl_choice_get(pl_frontier *f)
{
    if (f->npool > 0)
        return f->pool[--f->npool];
    return pl_malloc((size_t)f->N * sizeof(uint16_t));
}

void pl_choice_put(pl_frontier *f, uint16_t *c)
{
    if (!c)
        return;
    if (f->npool == f->cappool) {
        int ncap = f->cappool ? f->cappool * 2 : 16;
        uint16_t **np = pl_realloc(f->pool, (size_t)ncap * sizeof *np);
        if (!np) {
            pl_free(c);
            return;
        }
        f->pool = np;
        f->cappool = ncap;
    }
    f->pool[f->npool++] = c;
}

int pl_frontier_insert(pl_frontier *f, pl_plan *p)
{
    int lo = 0, hi = f->n; /* first index with time >= p->time_s */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (f->pts[mid].time_s < p->time_s)
            lo = mid + 1;
        else
            hi = mid;
    }
    int pos = lo;
    if ((pos > 0 && f->pts[pos - 1].energy_j <= p->energy_j) ||
        (pos < f->n && f->pts[pos].time_s == p->time_s &&
         f->pts[pos].energy_j <= p->energy_j)) {
        pl_choice_put(f, p->choice);
        p->choice = NULL;
        return 0;
    }
    int end = pos;
    while (end < f->n && f->pts[end].energy_j >= p->energy_j)
        end++;
    for (int i = pos; i < end; i++)
        pl_choice_put(f, f->pts[i].choice);
    int removed = end - pos;
    if (removed == 0 && f->n == f->cap) {
        int ncap = f->cap ? f->cap * 2 : 64;
        pl_plan *np = pl_realloc(f->pts, (size_t)ncap * sizeof *np);
        if (!np) {
            pl_choice_put(f, p->choice);
            return joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
        }
        f->pts = np;
        f->cap = ncap;
    }
    if (removed != 1)
        memmove(&f->pts[pos + 1], &f->pts[end],
                (size_t)(f->n - end) * sizeof *f->pts);
    f->pts[pos] = *p;
    f->n += 1 - removed;
    p->choice = NULL;
    return 0;
}

void pl_frontier_free(pl_frontier *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        pl_free(f->pts[i].choice);
    for (int i = 0; i < f->npool; i++)
        pl_free(f->pool[i]);
    pl_free(f->pool);
    pl_free(f->pts);
    pl_free(f->hull_cost);
    pl_free(f->round_energy_j);
    pl_free(f->round_quanta);
    memset(f, 0, sizeof *f);
}

int pl_frontier_pick_deadline(const pl_frontier *f, double deadline_s)
{
    int best = -1;
    for (int i = 0; i < f->n; i++)
        if (f->pts[i].time_s <= deadline_s * (1 + 1e-12))
            best = i; /* energy decreases along the frontier */
    return best;
}

void pl_frontier_thin(pl_frontier *f, double quantum_s)
{
    int n = 0;
    for (int i = 0; i < f->n; i++) {
        int last = i + 1 == f->n ||
                   pl_deadline_quanta(f->pts[i + 1].time_s, quantum_s) >
                       pl_deadline_quanta(f->pts[i].time_s, quantum_s);
        if (i == 0 || last)
            f->pts[n++] = f->pts[i];
        else
            pl_choice_put(f, f->pts[i].choice);
    }
    f->n = n;
}
