/* Pipeline frequency planner (`joule plan`): Perseus-style time–energy
 * frontier of one pipeline-parallel training iteration.
 *
 * Internal API, shared by the library, the CLI, the tests and the benchmark.
 * See docs/planner.md for the algorithm and what is exact.
 *
 * Units: seconds and joules (double) at this edge; inside the solver, time
 * is an integer number of quanta and cost an integer number of nanojoules.
 * Every function returns 0 or a negative JOULE_E* code and leaves a message
 * for joule_last_error() (joule_set_error, like the rest of the library).
 */
#ifndef JOULE_OPTIMIZE_PLANNER_H
#define JOULE_OPTIMIZE_PLANNER_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <joule/joule.h>

#include "base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { PL_FORWARD = 0, PL_BACKWARD = 1 };
enum { PL_SCHED_1F1B = 0, PL_SCHED_GPIPE = 1 };

/* Limits that keep every index in an int and every plan choice in 16 bits. */
#define PL_MAX_STAGES 4096
#define PL_MAX_COMPUTATIONS (1 << 22)
#define PL_MAX_OPTIONS 65535
/* Largest iteration time the solver accepts, in quanta. */
#define PL_MAX_QUANTA (1 << 24)

/* ---- errors and allocation accounting ----------------------------------- */

/* Flushes f and closes it unless it is stdout; a failed write or close is
 * JOULE_EIO with "cannot write PATH: <strerror>". */
int pl_close_output(FILE *f, const char *path);

/* Allocation wrappers that keep a count of the planner's live and peak heap
 * bytes (the benchmark reports the peak). Thread-safe. */
void *pl_malloc(size_t n);
void *pl_calloc(size_t n, size_t size);
void *pl_realloc(void *p, size_t n);
void pl_free(void *p);
size_t pl_mem_current(void);
size_t pl_mem_peak(void);
void pl_mem_reset_peak(void);

/* ---- profile ------------------------------------------------------------ */

typedef struct pl_row {
    int stage;
    int instr;      /* PL_FORWARD / PL_BACKWARD */
    int freq_mhz;
    double time_s;
    double energy_j;
    int line;       /* 1-based line in the CSV */
} pl_row;

typedef struct pl_profile {
    char *name;     /* file name used in messages */
    pl_row *rows;
    int nrows;
    int cap;
    int max_stage;  /* highest stage seen, -1 when empty */
    int last_line;  /* number of lines in the file */
} pl_profile;

/* Parses a profile CSV `stage,instruction,frequency,time,energy` (header
 * required, columns in any order, extra columns ignored, '#' comments and
 * blank lines skipped). Errors name the file and the line. */
int pl_profile_parse(const char *text, size_t len, const char *name,
                     pl_profile **out);
int pl_profile_load(const char *path, pl_profile **out);
void pl_profile_free(pl_profile *p);
/* Row for (stage, instr, freq), or NULL. */
const pl_row *pl_profile_find(const pl_profile *p, int stage, int instr,
                              int freq_mhz);
/* Checks every row's frequency against a list of supported clocks; the
 * error names the line and the GPU label. */
int pl_profile_check_freqs(const pl_profile *p, const int *mhz, int n,
                           const char *gpu_label);

const char *pl_instr_name(int instr);
int pl_instr_parse(const char *s); /* -1 when unknown */
const char *pl_schedule_name(int sched);
int pl_schedule_parse(const char *s); /* -1 when unknown */

/* ---- configuration and DAG ---------------------------------------------- */

typedef struct pl_config {
    int stages;
    int microbatches;
    int schedule;            /* PL_SCHED_* */
    double quantum_s;        /* default 1e-3 */
    double blocking_power_w; /* default 70 */
    /* simulated computations the discrete improvement may spend: 0 picks
     * the default (docs/planner.md), < 0 turns the improvement off */
    long long improve_budget;
} pl_config;

void pl_config_default(pl_config *c);

/* Computation id: ((stage * 2 + instr) * M + microbatch). Its option kind
 * is stage * 2 + instr. */
static inline int pl_comp_id(int M, int stage, int instr, int mb)
{
    return (stage * 2 + instr) * M + mb;
}

typedef struct pl_dag {
    int S, M, N;        /* N = 2 * S * M computations */
    int *stage_seq;     /* N: stage s runs stage_seq[s*2M .. (s+1)*2M) in order */
    int *pred_start;    /* N + 1, CSR of predecessors */
    int *pred;
    int *succ_start;    /* N + 1, CSR of successors */
    int *succ;
    int *topo;          /* N: a topological order */
} pl_dag;

/* Builds the computation DAG of a schedule: pipeline dependencies
 * F(s,m) after F(s-1,m), B(s,m) after B(s+1,m), B(S-1,m) after F(S-1,m),
 * and the order of computations within each stage. */
