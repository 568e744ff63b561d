/* Node traces merged into one job-level trace (joule_trace_merge,
 * include/joule/trace.h): one time axis from the earliest wall-clock
 * start, every node's devices under a node prefix, and the job's summed
 * GPU power as device "job". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>
#include <joule/trace.h>

#include "base/error.h"
#include "base/export.h"
#include "core/trace.h"

struct row {
    double t;
    int node, dev, domain; /* dev -1: the job's sum */
    double v;
};

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->node != y->node)
        return x->node - y->node;
    if (x->dev != y->dev)
        return x->dev - y->dev;
    return x->domain - y->domain;
}

/* Names go to the end of their line: no line breaks. */
static void put_name(FILE *f, const char *node, const char *name)
{
    fprintf(f, "%s: ", node);
    for (const char *c = name; *c; c++)
        fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
    fputc('\n', f);
}

static int push(struct row **rows, size_t *n, size_t *cap, struct row r)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 1024;
        struct row *p = realloc(*rows, nc * sizeof *p);
        if (!p)
            return -1;
        *rows = p;
        *cap = nc;
    }
    (*rows)[(*n)++] = r;
    return 0;
}

/* Where node k's part of the job ends before the job does: the instant
 * its power series drop to 0 W (else NAN). A node's devices draw nothing
 * for the job before its first sample and after its end, so per-node
 * energies and the job's sum add up when nodes start and stop apart. */
static double node_stop(const struct trace *tr, const double *offset, int k, double end,
                        const struct trace_series *s)
{
    double stop = offset[k] + tr[k].duration_s;
    if (!s->n || s->domain > JOULE_DOMAIN_POWER_COUNTER || stop >= end - 1e-9 ||
        stop <= s->t[s->n - 1] + offset[k])
        return NAN;
    return stop;
}

/* Rows of the job's GPU power: the sum of every GPU's step function at
 * each instant one of them changes, each GPU counted from its node's first
 * sample to its node's end. */
static int sum_rows(struct trace *tr, const double *offset, int n, double end, struct row **rows,
                    size_t *nrows, size_t *cap)
{
    size_t first = *nrows;
    double from = INFINITY;
    int ngpu = 0;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < tr[k].ndevices; i++) {
            const struct trace_series *s = trace_power(&tr[k].devices[i]);
            if (!trace_device_is_gpu(&tr[k].devices[i]) || !s)
                continue;
            ngpu++;
            from = fmin(from, s->t[0] + offset[k]);
            for (int j = 0; j < s->n; j++)
                if (push(rows, nrows, cap, (struct row){s->t[j] + offset[k], k, i, -2, s->v[j]}))
                    return -1;
            double stop = node_stop(tr, offset, k, end, s);
            if (!isnan(stop) && push(rows, nrows, cap, (struct row){stop, k, i, -2, 0}))
                return -1;
        }
    if (!ngpu)
        return 0;
    /* Walk the GPU samples in time order, keeping each GPU's value. */
    size_t m = *nrows - first;
    qsort(*rows + first, m, sizeof **rows, row_cmp);
    double *cur = calloc((size_t)n * TRACE_MAX_DEVICES, sizeof *cur);
    if (!cur)
        return -1;
    double sum = 0;
    size_t out = first;
    for (size_t j = first; j < first + m; j++) {
        struct row r = (*rows)[j];
        double *slot = &cur[(size_t)r.node * TRACE_MAX_DEVICES + (size_t)r.dev];
        sum += r.v - *slot;
        *slot = r.v;
        int last_at_t = j + 1 == first + m || (*rows)[j + 1].t != r.t;
        /* A running sum back at 0 W can be -1e-14 off: never below 0. */
        if (last_at_t && r.t >= from)
            (*rows)[out++] = (struct row){r.t, -1, -1, JOULE_DOMAIN_POWER, sum > 1e-9 ? sum : 0};
    }
    free(cur);
    *nrows = out;
    return 0;
}

