/* Control route handlers: power limits, locked clocks, persistence and
 * restore, each applied under a lease (lease.c). Requests are checked by
 * request.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "lease.h"
#include "request.h"
#include "routes.h"

enum op { OP_PL_SET, OP_PL_RESET, OP_CLK_SET, OP_CLK_RESET, OP_MEM_SET, OP_MEM_RESET, OP_PERSIST };

static int owner_of(struct jd_call *c, const cJSON *body, struct jd_owner *o)
{
    struct jd *d = c->d;
    memset(o, 0, sizeof *o);
    snprintf(o->subject, sizeof o->subject, "%s", c->subject);
    int ttl = d->cfg.lease_default_ttl_s;
    if (req_int(c, body, "ttl_s", 0, 1, d->cfg.lease_max_ttl_s, "s", &ttl))
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
    if (req_check_query(c, ""))
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
    cJSON *body = req_body(c, allowed[op], empty_ok);
    if (!body)
        return;
    int gpu, persist = 0, enabled = 0, min_mhz = 0, max_mhz = 0;
    double watts = 0;
    struct jd_owner owner;
    if (req_gpu(c, &gpu) || req_bool(c, body, "persist", 0, &persist))
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
            if (req_number(c, body, "watts", 1, mn, mx, "W for this GPU", &watts))
                goto out;
        } else if (req_number(c, body, "watts", 1, 1, 1e6, "W", &watts)) {
            goto out;
        }
    }
    if (op == OP_CLK_SET || op == OP_MEM_SET) {
        if (req_int(c, body, "min_mhz", 1, 1, 100000, "MHz", &min_mhz) ||
            req_int(c, body, "max_mhz", 1, 1, 100000, "MHz", &max_mhz))
            goto out;
        if (min_mhz > max_mhz) {
            jd_reply_error(c->resp, 400, "min_mhz %d exceeds max_mhz %d", min_mhz, max_mhz);
            goto out;
        }
    }
    if (op == OP_PERSIST && req_bool(c, body, "enabled", 1, &enabled))
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
        jd_reply_error(c->resp, req_http_status(rc), "%s", msg);
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
    if (req_check_query(c, ""))
        return;
    cJSON *body = req_body(c, "gpu,ttl_s", 1);
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
        if (req_gpu(c, &gpu)) {
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
