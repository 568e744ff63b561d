/* joule — batch-size optimizer (Zeus, NSDI'23): trace-driven simulation.
 *
 * Replays the published Zeus traces (summary_train.csv and
 * summary_power_<gpu>.csv) for one workload on one GPU: recurrences of a
 * training job choose a batch size with pruning and Gaussian Thompson
 * sampling, profile the power limits in the first epoch at a new batch
 * size, and stop early past beta x the least cost. docs/optimize.md has
 * the algorithm, the choices joule makes where Zeus left one open, and the
 * results on the published traces.
 *
 * Every function returns 0 or a negative JOULE_E* code and leaves a message
 * for joule_last_error(). */
#ifndef JOULE_BSO_H
#define JOULE_BSO_H

#include <stdint.h>
#include <stdio.h>

#include <joule/joule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_BSO_API_VERSION 1

typedef struct joule_bso_sim joule_bso_sim;

/* Workloads of the Zeus paper ("cifar100", "imagenet", "squad",
 * "librispeech", "movielens-1m", "sentiment140"); NULL past the end. */
const char *joule_bso_sim_workload(int i);

/* Loads and checks the traces: JOULE_EINVAL names an unknown workload,
 * a malformed row (file:line) or a workload with no runs on that GPU;
 * JOULE_ENOENT a missing trace file. */
int joule_bso_sim_create(const char *trace_dir, const char *workload, const char *gpu,
                         joule_bso_sim **out);
/* cost = eta * energy + (1 - eta) * MaxPower * time; default 0.5, [0, 1]. */
int joule_bso_sim_set_eta(joule_bso_sim *s, double eta);
/* Early stop past beta x the least cost; default 2; INFINITY: never. */
int joule_bso_sim_set_beta(joule_bso_sim *s, double beta);
int joule_bso_sim_set_seed(joule_bso_sim *s, uint64_t seed);
/* Default (0): 2 x |batch sizes| x |power limits|, as the paper. */
int joule_bso_sim_set_recurrences(joule_bso_sim *s, int n);
/* Pruning stops a direction at a size that converged only at this many
 * times the round's best cost, and drops such sizes (default 1.5; 0:
 * only sizes that fail are pruned, exactly as Zeus). */
int joule_bso_sim_set_prune_factor(joule_bso_sim *s, double factor);
int joule_bso_sim_run(joule_bso_sim *s);

/* Results of the last run. which: "default" (the default batch size at
 * the maximum limit, averaged over the recorded runs) or "oracle" (the
 * configuration of least expected cost). */
int joule_bso_sim_point(const joule_bso_sim *s, const char *which, int *batch_size,
                        double *power_limit_w, double *eta_j, double *tta_s);
/* Mean of the last 10 recurrences (retries included) and everything spent
 * against the default run as many times; savings in % of energy. */
int joule_bso_sim_savings(const joule_bso_sim *s, double *last10_eta_j, double *last10_tta_s,
                          double *last10_saved_pct, double *energy_j, double *default_energy_j,
                          double *cumulative_saved_pct);
int joule_bso_sim_recurrences(const joule_bso_sim *s);
int joule_bso_sim_run_count(const joule_bso_sim *s);
/* Run i in order; reached is 1 when it converged, 0 when stopped early. */
int joule_bso_sim_run_at(const joule_bso_sim *s, int i, int *recurrence, int *batch_size,
                         double *power_limit_w, double *energy_j, double *time_s, int *reached);
/* The JSON report (keys default, oracle, last10, cumulative, runs). */
int joule_bso_sim_write_json(const joule_bso_sim *s, FILE *f);
void joule_bso_sim_destroy(joule_bso_sim *s);

#ifdef __cplusplus
}
#endif
#endif
