/* The public face of the trace-driven simulation (joule/bso.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/bso.h>

#include "base/error.h"
#include "base/export.h"
#include "optimize/bso/bso_sim_api.h"

JOULE_EXPORT const char *joule_bso_sim_workload(int i)
{
    const struct bso_workload *w = i >= 0 ? bso_workload_at((size_t)i) : NULL;
    return w ? w->name : NULL;
}

JOULE_EXPORT int joule_bso_sim_create(const char *trace_dir, const char *workload, const char *gpu,
                                      joule_bso_sim **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_bso_sim_create: out is NULL");
    *out = NULL;
    if (!trace_dir || !workload || !gpu)
        return joule_set_error(JOULE_EINVAL,
                               "joule_bso_sim_create: trace folder, workload and GPU are needed");
    const struct bso_workload *w = bso_workload_find(workload);
    if (!w) {
        char names[256] = "";
        for (size_t i = 0; i < bso_workload_count(); i++) {
            if (i)
                strncat(names, ", ", sizeof(names) - strlen(names) - 1);
            strncat(names, bso_workload_at(i)->name, sizeof(names) - strlen(names) - 1);
        }
        return joule_set_error(JOULE_EINVAL, "unknown workload '%s' (known: %s)", workload, names);
    }
    joule_bso_sim *s = calloc(1, sizeof(*s));
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = bso_trace_load(trace_dir, w, gpu, &s->trace);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->w = w;
    bso_sim_defaults(&s->params);
    *out = s;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_set_eta(joule_bso_sim *s, double eta)
{
    if (!s || !(eta >= 0 && eta <= 1))
        return joule_set_error(JOULE_EINVAL, "eta must be within [0, 1], not %g", eta);
    s->params.eta = eta;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_set_beta(joule_bso_sim *s, double beta)
{
    if (!s || !(beta >= 1))
        return joule_set_error(JOULE_EINVAL, "beta must be >= 1 (inf: no early stopping), not %g",
                               beta);
    s->params.beta = beta;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_set_seed(joule_bso_sim *s, uint64_t seed)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "joule_bso_sim_set_seed: no simulation");
    s->params.seed = seed;
    s->params.policy.seed = seed;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_set_recurrences(joule_bso_sim *s, int n)
{
    if (!s || n < 0 || n > 1000000)
        return joule_set_error(JOULE_EINVAL,
                               "recurrences must be within 1..1000000 (0: the default), not %d", n);
    s->params.recurrences = (unsigned)n;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_set_prune_factor(joule_bso_sim *s, double factor)
{
    if (!s || !(factor == 0 || factor > 1))
        return joule_set_error(JOULE_EINVAL, "the prune factor must be > 1 (0: off), not %g",
                               factor);
    s->params.policy.prune_factor = factor;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_run(joule_bso_sim *s)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "joule_bso_sim_run: no simulation");
    bso_sim_result_free(&s->result);
    s->ran = false;
    int rc = bso_simulate(&s->trace, s->w, &s->params, &s->result);
    if (rc == 0)
        s->ran = true;
    return rc;
}

static int need_result(const joule_bso_sim *s)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "no simulation");
    if (!s->ran)
        return joule_set_error(JOULE_EINVAL, "the simulation has not run (joule_bso_sim_run)");
    return 0;
}

JOULE_EXPORT int joule_bso_sim_point(const joule_bso_sim *s, const char *which, int *batch_size,
                                     double *power_limit_w, double *eta_j, double *tta_s)
{
    int rc = need_result(s);
    if (rc < 0)
        return rc;
    const struct bso_sim_point *p;
    if (which && strcmp(which, "default") == 0)
        p = &s->result.def;
    else if (which && strcmp(which, "oracle") == 0)
        p = &s->result.oracle;
    else
        return joule_set_error(JOULE_EINVAL, "which must be \"default\" or \"oracle\", not \"%s\"",
                               which ? which : "(null)");
    if (batch_size)
        *batch_size = p->bs;
    if (power_limit_w)
        *power_limit_w = p->pl_w;
    if (eta_j)
        *eta_j = p->eta_j;
    if (tta_s)
        *tta_s = p->tta_s;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_savings(const joule_bso_sim *s, double *last10_eta_j,
                                       double *last10_tta_s, double *last10_saved_pct,
                                       double *energy_j, double *default_energy_j,
                                       double *cumulative_saved_pct)
{
    int rc = need_result(s);
    if (rc < 0)
        return rc;
    const struct bso_sim_result *r = &s->result;
    if (last10_eta_j)
        *last10_eta_j = r->last10_eta_j;
    if (last10_tta_s)
        *last10_tta_s = r->last10_tta_s;
    if (last10_saved_pct)
        *last10_saved_pct = r->last10_saved_pct;
    if (energy_j)
        *energy_j = r->energy_j;
    if (default_energy_j)
        *default_energy_j = r->default_energy_j;
    if (cumulative_saved_pct)
        *cumulative_saved_pct = r->cumulative_saved_pct;
    return 0;
}

JOULE_EXPORT int joule_bso_sim_recurrences(const joule_bso_sim *s)
{
    int rc = need_result(s);
    return rc < 0 ? rc : (int)s->result.recurrences;
}

JOULE_EXPORT int joule_bso_sim_run_count(const joule_bso_sim *s)
{
    int rc = need_result(s);
    return rc < 0 ? rc : (int)s->result.nruns;
}

JOULE_EXPORT int joule_bso_sim_run_at(const joule_bso_sim *s, int i, int *recurrence,
                                      int *batch_size, double *power_limit_w, double *energy_j,
                                      double *time_s, int *reached)
{
    int rc = need_result(s);
    if (rc < 0)
        return rc;
    if (i < 0 || (unsigned)i >= s->result.nruns)
        return joule_set_error(JOULE_ERANGE, "run %d out of range (0..%u)", i, s->result.nruns);
    const struct bso_sim_run *x = &s->result.runs[i];
    if (recurrence)
        *recurrence = (int)x->recurrence;
    if (batch_size)
        *batch_size = x->bs;
    if (power_limit_w)
        *power_limit_w = x->pl_w;
    if (energy_j)
        *energy_j = x->energy_j;
    if (time_s)
        *time_s = x->time_s;
    if (reached)
        *reached = x->reached;
    return 0;
}

JOULE_EXPORT void joule_bso_sim_destroy(joule_bso_sim *s)
{
    if (!s)
        return;
    bso_sim_result_free(&s->result);
    bso_trace_free(&s->trace);
    free(s);
}
