/* Discrete improvement of the frontier: a Pareto local search over the
 * real options (docs/planner.md, "Discrete improvement").
 *
 * The rounded hull plans are good but not optimal for the real options:
 * rounding down leaves slack that the greedy bloat removal hands out in
 * topological order, and the hull cannot see options above it. This pass
 * takes a frontier plan, changes one computation to another option, lets
 * the others take the slack that frees (or the time that adds) with the
 * usual bloat removal at the new plan's own time, and offers the result to
 * the frontier. Plans that enter the frontier are searched in turn, so a
 * better plan at one deadline seeds the next. It stops when no plan is
 * left to search, or when a budget of simulated computations is spent
 * (counted, not timed, so runs repeat exactly).
 *
 * On small pipelines, where trying every change of one or two
 * computations to any option is cheap (PAIR_WORK), every frontier plan
 * gets all of them: that finds the brute-force frontier on the tests'
 * pipelines. Larger ones are searched in two rounds over the plans that
 * are the cheapest within some quantized deadline: first a few ranked
 * changes per plan, then every change to a neighbouring option. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

/* A pipeline is small when searching every pair of changes of a plan
 * simulates at most this many computations. */
#define PAIR_WORK (1 << 16)
/* ranked changes per direction and plan in the first round */
#define RANKED_K 2
/* Default budgets, in simulated computations: on large pipelines a few
 * times the work of the hull solve (per quantum of iteration time and
 * computation, at least LARGE_MIN), on small ones enough to finish. */
#define LARGE_PER_STEP 8
#define LARGE_MIN (1 << 18)
#define SMALL_BUDGET (1 << 22)

/* How far a plan has been searched (pl_plan.searched): a few ranked
 * changes, every one-computation change, every two-computation change. */
enum { RANKED = 1, SINGLES = 2, PAIRS = 3 };

typedef struct {
    const pl_problem *pb;
    pl_work *w;
    pl_frontier *f;
    int small;
    int *pos;        /* topological position of each computation */
    uint16_t *base;  /* the plan being searched */
    uint16_t *work;  /* a neighbour */
    int valid;       /* w holds base's earliest starts at positions < valid */
    double *es, *lf; /* base's earliest starts and latest finishes */
} search;

/* ---- which plans ---------------------------------------------------------- */

/* Is plan i the cheapest within its quantized deadline? */
static int is_envelope(const pl_frontier *f, int i, double q)
{
    return i + 1 == f->n || pl_deadline_quanta(f->pts[i + 1].time_s, q) >
                                pl_deadline_quanta(f->pts[i].time_s, q);
}

/* The next plan to search to `level`, -1 if none: the fastest plan (the
 * one without energy bloat), the least-energy plan, then the cheapest plan
 * within each quantized deadline, fastest first, and on small pipelines
 * the others too (some optimum there is reached only through one of
 * them). */
static int next_to_search(const pl_frontier *f, double q, int level,
                          int small)
{
    if (f->n == 0)
        return -1;
    if (f->pts[0].searched < level)
        return 0;
    if (f->pts[f->n - 1].searched < level)
        return f->n - 1;
    int other = -1;
    for (int i = 1; i < f->n; i++) {
        if (f->pts[i].searched >= level)
            continue;
        if (is_envelope(f, i, q))
            return i;
        if (other < 0 && small)
            other = i;
    }
    return other;
}

/* ---- one neighbour -------------------------------------------------------- */

/* Is (T, E) worse than a frontier plan by more than rounding? The
 * neighbour's sums run in another order than pl_plan_eval's. */
