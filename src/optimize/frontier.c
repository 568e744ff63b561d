/* Time–energy frontier, selectors and the profiling-log reader. */
#include "optimize/frontier.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/export.h"

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
        for (int j = 0; j < i; j++)
            if (p[j].knob == p[i].knob)
                return joule_set_error(JOULE_EINVAL, "%s: setting %g appears twice", what,
                                       p[i].knob);
    }
    return 0;
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

int jopt_frontier(const struct jopt_point *p, int n, int *idx)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        int dominated = 0;
        for (int j = 0; j < n && !dominated; j++) {
            if (j == i)
                continue;
            if (p[j].time_s <= p[i].time_s && p[j].energy_j <= p[i].energy_j) {
                if (p[j].time_s < p[i].time_s || p[j].energy_j < p[i].energy_j)
                    dominated = 1;
                else if (p[j].knob > p[i].knob) /* equal point: keep the higher knob */
                    dominated = 1;
            }
        }
        if (!dominated)
            idx[m++] = i;
    }
    /* insertion sort by time (energy descending follows) */
    for (int a = 1; a < m; a++) {
        int v = idx[a], b = a;
        while (b > 0 && (p[idx[b - 1]].time_s > p[v].time_s ||
                         (p[idx[b - 1]].time_s == p[v].time_s &&
                          p[idx[b - 1]].knob < p[v].knob))) {
            idx[b] = idx[b - 1];
            b--;
        }
        idx[b] = v;
    }
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

/* ---- the profiling log ------------------------------------------------------ */

/* Splits one CSV line (RFC 4180 quotes) in place; returns the field count
 * or -1 on an unterminated quote. */
