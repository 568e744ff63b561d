/* A reader of jouled's Server-Sent Events power stream (see
 * power_stream.h; docs/daemon.md, "/v1/stream"): HTTP/1.1 with the body
 * chunked (libmicrohttpd's way for a body of unknown length) or not,
 * events split at blank lines, `event: power` parsed, `event: missed`
 * counted, comments (`: keep-alive`) skipped. */
#include "client/power_stream.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "base/clock.h"
#include "base/error.h"
#include "client/daemon_client.h"

#define HEAD_MAX 16384
#define BODY_MAX (1u << 20) /* one event is ~100 bytes per device */

static int append(char **buf, size_t *len, const char *p, size_t n)
{
    if (*len + n > BODY_MAX)
        return -1;
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb)
        return -1;
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
    return 0;
}

static void consume(char *buf, size_t *len, size_t n)
{
    memmove(buf, buf + n, *len - n);
    *len -= n;
    buf[*len] = '\0';
}

/* Moves what raw holds of the body into body. 0, 1 at the body's end, -1
 * on bytes that are not chunked encoding. */
static int dechunk(struct pstream *s)
{
    while (s->raw_len) {
        if (!s->chunked) {
            if (append(&s->body, &s->body_len, s->raw, s->raw_len))
                return -1;
            consume(s->raw, &s->raw_len, s->raw_len);
            break;
        }
        if (s->want_crlf) {
            if (s->raw_len < 2)
                break;
            if (memcmp(s->raw, "\r\n", 2))
                return -1;
            consume(s->raw, &s->raw_len, 2);
            s->want_crlf = 0;
            continue;
        }
        if (s->chunk_left == 0) {
            char *eol = strstr(s->raw, "\r\n");
            if (!eol)
                return s->raw_len > 64 ? -1 : 0;
            char *end;
            unsigned long size = strtoul(s->raw, &end, 16);
            if (end == s->raw)
                return -1;
            if (size == 0)
                return 1;
            consume(s->raw, &s->raw_len, (size_t)(eol + 2 - s->raw));
            s->chunk_left = size;
            continue;
        }
        size_t n = s->chunk_left < s->raw_len ? s->chunk_left : s->raw_len;
        if (append(&s->body, &s->body_len, s->raw, n))
            return -1;
        consume(s->raw, &s->raw_len, n);
        s->chunk_left -= n;
        s->want_crlf = s->chunk_left == 0;
    }
    return 0;
}

/* Reads what is there within wait_ms into raw: bytes read, 0 on timeout,
 * -1 at the end of the connection or on an error. */
static ssize_t fill(struct pstream *s, int wait_ms)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int r = poll(&p, 1, wait_ms < 0 ? 0 : wait_ms);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    if (r < 0)
        return -1;
    char buf[8192];
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return -1;
    return append(&s->raw, &s->raw_len, buf, (size_t)n) ? -1 : n;
}

int pstream_parse_power(const char *json, struct pstream_event *ev)
{
    cJSON *o = cJSON_Parse(json);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "power_w");
    if (!cJSON_IsNumber(t) || !cJSON_IsObject(p)) {
        cJSON_Delete(o);
        return -1;
    }
    ev->t_unix_s = t->valuedouble;
    ev->ndev = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, p)
    {
        if (ev->ndev == PSTREAM_MAX_DEVICES)
            break;
        snprintf(ev->label[ev->ndev], sizeof ev->label[0], "%s", d->string);
        ev->power_w[ev->ndev++] = cJSON_IsNumber(d) ? d->valuedouble : NAN;
    }
    cJSON_Delete(o);
    return 0;
}

/* The daemon's {"error": ...} message, or the body's start. */
static void refusal_message(const char *body, char *msg, size_t len)
{
    cJSON *o = cJSON_Parse(body ? body : "");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (cJSON_IsString(e))
        snprintf(msg, len, "%s", e->valuestring);
    else
        snprintf(msg, len, "%.80s", body && *body ? body : "(no message)");
    cJSON_Delete(o);
}

static int header_has(const char *head, const char *name, const char *value)
{
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        size_t nl = strlen(name);
        if (strncasecmp(line, name, nl) || line[nl] != ':')
            continue;
        const char *eol = strstr(line, "\r\n");
        size_t vl = eol ? (size_t)(eol - line) : strlen(line);
        for (size_t i = nl + 1; i + strlen(value) <= vl; i++)
            if (!strncasecmp(line + i, value, strlen(value)))
                return 1;
    }
    return 0;
}

