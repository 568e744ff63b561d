/* The Zeus NSDI'23 traces (summary_train.csv, summary_power_<gpu>.csv)
 * joined for one workload on one GPU: per batch size, the recorded
 * training runs (epochs to the target) and the epoch time and power at
 * each power limit. */
#ifndef JOULE_BSO_TRACE_H
#define JOULE_BSO_TRACE_H

#include <stddef.h>

struct bso_workload {
    const char *name; /* --workload */
    const char *dataset, *network, *optimizer;
    double target_metric;
    int max_epochs;
    int default_bs;
};

/* NULL for an unknown name. */
const struct bso_workload *bso_workload_find(const char *name);
size_t bso_workload_count(void);
const struct bso_workload *bso_workload_at(size_t i);

struct bso_limit {
    double pl_w, epoch_s, power_w;
};

struct bso_batch {
    int bs;
    struct bso_limit *pl; /* highest limit first */
    size_t npl;
    int *target_epoch; /* one per recorded run, in file order */
    size_t nruns;
};

struct bso_trace {
    struct bso_batch *b; /* ascending batch size */
    size_t n;
    double max_power_w;    /* highest power limit in the GPU's power file */
    size_t n_power_limits; /* distinct limits over the workload */
};

/* Loads and joins; on failure returns a negative JOULE_E* code with a
 * message naming the file, line and field (joule_last_error). */
int bso_trace_load(const char *dir, const struct bso_workload *w, const char *gpu,
                   struct bso_trace *out);
void bso_trace_free(struct bso_trace *t);
const struct bso_batch *bso_trace_batch(const struct bso_trace *t, int bs);

#endif
