/* The sweep procedure (include/joule/sweep.h): apply a setting to the
 * swept GPUs, measure a caller's step in one window until its energy is
 * known to the target, and the statistics and frontier over settings.
 * It acts on devices only through the public core API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>
#include <joule/optimize.h>
#include <joule/sweep.h>

#include "base/error.h"
#include "base/export.h"

#define SWEEP_MAX_GPUS 64
#define SWEEP_WINDOW "joule sweep"

struct joule_sweep {
    joule_ctx *ctx;
    joule_sweep_options o;
    int gpus[SWEEP_MAX_GPUS];
    int dev[SWEEP_MAX_GPUS]; /* context index of each GPU */
    int ngpus;
    int nsim;
    double p_max_w;
};

JOULE_EXPORT void joule_sweep_options_default(joule_sweep_options *o)
{
    *o = (joule_sweep_options){
        .knob = JOULE_SWEEP_POWER_LIMIT,
        .target = 0.01,
        .max_runs_per_window = 20,
        .max_window_s = 120.0,
        .sim_load = 1.0,
    };
}

static int simulated(const joule_sweep *s, int i)
{
    return (joule_device_caps(joule_device_at(s->ctx, s->dev[i])) & JOULE_CAP_SIMULATED) != 0;
}

/* Resolves GPU indices to context devices and reads the power-limit
 * ranges (a power-limit sweep needs them). */
static int add_gpu(joule_sweep *s, int gpu)
{
    if (s->ngpus == SWEEP_MAX_GPUS)
        return joule_set_error(JOULE_EINVAL, "more than %d GPUs to sweep", SWEEP_MAX_GPUS);
    int dev = -1;
    for (int i = 0; i < joule_device_count(s->ctx); i++) {
        const joule_device *d = joule_device_at(s->ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == gpu)
            dev = i;
    }
    if (dev < 0)
        return joule_set_error(JOULE_ENODEV, "no gpu%d among the devices", gpu);
    s->gpus[s->ngpus] = gpu;
    s->dev[s->ngpus++] = dev;
    s->nsim += simulated(s, s->ngpus - 1);
    double mn, mx;
    if (joule_gpu_get_power_limit_w(s->ctx, gpu, NULL, &mn, &mx, NULL, NULL) == 0) {
        if (mx > s->p_max_w)
            s->p_max_w = mx;
    } else if (s->o.knob == JOULE_SWEEP_POWER_LIMIT) {
        char why[768];
        snprintf(why, sizeof why, "%s", joule_last_error());
        return joule_set_error(JOULE_ENOTSUP, "gpu%d: %s", gpu, why);
    }
    return 0;
}

