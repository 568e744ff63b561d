/* Lists of power limits or clocks, as joule sweep and joule bench serve
 * take them (common.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* The largest setting taken: far above any GPU's power limit (W) or
 * clock (MHz), and well inside an int. */
#define MAX_KNOB 1e6

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int cli_parse_settings(const char *spec, double *out, int cap, char *err, size_t errlen)
{
    int n = 0;
    double a, b, step;
    char tail;
    if (strchr(spec, ':')) {
        if (sscanf(spec, "%lf:%lf:%lf%c", &a, &b, &step, &tail) != 3 || !isfinite(a) ||
            !isfinite(b) || !isfinite(step) || !(step > 0)) {
            snprintf(err, errlen, "'%s' is not HIGH:LOW:STEP with finite numbers and STEP > 0",
                     spec);
            return -1;
        }
        double hi = fmax(a, b), lo = fmin(a, b);
        if ((hi - lo) / step + 1 > cap) {
            snprintf(err, errlen, "'%s' gives more than %d settings", spec, cap);
            return -1;
        }
        for (double v = hi; v >= lo - 1e-9 * hi; v = hi - (++n) * step)
            out[n] = v;
    } else {
        const char *p = spec;
        while (*p) {
            char *end;
            errno = 0;
            double v = strtod(p, &end);
            if (end == p || errno || !isfinite(v) || (*end && *end != ',')) {
                snprintf(err, errlen, "'%s' is not a list of numbers like 300,250,200", spec);
                return -1;
            }
            if (n == cap) {
                snprintf(err, errlen, "'%s' gives more than %d settings", spec, cap);
                return -1;
            }
            out[n++] = v;
            p = *end ? end + 1 : end;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "'%s' gives no settings", spec);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!(out[i] > 0 && out[i] <= MAX_KNOB)) {
            snprintf(err, errlen, "setting %g in '%s' must be above 0 and at most %g", out[i],
                     spec, MAX_KNOB);
            return -1;
        }
    }
    qsort(out, (size_t)n, sizeof *out, cmp_desc);
    for (int i = 1; i < n; i++)
        if (out[i] == out[i - 1]) {
            snprintf(err, errlen, "setting %g appears twice in '%s'", out[i], spec);
            return -1;
        }
    return n;
}
