/* Read route handlers: discovery, time, energy, power, leases, metrics and
 * the stream. Requests are checked by request.c; the control routes are in
 * routes_control.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "lease.h"
#include "request.h"
#include "routes.h"

cJSON *jd_routes_json(void);

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
    if (req_check_query(c, ""))
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
    if (c->scopes & JD_SCOPE_BSO)
        cJSON_AddItemToArray(sc, cJSON_CreateString("bso"));
    cJSON_AddStringToObject(o, "subject", c->subject);
    cJSON_AddNumberToObject(o, "sample_interval_ms", d->cfg.sample_interval_ms);
    cJSON_AddItemToObject(o, "routes", jd_routes_json());
    jd_reply_json(c->resp, 200, o);
}

void route_time(struct jd_call *c)
{
    if (req_check_query(c, ""))
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
    if (req_check_query(c, "devices"))
        return;
    int devs[64];
    int n = req_devices(c, req_query(c, "devices"), devs, 64);
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
        double j = 0, t = 0;
        int rc = joule_device_energy_at(d->ctx, devs[k], &j, &t);
        if (rc) {
            cJSON_AddStringToObject(e, "error", joule_last_error());
        } else {
            cJSON_AddNumberToObject(e, "energy_j", j);
            cJSON_AddNumberToObject(e, "energy_uj", round(j * 1e6));
            cJSON_AddNumberToObject(e, "read_monotonic_s", t);
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
    if (req_check_query(c, "devices"))
        return;
    int devs[64];
    int n = req_devices(c, req_query(c, "devices"), devs, 64);
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
    if (req_check_query(c, ""))
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
    if (req_check_query(c, ""))
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
    if (req_check_query(c, "devices,interval_ms"))
        return;
    struct jd *d = c->d;
    struct jd_stream_req s = {0};
    int n = req_devices(c, req_query(c, "devices"), s.devices, 64);
    if (n < 0)
        return;
    s.ndev = n;
    int lo = d->cfg.sample_interval_ms;
    s.interval_ms = lo > 100 ? lo : 100;
    const char *iv = req_query(c, "interval_ms");
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
