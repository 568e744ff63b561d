/* In-loop power-limit optimizer (docs/optimize.md), after Zeus's
 * GlobalPowerLimitOptimizer: Ready -> (Warmup -> Profile) per candidate
 * limit -> Done. Acts on devices only through the public API.
 *
 * Counting follows Zeus: the step_begin that leaves Ready is the first
 * warmup step; the window opens at the begin of step warmup_steps+1 and
 * closes at the begin of step warmup_steps+profile_steps+1, so it covers
 * exactly profile_steps steps — unless its energy is not yet known to the
 * target uncertainty (1 %): then it goes on for as many more steps as
 * that takes, within max_profile_s. Measurements are kept per step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "base/error.h"
#include "base/export.h"
#include "optimize/frontier.h"
#include "optimize/plo_store.h"

#define PLO_MAX_GPUS 256
#define PLO_MAX_CANDIDATES 4096

struct joule_plo_options {
    int warmup_steps, profile_steps;
    double pl_step_w;
    struct jopt_selector sel;
    int gpus[PLO_MAX_GPUS];
    int ngpus; /* 0: all */
    char *job, *db;
    int db_timeout_ms;
    joule_plo_reduce_fn reduce;
    void *reduce_user;
    double target_uncertainty; /* of a window's energy; 0: fixed steps */
    double max_profile_s;      /* longest a window is extended to */
};

struct joule_plo {
    joule_ctx *ctx;
    struct joule_plo_options o;
    int gpus[PLO_MAX_GPUS];
    int ngpus;
    int *dev_index;            /* context device index of each GPU */
    char model[96];
    double max_w, min_w;
    double *cand;              /* candidates, highest first */
    int ncand;
    struct jopt_point *meas;   /* per step, indexed like cand; time 0 = unmeasured */
    enum joule_plo_state state;
    int cur;                   /* candidate being warmed up / profiled / next */
    int steps_left;
    int window_steps;          /* steps in the open profiling window */
    /* The steps' own durations in it (Welford): a decision on the mean
     * step needs that mean to the target too, not just the energy. */
    double step_mean_s, step_m2, last_step_s;
    char note[512];            /* why windows were extended (once) */
    double applied_w;
    double optimal_w;
    char window[64];
    struct plo_store *store;
    char job[256];
    /* Another process profiles this key (plo_store_claim): wait in READY
     * at the maximum limit for its profile, polling the store. */
    int waiting;
    double last_poll, last_beat; /* joule_now_s() of the last poll / renewal */
    char holder[256];
};

/* How long a claim holds without renewal (a holder on another host that
 * died), how often its holder renews it, and how often a waiter polls. */
#define PLO_CLAIM_TTL_S 600.0
#define PLO_CLAIM_RENEW_S 10.0
#define PLO_WAIT_POLL_S 1.0

/* ---- options ------------------------------------------------------------- */

JOULE_EXPORT int joule_plo_options_create(joule_plo_options **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_plo_options_create: out is NULL");
    joule_plo_options *o = calloc(1, sizeof *o);
    if (!o)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    o->warmup_steps = 10;
    o->profile_steps = 40;
    o->pl_step_w = 25;
    o->sel = (struct jopt_selector){JOPT_SELECT_COST, 0.5};
    o->db_timeout_ms = 5000;
    o->target_uncertainty = 0.01;
    o->max_profile_s = 10.0;
    *out = o;
    return 0;
}

JOULE_EXPORT void joule_plo_options_destroy(joule_plo_options *o)
{
    if (!o)
        return;
    free(o->job);
    free(o->db);
    free(o);
}

#define NEED_OPTS(o)                                                                   \
    do {                                                                               \
        if (!(o))                                                                      \
            return joule_set_error(JOULE_EINVAL, "power-limit optimizer options are NULL"); \
    } while (0)

