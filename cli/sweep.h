/* `joule sweep`, the CLI's side: arguments, running CMD once per setting
 * through libjoule's sweep (include/joule/sweep.h), and the report. */
#ifndef JOULE_CLI_SWEEP_H
#define JOULE_CLI_SWEEP_H

#include <stdio.h>

#include <joule/joule.h>
#include <joule/optimize.h>
#include <joule/sweep.h>

#define SWEEP_MAX_SETTINGS 1024
#define SWEEP_MAX_GPUS 64

struct sweep_args {
    int clocks;                 /* 0: power limits, 1: SM clocks */
    double knobs[SWEEP_MAX_SETTINGS]; /* highest first */
    int nset;
    const char *spec, *gpus_spec, *output, *plot;
    int repeat, json, csv, quiet;
    double cooldown, eta, fmax, sim_load;
    char **cmd;
};

/* Parses the command line. Returns -1 to go on, else the exit code (0
 * after --help, 2 for bad usage, with the message printed). */
int sweep_parse_args(int argc, char **argv, struct sweep_args *a);

struct setting {
    double knob;
    int runs;           /* successful runs */
    int window_runs;    /* CMD runs in one window (for ±1 %) */
    int failed;
    char error[256];
    double *time_s, *energy_j, *units; /* [repeat] */
    double t, e, t_sd, e_sd, u;        /* means */
};

/* What the report shows. */
struct sweep_summary {
    struct setting *st;     /* [nset] */
    int done;               /* settings reached */
    int gpus[SWEEP_MAX_GPUS], ngpus, nsim;
    int per_unit, nok;
    joule_setting_point *pts; /* measured settings: per unit or per run */
    int *pidx, np;            /* pts[i] is st[pidx[i]] */
    int base;                 /* the highest measured setting, -1 if none */
    int *front;
    joule_sweep_choices ch;
    char selerr[512];
};

/* Runs CMD per setting (sweep_run.c). Returns 0, or the exit code when
 * the sweep could not start (message printed). *restore_rc is
 * joule_restore's at the end. */
int sweep_run(joule_ctx *ctx, joule_sweep *sw, const struct sweep_args *a,
              struct sweep_summary *sum, int *restore_rc);
/* Means, spreads, points and the frontier (sweep_run.c). */
void sweep_summarize(const struct sweep_args *a, double p_max_w, struct sweep_summary *sum);
void sweep_summary_free(const struct sweep_args *a, struct sweep_summary *sum);

/* The report (sweep_report.c). */
void sweep_report_json(FILE *out, const struct sweep_args *a, const struct sweep_summary *s);
void sweep_report_csv(FILE *out, const struct sweep_args *a, const struct sweep_summary *s);
void sweep_report_text(FILE *out, const struct sweep_args *a, const struct sweep_summary *s);
/* --plot: energy vs time; 0 or -1 after printing why. */
int sweep_report_plot(const struct sweep_args *a, const struct sweep_summary *s);

#endif
