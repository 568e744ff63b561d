/* Options per (stage, instruction): Pareto pruning, quantization and the
 * convex-hull cost model the solver works on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

/* Largest energy of one computation we accept (keeps nJ sums in int64). */
#define PL_MAX_ENERGY_J 1e7
/* Largest model energy sum, in nJ: 2^60, leaving the max-flow room to add
 * a few such sums in int64. */
#define PL_MAX_MODEL_NJ 0x1p60

void pl_problem_free(pl_problem *pb)
{
    if (!pb)
        return;
    for (int k = 0; k < pb->nkinds; k++) {
        pl_kind *kd = &pb->kinds[k];
        pl_free(kd->opt);
        pl_free(kd->qopt);
        pl_free(kd->hull);
        pl_free(kd->slope);
        pl_free(kd->cost);
        pl_free(kd->down);
    }
    pl_free(pb->kinds);
    pl_dag_free(&pb->dag);
    memset(pb, 0, sizeof *pb);
}

static int opt_cmp(const void *a, const void *b)
{
    const pl_option *x = a, *y = b;
    if (x->time_s != y->time_s)
        return x->time_s < y->time_s ? -1 : 1;
    if (x->energy_j != y->energy_j)
        return x->energy_j < y->energy_j ? -1 : 1;
    return x->freq_mhz > y->freq_mhz ? -1 : x->freq_mhz < y->freq_mhz;
}

int64_t pl_option_cost_nj(const pl_problem *pb, const pl_option *o)
{
    return llround(o->energy_j * 1e9) - pb->pq_nj * (int64_t)o->quanta;
}

/* cross product of (a - o) x (b - o) with x = quanta, y = cost */
static __int128 cross(int64_t ox, int64_t oy, int64_t ax, int64_t ay,
                      int64_t bx, int64_t by)
{
    return (__int128)(ax - ox) * (by - oy) - (__int128)(ay - oy) * (bx - ox);
}

static int build_kind(pl_problem *pb, pl_kind *kd, pl_option *raw, int nraw)
{
    double q = pb->cfg.quantum_s;
    qsort(raw, (size_t)nraw, sizeof *raw, opt_cmp);
    /* Pareto set in (time, energy): time ascending, energy strictly
     * descending (a slower option is kept only when it saves energy) */
    int n = 0;
    for (int i = 0; i < nraw; i++) {
        if (n > 0 && raw[i].energy_j >= raw[n - 1].energy_j)
            continue;
        if (n > 0 && raw[i].time_s == raw[n - 1].time_s)
            continue; /* same time, more energy (sorted) */
        raw[n++] = raw[i];
    }
    kd->opt = pl_malloc((size_t)n * sizeof *kd->opt);
    kd->qopt = pl_malloc((size_t)n * sizeof(int));
    kd->hull = pl_malloc((size_t)n * sizeof(int));
    if (!kd->opt || !kd->qopt || !kd->hull)
        return joule_set_error(JOULE_ENOMEM, "out of memory building options");
    kd->nopt = n;
    for (int i = 0; i < n; i++) {
        kd->opt[i] = raw[i];
        double qq = nearbyint(raw[i].time_s / q);
        if (!(qq <= PL_MAX_QUANTA))
            return joule_set_error(JOULE_ERANGE,
                            "line %d: time %g s is %.0f quanta of %g s; at "
                            "most %d are supported (use a larger quantum)",
                            raw[i].line, raw[i].time_s, qq, q, PL_MAX_QUANTA);
        kd->opt[i].quanta = qq < 1 ? 1 : (int32_t)qq;
    }
    /* quantized Pareto set: per quantum the lowest energy, which is the last
     * (slowest) option of its quantum since energies strictly decrease */
    int nq = 0;
    for (int i = 0; i < n; i++)
        if (i == n - 1 || kd->opt[i + 1].quanta != kd->opt[i].quanta)
            kd->qopt[nq++] = i;
    kd->nq = nq;
    /* lower convex hull of (quanta, cost) */
    int nh = 0;
    for (int j = 0; j < nq; j++) {
        int i = kd->qopt[j];
        int64_t x = kd->opt[i].quanta, y = pl_option_cost_nj(pb, &kd->opt[i]);
        while (nh >= 2) {
            const pl_option *o = &kd->opt[kd->hull[nh - 2]];
            const pl_option *a = &kd->opt[kd->hull[nh - 1]];
            if (cross(o->quanta, pl_option_cost_nj(pb, o), a->quanta,
                      pl_option_cost_nj(pb, a), x, y) <= 0)
                nh--;
            else
                break;
        }
        kd->hull[nh++] = i;
    }
    kd->nhull = nh;
    kd->tmin = kd->opt[kd->hull[0]].quanta;
    kd->tmax = kd->opt[kd->hull[nh - 1]].quanta;
    int span = kd->tmax - kd->tmin;
    kd->slope = pl_malloc((size_t)(span > 0 ? span : 1) * sizeof(int64_t));
    kd->cost = pl_malloc((size_t)(span + 1) * sizeof(int64_t));
    kd->down = pl_malloc((size_t)(span + 1) * sizeof(uint16_t));
    if (!kd->slope || !kd->cost || !kd->down)
        return joule_set_error(JOULE_ENOMEM, "out of memory building options");
    /* per-quantum slopes: the segment's average, rounded to a nanojoule, so
     * the model is integral and still convex (rounding is monotone) */
    for (int h = 0; h + 1 < nh; h++) {
        const pl_option *a = &kd->opt[kd->hull[h]], *b = &kd->opt[kd->hull[h + 1]];
        int64_t dc = pl_option_cost_nj(pb, a) - pl_option_cost_nj(pb, b);
        int64_t dt = b->quanta - a->quanta;
        int64_t sl = dc >= 0 ? (dc + dt / 2) / dt : -((-dc + dt / 2) / dt);
        for (int32_t x = a->quanta; x < b->quanta; x++)
            kd->slope[x - kd->tmin] = sl;
    }
    kd->cost[0] = pl_option_cost_nj(pb, &kd->opt[kd->hull[0]]);
    for (int x = 0; x < span; x++)
        kd->cost[x + 1] = kd->cost[x] - kd->slope[x];
    int i = 0;
    for (int x = 0; x <= span; x++) {
        while (i + 1 < n && kd->opt[i + 1].quanta <= kd->tmin + x)
            i++;
        kd->down[x] = (uint16_t)i;
    }
    return 0;
}

