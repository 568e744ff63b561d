/* Route handlers: discovery, time, energy, power, leases, stream, and the
 * GPU control routes. Every parameter is checked; errors say what was
 * wrong and what is allowed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "core/context.h"
#include "lease.h"
#include "routes.h"

cJSON *jd_routes_json(void);

/* ---- parameter checking ---- */

/* Rejects query parameters not in allowed ("a,b"). */
static int check_query(struct jd_call *c, const char *allowed)
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

static const char *query(struct jd_call *c, const char *key)
{
    const char *v = NULL;
    for (int i = 0; i < c->req->nquery; i++)
        if (!strcmp(c->req->query[i].key, key))
            v = c->req->query[i].value;
    return v;
}

/* Parses the body as a JSON object whose keys are all in allowed. An empty
 * body is {} when empty_ok. */
static cJSON *parse_body(struct jd_call *c, const char *allowed, int empty_ok)
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
static int get_num(struct jd_call *c, const cJSON *o, const char *key, int required, double lo,
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

static int get_int(struct jd_call *c, const cJSON *o, const char *key, int required, int lo,
                   int hi, const char *unit, int *out)
{
    double x = *out;
    if (get_num(c, o, key, required, lo, hi, unit, &x))
        return -1;
    if (x != floor(x)) {
        jd_reply_error(c->resp, 400, "parameter '%s' must be an integer (%d-%d %s)", key, lo, hi,
                       unit);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int get_bool(struct jd_call *c, const cJSON *o, const char *key, int required, int *out)
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
static int parse_devices(struct jd_call *c, const char *spec, int *out, int cap)
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
static int resolve_gpu(struct jd_call *c, int *gpu)
{
    struct jd *d = c->d;
    const char *id = c->gpu_id ? c->gpu_id : "";
    const char *num = !strncmp(id, "gpu", 3) ? id + 3 : id;
    char *end;
    long k = strtol(num, &end, 10);
    int gpus = 0;
    for (int i = 0; i < joule_device_count(d->ctx); i++) {
        const joule_device *dev = joule_device_at(d->ctx, i);
        if (joule_device_kind(dev) != JOULE_KIND_GPU)
            continue;
        gpus++;
        if ((*num && !*end && end != num && joule_device_index(dev) == k) ||
            (joule_device_uuid(dev)[0] && !strcmp(joule_device_uuid(dev), id))) {
            *gpu = joule_device_index(dev);
            return 0;
        }
    }
    jd_reply_error(c->resp, 404, "no GPU '%.96s': use an index 0-%d, gpuN or a GPU UUID", id,
                   gpus - 1);
    return -1;
}

static int status_of(int rc)
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

/* ---- read routes ---- */

static cJSON *caps_json(uint32_t caps)
{
    cJSON *a = cJSON_CreateArray();
    for (int b = 0; b < 32; b++)
        if (caps & (1u << b)) {
            const char *n = joule_cap_name(1u << b);
            if (n)
                cJSON_AddItemToArray(a, cJSON_CreateString(n));
        }
    return a;
}

void route_discovery(struct jd_call *c)
{
    if (check_query(c, ""))
        return;
    struct jd *d = c->d;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "server", "jouled");
    cJSON_AddStringToObject(o, "version", joule_version());
    cJSON_AddNumberToObject(o, "api", 1);
    cJSON *devs = cJSON_AddArrayToObject(o, "devices");
    for (int i = 0; i < joule_device_count(d->ctx); i++) {
        const joule_device *dev = joule_device_at(d->ctx, i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "label", joule_device_label(dev));
        cJSON_AddStringToObject(e, "kind", joule_kind_name(joule_device_kind(dev)));
        cJSON_AddNumberToObject(e, "index", joule_device_index(dev));
        cJSON_AddStringToObject(e, "name", joule_device_name(dev));
        cJSON_AddStringToObject(e, "uuid", joule_device_uuid(dev));
        cJSON_AddStringToObject(e, "backend", joule_device_backend(dev));
        cJSON_AddItemToObject(e, "capabilities", caps_json(joule_device_caps(dev)));
        cJSON_AddNumberToObject(e, "energy_resolution_uj", joule_device_energy_resolution_uj(dev));
        cJSON_AddNumberToObject(e, "update_period_us", joule_device_update_period_us(dev));
        cJSON_AddItemToArray(devs, e);
    }
    cJSON *sc = cJSON_AddArrayToObject(o, "scopes");
    if (c->scopes & JD_SCOPE_READ)
        cJSON_AddItemToArray(sc, cJSON_CreateString("read"));
    if (c->scopes & JD_SCOPE_CONTROL)
        cJSON_AddItemToArray(sc, cJSON_CreateString("control"));
    cJSON_AddStringToObject(o, "subject", c->subject);
    cJSON_AddNumberToObject(o, "sample_interval_ms", d->cfg.sample_interval_ms);
    cJSON_AddItemToObject(o, "routes", jd_routes_json());
    jd_reply_json(c->resp, 200, o);
}

void route_time(struct jd_call *c)
{
    if (check_query(c, ""))
        return;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    double mono = joule_now_s();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "unix_s", (double)rt.tv_sec + rt.tv_nsec / 1e9);
    cJSON_AddNumberToObject(o, "monotonic_s", mono);
    jd_reply_json(c->resp, 200, o);
}

void route_energy(struct jd_call *c)
{
    if (check_query(c, "devices"))
        return;
    int devs[64];
    int n = parse_devices(c, query(c, "devices"), devs, 64);
    if (n < 0)
        return;
    struct jd *d = c->d;
    cJSON *o = cJSON_CreateObject();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    cJSON_AddNumberToObject(o, "unix_s", (double)rt.tv_sec + rt.tv_nsec / 1e9);
    cJSON_AddNumberToObject(o, "monotonic_s", joule_now_s());
    cJSON *arr = cJSON_AddArrayToObject(o, "devices");
    for (int k = 0; k < n; k++) {
        const joule_device *dev = joule_device_at(d->ctx, devs[k]);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "label", joule_device_label(dev));
        cJSON_AddStringToObject(e, "kind", joule_kind_name(joule_device_kind(dev)));
        uint64_t uj = 0;
        int64_t t = 0;
        int rc = jctx_read_energy_uj(d->ctx, devs[k], &uj, &t);
        if (rc) {
            cJSON_AddStringToObject(e, "error", joule_last_error());
        } else {
            cJSON_AddNumberToObject(e, "energy_j", (double)uj / 1e6);
            cJSON_AddNumberToObject(e, "energy_uj", (double)uj);
            cJSON_AddNumberToObject(e, "read_monotonic_s", (double)t / 1e9);
            cJSON_AddStringToObject(e, "quality",
                                    joule_device_caps(dev) & JOULE_CAP_ENERGY_COUNTER
                                        ? "exact"
                                        : "approx");
        }
        cJSON_AddItemToArray(arr, e);
    }
    jd_reply_json(c->resp, 200, o);
}

