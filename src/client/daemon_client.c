/* jouled client (see daemon_client.h): one connection per request,
 * "Connection: close", the response read to EOF. Not a general HTTP
 * client: jouled's answers are small JSON bodies with Content-Length. */
#include "client/daemon_client.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"
#include "base/export.h"
#include "devices/device.h"

int daemon_client_configured(char *desc, size_t len)
{
    const char *e = getenv("JOULE_DAEMON");
    if (e && (!strcmp(e, "off") || !strcmp(e, "none") || !*e))
        return 0;
    if (e && (!strncmp(e, "unix:", 5) || !strncmp(e, "tcp:", 4))) {
        snprintf(desc, len, "%s", e);
        return 1;
    }
    if (e)
        return 0; /* malformed: reported by daemon_client_request */
    if (access(JOULE_DAEMON_DEFAULT_SOCKET, F_OK) == 0) {
        snprintf(desc, len, "unix:%s", JOULE_DAEMON_DEFAULT_SOCKET);
        return 1;
    }
    return 0;
}

/* connect() that gives up after timeout_ms (a host that drops packets
 * would otherwise hold the caller for minutes of SYN retries); 0, or -1
 * with errno set. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    int rc = connect(fd, sa, len);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r;
        while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
            ;
        int err = 0;
        socklen_t elen = sizeof err;
        if (r == 0)
            err = ETIMEDOUT;
        else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = err ? err : errno;
        rc = err ? -1 : 0;
        errno = err;
    }
    int e = errno;
    fcntl(fd, F_SETFL, flags);
    errno = e;
    return rc;
}

static int dial(const char *where)
{
    int fd = -1;
    if (!strncmp(where, "unix:", 5)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(where + 5) >= sizeof sa.sun_path)
            return joule_set_error(JOULE_EINVAL, "JOULE_DAEMON=%s: path too long", where);
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", where + 5);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            int e = errno;
            close(fd);
            return joule_set_error(e == EACCES ? JOULE_EPERM : JOULE_ENODEV,
                                   "cannot reach jouled at %s: %s", where, strerror(e));
        }
    } else if (!strncmp(where, "tcp:", 4)) {
        char host[64];
        const char *colon = strrchr(where + 4, ':');
        size_t hl = colon ? (size_t)(colon - where - 4) : 0;
        struct sockaddr_in sa = {.sin_family = AF_INET};
        if (!colon || hl >= sizeof host)
            return joule_set_error(JOULE_EINVAL, "JOULE_DAEMON=%s: need tcp:HOST:PORT", where);
        memcpy(host, where + 4, hl);
        host[hl] = '\0';
        if (!strcmp(host, "localhost"))
            snprintf(host, sizeof host, "127.0.0.1");
        long port = strtol(colon + 1, NULL, 10);
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port <= 0 || port > 65535)
            return joule_set_error(JOULE_EINVAL,
                                   "JOULE_DAEMON=%s: need a numeric IPv4 address and a port",
                                   where);
        sa.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect_within(fd, (struct sockaddr *)&sa, sizeof sa, 3000) != 0) {
            int e = errno;
            close(fd);
            return joule_set_error(JOULE_ENODEV, "cannot reach jouled at %s: %s", where,
                                   strerror(e));
        }
    } else {
        return joule_set_error(JOULE_EINVAL,
                               "JOULE_DAEMON=%s: use unix:PATH, tcp:HOST:PORT or off", where);
    }
    if (fd < 0)
        return joule_set_error(JOULE_EIO, "socket: %s", strerror(errno));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

int daemon_client_dial(const char *where) { return dial(where); }

int daemon_client_request(const char *method, const char *path, const char *json, char **body)
{
    if (body)
        *body = NULL;
    char where[300];
    const char *e = getenv("JOULE_DAEMON");
    if (!daemon_client_configured(where, sizeof where)) {
        if (e && *e && strcmp(e, "off") && strcmp(e, "none"))
            return dial(e); /* reports the malformed value */
        return joule_set_error(JOULE_ENODEV, "no jouled configured (JOULE_DAEMON unset and "
                                             "%s absent)", JOULE_DAEMON_DEFAULT_SOCKET);
    }
    int fd = dial(where);
    if (fd < 0)
        return fd;
    const char *tok = getenv("JOULE_DAEMON_TOKEN");
    char auth[1200] = "";
    if (!strncmp(where, "tcp:", 4) && tok && *tok && strlen(tok) < 1100)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", tok);
    size_t blen = json ? strlen(json) : 0;
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: jouled\r\nConnection: close\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, auth, blen);
    size_t total = (size_t)n + blen;
    char *req = malloc(total);
    if (!req || n < 0 || (size_t)n >= sizeof head) {
        free(req);
        close(fd);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    memcpy(req, head, (size_t)n);
    if (blen)
        memcpy(req + n, json, blen);
    for (size_t off = 0; off < total;) {
        ssize_t w = send(fd, req + off, total - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(req);
            close(fd);
            return joule_set_error(JOULE_EIO, "jouled at %s: send: %s", where, strerror(errno));
        }
        off += (size_t)w;
    }
    free(req);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (len == cap) {
            if (cap >= (8u << 20))
                break; /* jouled's answers are small */
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    buf[len] = '\0';
    int status = 0;
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || !hdr_end) {
        free(buf);
        return joule_set_error(JOULE_EIO, "jouled at %s sent no valid HTTP response", where);
    }
    if (body) {
        *body = strdup(hdr_end + 4);
        if (!*body) {
            free(buf);
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        }
    }
    free(buf);
    return status;
}

