/* `joule run`'s report: a table like `perf stat`, JSON or CSV. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/trace.h>

#include "common.h"
#include "run_report.h"

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

void run_report_text(FILE *out, joule_ctx *ctx, const struct run_stats *st, char **argv)
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
    if (st->hourly_total) {
        if (n > 1)
            fprintf(out, "\n The emissions and cost below are of all %d runs together.\n", n);
        hourly_report_text(out, st->hourly_total, st->hourly);
    }
}

void run_report_json(FILE *out, joule_ctx *ctx, const struct run_stats *st, char **argv,
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
    if (st->hourly_total)
        hourly_report_json(root, st->hourly_total, st->hourly); /* all runs together */
    char *text = cJSON_Print(root);
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

void run_report_csv(FILE *out, joule_ctx *ctx, const struct run_stats *st)
{
    fprintf(out, "run,label,kind,name,time_s,energy_j,energy_uncertainty_j,avg_power_w,quality,"
                 "error%s\n", st->hourly_runs ? ",emissions_g,cost,missing_hours" : "");
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
                fputs(st->hourly_runs ? ",,,\n" : "\n", out);
            } else {
                fprintf(out, ",%.6f,%.6f,%.6f,%.6f,%s,", t, e, b, t > 0 ? e / t : 0.0,
                        joule_quality_name(st->quality[i]));
                if (st->hourly_runs)
                    hourly_csv_columns(out, &st->hourly_runs[r], st->hourly, i);
                fputc('\n', out);
            }
        }
}
