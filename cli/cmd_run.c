/* joule run: like `perf stat`, run a command and report time and energy
 * per device. Signals sent to joule are passed on to the command, and
 * joule exits with the command's status (128+signal if it was killed). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include <joule/trace.h>
#include "child.h"
#include "common.h"
#include "run_trace.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: joule run [--devices SPEC] [-r N] [--json|--csv] [-o FILE]\n"
            "                 [--trace FILE [--interval MS]] [--] CMD [ARGS...]\n\n"
            "Run CMD and report elapsed time, energy per device with totals, and average\n"
            "power, like `perf stat`. Device energy is whole-device: it includes every\n"
            "process using the device, not only CMD. SIGINT and SIGTERM sent to joule are\n"
            "passed to CMD; joule exits with CMD's status (128+N if CMD died of signal N).\n\n"
            "  -d, --devices SPEC  devices to measure (default: $JOULE_DEVICES or all),\n"
            "                      e.g. gpu:0,1  cpu  sim:2:h100  gpu+cpu\n"
            "  -r, --repeat N      run CMD N times; print mean and stddev\n"
            "  -j, --json          print the report as JSON\n"
            "      --csv           print one CSV row per run and device\n"
            "  -o, --output FILE   write the report to FILE ('-': stdout; default: stderr)\n"
            "  -t, --trace FILE    also save the power timeline of the run (for `joule plot`\n"
            "                      and `joule analyze`), with the windows CMD measured\n"
            "  -i, --interval MS   trace sampling interval, 1 to 1000 ms (default 100)\n"
            "  -h, --help          this help\n");
}

struct run_stats {
    int runs, ndev;
    double *time_s;   /* [runs] */
    double *energy;   /* [runs][ndev] */
    double *bound;    /* [runs][ndev]: each result's uncertainty */
    int *quality;     /* worst per device */
    int *status;      /* first error per device */
    char (*error)[256];
};

static void command_text(char **argv, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; argv[i]; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
    }
}

/* The sum over a kind (kind < 0: GPU + CPU + DRAM) of energies, or of
 * their uncertainties (values = st->bound). */
static double kind_total(joule_ctx *ctx, const struct run_stats *st, const double *values,
                         int run, int kind)
{
    double s = 0;
    for (int i = 0; i < st->ndev; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        double e = values[run * st->ndev + i];
        if ((kind < 0 ? (joule_device_kind(d) <= JOULE_KIND_DRAM)
                      : (int)joule_device_kind(d) == kind) && !isnan(e))
            s += e;
    }
    return s;
}

static const char *const quality_suffix[] = {"", " (approx)", " (below resolution: estimated)", ""};

/* "0.412 J" with as many digits as the bound is worth (one static
 * buffer per call site is not needed: callers print it at once). */
static const char *bound_text(double j)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "%.*f J", j < 1 ? 3 : j < 100 ? 2 : 1, j);
    return buf;
}

