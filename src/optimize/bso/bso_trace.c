#include "optimize/bso/bso_trace.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "core/csv.h"

#define MAX_FIELDS 16

/* One CSV file read row by row (core/csv.h splits the lines); a row with
 * another number of fields than the header is malformed. */
struct csv_in {
    FILE *f;
    const char *path;
    char *line;
    size_t cap;
    long lineno;
    char *field[MAX_FIELDS];
    int nfields, ncols;
};

static int split(struct csv_in *c)
{
    size_t len = strlen(c->line);
    while (len && (c->line[len - 1] == '\n' || c->line[len - 1] == '\r'))
        c->line[--len] = 0;
    int n = csv_split_line(c->line, c->field, MAX_FIELDS);
    c->nfields = n > MAX_FIELDS ? MAX_FIELDS : n;
    return n < 0 ? -1 : n > MAX_FIELDS; /* 1: more fields than kept */
}

/* 1 with a row, 0 at the end, negative on error. Blank lines are skipped. */
static int csv_next(struct csv_in *c)
{
    for (;;) {
        errno = 0;
        if (getline(&c->line, &c->cap, c->f) < 0) {
            if (ferror(c->f))
                return joule_set_error(JOULE_EIO, "%s: read failed: %s", c->path, strerror(errno));
            return 0;
        }
        c->lineno++;
        if (strspn(c->line, " \t\r\n") == strlen(c->line))
            continue;
        int more = split(c);
        if (more < 0)
            return joule_set_error(JOULE_EINVAL, "%s:%ld: malformed row: unterminated quoted field",
                                   c->path, c->lineno);
        if (more || (c->ncols && c->nfields != c->ncols))
            return joule_set_error(
                JOULE_EINVAL, "%s:%ld: malformed row: expected %d fields, found %s%d", c->path,
                c->lineno, c->ncols, more ? "more than " : "", c->nfields);
        return 1;
    }
}

static int csv_open(struct csv_in *c, const char *path, const char *const *cols, int ncols,
                    int *idx)
{
    memset(c, 0, sizeof(*c));
    c->path = path;
    c->f = fopen(path, "r");
    if (!c->f)
        return joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
                               "cannot open trace file %s: %s", path, strerror(errno));
    int rc = csv_next(c);
    if (rc <= 0)
        return rc < 0 ? rc : joule_set_error(JOULE_EINVAL, "%s: empty file, no header", path);
    c->ncols = c->nfields;
    for (int k = 0; k < ncols; k++) {
        idx[k] = -1;
        for (int i = 0; i < c->nfields; i++)
            if (strcmp(c->field[i], cols[k]) == 0)
                idx[k] = i;
        if (idx[k] < 0)
            return joule_set_error(JOULE_EINVAL, "%s:1: header has no column '%s'", path, cols[k]);
    }
    return 0;
}

static void csv_close(struct csv_in *c)
{
    if (c->f)
        fclose(c->f);
    free(c->line);
}

static int field_double(struct csv_in *c, int i, const char *name, double *out)
{
    const char *s = c->field[i];
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return joule_set_error(JOULE_EINVAL, "%s:%ld: column '%s': '%s' is not a number", c->path,
                               c->lineno, name, s);
    *out = v;
    return 0;
}

static int field_int(struct csv_in *c, int i, const char *name, int *out)
{
    double v;
    int rc = field_double(c, i, name, &v);
    if (rc < 0)
        return rc;
    if (v != floor(v) || v < 0 || v > INT_MAX)
        return joule_set_error(JOULE_EINVAL, "%s:%ld: column '%s': '%s' is not a whole number >= 0",
                               c->path, c->lineno, name, c->field[i]);
    *out = (int)v;
    return 0;
}

static bool same_metric(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b));
}

static struct bso_batch *batch_get(struct bso_trace *t, int bs, bool create)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->b[i].bs == bs)
            return &t->b[i];
    if (!create)
        return NULL;
    struct bso_batch *b = realloc(t->b, (t->n + 1) * sizeof(*b));
    if (!b)
        return NULL;
    t->b = b;
    memset(&b[t->n], 0, sizeof(*b));
    b[t->n].bs = bs;
    return &b[t->n++];
}

static bool matches(struct csv_in *c, const int *idx, const struct bso_workload *w)
{
    return strcmp(c->field[idx[0]], w->dataset) == 0 && strcmp(c->field[idx[1]], w->network) == 0 &&
           strcmp(c->field[idx[2]], w->optimizer) == 0;
}

static int load_power(const char *path, const struct bso_workload *w, struct bso_trace *t)
{
    static const char *const cols[] = {"dataset",      "network",     "optimizer",
                                       "batch_size",   "power_limit", "time_per_epoch",
                                       "average_power"};
    int idx[7];
    struct csv_in c;
    int rc = csv_open(&c, path, cols, 7, idx);
    while (rc == 0 && (rc = csv_next(&c)) == 1) {
        int bs;
        struct bso_limit l;
        if ((rc = field_int(&c, idx[3], cols[3], &bs)) < 0 ||
            (rc = field_double(&c, idx[4], cols[4], &l.pl_w)) < 0 ||
            (rc = field_double(&c, idx[5], cols[5], &l.epoch_s)) < 0 ||
            (rc = field_double(&c, idx[6], cols[6], &l.power_w)) < 0)
            break;
        if (l.pl_w <= 0 || l.epoch_s <= 0 || l.power_w <= 0 || bs <= 0) {
            rc = joule_set_error(
                JOULE_EINVAL, "%s:%ld: batch size, power limit, epoch time and power must be > 0",
                path, c.lineno);
            break;
        }
        if (l.pl_w > t->max_power_w)
            t->max_power_w = l.pl_w;
        rc = 0;
        if (!matches(&c, idx, w))
            continue;
        struct bso_batch *b = batch_get(t, bs, true);
        struct bso_limit *pl = b ? realloc(b->pl, (b->npl + 1) * sizeof(*pl)) : NULL;
        if (!pl) {
            rc = joule_set_error(JOULE_ENOMEM, "out of memory reading %s", path);
            break;
        }
        b->pl = pl;
        for (size_t i = 0; i < b->npl; i++)
            if (pl[i].pl_w == l.pl_w) {
                rc = joule_set_error(JOULE_EINVAL, "%s:%ld: batch size %d at %g W appears twice",
                                     path, c.lineno, bs, l.pl_w);
                break;
            }
        if (rc < 0)
            break;
        pl[b->npl++] = l;
    }
    csv_close(&c);
    return rc < 0 ? rc : 0;
}

