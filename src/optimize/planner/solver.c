/* Phillips–Dessouky time–cost tradeoff on the convex-hull cost model,
 * with Dinic max-flow (lower bounds) on flat arrays.
 *
 * Activity-on-arc network: computation c is the arc 2c -> 2c+1; a
 * dependency p -> c is a dummy arc 2p+1 -> 2c; node 2N is the source and
 * 2N+1 the sink. Durations are integers (quanta); costs are integers (nJ).
 *
 * Starting from every computation at its slowest hull duration (the
 * cheapest schedule), each step finds a minimum cut of the critical
 * subnetwork whose forward arcs cost their unit shortening cost (infinite
 * at the fastest duration and for dummies) and whose backward arcs refund
 * their unit lengthening saving (a flow lower bound). Shortening the
 * forward arcs and lengthening the backward arcs by one quantum reduces
 * the iteration time by one at the least extra cost, so the recorded cost
 * is the exact optimum of the convex model at every quantized time.
 * See docs/planner.md. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

typedef struct solver {
    const pl_problem *pb;
    int N, nn, na;
    int src, snk;
    int *afrom, *ato;       /* arcs 0..N-1 are the computations */
    int *in_start, *in_arc;
    int *out_start, *out_arc;
    int *ntopo;             /* nodes in topological order */
    int32_t *dur;
    int64_t *E, *L;
    /* flow network */
    int *fid;               /* node -> flow node or -1 */
    int *fnode;             /* flow node -> node */
    int fn;
    int *head, *nxt, *to;
    int64_t *cap;
    int fm, fmcap;
    int *arc_edge;          /* critical arc list */
    int *crit;
    int ncrit;
    int64_t *excess;
    int *level, *iter, *queue, *path;
    int64_t *flow;          /* per arc, carried between steps */
    int64_t INF;            /* capacity of arcs that cannot shrink */
    int64_t Fmax;           /* bound on every finite cut */
    int cold_starts;
} solver;

static inline int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX / 4 - b ? INT64_MAX / 4 : a + b;
}

static void solver_free(solver *s)
{
    pl_free(s->afrom);
    pl_free(s->ato);
    pl_free(s->in_start);
    pl_free(s->in_arc);
    pl_free(s->out_start);
    pl_free(s->out_arc);
    pl_free(s->ntopo);
    pl_free(s->dur);
    pl_free(s->E);
    pl_free(s->L);
    pl_free(s->fid);
    pl_free(s->fnode);
    pl_free(s->head);
    pl_free(s->nxt);
    pl_free(s->to);
    pl_free(s->cap);
    pl_free(s->arc_edge);
    pl_free(s->crit);
    pl_free(s->excess);
    pl_free(s->level);
    pl_free(s->iter);
    pl_free(s->queue);
    pl_free(s->path);
    pl_free(s->flow);
}

