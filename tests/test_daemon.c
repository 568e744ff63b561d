/* jouled, for real: the daemon binary runs on a temporary socket (and a
 * loopback TCP port) with the NVML double; clients are this process, or
 * children that dropped to unprivileged uids/gids before connecting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>

#include "test_daemon_harness.h"

static const char *two_gpus =
    "[{\"model\": \"h100\", \"load\": 1.0}, {\"model\": \"a100\", \"load\": 0.5}]";

/* uid 1001: read; gid 1234 (supplementary): read; uid 1002: control only;
 * 65534: nothing. */
static const char *auth_conf = "scope.read = uid:1001, gid:1234\nscope.control = uid:1002\n";

struct route_case {
    const char *method, *path, *body;
    int scope; /* 0 none, 1 read, 2 control */
};

static const struct route_case route_cases[] = {
    {"GET", "/v1/discovery", NULL, 0},
    {"GET", "/", NULL, 0},
    {"GET", "/v1/time", NULL, 1},
    {"GET", "/v1/energy", NULL, 1},
    {"GET", "/v1/power", NULL, 1},
    {"GET", "/v1/leases", NULL, 1},
    {"GET", "/metrics", NULL, 1},
    {"GET", "/v1/stream?devices=gpu0&interval_ms=100", NULL, 1},
    {"POST", "/v1/gpus/0/power_limit", "{\"watts\": 400, \"ttl_s\": 30}", 2},
    {"DELETE", "/v1/gpus/0/power_limit", "{\"ttl_s\": 30}", 2},
    {"POST", "/v1/gpus/1/clocks", "{\"min_mhz\": 900, \"max_mhz\": 1200, \"ttl_s\": 30}", 2},
    {"DELETE", "/v1/gpus/1/clocks", "{\"ttl_s\": 30}", 2},
    {"POST", "/v1/gpus/0/memory_clocks", "{\"min_mhz\": 1593, \"max_mhz\": 1593, \"ttl_s\": 30}", 2},
    {"DELETE", "/v1/gpus/0/memory_clocks", "{\"ttl_s\": 30}", 2},
    {"POST", "/v1/gpus/1/persistence", "{\"enabled\": true, \"ttl_s\": 30}", 2},
    {"POST", "/v1/restore", "{\"ttl_s\": 30}", 2},
};
#define NCASES (sizeof route_cases / sizeof route_cases[0])


/* A 200 of the stream route must really be the stream. */
static void check_stream_body(const struct route_case *rc, int st, const char *body)
{
    if (st == 200 && !strncmp(rc->path, "/v1/stream", 10) &&
        (!body || !strstr(body, "event: power\ndata: {\"t\":")))
        fail_msg("%s %s: 200 without a power event: '%s'", rc->method, rc->path,
                 body ? body : "");
}

/* Every route x every identity on the unix socket, and the uid/gid
 * mapping through SO_PEERCRED. */
