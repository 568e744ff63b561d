/* Time–energy frontier and selectors. */
#include "optimize/frontier.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"

#include <joule/optimize.h>

/* ---- selectors ----------------------------------------------------------- */

int jopt_selector_make(const char *name, double param, struct jopt_selector *out)
{
    if (!name || !out)
        return joule_set_error(JOULE_EINVAL, "selector: name is NULL");
    if (!strcmp(name, "energy") || !strcmp(name, "time")) {
        if (!isnan(param))
            return joule_set_error(JOULE_EINVAL,
                                   "selector '%s' takes no parameter (got %g)", name, param);
        out->kind = name[0] == 'e' ? JOPT_SELECT_ENERGY : JOPT_SELECT_TIME;
        out->param = 0;
        return 0;
    }
    if (!strcmp(name, "cost")) {
        double eta = isnan(param) ? 0.5 : param;
        if (!(eta >= 0.0 && eta <= 1.0))
            return joule_set_error(JOULE_ERANGE,
                "selector cost: eta %g is outside [0, 1] (0 = time only, 1 = energy only)",
                eta);
        out->kind = JOPT_SELECT_COST;
        out->param = eta;
        return 0;
    }
    if (!strcmp(name, "slowdown")) {
        double f = isnan(param) ? 1.1 : param;
        if (!(f >= 1.0) || isinf(f))
            return joule_set_error(JOULE_ERANGE,
                "selector slowdown: the maximum slowdown factor %g must be a finite number "
                ">= 1 (1.1 allows 10%% more time than at the highest setting)", f);
        out->kind = JOPT_SELECT_SLOWDOWN;
        out->param = f;
        return 0;
    }
    return joule_set_error(JOULE_EINVAL,
        "unknown selector '%s': use energy, time, cost[:ETA] or slowdown[:FACTOR]", name);
}

int jopt_selector_parse(const char *spec, struct jopt_selector *out)
{
    if (!spec)
        return joule_set_error(JOULE_EINVAL, "selector is NULL");
    char name[32];
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len == 0 || len >= sizeof name)
        return joule_set_error(JOULE_EINVAL,
            "unknown selector '%s': use energy, time, cost[:ETA] or slowdown[:FACTOR]", spec);
    memcpy(name, spec, len);
    name[len] = '\0';
    double param = NAN;
    if (colon) {
        char *end;
        errno = 0;
        param = strtod(colon + 1, &end);
        if (end == colon + 1 || *end || errno || isnan(param))
            return joule_set_error(JOULE_EINVAL, "selector '%s': '%s' is not a number", spec,
                                   colon + 1);
    }
    return jopt_selector_make(name, param, out);
}