static int solver_init(solver *s, const pl_problem *pb)
{
    memset(s, 0, sizeof *s);
    const pl_dag *d = &pb->dag;
    int N = d->N;
    s->pb = pb;
    s->N = N;
    s->nn = 2 * N + 2;
    s->src = 2 * N;
    s->snk = 2 * N + 1;
    int nsrc = 0, nsnk = 0;
    for (int c = 0; c < N; c++) {
        nsrc += d->pred_start[c + 1] == d->pred_start[c];
        nsnk += d->succ_start[c + 1] == d->succ_start[c];
    }
    s->na = N + d->pred_start[N] + nsrc + nsnk;
    int nn = s->nn, na = s->na;
    s->afrom = pl_malloc((size_t)na * sizeof(int));
    s->ato = pl_malloc((size_t)na * sizeof(int));
    s->in_start = pl_calloc((size_t)nn + 1, sizeof(int));
    s->in_arc = pl_malloc((size_t)na * sizeof(int));
    s->out_start = pl_calloc((size_t)nn + 1, sizeof(int));
    s->out_arc = pl_malloc((size_t)na * sizeof(int));
    s->ntopo = pl_malloc((size_t)nn * sizeof(int));
    s->dur = pl_malloc((size_t)N * sizeof(int32_t));
    s->E = pl_malloc((size_t)nn * sizeof(int64_t));
    s->L = pl_malloc((size_t)nn * sizeof(int64_t));
    s->fid = pl_malloc((size_t)nn * sizeof(int));
    s->fnode = pl_malloc((size_t)(nn + 2) * sizeof(int));
    s->fmcap = 2 * (na + nn + 1) + 8;
    s->head = pl_malloc((size_t)(nn + 2) * sizeof(int));
    s->nxt = pl_malloc((size_t)s->fmcap * sizeof(int));
    s->to = pl_malloc((size_t)s->fmcap * sizeof(int));
    s->cap = pl_malloc((size_t)s->fmcap * sizeof(int64_t));
    s->arc_edge = pl_malloc((size_t)na * sizeof(int));
    s->crit = pl_malloc((size_t)na * sizeof(int));
    s->excess = pl_malloc((size_t)(nn + 2) * sizeof(int64_t));
    s->level = pl_malloc((size_t)(nn + 2) * sizeof(int));
    s->iter = pl_malloc((size_t)(nn + 2) * sizeof(int));
    s->queue = pl_malloc((size_t)(nn + 2) * sizeof(int));
    s->path = pl_malloc((size_t)(nn + 2) * sizeof(int));
    s->flow = pl_calloc((size_t)na, sizeof(int64_t));
    if (!s->flow || !s->afrom || !s->ato || !s->in_start || !s->in_arc ||
        !s->out_start || !s->out_arc || !s->ntopo || !s->dur || !s->E ||
        !s->L || !s->fid || !s->fnode || !s->head || !s->nxt || !s->to ||
        !s->cap || !s->arc_edge || !s->crit || !s->excess || !s->level ||
        !s->iter || !s->queue || !s->path) {
        solver_free(s);
        return joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
    }
    int a = 0;
    for (int c = 0; c < N; c++) {
        s->afrom[a] = 2 * c;
        s->ato[a] = 2 * c + 1;
        a++;
    }
    for (int c = 0; c < N; c++) {
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            s->afrom[a] = 2 * d->pred[e] + 1;
            s->ato[a] = 2 * c;
            a++;
        }
        if (d->pred_start[c + 1] == d->pred_start[c]) {
            s->afrom[a] = s->src;
            s->ato[a] = 2 * c;
            a++;
        }
        if (d->succ_start[c + 1] == d->succ_start[c]) {
            s->afrom[a] = 2 * c + 1;
            s->ato[a] = s->snk;
            a++;
        }
    }
    for (a = 0; a < na; a++) {
        s->in_start[s->ato[a] + 1]++;
        s->out_start[s->afrom[a] + 1]++;
    }
    for (int v = 0; v < nn; v++) {
        s->in_start[v + 1] += s->in_start[v];
        s->out_start[v + 1] += s->out_start[v];
    }
    {
        int *ci = s->level, *co = s->iter; /* scratch cursors */
        for (int v = 0; v < nn; v++) {
            ci[v] = s->in_start[v];
            co[v] = s->out_start[v];
        }
        for (a = 0; a < na; a++) {
            s->in_arc[ci[s->ato[a]]++] = a;
            s->out_arc[co[s->afrom[a]]++] = a;
        }
    }
    int k = 0;
    s->ntopo[k++] = s->src;
    for (int i = 0; i < N; i++) {
        s->ntopo[k++] = 2 * d->topo[i];
        s->ntopo[k++] = 2 * d->topo[i] + 1;
    }
    s->ntopo[k++] = s->snk;
    /* every finite cut costs at most the sum of the largest unit slopes */
    int64_t fmax = 0;
    for (int c = 0; c < N; c++) {
        const pl_kind *kd = pl_kind_of(pb, c);
        if (kd->tmax > kd->tmin)
            fmax = sat_add(fmax, kd->slope[0]);
    }
    s->Fmax = fmax;
    s->INF = sat_add(sat_add(fmax, fmax), 2);
    return 0;
}

static inline int64_t arc_dur(const solver *s, int a)
{
    return a < s->N ? s->dur[a] : 0;
}

/* Earliest and latest event times; returns the iteration time. */
static int64_t cpm(solver *s)
{
    int64_t *E = s->E, *L = s->L;
    for (int k = 0; k < s->nn; k++) {
        int v = s->ntopo[k];
        int64_t best = 0;
        for (int i = s->in_start[v]; i < s->in_start[v + 1]; i++) {
            int a = s->in_arc[i];
            int64_t t = E[s->afrom[a]] + arc_dur(s, a);
            if (t > best)
                best = t;
        }
        E[v] = best;
    }
    int64_t T = E[s->snk];
    for (int k = s->nn - 1; k >= 0; k--) {
        int v = s->ntopo[k];
        int64_t best = T;
        for (int i = s->out_start[v]; i < s->out_start[v + 1]; i++) {
            int a = s->out_arc[i];
            int64_t t = L[s->ato[a]] - arc_dur(s, a);
            if (t < best)
                best = t;
        }
        L[v] = best;
    }
    return T;
}

