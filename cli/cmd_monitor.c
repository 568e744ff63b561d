/* joule monitor: live power, energy, temperature, clock and throttle
 * reasons per device, like `nvidia-smi dmon` / `-lms`, as a table or a
 * CSV/JSONL stream flushed line by line. Ctrl-C or the end of --duration
 * prints totals: energy, average and peak power per device. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <joule/trace.h>

#include "child.h"
#include "commands.h"
#include "common.h"
#include "monitor_cluster.h"

enum format { FMT_TABLE, FMT_CSV, FMT_JSONL };

static void monitor_usage(FILE *out)
{
    fprintf(out,
            "usage: joule monitor [--interval T] [--format table|csv|jsonl] [--duration T]\n"
            "                     [--devices SPEC]\n"
            "       joule monitor --daemon tcp:HOST:PORT[,tcp:HOST:PORT...] [--token-file FILE]\n"
            "                     [--interval T] [--format table|csv|jsonl] [--duration T]\n\n"
            "Print each device's power, energy since start, temperature, SM clock and\n"
            "throttle reasons every interval. Ctrl-C (or --duration) ends it and prints\n"
            "the energy, average and peak power per device (to stderr for csv/jsonl).\n\n"
            "  -i, --interval T    sampling interval, 1ms to 1m, e.g. 100ms, 2s; a bare\n"
            "                      number is ms (default 1000 ms)\n"
            "  -f, --format FMT    table (default), csv or jsonl\n"
            "  -t, --duration T    stop after T, e.g. 90s, 10m, 2h; a bare number is\n"
            "                      seconds (default: until Ctrl-C)\n"
            "  -d, --devices SPEC  devices (default: $JOULE_DEVICES or all)\n"
            "  -D, --daemon LIST   follow these jouleds' power streams instead: a row per\n"
            "                      node (up, stale, down and why) and their total\n"
            "  -T, --token-file F  bearer tokens for --daemon, one a line: one for every\n"
            "                      node or one per node (default: $JOULE_DAEMON_TOKEN)\n"
            "  -h, --help          this help\n");
}


/* The last of a domain's values over [t0, t1], NAN if there is none. */
static double last_value(joule_sampler *s, int dev, int domain, double t0, double t1)
{
    double v;
    if (!joule_sampler_has(s, dev, domain) || joule_sampler_latest(s, dev, domain, t0, t1, NULL, &v))
        return NAN;
    return v;
}

/* The value in force now, NAN if the domain is not sampled. */
static double latest(joule_sampler *s, int dev, int domain, double now)
{
    return last_value(s, dev, domain, now, now);
}

/* The domain a device's power is shown from: instant, else derived from
 * its counter, else its own average; -1 if none is sampled. */
static int power_domain(joule_sampler *s, int dev)
{
    static const int order[] = {JOULE_DOMAIN_POWER, JOULE_DOMAIN_POWER_COUNTER,
                                JOULE_DOMAIN_POWER_AVERAGE};
    for (int k = 0; k < 3; k++)
        if (joule_sampler_has(s, dev, order[k]))
            return order[k];
    return -1;
}

/* How far back counter-derived power is looked for: a counter step is only
 * known once the counter has changed again, so the step in force "now" is
 * never complete; the latest complete one is. A few counter periods or
 * sampler ticks, whichever is longer, and at least 250 ms. */
static double counter_lookback_s(joule_ctx *ctx, int dev, double sample_ms)
{
    double period_s = joule_device_update_period_us(joule_device_at(ctx, dev)) / 1e6;
    return fmax(0.25, 4 * fmax(period_s, sample_ms / 1e3));
}

static double power_now(joule_ctx *ctx, joule_sampler *s, int dev, double now, double sample_ms)
{
    int domain = power_domain(s, dev);
    if (domain == JOULE_DOMAIN_POWER_COUNTER)
        return last_value(s, dev, domain, now - counter_lookback_s(ctx, dev, sample_ms), now);
    return latest(s, dev, domain, now);
}

static void fmt_num(char *buf, size_t len, double v, int decimals)
{
    if (isnan(v))
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "%.*f", decimals, v);
}

struct totals {
    double energy_j, peak_w;
    int have_peak;
};

