#include "optimize/bso/bso_simulate.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "optimize/frontier.h"
#include "optimize/bso/bso_rng.h"

void bso_sim_defaults(struct bso_sim_params *p)
{
    memset(p, 0, sizeof(*p));
    p->eta = 0.5;
    p->beta = 2.0;
    p->seed = 1;
    p->max_tries = 20;
    bso_policy_defaults(&p->policy);
}

/* The limit of least epoch cost (Zeus's JIT profiling, Equation 7), with
 * the batch size's own highest limit as its MaxPower. */
static const struct bso_limit *profile_choice(const struct bso_batch *b, double eta)
{
    const struct bso_limit *best = &b->pl[0];
    double best_cost = INFINITY, max_pl = b->pl[0].pl_w;
    for (size_t i = 0; i < b->npl; i++) {
        double c = (eta * b->pl[i].power_w + (1.0 - eta) * max_pl) * b->pl[i].epoch_s;
        if (c < best_cost) {
            best_cost = c;
            best = &b->pl[i];
        }
    }
    return best;
}

/* The profiling epoch runs an equal slice at every limit. */
static void profiling_epoch(const struct bso_batch *b, double *energy_j, double *time_s)
{
    double e = 0, t = 0;
    for (size_t i = 0; i < b->npl; i++) {
        e += b->pl[i].epoch_s * b->pl[i].power_w;
        t += b->pl[i].epoch_s;
    }
    *energy_j = e / (double)b->npl;
    *time_s = t / (double)b->npl;
}

/* Expected energy and time to the target over the recorded runs at one
 * limit; false when some run does not reach it within max_epochs. */
static bool expected(const struct bso_batch *b, const struct bso_limit *l, int max_epochs,
                     double *eta_j, double *tta_s)
{
    double epochs = 0;
    for (size_t r = 0; r < b->nruns; r++) {
        if (b->target_epoch[r] > max_epochs)
            return false;
        epochs += b->target_epoch[r];
    }
    epochs /= (double)b->nruns;
    *tta_s = epochs * l->epoch_s;
    *eta_j = *tta_s * l->power_w;
    return true;
}

static void baselines(const struct bso_trace *t, const struct bso_workload *w, double eta,
                      struct bso_sim_result *out)
{
    const struct bso_batch *d = bso_trace_batch(t, w->default_bs);
    /* The default as users run it: the maximum limit, every recorded run
     * averaged (even one slower than max_epochs: that is what it costs). */
    double epochs = 0;
    size_t n = 0;
    for (size_t r = 0; r < d->nruns; r++)
        if (d->target_epoch[r] != INT_MAX) {
            epochs += d->target_epoch[r];
            n++;
        }
    epochs = n ? epochs / (double)n : (double)w->max_epochs;
    out->def =
        (struct bso_sim_point){d->bs, d->pl[0].pl_w, epochs * d->pl[0].epoch_s * d->pl[0].power_w,
                               epochs * d->pl[0].epoch_s, 0};
    out->def.cost = jopt_cost(eta, t->max_power_w, 1, out->def.tta_s, out->def.eta_j);
    out->oracle = out->def;
    out->oracle.cost = INFINITY;
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->b[i].npl; j++) {
            double e, s;
            if (!expected(&t->b[i], &t->b[i].pl[j], w->max_epochs, &e, &s))
                continue;
            double c = jopt_cost(eta, t->max_power_w, 1, s, e);
            if (c < out->oracle.cost)
                out->oracle = (struct bso_sim_point){t->b[i].bs, t->b[i].pl[j].pl_w, e, s, c};
        }
    if (!isfinite(out->oracle.cost))
        out->oracle = out->def;
}

struct replay {
    const struct bso_trace *t;
    const struct bso_workload *w;
    const struct bso_sim_params *p;
    struct bso_policy *policy;
    struct bso_rng rng;
    const struct bso_limit **chosen; /* per batch index, NULL until profiled */
    double min_cost;
    struct bso_sim_result *out;
    unsigned cap;
};

static int record(struct replay *r, struct bso_sim_run run)
{
    struct bso_sim_result *o = r->out;
    if (o->nruns == r->cap) {
        unsigned cap = r->cap ? 2 * r->cap : 256;
        struct bso_sim_run *v = realloc(o->runs, cap * sizeof(*v));
        if (!v)
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        o->runs = v;
        r->cap = cap;
    }
    o->runs[o->nruns++] = run;
    return 0;
}