static void print_text(FILE *out, joule_ctx *ctx, const struct run_stats *st, char **argv)
{
    char cmd[1024];
    command_text(argv, cmd, sizeof cmd);
    int n = st->runs;
    fprintf(out, "\n Energy stats for '%s'", cmd);
    if (n > 1)
        fprintf(out, " (%d runs)", n);
    fprintf(out, ":\n\n");
    double t = cli_mean(st->time_s, n, 1);
    for (int i = 0; i < st->ndev; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (st->status[i]) {
            fprintf(out, "   %14s   %-9s   %10s   %-7s %s\n", "<error>", "", "",
                    joule_device_label(d), st->error[i]);
            continue;
        }
        double e = cli_mean(st->energy + i, n, st->ndev);
        fprintf(out, "   %14.3f J ± %-9s %10.2f W   %-7s %s%s", e,
                bound_text(cli_mean(st->bound + i, n, st->ndev)), t > 0 ? e / t : 0.0,
                joule_device_label(d), joule_device_name(d), quality_suffix[st->quality[i]]);
        if (n > 1 && e > 0)
            fprintf(out, "  ( +- %.2f%% )", 100.0 * cli_stddev(st->energy + i, n, st->ndev) / e);
        fputc('\n', out);
    }
    static const struct { int kind; const char *label; } totals[] = {
        {JOULE_KIND_GPU, "gpu"}, {JOULE_KIND_CPU_PACKAGE, "cpu"}, {JOULE_KIND_DRAM, "dram"},
    };
    double *tot = calloc((size_t)n, sizeof *tot);
    int kinds_present = 0;
    for (size_t k = 0; k < sizeof totals / sizeof totals[0]; k++) {
        int count = 0, failed = 0;
        for (int i = 0; i < st->ndev; i++)
            if ((int)joule_device_kind(joule_device_at(ctx, i)) == totals[k].kind) {
                count++;
                failed += st->status[i] != 0;
            }
        if (!count)
            continue;
        kinds_present++;
        for (int r = 0; r < n; r++)
            tot[r] = kind_total(ctx, st, st->energy, r, totals[k].kind);
        if (count > 1) {
            double e = cli_mean(tot, n, 1);
            for (int r = 0; r < n; r++)
                tot[r] = kind_total(ctx, st, st->bound, r, totals[k].kind);
            fprintf(out, "   %14.3f J ± %-9s %10.2f W   %-7s total of %d", e,
                    bound_text(cli_mean(tot, n, 1)), t > 0 ? e / t : 0.0, totals[k].label,
                    count - failed);
            if (failed)
                fprintf(out, " (%d failed, not counted)", failed);
            fputc('\n', out);
        }
    }
    if (kinds_present > 1) {
        for (int r = 0; r < n; r++)
            tot[r] = kind_total(ctx, st, st->energy, r, -1);
        double e = cli_mean(tot, n, 1);
        for (int r = 0; r < n; r++)
            tot[r] = kind_total(ctx, st, st->bound, r, -1);
        fprintf(out, "   %14.3f J ± %-9s %10.2f W   %-7s gpu + cpu + dram\n", e,
                bound_text(cli_mean(tot, n, 1)), t > 0 ? e / t : 0.0, "all");
    }
    free(tot);
    fprintf(out, "\n   %14.6f seconds time elapsed", t);
    if (n > 1)
        fprintf(out, "  ( +- %.2f%% )", t > 0 ? 100.0 * cli_stddev(st->time_s, n, 1) / t : 0.0);
    fprintf(out, "\n\n Energy is whole-device: it counts everything that ran on these devices "
                 "during the command, not only the command.\n");
    if (cli_has_simulated(ctx))
        fprintf(out, " Simulated GPUs (sim backend) follow joule's power model, not real hardware.\n");
}