static void test_auth_unix_matrix(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, auth_conf), 0);
    struct {
        uid_t uid;
        gid_t gid;
        int extra;
        unsigned scopes;
    } who[] = {
        {65534, 65534, -1, 0},
        {1001, 1001, -1, 1},
        {65533, 65533, 1234, 1}, /* read through a supplementary group */
        {1002, 1002, -1, 2},
        {0, 0, -1, 0},           /* root gets nothing it was not given */
    };
    for (size_t w = 0; w < sizeof who / sizeof who[0]; w++)
        for (size_t i = 0; i < NCASES; i++) {
            const struct route_case *rc = &route_cases[i];
            char *body = NULL;
            int st = dm_as(&m, who[w].uid, who[w].gid, who[w].extra, rc->method, rc->path,
                             rc->body, &body);
            int allowed = rc->scope == 0 || (who[w].scopes & (unsigned)rc->scope);
            if (allowed ? st != 200 : st != 403)
                fail_msg("uid %u %s %s: got %d, want %d: %s", (unsigned)who[w].uid, rc->method,
                         rc->path, st, allowed ? 200 : 403, body ? body : "");
            check_stream_body(rc, st, body);
            if (!allowed) {
                cJSON *o = cJSON_Parse(body);
                assert_non_null(o);
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
                assert_true(cJSON_IsString(e));
                assert_non_null(strstr(e->valuestring, "needs scope"));
                cJSON_Delete(o);
            }
            free(body);
        }
    /* Discovery tells each caller its own scopes. */
    char *body = NULL;
    assert_int_equal(dm_as(&m, 1001, 1001, -1, "GET", "/v1/discovery", NULL, &body), 200);
    assert_non_null(strstr(body, "\"scopes\":[\"read\"]"));
    free(body);
    assert_int_equal(dm_as(&m, 65534, 65534, -1, "GET", "/v1/discovery", NULL, &body), 200);
    assert_non_null(strstr(body, "\"scopes\":[]"));
    assert_non_null(strstr(body, "\"label\":\"gpu1\""));
    free(body);
    /* The TTL leases the control cases made are restored by a restore of
     * the same owner... each child was its own TTL owner "uid:1002 pid:N",
     * so they lapse after 30 s; nothing else to check here. */
    dm_stop(&m);
}

/* Bearer tokens over TCP: missing, forged, expired, wrong scope, valid. */
static void test_auth_tokens(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, auth_conf), 0);
    char *rd = dm_token(&m, "alice", "read", "7d");
    char *ctl = dm_token(&m, "bob", "control", "1h");
    char *both = dm_token(&m, "carol", "read,control", "1h");
    char *exp = dm_token(&m, "dave", "read,control", "1s");
    assert_non_null(rd);
    assert_non_null(ctl);
    assert_non_null(both);
    assert_non_null(exp);
    assert_true(strncmp(rd, "jt1.", 4) == 0);

    /* forged: a valid payload with another token's signature; a payload
     * edited after signing; garbage. */
    char forged1[1024], forged2[1024];
    const char *dot_rd = strrchr(rd, '.'), *dot_both = strrchr(both, '.');
    snprintf(forged1, sizeof forged1, "%.*s%s", (int)(dot_both - both), both, dot_rd);
    snprintf(forged2, sizeof forged2, "%s", rd);
    forged2[6] = forged2[6] == 'A' ? 'B' : 'A';
    const char *bad[] = {forged1, forged2, "jt1.abc.def", "not-a-token", ""};

    for (size_t i = 0; i < NCASES; i++) {
        const struct route_case *rc = &route_cases[i];
        char *body = NULL;
        /* missing token */
        int st = dm_tcp(&m, NULL, rc->method, rc->path, rc->body, &body);
        if (st != (rc->scope ? 401 : 200))
            fail_msg("no token %s %s: %d %s", rc->method, rc->path, st, body);
        if (rc->scope && !strstr(body, "needs scope"))
            fail_msg("no token %s %s: 401 without the reason: %s", rc->method, rc->path, body);
        free(body);
        for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
            st = dm_tcp(&m, bad[b], rc->method, rc->path, rc->body, &body);
            if (st != 401)
                fail_msg("bad token %zu %s %s: %d %s", b, rc->method, rc->path, st, body);
            free(body);
        }
        st = dm_tcp(&m, rd, rc->method, rc->path, rc->body, &body);
        if (st != (rc->scope == 2 ? 403 : 200))
            fail_msg("read token %s %s: %d %s", rc->method, rc->path, st, body);
        check_stream_body(rc, st, body);
        free(body);
        st = dm_tcp(&m, ctl, rc->method, rc->path, rc->body, &body);
        if (st != (rc->scope == 1 ? 403 : 200))
            fail_msg("control token %s %s: %d %s", rc->method, rc->path, st, body);
        free(body);
        st = dm_tcp(&m, both, rc->method, rc->path, rc->body, &body);
        if (st != 200)
            fail_msg("read,control token %s %s: %d %s", rc->method, rc->path, st, body);
        check_stream_body(rc, st, body);
        free(body);
    }
    /* expired */
    sleep(2);
    char *body = NULL;
    assert_int_equal(dm_tcp(&m, exp, "GET", "/metrics", NULL, &body), 401);
    assert_non_null(strstr(body, "expired"));
    free(body);
    assert_int_equal(dm_tcp(&m, forged1, "GET", "/metrics", NULL, &body), 401);
    assert_non_null(strstr(body, "signature"));
    free(body);
    free(rd);
    free(ctl);
    free(both);
    free(exp);
    dm_stop(&m);
}

