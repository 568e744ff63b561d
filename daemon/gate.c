/* The connection gate (see gate.h). Waiting connections are peeked at
 * (MSG_PEEK), never read, so libmicrohttpd later reads the head itself;
 * edge-triggered epoll wakes the gate once per arrival of new bytes. */
#include "gate.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "http_head.h"
#include "peer_limit.h"

#define LINGER_S 1.0 /* a refused client may still be sending: read it out */
#define MAX_LISTENERS 2

enum kind { K_WAKE, K_LISTENER, K_CONN };
enum state { WAITING, LINGERING, HANDED };

struct slot {                   /* a listener */
    enum kind kind;
    struct jd_gate_listener l;
    int waiting;                /* gate thread only */
    int handed;                 /* under g->lock */
};

struct jd_gate_conn {
    enum kind kind;
    struct jd_gate_conn *prev, *next;
    int fd;
    struct slot *slot;
    struct jd_peer_key key;
    enum state state;
    double t0, linger_until;
    struct sockaddr_storage sa;
    socklen_t salen;
};

struct jd_gate {
    struct jd_gate_config c;
    struct slot slots[MAX_LISTENERS];
    int nslots;
    struct jd_peer_limits *peers;
    int ep, wake[2];
    enum kind wake_kind;
    pthread_t thread;
    int running;
    char *buf;                  /* max_head + 1 bytes to peek into */
    struct jd_gate_conn *waiting; /* gate thread only */
    pthread_mutex_t lock;       /* handed, slot->handed */
    struct jd_gate_conn *handed;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void unlink_conn(struct jd_gate_conn **head, struct jd_gate_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void push_conn(struct jd_gate_conn **head, struct jd_gate_conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static const char *reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Service Unavailable";
    }
}

/* The one response of a refused connection, sent without waiting (the
 * socket buffer of a fresh connection holds it); then no more writes. */
static void answer(int fd, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddNumberToObject(o, "status", status);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *resp = NULL;
    int n = asprintf(&resp,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\n%sContent-Length: %zu\r\n\r\n%s",
                     status, reason(status), status == 503 ? "Retry-After: 1\r\n" : "",
                     body ? strlen(body) : 0, body ? body : "");
    if (n > 0) {
        ssize_t w = send(fd, resp, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w; /* a peer that is gone or not reading misses the status */
    }
    free(resp);
    free(body);
    shutdown(fd, SHUT_WR);
}

/* Reads and drops what the peer sent; 1 at its end of stream. */
static int drain(int fd)
{
    char junk[4096];
    for (;;) {
        ssize_t r = recv(fd, junk, sizeof junk, MSG_DONTWAIT);
        if (r > 0)
            continue;
        return r == 0 || (errno != EAGAIN && errno != EINTR);
    }
}

static void conn_close(struct jd_gate *g, struct jd_gate_conn *c)
{
    unlink_conn(&g->waiting, c);
    c->slot->waiting--;
    close(c->fd); /* also leaves the epoll set */
    jd_peer_leave(g->peers, &c->key);
    free(c);
}

/* Refuses a waiting connection, then reads out what is still coming for
 * a moment, so that closing with unread data does not reset the
 * connection before the client read the answer. */
static void refuse(struct jd_gate *g, struct jd_gate_conn *c, int status, const char *msg)
{
    answer(c->fd, status, msg);
    c->state = LINGERING;
    c->linger_until = now_s() + LINGER_S;
    if (drain(c->fd))
        conn_close(g, c);
}

static void hand_off(struct jd_gate *g, struct jd_gate_conn *c)
{
    struct slot *s = c->slot;
    pthread_mutex_lock(&g->lock);
    int room = s->handed < g->c.max_connections;
    if (room) {
        s->handed++;
        /* a record left for this fd number belongs to a connection
         * libmicrohttpd dropped before it started: free its slots */
        for (struct jd_gate_conn *o = g->handed; o; o = o->next)
            if (o->fd == c->fd) {
                unlink_conn(&g->handed, o);
                o->slot->handed--;
                jd_peer_leave(g->peers, &o->key);
                free(o);
                break;
            }
    }
    pthread_mutex_unlock(&g->lock);
    if (!room) {
        char msg[160];
        snprintf(msg, sizeof msg, "jouled is serving max_connections (%d) requests; retry",
                 g->c.max_connections);
        refuse(g, c, 503, msg);
        return;
    }
    epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    unlink_conn(&g->waiting, c);
    s->waiting--;
    c->state = HANDED;
    pthread_mutex_lock(&g->lock);
    push_conn(&g->handed, c);
    pthread_mutex_unlock(&g->lock);
    if (s->l.handoff(s->l.cls, c->fd, (struct sockaddr *)&c->sa, c->salen) != 0) {
        /* refused and closed: the record goes, unless already claimed */
        pthread_mutex_lock(&g->lock);
        int mine = 0;
        for (struct jd_gate_conn *o = g->handed; o && !mine; o = o->next)
            mine = o == c;
        if (mine) {
            unlink_conn(&g->handed, c);
            s->handed--;
            jd_peer_leave(g->peers, &c->key);
            free(c);
        }
        pthread_mutex_unlock(&g->lock);
    }
}

/* New bytes on a waiting connection. */
static void examine(struct jd_gate *g, struct jd_gate_conn *c, unsigned events)
{
    if (c->state == LINGERING) {
        if (drain(c->fd))
            conn_close(g, c);
        return;
    }
    ssize_t r = recv(c->fd, g->buf, g->c.max_head + 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) { /* gone before its request was complete */
        conn_close(g, c);
        return;
    }
    int status = 0;
    char why[256];
    enum jd_head_verdict v =
        jd_head_check(g->buf, (size_t)r, g->c.max_head, g->c.max_body, &status, why, sizeof why);
    if (v == JD_HEAD_OK)
        hand_off(g, c);
    else if (v == JD_HEAD_BAD)
        refuse(g, c, status, why);
    else if (events & (EPOLLRDHUP | EPOLLHUP))
        refuse(g, c, 400, "the request head ended before it was complete");
}

static void accept_all(struct jd_gate *g, struct slot *s)
{
    for (int k = 0; k < 64; k++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(s->l.fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                usleep(10000); /* out of descriptors: let connections close first */
            return;
        }
        struct jd_peer_key key;
        char msg[200], who[64];
        if (jd_peer_key_of(fd, (struct sockaddr *)&sa, salen, &key) != 0) {
            close(fd);
            continue;
        }
        if (jd_peer_enter(g->peers, &key) != 0) {
            jd_peer_key_name(&key, who, sizeof who);
            snprintf(msg, sizeof msg,
                     "%s holds max_connections_per_peer (%d) connections already; retry when "
                     "one has closed", who, g->c.max_per_peer);
            answer(fd, 503, msg);
            drain(fd);
            close(fd);
            continue;
        }
        struct jd_gate_conn *c = calloc(1, sizeof *c);
        if (!c || s->waiting >= g->c.max_connections) {
            snprintf(msg, sizeof msg,
                     "max_connections (%d) connections are waiting for their requests; retry",
                     g->c.max_connections);
            answer(fd, 503, msg);
            drain(fd);
            close(fd);
            jd_peer_leave(g->peers, &key);
            free(c);
            continue;
        }
        c->kind = K_CONN;
        c->fd = fd;
        c->slot = s;
        c->key = key;
        c->t0 = now_s();
        c->sa = sa;
        c->salen = salen;
        push_conn(&g->waiting, c);
        s->waiting++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            conn_close(g, c);
        /* bytes already there raise the first edge right away */
    }
}

/* 408 for heads not complete in time; the end of lingering. */
static void sweep(struct jd_gate *g)
{
    double now = now_s();
    char msg[128];
    snprintf(msg, sizeof msg, "request not received within request_timeout_s (%g s)",
             g->c.timeout_s);
    for (struct jd_gate_conn *c = g->waiting, *next; c; c = next) {
        next = c->next;
        if (c->state == LINGERING && now >= c->linger_until)
            conn_close(g, c);
        else if (c->state == WAITING && now >= c->t0 + g->c.timeout_s)
            refuse(g, c, 408, msg);
    }
}

static void *run(void *arg)
{
    struct jd_gate *g = arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(g->ep, ev, 64, 100);
        for (int i = 0; i < n; i++) {
            enum kind k = *(enum kind *)ev[i].data.ptr;
            if (k == K_WAKE)
                return NULL;
            if (k == K_LISTENER)
                accept_all(g, ev[i].data.ptr);
            else
                examine(g, ev[i].data.ptr, ev[i].events);
        }
        sweep(g);
    }
}

int jd_gate_create(const struct jd_gate_config *c, int nlisteners, struct jd_gate **out)
{
    struct jd_gate *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->c = *c;
    g->ep = g->wake[0] = g->wake[1] = -1;
    pthread_mutex_init(&g->lock, NULL);
    g->wake_kind = K_WAKE;
    /* every connection is counted at most once: waiting or handed off */
    g->peers = jd_peer_limits_create(c->max_per_peer, 2 * nlisteners * c->max_connections + 1);
    g->buf = malloc(c->max_head + 1);
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g->wake_kind};
    if (nlisteners > MAX_LISTENERS || !g->peers || !g->buf || g->ep < 0 ||
        pipe2(g->wake, O_CLOEXEC) != 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake[0], &ev) != 0) {
        jd_gate_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

int jd_gate_run(struct jd_gate *g, const struct jd_gate_listener *ls, int n)
{
    for (int i = 0; i < n && g->nslots < MAX_LISTENERS; i++) {
        struct slot *s = &g->slots[g->nslots++];
        s->kind = K_LISTENER;
        s->l = ls[i];
        fcntl(s->l.fd, F_SETFL, fcntl(s->l.fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        if (epoll_ctl(g->ep, EPOLL_CTL_ADD, s->l.fd, &ev) != 0)
            return -1;
    }
    if (pthread_create(&g->thread, NULL, run, g) != 0)
        return -1;
    g->running = 1;
    return 0;
}

void jd_gate_stop(struct jd_gate *g)
{
    if (!g)
        return;
    if (g->running) {
        ssize_t w = write(g->wake[1], "x", 1);
        (void)w;
        pthread_join(g->thread, NULL);
        g->running = 0;
    }
    while (g->waiting)
        conn_close(g, g->waiting);
}

void jd_gate_free(struct jd_gate *g)
{
    if (!g)
        return;
    while (g->handed) { /* handed off but never started */
        struct jd_gate_conn *c = g->handed;
        unlink_conn(&g->handed, c);
        free(c);
    }
    if (g->ep >= 0)
        close(g->ep);
    for (int i = 0; i < 2; i++)
        if (g->wake[i] >= 0)
            close(g->wake[i]);
    jd_peer_limits_destroy(g->peers);
    pthread_mutex_destroy(&g->lock);
    free(g->buf);
    free(g);
}

struct jd_gate_conn *jd_gate_claim(struct jd_gate *g, int fd, double *accepted_s)
{
    pthread_mutex_lock(&g->lock);
    struct jd_gate_conn *c = g->handed;
    while (c && c->fd != fd)
        c = c->next;
    if (c) {
        unlink_conn(&g->handed, c);
        *accepted_s = c->t0;
    }
    pthread_mutex_unlock(&g->lock);
    return c;
}

void jd_gate_done(struct jd_gate *g, struct jd_gate_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->slot->handed--;
    pthread_mutex_unlock(&g->lock);
    jd_peer_leave(g->peers, &c->key);
    free(c);
}
