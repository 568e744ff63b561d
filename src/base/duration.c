/* Durations on the command line: one parser for every option that takes
 * a time (joule's --interval, --duration, --quantum, jouled's --expires),
 * so "100ms", "1s", "2h" mean the same everywhere. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "export.h"

JOULE_EXPORT int joule_parse_duration(const char *text, double bare_unit_s, double *out_s)
{
    static const struct {
        const char *name;
        double s;
    } units[] = {
        {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
    };
    if (!text || !out_s)
        return JOULE_EINVAL;
    /* strtod also takes " 1", "inf", "nan" and hex: a duration is decimal. */
    if (!text[0] || !strchr("+-.0123456789", text[0]) || strpbrk(text, "xX"))
        return JOULE_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v))
        return JOULE_EINVAL;
    double mul = bare_unit_s;
    if (*end) {
        mul = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(end, units[i].name))
                mul = units[i].s;
    }
    if (!(mul > 0))
        return JOULE_EINVAL;
    *out_s = v * mul;
    return isfinite(*out_s) ? 0 : JOULE_EINVAL;
}