/* A client killed with kill -9 gets its settings restored. */
static void test_lease_client_killed(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = all\nscope.control = uid:1002\n"), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        dm_become(1002, 1002, -1);
        int a = dm_send(&m, "POST", "/v1/gpus/0/power_limit", "{\"watts\": 350}", NULL);
        int b = dm_send(&m, "POST", "/v1/gpus/1/clocks", "{\"min_mhz\": 900, \"max_mhz\": 1005}",
                        NULL);
        int c = dm_send(&m, "POST", "/v1/gpus/1/persistence", "{\"enabled\": true}", NULL);
        char r = a == 200 && b == 200 && c == 200 ? 'y' : 'n';
        dm_write_all(p[1], &r, 1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char r = 0;
    assert_int_equal(read(p[0], &r, 1), 1);
    close(p[0]);
    if (r != 'y')
        kill(child, SIGKILL);
    assert_int_equal(r, 'y');
    assert_true(fh_state(&m.h, 0, "pl_w") == 350);
    assert_true(fh_state(&m.h, 1, "lock_max_mhz") == 1005);
    assert_true(fh_state(&m.h, 1, "persistence") == 1);
    char *body = NULL;
    assert_int_equal(dm_get(&m, "/v1/leases", &body), 200);
    assert_non_null(strstr(body, "\"setting\":\"power_limit\""));
    assert_non_null(strstr(body, "\"original_w\":700"));
    free(body);
    /* The state file holds the originals before anything happens. */
    char path[600];
    snprintf(path, sizeof path, "%s/state.json", m.state_dir);
    char *sf = ts_read(path);
    assert_non_null(sf);
    assert_non_null(strstr(sf, "\"orig_mw\":\t700000"));
    free(sf);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_true(dm_wait_state(&m, 0, "pl_w", 700, 5) == 700);
    assert_true(dm_wait_state(&m, 1, "lock_max_mhz", 0, 5) == 0);
    assert_true(dm_wait_state(&m, 1, "persistence", 0, 5) == 0);
    assert_int_equal(dm_get(&m, "/v1/leases", &body), 200);
    assert_string_equal(body, "{\"leases\":[]}");
    free(body);
    dm_stop(&m);
}

/* TTL leases lapse; persist survives the client. */
static void test_lease_ttl_and_persist(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = all\nscope.control = uid:0\n"), 0);
    char *ctl = dm_token(&m, "ci", "control", "1h");
    char *body = NULL;
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/0/power_limit",
                            "{\"watts\": 300, \"ttl_s\": 1}", &body), 200);
    assert_non_null(strstr(body, "\"kind\":\"ttl\""));
    free(body);
    assert_true(fh_state(&m.h, 0, "pl_w") == 300);
    assert_true(dm_wait_state(&m, 0, "pl_w", 700, 5) == 700);

    /* persist: the child exits, the setting stays, no lease is left */
    assert_int_equal(dm_as(&m, 0, 0, -1, "POST", "/v1/gpus/1/power_limit",
                           "{\"watts\": 250, \"persist\": true}", &body), 200);
    free(body);
    usleep(500000);
    assert_true(fh_state(&m.h, 1, "pl_w") == 250);
    assert_int_equal(dm_get(&m, "/v1/leases", &body), 200);
    assert_string_equal(body, "{\"leases\":[]}");
    free(body);
    char *log = ts_read(m.log);
    assert_non_null(strstr(log, "persist"));
    free(log);

    /* An owner's explicit restore. */
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/0/power_limit",
                            "{\"watts\": 320, \"ttl_s\": 600}", NULL), 200);
    assert_true(fh_state(&m.h, 0, "pl_w") == 320);
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/restore", "{}", &body), 200);
    assert_string_equal(body, "{\"restored\":1}");
    free(body);
    assert_true(fh_state(&m.h, 0, "pl_w") == 700);
    free(ctl);
    dm_stop(&m);
}