/* The solver sums model costs (nJ) over all computations and adds
 * lambda * T for iteration times T up to the all-slowest sum: bound those
 * sums, in floating point, so no int64 arithmetic can overflow. */
static int check_magnitudes(const pl_problem *pb)
{
    double M = pb->cfg.microbatches, pq = (double)pb->pq_nj;
    double costs = 0, t_sum = 0;
    for (int k = 0; k < pb->nkinds; k++) {
        const pl_kind *kd = &pb->kinds[k];
        double e_max = 0, slowest = kd->opt[kd->nopt - 1].quanta;
        for (int i = 0; i < kd->nopt; i++)
            e_max = fmax(e_max, kd->opt[i].energy_j * 1e9);
        costs += M * (e_max + pq * slowest);
        t_sum += M * slowest;
    }
    double total = costs + (double)pb->lambda_nj * fmin(t_sum, PL_MAX_QUANTA);
    if (!(total <= PL_MAX_MODEL_NJ))
        return joule_set_error(JOULE_ERANGE, "the model's energies reach %g J at a quantum of %g s "
                        "and blocking power %g W, more than the planner's integer energies "
                        "hold; use a quantum near the computations' times (e.g. 1ms)",
                        total * 1e-9, pb->cfg.quantum_s, pb->cfg.blocking_power_w);
    return 0;
}

