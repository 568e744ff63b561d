#include "common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <joule/sweep.h>
#include <joule/trace.h>

joule_ctx *cli_open(const char *command, const char *spec, int allow_empty)
{
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    if (joule_options_create(&o) || joule_options_set_devices(o, spec)) {
        fprintf(stderr, "joule %s: %s\n", command, joule_last_error());
        joule_options_destroy(o);
        return NULL;
    }
    if (allow_empty)
        joule_options_allow_empty(o);
    if (joule_open(o, &ctx)) {
        fprintf(stderr, "joule %s: %s\n", command, joule_last_error());
        ctx = NULL;
    }
    joule_options_destroy(o);
    return ctx;
}

int cli_has_simulated(joule_ctx *ctx)
{
    for (int i = 0; i < joule_device_count(ctx); i++)
        if (joule_device_caps(joule_device_at(ctx, i)) & JOULE_CAP_SIMULATED)
            return 1;
    return 0;
}

void cli_duration(double s, char *buf, size_t len)
{
    if (s >= 1.0)
        snprintf(buf, len, "%.3f s", s);
    else
        snprintf(buf, len, "%.3f ms", s * 1e3);
}

void cli_json_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

int cli_every(const struct timespec *origin, double interval_ms, double duration_s,
              volatile sig_atomic_t *stop, int (*tick)(void *arg, double t), void *arg)
{
    const int64_t interval_ns = (int64_t)(interval_ms * 1e6);
    const int64_t origin_ns = (int64_t)origin->tv_sec * 1000000000LL + origin->tv_nsec;
    const int64_t deadline_ns = duration_s > 0 ? origin_ns + (int64_t)(duration_s * 1e9) : INT64_MAX;
    int64_t next_ns = origin_ns;
    while (!*stop) {
        next_ns += interval_ns;
        if (next_ns > deadline_ns)
            next_ns = deadline_ns;
        struct timespec next = {(time_t)(next_ns / 1000000000LL), (long)(next_ns % 1000000000LL)};
        while (!*stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        if (*stop)
            break;
        int rc = tick(arg, (double)(next_ns - origin_ns) / 1e9);
        if (rc)
            return rc;
        if (next_ns >= deadline_ns)
            break;
    }
    return 0;
}

void cli_xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        }
    }
}

void cli_wall_timestamp(char *buf, size_t len)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ld", (long)(tv.tv_usec / 1000));
}

cJSON *cli_device_json(cJSON *array, const joule_device *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(array, o);
    cJSON_AddStringToObject(o, "label", joule_device_label(d));
    cJSON_AddStringToObject(o, "kind", joule_kind_name(joule_device_kind(d)));
    cJSON_AddNumberToObject(o, "index", joule_device_index(d));
    cJSON_AddStringToObject(o, "name", joule_device_name(d));
    cJSON_AddStringToObject(o, "backend", joule_device_backend(d));
    return o;
}

/* One implementation of the statistics: libjoule's (sweep.h). */
double cli_mean(const double *v, int n, int stride)
{
    double m;
    joule_sweep_mean_sd(v, n, stride, &m, NULL);
    return m;
}

double cli_stddev(const double *v, int n, int stride)
{
    double m, sd;
    joule_sweep_mean_sd(v, n, stride, &m, &sd);
    return sd;
}

FILE *cli_open_output(const char *command, const char *path)
{
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "joule %s: cannot write '%s': %s\n", command, path, strerror(errno));
    return f;
}

int cli_close_output(const char *command, FILE *f, const char *path)
{
    if (!f)
        return 0;
    /* A failed fprintf leaves its data in the buffer: the flush retries it
     * and says why it failed. */
    int err = fflush(f) ? errno : 0;
    if (!err && ferror(f))
        err = EIO;
    if (f != stdout && f != stderr && fclose(f) && !err)
        err = errno;
    if (!err)
        return 0;
    if (f == stdout)
        clearerr(f); /* reported here, not again by main */
    if (f != stderr) {
        if (f == stdout || !path || !strcmp(path, "-"))
            fprintf(stderr, "joule %s: cannot write to stdout: %s\n", command, strerror(err));
        else
            fprintf(stderr, "joule %s: cannot write '%s': %s\n", command, path, strerror(err));
    }
    return -1;
}

void cli_format_duration(double s, char *buf, size_t len)
{
    static const struct {
        const char *name;
        double s;
    } units[] = {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1},
                 {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}};
    if (s == 0) {
        snprintf(buf, len, "0");
        return;
    }
    /* The largest unit that keeps the number whole, else the largest <= s. */
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        double v = s / units[i].s;
        if (v >= 1 && fabs(v - round(v)) < 1e-9 * v) {
            snprintf(buf, len, "%.0f%s", round(v), units[i].name);
            return;
        }
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (s >= units[i].s || i + 1 == sizeof units / sizeof units[0]) {
            snprintf(buf, len, "%g%s", s / units[i].s, units[i].name);
            return;
        }
}

int cli_parse_duration(const char *command, const char *option, const char *text,
                       double bare_unit_s, double lo_s, double hi_s, double *out_s)
{
    double v;
    if (!joule_parse_duration(text, bare_unit_s, &v) && v >= lo_s && v <= hi_s) {
        *out_s = v;
        return 0;
    }
    char lo[32], hi[32], unit[32];
    cli_format_duration(lo_s, lo, sizeof lo);
    cli_format_duration(hi_s, hi, sizeof hi);
    cli_format_duration(bare_unit_s, unit, sizeof unit);
    fprintf(stderr, "joule %s: %s '%s': give a duration from %s to %s with a unit (ns, us, ms, "
                    "s, m, h) or a bare number in %s\n",
            command, option, text, lo, hi, unit + 1 /* "1ms" -> "ms" */);
    return -1;
}

int cli_try_help(const char *prog)
{
    fprintf(stderr, "Try '%s --help'.\n", prog);
    return 2;
}

FILE *cli_open_report(const char *command, const char *path, int machine)
{
    if (path)
        return cli_open_output(command, path);
    return machine ? stdout : stderr;
}

void cli_warn_coarse_sources(const char *command, joule_ctx *ctx, joule_sampler *s,
                             double interval_ms)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        int counter_only = !joule_sampler_has(s, i, JOULE_DOMAIN_POWER) &&
                           joule_sampler_has(s, i, JOULE_DOMAIN_POWER_COUNTER);
        double period = (counter_only ? joule_device_update_period_us(d)
                                      : joule_device_power_period_us(d)) / 1000.0;
        if (period <= interval_ms * 1.5)
            continue;
        if (counter_only)
            fprintf(stderr, "joule %s: warning: %s's energy counter changes only every %.0f ms; "
                            "power derived from it cannot resolve an interval of %g ms "
                            "(values repeat)\n",
                    command, joule_device_label(d), period, interval_ms);
        else
            fprintf(stderr, "joule %s: warning: %s's power reading changes only every %.0f ms, "
                            "so an interval of %g ms repeats values\n",
                    command, joule_device_label(d), period, interval_ms);
    }
}

void cli_warn_torn_trace(const char *command, const char *path, const joule_trace *t)
{
    if (joule_trace_torn_line(t))
        fprintf(stderr, "joule %s: warning: %s line %d has no line end (the writer was cut "
                        "short, e.g. by a full disk); read without it\n",
                command, path, joule_trace_torn_line(t));
}