int daemon_client_error(int status, const char *body, const char *what)
{
    if (status >= 200 && status < 300)
        return 0;
    cJSON *o = cJSON_Parse(body ? body : "");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    char msg[768];
    snprintf(msg, sizeof msg, "%s", cJSON_IsString(e) ? e->valuestring : "(no message)");
    cJSON_Delete(o);
    int code = status == 401 || status == 403 ? JOULE_EPERM
               : status == 404                ? JOULE_ENODEV
               : status == 409                ? JOULE_ENOTSUP
               : status == 400                ? (strstr(msg, "outside") || strstr(msg, "range")
                                                     ? JOULE_ERANGE
                                                     : JOULE_EINVAL)
                                              : JOULE_EIO;
    return joule_set_error(code, "%s through jouled: %s (HTTP %d)", what, msg, status);
}

int daemon_client_gpu(const struct joule_device *d, enum daemon_gpu_op op, int a, int b,
                      int persist)
{
    char path[256], json[256];
    const char *method = "POST", *what = "";
    char id[100];
    snprintf(id, sizeof id, "%s", d->uuid[0] ? d->uuid : "");
    if (!id[0])
        snprintf(id, sizeof id, "%d", d->index);
    const char *p = persist ? "true" : "false";
    switch (op) {
    case DAEMON_SET_POWER_LIMIT:
        snprintf(path, sizeof path, "/v1/gpus/%s/power_limit", id);
        snprintf(json, sizeof json, "{\"watts\":%.3f,\"persist\":%s}", a / 1000.0, p);
        what = "setting the power limit";
        break;
    case DAEMON_LOCK_CLOCKS:
    case DAEMON_LOCK_MEM_CLOCKS:
        snprintf(path, sizeof path, "/v1/gpus/%s/%s", id,
                 op == DAEMON_LOCK_CLOCKS ? "clocks" : "memory_clocks");
        snprintf(json, sizeof json, "{\"min_mhz\":%d,\"max_mhz\":%d,\"persist\":%s}", a, b, p);
        what = op == DAEMON_LOCK_CLOCKS ? "locking SM clocks" : "locking memory clocks";
        break;
    case DAEMON_RESET_CLOCKS:
    case DAEMON_RESET_MEM_CLOCKS:
        method = "DELETE";
        snprintf(path, sizeof path, "/v1/gpus/%s/%s", id,
                 op == DAEMON_RESET_CLOCKS ? "clocks" : "memory_clocks");
        snprintf(json, sizeof json, "{\"persist\":%s}", p);
        what = "resetting clocks";
        break;
    default:
        snprintf(path, sizeof path, "/v1/gpus/%s/persistence", id);
        snprintf(json, sizeof json, "{\"enabled\":%s,\"persist\":%s}", a ? "true" : "false", p);
        what = "setting persistence mode";
        break;
    }
    char *body = NULL;
    int st = daemon_client_request(method, path, json, &body);
    if (st < 0)
        return st;
    char whatd[160];
    snprintf(whatd, sizeof whatd, "%s: %s", d->label, what);
    int rc = daemon_client_error(st, body, whatd);
    free(body);
    return rc;
}

JOULE_EXPORT int joule_daemon_configured(char *desc, size_t len)
{
    char tmp[8];
    if (!desc || !len) {
        desc = tmp;
        len = sizeof tmp;
    }
    return daemon_client_configured(desc, len);
}