JOULE_EXPORT int joule_plo_options_set_warmup_steps(joule_plo_options *o, int steps)
{
    NEED_OPTS(o);
    if (steps < 0)
        return joule_set_error(JOULE_EINVAL, "warmup_steps %d: need >= 0", steps);
    o->warmup_steps = steps;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_profile_steps(joule_plo_options *o, int steps)
{
    NEED_OPTS(o);
    if (steps < 1)
        return joule_set_error(JOULE_EINVAL, "profile_steps %d: need >= 1", steps);
    o->profile_steps = steps;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_pl_step_w(joule_plo_options *o, double watts)
{
    NEED_OPTS(o);
    if (!isfinite(watts) || watts < 1)
        return joule_set_error(JOULE_EINVAL, "pl_step_w %g: need a step of at least 1 W",
                               watts);
    o->pl_step_w = watts;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_selector(joule_plo_options *o, const char *selector)
{
    NEED_OPTS(o);
    return jopt_selector_parse(selector, &o->sel);
}

JOULE_EXPORT int joule_plo_options_set_gpus(joule_plo_options *o, const int *gpus, int n)
{
    NEED_OPTS(o);
    if (n < 0 || n > PLO_MAX_GPUS || (n > 0 && !gpus))
        return joule_set_error(JOULE_EINVAL, "GPU list of %d entries (at most %d)", n,
                               PLO_MAX_GPUS);
    for (int i = 0; i < n; i++) {
        if (gpus[i] < 0)
            return joule_set_error(JOULE_EINVAL, "GPU index %d is negative", gpus[i]);
        for (int j = 0; j < i; j++)
            if (gpus[j] == gpus[i])
                return joule_set_error(JOULE_EINVAL, "GPU %d is listed twice", gpus[i]);
        o->gpus[i] = gpus[i];
    }
    o->ngpus = n;
    return 0;
}

static int set_string(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && !(copy = strdup(src)))
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_job(joule_plo_options *o, const char *job)
{
    NEED_OPTS(o);
    if (job && (!*job || strlen(job) > 255))
        return joule_set_error(JOULE_EINVAL, "job name must be 1 to 255 bytes");
    return set_string(&o->job, job);
}

JOULE_EXPORT int joule_plo_options_set_db(joule_plo_options *o, const char *path)
{
    NEED_OPTS(o);
    if (path && !*path)
        return joule_set_error(JOULE_EINVAL, "database path is empty");
    return set_string(&o->db, path);
}

JOULE_EXPORT int joule_plo_options_set_db_timeout_ms(joule_plo_options *o, int ms)
{
    NEED_OPTS(o);
    if (ms < 0)
        return joule_set_error(JOULE_EINVAL, "database timeout %d ms: need >= 0", ms);
    o->db_timeout_ms = ms;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_reduce(joule_plo_options *o, joule_plo_reduce_fn fn,
                                              void *user)
{
    NEED_OPTS(o);
    o->reduce = fn;
    o->reduce_user = user;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_target_uncertainty(joule_plo_options *o, double fraction)
{
    NEED_OPTS(o);
    if (!(fraction >= 0 && fraction <= 0.5))
        return joule_set_error(JOULE_EINVAL,
            "target uncertainty %g: need a fraction of the energy in [0, 0.5] (0: fixed "
            "profile_steps)", fraction);
    o->target_uncertainty = fraction;
    return 0;
}

JOULE_EXPORT int joule_plo_options_set_max_profile_s(joule_plo_options *o, double seconds)
{
    NEED_OPTS(o);
    if (!(seconds > 0 && seconds <= 3600))
        return joule_set_error(JOULE_EINVAL, "max profile time %g s: need (0, 3600] s", seconds);
    o->max_profile_s = seconds;
    return 0;
}

/* ---- helpers --------------------------------------------------------------- */

static int set_all(joule_plo *p, double w)
{
    int first = 0;
    char msg[1024] = "";
    for (int i = 0; i < p->ngpus; i++) {
        int rc = joule_gpu_set_power_limit_w(p->ctx, p->gpus[i], w);
        if (rc && !first) {
            first = rc;
            snprintf(msg, sizeof msg, "%s", joule_last_error());
        }
    }
    if (first)
        return joule_set_error(first, "power-limit optimizer: setting %g W: %s", w, msg);
    p->applied_w = w;
    return 0;
}

static struct plo_key key_of(const joule_plo *p)
{
    return (struct plo_key){p->model, p->ngpus, p->job};
}

/* Measured points (compacted), highest first. */
static int measured(const joule_plo *p, struct jopt_point *out)
{
    int n = 0;
    for (int i = 0; i < p->ncand; i++)
        if (p->meas[i].time_s > 0)
            out[n++] = p->meas[i];
    return n;
}

static int next_unmeasured(const joule_plo *p, int from)
{
    for (int i = from; i < p->ncand; i++)
        if (!(p->meas[i].time_s > 0))
            return i;
    for (int i = 0; i < from && i < p->ncand; i++)
        if (!(p->meas[i].time_s > 0))
            return i;
    return -1;
}

/* Everything measured: choose, apply, persist. */
static int finish(joule_plo *p)
{
    struct jopt_point *pts = calloc((size_t)p->ncand, sizeof *pts);
    if (!pts)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int n = measured(p, pts);
    int rc = jopt_points_check(pts, n, "power-limit optimizer");
    int k = rc ? rc : jopt_select(&p->o.sel, pts, n, p->max_w, p->ngpus);
    if (k < 0) {
        free(pts);
        return k;
    }
    p->optimal_w = pts[k].knob;
    p->state = JOULE_PLO_DONE;
    rc = set_all(p, p->optimal_w);
    if (p->store) {
        char sel[64];
        jopt_selector_format(&p->o.sel, sel, sizeof sel);
        struct plo_key key = key_of(p);
        int src = plo_store_complete(p->store, &key, pts, n, p->optimal_w, sel);
        if (!rc)
            rc = src;
    }
    free(pts);
    return rc;
}

static int begin_window(joule_plo *p)
{
    snprintf(p->window, sizeof p->window, "__GlobalPowerLimitOptimizer_%g", p->cand[p->cur]);
    int rc = joule_window_begin(p->ctx, p->window, JOULE_WINDOW_RESTART);
    if (rc)
        return joule_wrap_error(rc, "power-limit optimizer");
    p->state = JOULE_PLO_PROFILE;
    p->steps_left = p->o.profile_steps;
    p->window_steps = 0;
    p->step_mean_s = p->step_m2 = 0;
    p->last_step_s = joule_now_s();
    return 0;
}

/* One more step of the open window ended now. */
static void note_step(joule_plo *p)
{
    double now = joule_now_s(), d = now - p->last_step_s;
    p->last_step_s = now;
    p->window_steps++;
    double delta = d - p->step_mean_s;
    p->step_mean_s += delta / p->window_steps;
    p->step_m2 += delta * (d - p->step_mean_s);
}

/* The relative standard error of the window's mean step duration. */
static double step_time_error(const joule_plo *p)
{
    int n = p->window_steps;
    if (n < 2 || !(p->step_mean_s > 0))
        return 0;
    return sqrt(p->step_m2 / (n - 1)) / p->step_mean_s / sqrt((double)n);
}

/* The open window's time, energy and uncertainty over the GPUs so far. */
static int peek_window(joule_plo *p, double *t, double *e, double *bound)
{
    joule_result *r = NULL;
    int rc = joule_window_peek(p->ctx, p->window, 0, &r);
    if (rc)
        return rc;
    *t = joule_result_time_s(r);
    *e = *bound = 0;
    for (int i = 0; i < p->ngpus; i++) {
        int status;
        double v = joule_result_energy_j(r, p->dev_index[i], NULL, &status);
        if (status) {
            joule_result_free(r);
            return status;
        }
        *e += v;
        *bound += joule_result_uncertainty_j(r, p->dev_index[i]);
    }
    joule_result_free(r);
    return 0;
}

/* Whether the profiling window must go on: its energy is not yet known to
 * the target uncertainty, or its steps vary so much that their mean is
 * not. The edges' error hardly grows with the window, so for it the
 * window is lengthened by the factor its relative uncertainty is over the
 * target; the mean's error shrinks as 1/√steps, so for that by the
 * square; a quarter more, within max_profile_s. */
static int extend_window(joule_plo *p)
{
    double t, e, bound, target = p->o.target_uncertainty;
    if (!(target > 0) || peek_window(p, &t, &e, &bound) || !(e > 0) || !(t > 0))
        return 0;
    double spread = step_time_error(p), n = p->window_steps;
    if (bound <= target * e && spread <= target)
        return 0;
    double per_step = t / n, need = n * fmax(bound / (target * e), pow(spread / target, 2));
    int total = (int)ceil(need * 1.25);
    int most = (int)floor(p->o.max_profile_s / per_step);
    if (total > most)
        total = most;
    if (total <= p->window_steps)
        return 0; /* at the cap: take what was measured */
    if (p->note[0]) {
    } else if (bound > target * e) {
        snprintf(p->note, sizeof p->note,
                 "power-limit optimizer: %d steps of %.3g ms (%.3g s) measure %g W only to "
                 "±%.2g %% of their energy; profiling windows are extended to about %d steps "
                 "(%.3g s, at most %g s) to reach ±%g %%",
                 p->window_steps, per_step * 1e3, t, p->cand[p->cur], 100 * bound / e, total,
                 total * per_step, p->o.max_profile_s, 100 * target);
    } else {
        snprintf(p->note, sizeof p->note,
                 "power-limit optimizer: %d steps of %.3g ms at %g W vary so much that their "
                 "mean is known only to ±%.2g %%; profiling windows are extended to about %d "
                 "steps (%.3g s, at most %g s) to reach ±%g %%",
                 p->window_steps, per_step * 1e3, p->cand[p->cur], 100 * spread, total,
                 total * per_step, p->o.max_profile_s, 100 * target);
    }
    p->steps_left = total - p->window_steps;
    return 1;
}

/* Warms up (or, with no warmup, starts profiling) candidate cur. */
static int start_candidate(joule_plo *p)
{
    int rc = set_all(p, p->cand[p->cur]);
    if (rc) {
        p->state = JOULE_PLO_READY;
        return rc;
    }
    if (p->o.warmup_steps == 0)
        return begin_window(p);
    p->state = JOULE_PLO_WARMUP;
    p->steps_left = p->o.warmup_steps;
    return 0;
}

static int end_window(joule_plo *p)
{
    joule_result *r = NULL;
    int rc = joule_window_end(p->ctx, p->window, 0, &r);
    if (rc && !r)
        return joule_wrap_error(rc, "power-limit optimizer");
    double t = joule_result_time_s(r), e = 0;
    for (int i = 0; i < p->ngpus; i++) {
        int q, status;
        double v = joule_result_energy_j(r, p->dev_index[i], &q, &status);
        if (status) {
            joule_result_free(r);
            return joule_set_error(status, "power-limit optimizer: gpu%d failed while "
                                   "profiling %g W; that limit is retried",
                                   p->gpus[i], p->cand[p->cur]);
        }
        e += v;
    }
    joule_result_free(r);
    if (p->o.reduce) {
        rc = p->o.reduce(&t, &e, p->o.reduce_user);
        if (rc)
            return joule_set_error(rc < 0 ? rc : JOULE_EIO,
                                   "power-limit optimizer: the reduce callback failed (%d)", rc);
    }
    if (!(t > 0) || !(e > 0))
        return joule_set_error(JOULE_EIO,
            "power-limit optimizer: profiling %g W measured %g s and %g J; that limit is "
            "retried", p->cand[p->cur], t, e);
    p->meas[p->cur] = (struct jopt_point){p->cand[p->cur], t / p->window_steps,
                                          e / p->window_steps};
    return 0;
}

/* ---- the store: stored profiles and other processes --------------------------- */

/* Reads the stored profile of the key. A complete one is chosen from (its
 * limits may differ from today's candidates) and applied: DONE, returns 1.
 * The measurements of an incomplete one are reused: returns 0. */
static int load_stored(joule_plo *p)
{
    struct jopt_point *stored = calloc((size_t)PLO_MAX_CANDIDATES, sizeof *stored);
    if (!stored)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int complete = 0;
    struct plo_key key = key_of(p);
    int ns = plo_store_load(p->store, &key, stored, PLO_MAX_CANDIDATES, &complete);
    for (int j = 0; j < ns; j++)
        for (int i = 0; i < p->ncand; i++)
            if (stored[j].knob == p->cand[i] && stored[j].time_s > 0 && stored[j].energy_j > 0)
                p->meas[i] = stored[j];
    if (ns < 0 || !complete || ns < 2) {
        free(stored);
        return ns < 0 ? ns : 0;
    }
    int k = jopt_points_check(stored, ns, "stored profile");
    if (k == 0)
        k = jopt_select(&p->o.sel, stored, ns, p->max_w, p->ngpus);
    double w = k >= 0 ? stored[k].knob : 0;
    free(stored);
    if (k < 0)
        return k;
    if (w < p->min_w || w > p->max_w)
        return joule_set_error(JOULE_ERANGE,
            "power-limit optimizer: the stored optimum %g W is outside the GPUs' range "
            "%g-%g W", w, p->min_w, p->max_w);
    p->optimal_w = w;
    p->state = JOULE_PLO_DONE;
    p->waiting = 0;
    int rc = set_all(p, w);
    return rc ? rc : 1;
}

/* Claims the key, or learns which process profiles it (plo_store.c):
 * sets p->waiting; returns 1 when the profile turned out complete (then
 * applied), else 0. */
static int coordinate(joule_plo *p)
{
    struct plo_key key = key_of(p);
    int c = plo_store_claim(p->store, &key, PLO_CLAIM_TTL_S, p->holder, sizeof p->holder);
    if (c < 0)
        return c;
    if (c == PLO_CLAIM_COMPLETE)
        return load_stored(p);
    p->waiting = c == PLO_CLAIM_HELD;
    p->last_beat = joule_now_s();
    return 0;
}

/* A waiter's step: at most every PLO_WAIT_POLL_S, take the profile if it
 * is complete, or the claim if it lapsed; then profile what is left. */
static int wait_turn(joule_plo *p)
{
    if (joule_now_s() - p->last_poll < PLO_WAIT_POLL_S)
        return 0;
    p->last_poll = joule_now_s();
    int rc = load_stored(p);
    if (rc == 0)
        rc = coordinate(p);
    if (rc || p->waiting)
        return rc < 0 ? rc : 0;
    p->cur = next_unmeasured(p, 0);
    if (p->cur < 0) { /* the other process measured everything */
        p->cur = 0;
        return finish(p);
    }
    return start_candidate(p);
}

/* The holder renews its claim while it profiles. A failed renewal is
 * harmless (the claim holds PLO_CLAIM_TTL_S), so it is not reported. */
static void renew_claim(joule_plo *p)
{
    if (!p->store || p->waiting || p->state == JOULE_PLO_DONE ||
        joule_now_s() - p->last_beat < PLO_CLAIM_RENEW_S)
        return;
    struct plo_key key = key_of(p);
    p->last_beat = joule_now_s();
    plo_store_claim(p->store, &key, PLO_CLAIM_TTL_S, p->holder, sizeof p->holder);
}

/* ---- lifecycle --------------------------------------------------------------- */

static int gpu_device_index(joule_ctx *ctx, int gpu)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == gpu)
            return i;
    }
    return -1;
}

JOULE_EXPORT int joule_plo_create(joule_ctx *ctx, const joule_plo_options *o, joule_plo **out)
{
    if (!ctx || !out)
        return joule_set_error(JOULE_EINVAL, "joule_plo_create: NULL argument");
    *out = NULL;
    joule_plo_options defaults;
    if (!o) {
        joule_plo_options *tmp;
        int rc = joule_plo_options_create(&tmp);
        if (rc)
            return rc;
        defaults = *tmp;
        joule_plo_options_destroy(tmp);
        o = &defaults;
    }
    joule_plo *p = calloc(1, sizeof *p);
    if (!p)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    p->ctx = ctx;
    p->o = *o;
    p->o.job = p->o.db = NULL;
    int rc = 0;
    if (o->ngpus) {
        memcpy(p->gpus, o->gpus, sizeof p->gpus);
        p->ngpus = o->ngpus;
    } else {
        for (int i = 0; i < joule_device_count(ctx) && p->ngpus < PLO_MAX_GPUS; i++) {
            const joule_device *d = joule_device_at(ctx, i);
            if (joule_device_kind(d) == JOULE_KIND_GPU)
                p->gpus[p->ngpus++] = joule_device_index(d);
        }
    }
    if (p->ngpus == 0) {
        rc = joule_set_error(JOULE_ENODEV, "power-limit optimizer: the context has no GPU");
        goto fail;
    }
    /* Windows are judged by their uncertainty: learn the counters' timing
     * now (about a second, once per context) rather than extend the first
     * limits' windows while it is learned. */
    if (p->o.target_uncertainty > 0)
        joule_learn_timing(ctx, 2.0);
    p->dev_index = calloc((size_t)p->ngpus, sizeof *p->dev_index);
    if (!p->dev_index) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p->ngpus; i++) {
        p->dev_index[i] = gpu_device_index(ctx, p->gpus[i]);
        if (p->dev_index[i] < 0) {
            rc = joule_set_error(JOULE_ENODEV, "power-limit optimizer: no gpu%d in the context",
                                 p->gpus[i]);
            goto fail;
        }
        double mn, mx;
        if ((rc = joule_gpu_get_power_limit_w(ctx, p->gpus[i], NULL, &mn, &mx, NULL, NULL))) {
            joule_wrap_error(rc, "power-limit optimizer");
            goto fail;
        }
        if (!(joule_device_caps(joule_device_at(ctx, p->dev_index[i])) &
              JOULE_CAP_SET_POWER_LIMIT)) {
            rc = joule_set_error(JOULE_ENOTSUP,
                "power-limit optimizer: gpu%d cannot set its power limit here (run as root "
                "or through jouled)", p->gpus[i]);
            goto fail;
        }
        if (i == 0) {
            p->min_w = mn;
            p->max_w = mx;
            snprintf(p->model, sizeof p->model, "%s",
                     joule_device_name(joule_device_at(ctx, p->dev_index[i])));
        } else if (mn != p->min_w || mx != p->max_w) {
            rc = joule_set_error(JOULE_EINVAL,
                "power-limit optimizer: GPUs have different power-limit ranges (gpu%d "
                "%g-%g W, gpu%d %g-%g W); optimize them separately", p->gpus[0], p->min_w,
                p->max_w, p->gpus[i], mn, mx);
            goto fail;
        }
    }
    /* exit(), SIGINT and SIGTERM restore the limit, even without destroy. */
    if ((rc = control_guard(ctx)))
        goto fail;
    /* Candidates: max, max - step, ... while >= min. */
    double span = p->max_w - p->min_w;
    int n = (int)floor(span / p->o.pl_step_w + 1e-9) + 1;
    if (n > PLO_MAX_CANDIDATES)
        n = PLO_MAX_CANDIDATES;
    if (n < 2) {
        rc = joule_set_error(JOULE_ERANGE,
            "power-limit optimizer: a step of %g W leaves only %g W inside the GPUs' range "
            "%g-%g W; use a smaller pl_step_w", p->o.pl_step_w, p->max_w, p->min_w, p->max_w);
        goto fail;
    }
    p->cand = calloc((size_t)n, sizeof *p->cand);
    p->meas = calloc((size_t)n, sizeof *p->meas);
    if (!p->cand || !p->meas) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        p->cand[i] = p->max_w - i * p->o.pl_step_w;
    p->ncand = n;

    /* Persistence. */
    const char *job = o->job ? o->job : getenv("JOULE_JOB");
    if (job && *job) {
        snprintf(p->job, sizeof p->job, "%s", job);
        if ((rc = plo_store_open(o->db, o->db_timeout_ms, &p->store)))
            goto fail;
        if ((rc = load_stored(p)) == 0)
            rc = coordinate(p);
        if (rc < 0)
            goto fail;
        if (rc == 1) { /* a complete profile: applied, no profiling */
            *out = p;
            return 0;
        }
    }
    if ((rc = set_all(p, p->max_w)))
        goto fail;
    p->cur = p->waiting ? 0 : next_unmeasured(p, 0);
    if (p->cur < 0) { /* everything was measured before a crash */
        p->cur = 0;
        if ((rc = finish(p)))
            goto fail;
    } else {
        p->state = JOULE_PLO_READY;
    }
    *out = p;
    return 0;
fail:
    joule_plo_destroy(p);
    return rc;
}

/* The profiling window of candidate cur is over: keep its measurement
 * and move on to the next candidate (or finish); at an epoch's end the
 * next one waits in READY for the next step. */
static int complete_window(joule_plo *p, int at_epoch_end)
{
    int rc = end_window(p);
    if (rc) {
        /* Retry this limit from its warmup. */
        p->state = JOULE_PLO_READY;
        return rc;
    }
    int src = 0;
    if (p->store) {
        struct plo_key key = key_of(p);
        /* A failed write is healed by the complete write at the end. */
        src = plo_store_put(p->store, &key, &p->meas[p->cur]);
    }
    int next = next_unmeasured(p, p->cur + 1);
    if (next < 0) {
        rc = finish(p);
        return rc ? rc : src;
    }
    p->cur = next;
    if (at_epoch_end) {
        p->state = JOULE_PLO_READY;
        rc = set_all(p, p->max_w);
    } else {
        rc = start_candidate(p);
    }
    return rc ? rc : src;
}

JOULE_EXPORT int joule_plo_step_begin(joule_plo *p)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "power-limit optimizer is NULL");
    renew_claim(p);
    switch (p->state) {
    case JOULE_PLO_READY:
        return p->waiting ? wait_turn(p) : start_candidate(p);
    case JOULE_PLO_WARMUP:
        if (--p->steps_left > 0)
            return 0;
        return begin_window(p);
    case JOULE_PLO_PROFILE:
        note_step(p);
        if (--p->steps_left > 0 || extend_window(p))
            return 0;
        return complete_window(p, 0);
    case JOULE_PLO_DONE:
        return 0;
    }
    return 0;
}

