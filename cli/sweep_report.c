/* `joule sweep`'s report: JSON, CSV or a table, and the --plot SVG. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "common.h"
#include "sweep.h"
#include "sweep_plot.h"

static const char *knob_key(const struct sweep_args *a)
{
    return a->clocks ? "sm_clock_mhz" : "power_limit_w";
}

void sweep_report_json(FILE *out, const struct sweep_args *a, const struct sweep_summary *sm)
{
    const char *knob_key_s = knob_key(a);
    cJSON *root = cJSON_CreateObject();
    cJSON *cmdj = cJSON_AddArrayToObject(root, "command");
    for (int i = 0; a->cmd[i]; i++)
        cJSON_AddItemToArray(cmdj, cJSON_CreateString(a->cmd[i]));
    cJSON_AddStringToObject(root, "knob", knob_key_s);
    cJSON_AddNumberToObject(root, "repeat", a->repeat);
    cJSON_AddStringToObject(root, "metric", sm->per_unit ? "per_unit" : "per_run");
    cJSON *g = cJSON_AddArrayToObject(root, "gpus");
    for (int i = 0; i < sm->ngpus; i++)
        cJSON_AddItemToArray(g, cJSON_CreateNumber(sm->gpus[i]));
    cJSON *arr = cJSON_AddArrayToObject(root, "settings");
    for (int k = 0; k < a->nset && k < sm->done; k++) {
        struct setting *s = &sm->st[k];
        cJSON *o2 = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o2);
        cJSON_AddNumberToObject(o2, knob_key_s, s->knob);
        cJSON_AddStringToObject(o2, "status", s->failed ? "failed" : "ok");
        if (s->failed) {
            cJSON_AddStringToObject(o2, "error", s->error);
            continue;
        }
        cJSON_AddNumberToObject(o2, "runs", s->runs);
        cJSON_AddNumberToObject(o2, "runs_per_window", s->window_runs);
        cJSON_AddNumberToObject(o2, "time_s", s->t);
        cJSON_AddNumberToObject(o2, "time_s_stddev", s->t_sd);
        cJSON_AddNumberToObject(o2, "energy_j", s->e);
        cJSON_AddNumberToObject(o2, "energy_j_stddev", s->e_sd);
        cJSON_AddNumberToObject(o2, "avg_power_w", s->e / s->t);
        if (s->u > 0) {
            cJSON_AddNumberToObject(o2, "work_units", s->u);
            for (int i = 0; i < sm->np; i++)
                if (sm->pidx[i] == k && sm->per_unit) {
                    cJSON_AddNumberToObject(o2, "time_s_per_unit", sm->pts[i].time_s);
                    cJSON_AddNumberToObject(o2, "energy_j_per_unit", sm->pts[i].energy_j);
                }
        }
        if (sm->base >= 0) {
            const joule_setting_point *ref = &sm->pts[sm->base];
            for (int i = 0; i < sm->np; i++)
                if (sm->pidx[i] == k) {
                    cJSON_AddNumberToObject(o2, "slowdown", sm->pts[i].time_s / ref->time_s);
                    cJSON_AddNumberToObject(o2, "saving",
                                            1.0 - sm->pts[i].energy_j / ref->energy_j);
                }
        }
    }
    cJSON *fr = cJSON_AddArrayToObject(root, "frontier");
    for (int j = 0; j < sm->ch.nfrontier; j++) {
        cJSON *o2 = cJSON_CreateObject();
        cJSON_AddNumberToObject(o2, knob_key_s, sm->pts[sm->front[j]].knob);
        cJSON_AddNumberToObject(o2, "time_s", sm->pts[sm->front[j]].time_s);
        cJSON_AddNumberToObject(o2, "energy_j", sm->pts[sm->front[j]].energy_j);
        cJSON_AddItemToArray(fr, o2);
    }
    cJSON *ch = cJSON_AddObjectToObject(root, "choices");
    for (int s = 0; s < 4; s++) {
        if (sm->ch.choice[s] < 0) {
            cJSON_AddNullToObject(ch, joule_sweep_selector_name(s));
            continue;
        }
        cJSON *o2 = cJSON_AddObjectToObject(ch, joule_sweep_selector_name(s));
        cJSON_AddNumberToObject(o2, knob_key_s, sm->pts[sm->ch.choice[s]].knob);
        cJSON_AddNumberToObject(o2, "time_s", sm->pts[sm->ch.choice[s]].time_s);
        cJSON_AddNumberToObject(o2, "energy_j", sm->pts[sm->ch.choice[s]].energy_j);
        if (s == 2)
            cJSON_AddNumberToObject(o2, "eta", a->eta);
        if (s == 3)
            cJSON_AddNumberToObject(o2, "max_slowdown", a->fmax);
    }
    if (sm->selerr[0])
        cJSON_AddStringToObject(root, "choice_error", sm->selerr);
    cJSON_AddBoolToObject(root, "interrupted", cli_interrupted != 0);
    cJSON_AddBoolToObject(root, "simulated", sm->nsim > 0);
    char *text = cJSON_Print(root);
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

void sweep_report_csv(FILE *out, const struct sweep_args *a, const struct sweep_summary *sm)
{
    const char *knob_key_s = knob_key(a);
    fprintf(out, "%s,status,runs,time_s,time_s_stddev,energy_j,energy_j_stddev,avg_power_w,"
                 "work_units,time_s_per_unit,energy_j_per_unit,slowdown,saving,frontier\n",
            knob_key_s);
    for (int k = 0; k < a->nset && k < sm->done; k++) {
        struct setting *s = &sm->st[k];
        if (s->failed) {
            fprintf(out, "%g,failed,0,,,,,,,,,,,0\n", s->knob);
            continue;
        }
        int i = 0;
        while (i < sm->np && sm->pidx[i] != k)
            i++;
        int on = 0;
        for (int j = 0; j < sm->ch.nfrontier; j++)
            on |= sm->front[j] == i;
        fprintf(out, "%g,ok,%d,%.6f,%.6f,%.6f,%.6f,%.6f,", s->knob, s->runs, s->t, s->t_sd,
                s->e, s->e_sd, s->e / s->t);
        if (sm->per_unit)
            fprintf(out, "%.9g,%.9g,%.9g,", s->u, sm->pts[i].time_s, sm->pts[i].energy_j);
        else
            fprintf(out, ",,,");
        fprintf(out, "%.6f,%.6f,%d\n", sm->pts[i].time_s / sm->pts[sm->base].time_s,
                1.0 - sm->pts[i].energy_j / sm->pts[sm->base].energy_j, on);
    }
}

void sweep_report_text(FILE *out, const struct sweep_args *a, const struct sweep_summary *sm)
{
    const char *unit = a->clocks ? "MHz" : "W";
    char cmdtext[1024] = "";
    for (int i = 0; a->cmd[i]; i++) {
        size_t used = strlen(cmdtext);
        snprintf(cmdtext + used, sizeof cmdtext - used, "%s%s", i ? " " : "", a->cmd[i]);
    }
    fprintf(out, "\n Sweep of '%s' over %s on %d GPU%s", cmdtext,
            a->clocks ? "SM clocks" : "power limits", sm->ngpus, sm->ngpus == 1 ? "" : "s");
    if (a->repeat > 1)
        fprintf(out, " (%d runs each)", a->repeat);
    fprintf(out, ":\n\n   %9s %12s %14s %10s %9s %8s",
            a->clocks ? "clock MHz" : "limit W", "time s", "energy J", "power W",
            "slowdown", "saving");
    if (sm->per_unit)
        fprintf(out, " %12s %14s", "s/unit", "J/unit");
    fputc('\n', out);
    for (int k = 0; k < a->nset && k < sm->done; k++) {
        struct setting *s = &sm->st[k];
        if (s->failed) {
            fprintf(out, "   %9g   failed: %s\n", s->knob, s->error);
            continue;
        }
        int i = 0;
        while (i < sm->np && sm->pidx[i] != k)
            i++;
        fprintf(out, "   %9g %12.4f %14.3f %10.2f %8.3fx %7.1f%%", s->knob, s->t, s->e,
                s->e / s->t, sm->pts[i].time_s / sm->pts[sm->base].time_s,
                100.0 * (1.0 - sm->pts[i].energy_j / sm->pts[sm->base].energy_j));
        if (sm->per_unit)
            fprintf(out, " %12.6g %14.6g", sm->pts[i].time_s, sm->pts[i].energy_j);
        if (a->repeat > 1 && s->t > 0 && s->e > 0)
            fprintf(out, "  (+- %.2f%% time, +- %.2f%% energy)", 100 * s->t_sd / s->t,
                    100 * s->e_sd / s->e);
        fputc('\n', out);
    }
    if (sm->ch.nfrontier > 0) {
        fprintf(out, "\n Frontier (time ascending):");
        for (int j = 0; j < sm->ch.nfrontier; j++)
            fprintf(out, " %g %s", sm->pts[sm->front[j]].knob, unit);
        fprintf(out, "\n Choices:\n");
        for (int s = 0; s < 4; s++) {
            char label[64];
            if (s == 2)
                snprintf(label, sizeof label, "cost (eta %g)", a->eta);
            else if (s == 3)
                snprintf(label, sizeof label, "slowdown (max %gx)", a->fmax);
            else
                snprintf(label, sizeof label, "%s", joule_sweep_selector_name(s));
            fprintf(out, "   %-20s %g %s\n", label, sm->pts[sm->ch.choice[s]].knob, unit);
        }
    } else {
        fprintf(out, "\n No frontier: %s\n", sm->selerr);
    }
    fprintf(out, "\n Slowdown and saving are against the highest setting measured%s.\n",
            sm->per_unit ? "; per unit of work" : "");
    if (sm->nsim)
        fprintf(out, " Simulated GPUs ran at load %g while the command ran%s.\n", a->sim_load,
                    sm->per_unit ? "; their work (epochs in trace mode) is the unit unless the "
                               "command reported its own" : "");
}

int sweep_report_plot(const struct sweep_args *a, const struct sweep_summary *sm)
{
    const char *unit = a->clocks ? "MHz" : "W";
    const char *plot = a->plot;
    int exit_code = 0;
    double *kk = calloc((size_t)sm->np, sizeof *kk), *tt = calloc((size_t)sm->np, sizeof *tt),
           *ee = calloc((size_t)sm->np, sizeof *ee);
    for (int i = 0; i < sm->np; i++) {
        kk[i] = sm->pts[i].knob;
        tt[i] = sm->pts[i].time_s;
        ee[i] = sm->pts[i].energy_j;
    }
    /* The title names the command: "joule sweep: CMD ARGS" (cut to fit). */
    char title[96];
    int len = snprintf(title, sizeof title, "joule sweep:");
    for (char **w = a->cmd; w && *w && len < (int)sizeof title; w++)
        len += snprintf(title + len, sizeof title - (size_t)len, " %s", *w);
    if (len >= (int)sizeof title)
        strcpy(title + sizeof title - 4, "...");
    FILE *pf = cli_open_output("sweep", plot);
    if (pf)
        sweep_plot_svg(pf, title, unit,
                       sm->per_unit ? "time per unit (s)" : "time (s)",
                       sm->per_unit ? "energy per unit (J)" : "energy (J)", kk, tt, ee, sm->np,
                       sm->front, sm->ch.nfrontier, sm->ch.choice[2]);
    if (!pf || cli_close_output("sweep", pf, plot))
        exit_code = 1;
    free(kk);
    free(tt);
    free(ee);
    return exit_code ? -1 : 0;
}
