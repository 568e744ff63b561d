/* libFuzzer target: jouled's request router (make fuzz).
 *
 * Input: "METHOD PATH[?QUERY]\n" then one flags byte, then the body.
 * Flags bit 0: TCP peer (the token is the body's first line), else a
 * unix peer; bit 1: the unix peer holds no scopes (uid 4242). The daemon
 * state is built once, on two simulated GPUs, with a temporary state
 * directory. Every response must be a well-formed status with a body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "jd.h"

static struct jd *D;
static char state_dir[] = "/dev/shm/jouled-fuzz-XXXXXX";

static void setup(void)
{
    struct jd_config c;
    jd_config_defaults(&c);
    char err[1024];
    const char *conf = "devices = sim:2:h100\nscope.read = uid:0\nscope.control = uid:0\n"
                       "scope.bso = uid:0\n"
                       "sample_interval_ms = 50\nstream_max_clients = 4\n";
    if (jd_config_parse(&c, "fuzz.conf", conf, err, sizeof err) || !mkdtemp(state_dir)) {
        fprintf(stderr, "fuzz setup: %s\n", err);
        abort();
    }
    snprintf(c.state_dir, sizeof c.state_dir, "%s", state_dir);
    if (jd_create(&c, &D, err, sizeof err)) {
        fprintf(stderr, "fuzz setup: %s\n", err);
        abort();
    }
    memcpy(D->secret, "0123456789abcdef0123456789abcdef", 32);
    D->secret_len = 32;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!D)
        setup();
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t line = (size_t)(nl - data);
    char *head = malloc(line + 1);
    memcpy(head, data, line);
    head[line] = '\0';
    if (strlen(head) != line) {
        free(head);
        return 0;
    }
    size_t rest = size - line - 1;
    const uint8_t *p = nl + 1;
    unsigned flags = rest ? p[0] : 0;
    if (rest) {
        p++;
        rest--;
    }
    char *sp = strchr(head, ' ');
    const char *method = head, *path = "";
    if (sp) {
        *sp = '\0';
        path = sp + 1;
    }
    char *q = strchr(path, '?');
    struct jd_kv kv[JD_MAX_QUERY];
    char qbuf[2048];
    int nq = 0;
    if (q) {
        *q = '\0';
        nq = jd_parse_query(q + 1, qbuf, sizeof qbuf, kv, JD_MAX_QUERY);
        if (nq < 0)
            nq = 0;
    }
    struct jd_req req = {0};
    req.method = method;
    req.path = path;
    req.query = kv;
    req.nquery = nq;
    char token[512] = "";
    if (flags & 1) {
        req.peer.transport = JD_TCP;
        const uint8_t *tl = memchr(p, '\n', rest);
        size_t tlen = tl ? (size_t)(tl - p) : 0;
        if (tlen >= sizeof token)
            tlen = sizeof token - 1;
        memcpy(token, p, tlen);
        token[tlen] = '\0';
        req.peer.token = token;
        if (tl) {
            rest -= (size_t)(tl - p) + 1;
            p = tl + 1;
        }
    } else {
        req.peer.transport = JD_UNIX;
        req.peer.has_cred = 1;
        req.peer.pid = getpid();
        req.peer.uid = (flags & 2) ? 4242 : 0;
        req.peer.gid = (flags & 2) ? 4242 : 0;
    }
    req.body = (const char *)p;
    req.body_len = rest;
    struct jd_resp resp;
    jd_route(D, &req, &resp);
    if (resp.status < 100 || resp.status > 599)
        abort();
    if (!resp.is_stream && (!resp.body || strlen(resp.body) != resp.body_len))
        abort();
    jd_resp_free(&resp);
    free(head);
    return 0;
}