static void print_json(FILE *out, joule_ctx *ctx, const struct run_stats *st, char **argv,
                       int exit_status)
{
    int n = st->runs;
    cJSON *root = cJSON_CreateObject();
    cJSON *cmd = cJSON_AddArrayToObject(root, "command");
    for (int i = 0; argv[i]; i++)
        cJSON_AddItemToArray(cmd, cJSON_CreateString(argv[i]));
    cJSON_AddNumberToObject(root, "runs", n);
    cJSON_AddNumberToObject(root, "exit_status", exit_status);
    double t = cli_mean(st->time_s, n, 1);
    cJSON_AddNumberToObject(root, "time_s", t);
    cJSON_AddNumberToObject(root, "time_s_stddev", cli_stddev(st->time_s, n, 1));
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < st->ndev; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        cJSON *o = cli_device_json(devs, d);
        if (st->status[i]) {
            cJSON_AddNullToObject(o, "energy_j");
            cJSON_AddStringToObject(o, "quality", "error");
            cJSON_AddStringToObject(o, "error", st->error[i]);
            continue;
        }
        double e = cli_mean(st->energy + i, n, st->ndev);
        cJSON_AddNumberToObject(o, "energy_j", e);
        cJSON_AddNumberToObject(o, "energy_uncertainty_j", cli_mean(st->bound + i, n, st->ndev));
        cJSON_AddNumberToObject(o, "energy_j_stddev", cli_stddev(st->energy + i, n, st->ndev));
        cJSON_AddNumberToObject(o, "avg_power_w", t > 0 ? e / t : 0.0);
        cJSON_AddStringToObject(o, "quality", joule_quality_name(st->quality[i]));
    }
    cJSON *totals = cJSON_AddObjectToObject(root, "total_energy_j");
    cJSON *bounds = cJSON_AddObjectToObject(root, "total_energy_uncertainty_j");
    double *tot = calloc((size_t)n, sizeof *tot);
    static const int kinds[] = {JOULE_KIND_GPU, JOULE_KIND_CPU_PACKAGE, JOULE_KIND_DRAM,
                                JOULE_KIND_PSYS, -1};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *name = kinds[k] < 0 ? "all" : joule_kind_name(kinds[k]);
        for (int r = 0; r < n; r++)
            tot[r] = kind_total(ctx, st, st->energy, r, kinds[k]);
        cJSON_AddNumberToObject(totals, name, cli_mean(tot, n, 1));
        for (int r = 0; r < n; r++)
            tot[r] = kind_total(ctx, st, st->bound, r, kinds[k]);
        cJSON_AddNumberToObject(bounds, name, cli_mean(tot, n, 1));
    }
    free(tot);
    cJSON *per_run = cJSON_AddArrayToObject(root, "per_run");
    for (int r = 0; r < n; r++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(per_run, o);
        cJSON_AddNumberToObject(o, "time_s", st->time_s[r]);
        cJSON *e = cJSON_AddObjectToObject(o, "energy_j");
        cJSON *u = cJSON_AddObjectToObject(o, "energy_uncertainty_j");
        for (int i = 0; i < st->ndev; i++) {
            double v = st->energy[r * st->ndev + i], b = st->bound[r * st->ndev + i];
            const char *label = joule_device_label(joule_device_at(ctx, i));
            if (isnan(v)) {
                cJSON_AddNullToObject(e, label);
                cJSON_AddNullToObject(u, label);
            } else {
                cJSON_AddNumberToObject(e, label, v);
                cJSON_AddNumberToObject(u, label, b);
            }
        }
    }
    cJSON_AddBoolToObject(root, "whole_device", 1);
    cJSON_AddBoolToObject(root, "simulated", cli_has_simulated(ctx));
    char *text = cJSON_Print(root);
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

static void print_csv(FILE *out, joule_ctx *ctx, const struct run_stats *st)
{
    fprintf(out, "run,label,kind,name,time_s,energy_j,energy_uncertainty_j,avg_power_w,quality,"
                 "error\n");
    for (int r = 0; r < st->runs; r++)
        for (int i = 0; i < st->ndev; i++) {
            const joule_device *d = joule_device_at(ctx, i);
            double e = st->energy[r * st->ndev + i], t = st->time_s[r];
            double b = st->bound[r * st->ndev + i];
            fprintf(out, "%d,%s,%s,", r + 1, joule_device_label(d),
                    joule_kind_name(joule_device_kind(d)));
            joule_csv_write_field(out, joule_device_name(d));
            if (isnan(e)) {
                fprintf(out, ",%.6f,,,,error,", t);
                joule_csv_write_field(out, st->error[i]);
                fputc('\n', out);
            } else {
                fprintf(out, ",%.6f,%.6f,%.6f,%.6f,%s,\n", t, e, b, t > 0 ? e / t : 0.0,
                        joule_quality_name(st->quality[i]));
            }
        }
}

