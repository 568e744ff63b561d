/* Checking a request's parameters (request.c). Every function that fails
 * has already answered the request with a 400 or 404 naming the problem
 * and what is allowed, and returns -1 (or NULL). */
#ifndef JOULED_REQUEST_H
#define JOULED_REQUEST_H

#include <cjson/cJSON.h>

#include "routes.h"

/* Rejects query parameters not in allowed ("a,b"; "" for none). */
int req_check_query(struct jd_call *c, const char *allowed);
/* The last value of a query parameter, or NULL. */
const char *req_query(struct jd_call *c, const char *key);
/* The body as a JSON object whose keys are all in allowed, with no key
 * twice; an empty body is {} when empty_ok. The caller deletes it. */
cJSON *req_body(struct jd_call *c, const char *allowed, int empty_ok);
/* A number (an integer; true or false) in the body: missing is an error
 * when required, else *out is left as it is. */
int req_number(struct jd_call *c, const cJSON *o, const char *key, int required, double lo,
               double hi, const char *unit, double *out);
int req_int(struct jd_call *c, const cJSON *o, const char *key, int required, int lo, int hi,
            const char *unit, int *out);
int req_bool(struct jd_call *c, const cJSON *o, const char *key, int required, int *out);
/* ?devices= ("gpu0,cpu0", or "all"/absent for every device) -> device
 * indices; returns how many. */
int req_devices(struct jd_call *c, const char *spec, int *out, int cap);
/* The {id} path segment ("0", "gpu0" or a GPU UUID) -> GPU index. */
int req_gpu(struct jd_call *c, int *gpu);
/* The HTTP status for a library error code. */
int req_http_status(int rc);

#endif