JOULE_EXPORT int joule_plo_epoch_end(joule_plo *p)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "power-limit optimizer is NULL");
    if (p->state != JOULE_PLO_WARMUP && p->state != JOULE_PLO_PROFILE)
        return 0;
    /* A window past its profile_steps, only lengthened for precision, is
     * kept as measured: an epoch shorter than the lengthened window would
     * otherwise cut it again every epoch. */
    if (p->state == JOULE_PLO_PROFILE && p->window_steps >= p->o.profile_steps)
        return complete_window(p, 1);
    if (p->state == JOULE_PLO_PROFILE)
        joule_window_cancel(p->ctx, p->window);
    p->state = JOULE_PLO_READY; /* same candidate, next epoch */
    return set_all(p, p->max_w);
}

JOULE_EXPORT const char *joule_plo_note(const joule_plo *p)
{
    return p ? p->note : "";
}

JOULE_EXPORT int joule_plo_result(joule_plo *p, double *power_limit_w)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "power-limit optimizer is NULL");
    if (p->state != JOULE_PLO_DONE) {
        int left = 0;
        for (int i = 0; i < p->ncand; i++)
            left += !(p->meas[i].time_s > 0);
        if (p->waiting)
            return joule_set_error(JOULE_EBUSY,
                "power-limit optimizer: %s profiles job '%s' (%d of %d limits left); this "
                "one runs at %g W until that profile is complete", p->holder, p->job, left,
                p->ncand, p->max_w);
        return joule_set_error(JOULE_EBUSY,
            "power-limit optimizer is still profiling (%g W next or in progress, %d of %d "
            "limits left)", p->cand[p->cur], left, p->ncand);
    }
    if (power_limit_w)
        *power_limit_w = p->optimal_w;
    return 0;
}

