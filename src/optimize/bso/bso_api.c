/* The public face of the batch-size optimizer (joule/bso.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/bso.h>

#include "base/error.h"
#include "base/export.h"
#include "optimize/bso/bso_remote.h"
#include "optimize/bso/bso_state.h"
#include "optimize/bso/bso_store.h"

struct joule_bso_spec {
    struct bso_spec s;
};

/* A job in a SQLite file (store), or served by jouled (store NULL). */
struct joule_bso {
    struct bso_spec spec;
    struct bso_store *store;
    struct bso_job snapshot; /* for joule_bso_trial */
    int remote_best;
};

#define SPEC_OR_FAIL(s)                                                                            \
    do {                                                                                           \
        if (!(s))                                                                                  \
            return joule_set_error(JOULE_EINVAL, "no batch-size spec");                           \
    } while (0)

JOULE_EXPORT int joule_bso_spec_create(const char *job, joule_bso_spec **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_bso_spec_create: out is NULL");
    *out = NULL;
    if (!job || !*job || strlen(job) >= BSO_JOB_NAME_MAX)
        return joule_set_error(JOULE_EINVAL, "job: a name of 1..%d bytes is needed",
                               BSO_JOB_NAME_MAX - 1);
    joule_bso_spec *s = calloc(1, sizeof(*s));
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    bso_spec_defaults(&s->s);
    snprintf(s->s.job, sizeof(s->s.job), "%s", job);
    *out = s;
    return 0;
}

JOULE_EXPORT void joule_bso_spec_destroy(joule_bso_spec *s)
{
    free(s);
}

