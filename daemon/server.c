/* libmicrohttpd glue (see server.h). The gate (gate.h) accepts every
 * connection and hands it over once its request head is complete and
 * valid; libmicrohttpd then serves that one request (Connection: close)
 * in a thread of its own. A body not fully received within
 * request_timeout_s of the accept gets 408 from the deadline watchdog. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "gate.h"
#include "routes.h"
#include "sse.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

/* Longest request line + headers the gate lets through (431 beyond). */
#define MAX_HEAD 16384

struct jd_server {
    struct jd *d;
    struct MHD_Daemon *unix_mhd, *tcp_mhd;
    struct jd_deadlines *deadlines;
    struct jd_gate *gate;
    int unix_fd, tcp_fd;
    char unix_path[256];
};

struct listener {
    struct jd_server *srv;
    enum jd_transport transport;
    struct MHD_Daemon *mhd;
};
static struct listener unix_listener, tcp_listener;

/* What a connection carries from the gate to its close. */
struct conn_ctx {
    struct jd_deadline *deadline;
    struct jd_gate_conn *gate;
};

/* Per-request state kept across the access handler's calls. */
struct pending {
    char *body;
    size_t len, cap;
    size_t received;
    int too_big;
};

struct stream_ctx {
    struct jd *d;
    struct jd_sub *sub;
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream_ctx *s = cls;
    (void)pos;
    ssize_t n = jd_sub_read(s->d, s->sub, buf, max, 1000);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == 0) {
        static const char ka[] = ": keep-alive\n\n";
        if (max < sizeof ka)
            return 0;
        memcpy(buf, ka, sizeof ka - 1);
        return (ssize_t)(sizeof ka - 1);
    }
    return n;
}

static void stream_free(void *cls)
{
    struct stream_ctx *s = cls;
    jd_sub_close(s->d, s->sub);
    free(s);
}

/* SO_PEERCRED and every supplementary group (SO_PEERGROUPS says how many
 * there are: a group past a fixed array must not be dropped). The groups
 * are malloc'd into *groups. */
static void peer_creds(struct MHD_Connection *conn, struct jd_peer *p, gid_t **groups)
{
    *groups = NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    int fd = ci->connect_fd;
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return;
    p->has_cred = 1;
    p->pid = cr.pid;
    p->uid = cr.uid;
    p->gid = cr.gid;
    len = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) != 0 && errno != ERANGE)
        return; /* a kernel without SO_PEERGROUPS: uid and gid only */
    gid_t *g = len ? malloc(len) : NULL;
    if (g && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
        p->groups = *groups = g;
        p->ngroups = (int)(len / sizeof(gid_t));
    } else {
        free(g);
    }
}

struct qcollect {
    struct jd_kv kv[JD_MAX_QUERY];
    int n, overflow;
};

static MHD_Result_t collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct qcollect *q = cls;
    (void)kind;
    if (q->n >= JD_MAX_QUERY) {
        q->overflow = 1;
        return MHD_NO;
    }
    q->kv[q->n].key = key ? key : "";
    q->kv[q->n].value = value ? value : "";
    q->n++;
    return MHD_YES;
}

static MHD_Result_t send_resp(struct MHD_Connection *conn, struct jd_resp *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        r->body_len, r->body ? r->body : (char *)"", r->body ? MHD_RESPMEM_MUST_FREE
                                                             : MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        jd_resp_free(r);
        return MHD_NO;
    }
    r->body = NULL; /* MHD owns it now */
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    /* one request per connection: each passes the gate */
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->auth_challenge)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"jouled\"");
    MHD_Result_t ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static struct jd_deadline *conn_deadline(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cc = ci ? ci->socket_context : NULL;
    return cc ? cc->deadline : NULL;
}

