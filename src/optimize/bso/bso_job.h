/* One recurring job under the batch-size optimizer: its spec, its trials
 * (one per training run) and the verdict at each epoch end. Pure: the
 * store (bso_store.c) loads and saves it; the policy is rebuilt from the
 * trials' events (created, ended, abandoned) in the order they happened,
 * so the state after a crash or in another process is the same. */
#ifndef JOULE_BSO_JOB_H
#define JOULE_BSO_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optimize/bso/bso_policy.h"

#define BSO_MAX_SIZES 256
#define BSO_JOB_NAME_MAX 128

struct bso_spec {
    char job[BSO_JOB_NAME_MAX];
    int sizes[BSO_MAX_SIZES];
    int nsizes;
    int default_bs;
    double eta, beta;
    double max_power_w; /* MaxPower of the cost: highest limit x GPUs */
    double target_metric;
    bool higher_is_better;
    int max_epochs;
    struct bso_policy_options policy;
};

/* Zeus's defaults; sizes, default, target, max_power_w and job unset. */
void bso_spec_defaults(struct bso_spec *s);
/* 0, or JOULE_EINVAL naming the field. */
int bso_spec_check(const struct bso_spec *s);
/* Canonical JSON (what the store keeps and joining compares); malloc'd. */
char *bso_spec_json(const struct bso_spec *s);
int bso_spec_parse(const char *json, struct bso_spec *s);
/* The first field in which a and b differ, NULL when they are equal. */
const char *bso_spec_diff(const struct bso_spec *a, const struct bso_spec *b);

enum bso_status { BSO_RUNNING = 0, BSO_REACHED = 1, BSO_STOPPED = 2, BSO_ABANDONED = 3 };
const char *bso_status_name(enum bso_status s);
int bso_status_parse(const char *name);

struct bso_trial {
    int trial; /* from 1 */
    int bs;
    bool exploring;
    enum bso_status status;
    int64_t created_seq, ended_seq; /* event order within the job */
    int epochs;
    double time_s, energy_j, cost, metric;
    int verdict; /* enum bso_verdict once ended */
};

struct bso_job {
    struct bso_spec spec;
    struct bso_policy *policy;
    double min_cost; /* least cost of a converged trial, INFINITY before */
    struct bso_trial *t;
    size_t n, cap;
    int64_t next_seq;
};

/* Builds the policy from spec and replays the trials' events. */
int bso_job_rebuild(struct bso_job *j);
void bso_job_free(struct bso_job *j);
struct bso_trial *bso_job_trial(struct bso_job *j, int trial);

/* A new trial: its batch size, and whether it is the optimizer's own
 * trial (false for a concurrent run given the best size known). */
int bso_job_next(struct bso_job *j, struct bso_trial **out);

enum bso_verdict {
    BSO_CONTINUE = 0,
    BSO_CONVERGED = 1,   /* the target is reached: training is done */
    BSO_STOP_COST = 2,   /* the next epoch would pass beta x min_cost */
    BSO_STOP_EPOCHS = 3, /* max_epochs without reaching the target */
};
const char *bso_verdict_name(enum bso_verdict v);

/* An epoch ended with cumulative time and energy since the trial began
 * and the validation metric. Ends the trial unless CONTINUE. Reporting an
 * epoch again (or an older one) changes nothing and gives the verdict
 * already given. */
int bso_job_epoch(struct bso_job *j, int trial, int epoch, double time_s, double energy_j,
                  double metric, enum bso_verdict *verdict);
/* Ends a trial the caller stopped itself (converged or not). Ending an
 * ended trial again with the same outcome changes nothing. */
int bso_job_end(struct bso_job *j, int trial, double time_s, double energy_j, bool converged);
/* A running trial that will never report: the walk may offer its size
 * again. */
int bso_job_abandon(struct bso_job *j, int trial);

double bso_cost(const struct bso_spec *s, double energy_j, double time_s);

#endif