/* ---- Dinic ---------------------------------------------------------------- */

static inline void add_edge(solver *s, int u, int v, int64_t c)
{
    int e = s->fm;
    s->to[e] = v;
    s->cap[e] = c;
    s->nxt[e] = s->head[u];
    s->head[u] = e;
    s->to[e + 1] = u;
    s->cap[e + 1] = 0;
    s->nxt[e + 1] = s->head[v];
    s->head[v] = e + 1;
    s->fm = e + 2;
}

static int bfs(solver *s, int from, int target)
{
    int *level = s->level, *q = s->queue;
    for (int v = 0; v < s->fn; v++)
        level[v] = -1;
    int qh = 0, qt = 0;
    level[from] = 0;
    q[qt++] = from;
    while (qh < qt) {
        int v = q[qh++];
        for (int e = s->head[v]; e >= 0; e = s->nxt[e]) {
            int w = s->to[e];
            if (s->cap[e] > 0 && level[w] < 0) {
                level[w] = level[v] + 1;
                q[qt++] = w;
            }
        }
    }
    return target < 0 || level[target] >= 0;
}

/* Blocking flow in the level graph, iterative with current-arc pointers. */
static int64_t blocking(solver *s, int from, int target, int64_t limit)
{
    int *level = s->level, *it = s->iter, *path = s->path;
    int64_t total = 0;
    int top = 0, v = from;
    while (total < limit) {
        if (v == target) {
            int64_t f = limit - total;
            for (int i = 0; i < top; i++)
                if (s->cap[path[i]] < f)
                    f = s->cap[path[i]];
            int first_sat = -1;
            for (int i = 0; i < top; i++) {
                s->cap[path[i]] -= f;
                s->cap[path[i] ^ 1] += f;
                if (first_sat < 0 && s->cap[path[i]] == 0)
                    first_sat = i;
            }
            total += f;
            if (first_sat < 0)
                break; /* limit reached */
            top = first_sat;
            v = top ? s->to[path[top - 1]] : from;
            continue;
        }
        int e = it[v];
        while (e >= 0 && !(s->cap[e] > 0 && level[s->to[e]] == level[v] + 1))
            e = s->nxt[e];
        it[v] = e;
        if (e < 0) {
            level[v] = -1; /* dead end */
            if (top == 0)
                break;
            top--;
            v = s->to[path[top] ^ 1];
            it[v] = s->nxt[it[v]];
            continue;
        }
        path[top++] = e;
        v = s->to[e];
    }
    return total;
}

static int64_t maxflow(solver *s, int from, int target, int64_t limit)
{
    int64_t total = 0;
    while (total < limit && bfs(s, from, target)) {
        for (int v = 0; v < s->fn; v++)
            s->iter[v] = s->head[v];
        int64_t f = blocking(s, from, target, limit - total);
        if (f == 0)
            break;
        total += f;
    }
    return total;
}

/* Bounds of the flow on critical arc a: [*l, *u]. */
static inline void arc_bounds(const solver *s, int a, int64_t *l, int64_t *u)
{
    *u = s->INF;
    *l = 0;
    if (a < s->N) {
        const pl_kind *kd = pl_kind_of(s->pb, a);
        int32_t x = s->dur[a] - kd->tmin;
        if (s->dur[a] > kd->tmin)
            *u = kd->slope[x - 1];
        if (s->dur[a] < kd->tmax)
            *l = kd->slope[x];
        if (*l > *u)
            *l = *u; /* cannot happen with a convex model; be safe */
    }
}

/* Finds a feasible flow from zero with the standard lower-bound reduction
 * (super source and sink, t -> s arc). Returns the s-t flow value, or -1. */