int pstream_open(struct pstream *s, const char *where, const char *token, int interval_ms,
                 atomic_int *cancel)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    int fd = daemon_client_dial(where);
    if (fd < 0)
        return fd;
    s->fd = fd;
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET /v1/stream?interval_ms=%d HTTP/1.1\r\nHost: jouled\r\n"
                     "Connection: close\r\n%s%s%s\r\n",
                     interval_ms, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof req) {
        pstream_close(s);
        return joule_set_error(JOULE_EINVAL, "jouled at %s: the token is too long", where);
    }
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            pstream_close(s);
            return joule_set_error(JOULE_EIO, "jouled at %s: send: %s", where, strerror(e));
        }
        off += (int)w;
    }
    /* The head: within 10 s, at most HEAD_MAX bytes. */
    char *end = NULL;
    for (int64_t t0 = joule_now_ns(); !(end = s->raw ? strstr(s->raw, "\r\n\r\n") : NULL);) {
        int left_ms = (int)(10000 - (joule_now_ns() - t0) / 1000000);
        if (cancel && atomic_load(cancel)) {
            pstream_close(s);
            return joule_set_error(JOULE_EIO, "cancelled");
        }
        if (left_ms <= 0 || s->raw_len > HEAD_MAX ||
            fill(s, left_ms < 200 ? left_ms : 200) < 0) {
            pstream_close(s);
            return joule_set_error(JOULE_EIO, "jouled at %s sent no HTTP answer", where);
        }
    }
    size_t head_len = (size_t)(end + 4 - s->raw);
    char head[HEAD_MAX + 8];
    snprintf(head, sizeof head, "%.*s", (int)head_len, s->raw);
    consume(s->raw, &s->raw_len, head_len);
    s->chunked = header_has(head, "Transfer-Encoding", "chunked");
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        pstream_close(s);
        return joule_set_error(JOULE_EIO, "jouled at %s sent no HTTP answer", where);
    }
    if (status != 200 || !header_has(head, "Content-Type", "text/event-stream")) {
        /* The refusal's body: jouled closes the connection after it. */
        for (int64_t t0 = joule_now_ns();
             joule_now_ns() - t0 < 2000000000LL && !(cancel && atomic_load(cancel));)
            if (fill(s, 200) < 0)
                break;
        dechunk(s);
        char msg[300];
        refusal_message(s->body, msg, sizeof msg);
        pstream_close(s);
        return joule_set_error(status == 401 || status == 403 ? JOULE_EPERM : JOULE_EIO,
                               "jouled at %s: HTTP %d: %s", where, status, msg);
    }
    return 0;
}

/* One event block (without its blank line): 1 for a power event, 0 for
 * anything else. */
static int handle_block(struct pstream *s, char *block, struct pstream_event *ev)
{
    char *event = NULL, *data = NULL;
    for (char *line = block, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        if (!strncmp(line, "event:", 6))
            event = line + 6 + (line[6] == ' ');
        else if (!strncmp(line, "data:", 5))
            data = line + 5 + (line[5] == ' ');
    }
    if (!event || !data)
        return 0;
    if (!strcmp(event, "missed")) {
        cJSON *o = cJSON_Parse(data);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "missed");
        if (cJSON_IsNumber(m) && m->valuedouble > 0)
            s->missed += (unsigned long long)m->valuedouble;
        cJSON_Delete(o);
        return 0;
    }
    return !strcmp(event, "power") && pstream_parse_power(data, ev) == 0;
}

int pstream_next(struct pstream *s, struct pstream_event *ev, int wait_ms)
{
    int64_t deadline = joule_now_ns() + (int64_t)wait_ms * 1000000;
    for (;;) {
        char *sep;
        while (s->body && (sep = strstr(s->body, "\n\n"))) {
            size_t len = (size_t)(sep - s->body);
            char *block = malloc(len + 1);
            if (!block)
                return joule_set_error(JOULE_ENOMEM, "out of memory");
            memcpy(block, s->body, len);
            block[len] = '\0';
            consume(s->body, &s->body_len, len + 2);
            int got = handle_block(s, block, ev);
            free(block);
            if (got)
                return 1;
        }
        int d = dechunk(s);
        if (d < 0)
            return joule_set_error(JOULE_EIO, "the stream is not chunked HTTP or an event "
                                              "exceeds %u bytes", BODY_MAX);
        if (d > 0)
            return joule_set_error(JOULE_EIO, "jouled ended the stream");
        if (s->body && strstr(s->body, "\n\n"))
            continue;
        int left_ms = (int)((deadline - joule_now_ns()) / 1000000);
        if (left_ms <= 0)
            return 0;
        ssize_t r = fill(s, left_ms);
        if (r < 0)
            return joule_set_error(JOULE_EIO, "jouled closed the connection");
    }
}

void pstream_close(struct pstream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->raw);
    free(s->body);
    s->raw = s->body = NULL;
    s->raw_len = s->body_len = 0;
}