static struct jd_gpu_cache *cache_of(struct jd *d, int gpu)
{
    for (int i = 0; i < d->ngpu; i++)
        if (d->gpus[i].gpu == gpu)
            return &d->gpus[i];
    return NULL;
}

void route_power(struct jd_call *c)
{
    if (check_query(c, "devices"))
        return;
    int devs[64];
    int n = parse_devices(c, query(c, "devices"), devs, 64);
    if (n < 0)
        return;
    struct jd *d = c->d;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "devices");
    for (int k = 0; k < n; k++) {
        const joule_device *dev = joule_device_at(d->ctx, devs[k]);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "label", joule_device_label(dev));
        double w;
        if (joule_device_power_w(d->ctx, devs[k], &w) == 0)
            cJSON_AddNumberToObject(e, "power_w", w);
        else
            cJSON_AddNullToObject(e, "power_w");
        if (joule_device_kind(dev) == JOULE_KIND_GPU) {
            int g = joule_device_index(dev);
            double cur, mn, mx, def, enf;
            if (joule_gpu_get_power_limit_w(d->ctx, g, &cur, &mn, &mx, &def, &enf) == 0) {
                cJSON *pl = cJSON_AddObjectToObject(e, "power_limit");
                cJSON_AddNumberToObject(pl, "current_w", cur);
                cJSON_AddNumberToObject(pl, "min_w", mn);
                cJSON_AddNumberToObject(pl, "max_w", mx);
                cJSON_AddNumberToObject(pl, "default_w", def);
                cJSON_AddNumberToObject(pl, "enforced_w", enf);
            }
            int sm, mem;
            if (joule_gpu_clocks_mhz(d->ctx, g, &sm, &mem) == 0) {
                cJSON_AddNumberToObject(e, "sm_clock_mhz", sm);
                cJSON_AddNumberToObject(e, "memory_clock_mhz", mem);
            }
            pthread_mutex_lock(&d->cache_lock);
            struct jd_gpu_cache *gc = cache_of(d, g);
            if (gc) {
                cJSON *lc = cJSON_AddObjectToObject(e, "locked_clocks");
                cJSON_AddBoolToObject(lc, "locked", gc->lock_max_mhz > 0);
                if (gc->lock_max_mhz > 0) {
                    cJSON_AddNumberToObject(lc, "min_mhz", gc->lock_min_mhz);
                    cJSON_AddNumberToObject(lc, "max_mhz", gc->lock_max_mhz);
                }
                cJSON *ml = cJSON_AddObjectToObject(e, "locked_memory_clocks");
                cJSON_AddBoolToObject(ml, "locked", gc->mem_lock_max_mhz > 0);
                if (gc->mem_lock_max_mhz > 0) {
                    cJSON_AddNumberToObject(ml, "min_mhz", gc->mem_lock_min_mhz);
                    cJSON_AddNumberToObject(ml, "max_mhz", gc->mem_lock_max_mhz);
                }
                if (gc->persistence >= 0)
                    cJSON_AddBoolToObject(e, "persistence", gc->persistence);
            }
            pthread_mutex_unlock(&d->cache_lock);
        }
        cJSON_AddItemToArray(arr, e);
    }
    jd_reply_json(c->resp, 200, o);
}

