/* The power-limit profiling log `joule optimize select` reads: the window-log
 * CSV (Zeus's format), rows named __GlobalPowerLimitOptimizer_{W}.
 *
 * Strict where a wrong number would pass silently: a header naming a
 * column twice is ambiguous, and every value and every derived quantity
 * (summed energy, average power, the cost's P_max * N * T term) must be
 * finite. Linear in rows apart from one sort. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "core/csv.h"
#include "optimize/frontier.h"

#define MAX_COLS 1024

static int parse_double(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end); /* overflow gives inf; underflow a tiny value */
    if (end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* "__GlobalPowerLimitOptimizer_250" -> 1 and 250; 0 for other windows;
 * -1 when the name has the prefix but no number after it. */
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

/* "gpu12_energy" -> 12; -1 for any other name. */
static int gpu_energy_index(const char *name)
{
    if (strncmp(name, "gpu", 3) || !isdigit((unsigned char)name[3]))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(name + 3, &end, 10);
    return errno || v > 1 << 20 || strcmp(end, "_energy") ? -1 : (int)v;
}

struct col {
    const char *name;
    int pos;
};

static int by_name(const void *a, const void *b)
{
    const struct col *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->pos - y->pos;
}

/* A column named twice, or two gpu{i}_energy columns for one GPU (gpu1 and
 * gpu01), make the header ambiguous. */
static int check_header(const char *path, int lineno, char **fields, int nf)
{
    struct col *cols = malloc(sizeof *cols * (size_t)nf);
    if (!cols)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    char (*canon)[32] = malloc(sizeof *canon * (size_t)nf);
    if (!canon) {
        free(cols);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    for (int c = 0; c < nf; c++) {
        int g = gpu_energy_index(fields[c]);
        if (g >= 0)
            snprintf(canon[c], sizeof canon[c], "gpu%d_energy", g);
        cols[c] = (struct col){g >= 0 ? canon[c] : fields[c], c};
    }
    qsort(cols, (size_t)nf, sizeof *cols, by_name);
    int rc = 0;
    for (int c = 1; c < nf && !rc; c++)
        if (!strcmp(cols[c].name, cols[c - 1].name))
            rc = joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d: '%s' repeats column %d ('%s'); the header is "
                "ambiguous", path, lineno, cols[c].pos + 1, fields[cols[c].pos],
                cols[c - 1].pos + 1, fields[cols[c - 1].pos]);
    free(canon);
    free(cols);
    return rc;
}

struct row {
    struct jopt_point p;
    int line;
};

/* Highest limit first; for one limit, the last row first. */
static int by_knob_then_last(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->p.knob != y->p.knob)
        return x->p.knob < y->p.knob ? 1 : -1;
    return y->line - x->line;
}

struct reader {
    const char *path;
    int lineno, ncols, ngpu, col_name, col_time;
    int *gpu_cols;
    struct row *rows;
    int nrows, cap;
};

static int read_header(struct reader *r, char **fields, int nf)
{
    int rc = check_header(r->path, r->lineno, fields, nf);
    if (rc)
        return rc;
    r->ncols = nf;
    for (int c = 0; c < nf; c++) {
        if (!strcmp(fields[c], "window_name"))
            r->col_name = c;
        else if (!strcmp(fields[c], "elapsed_time"))
            r->col_time = c;
        else if (gpu_energy_index(fields[c]) >= 0)
            r->gpu_cols[r->ngpu++] = c;
    }
    if (r->col_name < 0 || r->col_time < 0 || r->ngpu == 0)
        return joule_set_error(JOULE_EINVAL,
            "%s line %d: not a window log: need the columns window_name, elapsed_time "
            "and gpu{i}_energy (Zeus's format, as joule_options_set_log writes)",
            r->path, r->lineno);
    return 0;
}

