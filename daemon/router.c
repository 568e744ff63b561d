/* The request router: method + path -> route, then authorization (deny by
 * default), then the handler. No sockets here; server.c feeds it from
 * libmicrohttpd and fuzz/ and the tests call it directly. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "routes.h"

struct route {
    const char *method;
    const char *pattern;       /* "{id}" matches one path segment */
    unsigned scope;            /* 0: anyone who may connect */
    void (*handler)(struct jd_call *c);
};

static const struct route routes[] = {
    {"GET", "/", 0, route_discovery},
    {"GET", "/v1/discovery", 0, route_discovery},
    {"GET", "/v1/time", JD_SCOPE_READ, route_time},
    {"GET", "/v1/energy", JD_SCOPE_READ, route_energy},
    {"GET", "/v1/power", JD_SCOPE_READ, route_power},
    {"GET", "/v1/leases", JD_SCOPE_READ, route_leases},
    {"GET", "/v1/stream", JD_SCOPE_READ, route_stream},
    {"GET", "/metrics", JD_SCOPE_READ, route_metrics},
    {"POST", "/v1/gpus/{id}/power_limit", JD_SCOPE_CONTROL, route_power_limit_set},
    {"DELETE", "/v1/gpus/{id}/power_limit", JD_SCOPE_CONTROL, route_power_limit_reset},
    {"POST", "/v1/gpus/{id}/clocks", JD_SCOPE_CONTROL, route_clocks_set},
    {"DELETE", "/v1/gpus/{id}/clocks", JD_SCOPE_CONTROL, route_clocks_reset},
    {"POST", "/v1/gpus/{id}/memory_clocks", JD_SCOPE_CONTROL, route_mem_clocks_set},
    {"DELETE", "/v1/gpus/{id}/memory_clocks", JD_SCOPE_CONTROL, route_mem_clocks_reset},
    {"POST", "/v1/gpus/{id}/persistence", JD_SCOPE_CONTROL, route_persistence_set},
    {"POST", "/v1/restore", JD_SCOPE_CONTROL, route_restore},
    {"POST", "/v1/bso/jobs", JD_SCOPE_BSO, route_bso_job},
    {"GET", "/v1/bso/jobs/{id}", JD_SCOPE_BSO, route_bso_state},
    {"POST", "/v1/bso/jobs/{id}/trials", JD_SCOPE_BSO, route_bso_trial},
    {"POST", "/v1/bso/jobs/{id}/epochs", JD_SCOPE_BSO, route_bso_epoch},
    {"POST", "/v1/bso/jobs/{id}/end", JD_SCOPE_BSO, route_bso_end},
};
#define NROUTES (sizeof routes / sizeof routes[0])

