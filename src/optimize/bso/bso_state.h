/* A batch-size job as JSON (joule_bso_state_json, jouled's GET
 * /v1/bso/jobs/{job}) and back (what a client of jouled reads). */
#ifndef JOULE_BSO_STATE_H
#define JOULE_BSO_STATE_H

#include "optimize/bso/bso_job.h"

/* malloc'd text, NULL when out of memory. */
char *bso_state_json(const struct bso_job *j);
/* Fills j's spec and trials (and best_bs) from the text; j->policy stays
 * NULL. */
int bso_state_parse(const char *json, struct bso_job *j, int *best_bs);

#endif
