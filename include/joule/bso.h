/* joule — batch-size optimizer (Zeus, NSDI'23): recurring training jobs
 * choose their batch size across runs (joule_bso_*), and a trace-driven
 * simulation of it (joule_bso_sim_*).
 *
 * The simulation replays the published Zeus traces (summary_train.csv and
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

/* ---- the optimizer, across runs of one job ------------------------------
 *
 * A job (by name) has a spec and trials, one per training run. Each run
 * asks for a trial (its batch size), reports every epoch's totals and
 * validation metric, and stops when told: converged (done), or stopped
 * early (cost past beta x the least cost of a converged run, or
 * max_epochs) — then the job is relaunched and asks again. State lives in
 * SQLite and survives kill -9; any number of processes may run trials of
 * one job at once; reporting the same epoch twice changes nothing. */
typedef struct joule_bso joule_bso;
typedef struct joule_bso_spec joule_bso_spec;

/* job: 1..127 bytes, no control characters. Defaults as Zeus: eta 0.5,
 * beta 2, max_epochs 100, higher metric is better, 2 pruning rounds, 2
 * explorations, no window, seed 1; prune factor 1.5 (docs/optimize.md). */
int joule_bso_spec_create(const char *job, joule_bso_spec **out);
void joule_bso_spec_destroy(joule_bso_spec *s);
/* Required: the allowed sizes (1..256 distinct positive) and the default. */
int joule_bso_spec_set_batch_sizes(joule_bso_spec *s, const int *sizes, int n, int default_size);
/* Required: the validation metric that means converged. */
int joule_bso_spec_set_target_metric(joule_bso_spec *s, double target, int higher_is_better);
/* Required: MaxPower of the cost, the highest power limit x GPUs, W. */
int joule_bso_spec_set_max_power_w(joule_bso_spec *s, double watts);
int joule_bso_spec_set_max_epochs(joule_bso_spec *s, int epochs);
int joule_bso_spec_set_eta(joule_bso_spec *s, double eta);
int joule_bso_spec_set_beta(joule_bso_spec *s, double beta);
int joule_bso_spec_set_pruning_rounds(joule_bso_spec *s, int rounds);
int joule_bso_spec_set_explorations(joule_bso_spec *s, int n);
/* Keep only the latest n costs of each size (0: all). */
int joule_bso_spec_set_window(joule_bso_spec *s, int n);
int joule_bso_spec_set_seed(joule_bso_spec *s, uint64_t seed);
int joule_bso_spec_set_prune_factor(joule_bso_spec *s, double factor);

/* The spec as JSON (the canonical form the database keeps and jouled's
 * /v1/bso/jobs takes) and back; free() the text. */
int joule_bso_spec_to_json(const joule_bso_spec *s, char **json);
int joule_bso_spec_from_json(const char *json, joule_bso_spec **out);

/* Creates the job or joins it. JOULE_EEXIST when the job exists with
 * another spec (the message names the field). Where the job lives:
 * db_path, a SQLite file; or, with db_path NULL and $JOULE_DAEMON set
 * (unix:PATH or tcp:HOST:PORT with $JOULE_DAEMON_TOKEN), jouled's
 * /v1/bso service, which jobs on many nodes share; else $JOULE_DB, else
 * the default database (docs/optimize.md). */
int joule_bso_open(const joule_bso_spec *spec, const char *db_path, joule_bso **out);
/* Opens an existing job by name, with its stored spec (JOULE_ENOENT
 * when there is none). Same db_path rules. */
int joule_bso_attach(const char *job, const char *db_path, joule_bso **out);
/* The job as JSON: {"job", "spec", "best_batch_size", "trials": [{"trial",
 * "batch_size", "status", "verdict", "epochs", "time_s", "energy_j",
 * "cost"}, ...]}; free() the text. */
int joule_bso_state_json(joule_bso *b, char **json);
/* A new trial: its number and batch size. */
int joule_bso_next(joule_bso *b, int *trial, int *batch_size);

enum joule_bso_verdict {
    JOULE_BSO_CONTINUE = 0,
    JOULE_BSO_CONVERGED = 1,   /* the target is reached: stop, done */
    JOULE_BSO_STOP_COST = 2,   /* stop: this size costs too much; relaunch */
    JOULE_BSO_STOP_EPOCHS = 3, /* stop: max_epochs without converging; relaunch */
};
/* "continue", "converged", "stop_cost", "stop_epochs". */
const char *joule_bso_verdict_name(int verdict);

/* End of epoch `epoch` (from 1) of a trial: time and energy since the
 * trial began (all GPUs of the job), and the validation metric. */
int joule_bso_epoch(joule_bso *b, int trial, int epoch, double time_s, double energy_j,
                    double metric, int *verdict);
/* Ends a trial the caller stopped itself. */
int joule_bso_end(joule_bso *b, int trial, double time_s, double energy_j, int converged);
/* The converged size of least cost so far (the default before any). */
int joule_bso_best(joule_bso *b, int *batch_size);
/* Trials so far, and one of them (0-based, in trial order): status is
 * "running", "reached", "stopped" or "abandoned" (its process died). */
int joule_bso_trial_count(joule_bso *b);
int joule_bso_trial(joule_bso *b, int i, int *trial, int *batch_size, const char **status,
                    int *epochs, double *time_s, double *energy_j, double *cost);
void joule_bso_close(joule_bso *b);

/* ---- trace-driven simulation --------------------------------------------- */

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