static int64_t feasible_from_zero(solver *s)
{
    int fs = s->fid[s->src], ft = s->fid[s->snk];
    int S1 = s->fn - 2, T1 = s->fn - 1;
    for (int v = 0; v < s->fn; v++)
        s->excess[v] = 0;
    for (int i = 0; i < s->ncrit; i++) {
        int a = s->crit[i];
        int64_t l, u;
        arc_bounds(s, a, &l, &u);
        int e = s->arc_edge[i];
        s->cap[e] = u - l;
        s->cap[e + 1] = 0;
        s->excess[s->fid[s->ato[a]]] += l;
        s->excess[s->fid[s->afrom[a]]] -= l;
    }
    int ts_edge = s->fm;
    add_edge(s, ft, fs, s->INF);
    int64_t need = 0;
    for (int v = 0; v < S1; v++) {
        if (s->excess[v] > 0) {
            add_edge(s, S1, v, s->excess[v]);
            need += s->excess[v];
        } else if (s->excess[v] < 0) {
            add_edge(s, v, T1, -s->excess[v]);
        }
    }
    if (need > 0 && maxflow(s, S1, T1, need) != need)
        return -1;
    int64_t flow = s->cap[ts_edge + 1]; /* flow on t -> s */
    for (int e = ts_edge; e < s->fm; e++)
        s->cap[e] = 0;
    return flow;
}

/* One Phillips–Dessouky step. Returns 1 when the iteration time was
 * reduced (cost change in *delta), 0 when it cannot be (every cut crosses
 * an arc at its fastest duration), < 0 on error.
 *
 * The flow is carried from step to step: after a step, forward cut arcs
 * carry f = old u = new l, lengthened backward arcs f = old l = new u,
 * backward arcs that stay at their slowest duration carry f = l = 0 and
 * turn slack, every arc with positive flow lies on a flow path of tight
 * arcs of length T - 1 (so it stays critical), and an arc that becomes
 * critical is at its slowest duration (optimality), so l = 0. The old flow
 * is therefore feasible for the new network and only needs augmenting.
 * This is checked, and a step whose carried flow is not feasible starts
 * again from zero with the lower-bound reduction. */
static int pd_step(solver *s, int64_t *delta)
{
    const pl_problem *pb = s->pb;
    int64_t *E = s->E, *L = s->L;
    /* critical arcs: both ends critical and the arc tight */
    s->ncrit = 0;
    s->fn = 0;
    for (int v = 0; v < s->nn; v++) {
        if (E[v] == L[v]) {
            s->fid[v] = s->fn;
            s->fnode[s->fn++] = v;
        } else {
            s->fid[v] = -1;
        }
    }
    int warm = 1;
    for (int a = 0; a < s->na; a++) {
        int u = s->afrom[a], v = s->ato[a];
        if (s->fid[u] < 0 || s->fid[v] < 0 || E[u] + arc_dur(s, a) != E[v]) {
            if (s->flow[a] != 0)
                warm = 0;
            continue;
        }
        s->crit[s->ncrit++] = a;
    }
    s->fn += 2; /* super source and sink, used only from zero */
    for (int v = 0; v < s->fn; v++)
        s->head[v] = -1;
    s->fm = 0;
    for (int i = 0; i < s->ncrit; i++) {
        int a = s->crit[i];
        int64_t l, u;
        arc_bounds(s, a, &l, &u);
        int64_t f = s->flow[a];
        if (f < l || f > u)
            warm = 0;
        s->arc_edge[i] = s->fm;
        add_edge(s, s->fid[s->afrom[a]], s->fid[s->ato[a]], u - f);
        s->cap[s->fm - 1] = f - l;
    }
    int fs = s->fid[s->src], ft = s->fid[s->snk];
    int64_t value = 0;
    if (warm) {
        for (int i = s->out_start[s->src]; i < s->out_start[s->src + 1]; i++)
            value += s->flow[s->out_arc[i]];
    } else {
        s->cold_starts++;
        value = feasible_from_zero(s);
        if (value < 0)
            return joule_set_error(JOULE_EINVAL,
                            "planner: no feasible flow in a Phillips-Dessouky "
                            "step (internal error; the cost model is not "
                            "convex)");
    }
    int64_t limit = s->Fmax + 1 - value;
    int reach_known = 0;
    if (limit > 0) {
        int64_t more = maxflow(s, fs, ft, limit);
        value += more;
        reach_known = more < limit; /* stopped because t is unreachable */
    }
    if (value > s->Fmax)
        return 0; /* infinite: every cut crosses an arc that cannot shrink */
    if (!reach_known)
        bfs(s, fs, -1);
    /* read the flow back; the source side of the minimum cut is what the
     * last search reached in the residual graph */
    for (int a = 0; a < s->na; a++)
        s->flow[a] = 0;
    for (int i = 0; i < s->ncrit; i++) {
        int a = s->crit[i];
        int64_t l, u;
        arc_bounds(s, a, &l, &u);
        s->flow[a] = l + s->cap[s->arc_edge[i] + 1];
    }
    for (int i = 0; i < s->ncrit; i++) {
        int a = s->crit[i];
        if (s->level[s->fid[s->afrom[a]]] >= 0 &&
            s->level[s->fid[s->ato[a]]] < 0 &&
            (a >= s->N || s->dur[a] <= pl_kind_of(pb, a)->tmin))
            return 0; /* cannot happen for a finite cut */
    }
    int64_t d = 0;
    int changed = 0;
    for (int i = 0; i < s->ncrit; i++) {
        int a = s->crit[i];
        int x = s->level[s->fid[s->afrom[a]]] >= 0;
        int y = s->level[s->fid[s->ato[a]]] >= 0;
        if (x == y || a >= s->N)
            continue;
        const pl_kind *kd = pl_kind_of(pb, a);
        if (x) { /* forward: shorten */
            s->dur[a]--;
            d += kd->slope[s->dur[a] - kd->tmin];
            changed = 1;
        } else if (s->dur[a] < kd->tmax) { /* backward: lengthen, saves */
            d -= kd->slope[s->dur[a] - kd->tmin];
            s->dur[a]++;
        }
    }
    *delta = d;
    return changed;
}

