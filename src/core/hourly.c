/* Hourly carbon intensity and electricity price (include/joule/hourly.h):
 * the series, the CSV and JSON readers, and the arithmetic. Mirrors
 * python/joule/hourly.py step for step, so both give the same numbers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <joule/hourly.h>

#include "base/error.h"
#include "base/export.h"
#include "core/csv.h"

#define MAX_FIELDS 256
#define MAX_FILE_BYTES (256L << 20)

struct point {
    double hour, value;
    long order; /* file order, so an hour's values add up as Python's do */
};

struct joule_hourly {
    int constant;
    double value;           /* the constant */
    struct point *p;        /* after finish(): one per hour, sorted */
    int n, cap;
};

static int add_point(joule_hourly *s, double t, double v)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        struct point *p = realloc(s->p, sizeof *p * (size_t)cap);
        if (!p)
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        s->p = p;
        s->cap = cap;
    }
    s->p[s->n] = (struct point){joule_hour_of(t), v, s->n};
    s->n++;
    return 0;
}

static int by_hour(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    if (x->hour != y->hour)
        return x->hour < y->hour ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts the points and averages each hour's (summed in file order). */
static void finish(joule_hourly *s)
{
    if (s->n > 1)
        qsort(s->p, (size_t)s->n, sizeof *s->p, by_hour);
    int m = 0;
    for (int i = 0; i < s->n;) {
        double sum = 0;
        int j = i;
        for (; j < s->n && s->p[j].hour == s->p[i].hour; j++)
            sum += s->p[j].value;
        s->p[m] = (struct point){s->p[i].hour, sum / (j - i), m};
        m++;
        i = j;
    }
    s->n = m;
}

static int read_all(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO, "%s: cannot open: %s",
                               path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return joule_set_error(JOULE_ENOMEM, "%s: out of memory", path);
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        if ((long)cap > MAX_FILE_BYTES) {
            free(buf);
            fclose(f);
            return joule_set_error(JOULE_ERANGE, "%s: larger than %ld MiB", path,
                                   MAX_FILE_BYTES >> 20);
        }
        cap *= 2;
        char *grown = realloc(buf, cap);
        if (!grown)
            free(buf);
        buf = grown;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return joule_set_error(JOULE_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        free(buf);
        return joule_set_error(JOULE_EINVAL, "%s: holds a NUL byte; not a text file", path);
    }
    *text = buf;
    *len = n;
    return 0;
}

/* ---- CSV ---------------------------------------------------------------- */

struct csv_file {
    const char *path;
    char *text, *next;
    int line;                 /* of the last line read */
    char *header[MAX_FIELDS];
    int nheader;
};

static void lower(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

static int blank(char *const *f, int n)
{
    for (int i = 0; i < n; i++)
        for (const char *c = f[i]; *c; c++)
            if (!isspace((unsigned char)*c))
                return 0;
    return 1;
}

/* The next line that is not blank, split; 0 at the end of the file. */
static int next_row(struct csv_file *c, char **fields, int *n)
{
    while (c->next && *c->next) {
        char *line = c->next;
        char *nl = strchr(line, '\n');
        c->next = nl ? nl + 1 : NULL;
        if (nl) {
            *nl = '\0';
            if (nl > line && nl[-1] == '\r')
                nl[-1] = '\0';
        }
        c->line++;
        *n = csv_split_line(line, fields, MAX_FIELDS);
        if (*n < 0)
            return joule_set_error(JOULE_EINVAL, "%s:%d: unterminated quoted field", c->path,
                                   c->line);
        if (*n > MAX_FIELDS)
            return joule_set_error(JOULE_EINVAL, "%s:%d: more than %d fields", c->path, c->line,
                                   MAX_FIELDS);
        if (!blank(fields, *n))
            return 1;
    }
    return 0;
}

static int csv_open(struct csv_file *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    size_t len;
    int rc = read_all(path, &c->text, &len);
    if (rc)
        return rc;
    c->next = c->text;
    if (strncmp(c->next, "\xEF\xBB\xBF", 3) == 0)
        c->next += 3; /* a UTF-8 byte order mark, as Excel writes */
    char *f[MAX_FIELDS];
    int n;
    rc = next_row(c, f, &n);
    if (rc == 0)
        rc = joule_set_error(JOULE_EINVAL, "%s: empty file", path);
    if (rc < 0) {
        free(c->text);
        c->text = NULL;
        return rc;
    }
    /* Fields point into text, which stays: keep the pointers. */
    for (int i = 0; i < n; i++)
        c->header[i] = f[i];
    c->nheader = n;
    return 0;
}

/* "'a', 'b'" for a message. */
static void header_list(const struct csv_file *c, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < c->nheader; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s'%s'", i ? ", " : "", c->header[i]);
    }
}

static void trim_lower(const char *s, char *out, size_t len)
{
    while (isspace((unsigned char)*s))
        s++;
    lower(s, out, len);
    size_t n = strlen(out);
    while (n && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
}

/* The first header cell whose lower-cased name holds want (and not
 * avoid); among several, the first also holding prefer. */
static int find_column(const struct csv_file *c, const char *want, const char *avoid,
                       const char *prefer, const char *what)
{
    int first = -1;
    for (int i = 0; i < c->nheader; i++) {
        char name[256];
        trim_lower(c->header[i], name, sizeof name);
        if (!strstr(name, want) || (avoid && strstr(name, avoid)))
            continue;
        if (!prefer || strstr(name, prefer))
            return i;
        if (first < 0)
            first = i;
    }
    if (first >= 0)
        return first;
    char list[1024];
    header_list(c, list, sizeof list);
    return joule_set_error(JOULE_EINVAL, "%s:1: no %s column (a name holding '%s') among %s",
                           c->path, what, want, list);
}

static int parse_value(const char *cell, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(cell, &end);
    if (end == cell)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? -1 : 0;
}

static int series_from_rows(struct csv_file *c, int tcol, int vcol, double scale,
                            joule_hourly *s)
{
    char *f[MAX_FIELDS];
    int n, rc;
    int need = tcol > vcol ? tcol : vcol;
    while ((rc = next_row(c, f, &n)) > 0) {
        if (need >= n)
            return joule_set_error(JOULE_EINVAL,
                                   "%s:%d:%d: row has %d fields; the '%s' column is field %d",
                                   c->path, c->line, need + 1, n, c->header[need], need + 1);
        double t;
        if (joule_parse_utc_time(f[tcol], &t))
            return joule_set_error(JOULE_EINVAL, "%s:%d:%d: not a time: '%s' (column '%s')",
                                   c->path, c->line, tcol + 1, f[tcol], c->header[tcol]);
        const char *cell = f[vcol];
        while (isspace((unsigned char)*cell))
            cell++;
        if (!*cell)
            continue; /* a gap: that hour is missing, and flagged when used */
        double v;
        if (parse_value(cell, &v))
            return joule_set_error(JOULE_EINVAL, "%s:%d:%d: not a number: '%s' (column '%s')",
                                   c->path, c->line, vcol + 1, cell, c->header[vcol]);
        if (!isfinite(v) || v < 0)
            return joule_set_error(JOULE_EINVAL,
                                   "%s:%d:%d: '%s' is not a value >= 0 (column '%s')", c->path,
                                   c->line, vcol + 1, cell, c->header[vcol]);
        if ((rc = add_point(s, t, v * scale)))
            return rc;
    }
    return rc;
}

static joule_hourly *new_series(void)
{
    joule_hourly *s = calloc(1, sizeof *s);
    if (!s)
        joule_set_error(JOULE_ENOMEM, "out of memory");
    return s;
}

static int done(joule_hourly *s, struct csv_file *c, int rc, joule_hourly **out)
{
    free(c ? c->text : NULL);
    if (rc < 0) {
        joule_hourly_free(s);
        return rc;
    }
    finish(s);
    *out = s;
    return 0;
}

JOULE_EXPORT int joule_hourly_read_electricity_maps_csv(const char *path, const char *kind,
                                                        joule_hourly **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_read_electricity_maps_csv: NULL argument");
    *out = NULL;
    if (!kind)
        kind = "direct";
    if (strcmp(kind, "direct") && strcmp(kind, "lca"))
        return joule_set_error(JOULE_EINVAL, "kind must be 'direct' or 'lca', not '%s'", kind);
    struct csv_file c;
    int rc = csv_open(&c, path);
    if (rc)
        return rc;
    joule_hourly *s = new_series();
    if (!s)
        return done(s, &c, JOULE_ENOMEM, out);
    int tcol = find_column(&c, "datetime", NULL, "utc", "time");
    if (tcol < 0)
        return done(s, &c, tcol, out);
    int vcol = find_column(&c, "carbon intensity", strcmp(kind, "direct") ? NULL : "lca", kind,
                           "carbon intensity");
    if (vcol < 0)
        return done(s, &c, vcol, out);
    return done(s, &c, series_from_rows(&c, tcol, vcol, 1.0, s), out);
}

JOULE_EXPORT int joule_hourly_read_price_csv(const char *path, joule_hourly **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_read_price_csv: NULL argument");
    *out = NULL;
    struct csv_file c;
    int rc = csv_open(&c, path);
    if (rc)
        return rc;
    joule_hourly *s = new_series();
    if (!s)
        return done(s, &c, JOULE_ENOMEM, out);
    static const char *const keys[] = {"datetime", "timestamp", "time", "hour", "date"};
    int tcol = -1;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && tcol < 0; k++)
        for (int i = 0; i < c.nheader && tcol < 0; i++) {
            char name[256];
            trim_lower(c.header[i], name, sizeof name);
            if (strstr(name, keys[k]))
                tcol = i;
        }
    if (tcol < 0) {
        char list[1024];
        header_list(&c, list, sizeof list);
        return done(s, &c,
                    joule_set_error(JOULE_EINVAL,
                                    "%s:1: no time column (datetime, timestamp, time or hour) "
                                    "among %s", path, list), out);
    }
    int vcol = find_column(&c, "price", NULL, NULL, "price");
    if (vcol < 0)
        return done(s, &c, vcol, out);
    char name[256];
    trim_lower(c.header[vcol], name, sizeof name);
    double scale = strstr(name, "mwh") ? 1e-3 : 1.0;
    return done(s, &c, series_from_rows(&c, tcol, vcol, scale, s), out);
}

/* ---- WattTime JSON -------------------------------------------------------- */

static void line_col(const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int watttime_points(const char *path, const cJSON *doc, joule_hourly *s)
{
    const cJSON *data = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "data") : doc;
    if (!cJSON_IsArray(data))
        return joule_set_error(JOULE_EINVAL, "%s: expected {\"data\": [...]} or a list of points",
                               path);
    double scale = JOULE_LB_PER_MWH_TO_G_PER_KWH;
    const cJSON *meta = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "meta") : NULL;
    const cJSON *units = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "units")
                                              : NULL;
    if (cJSON_IsString(units) && units->valuestring[0]) {
        char u[128];
        lower(units->valuestring, u, sizeof u);
        if (!strstr(u, "lb")) {
            if (strchr(u, 'g') && strstr(u, "kwh"))
                scale = 1.0;
            else
                return joule_set_error(JOULE_EINVAL,
                                       "%s: meta.units is '%s'; lbs_co2_per_mwh (or g per kWh) "
                                       "is needed", path, u);
        }
    }
    int i = 0;
    for (const cJSON *p = data->child; p; p = p->next, i++) {
        if (!cJSON_IsObject(p))
            return joule_set_error(JOULE_EINVAL, "%s: data[%d] is not an object", path, i);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "point_time");
        if (!t || cJSON_IsNull(t))
            t = cJSON_GetObjectItemCaseSensitive(p, "timestamp");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "value");
        double when;
        if (!t || cJSON_IsNull(t))
            return joule_set_error(JOULE_EINVAL, "%s: data[%d] has no point_time", path, i);
        if (cJSON_IsNumber(t) && fabs(t->valuedouble) <= 1e13) {
            when = t->valuedouble; /* Unix seconds, bounded as the text form is */
        } else if (!cJSON_IsString(t) || joule_parse_utc_time(t->valuestring, &when)) {
            char *shown = cJSON_PrintUnformatted(t);
            joule_set_error(JOULE_EINVAL, "%s: data[%d].point_time: not a time: %s", path, i,
                            shown ? shown : "?");
            cJSON_free(shown);
            return JOULE_EINVAL;
        }
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0) {
            char *shown = v ? cJSON_PrintUnformatted(v) : NULL;
            joule_set_error(JOULE_EINVAL, "%s: data[%d].value is %s; a number >= 0 is needed",
                            path, i, shown ? shown : "absent");
            cJSON_free(shown);
            return JOULE_EINVAL;
        }
        int rc = add_point(s, when, v->valuedouble * scale);
        if (rc)
            return rc;
    }
    return 0;
}