/* One run of recurrence rec; *done once it converged. */
static int one_run(struct replay *r, unsigned rec, double *cost_acc, double *energy_j,
                   double *time_s, bool *done)
{
    const struct bso_sim_params *p = r->p;
    bool pruning = bso_policy_stage(r->policy) == BSO_STAGE_PRUNING;
    int bs = bso_policy_next(r->policy, NULL);
    const struct bso_batch *b = bso_trace_batch(r->t, bs);
    size_t bi = (size_t)(b - r->t->b);
    bool profiled = false;
    if (!r->chosen[bi]) {
        r->chosen[bi] = profile_choice(b, p->eta);
        profiled = true;
    }
    const struct bso_limit *l = r->chosen[bi];
    int target = b->target_epoch[bso_rng_below(&r->rng, (uint32_t)b->nruns)];

    /* Stop before the first epoch that would pass the threshold. */
    long max_epochs = r->w->max_epochs;
    if (isfinite(r->min_cost)) {
        double per_epoch = jopt_cost(p->eta, b->pl[0].pl_w, 1, l->epoch_s, l->epoch_s * l->power_w);
        double fit = floor(p->beta * r->min_cost / per_epoch);
        if (fit < (double)max_epochs)
            max_epochs = (long)fit;
    }
    if (max_epochs <= 0) {
        /* Not even one epoch fits: the size is told it failed, badly, and the
         * recurrence retries without having spent anything. */
        bso_policy_observe(r->policy, bs, 100.0 * p->beta * r->min_cost, false);
        return 0;
    }
    bool reached = target <= max_epochs;
    long epochs = reached ? target : max_epochs;
    double e = l->epoch_s * l->power_w * (double)epochs, s = l->epoch_s * (double)epochs;
    if (profiled) {
        double pe, ps;
        profiling_epoch(b, &pe, &ps);
        e += pe - l->epoch_s * l->power_w;
        s += ps - l->epoch_s;
    }
    double cost = jopt_cost(p->eta, r->t->max_power_w, 1, s, e);
    *cost_acc += cost;
    *energy_j += e;
    *time_s += s;
    bso_policy_observe(r->policy, bs, cost, reached);
    int rc = record(r, (struct bso_sim_run){rec, bs, l->pl_w, e, s, reached, profiled, pruning});
    if (rc < 0)
        return rc;
    if (reached) {
        /* Only a converged recurrence sets the threshold (as Zeus's paper
         * simulator): a stopped run's cost says nothing about the cost to
         * converge. Its retries count, since the recurrence paid for them. */
        if (*cost_acc < r->min_cost)
            r->min_cost = *cost_acc;
        *done = true;
    }
    return 0;
}

int bso_simulate(const struct bso_trace *t, const struct bso_workload *w,
                 const struct bso_sim_params *p, struct bso_sim_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!(p->eta >= 0 && p->eta <= 1))
        return joule_set_error(JOULE_EINVAL, "eta must be within [0, 1], not %g", p->eta);
    if (!(p->beta > 0))
        return joule_set_error(JOULE_EINVAL,
                               "beta must be > 0 (inf disables early stopping), not %g", p->beta);
    unsigned recurrences =
        p->recurrences ? p->recurrences : (unsigned)(2 * t->n * t->n_power_limits);
    int sizes[t->n];
    for (size_t i = 0; i < t->n; i++)
        sizes[i] = t->b[i].bs;
    const char *why = NULL;
    struct replay r = {.t = t, .w = w, .p = p, .min_cost = INFINITY, .out = out};
    r.policy = bso_policy_create(sizes, t->n, w->default_bs, &p->policy, &why);
    if (!r.policy)
        return joule_set_error(JOULE_EINVAL, "batch-size optimizer: %s", why);
    r.chosen = calloc(t->n, sizeof(*r.chosen));
    if (!r.chosen) {
        bso_policy_free(r.policy);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    /* The paths use their own stream, so a policy change leaves which
     * recorded run a recurrence draws comparable. */
    bso_rng_seed(&r.rng, p->seed ^ 0x5a17ULL);
    baselines(t, w, p->eta, out);
    out->recurrences = recurrences;
    unsigned max_tries = p->max_tries ? p->max_tries : 20;
    double *rec_e = calloc(recurrences, sizeof(double)),
           *rec_t = calloc(recurrences, sizeof(double));
    int rc = rec_e && rec_t ? 0 : joule_set_error(JOULE_ENOMEM, "out of memory");
    for (unsigned i = 0; rc == 0 && i < recurrences; i++) {
        double cost_acc = 0;
        bool done = false;
        for (unsigned k = 0; rc == 0 && !done && k < max_tries; k++)
            rc = one_run(&r, i + 1, &cost_acc, &rec_e[i], &rec_t[i], &done);
        if (!done)
            out->gave_up++;
        out->energy_j += rec_e[i];
    }
    if (rc == 0) {
        unsigned from = recurrences > 10 ? recurrences - 10 : 0;
        for (unsigned i = from; i < recurrences; i++) {
            out->last10_eta_j += rec_e[i] / (double)(recurrences - from);
            out->last10_tta_s += rec_t[i] / (double)(recurrences - from);
        }
        out->last10_saved_pct = 100.0 * (1.0 - out->last10_eta_j / out->def.eta_j);
        out->default_energy_j = out->def.eta_j * recurrences;
        out->cumulative_saved_pct = 100.0 * (1.0 - out->energy_j / out->default_energy_j);
    }
    free(rec_e);
    free(rec_t);
    free(r.chosen);
    bso_policy_free(r.policy);
    if (rc < 0)
        bso_sim_result_free(out);
    return rc;
}

void bso_sim_result_free(struct bso_sim_result *r)
{
    free(r->runs);
    r->runs = NULL;
    r->nruns = 0;
}
