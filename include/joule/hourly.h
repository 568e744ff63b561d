/* joule hourly series: carbon intensity and electricity price per UTC hour,
 * read from files or given as constants, without a network (the C twin of
 * python/joule/hourly.py; both give the same numbers on the same files).
 *
 * Files:
 *   - Electricity Maps' hourly CSV: columns matched by name, case-
 *     insensitively: the time is the column whose name holds "datetime"
 *     (preferring one holding "utc"), the intensity the one holding
 *     "carbon intensity" (kind "direct": not "lca"; kind "lca": preferring
 *     "lca"), gCO2eq/kWh.
 *   - WattTime's JSON ({"data": [{"point_time", "value"}], "meta":
 *     {"units": "lbs_co2_per_mwh"}}, or a bare list of points): lb/MWh
 *     become g/kWh (x 0.45359237).
 *   - A price CSV: a time column (the first name holding "datetime",
 *     "timestamp", "time", "hour" or "date") and a price column (a name
 *     holding "price"; "/MWh" in it divides by 1000).
 * Several points in one hour are averaged; an empty value cell is a gap
 * (that hour is missing). Times are ISO 8601 (naive = UTC) or Unix seconds.
 * A bad file is an error naming the file, the line and the column
 * ("path:line:column: message").
 *
 * Energy is split at UTC hour boundaries; each hour's part, times the PUE,
 * in kWh, times the hour's value, is that hour's emissions (g) or cost. An
 * hour the series lacks is missing: its energy is left out and flagged. */
#ifndef JOULE_HOURLY_H
#define JOULE_HOURLY_H

#include <joule/joule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_HOURLY_API_VERSION 1

#define JOULE_HOUR_S 3600.0
/* 1 lb/MWh = 453.59237 g / 1000 kWh. */
#define JOULE_LB_PER_MWH_TO_G_PER_KWH 0.45359237

typedef struct joule_hourly joule_hourly;

/* kind: "direct" (NULL) or "lca". */
int joule_hourly_read_electricity_maps_csv(const char *path, const char *kind,
                                           joule_hourly **out);
int joule_hourly_read_watttime_json(const char *path, joule_hourly **out);
int joule_hourly_read_price_csv(const char *path, joule_hourly **out);
/* A finite value >= 0 for every hour. */
int joule_hourly_constant(double value, joule_hourly **out);
/* What the CLI's --carbon and --price take: a number (a constant) or a
 * file (for carbon: ".json" is WattTime's, else Electricity Maps' CSV). */
int joule_hourly_open_carbon(const char *arg, joule_hourly **out);
int joule_hourly_open_price(const char *arg, joule_hourly **out);
void joule_hourly_free(joule_hourly *s);

/* 1 for a constant (then *value of joule_hourly_constant_value). */
int joule_hourly_is_constant(const joule_hourly *s);
double joule_hourly_constant_value(const joule_hourly *s);
/* The hours a file gave, in time order: hour i's start (Unix s) and value. */
int joule_hourly_count(const joule_hourly *s);
int joule_hourly_at(const joule_hourly *s, int i, double *hour_unix_s, double *value);
/* The value of the hour holding unix_s: 0, or JOULE_ENOENT (a missing hour). */
int joule_hourly_value(const joule_hourly *s, double unix_s, double *value);

/* The start of the UTC hour holding unix_s. */
double joule_hour_of(double unix_s);
/* "2026-12-04T18:00:00Z" (at least 21 bytes). */
void joule_hour_format(double unix_s, char *buf, size_t len);
/* Parses an ISO 8601 time (naive = UTC; "Z" or +HH:MM offsets) or Unix
 * seconds into Unix seconds; -1 when it is neither. */
int joule_parse_utc_time(const char *text, double *unix_s);

/* Splits energy at UTC hour boundaries. t[0..n-1] are Unix times (sorted)
 * and cum_j[0..n-1] cumulative energy read then: at the start, at each hour
 * boundary in between and at the end. Fills hours[] (hour starts) and
 * joules[] (up to cap) and returns how many hours, or a JOULE_E* code. */
int joule_hourly_split(const double *t, const double *cum_j, int n, double *hours,
                       double *joules, int cap);
/* J x PUE / 3.6e6 x per_kwh: emissions in g (per_kwh in g/kWh) or cost. */
double joule_hourly_amount(double joules, double pue, double per_kwh);
/* 0 when pue is a finite number >= 1, else JOULE_EINVAL with a message. */
int joule_hourly_check_pue(double pue);

#ifdef __cplusplus
}
#endif
#endif