/* Rounds the hull durations down to real options, records the rounded
 * plan's model energy, removes energy bloat and offers the plan. */
static int offer_state(pl_frontier *f, const pl_problem *pb, solver *s,
                       pl_work *w, int64_t T)
{
    uint16_t *ch = pl_choice_get(f);
    if (!ch)
        return joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
    for (int c = 0; c < s->N; c++) {
        const pl_kind *kd = pl_kind_of(pb, c);
        ch[c] = kd->down[s->dur[c] - kd->tmin];
    }
    pl_plan p = {.choice = ch};
    pl_plan_eval(pb, w, &p);
    f->round_energy_j[T - f->hull_tmin] = p.model_energy_j;
    f->round_quanta[T - f->hull_tmin] = p.quanta;
    pl_plan_fill_slack(pb, w, ch, 0);
    pl_plan_eval(pb, w, &p);
    return pl_frontier_insert(f, &p);
}

/* Offers the plan with every computation at its fastest option (least = 0;
 * records the all-fastest time and energy) or at its least-energy option
 * (least = 1), energy bloat removed. */
static int offer_uniform(pl_frontier *f, const pl_problem *pb, pl_work *w,
                         int least)
{
    uint16_t *ch = pl_choice_get(f);
    if (!ch)
        return joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
    for (int c = 0; c < f->N; c++)
        ch[c] = (uint16_t)(least ? pl_kind_of(pb, c)->nopt - 1 : 0);
    pl_plan p = {.choice = ch};
    if (!least) {
        pl_plan_eval(pb, w, &p);
        f->fastest_energy_j = p.energy_j;
        f->fastest_time_s = p.time_s;
    }
    pl_plan_fill_slack(pb, w, ch, 0);
    pl_plan_eval(pb, w, &p);
    return pl_frontier_insert(f, &p);
}

/* Improves the frontier over the real options, then keeps one plan per
 * quantum of iteration time. */
static int improve(pl_frontier *f, const pl_problem *pb, pl_work *w)
{
    int64_t budget = pb->cfg.improve_budget;
    int rc = budget >= 0 ? pl_frontier_improve(pb, w, f, budget) : 0;
    if (!rc)
        pl_frontier_thin(f, pb->cfg.quantum_s);
    return rc;
}

