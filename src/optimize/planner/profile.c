/* Profile CSV `stage,instruction,frequency,time,energy` (what Zeus's
 * pipeline profiler writes). A small strict parser: every error names the
 * file and the line. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "optimize/planner/planner.h"

enum { COL_STAGE, COL_INSTR, COL_FREQ, COL_TIME, COL_ENERGY, NCOLS };
static const char *const col_names[NCOLS] = {"stage", "instruction",
                                             "frequency", "time", "energy"};

#define MAX_FIELDS 64

/* Splits a line (modified in place) into trimmed, unquoted fields. */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n == max)
            return -1;
        /* trim */
        while (*p && isspace((unsigned char)*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (end - p >= 2 && *p == '"' && end[-1] == '"') {
            end[-1] = '\0';
            p++;
        }
        fields[n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

static int parse_number(const char *s, double *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const pl_row *x = *(const pl_row *const *)a, *y = *(const pl_row *const *)b;
    if (x->stage != y->stage)
        return x->stage < y->stage ? -1 : 1;
    if (x->instr != y->instr)
        return x->instr < y->instr ? -1 : 1;
    if (x->freq_mhz != y->freq_mhz)
        return x->freq_mhz < y->freq_mhz ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int add_row(pl_profile *p, const pl_row *r)
{
    if (p->nrows == p->cap) {
        int ncap = p->cap ? p->cap * 2 : 64;
        pl_row *nr = pl_realloc(p->rows, (size_t)ncap * sizeof *nr);
        if (!nr)
            return joule_set_error(JOULE_ENOMEM, "out of memory reading profile %s",
                            p->name);
        p->rows = nr;
        p->cap = ncap;
    }
    p->rows[p->nrows++] = *r;
    if (r->stage > p->max_stage)
        p->max_stage = r->stage;
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pl_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int pl_profile_parse(const char *text, size_t len, const char *name,
                     pl_profile **out)
{
    *out = NULL;
    if (!name)
        name = "profile";
    pl_profile *p = pl_calloc(1, sizeof *p);
    char *buf = pl_malloc(len + 1);
    if (!p || !buf || !(p->name = dup_str(name))) {
        pl_free(buf);
        pl_profile_free(p);
        return joule_set_error(JOULE_ENOMEM, "out of memory reading profile %s",
                        name);
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    p->max_stage = -1;

    int col[NCOLS];
    int nheader = 0, have_header = 0, rc = 0, lineno = 0;
    char *fields[MAX_FIELDS];
    char *line = buf, *bufend = buf + len;
    while (line < bufend) {
        char *nl = memchr(line, '\n', (size_t)(bufend - line));
        char *lend = nl ? nl : bufend;
        char *next = nl ? nl + 1 : bufend;
        *lend = '\0';
        lineno++;
        size_t ll = strlen(line);
        if (ll != (size_t)(lend - line)) {
            rc = joule_set_error(JOULE_EINVAL, "%s, line %d: contains a NUL byte "
                          "(not a text CSV file?)", name, lineno);
            goto fail;
        }
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        char *s = line;
        while (*s && isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || *s == '#') {
            line = next;
            continue;
        }
        int nf = split_fields(s, fields, MAX_FIELDS);
        if (nf < 0) {
            rc = joule_set_error(JOULE_EINVAL, "%s, line %d: more than %d fields",
                          name, lineno, MAX_FIELDS);
            goto fail;
        }
        if (!have_header) {
            for (int c = 0; c < NCOLS; c++)
                col[c] = -1;
            for (int f = 0; f < nf; f++) {
                for (int c = 0; c < NCOLS; c++) {
                    if (!strcasecmp(fields[f], col_names[c])) {
                        if (col[c] >= 0) {
                            rc = joule_set_error(JOULE_EINVAL,
                                          "%s, line %d, column %d: column "
                                          "'%s' appears twice in the header "
                                          "(first as column %d)",
                                          name, lineno, f + 1, col_names[c],
                                          col[c] + 1);
                            goto fail;
                        }
                        col[c] = f;
                    }
                }
            }
            for (int c = 0; c < NCOLS; c++) {
                if (col[c] < 0) {
                    rc = joule_set_error(JOULE_EINVAL,
                                  "%s, line %d: header has no '%s' column "
                                  "(expected stage,instruction,frequency,"
                                  "time,energy)",
                                  name, lineno, col_names[c]);
                    goto fail;
                }
            }
            nheader = nf;
            have_header = 1;
            line = next;
            continue;
        }
        if (nf != nheader) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: %d fields, but the header has %d",
                          name, lineno, nf, nheader);
            goto fail;
        }
        pl_row r = {.line = lineno};
        double v;
        const char *fs = fields[col[COL_STAGE]];
        if (parse_number(fs, &v) || v != floor(v) || v < 0 ||
            v >= PL_MAX_STAGES) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: stage '%s' is not an integer in "
                          "0..%d",
                          name, lineno, fs, PL_MAX_STAGES - 1);
            goto fail;
        }
        r.stage = (int)v;
        const char *fi = fields[col[COL_INSTR]];
        r.instr = pl_instr_parse(fi);
        if (r.instr < 0) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: instruction '%s' is not 'forward' "
                          "or 'backward'",
                          name, lineno, fi);
            goto fail;
        }
        const char *ff = fields[col[COL_FREQ]];
        if (parse_number(ff, &v) || v != floor(v) || v < 1 || v > 1e6) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: frequency '%s' is not a whole "
                          "number of MHz",
                          name, lineno, ff);
            goto fail;
        }
        r.freq_mhz = (int)v;
        const char *ft = fields[col[COL_TIME]];
        if (parse_number(ft, &r.time_s)) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: time '%s' is not a number", name,
                          lineno, ft);
            goto fail;
        }
        if (r.time_s <= 0) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: time %s s must be positive", name,
                          lineno, ft);
            goto fail;
        }
        const char *fe = fields[col[COL_ENERGY]];
        if (parse_number(fe, &r.energy_j)) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: energy '%s' is not a number", name,
                          lineno, fe);
            goto fail;
        }
        if (r.energy_j < 0) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: energy %s J must not be negative",
                          name, lineno, fe);
            goto fail;
        }
        if ((rc = add_row(p, &r)))
            goto fail;
        line = next;
    }
    p->last_line = lineno;
    if (!have_header) {
        rc = joule_set_error(JOULE_EINVAL,
                      "%s: empty profile (expected a header "
                      "stage,instruction,frequency,time,energy and rows)",
                      name);
        goto fail;
    }
    if (p->nrows == 0) {
        rc = joule_set_error(JOULE_EINVAL, "%s, line %d: the profile has a header "
                      "but no rows", name, lineno);
        goto fail;
    }
    /* duplicates: same (stage, instruction, frequency) twice */
    {
        const pl_row **idx = pl_malloc((size_t)p->nrows * sizeof *idx);
        if (!idx) {
            rc = joule_set_error(JOULE_ENOMEM, "out of memory reading %s", name);
            goto fail;
        }
        for (int i = 0; i < p->nrows; i++)
            idx[i] = &p->rows[i];
        qsort(idx, (size_t)p->nrows, sizeof *idx, row_cmp);
        const pl_row *dup = NULL, *first = NULL;
        for (int i = 1; i < p->nrows; i++) {
            const pl_row *a = idx[i - 1], *b = idx[i];
            if (a->stage == b->stage && a->instr == b->instr &&
                a->freq_mhz == b->freq_mhz && (!dup || b->line < dup->line)) {
                /* report the earliest line that repeats a row */
                int j = i - 1;
                while (j > 0 && idx[j - 1]->stage == b->stage &&
                       idx[j - 1]->instr == b->instr &&
                       idx[j - 1]->freq_mhz == b->freq_mhz)
                    j--;
                dup = b;
                first = idx[j];
            }
        }
        if (dup) {
            rc = joule_set_error(JOULE_EINVAL,
                          "%s, line %d: duplicate row for stage %d %s at %d "
                          "MHz (first given at line %d)",
                          name, dup->line, dup->stage,
                          pl_instr_name(dup->instr), dup->freq_mhz,
                          first->line);
            pl_free(idx);
            goto fail;
        }
        pl_free(idx);
    }
    pl_free(buf);
    *out = p;
    return 0;