static void print_row(enum format fmt, joule_ctx *ctx, joule_sampler *s, int i, double now,
                      double sample_ms, double elapsed, double energy_j, const char *stamp)
{
    const joule_device *d = joule_device_at(ctx, i);
    double p = power_now(ctx, s, i, now, sample_ms);
    double avg = latest(s, i, JOULE_DOMAIN_POWER_AVERAGE, now);
    double temp = latest(s, i, JOULE_DOMAIN_TEMPERATURE, now);
    double clk = latest(s, i, JOULE_DOMAIN_SM_CLOCK, now);
    double thr = latest(s, i, JOULE_DOMAIN_THROTTLE, now);
    char throttle[256] = "";
    if (!isnan(thr))
        joule_throttle_names((uint64_t)thr, throttle, sizeof throttle);
    char sp[32], sa[32], se[32], st[32], sc[32];
    fmt_num(sp, sizeof sp, p, 2);
    fmt_num(sa, sizeof sa, avg, 2);
    fmt_num(se, sizeof se, energy_j, 3);
    fmt_num(st, sizeof st, temp, 0);
    fmt_num(sc, sizeof sc, clk, 0);
    if (fmt == FMT_TABLE) {
        printf("%9.2f  %-7s %9s %12s %11s %7s %13s  %s\n", elapsed, joule_device_label(d),
               sp[0] ? sp : "-", sa[0] ? sa : "-", se[0] ? se : "-", st[0] ? st : "-",
               sc[0] ? sc : "-", throttle[0] ? throttle : "-");
    } else if (fmt == FMT_CSV) {
        /* Several throttle reasons are joined with commas: quote them. */
        printf("%s,%.3f,%s,%s,%s,%s,%s,%s,", stamp, elapsed, joule_device_label(d), sp, sa, se,
               st, sc);
        joule_csv_write_field(stdout, throttle);
        putchar('\n');
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "timestamp", stamp);
        cJSON_AddNumberToObject(o, "elapsed_s", round(elapsed * 1e3) / 1e3);
        cJSON_AddStringToObject(o, "device", joule_device_label(d));
        const double vals[] = {p, avg, energy_j, temp, clk};
        const char *keys[] = {"power_w", "avg_power_w", "energy_j", "temp_c", "sm_clock_mhz"};
        for (int k = 0; k < 5; k++)
            if (isnan(vals[k]))
                cJSON_AddNullToObject(o, keys[k]);
            else
                cJSON_AddNumberToObject(o, keys[k], vals[k]);
        if (isnan(thr))
            cJSON_AddNullToObject(o, "throttle");
        else
            cJSON_AddStringToObject(o, "throttle", throttle);
        char *text = cJSON_PrintUnformatted(o);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(o);
    }
}

/* Energy since start, from a fresh read now: the counter where there is one
 * (its value now minus its value at start, both read by this thread, so
 * start and end are equally fresh), else the sampled power integrated. */
static double energy_since(joule_ctx *ctx, joule_sampler *s, int i, double start, double now,
                           double e0)
{
    if (joule_sampler_has(s, i, JOULE_DOMAIN_ENERGY)) {
        double e;
        if (isnan(e0) || joule_device_energy_j(ctx, i, &e, NULL))
            return NAN;
        return e > e0 ? e - e0 : 0.0;
    }
    double j;
    return joule_sampler_energy_j(s, i, start, now, &j) == 0 ? j : NAN;
}

static double peak_power(joule_sampler *s, int i, double start, double now)
{
    int domain = power_domain(s, i);
    int n = domain < 0 ? 0 : joule_sampler_timeline(s, i, domain, start, now, NULL, NULL, 0);
    if (n <= 0)
        return NAN;
    double *v = malloc(sizeof *v * (size_t)n), peak = NAN;
    if (v && joule_sampler_timeline(s, i, domain, start, now, NULL, v, n) == n)
        for (int j = 0; j < n; j++)
            if (isnan(peak) || v[j] > peak)
                peak = v[j];
    free(v);
    return peak;
}

struct device_tick {
    enum format fmt;
    joule_ctx *ctx;
    joule_sampler *s;
    int n;
    double sample_ms, start;
    const double *e0;
};

/* One row per device; 1 when stdout is full or closed (fflush says why). */
static int device_tick(void *arg, double t)
{
    (void)t; /* the rows show when they were read, not when they were due */
    const struct device_tick *d = arg;
    double now = joule_now_s(), elapsed = now - d->start;
    char stamp[64];
    cli_wall_timestamp(stamp, sizeof stamp);
    for (int i = 0; i < d->n; i++)
        print_row(d->fmt, d->ctx, d->s, i, now, d->sample_ms, elapsed,
                  energy_since(d->ctx, d->s, i, d->start, now, d->e0[i]), stamp);
    return cli_close_output("monitor", stdout, "-") ? 1 : 0;
}

