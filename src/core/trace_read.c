/* Parsing saved traces; every error names the line and what was wrong. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "base/error.h"
#include "core/trace.h"

static int series_push(struct trace_series *s, double t, double v)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        double *nt = realloc(s->t, sizeof *nt * (size_t)cap);
        if (!nt)
            return -1;
        s->t = nt;
        double *nv = realloc(s->v, sizeof *nv * (size_t)cap);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->t[s->n] = t;
    s->v[s->n++] = v;
    return 0;
}

void trace_free(struct trace *t)
{
    for (int i = 0; i < t->ndevices; i++)
        for (int k = 0; k < t->devices[i].nseries; k++) {
            free(t->devices[i].series[k].t);
            free(t->devices[i].series[k].v);
        }
    free(t->devices);
    free(t->windows);
    memset(t, 0, sizeof *t);
}

const struct trace_series *trace_series_of(const struct trace_device *d, int domain)
{
    for (int k = 0; k < d->nseries; k++)
        if (d->series[k].domain == domain)
            return &d->series[k];
    return NULL;
}

const struct trace_series *trace_power(const struct trace_device *d)
{
    const struct trace_series *s = trace_series_of(d, JOULE_DOMAIN_POWER);
    if (!s || s->n == 0)
        s = trace_series_of(d, JOULE_DOMAIN_POWER_COUNTER);
    if (!s || s->n == 0)
        s = trace_series_of(d, JOULE_DOMAIN_POWER_AVERAGE);
    return s && s->n ? s : NULL;
}

int trace_device_is_gpu(const struct trace_device *d)
{
    return strcmp(d->kind, "gpu") == 0 || (!d->kind[0] && strncmp(d->label, "gpu", 3) == 0);
}

int trace_gpu_power(const struct trace *t, const struct trace_series **series, int *index)
{
    int n = 0;
    for (int i = 0; i < t->ndevices; i++) {
        const struct trace_series *s = trace_power(&t->devices[i]);
        if (s && trace_device_is_gpu(&t->devices[i])) {
            if (index)
                index[n] = i;
            series[n++] = s;
        }
    }
    return n;
}

/* Undoes the writer's escapes in a name (\\, \n, \r, trace_write.c); any
 * other backslash is kept as it is, so older traces read as before. */
static void unescape_name(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && (r[1] == '\\' || r[1] == 'n' || r[1] == 'r')) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 'r' ? '\r' : '\\';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Value of key=... in a metadata line; "name" runs to the end. */
static int meta_value(const char *line, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    for (const char *p = line; (p = strstr(p, key)); p++) {
        if ((p != line && p[-1] != ' ') || p[klen] != '=')
            continue;
        const char *v = p + klen + 1;
        int is_name = strcmp(key, "name") == 0;
        size_t n = is_name ? strcspn(v, "\r\n") : strcspn(v, " \r\n");
        if (n >= len)
            n = len - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        if (is_name)
            unescape_name(out);
        return 0;
    }
    return -1;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && !errno && isfinite(*v) ? 0 : -1;
}

/* A number within [lo, hi]. Bounded times and powers keep every sum,
 * integral and moving average of a trace finite. */
static int parse_in(const char *s, double lo, double hi, double *v)
{
    return parse_double(s, v) || !(*v >= lo && *v <= hi) ? -1 : 0;
}

static int find_device(struct trace *t, const char *label)
{
    for (int i = 0; i < t->ndevices; i++)
        if (strcmp(t->devices[i].label, label) == 0)
            return i;
    return -1;
}

/* Devices and windows are kept in arrays of 16, 32, 64, ... elements, so
 * reading n of them reallocates log n times. Whether n elements fill one: */
static int full(int n)
{
    return n == 0 || (n >= 16 && (n & (n - 1)) == 0);
}

/* Room for n * 2 elements (16 at first). */
static void *grown(void *p, int n, size_t size)
{
    return realloc(p, size * (size_t)(n ? n * 2 : 16));
}

static int add_device(struct trace *t, const char *label)
{
    if (full(t->ndevices)) {
        struct trace_device *nd = grown(t->devices, t->ndevices, sizeof *nd);
        if (!nd)
            return -1;
        t->devices = nd;
    }
    struct trace_device *d = &t->devices[t->ndevices];
    memset(d, 0, sizeof *d);
    snprintf(d->label, sizeof d->label, "%s", label);
    return t->ndevices++;
}

static int domain_of(const char *name)
{
    for (int d = 0; d < JOULE_DOMAIN_COUNT; d++)
        if (strcmp(joule_domain_name(d), name) == 0)
            return d;
    return -1;
}