static int parse_repeat(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < 1 || v > 100000)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    enum { OPT_CSV = 256 };
    static const struct option opts[] = {
        {"trace", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'i'},
        {"devices", required_argument, NULL, 'd'},
        {"repeat", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, OPT_CSV},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *spec = NULL, *output = NULL, *trace = NULL;
    int repeat = 1, json = 0, csv = 0, c, have_interval = 0;
    double interval_ms = 100;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+d:r:jo:t:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case 'i': {
            char *end;
            errno = 0;
            interval_ms = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(interval_ms >= 1 && interval_ms <= 1000)) {
                fprintf(stderr, "joule run: --interval '%s': give 1 to 1000 ms (below 1 ms no "
                                "device can serve readings)\n", optarg);
                return 2;
            }
            have_interval = 1;
            break;
        }
        case 'd': spec = optarg; break;
        case 'r':
            if (parse_repeat(optarg, &repeat)) {
                fprintf(stderr, "joule run: -r '%s' is not a whole number from 1 to 100000\n", optarg);
                return 2;
            }
            break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'o': output = optarg; break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (json && csv) {
        fprintf(stderr, "joule run: choose one of --json and --csv\n");
        return 2;
    }
    if (have_interval && !trace) {
        fprintf(stderr, "joule run: --interval only applies with --trace FILE\n");
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "joule run: missing command to run (usage: joule run [OPTIONS] -- CMD [ARGS...])\n");
        return 2;
    }
    char **cmd = argv + optind;

    FILE *out = cli_open_report("run", output);
    if (!out)
        return 2;
    joule_ctx *ctx = cli_open("run", spec, 0);
    if (!ctx) {
        cli_close_output("run", out, output);
        return 1;
    }

    struct run_trace rt = {0};
    if (trace && run_trace_start(&rt, ctx, trace, interval_ms)) {
        if (rt.sampler)
            joule_sampler_destroy(rt.sampler);
        cli_close_output("run", out, output);
        joule_close(ctx);
        return 1;
    }

    cli_signals_forward();

    struct run_stats st = {0};
    st.ndev = joule_device_count(ctx);
    st.time_s = calloc((size_t)repeat, sizeof *st.time_s);
    st.energy = calloc((size_t)repeat * (size_t)(st.ndev ? st.ndev : 1), sizeof *st.energy);
    st.bound = calloc((size_t)repeat * (size_t)(st.ndev ? st.ndev : 1), sizeof *st.bound);
    st.quality = calloc((size_t)(st.ndev ? st.ndev : 1), sizeof *st.quality);
    st.status = calloc((size_t)(st.ndev ? st.ndev : 1), sizeof *st.status);
    st.error = calloc((size_t)(st.ndev ? st.ndev : 1), sizeof *st.error);
    int exit_status = 0, failed = 0;
    for (int r = 0; r < repeat && !cli_interrupted; r++) {
        joule_result *res = NULL;
        if (joule_window_begin(ctx, "joule run", JOULE_WINDOW_RESTART)) {
            fprintf(stderr, "joule run: %s\n", joule_last_error());
            failed = 1;
            break;
        }
        int exec_errno;
        int status = cli_run_child(cmd, NULL, NULL, &exec_errno);
        if (joule_window_end(ctx, "joule run", 0, &res) && !res) {
            fprintf(stderr, "joule run: %s\n", joule_last_error());
            failed = 1;
            break;
        }
        if (status < 0) {
            fprintf(stderr, "joule run: cannot run '%s': %s\n", cmd[0], strerror(exec_errno));
            exit_status = exec_errno == ENOENT ? 127 : 126;
            joule_result_free(res);
            failed = 1;
            break;
        }
        st.time_s[r] = joule_result_time_s(res);
        for (int i = 0; i < st.ndev; i++) {
            int q, s;
            double e = joule_result_energy_j(res, i, &q, &s);
            st.energy[r * st.ndev + i] = s ? NAN : e;
            st.bound[r * st.ndev + i] = s ? NAN : joule_result_uncertainty_j(res, i);
            if (q > st.quality[i])
                st.quality[i] = q;
            if (s && !st.status[i]) {
                st.status[i] = s;
                snprintf(st.error[i], sizeof st.error[i], "%s", joule_last_error());
            }
        }
        joule_result_free(res);
        st.runs = r + 1;
        exit_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        if (exit_status != 0)
            break; /* like perf stat -r: stop at the first failing run */
    }
    cli_signals_restore();
    if (trace && run_trace_finish(&rt, ctx) && exit_status == 0)
        failed = 1;

    if (st.runs > 0) {
        if (json)
            print_json(out, ctx, &st, cmd, exit_status);
        else if (csv)
            print_csv(out, ctx, &st);
        else
            print_text(out, ctx, &st, cmd);
        if (st.runs < repeat)
            fprintf(stderr, "joule run: stopped after %d of %d runs (exit status %d)\n",
                    st.runs, repeat, exit_status);
    }
    if (cli_close_output("run", out, output))
        failed = 1;
    free(st.time_s);
    free(st.energy);
    free(st.bound);
    free(st.quality);
    free(st.status);
    free(st.error);
    joule_close(ctx);
    if (failed && exit_status == 0)
        exit_status = 1;
    return exit_status;
}
