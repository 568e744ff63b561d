/* Writing a trace from a sampler's histories (format in trace.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <joule/joule.h>
#include <joule/trace.h>

#include "core/context.h"
#include "base/error.h"
#include "base/export.h"
#include "core/trace.h"
#include "core/trace_write.h"

struct row {
    double t, v;
    int dev, domain;
};

static int by_time(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->dev != y->dev)
        return x->dev - y->dev;
    return x->domain - y->domain;
}

/* The format's one writer of names: `name=` runs to the end of the line,
 * so line breaks are escaped (and the backslash that escapes them). */
static void write_name(FILE *f, const char *name)
{
    for (const char *c = name; *c; c++) {
        if (*c == '\\')
            fputs("\\\\", f);
        else if (*c == '\n')
            fputs("\\n", f);
        else if (*c == '\r')
            fputs("\\r", f);
        else
            fputc(*c, f);
    }
}

JOULE_EXPORT void joule_trace_format_window(FILE *f, double start_s, double end_s,
                                            const char *name)
{
    fprintf(f, "# window start_s=%.6f end_s=%.6f name=", start_s, end_s);
    write_name(f, name ? name : "");
    fputc('\n', f);
}

JOULE_EXPORT void joule_trace_format_row(FILE *f, double time_s, const char *device_label,
                                         int domain, double value)
{
    fprintf(f, "%.6f,%s,%s,%.6g\n", time_s, device_label, joule_domain_name(domain), value);
}

JOULE_EXPORT int joule_trace_format_header(FILE *f, joule_ctx *ctx, double start_unix_s,
                                           double duration_s, double interval_s)
{
    fprintf(f, "# joule-trace 1\n");
    if (duration_s >= 0)
        fprintf(f, "# start_unix_s=%.6f duration_s=%.6f interval_s=%.6f\n", start_unix_s,
                duration_s, interval_s);
    else
        fprintf(f, "# start_unix_s=%.6f interval_s=%.6f\n", start_unix_s, interval_s);
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        fprintf(f, "# device label=%s kind=%s", joule_device_label(d),
                joule_kind_name(joule_device_kind(d)));
        double cur, mn, mx, def, enf;
        if (joule_device_kind(d) == JOULE_KIND_GPU &&
            joule_gpu_get_power_limit_w(ctx, joule_device_index(d), &cur, &mn, &mx, &def,
                                        &enf) == 0)
            fprintf(f, " power_limit_w=%g max_power_limit_w=%g", cur, mx);
        fprintf(f, " name=");
        write_name(f, joule_device_name(d));
        fputc('\n', f);
    }
    return ferror(f) ? joule_set_error(JOULE_EIO, "cannot write the trace header") : 0;
}

JOULE_EXPORT void joule_trace_format_log_windows(FILE *f, const char *window_log, long *offset,
                                                 double start_unix_s)
{
    FILE *in = window_log ? fopen(window_log, "r") : NULL;
    if (!in)
        return;
    if (fseek(in, *offset, SEEK_SET) == 0) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) > 0 && line[n - 1] == '\n') {
            *offset += n;
            cJSON *o = cJSON_Parse(line);
            const cJSON *start = cJSON_GetObjectItemCaseSensitive(o, "start_time_unix_s");
            const cJSON *elapsed = cJSON_GetObjectItemCaseSensitive(o, "elapsed_time_s");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "window_name");
            if (cJSON_IsNumber(start) && cJSON_IsNumber(elapsed) && cJSON_IsString(name)) {
                double s = start->valuedouble - start_unix_s;
                joule_trace_format_window(f, s, s + elapsed->valuedouble, name->valuestring);
            }
            cJSON_Delete(o);
        }
        free(line);
    }
    fclose(in);
}

