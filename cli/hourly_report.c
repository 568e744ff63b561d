/* Emissions and cost per UTC hour for `joule analyze` and `joule run`
 * (--carbon, --price, --pue): the arithmetic is libjoule's
 * (joule/hourly.h); this file only loads the series and prints. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/trace.h>

#include "hourly_report.h"

int hourly_parse_pue(const char *command, const char *arg, double *pue)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || joule_hourly_check_pue(v)) {
        fprintf(stderr, "joule %s: --pue '%s': give a number >= 1 (1.0 = no overhead)\n",
                command, arg);
        return -1;
    }
    *pue = v;
    return 0;
}

int hourly_wanted(const struct hourly_args *a)
{
    return a->carbon || a->price;
}

int hourly_args_load(const char *command, struct hourly_args *a)
{
    if (a->pue_given && !hourly_wanted(a)) {
        fprintf(stderr, "joule %s: --pue only applies with --carbon or --price\n", command);
        return 2;
    }
    if (a->carbon && joule_hourly_open_carbon(a->carbon, &a->cs)) {
        fprintf(stderr, "joule %s: --carbon: %s\n", command, joule_last_error());
        return 1;
    }
    if (a->price && joule_hourly_open_price(a->price, &a->ps)) {
        fprintf(stderr, "joule %s: --price: %s\n", command, joule_last_error());
        hourly_args_free(a);
        return 1;
    }
    return 0;
}

void hourly_args_free(struct hourly_args *a)
{
    joule_hourly_free(a->cs);
    joule_hourly_free(a->ps);
    a->cs = a->ps = NULL;
}

int hourly_table_init(struct hourly_table *t, int ndev, const char **labels)
{
    memset(t, 0, sizeof *t);
    t->ndev = ndev;
    t->labels = labels;
    return 0;
}

int hourly_table_add(struct hourly_table *t, double hour, int dev, double j)
{
    int k = 0;
    while (k < t->nh && t->hours[k] < hour)
        k++;
    if (k == t->nh || t->hours[k] != hour) {
        if (t->nh == t->cap) {
            int cap = t->cap ? 2 * t->cap : 8;
            double *h = realloc(t->hours, sizeof *h * (size_t)cap);
            if (h)
                t->hours = h;
            double *e = realloc(t->j, sizeof *e * (size_t)cap * (size_t)(t->ndev ? t->ndev : 1));
            if (e)
                t->j = e;
            if (!h || !e)
                return JOULE_ENOMEM;
            t->cap = cap;
        }
        memmove(t->hours + k + 1, t->hours + k, sizeof *t->hours * (size_t)(t->nh - k));
        memmove(t->j + (size_t)(k + 1) * t->ndev, t->j + (size_t)k * t->ndev,
                sizeof *t->j * (size_t)(t->nh - k) * t->ndev);
        t->hours[k] = hour;
        for (int d = 0; d < t->ndev; d++)
            t->j[(size_t)k * t->ndev + d] = 0;
        t->nh++;
    }
    t->j[(size_t)k * t->ndev + dev] += j;
    return 0;
}

void hourly_table_free(struct hourly_table *t)
{
    free(t->hours);
    free(t->j);
    memset(t, 0, sizeof *t);
}

static double hour_total(const struct hourly_table *t, int k)
{
    double s = 0;
    for (int d = 0; d < t->ndev; d++)
        s += t->j[(size_t)k * t->ndev + d];
    return s;
}

double hourly_device_amount(const struct hourly_table *t, const joule_hourly *s, double pue,
                            int dev, int *missing)
{
    if (missing)
        *missing = 0;
    if (!s)
        return NAN;
    double sum = 0;
    for (int k = 0; k < t->nh; k++) {
        double v;
        if (joule_hourly_value(s, t->hours[k], &v)) {
            if (missing)
                (*missing)++;
            continue;
        }
        double j = dev < 0 ? hour_total(t, k) : t->j[(size_t)k * t->ndev + dev];
        sum += joule_hourly_amount(j, pue, v);
    }
    return sum;
}

static int value_at(const joule_hourly *s, double hour, double *v)
{
    return s && joule_hourly_value(s, hour, v) == 0;
}

static void source_text(const char *arg, const joule_hourly *s, const char *unit, char *buf,
                        size_t len)
{
    if (joule_hourly_is_constant(s))
        snprintf(buf, len, "%g %s (constant)", joule_hourly_constant_value(s), unit);
    else
        snprintf(buf, len, "%s (%d hours)", arg, joule_hourly_count(s));
}

void hourly_report_text(FILE *out, const struct hourly_table *t, const struct hourly_args *a)
{
    char src[512];
    fprintf(out, "\n Emissions and cost by UTC hour (PUE %g):\n", a->pue);
    if (a->cs) {
        source_text(a->carbon, a->cs, "gCO2e/kWh", src, sizeof src);
        fprintf(out, "   carbon intensity: %s\n", src);
    }
    if (a->ps) {
        source_text(a->price, a->ps, "per kWh", src, sizeof src);
        fprintf(out, "   price:            %s\n", src);
    }
    fprintf(out, "\n   %-20s %12s %14s %12s %12s %12s\n", "hour_utc", "energy_j", "gco2e_per_kwh",
            "emissions_g", "price_per_kwh", "cost");
    int missing = 0;
    for (int k = 0; k < t->nh; k++) {
        char h[32], c1[24] = "-", c2[24] = "-", p1[24] = "-", p2[24] = "-";
        double v, j = hour_total(t, k);
        int flagged = 0;
        joule_hour_format(t->hours[k], h, sizeof h);
        if (value_at(a->cs, t->hours[k], &v)) {
            snprintf(c1, sizeof c1, "%.2f", v);
            snprintf(c2, sizeof c2, "%.6g", joule_hourly_amount(j, a->pue, v));
        } else if (a->cs) {
            snprintf(c1, sizeof c1, "MISSING");
            flagged = 1;
        }
        if (value_at(a->ps, t->hours[k], &v)) {
            snprintf(p1, sizeof p1, "%.5f", v);
            snprintf(p2, sizeof p2, "%.6g", joule_hourly_amount(j, a->pue, v));
        } else if (a->ps) {
            snprintf(p1, sizeof p1, "MISSING");
            flagged = 1;
        }
        missing += flagged;
        fprintf(out, "   %-20s %12.3f %14s %12s %12s %12s\n", h, j, c1, c2, p1, p2);
    }
    int mc = 0, mp = 0;
    double ce = hourly_device_amount(t, a->cs, a->pue, -1, &mc);
    double pc = hourly_device_amount(t, a->ps, a->pue, -1, &mp);
    fprintf(out, "\n");
    if (a->cs)
        fprintf(out, "   emissions: %.6g gCO2e%s\n", ce,
                mc ? " (without the MISSING hours)" : "");
    if (a->ps)
        fprintf(out, "   cost:      %.6g%s\n", pc, mp ? " (without the MISSING hours)" : "");
    if (missing)
        fprintf(out, "   %d hour%s MISSING from the series: their energy is left out of the "
                     "totals above.\n", missing, missing == 1 ? " is" : "s are");
}

static void add_or_null(cJSON *o, const char *name, int have, double v)
{
    if (have)
        cJSON_AddNumberToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_series(cJSON *o, const char *name, const char *arg, const joule_hourly *s,
                       const struct hourly_table *t, double pue, const char *total_name,
                       const char *value_name)
{
    if (!s) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    cJSON *c = cJSON_AddObjectToObject(o, name);
    if (joule_hourly_is_constant(s)) {
        cJSON_AddNullToObject(c, "file");
        cJSON_AddNumberToObject(c, value_name, joule_hourly_constant_value(s));
    } else {
        cJSON_AddStringToObject(c, "file", arg);
        cJSON_AddNullToObject(c, value_name);
    }
    cJSON_AddNumberToObject(c, total_name, hourly_device_amount(t, s, pue, -1, NULL));
    cJSON *by = cJSON_AddObjectToObject(c, "by_device");
    for (int d = 0; d < t->ndev; d++)
        cJSON_AddNumberToObject(by, t->labels[d], hourly_device_amount(t, s, pue, d, NULL));
    cJSON *miss = cJSON_AddArrayToObject(c, "missing_hours");
    for (int k = 0; k < t->nh; k++) {
        double v;
        if (!value_at(s, t->hours[k], &v)) {
            char h[32];
            joule_hour_format(t->hours[k], h, sizeof h);
            cJSON_AddItemToArray(miss, cJSON_CreateString(h));
        }
    }
    cJSON_AddBoolToObject(c, "complete", cJSON_GetArraySize(miss) == 0);
}

void hourly_report_json(cJSON *root, const struct hourly_table *t, const struct hourly_args *a)
{
    cJSON *o = cJSON_AddObjectToObject(root, "carbon_price");
    cJSON_AddNumberToObject(o, "pue", a->pue);
    add_series(o, "carbon", a->carbon, a->cs, t, a->pue, "emissions_g", "constant_g_per_kwh");
    add_series(o, "price", a->price, a->ps, t, a->pue, "cost", "constant_per_kwh");
    cJSON *hours = cJSON_AddArrayToObject(o, "hours");
    for (int k = 0; k < t->nh; k++) {
        cJSON *h = cJSON_CreateObject();
        cJSON_AddItemToArray(hours, h);
        char buf[32];
        joule_hour_format(t->hours[k], buf, sizeof buf);
        cJSON_AddStringToObject(h, "hour_utc", buf);
        double j = hour_total(t, k), v;
        cJSON_AddNumberToObject(h, "energy_j", j);
        cJSON *by = cJSON_AddObjectToObject(h, "energy_j_by_device");
        for (int d = 0; d < t->ndev; d++)
            cJSON_AddNumberToObject(by, t->labels[d], t->j[(size_t)k * t->ndev + d]);
        int hc = value_at(a->cs, t->hours[k], &v);
        add_or_null(h, "carbon_g_per_kwh", hc, v);
        add_or_null(h, "emissions_g", hc, hc ? joule_hourly_amount(j, a->pue, v) : 0);
        int hp = value_at(a->ps, t->hours[k], &v);
        add_or_null(h, "price_per_kwh", hp, v);
        add_or_null(h, "cost", hp, hp ? joule_hourly_amount(j, a->pue, v) : 0);
        cJSON_AddBoolToObject(h, "missing", (a->cs && !hc) || (a->ps && !hp));
    }
}

static void csv_num(FILE *out, int have, double v)
{
    if (have)
        fprintf(out, ",%.9g", v);
    else
        fputc(',', out);
}

void hourly_csv_columns(FILE *out, const struct hourly_table *t, const struct hourly_args *a,
                        int dev)
{
    int mc = 0, mp = 0;
    double c = hourly_device_amount(t, a->cs, a->pue, dev, &mc);
    double p = hourly_device_amount(t, a->ps, a->pue, dev, &mp);
    csv_num(out, a->cs != NULL, c);
    csv_num(out, a->ps != NULL, p);
    fprintf(out, ",%d", mc > mp ? mc : mp);
}

void hourly_report_csv(FILE *out, const struct hourly_table *t, const struct hourly_args *a)
{
    fprintf(out, "hour_utc,label,energy_j,carbon_g_per_kwh,emissions_g,price_per_kwh,cost,"
                 "missing\n");
    for (int k = 0; k < t->nh; k++) {
        char h[32];
        joule_hour_format(t->hours[k], h, sizeof h);
        double c, p;
        int hc = value_at(a->cs, t->hours[k], &c), hp = value_at(a->ps, t->hours[k], &p);
        for (int d = 0; d < t->ndev; d++) {
            double j = t->j[(size_t)k * t->ndev + d];
            fprintf(out, "%s,", h);
            joule_csv_write_field(out, t->labels[d]);
            fprintf(out, ",%.9g", j);
            csv_num(out, hc, c);
            csv_num(out, hc, hc ? joule_hourly_amount(j, a->pue, c) : 0);
            csv_num(out, hp, p);
            csv_num(out, hp, hp ? joule_hourly_amount(j, a->pue, p) : 0);
            fprintf(out, ",%d\n", (a->cs && !hc) || (a->ps && !hp));
        }
    }
}

int hourly_table_from_trace(struct hourly_table *t, const struct joule_trace *trace,
                            const char **labels)
{
    int ndev = 0, n = joule_trace_device_count(trace);
    for (int i = 0; i < n; i++)
        if (joule_trace_device_has_power(trace, i))
            labels[ndev++] = joule_trace_device_label(trace, i);
    hourly_table_init(t, ndev, labels);
    double start = joule_trace_start_unix_s(trace), dur = joule_trace_duration_s(trace);
    /* Readings at the start, at each hour boundary inside, at the end. */
    int cap = (int)(dur / JOULE_HOUR_S) + 3;
    double *ts = malloc(sizeof *ts * (size_t)cap), *cum = malloc(sizeof *cum * (size_t)cap);
    double *hours = malloc(sizeof *hours * (size_t)cap), *js = malloc(sizeof *js * (size_t)cap);
    int rc = ts && cum && hours && js ? 0 : JOULE_ENOMEM;
    int m = 0;
    if (!rc) {
        ts[m++] = start;
        for (double b = joule_hour_of(start) + JOULE_HOUR_S; b < start + dur && m < cap - 1;
             b += JOULE_HOUR_S)
            ts[m++] = b;
        ts[m++] = start + dur;
    }
    for (int i = 0, d = 0; i < n && !rc; i++) {
        if (!joule_trace_device_has_power(trace, i))
            continue;
        for (int k = 0; k < m && !rc; k++)
            rc = joule_trace_device_energy_j(trace, i, 0, ts[k] - start, &cum[k]);
        int nh = rc ? 0 : joule_hourly_split(ts, cum, m, hours, js, cap);
        if (nh < 0)
            rc = nh;
        for (int k = 0; k < nh && !rc; k++)
            rc = hourly_table_add(t, hours[k], d, js[k]);
        d++;
    }
    free(ts);
    free(cum);
    free(hours);
    free(js);
    return rc;
}