void jopt_selector_format(const struct jopt_selector *s, char *buf, size_t len)
{
    switch (s->kind) {
    case JOPT_SELECT_ENERGY: snprintf(buf, len, "energy"); break;
    case JOPT_SELECT_TIME: snprintf(buf, len, "time"); break;
    case JOPT_SELECT_COST: snprintf(buf, len, "cost:%g", s->param); break;
    case JOPT_SELECT_SLOWDOWN: snprintf(buf, len, "slowdown:%g", s->param); break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int jopt_points_check(const struct jopt_point *p, int n, const char *what)
{
    if (n <= 0)
        return joule_set_error(JOULE_EINVAL, "%s: no measurements to choose from", what);
    if (n == 1)
        return joule_set_error(JOULE_EINVAL,
            "%s: only one measured setting (%g); a choice needs at least two", what,
            p[0].knob);
    for (int i = 0; i < n; i++) {
        if (!isfinite(p[i].knob) || p[i].knob <= 0)
            return joule_set_error(JOULE_EINVAL, "%s: setting %d has knob %g; need > 0", what,
                                   i + 1, p[i].knob);
        if (!isfinite(p[i].time_s) || p[i].time_s <= 0)
            return joule_set_error(JOULE_EINVAL,
                "%s: setting %g has time %g s; need a finite time > 0", what, p[i].knob,
                p[i].time_s);
        if (!isfinite(p[i].energy_j) || p[i].energy_j <= 0)
            return joule_set_error(JOULE_EINVAL,
                "%s: setting %g has energy %g J; need a finite energy > 0", what, p[i].knob,
                p[i].energy_j);
    }
    double *k = malloc(sizeof *k * (size_t)n);
    if (!k)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        k[i] = p[i].knob;
    qsort(k, (size_t)n, sizeof *k, cmp_double);
    int rc = 0;
    for (int i = 1; i < n && !rc; i++)
        if (k[i] == k[i - 1])
            rc = joule_set_error(JOULE_EINVAL, "%s: setting %g appears twice", what, k[i]);
    free(k);
    return rc;
}

/* Whether a is strictly better than b under the tie-break chain that
 * follows the objective: lower energy, lower time, higher knob. */
static int tie_better(const struct jopt_point *a, const struct jopt_point *b)
{
    if (a->energy_j != b->energy_j)
        return a->energy_j < b->energy_j;
    if (a->time_s != b->time_s)
        return a->time_s < b->time_s;
    return a->knob > b->knob;
}

/* Time ascending, then energy ascending, then the higher knob first. */
static int by_time_energy_knob(const void *a, const void *b, void *pts)
{
    const struct jopt_point *p = pts;
    const struct jopt_point *x = &p[*(const int *)a], *y = &p[*(const int *)b];
    if (x->time_s != y->time_s)
        return x->time_s < y->time_s ? -1 : 1;
    if (x->energy_j != y->energy_j)
        return x->energy_j < y->energy_j ? -1 : 1;
    return x->knob > y->knob ? -1 : x->knob < y->knob;
}

int jopt_frontier(const struct jopt_point *p, int n, int *idx)
{
    /* In that order a point is on the frontier exactly when its energy is
     * below that of every point before it: n log n, not n^2. */
    for (int i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, by_time_energy_knob, (void *)p);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || p[idx[i]].energy_j < p[idx[m - 1]].energy_j)
            idx[m++] = idx[i];
    return m;
}

double jopt_cost(double eta, double p_max_w, int n_gpus, double time_s, double energy_j)
{
    return eta * energy_j + (1.0 - eta) * p_max_w * (double)n_gpus * time_s;
}

int jopt_select(const struct jopt_selector *s, const struct jopt_point *p, int n,
                double p_max_w, int n_gpus)
{
    if (!s || !p)
        return joule_set_error(JOULE_EINVAL, "select: NULL argument");
    if (n <= 0)
        return joule_set_error(JOULE_EINVAL, "select: no measurements to choose from");
    int top = 0;
    for (int i = 1; i < n; i++)
        if (p[i].knob > p[top].knob)
            top = i;
    if (p_max_w <= 0)
        p_max_w = p[top].knob;
    if (n_gpus < 1)
        return joule_set_error(JOULE_EINVAL, "select: GPU count %d; need >= 1", n_gpus);
    double limit_t = s->kind == JOPT_SELECT_SLOWDOWN ? s->param * p[top].time_s : INFINITY;
    int best = -1;
    double best_obj = 0;
    for (int i = 0; i < n; i++) {
        double obj;
        switch (s->kind) {
        case JOPT_SELECT_ENERGY: obj = p[i].energy_j; break;
        case JOPT_SELECT_TIME: obj = p[i].time_s; break;
        case JOPT_SELECT_COST:
            obj = jopt_cost(s->param, p_max_w, n_gpus, p[i].time_s, p[i].energy_j);
            break;
        case JOPT_SELECT_SLOWDOWN:
            if (!(p[i].time_s <= limit_t))
                continue;
            obj = p[i].energy_j;
            break;
        default:
            return joule_set_error(JOULE_EINVAL, "select: unknown selector kind %d",
                                   (int)s->kind);
        }
        if (!isfinite(obj))
            return joule_set_error(JOULE_ERANGE,
                "select: the %s objective of setting %g (%g s, %g J) is not a finite number",
                s->kind == JOPT_SELECT_COST ? "cost" : "chosen", p[i].knob, p[i].time_s,
                p[i].energy_j);
        if (best < 0 || obj < best_obj || (obj == best_obj && tie_better(&p[i], &p[best]))) {
            best = i;
            best_obj = obj;
        }
    }
    /* The highest knob is always feasible for slowdown (F >= 1). */
    return best;
}

/* ---- public wrapper -------------------------------------------------------- */

JOULE_EXPORT int joule_select(const char *selector, const double *knob, const double *time_s,
                              const double *energy_j, int n, double p_max_w, int n_gpus)
{
    if (!knob || !time_s || !energy_j)
        return joule_set_error(JOULE_EINVAL, "joule_select: NULL array");
    struct jopt_selector s;
    int rc = jopt_selector_parse(selector, &s);
    if (rc)
        return rc;
    if (n < 0 || n > 1000000)
        return joule_set_error(JOULE_EINVAL, "joule_select: %d points", n);
    struct jopt_point *p = calloc(n ? (size_t)n : 1, sizeof *p);
    if (!p)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        p[i] = (struct jopt_point){knob[i], time_s[i], energy_j[i]};
    rc = jopt_points_check(p, n, "joule_select");
    if (!rc)
        rc = jopt_select(&s, p, n, p_max_w, n_gpus);
    free(p);
    return rc;
}

/* ---- the public face (include/joule/optimize.h) ------------------------ */

/* The public structs are the internal ones under their public names. */
_Static_assert(sizeof(joule_setting_point) == sizeof(struct jopt_point) &&
                   offsetof(joule_setting_point, time_s) == offsetof(struct jopt_point, time_s) &&
                   offsetof(joule_setting_point, energy_j) ==
                       offsetof(struct jopt_point, energy_j),
               "joule_setting_point is struct jopt_point");
_Static_assert(JOULE_SELECT_ENERGY == (int)JOPT_SELECT_ENERGY &&
                   JOULE_SELECT_TIME == (int)JOPT_SELECT_TIME &&
                   JOULE_SELECT_COST == (int)JOPT_SELECT_COST &&
                   JOULE_SELECT_SLOWDOWN == (int)JOPT_SELECT_SLOWDOWN,
               "one list of selectors");

static struct jopt_selector from_public(const joule_selector *s)
{
    return (struct jopt_selector){(enum jopt_selector_kind)s->kind, s->param};
}

static void to_public(const struct jopt_selector *s, joule_selector *out)
{
    out->kind = (int)s->kind;
    out->param = s->param;
}

JOULE_EXPORT int joule_selector_parse(const char *spec, joule_selector *out)
{
    struct jopt_selector s;
    int rc = jopt_selector_parse(spec, &s);
    if (!rc)
        to_public(&s, out);
    return rc;
}

JOULE_EXPORT int joule_selector_make(const char *name, double param, joule_selector *out)
{
    struct jopt_selector s;
    int rc = jopt_selector_make(name, param, &s);
    if (!rc)
        to_public(&s, out);
    return rc;
}

JOULE_EXPORT void joule_selector_format(const joule_selector *s, char *buf, size_t len)
{
    struct jopt_selector in = from_public(s);
    jopt_selector_format(&in, buf, len);
}

JOULE_EXPORT int joule_points_check(const joule_setting_point *p, int n, const char *what)
{
    return jopt_points_check((const struct jopt_point *)p, n, what);
}

JOULE_EXPORT int joule_frontier(const joule_setting_point *p, int n, int *idx)
{
    return jopt_frontier((const struct jopt_point *)p, n, idx);
}

JOULE_EXPORT int joule_select_point(const joule_selector *s, const joule_setting_point *p, int n,
                              double p_max_w, int n_gpus)
{
    struct jopt_selector in = from_public(s);
    return jopt_select(&in, (const struct jopt_point *)p, n, p_max_w, n_gpus);
}

struct joule_power_profile {
    struct jopt_profile p;
};

JOULE_EXPORT int joule_power_profile_read(const char *path, joule_power_profile **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_power_profile_read: NULL argument");
    *out = NULL;
    joule_power_profile *h = calloc(1, sizeof *h);
    if (!h)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading '%s'", path);
    int rc = jopt_profile_read(path, &h->p);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

JOULE_EXPORT void joule_power_profile_free(joule_power_profile *p)
{
    if (!p)
        return;
    jopt_profile_free(&p->p);
    free(p);
}

JOULE_EXPORT const joule_setting_point *joule_power_profile_points(const joule_power_profile *p,
                                                                   int *n)
{
    if (n)
        *n = p->p.n;
    return (const joule_setting_point *)p->p.points;
}

JOULE_EXPORT int joule_power_profile_line(const joule_power_profile *p, int i)
{
    return i >= 0 && i < p->p.n && p->p.lines ? p->p.lines[i] : 0;
}

JOULE_EXPORT int joule_power_profile_gpus(const joule_power_profile *p)
{
    return p->p.n_gpus;
}

JOULE_EXPORT int joule_power_profile_skipped_rows(const joule_power_profile *p)
{
    return p->p.skipped_rows;
}