static int parse_meta(struct trace *t, const char *path, int lineno, const char *line)
{
    char buf[TRACE_NAME_MAX];
    if (strncmp(line, "# device ", 9) == 0) {
        char label[32];
        if (meta_value(line, "label", label, sizeof label))
            return joule_set_error(JOULE_EINVAL, "%s line %d: device line without label=", path,
                                   lineno);
        int i = find_device(t, label);
        if (i < 0 && t->ndevices == TRACE_MAX_DEVICES)
            return joule_set_error(JOULE_EINVAL, "%s line %d: more than %d devices", path,
                                   lineno, TRACE_MAX_DEVICES);
        if (i < 0 && (i = add_device(t, label)) < 0)
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        struct trace_device *d = &t->devices[i];
        if (meta_value(line, "kind", buf, sizeof buf) == 0)
            snprintf(d->kind, sizeof d->kind, "%s", buf);
        if (meta_value(line, "name", buf, sizeof buf) == 0)
            snprintf(d->name, sizeof d->name, "%s", buf);
        if (meta_value(line, "power_limit_w", buf, sizeof buf) == 0 &&
            parse_in(buf, 0, TRACE_MAX_POWER_W, &d->power_limit_w))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d: power_limit_w '%s' is not a number from 0 to %g W", path, lineno,
                buf, TRACE_MAX_POWER_W);
        if (meta_value(line, "max_power_limit_w", buf, sizeof buf) == 0 &&
            parse_in(buf, 0, TRACE_MAX_POWER_W, &d->max_power_limit_w))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d: max_power_limit_w '%s' is not a number from 0 to %g W", path,
                lineno, buf, TRACE_MAX_POWER_W);
    } else if (strncmp(line, "# window ", 9) == 0) {
        struct trace_window w = {0};
        char a[64], b[64];
        if (meta_value(line, "start_s", a, sizeof a) || meta_value(line, "end_s", b, sizeof b) ||
            parse_in(a, -TRACE_MAX_TIME_S, TRACE_MAX_TIME_S, &w.start_s) ||
            parse_in(b, -TRACE_MAX_TIME_S, TRACE_MAX_TIME_S, &w.end_s) || w.end_s < w.start_s)
            return joule_set_error(JOULE_EINVAL,
                "%s line %d: window line needs numeric start_s <= end_s (within %g s)", path,
                lineno, TRACE_MAX_TIME_S);
        if (meta_value(line, "name", w.name, sizeof w.name))
            w.name[0] = '\0';
        if (full(t->nwindows)) {
            struct trace_window *nw = grown(t->windows, t->nwindows, sizeof *nw);
            if (!nw)
                return joule_set_error(JOULE_ENOMEM, "out of memory");
            t->windows = nw;
        }
        t->windows[t->nwindows++] = w;
    } else if (meta_value(line, "start_unix_s", buf, sizeof buf) == 0) {
        if (parse_double(buf, &t->start_unix_s))
            return joule_set_error(JOULE_EINVAL, "%s line %d: start_unix_s '%s' is not a number",
                                   path, lineno, buf);
        if (meta_value(line, "duration_s", buf, sizeof buf) == 0 &&
            parse_in(buf, 0, TRACE_MAX_TIME_S, &t->duration_s))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d: duration_s '%s' is not a number from 0 to %g s", path, lineno, buf,
                TRACE_MAX_TIME_S);
        if (meta_value(line, "interval_s", buf, sizeof buf) == 0 &&
            parse_in(buf, 0, TRACE_MAX_TIME_S, &t->interval_s))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d: interval_s '%s' is not a number from 0 to %g s", path, lineno, buf,
                TRACE_MAX_TIME_S);
    }
    return 0;
}

static int is_power(int domain)
{
    return domain == JOULE_DOMAIN_POWER || domain == JOULE_DOMAIN_POWER_AVERAGE ||
           domain == JOULE_DOMAIN_POWER_MEMORY || domain == JOULE_DOMAIN_POWER_COUNTER;
}

enum { COL_TIME, COL_DEVICE, COL_DOMAIN, COL_VALUE, NCOLS };
static const char *const col_names[NCOLS] = {"time_s", "device", "domain", "value"};

/* The 1-based position of a column in the file. */
static int col_of(const int order[NCOLS], int c)
{
    for (int k = 0; k < NCOLS; k++)
        if (order[k] == c)
            return k + 1;
    return 0;
}

static int parse_header(const char *path, int lineno, char *line, int order[NCOLS])
{
    int seen = 0, k = 0;
    for (char *save = NULL, *tok = strtok_r(line, ",\r\n", &save); tok;
         tok = strtok_r(NULL, ",\r\n", &save), k++) {
        int c;
        for (c = 0; c < NCOLS && strcmp(tok, col_names[c]); c++)
            ;
        if (c == NCOLS)
            return joule_set_error(JOULE_EINVAL,
                "%s line %d: unknown column '%s' (a trace has time_s,device,domain,value)",
                path, lineno, tok);
        if (k >= NCOLS || (seen & (1 << c)))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d: column '%s' repeated; the header is ambiguous", path,
                lineno, k + 1, tok);
        seen |= 1 << c;
        order[k] = c;
    }
    if (seen != (1 << NCOLS) - 1)
        return joule_set_error(JOULE_EINVAL,
            "%s line %d: header lacks a column (needs time_s,device,domain,value)", path, lineno);
    return 0;
}

