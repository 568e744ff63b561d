/* --carbon, --price and --pue of `joule analyze` and `joule run`:
 * emissions (gCO2e) and cost of energy split at UTC hour boundaries. */
#ifndef JOULE_CLI_HOURLY_REPORT_H
#define JOULE_CLI_HOURLY_REPORT_H

#include <stdio.h>

#include <joule/hourly.h>

struct cJSON;

struct hourly_args {
    const char *carbon, *price; /* FILE or a number, NULL: not asked */
    double pue;                 /* 1 unless --pue */
    int pue_given;
    joule_hourly *cs, *ps;      /* loaded by hourly_args_load */
};

/* Energy per UTC hour and device. */
struct hourly_table {
    int ndev, nh, cap;
    const char **labels; /* [ndev], not owned */
    double *hours;       /* [nh] hour starts, Unix s, ascending */
    double *j;           /* [nh][ndev] */
};

/* Parses --pue's argument; -1 after printing why. */
int hourly_parse_pue(const char *command, const char *arg, double *pue);
/* Whether --carbon or --price was given. */
int hourly_wanted(const struct hourly_args *a);
/* Loads the series; 1 after printing why (file, line, column), 2 for
 * --pue without --carbon or --price. */
int hourly_args_load(const char *command, struct hourly_args *a);
void hourly_args_free(struct hourly_args *a);

int hourly_table_init(struct hourly_table *t, int ndev, const char **labels);
/* Adds j joules of device dev in the hour starting at hour. */
int hourly_table_add(struct hourly_table *t, double hour, int dev, double j);
void hourly_table_free(struct hourly_table *t);

/* Totals per device over the hours the series has (NAN without series);
 * *missing counts the hours it lacks. Any of the outputs may be NULL. */
double hourly_device_amount(const struct hourly_table *t, const joule_hourly *s, double pue,
                            int dev, int *missing);

void hourly_report_text(FILE *out, const struct hourly_table *t, const struct hourly_args *a);
/* Adds "carbon_price": {...} to root. */
void hourly_report_json(struct cJSON *root, const struct hourly_table *t,
                        const struct hourly_args *a);
/* ",EMISSIONS_G,COST,MISSING_HOURS" of device dev (empty where not asked). */
void hourly_csv_columns(FILE *out, const struct hourly_table *t, const struct hourly_args *a,
                        int dev);
/* One row per hour and device. */
void hourly_report_csv(FILE *out, const struct hourly_table *t, const struct hourly_args *a);


struct joule_trace;
/* The energy of every device of a trace with power samples, split at UTC
 * hour boundaries (labels: the trace's); 0 or a JOULE_E* code. */
int hourly_table_from_trace(struct hourly_table *t, const struct joule_trace *trace,
                            const char **labels);

#endif