/* kill -9 the daemon after a change, restart it: restored. */
static void test_crash_recovery(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = all\nscope.control = all\n"), 0);
    char *ctl = dm_token(&m, "ci", "control", "1h");
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/0/power_limit",
                            "{\"watts\": 333, \"ttl_s\": 3600}", NULL), 200);
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/1/memory_clocks",
                            "{\"min_mhz\": 1215, \"max_mhz\": 1215, \"ttl_s\": 3600}", NULL), 200);
    assert_true(fh_state(&m.h, 0, "pl_w") == 333);
    assert_true(fh_state(&m.h, 1, "mem_lock_max_mhz") == 1215);
    dm_kill(&m, SIGKILL);
    /* still changed: nobody restored it */
    assert_true(fh_state(&m.h, 0, "pl_w") == 333);
    assert_int_equal(dm_spawn(&m), 0);
    assert_true(fh_state(&m.h, 0, "pl_w") == 700);
    assert_true(fh_state(&m.h, 1, "mem_lock_max_mhz") == 0);
    char *log = ts_read(m.log);
    assert_non_null(strstr(log, "crash recovery"));
    free(log);
    char path[600];
    snprintf(path, sizeof path, "%s/state.json", m.state_dir);
    char *sf = ts_read(path);
    assert_non_null(strstr(sf, "\"entries\":\t[]"));
    free(sf);
    /* A clean stop restores leased settings too. */
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/1/power_limit",
                            "{\"watts\": 200, \"ttl_s\": 3600}", NULL), 200);
    dm_kill(&m, SIGTERM);
    assert_true(fh_state(&m.h, 1, "pl_w") == 400);
    free(ctl);
    dm_stop(&m);
}

static void expect(const struct dm *m, const char *method, const char *path, const char *body,
                   int want, const char *needle)
{
    char *out = NULL;
    int st = dm_send(m, method, path, body, &out);
    if (st != want || (needle && (!out || !strstr(out, needle))))
        fail_msg("%s %s %s: got %d '%s', want %d with '%s'", method, path, body ? body : "", st,
                 out ? out : "", want, needle ? needle : "");
    free(out);
}