JOULE_EXPORT int joule_sweep_create(joule_ctx *ctx, const joule_sweep_options *o,
                                    joule_sweep **out)
{
    if (!ctx || !o || !out)
        return joule_set_error(JOULE_EINVAL, "joule_sweep_create: NULL argument");
    *out = NULL;
    if (o->knob != JOULE_SWEEP_POWER_LIMIT && o->knob != JOULE_SWEEP_SM_CLOCK)
        return joule_set_error(JOULE_EINVAL, "joule_sweep_create: unknown knob %d", o->knob);
    if (!(o->target > 0) || o->max_runs_per_window < 1 || !(o->max_window_s > 0) ||
        !(o->sim_load >= 0 && o->sim_load <= 1))
        return joule_set_error(JOULE_EINVAL, "joule_sweep_create: target %g, runs %d, window "
                               "%g s or sim load %g out of range", o->target,
                               o->max_runs_per_window, o->max_window_s, o->sim_load);
    joule_sweep *s = calloc(1, sizeof *s);
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    s->ctx = ctx;
    s->o = *o;
    s->o.gpus = NULL; /* not kept: the caller's array may go */
    int rc = 0;
    if (o->gpus && o->ngpus > 0) {
        for (int i = 0; i < o->ngpus && !rc; i++)
            rc = add_gpu(s, o->gpus[i]);
    } else {
        for (int i = 0; i < joule_device_count(ctx) && !rc && s->ngpus < SWEEP_MAX_GPUS; i++) {
            const joule_device *d = joule_device_at(ctx, i);
            if (joule_device_kind(d) == JOULE_KIND_GPU)
                rc = add_gpu(s, joule_device_index(d));
        }
        if (!rc && s->ngpus == 0)
            rc = joule_set_error(JOULE_ENODEV, "no GPU among the devices");
    }
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

JOULE_EXPORT void joule_sweep_destroy(joule_sweep *s)
{
    free(s);
}

JOULE_EXPORT int joule_sweep_gpu_count(const joule_sweep *s) { return s->ngpus; }
JOULE_EXPORT int joule_sweep_simulated_count(const joule_sweep *s) { return s->nsim; }
JOULE_EXPORT double joule_sweep_max_power_limit_w(const joule_sweep *s) { return s->p_max_w; }

JOULE_EXPORT int joule_sweep_gpu(const joule_sweep *s, int i)
{
    if (i < 0 || i >= s->ngpus)
        return joule_set_error(JOULE_ENOENT, "no swept GPU %d (%d swept)", i, s->ngpus);
    return s->gpus[i];
}

JOULE_EXPORT int joule_sweep_check_setting(const joule_sweep *s, double knob)
{
    for (int g = 0; g < s->ngpus; g++) {
        const char *name = joule_device_name(joule_device_at(s->ctx, s->dev[g]));
        if (s->o.knob == JOULE_SWEEP_POWER_LIMIT) {
            double mn, mx;
            if (joule_gpu_get_power_limit_w(s->ctx, s->gpus[g], NULL, &mn, &mx, NULL, NULL))
                return joule_set_error(JOULE_ENOTSUP, "gpu%d: %s", s->gpus[g],
                                       joule_last_error());
            if (knob < mn || knob > mx)
                return joule_set_error(JOULE_ERANGE,
                                       "power limit %g W is outside gpu%d (%s)'s range %g-%g W",
                                       knob, s->gpus[g], name, mn, mx);
        } else {
            int mhz[512];
            int n = joule_gpu_supported_clocks_mhz(s->ctx, s->gpus[g], mhz, 512);
            if (n > 512)
                n = 512;
            /* clocks come highest first; a GPU that lists none is not checked */
            if (n > 0 && (knob < mhz[n - 1] || knob > mhz[0]))
                return joule_set_error(JOULE_ERANGE,
                                       "SM clock %g MHz is outside gpu%d (%s)'s range %d-%d MHz",
                                       knob, s->gpus[g], name, mhz[n - 1], mhz[0]);
        }
    }
    return 0;
}

JOULE_EXPORT int joule_sweep_apply(joule_sweep *s, double knob)
{
    int clocks = s->o.knob == JOULE_SWEEP_SM_CLOCK;
    for (int i = 0; i < s->ngpus; i++) {
        int rc = clocks ? joule_gpu_lock_clocks_mhz(s->ctx, s->gpus[i], (int)knob, (int)knob)
                        : joule_gpu_set_power_limit_w(s->ctx, s->gpus[i], knob);
        if (rc) {
            char why[768];
            snprintf(why, sizeof why, "%s", joule_last_error());
            return joule_set_error(rc, "cannot apply %g %s to gpu%d: %s", knob,
                                   clocks ? "MHz" : "W", s->gpus[i], why);
        }
    }
    return 0;
}

static void set_sim_load(joule_sweep *s, double load)
{
    for (int i = 0; i < s->ngpus; i++)
        if (simulated(s, i))
            joule_sim_set_load(s->ctx, s->gpus[i], load);
}

/* The simulated GPUs' mean work done so far. */
static double sim_work(joule_sweep *s)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < s->ngpus; i++) {
        double w;
        if (simulated(s, i) && joule_sim_work_done(s->ctx, s->gpus[i], &w) == 0) {
            sum += w;
            n++;
        }
    }
    return n ? sum / n : 0;
}

/* The open window's energy over the swept GPUs so far, and its
 * uncertainty; non-zero when a GPU failed. */
static int peek_energy(joule_sweep *s, double *t, double *e, double *bound)
{
    joule_result *res = NULL;
    if (joule_window_peek(s->ctx, SWEEP_WINDOW, 0, &res))
        return -1;
    *t = joule_result_time_s(res);
    *e = *bound = 0;
    int failed = 0;
    for (int i = 0; i < s->ngpus; i++) {
        int st;
        *e += joule_result_energy_j(res, s->dev[i], NULL, &st);
        *bound += joule_result_uncertainty_j(res, s->dev[i]);
        failed |= st != 0;
    }
    joule_result_free(res);
    return failed;
}

/* Whether one more run goes into this window: its energy is not yet known
 * to the target, and no cap is reached. The first time, notes what one
 * run measured. */
