/* `joule bench serve`: the arguments, the measured configurations and
 * their reports (table, JSON, CSV, SVG). The procedure is libjoule's
 * (include/joule/inference.h). */
#ifndef JOULE_CLI_BENCH_SERVE_H
#define JOULE_CLI_BENCH_SERVE_H

#include <stdio.h>

#include <joule/inference.h>

#define BENCH_MAX_LIST 64
#define BENCH_MAX_GPUS 64

struct bench_args {
    const char *url, *model, *prompts, *spec, *gpus_spec;
    const char *json, *csv, *svg;
    int conc[BENCH_MAX_LIST], nconc;
    double knobs[BENCH_MAX_LIST];
    int nknob;
    int clocks;             /* knobs are SM clocks (MHz), else power limits (W) */
    int requests;           /* 0: one per prompt */
    double itl_slo_s, ttft_slo_s; /* 0: none */
    double min_steady_s, timeout_s, min_power_w, max_power_w;
    int ignore_eos;
    const char *metrics_url; /* NULL: URL/metrics */
    int no_metrics;
    int chat;               /* --api chat */
};

struct bench_point {
    double knob;            /* NAN when no setting is applied */
    joule_serve_stats st;
    int on_frontier;
    joule_serve_metrics *ms; /* the server's metrics during the run */
    int nms;
    char merr[512];         /* why scraping stopped; "" when it did not */
};

struct bench_summary {
    struct bench_point *pt;
    int np;
    int gpus[BENCH_MAX_GPUS], ngpus;
    int front[BENCH_MAX_LIST * BENCH_MAX_LIST];
    int nfront;
    int rec;                /* index of the recommendation, -1 when none */
    char rec_error[512];
    char error[1024];       /* why the benchmark stopped early; "" when it did not */
    int interrupted;
};

/* Returns -1 to go on, else the exit code (help printed: 0, bad flag: 2). */
int bench_serve_parse_args(int argc, char **argv, struct bench_args *a);
/* Fills front/rec from the points. */
void bench_serve_choose(const struct bench_args *a, struct bench_summary *s);
void bench_serve_table(FILE *f, const struct bench_args *a, const struct bench_summary *s);
int bench_serve_json(FILE *f, const struct bench_args *a, const struct bench_summary *s);
void bench_serve_csv(FILE *f, const struct bench_args *a, const struct bench_summary *s);
void bench_serve_svg(FILE *f, const struct bench_args *a, const struct bench_summary *s);

#endif