static int dominated(const pl_frontier *f, double T, double E)
{
    double t = T * (1 - 1e-11), e = E * (1 - 1e-11);
    int lo = 0, hi = f->n; /* first plan slower than t */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (f->pts[mid].time_s <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && f->pts[lo - 1].energy_j <= e;
}

/* Offers base with computation c at option j (and c2 at j2 when c2 >= 0),
 * energy bloat removed. Base's earliest starts before the first changed
 * computation are reused, so offering in reverse topological order saves
 * about half a simulation; only a plan that may enter the frontier is
 * copied and simulated exactly. */
static int offer(search *sr, int c, int j, int c2, int j2)
{
    const pl_problem *pb = sr->pb;
    size_t bytes = (size_t)pb->dag.N * sizeof *sr->work;
    int from = sr->pos[c];
    if (c2 >= 0 && sr->pos[c2] < from)
        from = sr->pos[c2];
    double E;
    if (from > sr->valid) { /* simulate base again */
        memcpy(sr->work, sr->base, bytes);
        pl_plan_fill_from(pb, sr->w, sr->work, 0, &E);
        sr->valid = pb->dag.N;
    }
    memcpy(sr->work, sr->base, bytes);
    sr->work[c] = (uint16_t)j;
    if (c2 >= 0)
        sr->work[c2] = (uint16_t)j2;
    double T = pl_plan_fill_from(pb, sr->w, sr->work, from, &E);
    sr->valid = from;
    sr->f->improve_evals++;
    if (dominated(sr->f, T, E))
        return 0;
    uint16_t *ch = pl_choice_get(sr->f);
    if (!ch)
        return joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
    memcpy(ch, sr->work, bytes);
    pl_plan p = {.choice = ch};
    pl_plan_eval(pb, sr->w, &p);
    sr->valid = 0; /* pl_plan_eval used w's earliest starts */
    return pl_frontier_insert(sr->f, &p);
}

/* ---- neighbourhoods ------------------------------------------------------- */

/* Every change of one computation to another option (small pipelines), or
 * to the next slower and then the next faster option, in reverse
 * topological order. */
static int offer_singles(search *sr)
{
    const pl_dag *d = &sr->pb->dag;
    int rc = 0;
    for (int dir = 1; dir >= -1 && !rc; dir -= 2) {
        for (int k = d->N - 1; k >= 0 && !rc; k--) {
            int c = d->topo[k], b = sr->base[c];
            int nopt = pl_kind_of(sr->pb, c)->nopt;
            int lo = dir > 0 ? b + 1 : sr->small ? 0 : b - 1;
            int hi = dir < 0 ? b - 1 : sr->small ? nopt - 1 : b + 1;
            for (int j = lo < 0 ? 0 : lo; j <= hi && j < nopt && !rc; j++)
                rc = offer(sr, c, j, -1, 0);
        }
    }
    return rc;
}

/* Every change of two computations to other options (small pipelines). */
static int offer_pairs(search *sr)
{
    const pl_dag *d = &sr->pb->dag;
    int rc = 0;
    for (int k = d->N - 1; k >= 0 && !rc; k--) {
        int c = d->topo[k];
        for (int j = 0; j < pl_kind_of(sr->pb, c)->nopt && !rc; j++) {
            if (j == sr->base[c])
                continue;
            for (int k2 = k + 1; k2 < d->N && !rc; k2++) {
                int c2 = d->topo[k2];
                int n2 = pl_kind_of(sr->pb, c2)->nopt;
                for (int j2 = 0; j2 < n2 && !rc; j2++)
                    if (j2 != sr->base[c2])
                        rc = offer(sr, c, j, c2, j2);
            }
        }
    }
    return rc;
}

/* Earliest starts and latest finishes of base at its own time. */
static void base_times(search *sr)
{
    const pl_problem *pb = sr->pb;
    const pl_dag *d = &pb->dag;
    double T = 0;
    for (int k = 0; k < d->N; k++) {
        int c = d->topo[k];
        double st = 0;
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int p = d->pred[e];
            double t = pl_kind_of(pb, p)->opt[sr->base[p]].time_s;
            st = fmax(st, sr->es[p] + t);
        }
        sr->es[c] = st;
        T = fmax(T, st + pl_kind_of(pb, c)->opt[sr->base[c]].time_s);
    }
    for (int k = d->N - 1; k >= 0; k--) {
        int c = d->topo[k];
        double l = T;
        for (int e = d->succ_start[c]; e < d->succ_start[c + 1]; e++) {
            int q = d->succ[e];
            double t = pl_kind_of(pb, q)->opt[sr->base[q]].time_s;
            l = fmin(l, sr->lf[q] - t);
        }
        sr->lf[c] = l;
    }
}

/* c = e - P_block * t: the part of the iteration energy one computation
 * decides at a fixed iteration time. */
static double cost_of(const pl_problem *pb, int c, int j)
{
    const pl_option *o = &pl_kind_of(pb, c)->opt[j];
    return o->energy_j - pb->cfg.blocking_power_w * o->time_s;
}

/* The RANKED_K lowest scores; a candidate is computation * 2 + 1 for one
 * option slower, * 2 for one faster. */
typedef struct {
    int cand[RANKED_K];
    double score[RANKED_K];
    int n;
} ranking;

static void keep_best(ranking *r, int cand, double score)
{
    if (r->n == RANKED_K && score >= r->score[RANKED_K - 1])
        return;
    int i = r->n < RANKED_K ? r->n++ : RANKED_K - 1;
    for (; i > 0 && r->score[i - 1] > score; i--) {
        r->score[i] = r->score[i - 1];
        r->cand[i] = r->cand[i - 1];
    }
    r->score[i] = score;
    r->cand[i] = cand;
}

/* The RANKED_K slowdowns that save the most energy per second they add to
 * the iteration (beyond the computation's float), and the RANKED_K
 * speedups of critical computations that cost the least per second they
 * free. The bloat removal after each hands the time on to the rest. */
