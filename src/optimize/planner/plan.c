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
    double *tmax;   /* N + 1: latest finish of the first k in topo order */
    const pl_kind **kind; /* N: each computation's options (no division) */
};

int pl_work_create(const pl_problem *pb, pl_work **out)
{
    int N = pb->dag.N;
    pl_work *w = pl_calloc(1, sizeof *w);
    if (w) {
        w->es = pl_malloc((size_t)N * sizeof(double));
        w->lf = pl_malloc((size_t)N * sizeof(double));
        w->qfin = pl_malloc((size_t)N * sizeof(int64_t));
        w->tmax = pl_calloc((size_t)N + 1, sizeof(double));
        w->kind = pl_malloc((size_t)N * sizeof *w->kind);
    }
    if (!w || !w->es || !w->lf || !w->qfin || !w->tmax || !w->kind) {
        pl_work_free(w);
        *out = NULL;
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    for (int c = 0; c < N; c++)
        w->kind[c] = pl_kind_of(pb, c);
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
    pl_free(w->tmax);
    pl_free(w->kind);
    pl_free(w);
}

void pl_plan_eval(const pl_problem *pb, pl_work *w, pl_plan *p)
{
    const pl_dag *d = &pb->dag;
    double tmax = 0, sum_t = 0, sum_e = 0;
    int64_t qmax = 0, sum_q = 0;
    for (int k = 0; k < d->N; k++) {
        int c = d->topo[k];
        const pl_option *o = &w->kind[c]->opt[p->choice[c]];
        double st = 0;
        int64_t qst = 0;
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            double f = w->es[q] + w->kind[q]->opt[p->choice[q]].time_s;
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
    /* most often not even the next option fits */
    if (cur + 1 >= kd->nopt || kd->opt[cur + 1].time_s > window)
        return cur;
    int lo = cur + 1, hi = kd->nopt - 1; /* invariant: opt[lo] fits */
    while (lo < hi) {
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

/* Earliest starts from topological position `from` on, and w->tmax[k],
 * the latest finish of the first k computations; the positions before
 * `from` keep the values of an earlier pass. Returns the iteration time. */
static double forward(const pl_problem *pb, pl_work *w,
                      const uint16_t *choice, int from)
{
    const pl_dag *d = &pb->dag;
    for (int k = from; k < d->N; k++) {
        int c = d->topo[k];
        double st = 0;
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            double f = w->es[q] + w->kind[q]->opt[choice[q]].time_s;
            if (f > st)
                st = f;
        }
        w->es[c] = st;
        double fin = st + w->kind[c]->opt[choice[c]].time_s;
        w->tmax[k + 1] = fin > w->tmax[k] ? fin : w->tmax[k];
    }
    return w->tmax[d->N];
}

/* The backward half of bloat removal, within iteration time T. Returns
 * the energy of the result. */
static double backward(const pl_problem *pb, pl_work *w, uint16_t *choice,
                       double T, const int32_t *cap_quanta)
{
    const pl_dag *d = &pb->dag;
    double sum_e = 0, sum_t = 0;
    for (int c = 0; c < d->N; c++)
        w->lf[c] = T;
    /* latest-start schedule built backwards: each computation takes the
     * slowest option that fits between its earliest start (predecessors
     * unchanged so far) and the latest start of its successors */
    for (int k = d->N - 1; k >= 0; k--) {
        int c = d->topo[k];
        const pl_kind *kd = w->kind[c];
        int j = slowest_fitting(kd, choice[c], w->lf[c] - w->es[c]);
        if (cap_quanta) {
            int32_t x = cap_quanta[c];
            x = x < kd->tmin ? kd->tmin : x > kd->tmax ? kd->tmax : x;
            int lim = kd->down[x - kd->tmin];
            if (j > lim)
                j = lim > choice[c] ? lim : choice[c];
        }
        choice[c] = (uint16_t)j;
        sum_e += kd->opt[j].energy_j;
        sum_t += kd->opt[j].time_s;
        double ls = w->lf[c] - kd->opt[j].time_s;
        if (ls < w->es[c])
            ls = w->es[c];
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            if (ls < w->lf[q])
                w->lf[q] = ls;
        }
    }
    return sum_e + pb->cfg.blocking_power_w * (pb->cfg.stages * T - sum_t);
}

void pl_plan_fill_slack_capped(const pl_problem *pb, pl_work *w,
                               uint16_t *choice, double deadline_s,
                               const int32_t *cap_quanta)
{
    double T = forward(pb, w, choice, 0);
    backward(pb, w, choice, T > deadline_s ? T : deadline_s, cap_quanta);
}

double pl_plan_fill_from(const pl_problem *pb, pl_work *w, uint16_t *choice,
                         int from, double *energy_j)
{
    double T = forward(pb, w, choice, from);
    *energy_j = backward(pb, w, choice, T, NULL);
    return T;
}