/* Bad input gets 4xx and the daemon keeps serving. */
static void test_malformed(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus,
                              "scope.read = all\nscope.control = all\nrequest_timeout_s = 2\n"),
                     0);
    const char *pl = "/v1/gpus/0/power_limit";
    expect(&m, "POST", pl, "{\"watts\": 300", 400, "not valid JSON");
    expect(&m, "POST", pl, "[300]", 400, "JSON object");
    expect(&m, "POST", pl, "", 400, "missing JSON body");
    expect(&m, "POST", pl, "{\"watts\": 300, \"volts\": 1}", 400, "unknown parameter 'volts'");
    expect(&m, "POST", pl, "{\"watts\": -5}", 400, "outside 200-700 W");
    expect(&m, "POST", pl, "{\"watts\": 5000}", 400, "outside 200-700 W");
    expect(&m, "POST", pl, "{\"watts\": \"300\"}", 400, "must be a number");
    expect(&m, "POST", pl, "{\"watts\": 300, \"persist\": 1}", 400, "true or false");
    expect(&m, "POST", pl, "{\"watts\": 300, \"ttl_s\": -1}", 400, "ttl_s");
    /* Exactly one JSON object: cJSON would stop after the first value and
     * ignore the rest. Only whitespace may follow (accepted further down). */
    expect(&m, "POST", pl, "{\"watts\":300}garbage", 400,
           "body is not valid JSON (unexpected data after the JSON value at byte 13)");
    expect(&m, "POST", pl, "{\"watts\":300}{\"watts\":400}", 400,
           "unexpected data after the JSON value at byte 13");
    expect(&m, "POST", pl, "{\"watts\":300} \n x", 400,
           "unexpected data after the JSON value at byte 16");
    expect(&m, "DELETE", pl, "{}]", 400, "unexpected data after the JSON value at byte 2");
    /* A repeated key is ambiguous (cJSON would use the first). */
    expect(&m, "POST", pl, "{\"watts\":300,\"watts\":400}", 400,
           "duplicate parameter 'watts' in the body");
    expect(&m, "POST", pl, "{\"watts\":300,\"persist\":false,\"persist\":true}", 400,
           "duplicate parameter 'persist'");
    /* persist (no lease) and ttl_s (a lease that lapses) contradict. */
    expect(&m, "POST", pl, "{\"watts\":300,\"persist\":true,\"ttl_s\":5}", 400,
           "persist and ttl_s exclude each other");
    expect(&m, "DELETE", pl, "{\"persist\":true,\"ttl_s\":5}", 400,
           "persist and ttl_s exclude each other");
    /* The value is printed with the digits it needs, not rounded onto the
     * bound it exceeds. */
    expect(&m, "POST", pl, "{\"watts\": 700.0000001}", 400,
           "parameter 'watts' = 700.0000001 is outside 200-700 W for this GPU");
    expect(&m, "POST", pl, "{\"watts\": 199.99}", 400,
           "parameter 'watts' = 199.99 is outside 200-700 W for this GPU");
    expect(&m, "POST", pl, "{\"watts\": 300, \"ttl_s\": 0.5}", 400,
           "parameter 'ttl_s' = 0.5 is outside 1-604800 s");
    expect(&m, "POST", "/v1/gpus/7/power_limit", "{\"watts\": 300}", 404, "no GPU '7'");
    expect(&m, "POST", "/v1/gpus/1/clocks", "{\"min_mhz\": 1400, \"max_mhz\": 900}", 400,
           "exceeds");
    expect(&m, "POST", "/v1/gpus/1/clocks", "{\"min_mhz\": 100, \"max_mhz\": 9000}", 400,
           "allowed range");
    expect(&m, "POST", "/v1/gpus/0/persistence", "{\"enabled\": \"yes\"}", 400, "true or false");
    expect(&m, "GET", pl, NULL, 405, "allowed: POST, DELETE");
    expect(&m, "PUT", "/metrics", NULL, 405, "allowed: GET");
    expect(&m, "GET", "/v2/nothing", NULL, 404, "no route");
    expect(&m, "GET", "/v1/energy?devices=gpu9", NULL, 400, "unknown device 'gpu9'");
    expect(&m, "GET", "/v1/energy?color=red", NULL, 400, "unknown query parameter 'color'");
    expect(&m, "GET", "/v1/stream?interval_ms=0", NULL, 400, "interval_ms");
    /* A 10 MB body. */
    size_t big = 10u << 20;
    char *huge = malloc(big);
    memset(huge, 'x', big);
    char *out = NULL;
    int st = dm_http(m.sock, 0, "POST", pl, NULL, huge, big, &out);
    free(huge);
    assert_int_equal(st, 413);
    assert_non_null(strstr(out, "max_body_bytes"));
    free(out);
    /* Nothing above changed the GPU. */
    expect(&m, "GET", "/v1/power?devices=gpu0", NULL, 200, "\"current_w\":700,");
    /* Trailing whitespace is fine; persist: false with ttl_s is a TTL lease. */
    expect(&m, "POST", pl, "{\"watts\": 300} \r\n\t", 200, "\"power_limit_w\":300");
    assert_true(fh_state(&m.h, 0, "pl_w") == 300);
    expect(&m, "POST", pl, "{\"watts\": 310, \"persist\": false, \"ttl_s\": 600}", 200,
           "\"kind\":\"ttl\",\"ttl_s\":600");
    assert_true(fh_state(&m.h, 0, "pl_w") == 310);
    expect(&m, "DELETE", pl, "{\"ttl_s\": 600}\n", 200, "\"power_limit_w\":700");
    /* Headers larger than the 16 KiB request head limit: 431 from the
     * gate, and the daemon keeps serving. */
    {
        size_t hl = 70000;
        char *hreq = malloc(hl + 256);
        int n = snprintf(hreq, hl + 256, "GET /v1/discovery HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(hreq + n, 'a', hl);
        memcpy(hreq + n + hl, "\r\n\r\n", 5);
        int hfd = dm_connect(m.sock, 0);
        assert_true(hfd >= 0);
        dm_write_all(hfd, hreq, strlen(hreq)); /* the server may stop reading early */
        free(hreq);
        char hb[512] = "";
        ssize_t hr = recv(hfd, hb, sizeof hb - 1, 0);
        close(hfd);
        if (hr <= 0 || strncmp(hb, "HTTP/1.1 431", 12))
            fail_msg("oversized headers: got '%s', want 431", hr > 0 ? hb : "(closed)");
    }
    expect(&m, "GET", "/v1/discovery", NULL, 200, "jouled");

    /* Slow headers (slowloris): several connections stall mid-request and
     * one dribbles a byte every 300 ms, which no inactivity timeout trips.
     * Others are served meanwhile; each slow one gets 408 at
     * request_timeout_s (2 s here). */
    int slow[8];
    for (int i = 0; i < 8; i++) {
        slow[i] = dm_connect(m.sock, 0);
        assert_true(slow[i] >= 0);
        assert_int_equal(dm_write_all(slow[i], "GET /v1/disc", 12), 0);
    }
    expect(&m, "GET", "/v1/discovery", NULL, 200, "jouled");
    int drip = dm_connect(m.sock, 0);
    double t0 = dm_now();
    const char *req = "GET /v1/discovery HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (size_t i = 0; dm_now() - t0 < 4; i++) {
        if (dm_write_all(drip, i < strlen(req) ? req + i : "a", 1))
            break; /* the server shut the connection */
        usleep(300000);
    }
    char buf[512] = "";
    ssize_t r = recv(drip, buf, sizeof buf - 1, 0);
    close(drip);
    if (r <= 0 || strncmp(buf, "HTTP/1.1 408", 12) || !strstr(buf, "request_timeout_s"))
        fail_msg("dribbling client: got '%s', want 408", r > 0 ? buf : "(closed)");
    for (int i = 0; i < 8; i++) {
        memset(buf, 0, sizeof buf);
        r = recv(slow[i], buf, sizeof buf - 1, 0);
        close(slow[i]);
        if (r <= 0 || strncmp(buf, "HTTP/1.1 408", 12))
            fail_msg("stalled client %d: got '%s', want 408", i, r > 0 ? buf : "(closed)");
    }
    assert_true(dm_now() - t0 < 10);
    /* Garbage instead of HTTP. */
    int fd = dm_connect(m.sock, 0);
    dm_write_all(fd, "\x01\x02 NOT HTTP\r\n\r\n", 16);
    memset(buf, 0, sizeof buf);
    r = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (r <= 0 || strncmp(buf, "HTTP/1.1 400", 12))
        fail_msg("garbage request: got '%s', want 400", r > 0 ? buf : "(closed)");
    expect(&m, "GET", "/v1/discovery", NULL, 200, "jouled");
    assert_true(kill(m.pid, 0) == 0);
    dm_stop(&m);
}

