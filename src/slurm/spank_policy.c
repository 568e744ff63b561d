/* Parsers of the plugin's options and plugstack.conf arguments. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spank_policy.h"

int sj_parse_watts(const char *s, double *w, char *err, size_t len)
{
    char *end;
    errno = 0;
    double v = s && *s ? strtod(s, &end) : NAN;
    if (!isnan(v) && (*end == 'W' || *end == 'w'))
        end++;
    if (isnan(v) || errno || *end || !isfinite(v) || v <= 0) {
        snprintf(err, len, "power limit '%s' is not a number of watts above 0 (e.g. 300)",
                 s ? s : "");
        return -1;
    }
    *w = v;
    return 0;
}

static int parse_mhz(const char *s, const char *stop, int *mhz)
{
    char *end;
    errno = 0;
    long v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : -1;
    if (v <= 0 || errno || end != stop || v > 100000)
        return -1;
    *mhz = (int)v;
    return 0;
}

int sj_parse_clocks(const char *s, int *min_mhz, int *max_mhz, char *err, size_t len)
{
    const char *comma = s ? strchr(s, ',') : NULL;
    int lo = 0, hi = 0;
    if (!comma || parse_mhz(s, comma, &lo) || parse_mhz(comma + 1, comma + 1 + strlen(comma + 1), &hi)) {
        snprintf(err, len, "GPU clocks '%s' are not MIN,MAX in MHz (e.g. 1000,1500)", s ? s : "");
        return -1;
    }
    if (lo > hi) {
        snprintf(err, len, "GPU clocks '%s': MIN %d MHz is above MAX %d MHz", s, lo, hi);
        return -1;
    }
    *min_mhz = lo;
    *max_mhz = hi;
    return 0;
}

static int copy_path(char *dst, size_t cap, const char *v, const char *what, char *err, size_t len)
{
    if (!*v || strlen(v) >= cap) {
        snprintf(err, len, "%s '%s' is empty or too long", what, v);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int sj_parse_site_arg(struct sj_site *site, const char *arg, char *err, size_t len)
{
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *v = eq ? eq + 1 : "";
#define KEY(k) (klen == strlen(k) && !strncmp(arg, k, klen))
    if (KEY("default_power_limit"))
        return sj_parse_watts(v, &site->dflt.power_limit_w, err, len);
    if (KEY("default_gpu_clocks"))
        return sj_parse_clocks(v, &site->dflt.clock_min_mhz, &site->dflt.clock_max_mhz, err, len);
    if (KEY("report_dir"))
        return copy_path(site->report_dir, sizeof site->report_dir, v, "report_dir", err, len);
    if (KEY("state_dir"))
        return copy_path(site->state_dir, sizeof site->state_dir, v, "state_dir", err, len);
    if (KEY("env")) {
        const char *veq = strchr(v, '=');
        if (!veq || veq == v || strlen(v) >= sizeof site->env[0]) {
            snprintf(err, len, "env=%s is not env=NAME=VALUE", v);
            return -1;
        }
        if (site->nenv == SJ_MAX_ENV) {
            snprintf(err, len, "more than %d env= arguments", SJ_MAX_ENV);
            return -1;
        }
        memcpy(site->env[site->nenv++], v, strlen(v) + 1);
        return 0;
    }
#undef KEY
    snprintf(err, len,
             "unknown plugstack.conf argument '%s' (known: default_power_limit=W, "
             "default_gpu_clocks=MIN,MAX, report_dir=DIR, state_dir=DIR, env=NAME=VALUE)",
             arg);
    return -1;
}

void sj_effective(const struct sj_site *site, const struct sj_policy *user, struct sj_policy *out)
{
    *out = *user;
    if (out->power_limit_w <= 0)
        out->power_limit_w = site->dflt.power_limit_w;
    if (out->clock_min_mhz <= 0) {
        out->clock_min_mhz = site->dflt.clock_min_mhz;
        out->clock_max_mhz = site->dflt.clock_max_mhz;
    }
    if (!out->report[0] && site->report_dir[0])
        snprintf(out->report, sizeof out->report, "%s/%%j/%%n.step%%s.json", site->report_dir);
}

int sj_expand_path(const char *pattern, const char *job, const char *step, const char *node,
                   char *out, size_t cap, char *err, size_t len)
{
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        const char *add;
        char one[2] = {*p, '\0'};
        if (*p != '%') {
            add = one;
        } else {
            switch (p[1]) {
            case 'j': add = job; break;
            case 's': add = step; break;
            case 'n': add = node; break;
            case '%': add = "%"; break;
            default:
                snprintf(err, len, "report path '%s': unknown '%%%c' (known: %%j job id, "
                         "%%s step, %%n node, %%%% a percent sign)", pattern, p[1] ? p[1] : ' ');
                return -1;
            }
            p++;
        }
        size_t n = strlen(add);
        if (o + n >= cap) {
            snprintf(err, len, "report path '%s' is too long once expanded", pattern);
            return -1;
        }
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}
