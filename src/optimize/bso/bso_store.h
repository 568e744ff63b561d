/* Batch-size jobs and their trials in SQLite, next to the power-limit
 * profiles (docs/optimize.md). Every call is one transaction that loads
 * the job, rebuilds its optimizer from the trials, acts and writes: a
 * crash (kill -9 included) leaves the last call whole or absent, and any
 * number of processes may work on one job at once. */
#ifndef JOULE_BSO_STORE_H
#define JOULE_BSO_STORE_H

#include "optimize/bso/bso_job.h"

struct bso_store;

/* NULL path: $JOULE_DB, else the default database (as the power-limit
 * optimizer's). */
int bso_store_open(const char *path, int busy_timeout_ms, struct bso_store **out);
void bso_store_close(struct bso_store *s);

/* Creates the job, or joins it when the stored spec is the same;
 * JOULE_EEXIST names the first field that differs. */
int bso_store_join(struct bso_store *s, const struct bso_spec *spec);

/* Every operation below: lock, load the job named spec->job, rebuild,
 * mark trials whose process on this host is gone as abandoned, act,
 * write, commit. */
int bso_store_next(struct bso_store *s, const char *job, struct bso_trial *out);
int bso_store_epoch(struct bso_store *s, const char *job, int trial, int epoch, double time_s,
                    double energy_j, double metric, enum bso_verdict *verdict);
int bso_store_end(struct bso_store *s, const char *job, int trial, double time_s,
                  double energy_j, bool converged);
/* A snapshot of the job (spec, trials, rebuilt policy) for reading;
 * bso_job_free it. */
int bso_store_load(struct bso_store *s, const char *job, struct bso_job *out);

#endif
