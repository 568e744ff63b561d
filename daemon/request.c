/* Request checking for the route handlers: query parameters, JSON bodies,
 * typed values with their ranges, device lists and the {id} GPU. Each
 * check answers the request itself (a 400 or 404 that says what was wrong
 * and what is allowed) and returns -1, so a handler only returns. */
#include "request.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Rejects query parameters not in allowed ("a,b"). */
int req_check_query(struct jd_call *c, const char *allowed)
{
    for (int i = 0; i < c->req->nquery; i++) {
        const char *k = c->req->query[i].key;
        size_t kl = strlen(k);
        int ok = 0;
        for (const char *p = allowed; *p && kl;) {
            size_t n = strcspn(p, ",");
            if (n == kl && !strncmp(p, k, n))
                ok = 1;
            p += n + (p[n] == ',');
        }
        if (!ok) {
            jd_reply_error(c->resp, 400, "unknown query parameter '%.64s' (allowed: %s)", k,
                           allowed[0] ? allowed : "none");
            return -1;
        }
    }
    return 0;
}

const char *req_query(struct jd_call *c, const char *key)
{
    const char *v = NULL;
    for (int i = 0; i < c->req->nquery; i++)
        if (!strcmp(c->req->query[i].key, key))
            v = c->req->query[i].value;
    return v;
}

/* Parses the body as a JSON object whose keys are all in allowed. An empty
 * body is {} when empty_ok. */