JOULE_EXPORT enum joule_plo_state joule_plo_state(const joule_plo *p)
{
    return p ? p->state : JOULE_PLO_READY;
}

JOULE_EXPORT double joule_plo_power_limit_w(const joule_plo *p)
{
    return p ? p->applied_w : NAN;
}

JOULE_EXPORT int joule_plo_measurement_count(const joule_plo *p)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "power-limit optimizer is NULL");
    int n = 0;
    for (int i = 0; i < p->ncand; i++)
        n += p->meas[i].time_s > 0;
    return n;
}

JOULE_EXPORT int joule_plo_measurement(const joule_plo *p, int i, double *power_limit_w,
                                       double *time_per_step_s, double *energy_per_step_j)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "power-limit optimizer is NULL");
    for (int k = 0, seen = 0; k < p->ncand; k++) {
        if (!(p->meas[k].time_s > 0))
            continue;
        if (seen++ == i) {
            if (power_limit_w)
                *power_limit_w = p->meas[k].knob;
            if (time_per_step_s)
                *time_per_step_s = p->meas[k].time_s;
            if (energy_per_step_j)
                *energy_per_step_j = p->meas[k].energy_j;
            return 0;
        }
    }
    return joule_set_error(JOULE_ERANGE, "no measurement %d", i);
}

JOULE_EXPORT void joule_plo_destroy(joule_plo *p)
{
    if (!p)
        return;
    if (p->state == JOULE_PLO_PROFILE)
        joule_window_cancel(p->ctx, p->window);
    if (p->ncand > 0 && p->applied_w > 0 && p->applied_w != p->max_w)
        set_all(p, p->max_w);
    if (p->store && !p->waiting && p->state != JOULE_PLO_DONE) {
        struct plo_key key = key_of(p); /* stopped mid-profile: the next one takes over */
        plo_store_release(p->store, &key);
    }
    plo_store_close(p->store);
    free(p->dev_index);
    free(p->cand);
    free(p->meas);
    free(p);
}