int pl_dag_build(int S, int M, int schedule, pl_dag *out);
void pl_dag_free(pl_dag *d);

/* ---- options ------------------------------------------------------------ */

typedef struct pl_option {
    int freq_mhz;
    double time_s;
    double energy_j;
    int32_t quanta;     /* max(1, round(time_s / quantum)) */
    int line;
} pl_option;

/* Options of one (stage, instruction). */
typedef struct pl_kind {
    pl_option *opt;     /* Pareto set in (time, energy): time ascending,
                           energy strictly descending */
    int nopt;
    int *qopt;          /* indices into opt: the quantized Pareto set, one
                           per quantum (the lowest energy), quanta ascending */
    int nq;
    int *hull;          /* indices into opt: vertices of the lower convex
                           hull of (quanta, cost), quanta ascending */
    int nhull;
    int32_t tmin, tmax; /* quanta range of the hull model */
    int64_t *slope;     /* [tmax - tmin]: model cost saved going from x to
                           x + 1 quanta (nJ), non-increasing in x */
    int64_t *cost;      /* [tmax - tmin + 1]: model cost at x quanta (nJ) */
    uint16_t *down;     /* [tmax - tmin + 1]: slowest option (index into opt)
                           with quanta <= x */
} pl_kind;

typedef struct pl_problem {
    pl_config cfg;
    pl_dag dag;
    pl_kind *kinds;       /* 2 * S */
    int nkinds;
    int64_t pq_nj;        /* blocking power * quantum, nJ per quantum */
    int64_t lambda_nj;    /* S * pq_nj: model energy per quantum of T_iter */
} pl_problem;

/* Validates the profile against the configuration (every stage has forward
 * and backward rows, no stage outside the pipeline), builds the options of
 * every (stage, instruction) and the DAG. */
int pl_problem_init(pl_problem *pb, const pl_profile *prof,
                    const pl_config *cfg);
void pl_problem_free(pl_problem *pb);

static inline const pl_kind *pl_kind_of(const pl_problem *pb, int comp)
{
    return &pb->kinds[comp / pb->cfg.microbatches];
}

/* Model cost (nJ) of option `o` of a kind: energy - P_block * quanta * q. */
int64_t pl_option_cost_nj(const pl_problem *pb, const pl_option *o);

/* ---- plans and evaluation ------------------------------------------------ */

typedef struct pl_plan {
    uint16_t *choice;       /* N: index into the kind's opt[] */
    double time_s;          /* simulated with the profile's times */
    double energy_j;        /* E = sum e + P_block * (S * T - sum t) */
    int64_t quanta;         /* simulated with quantized times */
    double model_energy_j;  /* same formula with quantized times */
    double bound_j;         /* hull lower bound at `quanta` (model) */
    int id;
    int searched;           /* improve.c: its neighbours were offered */
} pl_plan;

typedef struct pl_work pl_work;   /* scratch arrays for evaluation */
int pl_work_create(const pl_problem *pb, pl_work **out);
void pl_work_free(pl_work *w);

/* Simulates the schedule for a choice of options: fills time_s, energy_j,
 * quanta and model_energy_j. */
void pl_plan_eval(const pl_problem *pb, pl_work *w, pl_plan *p);
/* Removes energy bloat without slowdown: in reverse topological order every
 * computation takes the slowest option that still finishes by the latest
 * time its successors (and the deadline) allow, with the profile's times.
 * deadline_s <= 0 means the plan's own iteration time. */
void pl_plan_fill_slack(const pl_problem *pb, pl_work *w, uint16_t *choice,
                        double deadline_s);
/* Same, but no computation c becomes slower than the slowest option with
 * at most cap_quanta[c] quanta (unless it already is). */
void pl_plan_fill_slack_capped(const pl_problem *pb, pl_work *w,
                               uint16_t *choice, double deadline_s,
                               const int32_t *cap_quanta);

/* Bloat removal as pl_plan_fill_slack(..., 0) for a plan that agrees, at
 * the topological positions before `from`, with the plan of the last call
 * that reached them (a fill from 0, or a call with a smaller `from`); the
 * earliest starts there are reused. Returns the iteration time and sets
 * *energy_j; both are summed in another order than pl_plan_eval, so they
 * agree with it to rounding only. */
double pl_plan_fill_from(const pl_problem *pb, pl_work *w, uint16_t *choice,
                         int from, double *energy_j);

/* ---- solver --------------------------------------------------------------- */