fail:
    pl_free(buf);
    pl_profile_free(p);
    return rc;
}

int pl_profile_load(const char *path, pl_profile **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
                        "cannot open profile %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = pl_malloc(cap);
    if (!buf) {
        fclose(f);
        return joule_set_error(JOULE_ENOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (len == cap) {
            char *nb = pl_realloc(buf, cap * 2);
            if (!nb) {
                pl_free(buf);
                fclose(f);
                return joule_set_error(JOULE_ENOMEM, "out of memory reading %s",
                                path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        pl_free(buf);
        return joule_set_error(JOULE_EIO, "error reading profile %s", path);
    }
    int rc = pl_profile_parse(buf, len, path, out);
    pl_free(buf);
    return rc;
}

void pl_profile_free(pl_profile *p)
{
    if (!p)
        return;
    pl_free(p->name);
    pl_free(p->rows);
    pl_free(p);
}

const pl_row *pl_profile_find(const pl_profile *p, int stage, int instr,
                              int freq_mhz)
{
    for (int i = 0; i < p->nrows; i++) {
        const pl_row *r = &p->rows[i];
        if (r->stage == stage && r->instr == instr && r->freq_mhz == freq_mhz)
            return r;
    }
    return NULL;
}

int pl_profile_check_freqs(const pl_profile *p, const int *mhz, int n,
                           const char *gpu_label)
{
    for (int i = 0; i < p->nrows; i++) {
        const pl_row *r = &p->rows[i];
        int ok = 0;
        for (int j = 0; j < n && !ok; j++)
            ok = mhz[j] == r->freq_mhz;
        if (!ok) {
            char list[256] = "";
            size_t used = 0;
            for (int j = 0; j < n && used + 16 < sizeof list; j++)
                used += (size_t)snprintf(list + used, sizeof list - used,
                                         "%s%d", j ? ", " : "", mhz[j]);
            if (n && used + 16 >= sizeof list)
                snprintf(list + used, sizeof list - used, ", ...");
            return joule_set_error(JOULE_EINVAL,
                            "%s, line %d: %d MHz is not a supported SM clock "
                            "of %s (supported: %s MHz)",
                            p->name, r->line, r->freq_mhz, gpu_label,
                            n ? list : "none");
        }
    }
    return 0;
}