static int load_train(const char *path, const struct bso_workload *w, struct bso_trace *t)
{
    static const char *const cols[] = {"dataset",    "network",       "optimizer",
                                       "batch_size", "target_metric", "target_epoch"};
    int idx[6];
    struct csv_in c;
    int rc = csv_open(&c, path, cols, 6, idx);
    while (rc == 0 && (rc = csv_next(&c)) == 1) {
        rc = 0;
        if (!matches(&c, idx, w))
            continue;
        int bs, epoch = INT_MAX; /* an empty or nan target epoch: never reached */
        double metric;
        if ((rc = field_int(&c, idx[3], cols[3], &bs)) < 0 ||
            (rc = field_double(&c, idx[4], cols[4], &metric)) < 0)
            break;
        const char *te = c.field[idx[5]];
        if (*te && strcmp(te, "nan") != 0 && strcmp(te, "NaN") != 0 &&
            (rc = field_int(&c, idx[5], cols[5], &epoch)) < 0)
            break;
        if (!same_metric(metric, w->target_metric))
            continue;
        struct bso_batch *b = batch_get(t, bs, false);
        if (!b)
            continue; /* not measured on this GPU */
        int *runs = realloc(b->target_epoch, (b->nruns + 1) * sizeof(int));
        if (!runs) {
            rc = joule_set_error(JOULE_ENOMEM, "out of memory reading %s", path);
            break;
        }
        b->target_epoch = runs;
        runs[b->nruns++] = epoch;
    }
    csv_close(&c);
    return rc < 0 ? rc : 0;
}

static int cmp_batch(const void *a, const void *b)
{
    int x = ((const struct bso_batch *)a)->bs, y = ((const struct bso_batch *)b)->bs;
    return (x > y) - (x < y);
}

static int cmp_limit_desc(const void *a, const void *b)
{
    double x = ((const struct bso_limit *)a)->pl_w, y = ((const struct bso_limit *)b)->pl_w;
    return (x < y) - (x > y);
}

/* Batch sizes with no recorded run at the target cannot be replayed. */
static void drop_unrunnable(struct bso_trace *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->b[i].nruns == 0) {
            free(t->b[i].pl);
            free(t->b[i].target_epoch);
            continue;
        }
        t->b[k++] = t->b[i];
    }
    t->n = k;
}

static size_t count_limits(const struct bso_trace *t)
{
    size_t n = 0;
    double seen[64];
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->b[i].npl; j++) {
            size_t k = 0;
            while (k < n && seen[k] != t->b[i].pl[j].pl_w)
                k++;
            if (k == n && n < 64)
                seen[n++] = t->b[i].pl[j].pl_w;
        }
    return n;
}

int bso_trace_load(const char *dir, const struct bso_workload *w, const char *gpu,
                   struct bso_trace *out)
{
    memset(out, 0, sizeof(*out));
    if (!dir || !w || !gpu || !*gpu || strchr(gpu, '/'))
        return joule_set_error(JOULE_EINVAL,
                               "bso trace: a trace folder, a workload and a GPU name are needed");
    char path[4096];
    snprintf(path, sizeof(path), "%s/summary_power_%s.csv", dir, gpu);
    int rc = load_power(path, w, out);
    if (rc == JOULE_ENOENT)
        joule_wrap_error(
            rc, "no power trace for GPU '%s' (v100, a40, p100 and rtx6000 were published)", gpu);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/summary_train.csv", dir);
        rc = load_train(path, w, out);
    }
    if (rc == 0) {
        drop_unrunnable(out);
        if (out->n == 0)
            rc = joule_set_error(JOULE_EINVAL,
                                 "the traces in %s hold no run of %s (%s, %s) at target %g on %s",
                                 dir, w->name, w->network, w->optimizer, w->target_metric, gpu);
        else if (!bso_trace_batch(out, w->default_bs))
            rc = joule_set_error(JOULE_EINVAL,
                                 "the traces in %s hold no run of %s's default batch size %d on %s",
                                 dir, w->name, w->default_bs, gpu);
    }
    if (rc < 0) {
        bso_trace_free(out);
        return rc;
    }
    qsort(out->b, out->n, sizeof(*out->b), cmp_batch);
    for (size_t i = 0; i < out->n; i++)
        qsort(out->b[i].pl, out->b[i].npl, sizeof(struct bso_limit), cmp_limit_desc);
    out->n_power_limits = count_limits(out);
    return 0;
}

void bso_trace_free(struct bso_trace *t)
{
    for (size_t i = 0; t && i < t->n; i++) {
        free(t->b[i].pl);
        free(t->b[i].target_epoch);
    }
    if (t) {
        free(t->b);
        memset(t, 0, sizeof(*t));
    }
}

const struct bso_batch *bso_trace_batch(const struct bso_trace *t, int bs)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->b[i].bs == bs)
            return &t->b[i];
    return NULL;
}
