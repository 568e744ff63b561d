/* Time–energy frontier and the selectors that pick one setting from a set
 * of measurements (docs/optimize.md). Pure functions over arrays: no
 * devices, no I/O except the profile reader (profile_log.c), no global
 * state.
 *
 * Every function returns 0 (or a count/index) or a negative JOULE_E* code
 * and leaves a message for joule_last_error(). */
#ifndef JOULE_OPTIMIZE_FRONTIER_H
#define JOULE_OPTIMIZE_FRONTIER_H

#include <joule/joule.h>

/* One measured setting. knob is the power limit in W or the locked SM clock
 * in MHz; time and energy are for the same amount of work at every knob. */
struct jopt_point {
    double knob;
    double time_s;
    double energy_j;
};

enum jopt_selector_kind {
    JOPT_SELECT_ENERGY = 0,   /* minimum energy */
    JOPT_SELECT_TIME = 1,     /* minimum time */
    JOPT_SELECT_COST = 2,     /* Zeus cost, param = eta */
    JOPT_SELECT_SLOWDOWN = 3, /* min energy with T <= F * T(highest knob), param = F */
};

struct jopt_selector {
    enum jopt_selector_kind kind;
    double param;
};

/* "energy", "time", "cost" (eta 0.5), "cost:ETA", "slowdown" (F 1.1),
 * "slowdown:F". Checks 0 <= eta <= 1 and F >= 1. */
int jopt_selector_parse(const char *spec, struct jopt_selector *out);
/* Builds a selector from a name and a parameter (NaN: the default). */
int jopt_selector_make(const char *name, double param, struct jopt_selector *out);
/* "energy", "time", "cost:0.5", "slowdown:1.1" into buf. */
void jopt_selector_format(const struct jopt_selector *s, char *buf, size_t len);

/* Checks the points: at least two, every time and energy finite and > 0,
 * knobs finite, > 0 and distinct. what names the source in messages. */
int jopt_points_check(const struct jopt_point *p, int n, const char *what);

/* Pareto frontier: fills idx (room for n) with the indices of the points
 * no other point beats in both time and energy (ties: a point equal in
 * both to another is kept only if its knob is the higher), ordered by time
 * ascending. Returns the count. */
int jopt_frontier(const struct jopt_point *p, int n, int *idx);

/* Zeus cost eta*E + (1-eta)*p_max_w*n_gpus*T. */
double jopt_cost(double eta, double p_max_w, int n_gpus, double time_s, double energy_j);

/* Picks one point; returns its index. p_max_w (the device's maximum power
 * limit) and n_gpus are used by the cost selector only; p_max_w <= 0 means
 * the highest knob among the points (right for power-limit sweeps).
 * Ties (exactly equal objective) go to the lower energy, then the lower
 * time, then the higher knob. */
int jopt_select(const struct jopt_selector *s, const struct jopt_point *p, int n,
                double p_max_w, int n_gpus);

/* The largest power limit a profiling log may name, in W: far above any
 * GPU, and small enough that P_max * N_gpus * T stays finite. */
#define JOPT_MAX_POWER_LIMIT_W 1e6

/* A profiling log in the window-log CSV format (Zeus's), rows named
 * __GlobalPowerLimitOptimizer_{W} (or __PowerLimitOptimizer_{W}); the
 * gpu{i}_energy columns are summed. Other rows are skipped. A power limit
 * seen twice keeps its last row. A column named twice, or a value or sum
 * that is not finite, is an error naming the file, line and column
 * (profile_log.c). */
struct jopt_profile {
    struct jopt_point *points; /* malloc'd, highest power limit first */
    int *lines;                /* the line each point was read from */
    int n;
    int n_gpus;                /* gpu{i}_energy columns */
    int skipped_rows;          /* rows with other window names */
};
int jopt_profile_read(const char *path, struct jopt_profile *out);
void jopt_profile_free(struct jopt_profile *p);

#endif
