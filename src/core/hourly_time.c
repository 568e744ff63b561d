/* UTC hours and the time formats hourly files use (ISO 8601 as Python's
 * datetime.fromisoformat reads it, or Unix seconds), without the C
 * library's time zone state: days are counted from the civil date. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/hourly.h>

#include "base/export.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(long y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* Exactly `digits` decimal digits at *p. */
static int take(const char **p, int digits, int *out)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += digits;
    *out = v;
    return 0;
}

static int parse_iso(const char *s, double *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    double frac = 0;
    const char *p = s;
    if (take(&p, 4, &y) || *p++ != '-' || take(&p, 2, &mo) || *p++ != '-' || take(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (take(&p, 2, &h) || h > 23)
            return -1;
        if (*p == ':') {
            p++;
            if (take(&p, 2, &mi) || mi > 59)
                return -1;
            if (*p == ':') {
                p++;
                if (take(&p, 2, &sec) || sec > 59)
                    return -1;
                if (*p == '.' || *p == ',') {
                    const char *q = ++p;
                    double scale = 0.1;
                    while (isdigit((unsigned char)*p)) {
                        frac += (*p - '0') * scale;
                        scale /= 10;
                        p++;
                    }
                    if (p == q)
                        return -1;
                }
            }
        }
    }
    long offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (take(&p, 2, &oh) || oh > 23)
            return -1;
        if (*p == ':')
            p++;
        if (*p && take(&p, 2, &om))
            return -1;
        if (om > 59)
            return -1;
        offset_s = sign * (oh * 3600L + om * 60L);
    }
    if (*p)
        return -1;
    *out = (double)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec - offset_s) +
           frac;
    return 0;
}

JOULE_EXPORT int joule_parse_utc_time(const char *text, double *unix_s)
{
    char buf[96];
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1]))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (parse_iso(buf, unix_s) == 0)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(v) || fabs(v) > 1e13)
        return -1;
    *unix_s = v;
    return 0;
}

JOULE_EXPORT double joule_hour_of(double unix_s)
{
    return floor(unix_s / JOULE_HOUR_S) * JOULE_HOUR_S;
}

JOULE_EXPORT void joule_hour_format(double unix_s, char *buf, size_t len)
{
    if (!(fabs(unix_s) <= 1e13)) { /* beyond any file's time: no date to print */
        snprintf(buf, len, "(no such time)");
        return;
    }
    double t = floor(unix_s);
    long days = (long)floor(t / 86400);
    long rem = (long)(t - (double)days * 86400);
    long y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04ld-%02d-%02dT%02ld:%02ld:%02ldZ", y, m, d, rem / 3600, rem / 60 % 60,
             rem % 60);
}
