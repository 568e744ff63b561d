/* `joule run`'s report: a table like `perf stat`, JSON or CSV. */
#ifndef JOULE_CLI_RUN_REPORT_H
#define JOULE_CLI_RUN_REPORT_H

#include <stdio.h>

#include <joule/joule.h>

#include "hourly_report.h"

/* What the runs measured, per run and device. */
struct run_stats {
    int runs, ndev;
    double *time_s;   /* [runs] */
    double *energy;   /* [runs][ndev] */
    double *bound;    /* [runs][ndev]: each result's uncertainty */
    int *quality;     /* worst per device */
    int *status;      /* first error per device */
    char (*error)[256];
    /* --carbon/--price: energy per UTC hour of each run and of all; NULL
     * when not asked. */
    const struct hourly_table *hourly_runs, *hourly_total;
    const struct hourly_args *hourly;
};

/* argv is CMD's; exit_status is CMD's (JSON names it). */
void run_report_text(FILE *out, joule_ctx *ctx, const struct run_stats *st, char **argv);
void run_report_json(FILE *out, joule_ctx *ctx, const struct run_stats *st, char **argv,
                     int exit_status);
void run_report_csv(FILE *out, joule_ctx *ctx, const struct run_stats *st);

#endif