static int split_csv(char *line, char **fields, int cap)
{
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        if (n == cap)
            return n + 1; /* too many: caller reports */
        fields[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r)
                    return -1;
                if (*r == '"') {
                    if (r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
            while (*r && *r != ',')
                *w++ = *r++;
        } else {
            while (*r && *r != ',')
                *w++ = *r++;
        }
        if (*r == ',') {
            r++;
            *w++ = '\0';
            continue;
        }
        *w = '\0';
        return n;
    }
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* "__GlobalPowerLimitOptimizer_250" -> 250. */
static int window_power_limit(const char *name, double *w)
{
    static const char *const prefixes[] = {"__GlobalPowerLimitOptimizer_",
                                           "__PowerLimitOptimizer_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t len = strlen(prefixes[i]);
        if (!strncmp(name, prefixes[i], len))
            return parse_double(name + len, w) == 0 ? 1 : -1;
    }
    return 0;
}

#define MAX_COLS 1024

int jopt_profile_read(const char *path, struct jopt_profile *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return joule_set_error(JOULE_EIO, "cannot open profile '%s': %s", path,
                               strerror(errno));
    char *line = NULL, **fields = calloc(MAX_COLS, sizeof *fields);
    int *gpu_cols = calloc(MAX_COLS, sizeof *gpu_cols);
    size_t cap = 0;
    int rc = 0, lineno = 0, ncols = 0, ngpu = 0, col_name = -1, col_time = -1, alloc = 0;
    if (!fields || !gpu_cols) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
        goto done;
    }
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        int nf = split_csv(line, fields, MAX_COLS);
        if (nf < 0) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: unterminated quoted field", path,
                                 lineno);
            goto done;
        }
        if (nf > MAX_COLS) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: more than %d columns", path,
                                 lineno, MAX_COLS);
            goto done;
        }
        if (ncols == 0) { /* header */
            ncols = nf;
            for (int c = 0; c < nf; c++) {
                int idx, pos = -1;
                if (!strcmp(fields[c], "window_name"))
                    col_name = c;
                else if (!strcmp(fields[c], "elapsed_time"))
                    col_time = c;
                else if (sscanf(fields[c], "gpu%d_energy%n", &idx, &pos) == 1 && pos > 0 &&
                         fields[c][pos] == '\0')
                    gpu_cols[ngpu++] = c;
            }
            if (col_name < 0 || col_time < 0 || ngpu == 0) {
                rc = joule_set_error(JOULE_EINVAL,
                    "%s line 1: not a window log: need the columns window_name, elapsed_time "
                    "and gpu{i}_energy (Zeus's format, as joule_options_set_log writes)",
                    path);
                goto done;
            }
            continue;
        }
        if (nf != ncols) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: %d fields, the header has %d",
                                 path, lineno, nf, ncols);
            goto done;
        }
        double pl;
        int m = window_power_limit(fields[col_name], &pl);
        if (m == 0) {
            out->skipped_rows++;
            continue;
        }
        if (m < 0 || !isfinite(pl) || pl <= 0) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d: window '%s' does not end in a power limit in W", path, lineno,
                fields[col_name]);
            goto done;
        }
        double t, e = 0;
        if (parse_double(fields[col_time], &t) || !isfinite(t)) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: elapsed_time '%s' is not a number",
                                 path, lineno, fields[col_time]);
            goto done;
        }
        if (t <= 0) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d (%g W): elapsed_time is %g s; a profile row needs a time > 0",
                path, lineno, pl, t);
            goto done;
        }
        for (int g = 0; g < ngpu; g++) {
            double v;
            const char *s = fields[gpu_cols[g]];
            if (parse_double(s, &v) || !isfinite(v)) {
                rc = joule_set_error(JOULE_EINVAL,
                    "%s line %d (%g W): energy '%s' in column %d is not a number (a GPU "
                    "in error writes nan)", path, lineno, pl, s, gpu_cols[g] + 1);
                goto done;
            }
            if (v < 0) {
                rc = joule_set_error(JOULE_EINVAL, "%s line %d (%g W): negative energy %g J",
                                     path, lineno, pl, v);
                goto done;
            }
            e += v;
        }
        if (e <= 0) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d (%g W): GPU energy is 0 J; a profile row needs energy > 0",
                path, lineno, pl);
            goto done;
        }
        int k;
        for (k = 0; k < out->n; k++)
            if (out->points[k].knob == pl)
                break;
        if (k == out->n) {
            if (out->n == alloc) {
                int na = alloc ? alloc * 2 : 16;
                struct jopt_point *np = realloc(out->points, (size_t)na * sizeof *np);
                if (!np) {
                    rc = joule_set_error(JOULE_ENOMEM, "out of memory");
                    goto done;
                }
                out->points = np;
                alloc = na;
            }
            out->n++;
        }
        out->points[k] = (struct jopt_point){pl, t, e};
    }
    if (ncols == 0) {
        rc = joule_set_error(JOULE_EINVAL, "profile '%s' is empty (no header, no rows)", path);
        goto done;
    }
    if (out->n == 0) {
        rc = joule_set_error(JOULE_EINVAL,
            "profile '%s' has no __GlobalPowerLimitOptimizer_{W} rows%s", path,
            out->skipped_rows ? " (only other windows)" : "");
        goto done;
    }
    if (out->n == 1) {
        rc = joule_set_error(JOULE_EINVAL,
            "profile '%s' holds one power limit (%g W); a choice needs at least two", path,
            out->points[0].knob);
        goto done;
    }
    out->n_gpus = ngpu;
    /* highest power limit first */
    for (int a = 1; a < out->n; a++) {
        struct jopt_point v = out->points[a];
        int b = a;
        while (b > 0 && out->points[b - 1].knob < v.knob) {
            out->points[b] = out->points[b - 1];
            b--;
        }
        out->points[b] = v;
    }
done:
    if (ferror(f) && !rc)
        rc = joule_set_error(JOULE_EIO, "reading '%s' failed", path);
    fclose(f);
    free(line);
    free(fields);
    free(gpu_cols);
    if (rc)
        jopt_profile_free(out);
    return rc;
}

void jopt_profile_free(struct jopt_profile *p)
{
    free(p->points);
    p->points = NULL;
    p->n = 0;
}