typedef struct pl_frontier {
    pl_plan *pts;           /* Pareto set, time ascending, energy descending */
    int n, cap;
    /* Hull model (exact Phillips–Dessouky result): for every T in
     * [hull_tmin, hull_tmax] quanta, the minimum total model cost (nJ) of
     * the convex-hull relaxation with iteration time <= T. The model energy
     * is hull_cost + lambda_nj * T. */
    int64_t hull_tmin, hull_tmax, hull_tstar;
    int64_t *hull_cost;
    /* Model energy (J) of the plan that rounds each hull duration down to
     * a real option, per T (before bloat removal); >= the discrete optimum
     * >= the hull bound. */
    double *round_energy_j;
    int64_t *round_quanta;
    int iterations;         /* max-flow solves */
    int steps;              /* quanta compressed */
    int cold_starts;        /* steps whose carried flow was not feasible
                               (0 when the warm-start argument holds) */
    double fastest_energy_j;  /* every computation at its fastest option */
    double fastest_time_s;
    /* discrete improvement (improve.c): plans searched, neighbours
     * simulated, and 1 when the budget stopped it before it converged */
    int improve_searched;
    long long improve_evals;
    int improve_cut;
    uint16_t **pool;        /* internal: recycled choice arrays */
    int npool, cappool;
    int N;
} pl_frontier;

int pl_solve(const pl_problem *pb, pl_frontier *out);
void pl_frontier_free(pl_frontier *f);

/* frontier.c: a choice array from the pool (or a new one; NULL when out of
 * memory), and back to the pool. */
uint16_t *pl_choice_get(pl_frontier *f);
void pl_choice_put(pl_frontier *f, uint16_t *c);
/* Inserts a plan unless another has time <= and energy <= it; removes the
 * plans it dominates. Takes ownership of p->choice. */
int pl_frontier_insert(pl_frontier *f, pl_plan *p);

/* improve.c: Pareto local search over the real options. Frontier plans
 * get their neighbours (one or two computations at other options, energy
 * bloat removed) offered to the frontier, until none is left or `budget`
 * simulated computations are spent (0: the default, docs/planner.md). */
int pl_frontier_improve(const pl_problem *pb, pl_work *w, pl_frontier *f,
                       int64_t budget);

/* The quantized deadline k * q that time t first meets: (k-1) q < t <= k q,
 * with a relative slack of 1e-9 for sums of times such as 0.001 + 0.002. */
static inline int64_t pl_deadline_quanta(double t, double q)
{
    return (int64_t)ceil(t / q * (1 - 1e-9));
}

/* Keeps the fastest plan and, for each quantized deadline, the cheapest
 * plan that meets it; drops the plans in between, which no deadline on the
 * quantum grid picks. */
void pl_frontier_thin(pl_frontier *f, double quantum_s);

/* Index of the cheapest plan with time_s <= deadline_s (+1e-12), -1 if
 * none. */
int pl_frontier_pick_deadline(const pl_frontier *f, double deadline_s);

/* ---- output --------------------------------------------------------------- */

struct cJSON;
/* {"plan_id", "time_s", "energy_j", ..., "stages": [[{"instruction",
 * "microbatch", "frequency_mhz"}, ...], ...]} */
struct cJSON *pl_plan_to_json(const pl_problem *pb, const pl_plan *p);
int pl_write_plan_json(const pl_problem *pb, const pl_plan *p,
                       const char *path);
int pl_write_frontier_json(const pl_problem *pb, const pl_frontier *f,
                           const char *path);
int pl_write_plans_dir(const pl_problem *pb, const pl_frontier *f,
                       const char *dir);
/* plan_id,time_s,energy_j,quantized_time_s,model_energy_j,lower_bound_j
 * with 12 significant digits. path "-" is stdout. */
int pl_write_frontier_csv(const pl_problem *pb, const pl_frontier *f,
                          FILE *out);
int pl_write_frontier_csv_file(const pl_problem *pb, const pl_frontier *f,
                               const char *path);
int pl_write_gantt_svg(const pl_problem *pb, const pl_plan *p,
                       const char *path);
int pl_write_frontier_svg(const pl_frontier *f, int highlight,
                          const char *path);

/* ---- plan files (runtime) ------------------------------------------------ */

typedef struct pl_step {
    int instr;
    int mb;
    int freq_mhz;
} pl_step;

/* One stage's sequence read from a plan JSON file. */
typedef struct pl_stage_plan {
    pl_step *steps;
    int n;
    int num_stages;
} pl_stage_plan;

int pl_stage_plan_read(const char *path, int stage, pl_stage_plan *out);
void pl_stage_plan_free(pl_stage_plan *sp);

/* Runtime counters of the plan loaded on ctx (runtime.c): requests posted
 * by joule_plan_instruction_begin(), requests replaced in the mailbox
 * before the control thread took them, requests served. */
int pl_runtime_stats(joule_ctx *ctx, unsigned long *requests,
                     unsigned long *superseded, unsigned long *applied);

#ifdef __cplusplus
}
#endif
#endif