int cmd_monitor(int argc, char **argv)
{
    static const struct option opts[] = {
        {"interval", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'f'},
        {"duration", required_argument, NULL, 't'},
        {"devices", required_argument, NULL, 'd'},
        {"daemon", required_argument, NULL, 'D'},
        {"token-file", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    double interval_ms = 1000, duration = 0;
    enum format fmt = FMT_TABLE;
    const char *spec = NULL, *daemons = NULL, *token_file = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:f:t:d:D:T:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            /* below 1 ms no device can serve readings */
            if (cli_parse_duration("monitor", "--interval", optarg, 1e-3, 1e-3, 60,
                                   &interval_ms))
                return 2;
            interval_ms *= 1e3;
            break;
        case 'f':
            if (!strcmp(optarg, "table")) fmt = FMT_TABLE;
            else if (!strcmp(optarg, "csv")) fmt = FMT_CSV;
            else if (!strcmp(optarg, "jsonl")) fmt = FMT_JSONL;
            else {
                fprintf(stderr, "joule monitor: --format '%s': use table, csv or jsonl\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (cli_parse_duration("monitor", "--duration", optarg, 1, 1e-3, 365 * 86400.0, &duration))
                return 2;
            break;
        case 'd': spec = optarg; break;
        case 'D': daemons = optarg; break;
        case 'T': token_file = optarg; break;
        case 'h': monitor_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule monitor: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (token_file && !daemons) {
        fprintf(stderr, "joule monitor: --token-file goes with --daemon\n");
        return 2;
    }
    if (daemons && spec) {
        fprintf(stderr, "joule monitor: --devices picks local devices; --daemon shows every "
                        "device each jouled serves\n");
        return 2;
    }
    if (daemons)
        return monitor_cluster(daemons, token_file, interval_ms, duration,
                               fmt == FMT_CSV ? MON_CSV : fmt == FMT_JSONL ? MON_JSONL : MON_TABLE);
    joule_ctx *ctx = cli_open("monitor", spec, 0);
    if (!ctx)
        return 1;
    joule_sampler *s;
    /* Sample 4x finer than we print so each row shows fresh readings. */
    double sample_ms = fmin(fmax(interval_ms / 4, 1), 1000);
    if (joule_sampler_create(ctx, sample_ms, fmax(duration, 0) + 3600, &s) ||
        joule_sampler_start(s)) {
        fprintf(stderr, "joule monitor: %s\n", joule_last_error());
        joule_close(ctx);
        return 1;
    }
    int n = joule_device_count(ctx);
    cli_warn_coarse_sources("monitor", ctx, s, interval_ms);
    cli_signals_forward(); /* no child: Ctrl-C only sets cli_interrupted */

    /* Start, every row and the end read each counter afresh (the sampler's
     * latest stored sample can be a tick and a counter period old), and
     * average power is that energy over the same elapsed time. */
    struct timespec origin;
    clock_gettime(CLOCK_MONOTONIC, &origin);
    double start = (double)origin.tv_sec + origin.tv_nsec / 1e9;
    double *e0 = calloc(n > 0 ? (size_t)n : 1, sizeof *e0);
    double *e1 = calloc(n > 0 ? (size_t)n : 1, sizeof *e1);
    if (!e0 || !e1) {
        fprintf(stderr, "joule monitor: out of memory\n");
        free(e0);
        free(e1);
        joule_sampler_destroy(s);
        joule_close(ctx);
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (joule_sampler_has(s, i, JOULE_DOMAIN_ENERGY) &&
            joule_device_energy_j(ctx, i, &e0[i], NULL))
            e0[i] = NAN;
    if (fmt == FMT_TABLE)
        printf("# joule monitor: every %g ms (Ctrl-C to stop)\n# %7s  %-7s %9s %12s %11s %7s "
               "%13s  %s\n", interval_ms, "time_s", "device", "power_w", "avg_power_w",
               "energy_j", "temp_c", "sm_clock_mhz", "throttle");
    else if (fmt == FMT_CSV)
        printf("timestamp,elapsed_s,device,power_w,avg_power_w,energy_j,temp_c,sm_clock_mhz,"
               "throttle\n");
    fflush(stdout);

    struct device_tick dt = {fmt, ctx, s, n, sample_ms, start, e0};
    int write_failed = cli_every(&origin, interval_ms, duration, &cli_interrupted, device_tick,
                                 &dt);
    double end = joule_now_s(), elapsed = end - start;
    for (int i = 0; i < n; i++) /* fresh, like e0 */
        e1[i] = energy_since(ctx, s, i, start, end, e0[i]);
    joule_sampler_stop(s);
    /* the totals follow the table; beside csv and jsonl they go to stderr */
    FILE *out = fmt == FMT_TABLE ? stdout : stderr;
    for (int i = 0; i < n && !(write_failed && out == stdout); i++) {
        double e = e1[i], peak = peak_power(s, i, start, end);
        if (i == 0)
            fprintf(out, "\n# totals over %.3f s\n# %-7s %12s %12s %12s\n", elapsed, "device",
                    "energy_j", "avg_power_w", "peak_power_w");
        fprintf(out, "# %-7s %12.3f %12.2f %12.2f\n", joule_device_label(joule_device_at(ctx, i)),
                e, elapsed > 0 ? e / elapsed : 0.0, peak);
    }
    fflush(out);
    free(e0);
    free(e1);
    joule_sampler_destroy(s);
    joule_close(ctx);
    return write_failed;
}
