#include "optimize/bso/bso_job.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "optimize/frontier.h"

static const char *const status_names[] = {"running", "reached", "stopped", "abandoned"};
static const char *const verdict_names[] = {"continue", "converged", "stop_cost", "stop_epochs"};

const char *bso_status_name(enum bso_status s)
{
    return (unsigned)s < 4 ? status_names[s] : "?";
}

int bso_status_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

const char *bso_verdict_name(enum bso_verdict v)
{
    return (unsigned)v < 4 ? verdict_names[v] : "?";
}

double bso_cost(const struct bso_spec *s, double energy_j, double time_s)
{
    return jopt_cost(s->eta, s->max_power_w, 1, time_s, energy_j);
}

struct event {
    int64_t seq;
    int kind; /* 0 created, 1 ended, 2 abandoned */
    const struct bso_trial *t;
};

static int cmp_event(const void *a, const void *b)
{
    int64_t x = ((const struct event *)a)->seq, y = ((const struct event *)b)->seq;
    return (x > y) - (x < y);
}

static void learn(struct bso_job *j, const struct bso_trial *t)
{
    bso_policy_observe(j->policy, t->bs, t->cost, t->status == BSO_REACHED);
    /* Only a converged trial sets the threshold: a stopped one says
     * nothing about the cost of converging (docs/optimize.md). */
    if (t->status == BSO_REACHED && t->cost < j->min_cost)
        j->min_cost = t->cost;
}

int bso_job_rebuild(struct bso_job *j)
{
    bso_policy_free(j->policy);
    const char *why = NULL;
    j->policy = bso_policy_create(j->spec.sizes, (size_t)j->spec.nsizes, j->spec.default_bs,
                                  &j->spec.policy, &why);
    if (!j->policy)
        return joule_set_error(JOULE_EINVAL, "batch-size optimizer: %s", why);
    j->min_cost = INFINITY;
    j->next_seq = 0;
    struct event *ev = malloc((2 * j->n + 1) * sizeof(*ev));
    if (!ev)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < j->n; i++) {
        const struct bso_trial *t = &j->t[i];
        ev[n++] = (struct event){t->created_seq, 0, t};
        if (t->status != BSO_RUNNING)
            ev[n++] = (struct event){t->ended_seq, t->status == BSO_ABANDONED ? 2 : 1, t};
    }
    qsort(ev, n, sizeof(*ev), cmp_event);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind == 0)
            bso_policy_next(j->policy, NULL);
        else if (ev[i].kind == 1)
            learn(j, ev[i].t);
        else
            bso_policy_abandon(j->policy, ev[i].t->bs);
        if (ev[i].seq >= j->next_seq)
            j->next_seq = ev[i].seq + 1;
    }
    free(ev);
    return 0;
}

void bso_job_free(struct bso_job *j)
{
    bso_policy_free(j->policy);
    free(j->t);
    memset(j, 0, sizeof(*j));
}

struct bso_trial *bso_job_trial(struct bso_job *j, int trial)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->t[i].trial == trial)
            return &j->t[i];
    return NULL;
}

int bso_job_next(struct bso_job *j, struct bso_trial **out)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 16;
        struct bso_trial *t = realloc(j->t, cap * sizeof(*t));
        if (!t)
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        j->t = t;
        j->cap = cap;
    }
    bool exploring = false;
    int bs = bso_policy_next(j->policy, &exploring);
    int number = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->t[i].trial > number)
            number = j->t[i].trial;
    struct bso_trial *t = &j->t[j->n++];
    memset(t, 0, sizeof(*t));
    t->trial = number + 1;
    t->bs = bs;
    t->exploring = exploring;
    t->status = BSO_RUNNING;
    t->created_seq = j->next_seq++;
    *out = t;
    return 0;
}

static void finish(struct bso_job *j, struct bso_trial *t, enum bso_status status, int verdict)
{
    t->status = status;
    t->verdict = verdict;
    t->ended_seq = j->next_seq++;
    learn(j, t);
}

static int running_trial(struct bso_job *j, int trial, struct bso_trial **out)
{
    struct bso_trial *t = bso_job_trial(j, trial);
    if (!t)
        return joule_set_error(JOULE_ENOENT, "job '%s' has no trial %d", j->spec.job, trial);
    *out = t;
    return 0;
}

