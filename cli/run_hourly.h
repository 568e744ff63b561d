/* `joule run --carbon/--price`: the energy of each run split at UTC hour
 * boundaries. A thread reads every device's cumulative energy at each
 * boundary; each run's parts are scaled to sum to its window's energy (the
 * window's edges are the more precise), as the Python monitors do. */
#ifndef JOULE_CLI_RUN_HOURLY_H
#define JOULE_CLI_RUN_HOURLY_H

#include <pthread.h>

#include <joule/joule.h>

#include "hourly_report.h"

struct run_hourly {
    joule_ctx *ctx;
    int ndev, runs;
    const char **labels;          /* [ndev] */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop, started, inited, finished;
    double *bt, *bcum;            /* boundary readings: [nb], [nb][ndev] */
    int nb, bcap;
    double t0, *cum0;             /* the open run's first reading */
    struct hourly_table *per_run; /* [runs] */
    struct hourly_table total;    /* the sum over runs */
};

/* 0, or 1 after printing why. */
int run_hourly_start(struct run_hourly *h, joule_ctx *ctx, int runs);
/* Around each run (r = 0, 1, ...); energy_j[ndev] is its window's (NAN:
 * that device failed). */
void run_hourly_begin(struct run_hourly *h);
void run_hourly_end(struct run_hourly *h, int r, const double *energy_j);
/* Stops the thread and sums the runs into h->total. */
void run_hourly_finish(struct run_hourly *h);
void run_hourly_free(struct run_hourly *h);

#endif