JOULE_EXPORT int joule_trace_merge(const char *const *paths, const char *const *prefixes,
                                   const char *const *nodes, int n, const char *out_path)
{
    if (!paths || !prefixes || !nodes || n < 1 || !out_path)
        return joule_set_error(JOULE_EINVAL, "joule_trace_merge: no traces to merge");
    struct trace *tr = calloc((size_t)n, sizeof *tr);
    double *offset = calloc((size_t)n, sizeof *offset);
    struct row *rows = NULL;
    size_t nrows = 0, cap = 0;
    int rc = 0, nread = 0;
    if (!tr || !offset) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory merging traces");
        goto done;
    }
    double start = INFINITY, end = -INFINITY, interval = 0;
    for (; nread < n; nread++) {
        if (strlen(prefixes[nread]) > 15) {
            rc = joule_set_error(JOULE_EINVAL, "node prefix '%s' is longer than 15 characters",
                                 prefixes[nread]);
            goto done;
        }
        if ((rc = trace_read(paths[nread], &tr[nread])))
            goto done;
        start = fmin(start, tr[nread].start_unix_s);
        interval = fmax(interval, tr[nread].interval_s);
    }
    for (int k = 0; k < n; k++) {
        offset[k] = tr[k].start_unix_s - start;
        end = fmax(end, offset[k] + tr[k].duration_s);
    }
    /* Sum rows first (they sort the GPU samples in place), then every
     * node's own rows. */
    if (sum_rows(tr, offset, n, end, &rows, &nrows, &cap))
        goto oom;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < tr[k].ndevices; i++)
            for (int s = 0; s < tr[k].devices[i].nseries; s++) {
                const struct trace_series *se = &tr[k].devices[i].series[s];
                for (int j = 0; j < se->n; j++)
                    if (push(&rows, &nrows, &cap,
                             (struct row){se->t[j] + offset[k], k, i, se->domain, se->v[j]}))
                        goto oom;
                double stop = node_stop(tr, offset, k, end, se);
                if (!isnan(stop) &&
                    push(&rows, &nrows, &cap, (struct row){stop, k, i, se->domain, 0}))
                    goto oom;
            }
    qsort(rows, nrows, sizeof *rows, row_cmp);

    FILE *f = fopen(out_path, "w");
    if (!f) {
        rc = joule_set_error(JOULE_EIO, "cannot write '%s'", out_path);
        goto done;
    }
    fprintf(f, "# joule-trace 1\n# start_unix_s=%.6f duration_s=%.6f interval_s=%.6f\n", start,
            end, interval);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < tr[k].ndevices; i++) {
            const struct trace_device *d = &tr[k].devices[i];
            fprintf(f, "# device label=%s.%s", prefixes[k], d->label);
            if (d->kind[0])
                fprintf(f, " kind=%s", d->kind);
            if (d->power_limit_w > 0)
                fprintf(f, " power_limit_w=%g", d->power_limit_w);
            fprintf(f, " name=");
            put_name(f, nodes[k], d->name);
        }
    fprintf(f, "# device label=job kind=job name=the job's GPUs, summed over %d nodes\n", n);
    for (int k = 0; k < n; k++)
        for (int w = 0; w < tr[k].nwindows; w++) {
            char name[TRACE_NAME_MAX + 64];
            snprintf(name, sizeof name, "%s: %s", nodes[k], tr[k].windows[w].name);
            joule_trace_format_window(f, tr[k].windows[w].start_s + offset[k],
                                      tr[k].windows[w].end_s + offset[k], name);
        }
    fprintf(f, "time_s,device,domain,value\n");
    for (size_t j = 0; j < nrows; j++) {
        char label[48];
        if (rows[j].node < 0)
            snprintf(label, sizeof label, "job");
        else
            snprintf(label, sizeof label, "%s.%s", prefixes[rows[j].node],
                     tr[rows[j].node].devices[rows[j].dev].label);
        joule_trace_format_row(f, rows[j].t, label, rows[j].domain, rows[j].v);
    }
    if (ferror(f) | fclose(f))
        rc = joule_set_error(JOULE_EIO, "cannot write '%s'", out_path);
    goto done;
oom:
    rc = joule_set_error(JOULE_ENOMEM, "out of memory merging traces");
done:
    for (int k = 0; k < nread && tr; k++)
        trace_free(&tr[k]);
    free(rows);
    free(offset);
    free(tr);
    return rc;
}