static int check_totals(const struct bso_trial *t, double time_s, double energy_j)
{
    if (!(time_s >= 0) || !(energy_j >= 0) || !isfinite(time_s) || !isfinite(energy_j))
        return joule_set_error(JOULE_EINVAL, "time and energy must be finite and >= 0 (%g s, %g J)",
                               time_s, energy_j);
    if (time_s < t->time_s || energy_j < t->energy_j)
        return joule_set_error(JOULE_EINVAL,
                               "time and energy are totals since the trial began and cannot "
                               "shrink: %g s, %g J after %g s, %g J",
                               time_s, energy_j, t->time_s, t->energy_j);
    return 0;
}

int bso_job_epoch(struct bso_job *j, int trial, int epoch, double time_s, double energy_j,
                  double metric, enum bso_verdict *verdict)
{
    struct bso_trial *t = NULL;
    int rc = running_trial(j, trial, &t);
    if (rc < 0)
        return rc;
    if (epoch < 1)
        return joule_set_error(JOULE_EINVAL, "epochs count from 1, not %d", epoch);
    if (t->status == BSO_ABANDONED)
        return joule_set_error(JOULE_ENOENT,
                               "trial %d of job '%s' was abandoned (its process was gone)",
                               trial, j->spec.job);
    if (t->status != BSO_RUNNING || epoch <= t->epochs) {
        /* Said before: the same answer again. */
        *verdict = t->status == BSO_RUNNING ? BSO_CONTINUE : (enum bso_verdict)t->verdict;
        return 0;
    }
    if (!isfinite(metric))
        return joule_set_error(JOULE_EINVAL, "the metric must be a finite number");
    if ((rc = check_totals(t, time_s, energy_j)) < 0)
        return rc;
    t->epochs = epoch;
    t->time_s = time_s;
    t->energy_j = energy_j;
    t->metric = metric;
    t->cost = bso_cost(&j->spec, energy_j, time_s);
    bool reached = j->spec.higher_is_better ? metric >= j->spec.target_metric
                                            : metric <= j->spec.target_metric;
    /* Stop before an epoch that would pass the threshold, judging the
     * next epoch by the mean one so far (as the paper's simulator). */
    double next = t->cost * (double)(epoch + 1) / (double)epoch;
    if (reached)
        *verdict = BSO_CONVERGED;
    else if (epoch >= j->spec.max_epochs)
        *verdict = BSO_STOP_EPOCHS;
    else if (isfinite(j->min_cost) && next > j->spec.beta * j->min_cost)
        *verdict = BSO_STOP_COST;
    else
        *verdict = BSO_CONTINUE;
    if (*verdict != BSO_CONTINUE)
        finish(j, t, reached ? BSO_REACHED : BSO_STOPPED, *verdict);
    return 0;
}

int bso_job_end(struct bso_job *j, int trial, double time_s, double energy_j, bool converged)
{
    struct bso_trial *t = NULL;
    int rc = running_trial(j, trial, &t);
    if (rc < 0)
        return rc;
    if (t->status != BSO_RUNNING) {
        bool was = t->status == BSO_REACHED;
        if (t->status != BSO_ABANDONED && was == converged)
            return 0;
        return joule_set_error(JOULE_EEXIST, "trial %d of job '%s' already ended (%s)", trial,
                               j->spec.job, bso_status_name(t->status));
    }
    if ((rc = check_totals(t, time_s, energy_j)) < 0)
        return rc;
    t->time_s = time_s;
    t->energy_j = energy_j;
    t->cost = bso_cost(&j->spec, energy_j, time_s);
    finish(j, t, converged ? BSO_REACHED : BSO_STOPPED,
           converged ? BSO_CONVERGED : BSO_STOP_EPOCHS);
    return 0;
}

int bso_job_abandon(struct bso_job *j, int trial)
{
    struct bso_trial *t = NULL;
    int rc = running_trial(j, trial, &t);
    if (rc < 0 || t->status != BSO_RUNNING)
        return rc;
    t->status = BSO_ABANDONED;
    t->ended_seq = j->next_seq++;
    bso_policy_abandon(j->policy, t->bs);
    return 0;
}
