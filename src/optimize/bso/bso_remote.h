/* A batch-size job served by jouled (/v1/bso/...): the same operations as
 * bso_store, over the jouled client. */
#ifndef JOULE_BSO_REMOTE_H
#define JOULE_BSO_REMOTE_H

#include <stdbool.h>

#include "optimize/bso/bso_job.h"

/* Whether $JOULE_DAEMON names a daemon (unix:PATH or tcp:HOST:PORT). */
bool bso_remote_configured(void);
int bso_remote_join(const struct bso_spec *spec);
/* The stored spec of an existing job. */
int bso_remote_spec(const char *job, struct bso_spec *out);
int bso_remote_next(const char *job, int *trial, int *bs);
int bso_remote_epoch(const char *job, int trial, int epoch, double time_s, double energy_j,
                     double metric, enum bso_verdict *verdict);
int bso_remote_end(const char *job, int trial, double time_s, double energy_j, bool converged);
/* The job as jouled returns it (bso_state.h's JSON), malloc'd. */
int bso_remote_state(const char *job, char **json);

#endif