int pl_solve(const pl_problem *pb, pl_frontier *f)
{
    memset(f, 0, sizeof *f);
    f->N = pb->dag.N;
    solver s;
    pl_work *w = NULL;
    int rc = solver_init(&s, pb);
    if (rc)
        return rc;
    if ((rc = pl_work_create(pb, &w))) {
        solver_free(&s);
        return rc;
    }
    int N = s.N;
    /* the fastest and the slowest schedules bound the range */
    for (int c = 0; c < N; c++)
        s.dur[c] = pl_kind_of(pb, c)->tmin;
    int64_t tmin = cpm(&s);
    int64_t cost = 0;
    for (int c = 0; c < N; c++) {
        const pl_kind *kd = pl_kind_of(pb, c);
        s.dur[c] = kd->tmax;
        cost += kd->cost[kd->tmax - kd->tmin];
    }
    int64_t T = cpm(&s);
    if (T > PL_MAX_QUANTA) {
        rc = joule_set_error(JOULE_ERANGE,
                      "the slowest iteration takes %lld quanta of %g s; at "
                      "most %d are supported (use a larger --quantum)",
                      (long long)T, pb->cfg.quantum_s, PL_MAX_QUANTA);
        goto out;
    }
    f->hull_tmin = tmin;
    f->hull_tmax = T;
    size_t span = (size_t)(T - tmin + 1);
    f->hull_cost = pl_malloc(span * sizeof(int64_t));
    f->round_energy_j = pl_malloc(span * sizeof(double));
    f->round_quanta = pl_malloc(span * sizeof(int64_t));
    if (!f->hull_cost || !f->round_energy_j || !f->round_quanta) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
        goto out;
    }
    /* the all-fastest plan (with its energy bloat) and the same plan with
     * the bloat removed, which has the minimum time; the all-least-energy
     * plan, the slow end */
    if ((rc = offer_uniform(f, pb, w, 0)) || (rc = offer_uniform(f, pb, w, 1)))
        goto out;
    f->hull_cost[T - tmin] = cost;
    if ((rc = offer_state(f, pb, &s, w, T)))
        goto out;
    while (T > tmin) {
        int64_t delta = 0;
        int r = pd_step(&s, &delta);
        f->iterations++;
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == 0) {
            rc = joule_set_error(JOULE_EINVAL,
                          "planner: stopped at %lld quanta above the "
                          "minimum %lld (internal error)",
                          (long long)T, (long long)tmin);
            goto out;
        }
        cost += delta;
        int64_t nT = cpm(&s);
        if (nT >= T || nT < tmin) {
            rc = joule_set_error(JOULE_EINVAL,
                          "planner: a step went from %lld to %lld quanta "
                          "(internal error)",
                          (long long)T, (long long)nT);
            goto out;
        }
        for (int64_t t = T - 1; t >= nT; t--) {
            f->hull_cost[t - tmin] = cost;
            f->steps++;
            if ((rc = offer_state(f, pb, &s, w, t)))
                goto out;
        }
        T = nT;
    }
    /* The minimum time, exactly, without energy bloat: from the all-fastest
     * plan, first let each computation slow down only as far as the hull
     * solution at the minimum quantized time does (so the slack goes where
     * the exact solver puts it, not to whichever computation a greedy pass
     * meets first), then use whatever slack is left. */
    {
        uint16_t *ch = pl_choice_get(f);
        if (!ch) {
            rc = joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
            goto out;
        }
        memset(ch, 0, (size_t)N * sizeof *ch);
        pl_plan_fill_slack_capped(pb, w, ch, 0, s.dur);
        pl_plan_fill_slack(pb, w, ch, 0);
        pl_plan p = {.choice = ch};
        pl_plan_eval(pb, w, &p);
        if ((rc = pl_frontier_insert(f, &p)))
            goto out;
    }
    if ((rc = improve(f, pb, w)))
        goto out;
    /* T*: where slowing further saves nothing in the hull model */
    {
        int64_t best = INT64_MAX, tstar = tmin;
        for (int64_t t = tmin; t <= f->hull_tmax; t++) {
            int64_t e = f->hull_cost[t - tmin] + pb->lambda_nj * t;
            if (e < best) {
                best = e;
                tstar = t;
            }
        }
        f->hull_tstar = tstar;
    }
    /* lower bound for a plan of iteration time <= t (model): the least
     * hull energy at any time <= t */
    {
        int64_t *pre = pl_malloc(span * sizeof(int64_t));
        if (!pre) {
            rc = joule_set_error(JOULE_ENOMEM, "out of memory in the planner");
            goto out;
        }
        for (size_t u = 0; u < span; u++) {
            int64_t e = f->hull_cost[u] + pb->lambda_nj * (tmin + (int64_t)u);
            pre[u] = u > 0 && pre[u - 1] < e ? pre[u - 1] : e;
        }
        for (int i = 0; i < f->n; i++) {
            pl_plan *p = &f->pts[i];
            p->id = i;
            int64_t t = p->quanta < f->hull_tmax ? p->quanta : f->hull_tmax;
            p->bound_j = t >= tmin ? (double)pre[t - tmin] * 1e-9 : NAN;
        }
        pl_free(pre);
    }
    f->cold_starts = s.cold_starts;
out:
    pl_work_free(w);
    solver_free(&s);
    if (rc)
        pl_frontier_free(f);
    return rc;
}