static int read_row(struct reader *r, char **fields, int nf, int *skipped)
{
    const char *path = r->path;
    int lineno = r->lineno;
    if (nf != r->ncols)
        return joule_set_error(JOULE_EINVAL, "%s line %d: %d fields, the header has %d", path,
                               lineno, nf, r->ncols);
    double pl;
    int m = window_power_limit(fields[r->col_name], &pl);
    if (m == 0) {
        (*skipped)++;
        return 0;
    }
    if (m < 0 || pl <= 0 || pl > JOPT_MAX_POWER_LIMIT_W)
        return joule_set_error(JOULE_EINVAL,
            "%s line %d, column %d: window '%s' does not end in a power limit in W (0 to "
            "%g)", path, lineno, r->col_name + 1, fields[r->col_name], JOPT_MAX_POWER_LIMIT_W);
    double t, e = 0;
    if (parse_double(fields[r->col_time], &t))
        return joule_set_error(JOULE_EINVAL,
            "%s line %d, column %d: elapsed_time '%s' is not a finite number", path, lineno,
            r->col_time + 1, fields[r->col_time]);
    if (t <= 0)
        return joule_set_error(JOULE_EINVAL,
            "%s line %d, column %d (%g W): elapsed_time is %g s; a profile row needs a "
            "time > 0", path, lineno, r->col_time + 1, pl, t);
    for (int g = 0; g < r->ngpu; g++) {
        double v;
        int col = r->gpu_cols[g];
        if (parse_double(fields[col], &v))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d (%g W): energy '%s' is not a finite number (a GPU "
                "in error writes nan)", path, lineno, col + 1, pl, fields[col]);
        if (v < 0)
            return joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d (%g W): negative energy %g J", path, lineno, col + 1,
                pl, v);
        e += v;
        if (!isfinite(e))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d (%g W): the GPU energies sum to more than a double "
                "holds", path, lineno, col + 1, pl);
    }
    if (e <= 0)
        return joule_set_error(JOULE_EINVAL,
            "%s line %d (%g W): GPU energy is 0 J; a profile row needs energy > 0", path,
            lineno, pl);
    if (!isfinite(e / t))
        return joule_set_error(JOULE_EINVAL,
            "%s line %d, column %d (%g W): %g J in %g s is not a finite average power", path,
            lineno, r->col_time + 1, pl, e, t);
    if (r->nrows == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        struct row *nr = realloc(r->rows, sizeof *nr * (size_t)cap);
        if (!nr)
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        r->rows = nr;
        r->cap = cap;
    }
    r->rows[r->nrows++] = (struct row){{pl, t, e}, lineno};
    return 0;
}

/* Keeps the last row of each limit, highest limit first, and checks the
 * cost selector's time term P_max * N_gpus * T stays finite. */
static int collect(struct reader *r, struct jopt_profile *out)
{
    qsort(r->rows, (size_t)r->nrows, sizeof *r->rows, by_knob_then_last);
    out->points = malloc(sizeof *out->points * (size_t)r->nrows);
    out->lines = malloc(sizeof *out->lines * (size_t)r->nrows);
    if (!out->points || !out->lines)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < r->nrows; i++) {
        if (out->n && out->points[out->n - 1].knob == r->rows[i].p.knob)
            continue;
        out->points[out->n] = r->rows[i].p;
        out->lines[out->n++] = r->rows[i].line;
    }
    double p_max = out->points[0].knob;
    for (int i = 0; i < out->n; i++)
        if (!isfinite(p_max * r->ngpu * out->points[i].time_s))
            return joule_set_error(JOULE_EINVAL,
                "%s line %d, column %d (%g W): elapsed_time %g s times the highest limit "
                "%g W and %d GPU(s) is not a finite number", r->path, out->lines[i],
                r->col_time + 1, out->points[i].knob, out->points[i].time_s, p_max, r->ngpu);
    return 0;
}

int jopt_profile_read(const char *path, struct jopt_profile *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return joule_set_error(JOULE_EIO, "cannot open profile '%s': %s", path,
                               strerror(errno));
    struct reader r = {.path = path, .col_name = -1, .col_time = -1};
    char *line = NULL, **fields = calloc(MAX_COLS, sizeof *fields);
    r.gpu_cols = calloc(MAX_COLS, sizeof *r.gpu_cols);
    size_t cap = 0;
    int rc = 0;
    if (!fields || !r.gpu_cols) {
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
        goto done;
    }
    ssize_t len;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        r.lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (strlen(line) != (size_t)len) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: contains a NUL byte (not a text "
                                 "CSV file?)", path, r.lineno);
            break;
        }
        int nf = csv_split_line(line, fields, MAX_COLS);
        if (nf < 0)
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: unterminated quoted field", path,
                                 r.lineno);
        else if (nf > MAX_COLS)
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: more than %d columns", path,
                                 r.lineno, MAX_COLS);
        else if (r.ncols == 0)
            rc = read_header(&r, fields, nf);
        else
            rc = read_row(&r, fields, nf, &out->skipped_rows);
    }
    if (!rc && ferror(f))
        rc = joule_set_error(JOULE_EIO, "reading '%s' failed", path);
    if (rc)
        goto done;
    if (r.ncols == 0)
        rc = joule_set_error(JOULE_EINVAL, "profile '%s' is empty (no header, no rows)", path);
    else if (r.nrows == 0)
        rc = joule_set_error(JOULE_EINVAL,
            "profile '%s' has no __GlobalPowerLimitOptimizer_{W} rows%s", path,
            out->skipped_rows ? " (only other windows)" : "");
    else if (!(rc = collect(&r, out)) && out->n == 1)
        rc = joule_set_error(JOULE_EINVAL,
            "profile '%s' holds one power limit (%g W); a choice needs at least two", path,
            out->points[0].knob);
    out->n_gpus = r.ngpu;
done:
    fclose(f);
    free(line);
    free(fields);
    free(r.gpu_cols);
    free(r.rows);
    if (rc)
        jopt_profile_free(out);
    return rc;
}

void jopt_profile_free(struct jopt_profile *p)
{
    free(p->points);
    free(p->lines);
    p->points = NULL;
    p->lines = NULL;
    p->n = 0;
}
