/* The route handlers the router dispatches to (routes.c, routes_control.c,
 * metrics.c). */
#ifndef JOULED_ROUTES_H
#define JOULED_ROUTES_H

#include <cjson/cJSON.h>

#include "jd.h"

/* What the router knows about the caller when a handler runs. */
struct jd_call {
    struct jd *d;
    const struct jd_req *req;
    struct jd_resp *resp;
    unsigned scopes;
    char subject[96];
    const char *gpu_id;        /* {id} path segment, or NULL */
};

/* Replaces every invalid UTF-8 sequence of s (len bytes, malloc'd) with
 * U+FFFD; returns s itself when it is valid, else a new string (s is
 * freed) with *len updated; NULL when out of memory (s is freed). */
char *jd_utf8_sanitize(char *s, size_t *len);
/* Response helpers: a JSON body (takes ownership of o), an error. */
void jd_reply_json(struct jd_resp *r, int status, cJSON *o);
void jd_reply_error(struct jd_resp *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void route_discovery(struct jd_call *c);
void route_time(struct jd_call *c);
void route_energy(struct jd_call *c);
void route_power(struct jd_call *c);
void route_leases(struct jd_call *c);
void route_stream(struct jd_call *c);
void route_metrics(struct jd_call *c);
void route_power_limit_set(struct jd_call *c);
void route_power_limit_reset(struct jd_call *c);
void route_clocks_set(struct jd_call *c);
void route_clocks_reset(struct jd_call *c);
void route_mem_clocks_set(struct jd_call *c);
void route_mem_clocks_reset(struct jd_call *c);
void route_persistence_set(struct jd_call *c);
void route_restore(struct jd_call *c);
void route_bso_job(struct jd_call *c);
void route_bso_state(struct jd_call *c);
void route_bso_trial(struct jd_call *c);
void route_bso_epoch(struct jd_call *c);
void route_bso_end(struct jd_call *c);

char *jd_metrics_text(struct jd *d, size_t *len);

#endif
