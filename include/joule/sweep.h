/* joule sweep: measure a piece of work once per power limit (or locked SM
 * clock) and find the time–energy frontier (docs/optimize.md). The caller
 * supplies the work as a step function: `joule sweep` runs a command,
 * Python could run a function.
 *
 * Each setting's window must know its energy to ±1 % (the target): a step
 * too short for that runs again in the same window, up to a number of runs
 * or seconds, and the figures are per run.
 *
 * Functions return 0 (or a count/index) or a negative JOULE_E* code and
 * leave a message for joule_last_error(). Times in seconds, energy in
 * joules, power in watts, clocks in MHz. */
#ifndef JOULE_SWEEP_H
#define JOULE_SWEEP_H

#include <joule/joule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_SWEEP_API_VERSION 1

/* A measured setting: defined in <joule/optimize.h> (joule.h includes
 * both, in an order that may put this header first). */
typedef struct joule_setting_point joule_setting_point;

enum joule_sweep_knob { JOULE_SWEEP_POWER_LIMIT = 0, JOULE_SWEEP_SM_CLOCK = 1 };

/* Layout fixed for JOULE_SWEEP_API_VERSION 1; start from
 * joule_sweep_options_default(). */
typedef struct joule_sweep_options {
    int knob;                 /* enum joule_sweep_knob */
    const int *gpus;          /* GPU indices to set and measure; NULL: every GPU */
    int ngpus;
    double target;            /* relative energy uncertainty a window reaches (0.01) */
    int max_runs_per_window;  /* 20 */
    double max_window_s;      /* 120 */
    double sim_load;          /* load of simulated GPUs while the step runs (1) */
} joule_sweep_options;

void joule_sweep_options_default(joule_sweep_options *o);

typedef struct joule_sweep joule_sweep;

/* Checks the GPUs (each one of ctx's) and reads their ranges. ctx must
 * outlive the sweep. */
int joule_sweep_create(joule_ctx *ctx, const joule_sweep_options *o, joule_sweep **out);
void joule_sweep_destroy(joule_sweep *s);

int joule_sweep_gpu_count(const joule_sweep *s);
/* The GPU index of the i-th swept GPU. */
int joule_sweep_gpu(const joule_sweep *s, int i);
/* How many swept GPUs are simulated. */
int joule_sweep_simulated_count(const joule_sweep *s);
/* The largest maximum power limit among the GPUs (the cost selector's
 * P_max), 0 when unknown. */
double joule_sweep_max_power_limit_w(const joule_sweep *s);

/* Whether every GPU can take the setting (its power-limit range or its
 * supported clocks); JOULE_ERANGE names the GPU and its range. */
int joule_sweep_check_setting(const joule_sweep *s, double knob);
/* Applies the setting to every swept GPU. */
int joule_sweep_apply(joule_sweep *s, double knob);

/* One run of the work. Returns 0 when another run may follow in the same
 * window, anything else to close the window now (the run failed, or the
 * caller was interrupted); the caller keeps its own reason. */
typedef int (*joule_sweep_step_fn)(void *user);

/* What one window measured. Layout fixed for JOULE_SWEEP_API_VERSION 1. */
typedef struct joule_sweep_measurement {
    int runs;               /* step calls in the window */
    int stopped;            /* the last step returned non-zero */
    double time_s;          /* per run */
    double energy_j;        /* per run, summed over the swept GPUs; NAN when a GPU failed */
    double uncertainty_j;   /* per run */
    /* Work the simulated GPUs did in the window (all runs), -1 without
     * simulated GPUs. */
    double sim_work;
    /* When one run was not enough: what a single run measured, and to
     * what fraction of its energy (for telling the user why it repeats). */
    double single_run_time_s, single_run_relative_uncertainty;
    char error[256];        /* why energy_j is NAN */
} joule_sweep_measurement;

/* Opens a window, runs step until the energy is known to the target (or a
 * cap is reached, or step returns non-zero), closes it and reports per
 * run. Fails only when the window itself cannot be measured. */
int joule_sweep_measure(joule_sweep *s, joule_sweep_step_fn step, void *user,
                        joule_sweep_measurement *out);

/* ---- statistics and the frontier ------------------------------------------ */

/* Mean and sample standard deviation (n - 1) of v[0], v[stride], ...; the
 * mean of nothing is NAN, the spread of fewer than two values 0. */
void joule_sweep_mean_sd(const double *v, int n, int stride, double *mean, double *sd);

/* The frontier and every selector's choice over the measured points. */
#define JOULE_SWEEP_SELECTORS 4 /* energy, time, cost (eta), slowdown (max) */
typedef struct joule_sweep_choices {
    int nfrontier;          /* front[] holds point indices, time ascending */
    int choice[JOULE_SWEEP_SELECTORS]; /* point indices; -1 when none */
} joule_sweep_choices;
/* front needs room for n. Returns 0, or a negative code (fewer than two
 * points, a bad point, a failed selector) with no frontier and no
 * choices. */
int joule_sweep_choose(const joule_setting_point *p, int n, double eta, double max_slowdown,
                       double p_max_w, int n_gpus, int *front, joule_sweep_choices *out);
/* "energy", "time", "cost", "slowdown" for k = 0..3. */
const char *joule_sweep_selector_name(int k);

#ifdef __cplusplus
}
#endif
#endif