static int needs_more(joule_sweep *s, int runs, joule_sweep_measurement *m)
{
    double t, e, bound;
    if (runs >= s->o.max_runs_per_window || peek_energy(s, &t, &e, &bound) || !(e > 0) ||
        bound <= s->o.target * e || t >= s->o.max_window_s)
        return 0;
    if (m->single_run_time_s == 0) {
        m->single_run_time_s = t / runs;
        m->single_run_relative_uncertainty = bound / e;
    }
    return 1;
}

JOULE_EXPORT int joule_sweep_measure(joule_sweep *s, joule_sweep_step_fn step, void *user,
                                     joule_sweep_measurement *m)
{
    if (!s || !step || !m)
        return joule_set_error(JOULE_EINVAL, "joule_sweep_measure: NULL argument");
    memset(m, 0, sizeof *m);
    m->sim_work = -1;
    double w0 = 0;
    if (s->nsim) {
        set_sim_load(s, s->o.sim_load);
        w0 = sim_work(s);
    }
    int rc = joule_window_begin(s->ctx, SWEEP_WINDOW, JOULE_WINDOW_RESTART);
    if (rc) {
        if (s->nsim)
            set_sim_load(s, 0);
        return rc;
    }
    do {
        m->stopped = step(user) != 0;
        m->runs++;
    } while (!m->stopped && needs_more(s, m->runs, m));
    joule_result *res = NULL;
    rc = joule_window_end(s->ctx, SWEEP_WINDOW, 0, &res);
    if (s->nsim) {
        m->sim_work = sim_work(s) - w0;
        set_sim_load(s, 0);
    }
    if (rc && !res)
        return rc;
    m->time_s = joule_result_time_s(res) / m->runs;
    for (int i = 0; i < s->ngpus; i++) {
        int q, st;
        double v = joule_result_energy_j(res, s->dev[i], &q, &st);
        if (st) {
            snprintf(m->error, sizeof m->error, "gpu%d failed: %s", s->gpus[i],
                     joule_last_error());
            m->energy_j = NAN;
        } else if (!isnan(m->energy_j)) {
            m->energy_j += v / m->runs;
        }
        m->uncertainty_j += joule_result_uncertainty_j(res, s->dev[i]) / m->runs;
    }
    joule_result_free(res);
    return 0;
}

/* ---- statistics and the frontier ------------------------------------------ */

JOULE_EXPORT void joule_sweep_mean_sd(const double *v, int n, int stride, double *mean,
                                      double *sd)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i * stride];
    double m = n ? sum / n : NAN;
    if (mean)
        *mean = m;
    if (!sd)
        return;
    double ss = 0;
    for (int i = 0; i < n && n >= 2; i++)
        ss += (v[i * stride] - m) * (v[i * stride] - m);
    *sd = n >= 2 ? sqrt(ss / (n - 1)) : 0.0;
}

static const char *const selector_names[JOULE_SWEEP_SELECTORS] = {"energy", "time", "cost",
                                                                  "slowdown"};

JOULE_EXPORT const char *joule_sweep_selector_name(int k)
{
    return k >= 0 && k < JOULE_SWEEP_SELECTORS ? selector_names[k] : NULL;
}

JOULE_EXPORT int joule_sweep_choose(const joule_setting_point *p, int n, double eta,
                                    double max_slowdown, double p_max_w, int n_gpus, int *front,
                                    joule_sweep_choices *out)
{
    out->nfrontier = 0;
    for (int k = 0; k < JOULE_SWEEP_SELECTORS; k++)
        out->choice[k] = -1;
    if (n < 2)
        return joule_set_error(JOULE_EINVAL, "fewer than two settings were measured");
    int rc = joule_points_check(p, n, "sweep");
    if (rc)
        return rc;
    int nf = joule_frontier(p, n, front);
    if (nf < 0)
        return nf;
    const joule_selector sels[JOULE_SWEEP_SELECTORS] = {{JOULE_SELECT_ENERGY, 0},
                                                        {JOULE_SELECT_TIME, 0},
                                                        {JOULE_SELECT_COST, eta},
                                                        {JOULE_SELECT_SLOWDOWN, max_slowdown}};
    for (int k = 0; k < JOULE_SWEEP_SELECTORS && nf; k++) {
        int c = joule_select_point(&sels[k], p, n, p_max_w, n_gpus);
        if (c < 0) {
            for (int j = 0; j < JOULE_SWEEP_SELECTORS; j++)
                out->choice[j] = -1;
            return c; /* no frontier or choice is reported then */
        }
        out->choice[k] = c;
    }
    out->nfrontier = nf;
    return 0;
}