cJSON *req_body(struct jd_call *c, const char *allowed, int empty_ok)
{
    const struct jd_req *r = c->req;
    if (r->body_len == 0) {
        if (empty_ok)
            return cJSON_CreateObject();
        jd_reply_error(c->resp, 400, "missing JSON body (allowed keys: %s)", allowed);
        return NULL;
    }
    if (memchr(r->body, '\0', r->body_len)) {
        jd_reply_error(c->resp, 400, "body contains a NUL byte");
        return NULL;
    }
    /* cJSON stops at the end of the first value and ignores what follows
     * ({"watts":300}garbage); only JSON whitespace may follow it here.
     * (require_null_terminated cannot be used: the body is not
     * NUL-terminated, and with a length cJSON then fails every body.) */
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
    if (!o) {
        size_t at = end && end >= r->body ? (size_t)(end - r->body) : 0;
        jd_reply_error(c->resp, 400, "body is not valid JSON (error near byte %zu)", at);
        return NULL;
    }
    size_t at = end && end >= r->body ? (size_t)(end - r->body) : r->body_len;
    while (at < r->body_len && r->body[at] && strchr(" \t\r\n", r->body[at]))
        at++;
    if (at < r->body_len) {
        cJSON_Delete(o);
        jd_reply_error(c->resp, 400,
                       "body is not valid JSON (unexpected data after the JSON value at byte "
                       "%zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        jd_reply_error(c->resp, 400, "body must be a JSON object (allowed keys: %s)", allowed);
        return NULL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        size_t kl = it->string ? strlen(it->string) : 0;
        int ok = 0;
        for (const char *p = allowed; *p && kl;) {
            size_t n = strcspn(p, ",");
            if (n == kl && !strncmp(p, it->string, n))
                ok = 1;
            p += n + (p[n] == ',');
        }
        if (!ok) {
            jd_reply_error(c->resp, 400, "unknown parameter '%.64s' (allowed: %s)",
                           it->string ? it->string : "", allowed);
            cJSON_Delete(o);
            return NULL;
        }
        /* cJSON keeps every copy of a repeated key and lookups see the
         * first: which one was meant is ambiguous, so refuse. */
        for (const cJSON *prev = o->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) {
                jd_reply_error(c->resp, 400, "duplicate parameter '%.64s' in the body",
                               it->string);
                cJSON_Delete(o);
                return NULL;
            }
    }
    return o;
}

/* The shortest decimal text of x that reads back as x, so that a value
 * just outside a range is not printed as the bound itself. */
static const char *num_text(char *buf, size_t len, double x)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

/* A number in [lo, hi]; required or *out untouched. */
int req_number(struct jd_call *c, const cJSON *o, const char *key, int required, double lo,
                   double hi, const char *unit, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required)
            jd_reply_error(c->resp, 400, "missing parameter '%s' (a number, %g-%g %s)", key, lo,
                           hi, unit);
        return required ? -1 : 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        jd_reply_error(c->resp, 400, "parameter '%s' must be a number (%g-%g %s)", key, lo, hi,
                       unit);
        return -1;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char sv[32], slo[32], shi[32];
        jd_reply_error(c->resp, 400, "parameter '%s' = %s is outside %s-%s %s", key,
                       num_text(sv, sizeof sv, v->valuedouble), num_text(slo, sizeof slo, lo),
                       num_text(shi, sizeof shi, hi), unit);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int req_int(struct jd_call *c, const cJSON *o, const char *key, int required, int lo,
                   int hi, const char *unit, int *out)
{
    double x = *out;
    if (req_number(c, o, key, required, lo, hi, unit, &x))
        return -1;
    if (x != floor(x)) {
        jd_reply_error(c->resp, 400, "parameter '%s' must be an integer (%d-%d %s)", key, lo, hi,
                       unit);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int req_bool(struct jd_call *c, const cJSON *o, const char *key, int required, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required)
            jd_reply_error(c->resp, 400, "missing parameter '%s' (true or false)", key);
        return required ? -1 : 0;
    }
    if (!cJSON_IsBool(v)) {
        jd_reply_error(c->resp, 400, "parameter '%s' must be true or false", key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* The device with this label ("gpu0", "cpu1", "dram0"), or -1. */
static int device_by_label(struct jd *d, const char *label)
{
    for (int i = 0; i < joule_device_count(d->ctx); i++)
        if (!strcmp(joule_device_label(joule_device_at(d->ctx, i)), label))
            return i;
    return -1;
}

/* "gpu0,cpu0" or "all" (default) -> device indices. */
int req_devices(struct jd_call *c, const char *spec, int *out, int cap)
{
    struct jd *d = c->d;
    int n = 0;
    if (!spec || !*spec || !strcmp(spec, "all")) {
        for (int i = 0; i < joule_device_count(d->ctx) && n < cap; i++)
            out[n++] = i;
        return n;
    }
    char buf[512];
    if (strlen(spec) >= sizeof buf) {
        jd_reply_error(c->resp, 400, "devices list is too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = device_by_label(d, t);
        if (i < 0) {
            char have[512] = "";
            for (int k = 0; k < joule_device_count(d->ctx); k++) {
                size_t l = strlen(have);
                snprintf(have + l, sizeof have - l, "%s%s", k ? "," : "",
                         joule_device_label(joule_device_at(d->ctx, k)));
            }
            jd_reply_error(c->resp, 400, "unknown device '%.32s' (devices: %s)", t, have);
            return -1;
        }
        if (n >= cap) {
            jd_reply_error(c->resp, 400, "too many devices (at most %d)", cap);
            return -1;
        }
        out[n++] = i;
    }
    return n;
}

/* {id}: "0", "gpu0" or a GPU UUID -> GPU index. */
int req_gpu(struct jd_call *c, int *gpu)
{
    struct jd *d = c->d;
    const char *id = c->gpu_id ? c->gpu_id : "";
    /* One GPU, never a list: "all" and commas are not an {id}. */
    if (*id && strcmp(id, "all") && !strchr(id, ',') &&
        joule_parse_gpu_list(d->ctx, id, gpu, 1) == 1)
        return 0;
    int gpus = 0;
    for (int i = 0; i < joule_device_count(d->ctx); i++)
        gpus += joule_device_kind(joule_device_at(d->ctx, i)) == JOULE_KIND_GPU;
    jd_reply_error(c->resp, 404, "no GPU '%.96s': use an index 0-%d, gpuN or a GPU UUID", id,
                   gpus - 1);
    return -1;
}

int req_http_status(int rc)
{
    switch (rc) {
    case JOULE_EINVAL:
    case JOULE_ERANGE: return 400;
    case JOULE_ENODEV: return 404;
    case JOULE_ENOTSUP: return 409;
    case JOULE_EBUSY: return 409;
    default: return 500;
    }
}
