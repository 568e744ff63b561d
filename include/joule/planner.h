/* joule planner: per-stage GPU frequency plans for pipeline-parallel
 * training (Perseus-style iteration time–energy frontier, `joule plan`).
 * docs/planner.md describes the profile, the algorithm and what is exact.
 *
 * A profile CSV (`stage,instruction,frequency,time,energy`) and options
 * make a planner; solving it gives the frontier of plans, time ascending
 * and energy descending; each plan can be written as JSON (read back by
 * joule_plan_load() of joule.h during training) or drawn as SVG.
 *
 * Functions return 0 (or a count/index) or a negative JOULE_E* code and
 * leave a message for joule_last_error(). Times in seconds, energy in
 * joules, power in watts, frequencies in MHz. */
#ifndef JOULE_PLANNER_H
#define JOULE_PLANNER_H

#include <joule/joule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_PLANNER_API_VERSION 1

/* Limits of one problem. */
#define JOULE_PLANNER_MAX_STAGES 4096
#define JOULE_PLANNER_MAX_COMPUTATIONS (1 << 22)

enum joule_schedule { JOULE_SCHEDULE_1F1B = 0, JOULE_SCHEDULE_GPIPE = 1 };
/* "1f1b" or "gpipe"; -1 when unknown. */
int joule_schedule_parse(const char *name);
const char *joule_schedule_name(int schedule);

/* Layout fixed for JOULE_PLANNER_API_VERSION 1; start from
 * joule_planner_options_default(). */
typedef struct joule_planner_options {
    int stages;
    int microbatches;
    int schedule;             /* enum joule_schedule */
    double quantum_s;         /* time grid of the solver, default 1e-3 */
    double blocking_power_w;  /* power of a GPU waiting, default 70 */
    /* simulated computations the discrete improvement may spend: 0 picks
     * the default (docs/planner.md), < 0 turns the improvement off */
    long long improve_budget;
} joule_planner_options;

void joule_planner_options_default(joule_planner_options *o);

/* ---- profile ------------------------------------------------------------ */

typedef struct joule_planner_profile joule_planner_profile;

/* Parses a profile CSV (header required, columns in any order, '#'
 * comments skipped). Errors name the file and the line. */
int joule_planner_profile_load(const char *path, joule_planner_profile **out);
void joule_planner_profile_free(joule_planner_profile *p);
/* Checks every row's frequency against a GPU's supported clocks (mhz[n]);
 * the error names the line and gpu_label. */
int joule_planner_profile_check_clocks(const joule_planner_profile *p, const int *mhz, int n,
                                       const char *gpu_label);

/* ---- planner ------------------------------------------------------------ */

typedef struct joule_planner joule_planner;

/* Validates the profile against the options (every stage has forward and
 * backward rows, none outside the pipeline). The profile may be freed
 * afterwards. */
int joule_planner_create(const joule_planner_profile *profile,
                         const joule_planner_options *options, joule_planner **out);
void joule_planner_destroy(joule_planner *p);
/* Computes the frontier (once; again is a no-op). */
int joule_planner_solve(joule_planner *p);

/* ---- the frontier (after joule_planner_solve) -------------------------- */

/* Plans on the frontier, time ascending, energy descending. */
int joule_planner_plan_count(const joule_planner *p);
/* Plan i's iteration time and energy with the profile's times, and its id
 * (the plan_id of the files written). */
int joule_planner_plan(const joule_planner *p, int i, double *time_s, double *energy_j,
                       int *id);
/* Index of the cheapest plan with time <= deadline_s, JOULE_ENOENT when
 * none meets it. */
int joule_planner_pick_deadline(const joule_planner *p, double deadline_s);

/* How the solve went. Layout fixed for JOULE_PLANNER_API_VERSION 1. */
typedef struct joule_planner_report {
    double fastest_time_s, fastest_energy_j; /* every computation at its fastest */
    int plans;                /* on the frontier */
    int steps;                /* quanta compressed */
    int max_flows;            /* max-flow solves */
    int improve_searched;     /* plans whose neighbours the search offered */
    long long improve_evals;  /* neighbours simulated */
    int improve_cut;          /* 1 when the budget stopped the search */
} joule_planner_report;
int joule_planner_get_report(const joule_planner *p, joule_planner_report *out);

/* ---- output ("-" is stdout where a path is taken) ------------------------ */

/* plan_id,time_s,energy_j,quantized_time_s,model_energy_j,lower_bound_j */
int joule_planner_write_frontier_csv(const joule_planner *p, const char *path);
/* All plans, as JSON. */
int joule_planner_write_frontier_json(const joule_planner *p, const char *path);
/* Plan i as JSON: what joule_plan_load() reads. */
int joule_planner_write_plan_json(const joule_planner *p, int i, const char *path);
/* Every plan as DIR/plan_NNNN.json (NNNN: its id, 4 digits). */
int joule_planner_write_plans_dir(const joule_planner *p, const char *dir);
/* Plan i as a Gantt chart of the pipeline. */
int joule_planner_write_gantt_svg(const joule_planner *p, int i, const char *path);
/* The frontier, plan `highlight` marked (-1: none). */
int joule_planner_write_frontier_svg(const joule_planner *p, int highlight, const char *path);

/* ---- applying a plan while training ---------------------------------------- */

/* A plan (JSON of joule_planner_write_plan_json) applied to GPU `gpu` of
 * ctx for one pipeline stage: each joule_plan_runtime_begin() locks the
 * planned SM clock for the next computation from a control thread, so the
 * training thread never waits on the GPU call. joule_plan_load() of
 * joule.h is the same, held by the context. ctx must outlive the handle;
 * create, begin and destroy must not run concurrently on one handle. */
typedef struct joule_plan_runtime joule_plan_runtime;
int joule_plan_runtime_create(joule_ctx *ctx, const char *plan_file, int stage, int gpu,
                              joule_plan_runtime **out);
/* "forward" or "backward"; a mismatch with the plan's sequence is an
 * error (and stays one until the plan is loaded again). */
int joule_plan_runtime_begin(joule_plan_runtime *rt, const char *instruction);
/* Requests posted, requests replaced before the control thread took them,
 * clocks applied. */
int joule_plan_runtime_stats(const joule_plan_runtime *rt, unsigned long *requests,
                             unsigned long *superseded, unsigned long *applied);
/* Stops the control thread and resets the GPU's clocks; returns the
 * reset's status. NULL is a no-op. */
int joule_plan_runtime_destroy(joule_plan_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