void jd_resp_free(struct jd_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlongs, surrogates or code points past U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || s[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

char *jd_utf8_sanitize(char *s, size_t *len)
{
    size_t n = *len, bad = 0;
    for (size_t i = 0, k; i < n; i += k ? k : 1)
        bad += (k = utf8_seq((const unsigned char *)s + i, n - i)) == 0;
    if (!bad)
        return s;
    char *out = malloc(n + 2 * bad + 1);
    if (!out) {
        free(s);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    free(s);
    *len = o;
    return out;
}

void jd_reply_json(struct jd_resp *r, int status, cJSON *o)
{
    free(r->body);
    r->status = status;
    r->content_type = "application/json";
    r->body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    /* cJSON copies bytes as they are: a device name or an echoed request
     * byte that is not UTF-8 would make the whole body invalid JSON. */
    r->body_len = r->body ? strlen(r->body) : 0;
    if (r->body)
        r->body = jd_utf8_sanitize(r->body, &r->body_len);
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"error\":\"out of memory\"}");
        r->body_len = r->body ? strlen(r->body) : 0;
    }
}

void jd_reply_error(struct jd_resp *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddNumberToObject(o, "status", status);
    jd_reply_json(r, status, o);
}

/* Matches path against pattern; *id gets the {id} segment (in idbuf). */
static int match(const char *pattern, const char *path, char *idbuf, size_t idlen, int *has_id)
{
    *has_id = 0;
    while (*pattern && *path) {
        if (!strncmp(pattern, "{id}", 4)) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= idlen)
                return 0;
            memcpy(idbuf, path, n);
            idbuf[n] = '\0';
            *has_id = 1;
            path += n;
            pattern += 4;
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return !*pattern && !*path;
}

static const char *scope_name(unsigned s)
{
    return s == JD_SCOPE_CONTROL ? "control"
           : s == JD_SCOPE_READ  ? "read"
           : s == JD_SCOPE_BSO   ? "bso"
                                 : "none";
}

void jd_route(struct jd *d, const struct jd_req *req, struct jd_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    const char *method = req->method ? req->method : "";
    const char *path = req->path ? req->path : "";
    char id[128] = "";
    const struct route *found = NULL;
    char allow[64] = "";
    for (size_t i = 0; i < NROUTES; i++) {
        int has_id;
        if (!match(routes[i].pattern, path, id, sizeof id, &has_id))
            continue;
        if (!strcmp(routes[i].method, method)) {
            found = &routes[i];
            break;
        }
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", routes[i].method);
    }
    if (!found && allow[0]) {
        /* static strings for the Allow header */
        static const char *const allows[] = {"GET", "POST", "DELETE", "POST, DELETE",
                                             "DELETE, POST"};
        for (size_t k = 0; k < sizeof allows / sizeof *allows; k++)
            if (!strcmp(allows[k], allow))
                resp->allow = allows[k];
        jd_reply_error(resp, 405, "method %.16s is not allowed on %.200s (allowed: %s)", method,
                       path, allow);
        return;
    }
    if (!found) {
        jd_reply_error(resp, 404,
                       "no route %.200s; see GET /v1/discovery for the routes", path);
        return;
    }

    struct jd_call c = {.d = d, .req = req, .resp = resp};
    enum jd_token_state ts;
    char why[256];
    c.scopes = jd_peer_scopes(d, &req->peer, c.subject, sizeof c.subject, &ts, why, sizeof why);
    if (req->peer.transport == JD_TCP && (ts == JD_TOKEN_BAD || ts == JD_TOKEN_EXPIRED)) {
        resp->auth_challenge = 1;
        jd_reply_error(resp, 401, "%s", why);
        return;
    }
    if (found->scope && !(c.scopes & found->scope)) {
        if (req->peer.transport == JD_TCP && ts == JD_TOKEN_NONE) {
            resp->auth_challenge = 1;
            jd_reply_error(resp, 401, "%s %s needs scope '%s': %s", method, path,
                           scope_name(found->scope), why);
        } else if (req->peer.transport == JD_UNIX) {
            jd_reply_error(resp, 403,
                           "%s %s needs scope '%s'; uid %u (gid %u) is not in scope.%s of "
                           "the jouled config",
                           method, found->pattern, scope_name(found->scope),
                           (unsigned)req->peer.uid, (unsigned)req->peer.gid,
                           scope_name(found->scope));
        } else {
            jd_reply_error(resp, 403, "%s %s needs scope '%s'; the token of '%s' lacks it",
                           method, found->pattern, scope_name(found->scope), c.subject);
        }
        return;
    }
    c.gpu_id = id[0] ? id : NULL;
    found->handler(&c);
    if (!resp->body && !resp->is_stream)
        jd_reply_error(resp, 500, "internal error: empty response");
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int jd_parse_query(const char *raw, char *buf, size_t buflen, struct jd_kv *kv, int cap)
{
    int n = 0;
    size_t o = 0;
    if (!raw)
        return 0;
    while (*raw) {
        if (*raw == '&') {
            raw++;
            continue;
        }
        if (n >= cap)
            return -1;
        for (int part = 0; part < 2; part++) {
            const char *start = buf + o;
            while (*raw && *raw != '&' && (part == 1 || *raw != '=')) {
                if (o + 1 >= buflen)
                    return -1;
                char ch = *raw++;
                if (ch == '+') {
                    ch = ' ';
                } else if (ch == '%' && raw[0] && raw[1] && hexval(raw[0]) >= 0 &&
                           hexval(raw[1]) >= 0) {
                    ch = (char)(hexval(raw[0]) * 16 + hexval(raw[1]));
                    raw += 2;
                }
                buf[o++] = ch;
            }
            if (o + 1 >= buflen)
                return -1;
            buf[o++] = '\0';
            if (part == 0) {
                kv[n].key = start;
                kv[n].value = "";
                if (*raw == '=')
                    raw++;
                else
                    break;
            } else {
                kv[n].value = start;
            }
        }
        n++;
    }
    return n;
}

/* The route table as JSON for discovery. */
cJSON *jd_routes_json(void);
cJSON *jd_routes_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < NROUTES; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", routes[i].method);
        cJSON_AddStringToObject(o, "path", routes[i].pattern);
        cJSON_AddStringToObject(o, "scope", scope_name(routes[i].scope));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
