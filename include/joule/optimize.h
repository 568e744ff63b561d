/* joule optimize: the time–energy frontier of a set of measured settings
 * and the selectors that pick one (docs/optimize.md). Pure functions over
 * arrays, plus the reader of a power-limit profiling log.
 *
 * Functions return 0 (or a count/index) or a negative JOULE_E* code and
 * leave a message for joule_last_error(). */
#ifndef JOULE_OPTIMIZE_H
#define JOULE_OPTIMIZE_H

#include <joule/joule.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_OPTIMIZE_API_VERSION 1

/* One measured setting. knob is the power limit in W or the locked SM
 * clock in MHz; time and energy are for the same amount of work at every
 * knob. Layout fixed for JOULE_OPTIMIZE_API_VERSION 1. */
typedef struct joule_setting_point {
    double knob;
    double time_s;
    double energy_j;
} joule_setting_point;

enum joule_selector_kind {
    JOULE_SELECT_ENERGY = 0,   /* minimum energy */
    JOULE_SELECT_TIME = 1,     /* minimum time */
    JOULE_SELECT_COST = 2,     /* Zeus cost, param = eta */
    JOULE_SELECT_SLOWDOWN = 3, /* min energy with T <= F * T(highest knob), param = F */
};

/* Layout fixed for JOULE_OPTIMIZE_API_VERSION 1. */
typedef struct joule_selector {
    int kind; /* enum joule_selector_kind */
    double param;
} joule_selector;

/* "energy", "time", "cost" (eta 0.5), "cost:ETA", "slowdown" (F 1.1),
 * "slowdown:F". Checks 0 <= eta <= 1 and F >= 1. */
int joule_selector_parse(const char *spec, joule_selector *out);
/* From a name and a parameter (NaN: the default). */
int joule_selector_make(const char *name, double param, joule_selector *out);
/* "energy", "time", "cost:0.5", "slowdown:1.1" into buf. */
void joule_selector_format(const joule_selector *s, char *buf, size_t len);

/* Checks the points: at least two, every time and energy finite and > 0,
 * knobs finite, > 0 and distinct. what names the source in messages. */
int joule_points_check(const joule_setting_point *p, int n, const char *what);
/* Pareto frontier: fills idx (room for n) with the indices of the points
 * no other point beats in both time and energy, time ascending. Returns
 * the count. */
int joule_frontier(const joule_setting_point *p, int n, int *idx);
/* Picks one point; returns its index (joule_select() of joule.h does the
 * same over parallel arrays and a selector string). p_max_w (the device's maximum power
 * limit) and n_gpus serve the cost selector only; p_max_w <= 0 means the
 * highest knob among the points. */
int joule_select_point(const joule_selector *s, const joule_setting_point *p, int n,
                       double p_max_w, int n_gpus);

/* A power-limit profiling log (window-log CSV, rows named
 * __GlobalPowerLimitOptimizer_{W}); gpu{i}_energy columns are summed.
 * Errors name the file, line and column. */
typedef struct joule_power_profile joule_power_profile;
int joule_power_profile_read(const char *path, joule_power_profile **out);
void joule_power_profile_free(joule_power_profile *p);
/* The points, highest power limit first, and their count. */
const joule_setting_point *joule_power_profile_points(const joule_power_profile *p, int *n);
/* The line point i was read from; 0 out of range. */
int joule_power_profile_line(const joule_power_profile *p, int i);
int joule_power_profile_gpus(const joule_power_profile *p);
/* Rows with other window names, skipped. */
int joule_power_profile_skipped_rows(const joule_power_profile *p);

#ifdef __cplusplus
}
#endif
#endif