int pl_problem_init(pl_problem *pb, const pl_profile *prof,
                    const pl_config *cfg)
{
    memset(pb, 0, sizeof *pb);
    const char *name = prof->name ? prof->name : "profile";
    if (cfg->stages < 1 || cfg->stages > PL_MAX_STAGES)
        return joule_set_error(JOULE_EINVAL, "number of stages %d is out of range "
                        "(1..%d)", cfg->stages, PL_MAX_STAGES);
    if (cfg->microbatches < 1 ||
        (long long)cfg->microbatches * cfg->stages * 2 > PL_MAX_COMPUTATIONS)
        return joule_set_error(JOULE_EINVAL, "number of microbatches %d is out of "
                        "range (at least 1, at most %d computations in all)",
                        cfg->microbatches, PL_MAX_COMPUTATIONS);
    if (!(cfg->quantum_s > 0) || !isfinite(cfg->quantum_s))
        return joule_set_error(JOULE_EINVAL, "time quantum %g s must be positive",
                        cfg->quantum_s);
    if (!(cfg->blocking_power_w >= 0) || !isfinite(cfg->blocking_power_w) ||
        cfg->blocking_power_w > 1e6)
        return joule_set_error(JOULE_EINVAL, "blocking power %g W must be between 0 "
                        "and 1e6", cfg->blocking_power_w);
    if (cfg->schedule != PL_SCHED_1F1B && cfg->schedule != PL_SCHED_GPIPE)
        return joule_set_error(JOULE_EINVAL, "unknown schedule %d", cfg->schedule);
    int S = cfg->stages;
    for (int i = 0; i < prof->nrows; i++) {
        const pl_row *r = &prof->rows[i];
        if (r->stage >= S)
            return joule_set_error(JOULE_EINVAL,
                            "%s, line %d: stage %d is outside the pipeline of "
                            "%d stages (stages are 0..%d)",
                            name, r->line, r->stage, S, S - 1);
        if (r->energy_j > PL_MAX_ENERGY_J)
            return joule_set_error(JOULE_ERANGE, "%s, line %d: energy %g J is out "
                            "of range (at most %g J per computation)",
                            name, r->line, r->energy_j, PL_MAX_ENERGY_J);
    }
    int *count = pl_calloc((size_t)2 * S, sizeof(int));
    if (!count)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < prof->nrows; i++)
        count[prof->rows[i].stage * 2 + prof->rows[i].instr]++;
    for (int k = 0; k < 2 * S; k++) {
        if (count[k] == 0) {
            pl_free(count);
            return joule_set_error(JOULE_EINVAL,
                            "%s: no %s rows for stage %d (every stage 0..%d "
                            "needs forward and backward rows; the file ends "
                            "at line %d)",
                            name, pl_instr_name(k % 2), k / 2, S - 1,
                            prof->last_line);
        }
        if (count[k] > PL_MAX_OPTIONS) {
            pl_free(count);
            return joule_set_error(JOULE_ERANGE, "%s: stage %d %s has %d rows; at "
                            "most %d are supported",
                            name, k / 2, pl_instr_name(k % 2), count[k],
                            PL_MAX_OPTIONS);
        }
    }
    /* P_block * quantum in nJ must be an int64 (llround of more is
     * garbage); check_magnitudes() bounds the sums formed from it. */
    double pq = cfg->blocking_power_w * cfg->quantum_s * 1e9;
    if (!(pq <= PL_MAX_MODEL_NJ)) {
        pl_free(count);
        return joule_set_error(JOULE_ERANGE, "time quantum %g s at blocking power %g W is %g J "
                        "of blocking energy per quantum, more than the planner's integer "
                        "energies hold; use a quantum near the computations' times "
                        "(e.g. 1ms)", cfg->quantum_s, cfg->blocking_power_w, pq * 1e-9);
    }
    pb->cfg = *cfg;
    pb->pq_nj = llround(pq);
    pb->lambda_nj = pb->pq_nj * S;
    pb->nkinds = 2 * S;
    pb->kinds = pl_calloc((size_t)pb->nkinds, sizeof *pb->kinds);
    pl_option *raw = pl_malloc((size_t)prof->nrows * sizeof *raw);
    int rc = 0;
    if (!pb->kinds || !raw) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < 2 * S && !rc; k++) {
        int n = 0;
        for (int i = 0; i < prof->nrows; i++) {
            const pl_row *r = &prof->rows[i];
            if (r->stage * 2 + r->instr != k)
                continue;
            raw[n].freq_mhz = r->freq_mhz;
            raw[n].time_s = r->time_s;
            raw[n].energy_j = r->energy_j;
            raw[n].quanta = 0;
            raw[n].line = r->line;
            n++;
        }
        rc = build_kind(pb, &pb->kinds[k], raw, n);
        if (rc == JOULE_ERANGE) { /* prefix the file name */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", joule_last_error());
            rc = joule_set_error(rc, "%s, %s", name, msg);
        }
    }
    if (!rc)
        rc = check_magnitudes(pb);
    if (!rc)
        rc = pl_dag_build(S, cfg->microbatches, cfg->schedule, &pb->dag);
out:
    pl_free(count);
    pl_free(raw);
    if (rc)
        pl_problem_free(pb);
    return rc;
}