static MHD_Result_t handler(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
    struct listener *li = cls;
    struct jd *d = li->srv->d;
    struct pending *p = *con_cls;
    (void)version;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return MHD_NO;
        *con_cls = p; /* the gate refused a Content-Length over max_body_bytes */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        p->received += n;
        if (!p->too_big && p->len + n > (size_t)d->cfg.max_body_bytes)
            p->too_big = 1;
        if (!p->too_big) {
            if (p->len + n + 1 > p->cap) {
                size_t cap = (p->len + n + 1) * 2;
                if (cap > (size_t)d->cfg.max_body_bytes + 1)
                    cap = (size_t)d->cfg.max_body_bytes + 1;
                char *b = realloc(p->body, cap);
                if (!b)
                    return MHD_NO;
                p->body = b;
                p->cap = cap;
            }
            memcpy(p->body + p->len, upload_data, n);
            p->len += n;
        }
        *upload_data_size = 0; /* consumed (or discarded) */
        return MHD_YES;
    }

    /* The whole request is here: answer it, unless 408 went first. */
    if (jd_deadline_claim(li->srv->deadlines, conn_deadline(conn)))
        return MHD_NO;
    struct jd_resp resp;
    if (p->too_big) {
        memset(&resp, 0, sizeof resp);
        jd_reply_error(&resp, 413, "request body is larger than max_body_bytes (%d bytes)",
                       d->cfg.max_body_bytes);
        return send_resp(conn, &resp);
    }
    struct qcollect q = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    if (q.overflow) {
        memset(&resp, 0, sizeof resp);
        jd_reply_error(&resp, 400, "more than %d query parameters", JD_MAX_QUERY);
        return send_resp(conn, &resp);
    }
    struct jd_req req = {0};
    req.method = method;
    req.path = url;
    req.query = q.kv;
    req.nquery = q.n;
    req.body = p->body ? p->body : "";
    req.body_len = p->len;
    req.peer.transport = li->transport;
    gid_t *groups = NULL;
    if (li->transport == JD_UNIX) {
        peer_creds(conn, &req.peer, &groups);
    } else {
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_AUTHORIZATION);
        /* A header that is not a non-empty bearer token is a bad token. */
        req.peer.token = !auth ? "" : !strncasecmp(auth, "Bearer ", 7) && auth[7] ? auth + 7 : "?";
    }
    jd_route(d, &req, &resp);
    free(groups);
    if (!resp.is_stream)
        return send_resp(conn, &resp);

    char why[256];
    struct jd_sub *sub = jd_sub_open(d, &resp.stream, why, sizeof why);
    if (!sub) {
        jd_reply_error(&resp, 503, "%s", why);
        return send_resp(conn, &resp);
    }
    /* A small send buffer, so a client that does not read pushes back on
     * its own ring within a few events instead of the kernel's buffers. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int sz = 4096;
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    struct stream_ctx *sc = calloc(1, sizeof *sc);
    if (!sc) {
        jd_sub_close(d, sub);
        return MHD_NO;
    }
    sc->d = d;
    sc->sub = sub;
    struct MHD_Response *mr =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, sc, stream_free);
    if (!mr) {
        stream_free(sc);
        return MHD_NO;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_Result_t ret = MHD_queue_response(conn, MHD_HTTP_OK, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct listener *li = cls;
    (void)toe;
    /* The one request of the connection is over: its peer's slot is free
     * now, not only once libmicrohttpd has reaped the thread (a client
     * reconnecting at once would find it still taken). */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cc = ci ? ci->socket_context : NULL;
    if (cc) {
        jd_gate_done(li->srv->gate, cc->gate);
        cc->gate = NULL;
    }
    struct pending *p = *con_cls;
    if (p) {
        free(p->body);
        free(p);
        *con_cls = NULL;
    }
}

static void connection_event(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode code)
{
    struct listener *li = cls;
    struct jd_server *srv = li->srv;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_ctx *cc = calloc(1, sizeof *cc);
        if (ci && cc) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double t0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
            cc->gate = jd_gate_claim(srv->gate, ci->connect_fd, &t0);
            cc->deadline = jd_deadline_open(srv->deadlines, ci->connect_fd, t0);
        }
        *socket_context = cc;
    } else {
        struct conn_ctx *cc = *socket_context;
        if (cc) {
            jd_deadline_close(srv->deadlines, cc->deadline);
            jd_gate_done(srv->gate, cc->gate);
            free(cc);
        }
        *socket_context = NULL;
    }
}

/* The gate hands over a connection whose head is complete. */
static int handoff(void *cls, int fd, const struct sockaddr *sa, socklen_t salen)
{
    struct listener *li = cls;
    return MHD_add_connection(li->mhd, fd, sa, salen) == MHD_YES ? 0 : -1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    const struct listener *li = cls;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return;
    msg[strcspn(msg, "\n")] = '\0'; /* libmicrohttpd ends its lines with one */
    /* libmicrohttpd 0.9.75 cannot tell that a connection handed to it
     * (MHD_add_connection) is a unix socket: its TCP_NODELAY/TCP_CORK
     * calls fail (EOPNOTSUPP) and it says so at every response. Harmless. */
    if (li->transport != JD_UNIX ||
        (strncmp(msg, "Setting TCP_", 12) && strncmp(msg, "Failed to push the data", 23)))
        jd_log("http: %s", msg);
    free(msg);
}

static struct MHD_Daemon *start_mhd(struct jd *d, struct listener *li)
{
    /* No listen socket: connections come from the gate. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET;
    li->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, li,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, li,
        /* Only a backstop for slow readers: the deadline watchdog answers
         * slow requests first. */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->cfg.request_timeout_s + 5,
        /* the gate keeps max_connections; this only leaves room for the
         * moment between a close being counted there and here */
        MHD_OPTION_CONNECTION_LIMIT, 2 * (unsigned)d->cfg.max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
        MHD_OPTION_NOTIFY_COMPLETED, completed, li,
        MHD_OPTION_NOTIFY_CONNECTION, connection_event, li, MHD_OPTION_END);
    return li->mhd;
}

