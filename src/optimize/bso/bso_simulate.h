/* Trace-driven replay of recurring training jobs under the batch-size
 * optimizer, as Zeus's simulator does it (zeus/_legacy/simulate.py):
 * each run samples one recorded training run of its batch size; the
 * first run at a batch size profiles every power limit during its first
 * epoch and keeps the one of least epoch cost; a run stops early once its
 * cost would pass beta x the least cost of a converged recurrence. */
#ifndef JOULE_BSO_SIMULATE_H
#define JOULE_BSO_SIMULATE_H

#include <stdbool.h>
#include <stdint.h>

#include "optimize/bso/bso_policy.h"
#include "optimize/bso/bso_trace.h"

struct bso_sim_params {
    double eta;  /* cost = eta*E + (1-eta)*MaxPower*T */
    double beta; /* early stop past beta x least cost */
    uint64_t seed;
    unsigned recurrences; /* 0: 2 x |batch sizes| x |power limits| */
    unsigned max_tries;   /* runs per recurrence before it gives up; Zeus: 20 */
    struct bso_policy_options policy;
};

void bso_sim_defaults(struct bso_sim_params *p);

struct bso_sim_run {
    unsigned recurrence; /* from 1 */
    int bs;
    double pl_w, energy_j, time_s;
    bool reached, profiled, pruning;
};

struct bso_sim_point {
    int bs;
    double pl_w, eta_j, tta_s, cost;
};

struct bso_sim_result {
    unsigned recurrences;
    struct bso_sim_point def, oracle;
    double last10_eta_j, last10_tta_s, last10_saved_pct;
    double energy_j, default_energy_j, cumulative_saved_pct;
    unsigned gave_up; /* recurrences that never converged in max_tries */
    struct bso_sim_run *runs;
    unsigned nruns;
};

int bso_simulate(const struct bso_trace *t, const struct bso_workload *w,
                 const struct bso_sim_params *p, struct bso_sim_result *out);
void bso_sim_result_free(struct bso_sim_result *r);

#endif