void route_leases(struct jd_call *c)
{
    if (check_query(c, ""))
        return;
    pthread_mutex_lock(&c->d->ctl_lock);
    cJSON *arr = jd_leases_json(c->d);
    pthread_mutex_unlock(&c->d->ctl_lock);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "leases", arr);
    jd_reply_json(c->resp, 200, o);
}

void route_metrics(struct jd_call *c)
{
    if (check_query(c, ""))
        return;
    size_t len = 0;
    char *text = jd_metrics_text(c->d, &len);
    if (text) /* one bad byte in a label fails the whole scrape */
        text = jd_utf8_sanitize(text, &len);
    if (!text) {
        jd_reply_error(c->resp, 500, "out of memory");
        return;
    }
    free(c->resp->body);
    c->resp->status = 200;
    c->resp->body = text;
    c->resp->body_len = len;
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void route_stream(struct jd_call *c)
{
    if (check_query(c, "devices,interval_ms"))
        return;
    struct jd *d = c->d;
    struct jd_stream_req s = {0};
    int n = parse_devices(c, query(c, "devices"), s.devices, 64);
    if (n < 0)
        return;
    s.ndev = n;
    int lo = d->cfg.sample_interval_ms;
    s.interval_ms = lo > 100 ? lo : 100;
    const char *iv = query(c, "interval_ms");
    if (iv) {
        char *end;
        long x = strtol(iv, &end, 10);
        if (end == iv || *end || x < lo || x > 60000) {
            jd_reply_error(c->resp, 400,
                           "interval_ms = '%.32s': need an integer %d-60000 (the sampler runs "
                           "every %d ms)",
                           iv, lo, lo);
            return;
        }
        s.interval_ms = (int)x;
    }
    c->resp->status = 200;
    c->resp->is_stream = 1;
    c->resp->stream = s;
    c->resp->content_type = "text/event-stream";
}

/* ---- control routes ---- */

enum op { OP_PL_SET, OP_PL_RESET, OP_CLK_SET, OP_CLK_RESET, OP_MEM_SET, OP_MEM_RESET, OP_PERSIST };

static int owner_of(struct jd_call *c, const cJSON *body, struct jd_owner *o)
{
    struct jd *d = c->d;
    memset(o, 0, sizeof *o);
    snprintf(o->subject, sizeof o->subject, "%s", c->subject);
    int ttl = d->cfg.lease_default_ttl_s;
    if (get_int(c, body, "ttl_s", 0, 1, d->cfg.lease_max_ttl_s, "s", &ttl))
        return -1;
    if (c->req->peer.transport == JD_UNIX && !cJSON_GetObjectItemCaseSensitive(body, "ttl_s")) {
        if (!c->req->peer.has_cred || c->req->peer.pid <= 0) {
            jd_reply_error(c->resp, 400, "no peer process to tie the lease to; give ttl_s");
            return -1;
        }
        o->kind = JD_OWNER_PID;
        o->pid = c->req->peer.pid;
        return 0;
    }
    o->kind = JD_OWNER_TTL;
    o->ttl_s = ttl;
    return 0;
}

static void control(struct jd_call *c, enum op op)
{
    struct jd *d = c->d;
    if (check_query(c, ""))
        return;
    static const char *const allowed[] = {
        [OP_PL_SET] = "watts,persist,ttl_s",
        [OP_PL_RESET] = "persist,ttl_s",
        [OP_CLK_SET] = "min_mhz,max_mhz,persist,ttl_s",
        [OP_CLK_RESET] = "persist,ttl_s",
        [OP_MEM_SET] = "min_mhz,max_mhz,persist,ttl_s",
        [OP_MEM_RESET] = "persist,ttl_s",
        [OP_PERSIST] = "enabled,persist,ttl_s",
    };
    int empty_ok = op == OP_PL_RESET || op == OP_CLK_RESET || op == OP_MEM_RESET;
    cJSON *body = parse_body(c, allowed[op], empty_ok);
    if (!body)
        return;
    int gpu, persist = 0, enabled = 0, min_mhz = 0, max_mhz = 0;
    double watts = 0;
    struct jd_owner owner;
    if (resolve_gpu(c, &gpu) || get_bool(c, body, "persist", 0, &persist))
        goto out;
    /* persist: true keeps the change with no lease; ttl_s asks for a lease
     * that lapses. Both at once has no meaning: refuse rather than pick. */
    if (persist && cJSON_GetObjectItemCaseSensitive(body, "ttl_s")) {
        jd_reply_error(c->resp, 400,
                       "persist and ttl_s exclude each other: persist: true keeps the change "
                       "after the client ends, ttl_s restores it after ttl_s seconds");
        goto out;
    }
    if (owner_of(c, body, &owner))
        goto out;
    if (op == OP_PL_SET) {
        double mn = 0, mx = 1e6;
        if (joule_gpu_get_power_limit_w(d->ctx, gpu, NULL, &mn, &mx, NULL, NULL) == 0) {
            if (get_num(c, body, "watts", 1, mn, mx, "W for this GPU", &watts))
                goto out;
        } else if (get_num(c, body, "watts", 1, 1, 1e6, "W", &watts)) {
            goto out;
        }
    }
    if (op == OP_CLK_SET || op == OP_MEM_SET) {
        if (get_int(c, body, "min_mhz", 1, 1, 100000, "MHz", &min_mhz) ||
            get_int(c, body, "max_mhz", 1, 1, 100000, "MHz", &max_mhz))
            goto out;
        if (min_mhz > max_mhz) {
            jd_reply_error(c->resp, 400, "min_mhz %d exceeds max_mhz %d", min_mhz, max_mhz);
            goto out;
        }
    }
    if (op == OP_PERSIST && get_bool(c, body, "enabled", 1, &enabled))
        goto out;

    int setting = op <= OP_PL_RESET   ? JD_SET_POWER_LIMIT
                  : op <= OP_CLK_RESET ? JD_SET_CLOCKS
                  : op <= OP_MEM_RESET ? JD_SET_MEM_CLOCKS
                                       : JD_SET_PERSISTENCE;
    struct jd_value value = {.reset = op == OP_PL_RESET || op == OP_CLK_RESET ||
                                      op == OP_MEM_RESET,
                             .watts = watts,
                             .min_mhz = min_mhz,
                             .max_mhz = max_mhz,
                             .enabled = enabled};
    char why[512];
    int created = 0, rc = 0;
    pthread_mutex_lock(&d->ctl_lock);
    if (jd_lease_prepare(d, gpu, setting, &created, why, sizeof why)) {
        pthread_mutex_unlock(&d->ctl_lock);
        jd_reply_error(c->resp, 500, "gpu%d: %s; nothing was changed", gpu, why);
        goto out;
    }
    rc = jd_lease_apply(d, gpu, setting, &value);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", joule_last_error());
        if (created)
            jd_lease_abort(d, gpu, setting);
        pthread_mutex_unlock(&d->ctl_lock);
        jd_reply_error(c->resp, status_of(rc), "%s", msg);
        goto out;
    }
    if (jd_lease_commit(d, gpu, setting, &owner, &value, persist, why, sizeof why)) {
        pthread_mutex_unlock(&d->ctl_lock);
        jd_reply_error(c->resp, 500, "gpu%d: %s", gpu, why);
        goto out;
    }
    pthread_mutex_unlock(&d->ctl_lock);
    jd_log("%s: gpu%d %s changed by %s%s", c->req->method, gpu, jd_setting_name(setting),
           c->subject, persist ? " (persist)" : "");
    jd_refresh_cache(d);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "gpu", gpu);
    cJSON_AddStringToObject(o, "setting", jd_setting_name(setting));
    cJSON_AddBoolToObject(o, "persist", persist);
    if (!persist) {
        cJSON *l = cJSON_AddObjectToObject(o, "lease");
        if (owner.kind == JD_OWNER_PID) {
            cJSON_AddStringToObject(l, "kind", "process");
            cJSON_AddNumberToObject(l, "pid", owner.pid);
        } else {
            cJSON_AddStringToObject(l, "kind", "ttl");
            cJSON_AddNumberToObject(l, "ttl_s", owner.ttl_s);
        }
    }
    double cur;
    if (joule_gpu_get_power_limit_w(d->ctx, gpu, &cur, NULL, NULL, NULL, NULL) == 0)
        cJSON_AddNumberToObject(o, "power_limit_w", cur);
    jd_reply_json(c->resp, 200, o);