static int listen_tcp(struct jd_server *s, struct jd *d, char *err, size_t errlen)
{
    char host[64];
    int port, lo;
    if (jd_parse_hostport(d->cfg.tcp, host, sizeof host, &port, &lo)) {
        snprintf(err, errlen, "tcp = %s: not HOST:PORT", d->cfg.tcp);
        return -1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (fam == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &a->sin_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &a->sin6_addr);
        sl = sizeof *a;
    }
    s->tcp_fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->tcp_fd >= 0)
        setsockopt(s->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s->tcp_fd < 0 || bind(s->tcp_fd, (struct sockaddr *)&ss, sl) != 0 ||
        listen(s->tcp_fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", d->cfg.tcp, strerror(errno));
        return -1;
    }
    s->tcp_mhd = start_mhd(d, &tcp_listener);
    if (!s->tcp_mhd) {
        snprintf(err, errlen, "cannot serve %s (libmicrohttpd failed to start)", d->cfg.tcp);
        return -1;
    }
    return 0;
}

/* The unix socket is the readiness signal (clients and tests wait for it),
 * so it is opened after every other listener. */
static int listen_unix(struct jd_server *s, struct jd *d, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(d->cfg.socket) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket path %s is too long", d->cfg.socket);
        return -1;
    }
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d->cfg.socket);
    /* A stale socket from a crashed predecessor: remove it, but only if
     * nobody answers on it. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        snprintf(err, errlen, "another jouled is serving %s", d->cfg.socket);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(d->cfg.socket);
    s->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177);
    int ok = s->unix_fd >= 0 && bind(s->unix_fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    umask(old);
    if (!ok || listen(s->unix_fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", d->cfg.socket, strerror(errno));
        return -1;
    }
    snprintf(s->unix_path, sizeof s->unix_path, "%s", d->cfg.socket);
    if (d->cfg.socket_group[0]) {
        struct group *gr = getgrnam(d->cfg.socket_group);
        if (!gr || chown(d->cfg.socket, (uid_t)-1, gr->gr_gid) != 0) {
            snprintf(err, errlen, "cannot give %s to group %s: %s", d->cfg.socket,
                     d->cfg.socket_group, gr ? strerror(errno) : "no such group");
            return -1;
        }
    }
    if (chmod(d->cfg.socket, d->cfg.socket_mode) != 0) {
        snprintf(err, errlen, "chmod %s: %s", d->cfg.socket, strerror(errno));
        return -1;
    }
    s->unix_mhd = start_mhd(d, &unix_listener);
    if (!s->unix_mhd) {
        snprintf(err, errlen, "cannot serve %s (libmicrohttpd failed to start)",
                 d->cfg.socket);
        return -1;
    }
    return 0;
}

/* Waiting and served connections on two listeners, and their sockets to
 * libmicrohttpd: more than the usual 1024 descriptors. */
static void raise_fd_limit(const struct jd *d)
{
    struct rlimit rl;
    rlim_t want = 8 * (rlim_t)d->cfg.max_connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int jd_server_start(struct jd *d, struct jd_server **out, char *err, size_t errlen)
{
    struct jd_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->d = d;
    s->unix_fd = s->tcp_fd = -1;
    unix_listener = (struct listener){s, JD_UNIX, NULL};
    tcp_listener = (struct listener){s, JD_TCP, NULL};
    raise_fd_limit(d);
    struct jd_gate_config gc = {
        .timeout_s = d->cfg.request_timeout_s,
        .max_head = MAX_HEAD,
        .max_body = (unsigned long long)d->cfg.max_body_bytes,
        .max_connections = d->cfg.max_connections,
        .max_per_peer = d->cfg.max_connections_per_peer,
    };
    if (jd_deadlines_start(d->cfg.request_timeout_s, &s->deadlines) ||
        jd_gate_create(&gc, 2, &s->gate)) {
        snprintf(err, errlen, "cannot start the request deadline thread or the gate");
        goto fail;
    }
    if ((d->cfg.tcp[0] && listen_tcp(s, d, err, errlen)) ||
        (d->cfg.socket[0] && listen_unix(s, d, err, errlen)))
        goto fail;
    struct jd_gate_listener ls[2];
    int n = 0;
    if (s->tcp_mhd)
        ls[n++] = (struct jd_gate_listener){s->tcp_fd, handoff, &tcp_listener};
    if (s->unix_mhd)
        ls[n++] = (struct jd_gate_listener){s->unix_fd, handoff, &unix_listener};
    if (jd_gate_run(s->gate, ls, n)) {
        snprintf(err, errlen, "cannot start the connection gate");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    jd_server_stop(s);
    return -1;
}

void jd_server_stop(struct jd_server *s)
{
    if (!s)
        return;
    jd_gate_stop(s->gate); /* no new connections */
    if (s->unix_mhd)
        MHD_stop_daemon(s->unix_mhd);
    if (s->tcp_mhd)
        MHD_stop_daemon(s->tcp_mhd);
    jd_gate_free(s->gate);  /* after every connection closed */
    jd_deadlines_stop(s->deadlines);
    if (s->unix_fd >= 0)
        close(s->unix_fd);
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
    if (s->unix_path[0])
        unlink(s->unix_path);
    free(s);
}