JOULE_EXPORT int joule_hourly_read_watttime_json(const char *path, joule_hourly **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_read_watttime_json: NULL argument");
    *out = NULL;
    char *text;
    size_t len;
    int rc = read_all(path, &text, &len);
    if (rc)
        return rc;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
    if (!doc) {
        int line, col;
        line_col(text, end ? end : text + len, &line, &col);
        free(text);
        return joule_set_error(JOULE_EINVAL, "%s:%d:%d: not valid JSON", path, line, col);
    }
    joule_hourly *s = new_series();
    rc = s ? watttime_points(path, doc, s) : JOULE_ENOMEM;
    cJSON_Delete(doc);
    free(text);
    return done(s, NULL, rc, out);
}

/* ---- constants, lookup, arithmetic ------------------------------------------- */

JOULE_EXPORT int joule_hourly_constant(double value, joule_hourly **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_constant: NULL argument");
    *out = NULL;
    if (!isfinite(value) || value < 0)
        return joule_set_error(JOULE_EINVAL, "a constant must be a finite number >= 0, not %g",
                               value);
    joule_hourly *s = new_series();
    if (!s)
        return JOULE_ENOMEM;
    s->constant = 1;
    s->value = value;
    *out = s;
    return 0;
}

static int number_arg(const char *arg, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(arg, &end);
    return end != arg && !*end && !errno;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

JOULE_EXPORT int joule_hourly_open_carbon(const char *arg, joule_hourly **out)
{
    double v;
    if (!arg || !out)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_open_carbon: NULL argument");
    if (number_arg(arg, &v))
        return joule_hourly_constant(v, out);
    if (ends_with(arg, ".json"))
        return joule_hourly_read_watttime_json(arg, out);
    return joule_hourly_read_electricity_maps_csv(arg, "direct", out);
}

JOULE_EXPORT int joule_hourly_open_price(const char *arg, joule_hourly **out)
{
    double v;
    if (!arg || !out)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_open_price: NULL argument");
    if (number_arg(arg, &v))
        return joule_hourly_constant(v, out);
    return joule_hourly_read_price_csv(arg, out);
}

JOULE_EXPORT void joule_hourly_free(joule_hourly *s)
{
    if (!s)
        return;
    free(s->p);
    free(s);
}

JOULE_EXPORT int joule_hourly_is_constant(const joule_hourly *s) { return s && s->constant; }
JOULE_EXPORT double joule_hourly_constant_value(const joule_hourly *s)
{
    return s && s->constant ? s->value : NAN;
}
JOULE_EXPORT int joule_hourly_count(const joule_hourly *s) { return s ? s->n : 0; }

JOULE_EXPORT int joule_hourly_at(const joule_hourly *s, int i, double *hour_unix_s, double *value)
{
    if (!s || i < 0 || i >= s->n)
        return joule_set_error(JOULE_ENOENT, "no hour %d in the series", i);
    if (hour_unix_s)
        *hour_unix_s = s->p[i].hour;
    if (value)
        *value = s->p[i].value;
    return 0;
}

JOULE_EXPORT int joule_hourly_value(const joule_hourly *s, double unix_s, double *value)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_value: NULL series");
    if (s->constant) {
        *value = s->value;
        return 0;
    }
    double h = joule_hour_of(unix_s);
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->p[mid].hour == h) {
            *value = s->p[mid].value;
            return 0;
        }
        if (s->p[mid].hour < h)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    char buf[32];
    joule_hour_format(h, buf, sizeof buf);
    return joule_set_error(JOULE_ENOENT, "the series has no value for the hour of %s", buf);
}

JOULE_EXPORT int joule_hourly_split(const double *t, const double *cum_j, int n, double *hours,
                                    double *joules, int cap)
{
    if (!t || !cum_j || !hours || !joules || n < 0 || cap < 0)
        return joule_set_error(JOULE_EINVAL, "joule_hourly_split: bad argument");
    int m = 0;
    for (int i = 0; i + 1 < n; i++) {
        if (!(t[i + 1] > t[i]))
            continue;
        double h = joule_hour_of(t[i]);
        if (m == 0 || hours[m - 1] != h) {
            if (m == cap)
                return joule_set_error(JOULE_ERANGE, "more than %d hours to split into", cap);
            hours[m] = h;
            joules[m] = 0;
            m++;
        }
        joules[m - 1] += cum_j[i + 1] - cum_j[i];
    }
    return m;
}

JOULE_EXPORT double joule_hourly_amount(double joules, double pue, double per_kwh)
{
    return joules * pue / 3.6e6 * per_kwh;
}

JOULE_EXPORT int joule_hourly_check_pue(double pue)
{
    if (!isfinite(pue) || pue < 1.0)
        return joule_set_error(JOULE_EINVAL, "the PUE must be a number >= 1, not %g", pue);
    return 0;
}