out:
    cJSON_Delete(body);
}

void route_power_limit_set(struct jd_call *c) { control(c, OP_PL_SET); }
void route_power_limit_reset(struct jd_call *c) { control(c, OP_PL_RESET); }
void route_clocks_set(struct jd_call *c) { control(c, OP_CLK_SET); }
void route_clocks_reset(struct jd_call *c) { control(c, OP_CLK_RESET); }
void route_mem_clocks_set(struct jd_call *c) { control(c, OP_MEM_SET); }
void route_mem_clocks_reset(struct jd_call *c) { control(c, OP_MEM_RESET); }
void route_persistence_set(struct jd_call *c) { control(c, OP_PERSIST); }

/* Puts back what the caller's leases hold, now. */
void route_restore(struct jd_call *c)
{
    if (check_query(c, ""))
        return;
    cJSON *body = parse_body(c, "gpu,ttl_s", 1);
    if (!body)
        return;
    struct jd_owner owner;
    int gpu = -1;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(body, "gpu");
    if (g) {
        /* The id as given, never cut: a cut "000...01" would name gpu 0. */
        char num[32] = "";
        if (cJSON_IsNumber(g) && g->valuedouble == floor(g->valuedouble) &&
            fabs(g->valuedouble) < 1e9)
            snprintf(num, sizeof num, "%.0f", g->valuedouble);
        c->gpu_id = cJSON_IsString(g) ? g->valuestring : num;
        if (resolve_gpu(c, &gpu)) {
            c->gpu_id = NULL;
            cJSON_Delete(body);
            return;
        }
        c->gpu_id = NULL;
    }
    if (owner_of(c, body, &owner)) {
        cJSON_Delete(body);
        return;
    }
    pthread_mutex_lock(&c->d->ctl_lock);
    int n = jd_lease_release(c->d, &owner, gpu);
    pthread_mutex_unlock(&c->d->ctl_lock);
    jd_refresh_cache(c->d);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "restored", n);
    jd_reply_json(c->resp, 200, o);
    cJSON_Delete(body);
}
