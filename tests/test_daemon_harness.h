/* Test-side helpers for jouled: run the real daemon on a temporary socket
 * with the NVML double, and talk HTTP/1.1 to it (unix socket or TCP),
 * optionally from a child that dropped to another uid/gid first, so that
 * SO_PEERCRED reports that identity. Header-only, shared by the
 * test_daemon*.c programs. */
#ifndef JOULE_TEST_DAEMON_HARNESS_H
#define JOULE_TEST_DAEMON_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakes/fake_harness.h"

#define DM_JOULED JOULE_TEST_BUILD_DIR "/daemon/jouled"

struct dm {
    struct fh h;
    char sock[512], conf[512], state_dir[512], log[512], priv[512], secret[512];
    pid_t pid;
    int port;
};

static inline double dm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int dm_connect(const char *sock, int port)
{
    int fd;
    if (sock) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    }
    if (fd >= 0) {
        struct timeval tv = {20, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static inline int dm_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, p, n); /* a pipe */
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One request with Connection: close; returns the status (or -1) and the
 * body in *out (malloc'd; may be NULL). hdrs: extra header lines, each
 * ending in \r\n. An event stream is read up to its first power event. */
static inline int dm_http(const char *sock, int port, const char *method, const char *path,
                          const char *hdrs, const char *body, size_t body_len, char **out)
{
    if (out)
        *out = NULL;
    int fd = dm_connect(sock, port);
    if (fd < 0)
        return -1;
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     method, path, body_len, hdrs ? hdrs : "");
    if (dm_write_all(fd, head, (size_t)n) || (body_len && dm_write_all(fd, body, body_len))) {
        /* the server may answer before reading all: read what it said */
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        /* An event stream never ends: stop at its first power event. */
        buf[len] = '\0';
        const char *b = strstr(buf, "\r\n\r\n");
        if (b && strstr(buf, "text/event-stream") && strstr(b, "event: power\ndata: "))
            break;
    }
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
    char *b = strstr(buf, "\r\n\r\n");
    if (out && b)
        *out = strdup(b + 4);
    free(buf);
    return status;
}

static inline int dm_get(const struct dm *m, const char *path, char **out)
{
    return dm_http(m->sock, 0, "GET", path, NULL, NULL, 0, out);
}

static inline int dm_send(const struct dm *m, const char *method, const char *path,
                          const char *body, char **out)
{
    return dm_http(m->sock, 0, method, path, NULL, body, body ? strlen(body) : 0, out);
}

/* A bearer-token request over TCP. */
static inline int dm_tcp(const struct dm *m, const char *token, const char *method,
                         const char *path, const char *body, char **out)
{
    char hdr[1200] = "";
    if (token)
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    return dm_http(NULL, m->port, method, path, hdr, body, body ? strlen(body) : 0, out);
}

/* Tests that make requests as other uids (SO_PEERCRED identities) need
 * root to switch: they skip, saying so, when run without it. */
#define DM_REQUIRE_ROOT()                                                                  \
    do {                                                                                   \
        if (geteuid() != 0) {                                                              \
            print_message("SKIP: %s needs root to switch uids (run make test as root)\n", \
                          __func__);                                                       \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

/* Drops to uid/gid (and one supplementary group, if >= 0) in the calling
 * process; exits 99 on failure. */
static inline void dm_become(uid_t uid, gid_t gid, int extra_gid)
{
    gid_t groups[1] = {(gid_t)extra_gid};
    if (setgroups(extra_gid >= 0 ? 1 : 0, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(99);
}

/* The same request made by a child running as uid/gid. Returns the
 * status; body in *out when wanted. */
static inline int dm_as(const struct dm *m, uid_t uid, gid_t gid, int extra_gid,
                        const char *method, const char *path, const char *body, char **out)
{
    int p[2];
    if (pipe(p))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dm_become(uid, gid, extra_gid);
        char *resp = NULL;
        int st = dm_send(m, method, path, body, &resp);
        char line[32];
        int n = snprintf(line, sizeof line, "%d\n", st);
        dm_write_all(p[1], line, (size_t)n);
        if (resp)
            dm_write_all(p[1], resp, strlen(resp));
        _exit(0);
    }
    close(p[1]);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = read(p[0], buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(p[0]);
    int wst;
    waitpid(pid, &wst, 0);
    int status = -1;
    sscanf(buf, "%d", &status);
    if (out) {
        char *nl = strchr(buf, '\n');
        *out = strdup(nl ? nl + 1 : "");
    }
    free(buf);
    return status;
}

static inline int dm_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts jouled (waits until it answers). The daemon gets a privileged
 * NVML double sharing the test's state file; the test process keeps an
 * unprivileged one. */
static inline int dm_spawn(struct dm *m)
{
    m->pid = fork();
    if (m->pid == 0) {
        /* A failed assertion skips dm_stop: the daemon must not outlive the
         * test and hold CTest's output pipe open. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        setenv("JOULE_FAKE_NVML_CONFIG", m->priv, 1);
        execl(DM_JOULED, DM_JOULED, "--foreground", "--config", m->conf, "--socket", m->sock,
              "--state-dir", m->state_dir, (char *)NULL);
        _exit(127);
    }
    for (double t0 = dm_now(); dm_now() - t0 < 30;) {
        int fd = dm_connect(m->sock, 0);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        int st;
        if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
            m->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

/* gpus: the NVML double's "gpus" array; conf: extra config lines; record:
 * the daemon's NVML calls go to m->h.rec (for fh_calls). */
static inline int dm_start_rec(struct dm *m, const char *gpus, const char *conf, int record)
{
    memset(m, 0, sizeof *m);
    char json[4096];
    snprintf(json, sizeof json, "{\"state\": \"@STATE@\", \"gpus\": %s}", gpus);
    fh_start(&m->h, FH_NVML, json);
    chmod(m->h.dir, 0755);
    snprintf(m->priv, sizeof m->priv, "%s/priv.json", m->h.dir);
    snprintf(json, sizeof json, "{\"privileged\": true, %s\"state\": \"@STATE@\", \"gpus\": %s}",
             record ? "\"record\": \"@REC@\", " : "", gpus);
    char *text = fh_expand(&m->h, json);
    ts_write(m->h.dir, "priv.json", text);
    free(text);
    snprintf(m->sock, sizeof m->sock, "%s/jouled.sock", m->h.dir);
    snprintf(m->conf, sizeof m->conf, "%s/jouled.conf", m->h.dir);
    snprintf(m->state_dir, sizeof m->state_dir, "%s/state", m->h.dir);
    snprintf(m->log, sizeof m->log, "%s/jouled.log", m->h.dir);
    snprintf(m->secret, sizeof m->secret, "%s/token.key", m->h.dir);
    ts_write(m->h.dir, "token.key", "0123456789abcdef0123456789abcdef-test-secret\n");
    chmod(m->secret, 0600);
    m->port = dm_free_port();
    /* jouled refuses a key given twice: a base line gives way to the
     * test's own line for the same key. */
    char base[5][700], cfg[8192] = "";
    snprintf(base[0], sizeof base[0], "devices = gpu\n");
    snprintf(base[1], sizeof base[1], "socket_mode = 0666\n");
    snprintf(base[2], sizeof base[2], "tcp = 127.0.0.1:%d\n", m->port);
    snprintf(base[3], sizeof base[3], "token_secret_file = %s\n", m->secret);
    snprintf(base[4], sizeof base[4], "sample_interval_ms = 20\n");
    char extra[4096];
    snprintf(extra, sizeof extra, "\n%s", conf ? conf : "");
    for (int i = 0; i < 5; i++) {
        char key[64];
        snprintf(key, sizeof key, "\n%.*s ", (int)strcspn(base[i], " "), base[i]);
        if (!strstr(extra, key))
            strncat(cfg, base[i], sizeof cfg - strlen(cfg) - 1);
    }
    strncat(cfg, extra + 1, sizeof cfg - strlen(cfg) - 1);
    strncat(cfg, "\n", sizeof cfg - strlen(cfg) - 1);
    ts_write(m->h.dir, "jouled.conf", cfg);
    return dm_spawn(m);
}

static inline int dm_start(struct dm *m, const char *gpus, const char *conf)
{
    return dm_start_rec(m, gpus, conf, 0);
}

static inline void dm_kill(struct dm *m, int sig)
{
    if (m->pid > 0) {
        kill(m->pid, sig);
        int st;
        waitpid(m->pid, &st, 0);
        m->pid = 0;
    }
}

static inline void dm_stop(struct dm *m)
{
    dm_kill(m, SIGTERM);
    if (getenv("JOULE_TEST_KEEP_LOG")) {
        char *log = ts_read(m->log);
        fprintf(stderr, "---- jouled log ----\n%s\n", log ? log : "");
        free(log);
    }
    fh_finish(&m->h);
}

/* `jouled token issue ...` */
static inline char *dm_token(const struct dm *m, const char *user, const char *scope,
                             const char *expires)
{
    char *argv[] = {(char *)DM_JOULED, "token", "issue", "--user", (char *)user, "--scope",
                    (char *)scope, "--expires", (char *)expires, "--secret-file",
                    (char *)m->secret, NULL};
    char *out = NULL;
    if (ts_run(argv, NULL, &out, NULL) != 0) {
        free(out);
        return NULL;
    }
    out[strcspn(out, "\n")] = '\0';
    return out;
}

/* Waits until the double's gpus[gpu].key equals want; returns the last value. */
static inline double dm_wait_state(const struct dm *m, int gpu, const char *key, double want,
                                   double timeout_s)
{
    double v = fh_state(&m->h, gpu, key);
    for (double t0 = dm_now(); v != want && dm_now() - t0 < timeout_s;) {
        usleep(20000);
        v = fh_state(&m->h, gpu, key);
    }
    return v;
}

static inline long dm_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = ts_read(path);
    long kb = -1;
    char *p = s ? strstr(s, "VmRSS:") : NULL;
    if (p)
        kb = strtol(p + 6, NULL, 10);
    free(s);
    return kb;
}

#endif