static int offer_ranked(search *sr)
{
    const pl_problem *pb = sr->pb;
    ranking slow = {.n = 0}, fast = {.n = 0};
    base_times(sr);
    for (int c = 0; c < pb->dag.N; c++) {
        const pl_kind *kd = pl_kind_of(pb, c);
        int b = sr->base[c];
        double t = kd->opt[b].time_s;
        double fl = sr->lf[c] - sr->es[c] - t;
        if (b + 1 < kd->nopt) {
            double grow = kd->opt[b + 1].time_s - t - fl;
            double dc = cost_of(pb, c, b + 1) - cost_of(pb, c, b);
            keep_best(&slow, 2 * c + 1, grow > 0 ? dc / grow : -INFINITY);
        }
        if (b > 0 && fl <= 1e-12 * sr->lf[c]) {
            double dt = t - kd->opt[b - 1].time_s;
            double dc = cost_of(pb, c, b - 1) - cost_of(pb, c, b);
            keep_best(&fast, 2 * c, dc / dt);
        }
    }
    int cand[2 * RANKED_K], n = 0;
    for (int i = 0; i < slow.n; i++)
        cand[n++] = slow.cand[i];
    for (int i = 0; i < fast.n; i++)
        cand[n++] = fast.cand[i];
    /* reverse topological order, so offers reuse base's earliest starts */
    for (int i = 1; i < n; i++) {
        int x = cand[i], k = i;
        for (; k > 0 && sr->pos[cand[k - 1] / 2] < sr->pos[x / 2]; k--)
            cand[k] = cand[k - 1];
        cand[k] = x;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int c = cand[i] / 2;
        rc = offer(sr, c, sr->base[c] + (cand[i] % 2 ? 1 : -1), -1, 0);
    }
    return rc;
}

/* ---- the search ----------------------------------------------------------- */

/* Searches frontier plans to `level` until none is left or the budget is
 * spent. */
static int search_level(search *sr, int level, int64_t *budget)
{
    const pl_problem *pb = sr->pb;
    pl_frontier *f = sr->f;
    int N = pb->dag.N, rc = 0, i;
    while (!rc && (i = next_to_search(f, pb->cfg.quantum_s, level,
                                      sr->small)) >= 0) {
        if (*budget <= 0) {
            f->improve_cut = 1;
            break;
        }
        long long evals = f->improve_evals;
        int done = f->pts[i].searched;
        f->pts[i].searched = level;
        f->improve_searched++;
        memcpy(sr->base, f->pts[i].choice, (size_t)N * sizeof *sr->base);
        sr->valid = 0;
        if (level == RANKED)
            rc = offer_ranked(sr);
        else if (done < SINGLES) /* a plan new in the pairs round too */
            rc = offer_singles(sr);
        if (!rc && level == PAIRS)
            rc = offer_pairs(sr);
        *budget -= (int64_t)(f->improve_evals - evals + 1) * N;
        /* on large pipelines only the cheapest plan within each quantized
         * deadline matters, to the search and to the output: keep the
         * frontier (and memory) that small as it goes */
        if (!sr->small)
            pl_frontier_thin(f, pb->cfg.quantum_s);
    }
    return rc;
}

int pl_frontier_improve(const pl_problem *pb, pl_work *w, pl_frontier *f,
                       int64_t budget)
{
    int N = pb->dag.N;
    int64_t changes = 0;
    for (int c = 0; c < N; c++)
        changes += pl_kind_of(pb, c)->nopt - 1;
    search sr = {.pb = pb, .w = w, .f = f};
    sr.small = changes * changes / 2 * N <= PAIR_WORK;
    if (budget == 0) {
        budget = sr.small ? SMALL_BUDGET
                          : (int64_t)LARGE_PER_STEP * (f->steps + 1) * N;
        if (budget < LARGE_MIN)
            budget = LARGE_MIN;
    }
    sr.pos = pl_malloc((size_t)N * sizeof *sr.pos);
    sr.base = pl_malloc((size_t)N * sizeof *sr.base);
    sr.work = pl_malloc((size_t)N * sizeof *sr.work);
    sr.es = pl_malloc((size_t)N * sizeof *sr.es);
    sr.lf = pl_malloc((size_t)N * sizeof *sr.lf);
    int rc = 0;
    if (!sr.pos || !sr.base || !sr.work || !sr.es || !sr.lf)
        rc = joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
    for (int k = 0; k < N && !rc; k++)
        sr.pos[pb->dag.topo[k]] = k;
    if (!rc && !sr.small)
        rc = search_level(&sr, RANKED, &budget);
    if (!rc)
        rc = search_level(&sr, SINGLES, &budget);
    if (!rc && sr.small)
        rc = search_level(&sr, PAIRS, &budget);
    pl_free(sr.pos);
    pl_free(sr.base);
    pl_free(sr.work);
    pl_free(sr.es);
    pl_free(sr.lf);
    return rc;
}