/* /metrics: names, HELP/TYPE, labels, values from the sampler. */
static void test_metrics(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = all\n"), 0);
    usleep(300000);
    char *body = NULL;
    assert_int_equal(dm_get(&m, "/metrics", &body), 200);
    const char *need[] = {
        "# TYPE joule_gpu_energy_joules_total counter",
        "# HELP joule_gpu_energy_joules_total ",
        "# TYPE joule_gpu_power_watts gauge",
        "# TYPE joule_gpu_power_limit_watts gauge",
        "# TYPE joule_gpu_temperature_celsius gauge",
        "# TYPE joule_gpu_sm_clock_hertz gauge",
        "# TYPE joule_gpu_throttle_active gauge",
        "# TYPE joule_cpu_energy_joules_total counter",
        "joule_gpu_power_limit_watts{gpu=\"0\",uuid=\"GPU-",
        "name=\"NVIDIA A100-SXM4-40GB (simulated)\"} 400.000",
        ",reason=\"sw_power_cap\"} ",
    };
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!strstr(body, need[i]))
            fail_msg("/metrics lacks '%s':\n%s", need[i], body);
    /* Every sample line: name{labels} value, with a known family. */
    int samples = 0;
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        samples++;
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        char *end;
        strtod(sp + 1, &end);
        assert_true(*end == '\0');
        assert_true(strncmp(line, "joule_", 6) == 0);
    }
    assert_true(samples >= 2 * 5 + 2 * 9); /* 5 gauges/counters + 9 reasons per GPU */
    free(body);
    /* A power limit set through jouled shows up. */
    assert_int_equal(dm_send(&m, "POST", "/v1/gpus/0/power_limit",
                             "{\"watts\": 450, \"persist\": true}", NULL),
                     403); /* no control scope configured */
    dm_stop(&m);
}