int trace_write(joule_ctx *ctx, joule_sampler *s, const char *path,
                const struct trace_write_args *a)
{
    int ndev = joule_device_count(ctx);
    struct row *rows = NULL;
    size_t nrows = 0, cap = 0;
    int rc = 0;
    for (int i = 0; i < ndev && !rc; i++)
        for (int d = 0; d < JOULE_DOMAIN_COUNT && !rc; d++) {
            if (!joule_sampler_has(s, i, d))
                continue;
            int n = joule_sampler_timeline(s, i, d, a->t0_s, a->t1_s, NULL, NULL, 0);
            if (n <= 0)
                continue;
            double *t = malloc(sizeof *t * (size_t)n), *v = malloc(sizeof *v * (size_t)n);
            if (!t || !v) {
                free(t);
                free(v);
                rc = joule_set_error(JOULE_ENOMEM, "out of memory writing the trace");
                break;
            }
            n = joule_sampler_timeline(s, i, d, a->t0_s, a->t1_s, t, v, n);
            if (nrows + (size_t)n > cap) {
                cap = (nrows + (size_t)n) * 2;
                struct row *nr = realloc(rows, sizeof *nr * cap);
                if (!nr) {
                    free(t);
                    free(v);
                    rc = joule_set_error(JOULE_ENOMEM, "out of memory writing the trace");
                    break;
                }
                rows = nr;
            }
            for (int k = 0; k < n; k++) {
                double rel = t[k] - a->t0_s;
                rows[nrows++] = (struct row){rel < 0 ? 0 : rel, v[k], i, d};
            }
            free(t);
            free(v);
        }
    if (rc) {
        free(rows);
        return rc;
    }
    if (nrows) /* qsort(NULL, 0, ...) is undefined */
        qsort(rows, nrows, sizeof *rows, by_time);

    FILE *f = fopen(path, "w");
    if (!f) {
        free(rows);
        return joule_set_error(JOULE_EIO, "cannot write trace '%s': %s",
                               a->name ? a->name : path, strerror(errno));
    }
    joule_trace_format_header(f, ctx, a->start_unix_s, a->t1_s - a->t0_s, a->interval_s);
    long from = 0;
    joule_trace_format_log_windows(f, a->window_log, &from, a->start_unix_s);
    fprintf(f, "time_s,device,domain,value\n");
    for (size_t k = 0; k < nrows; k++)
        joule_trace_format_row(f, rows[k].t, joule_device_label(joule_device_at(ctx, rows[k].dev)),
                               rows[k].domain, rows[k].v);
    free(rows);
    int err = fflush(f) ? errno : ferror(f) ? EIO : 0;
    if (fclose(f) && !err)
        err = errno;
    if (err) {
        trace_trim_torn(path);
        return joule_set_error(JOULE_EIO, "cannot write trace '%s': %s",
                               a->name ? a->name : path, strerror(err));
    }
    return 0;
}

int trace_trim_torn(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* The end of the last whole line: scan back a block at a time. */
    off_t keep = 0;
    char buf[4096];
    for (off_t end = st.st_size; end > 0 && !keep;) {
        off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - from), from);
        if (n <= 0)
            break;
        for (ssize_t i = n; i > 0 && !keep; i--)
            if (buf[i - 1] == '\n')
                keep = from + i;
        end = from;
    }
    int rc = keep < st.st_size ? ftruncate(fd, keep) : 0;
    close(fd);
    return rc;
}

JOULE_EXPORT int joule_trace_write(joule_ctx *ctx, joule_sampler *s, const char *path,
                                   const joule_trace_range *r)
{
    if (!ctx || !s || !path || !r)
        return joule_set_error(JOULE_EINVAL, "joule_trace_write: NULL argument");
    struct trace_write_args a = {r->t0_s, r->t1_s, r->start_unix_s, r->interval_s,
                                 r->window_log, r->name};
    return trace_write(ctx, s, path, &a);
}

JOULE_EXPORT int joule_trace_trim_torn(const char *path)
{
    if (trace_trim_torn(path))
        return joule_set_error(JOULE_EIO, "cannot trim '%s' to its last whole line", path);
    return 0;
}