JOULE_EXPORT int joule_bso_spec_set_batch_sizes(joule_bso_spec *s, const int *sizes, int n,
                                                int default_size)
{
    SPEC_OR_FAIL(s);
    if (!sizes || n < 1 || n > BSO_MAX_SIZES)
        return joule_set_error(JOULE_EINVAL, "batch_sizes: 1..%d sizes are needed", BSO_MAX_SIZES);
    memcpy(s->s.sizes, sizes, (size_t)n * sizeof(int));
    s->s.nsizes = n;
    s->s.default_bs = default_size;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_target_metric(joule_bso_spec *s, double target,
                                                  int higher_is_better)
{
    SPEC_OR_FAIL(s);
    if (!isfinite(target))
        return joule_set_error(JOULE_EINVAL, "target_metric: a finite number is needed");
    s->s.target_metric = target;
    s->s.higher_is_better = higher_is_better != 0;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_max_power_w(joule_bso_spec *s, double watts)
{
    SPEC_OR_FAIL(s);
    if (!(watts > 0) || !isfinite(watts))
        return joule_set_error(JOULE_EINVAL, "max_power_w: > 0 W, not %g", watts);
    s->s.max_power_w = watts;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_max_epochs(joule_bso_spec *s, int epochs)
{
    SPEC_OR_FAIL(s);
    if (epochs < 1)
        return joule_set_error(JOULE_EINVAL, "max_epochs: must be >= 1, not %d", epochs);
    s->s.max_epochs = epochs;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_eta(joule_bso_spec *s, double eta)
{
    SPEC_OR_FAIL(s);
    if (!(eta >= 0 && eta <= 1))
        return joule_set_error(JOULE_EINVAL, "eta: must be within [0, 1], not %g", eta);
    s->s.eta = eta;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_beta(joule_bso_spec *s, double beta)
{
    SPEC_OR_FAIL(s);
    if (!(beta >= 1))
        return joule_set_error(JOULE_EINVAL, "beta: must be >= 1 (inf: never stop early), not %g",
                               beta);
    s->s.beta = beta;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_pruning_rounds(joule_bso_spec *s, int rounds)
{
    SPEC_OR_FAIL(s);
    if (rounds < 1 || rounds > 16)
        return joule_set_error(JOULE_EINVAL, "num_pruning_rounds: 1..16, not %d", rounds);
    s->s.policy.pruning_rounds = (unsigned)rounds;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_explorations(joule_bso_spec *s, int n)
{
    SPEC_OR_FAIL(s);
    if (n < 1 || n > 100)
        return joule_set_error(JOULE_EINVAL, "mab_num_explorations: 1..100, not %d", n);
    s->s.policy.mab_explorations = (unsigned)n;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_window(joule_bso_spec *s, int n)
{
    SPEC_OR_FAIL(s);
    if (n < 0 || n > 1000000)
        return joule_set_error(JOULE_EINVAL, "window_size: 0..1000000, not %d", n);
    s->s.policy.window = (unsigned)n;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_seed(joule_bso_spec *s, uint64_t seed)
{
    SPEC_OR_FAIL(s);
    s->s.policy.seed = seed;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_set_prune_factor(joule_bso_spec *s, double factor)
{
    SPEC_OR_FAIL(s);
    if (!(factor == 0 || factor > 1) || !isfinite(factor))
        return joule_set_error(JOULE_EINVAL, "prune_factor: > 1 or 0 (off), not %g", factor);
    s->s.policy.prune_factor = factor;
    return 0;
}

JOULE_EXPORT int joule_bso_spec_to_json(const joule_bso_spec *s, char **json)
{
    SPEC_OR_FAIL(s);
    if (!json)
        return joule_set_error(JOULE_EINVAL, "joule_bso_spec_to_json: json is NULL");
    *json = bso_spec_json(&s->s);
    return *json ? 0 : joule_set_error(JOULE_ENOMEM, "out of memory");
}

JOULE_EXPORT int joule_bso_spec_from_json(const char *json, joule_bso_spec **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_bso_spec_from_json: out is NULL");
    *out = NULL;
    if (!json)
        return joule_set_error(JOULE_EINVAL, "joule_bso_spec_from_json: json is NULL");
    joule_bso_spec *s = calloc(1, sizeof(*s));
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = bso_spec_parse(json, &s->s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Where a job lives: a file (db_path, else unless jouled is configured,
 * $JOULE_DB or the default), or jouled. */
static int connect_to(joule_bso *b, const char *db_path)
{
    if (!db_path && bso_remote_configured())
        return 0;
    return bso_store_open(db_path, 5000, &b->store);
}

JOULE_EXPORT int joule_bso_open(const joule_bso_spec *spec, const char *db_path, joule_bso **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_bso_open: out is NULL");
    *out = NULL;
    SPEC_OR_FAIL(spec);
    int rc = bso_spec_check(&spec->s);
    if (rc < 0)
        return rc;
    joule_bso *b = calloc(1, sizeof(*b));
    if (!b)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    b->spec = spec->s;
    if ((rc = connect_to(b, db_path)) == 0)
        rc = b->store ? bso_store_join(b->store, &b->spec) : bso_remote_join(&b->spec);
    if (rc < 0) {
        joule_bso_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

JOULE_EXPORT int joule_bso_attach(const char *job, const char *db_path, joule_bso **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_bso_attach: out is NULL");
    *out = NULL;
    if (!job || !*job || strlen(job) >= BSO_JOB_NAME_MAX)
        return joule_set_error(JOULE_EINVAL, "job: a name of 1..%d bytes is needed",
                               BSO_JOB_NAME_MAX - 1);
    joule_bso *b = calloc(1, sizeof(*b));
    if (!b)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = connect_to(b, db_path);
    if (rc == 0 && b->store) {
        if ((rc = bso_store_load(b->store, job, &b->snapshot)) == 0)
            b->spec = b->snapshot.spec;
    } else if (rc == 0) {
        rc = bso_remote_spec(job, &b->spec);
    }
    if (rc < 0) {
        joule_bso_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

JOULE_EXPORT int joule_bso_next(joule_bso *b, int *trial, int *batch_size)
{
    if (!b || !trial || !batch_size)
        return joule_set_error(JOULE_EINVAL, "joule_bso_next: NULL argument");
    if (!b->store)
        return bso_remote_next(b->spec.job, trial, batch_size);
    struct bso_trial t;
    int rc = bso_store_next(b->store, b->spec.job, &t);
    if (rc < 0)
        return rc;
    *trial = t.trial;
    *batch_size = t.bs;
    return 0;
}

JOULE_EXPORT const char *joule_bso_verdict_name(int verdict)
{
    return bso_verdict_name((enum bso_verdict)verdict);
}

JOULE_EXPORT int joule_bso_epoch(joule_bso *b, int trial, int epoch, double time_s,
                                 double energy_j, double metric, int *verdict)
{
    if (!b || !verdict)
        return joule_set_error(JOULE_EINVAL, "joule_bso_epoch: NULL argument");
    enum bso_verdict v = BSO_CONTINUE;
    int rc = b->store ? bso_store_epoch(b->store, b->spec.job, trial, epoch, time_s, energy_j,
                                        metric, &v)
                      : bso_remote_epoch(b->spec.job, trial, epoch, time_s, energy_j, metric, &v);
    if (rc == 0)
        *verdict = (int)v;
    return rc;
}

JOULE_EXPORT int joule_bso_end(joule_bso *b, int trial, double time_s, double energy_j,
                               int converged)
{
    if (!b)
        return joule_set_error(JOULE_EINVAL, "joule_bso_end: no optimizer");
    if (!b->store)
        return bso_remote_end(b->spec.job, trial, time_s, energy_j, converged != 0);
    return bso_store_end(b->store, b->spec.job, trial, time_s, energy_j, converged != 0);
}

/* A fresh copy of the job for the readers below. */
static int refresh(joule_bso *b)
{
    bso_job_free(&b->snapshot);
    if (b->store)
        return bso_store_load(b->store, b->spec.job, &b->snapshot);
    char *json = NULL;
    int rc = bso_remote_state(b->spec.job, &json);
    if (rc == 0)
        rc = bso_state_parse(json, &b->snapshot, &b->remote_best);
    free(json);
    return rc;
}

JOULE_EXPORT int joule_bso_state_json(joule_bso *b, char **json)
{
    if (!b || !json)
        return joule_set_error(JOULE_EINVAL, "joule_bso_state_json: NULL argument");
    *json = NULL;
    if (!b->store)
        return bso_remote_state(b->spec.job, json);
    int rc = refresh(b);
    if (rc == 0 && !(*json = bso_state_json(&b->snapshot)))
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
    return rc;
}

JOULE_EXPORT int joule_bso_best(joule_bso *b, int *batch_size)
{
    if (!b || !batch_size)
        return joule_set_error(JOULE_EINVAL, "joule_bso_best: NULL argument");
    int rc = refresh(b);
    if (rc == 0)
        *batch_size = b->snapshot.policy ? bso_policy_best(b->snapshot.policy) : b->remote_best;
    return rc;
}

JOULE_EXPORT int joule_bso_trial_count(joule_bso *b)
{
    if (!b)
        return joule_set_error(JOULE_EINVAL, "joule_bso_trial_count: no optimizer");
    int rc = refresh(b);
    return rc < 0 ? rc : (int)b->snapshot.n;
}

JOULE_EXPORT int joule_bso_trial(joule_bso *b, int i, int *trial, int *batch_size,
                                 const char **status, int *epochs, double *time_s,
                                 double *energy_j, double *cost)
{
    if (!b)
        return joule_set_error(JOULE_EINVAL, "joule_bso_trial: no optimizer");
    if (i < 0 || (size_t)i >= b->snapshot.n)
        return joule_set_error(JOULE_ERANGE,
                               "trial index %d out of range (0..%zu; joule_bso_trial_count "
                               "refreshes)",
                               i, b->snapshot.n);
    const struct bso_trial *t = &b->snapshot.t[i];
    if (trial)
        *trial = t->trial;
    if (batch_size)
        *batch_size = t->bs;
    if (status)
        *status = bso_status_name(t->status);
    if (epochs)
        *epochs = t->epochs;
    if (time_s)
        *time_s = t->time_s;
    if (energy_j)
        *energy_j = t->energy_j;
    if (cost)
        *cost = t->cost;
    return 0;
}

JOULE_EXPORT void joule_bso_close(joule_bso *b)
{
    if (!b)
        return;
    bso_job_free(&b->snapshot);
    bso_store_close(b->store);
    free(b);
}