/* SSE: events arrive at the requested rate; a client that stops reading
 * is told how many it missed, and the daemon's memory stays bounded. */
static void test_stream(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus,
                              "scope.read = all\nstream_buffer_events = 16\n"),
                     0);
    int fd = dm_connect(m.sock, 0);
    const char *req = "GET /v1/stream?devices=gpu0,gpu1&interval_ms=20 HTTP/1.1\r\n"
                      "Host: x\r\n\r\n";
    assert_int_equal(dm_write_all(fd, req, strlen(req)), 0);
    int rcv = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    char buf[65536];
    size_t len = 0;
    double t0 = dm_now();
    while (dm_now() - t0 < 3 && len < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "id: 3\n"))
            break;
    }
    buf[len] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "text/event-stream"));
    assert_non_null(strstr(buf, "event: power\ndata: {\"t\":"));
    assert_non_null(strstr(buf, "\"gpu1\":"));
    long rss0 = dm_rss_kb(m.pid);
    /* stop reading for 3 s: at 50 events/s far more than 16 + buffers */
    sleep(3);
    int missed = 0;
    t0 = dm_now();
    while (!missed && dm_now() - t0 < 5) {
        ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
        if (r <= 0)
            break;
        buf[r] = '\0';
        char *p = strstr(buf, "event: missed\ndata: {\"missed\":");
        if (p)
            missed = atoi(p + strlen("event: missed\ndata: {\"missed\":"));
    }
    close(fd);
    assert_true(missed > 50);
    long rss1 = dm_rss_kb(m.pid);
    assert_true(rss1 - rss0 < 4096);
    dm_stop(&m);
}

