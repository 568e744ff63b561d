/* Plan simulation (time and energy of a choice of options) and energy-bloat
 * removal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

struct pl_work {
    double *es;     /* earliest start, s */
    double *lf;     /* latest finish, s */
    int64_t *qfin;  /* finish in quanta */
};

int pl_work_create(const pl_problem *pb, pl_work **out)
{
    int N = pb->dag.N;
    pl_work *w = pl_calloc(1, sizeof *w);
    if (w) {
        w->es = pl_malloc((size_t)N * sizeof(double));
        w->lf = pl_malloc((size_t)N * sizeof(double));
        w->qfin = pl_malloc((size_t)N * sizeof(int64_t));
    }
    if (!w || !w->es || !w->lf || !w->qfin) {
        pl_work_free(w);
        *out = NULL;
        return pl_error(JOULE_ENOMEM, "out of memory");
    }
    *out = w;
    return 0;
}

void pl_work_free(pl_work *w)
{
    if (!w)
        return;
    pl_free(w->es);
    pl_free(w->lf);
    pl_free(w->qfin);
    pl_free(w);
}

void pl_plan_eval(const pl_problem *pb, pl_work *w, pl_plan *p)
{
    const pl_dag *d = &pb->dag;
    double tmax = 0, sum_t = 0, sum_e = 0;
    int64_t qmax = 0, sum_q = 0;
    for (int k = 0; k < d->N; k++) {
        int c = d->topo[k];
        const pl_option *o = &pl_kind_of(pb, c)->opt[p->choice[c]];
        double st = 0;
        int64_t qst = 0;
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            double f = w->es[q] + pl_kind_of(pb, q)->opt[p->choice[q]].time_s;
            if (f > st)
                st = f;
            if (w->qfin[q] > qst)
                qst = w->qfin[q];
        }
        w->es[c] = st;
        w->qfin[c] = qst + o->quanta;
        double fin = st + o->time_s;
        if (fin > tmax)
            tmax = fin;
        if (w->qfin[c] > qmax)
            qmax = w->qfin[c];
        sum_t += o->time_s;
        sum_e += o->energy_j;
        sum_q += o->quanta;
    }
    double P = pb->cfg.blocking_power_w, q = pb->cfg.quantum_s;
    int S = pb->cfg.stages;
    p->time_s = tmax;
    p->energy_j = sum_e + P * (S * tmax - sum_t);
    p->quanta = qmax;
    p->model_energy_j = sum_e + P * q * (double)(S * qmax - sum_q);
}

/* slowest option index with time <= window; at least `cur` */
static int slowest_fitting(const pl_kind *kd, int cur, double window)
{
    int lo = cur, hi = kd->nopt - 1;
    if (kd->opt[hi].time_s <= window)
        return hi;
    while (lo < hi) { /* invariant: opt[lo] fits or lo == cur */
        int mid = lo + (hi - lo + 1) / 2;
        if (kd->opt[mid].time_s <= window)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void pl_plan_fill_slack(const pl_problem *pb, pl_work *w, uint16_t *choice,
                        double deadline_s)
{
    pl_plan_fill_slack_capped(pb, w, choice, deadline_s, NULL);
}

void pl_plan_fill_slack_capped(const pl_problem *pb, pl_work *w,
                               uint16_t *choice, double deadline_s,
                               const int32_t *cap_quanta)
{
    const pl_dag *d = &pb->dag;
    double T = 0;
    for (int k = 0; k < d->N; k++) {
        int c = d->topo[k];
        double st = 0;
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            double f = w->es[q] + pl_kind_of(pb, q)->opt[choice[q]].time_s;
            if (f > st)
                st = f;
        }
        w->es[c] = st;
        double fin = st + pl_kind_of(pb, c)->opt[choice[c]].time_s;
        if (fin > T)
            T = fin;
    }
    if (deadline_s > T)
        T = deadline_s;
    for (int c = 0; c < d->N; c++)
        w->lf[c] = T;
    /* latest-start schedule built backwards: each computation takes the
     * slowest option that fits between its earliest start (predecessors
     * unchanged so far) and the latest start of its successors */
    for (int k = d->N - 1; k >= 0; k--) {
        int c = d->topo[k];
        const pl_kind *kd = pl_kind_of(pb, c);
        int j = slowest_fitting(kd, choice[c], w->lf[c] - w->es[c]);
        if (cap_quanta) {
            int32_t x = cap_quanta[c];
            x = x < kd->tmin ? kd->tmin : x > kd->tmax ? kd->tmax : x;
            int lim = kd->down[x - kd->tmin];
            if (j > lim)
                j = lim > choice[c] ? lim : choice[c];
        }
        choice[c] = (uint16_t)j;
        double ls = w->lf[c] - kd->opt[j].time_s;
        if (ls < w->es[c])
            ls = w->es[c];
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            if (ls < w->lf[q])
                w->lf[q] = ls;
        }
    }
}