/* The file's name without its directory and a .csv ending. */
static void title_of(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    snprintf(out, size, "%s", base ? base + 1 : path);
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".csv") == 0)
        out[n - 4] = '\0';
}

int trace_read(const char *path, struct trace *out)
{
    memset(out, 0, sizeof *out);
    title_of(path, out->title, sizeof out->title);
    FILE *f = fopen(path, "r");
    if (!f)
        return joule_set_error(JOULE_EIO, "cannot open trace '%s': %s", path, strerror(errno));
    char line[1024];
    int lineno = 0, rc = 0, have_header = 0, magic = 0;
    int order[NCOLS];
    double last_t = -INFINITY;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(f)) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: line too long", path, lineno);
            break;
        }
        if (len && line[len - 1] != '\n') {
            /* The last line, cut short (a full disk, a killed writer):
             * what came before it is whole, so it is read without it. */
            out->torn_line = lineno;
            break;
        }
        if (line[0] == '#') {
            if (strncmp(line, "# joule-trace ", 14) == 0)
                magic = 1;
            rc = parse_meta(out, path, lineno, line);
            continue;
        }
        if (strspn(line, " \r\n") == len)
            continue;
        if (!magic) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d: not a joule trace (no '# joule-trace 1' line first)", path, lineno);
            break;
        }
        if (!have_header) {
            rc = parse_header(path, lineno, line, order);
            have_header = 1;
            continue;
        }
        /* Rows are plain CSV without quoting (labels and domains hold no
         * commas), so the field count is the comma count plus one. */
        size_t row_len = strcspn(line, "\r\n");
        int nfields = 1;
        for (size_t c = 0; c < row_len; c++)
            nfields += line[c] == ',';
        if (nfields != NCOLS) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: %d fields, expected %d", path, lineno,
                                 nfields, NCOLS);
            break;
        }
        line[row_len] = '\0';
        char *cell[NCOLS] = {0};
        char *p = line;
        for (int k = 0; k < NCOLS; k++) {
            cell[order[k]] = p;
            size_t n = strcspn(p, ",");
            p[n] = '\0';
            p += n + (k < NCOLS - 1);
        }
        double t, v;
        if (parse_in(cell[COL_TIME], 0, TRACE_MAX_TIME_S, &t)) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d: time_s '%s' is not a number from 0 to %g s", path,
                lineno, col_of(order, COL_TIME), cell[COL_TIME], TRACE_MAX_TIME_S);
            break;
        }
        if (t < last_t) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d: time_s %g goes back (previous row %g); rows must be in time order",
                path, lineno, t, last_t);
            break;
        }
        last_t = t;
        if (parse_double(cell[COL_VALUE], &v)) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d: value '%s' is not a finite number", path, lineno,
                col_of(order, COL_VALUE), cell[COL_VALUE]);
            break;
        }
        int domain = domain_of(cell[COL_DOMAIN]);
        if (domain < 0) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d, column %d: unknown domain '%s'",
                                 path, lineno, col_of(order, COL_DOMAIN), cell[COL_DOMAIN]);
            break;
        }
        if (is_power(domain) && !(v >= 0 && v <= TRACE_MAX_POWER_W)) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d: %s '%s' is out of range (power is 0 to %.0f W)", path,
                lineno, col_of(order, COL_VALUE), cell[COL_DOMAIN], cell[COL_VALUE],
                TRACE_MAX_POWER_W);
            break;
        }
        int i = find_device(out, cell[COL_DEVICE]);
        if (i < 0) {
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d: device '%s' is not declared (no '# device label=%s' "
                "line before it)", path, lineno, col_of(order, COL_DEVICE), cell[COL_DEVICE],
                cell[COL_DEVICE]);
            break;
        }
        struct trace_device *d = &out->devices[i];
        struct trace_series *s = (struct trace_series *)trace_series_of(d, domain);
        if (!s) {
            if (d->nseries == 8) {
                rc = joule_set_error(JOULE_EINVAL, "%s line %d: too many domains", path, lineno);
                break;
            }
            s = &d->series[d->nseries++];
            s->domain = domain;
        }
        if (series_push(s, t, v))
            rc = joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    fclose(f);
    if (!rc && !magic)
        rc = joule_set_error(JOULE_EINVAL, "%s: empty or not a joule trace", path);
    if (!rc && !have_header)
        rc = joule_set_error(JOULE_EINVAL, "%s: truncated: no column header after line %d", path,
                             lineno);
    if (!rc && out->duration_s <= 0)
        out->duration_s = last_t > 0 ? last_t : 0;
    if (rc)
        trace_free(out);
    return rc;
}