/* `jouled --check-config` and start-time refusals. */
static void test_config(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char path[600];
    snprintf(path, sizeof path, "%s/ok.conf", dir);
    ts_write(dir, "ok.conf",
             "# comment\ndevices = sim:1:h100\nsocket = /tmp/x.sock\nscope.read = uid:1000, "
             "gid:100, all\nscope.control = gid:27\nsample_interval_ms = 100\n");
    char *argv[] = {(char *)DM_JOULED, "--check-config", "--config", path, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "valid"));
    free(out);
    free(err);
    const struct {
        const char *text, *needle;
    } bad[] = {
        {"devices = gpu\nbogus = 1\n", "bad.conf:2: unknown key 'bogus'"},
        {"sample_interval_ms = 0\n", "bad.conf:1: sample_interval_ms"},
        {"\n\nscope.read = uid:x\n", "bad.conf:3: scope.read"},
        {"socket_mode = 999\n", "octal"},
        {"tcp = 0.0.0.0:9464\n", "not a loopback address"},
        {"just words\n", "bad.conf:1: expected 'key = value'"},
        {"token_secret_file = /nonexistent/key\n", "/nonexistent/key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_write(dir, "bad.conf", bad[i].text);
        snprintf(path, sizeof path, "%s/bad.conf", dir);
        char *a[] = {(char *)DM_JOULED, "--check-config", "--config", path, NULL};
        out = err = NULL;
        int rc = ts_run(a, NULL, &out, &err);
        if (rc != 2 || !strstr(err, bad[i].needle))
            fail_msg("config %zu: rc %d, stderr '%s', want '%s'", i, rc, err, bad[i].needle);
        free(out);
        free(err);
    }
    ts_rmtree(dir);
    free(dir);
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define LOAD_REQUESTS 4000 /* sanitized builds are ~10x slower */
#else
#define LOAD_REQUESTS 20000
#endif

/* 16 concurrent clients, 0 errors, flat memory. */
static void test_load(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = all\n"), 0);
    const int clients = 16, per = LOAD_REQUESTS / 16;
    /* warm-up so allocator arenas of every thread exist */
    for (int i = 0; i < 200; i++)
        assert_int_equal(dm_get(&m, i % 2 ? "/metrics" : "/v1/energy", NULL), 200);
    long rss0 = dm_rss_kb(m.pid);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t kids[16];
    double t0 = dm_now();
    for (int c = 0; c < clients; c++) {
        kids[c] = fork();
        if (kids[c] == 0) {
            close(p[0]);
            int errors = 0;
            for (int i = 0; i < per; i++) {
                char *b = NULL;
                int st = dm_get(&m, (i + c) % 2 ? "/metrics" : "/v1/energy?devices=gpu0", &b);
                if (st != 200 || !b || !b[0])
                    errors++;
                free(b);
            }
            char line[32];
            int n = snprintf(line, sizeof line, "%d\n", errors);
            dm_write_all(p[1], line, (size_t)n);
            _exit(0);
        }
    }
    close(p[1]);
    int errors = 0;
    char buf[1024];
    ssize_t r;
    size_t len = 0;
    while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(p[0]);
    int lines = 0;
    for (char *s = strtok(buf, "\n"); s; s = strtok(NULL, "\n")) {
        errors += atoi(s);
        lines++;
    }
    for (int c = 0; c < clients; c++)
        waitpid(kids[c], NULL, 0);
    double dt = dm_now() - t0;
    long rss1 = dm_rss_kb(m.pid);
    print_message("load: %d requests from %d clients in %.2f s (%.0f req/s), %d errors, "
                  "daemon RSS %ld -> %ld KiB\n",
                  per * clients, clients, dt, per * clients / dt, errors, rss0, rss1);
    assert_int_equal(lines, clients);
    assert_int_equal(errors, 0);
#if !defined(__SANITIZE_ADDRESS__)
    /* (ASan's quarantine keeps freed memory resident: RSS says nothing there) */
    assert_true(rss1 - rss0 < 8192);
#endif
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_auth_unix_matrix),
        cmocka_unit_test(test_auth_tokens),
        cmocka_unit_test(test_lease_client_killed),
        cmocka_unit_test(test_lease_ttl_and_persist),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
