/* The cluster view (include/joule/cluster.h): a reader thread per jouled
 * (client/power_stream.c), each keeping its node's latest event under the
 * cluster's lock. Energy is the events' power integrated over the node's
 * own clock, a step at a time, and only across steps no longer than a few
 * intervals: a gap while a node was away adds nothing it did not report. */
#include <joule/cluster.h>

#include <arpa/inet.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/export.h"
#include "client/power_stream.h"

struct node {
    struct joule_cluster *c;
    char endpoint[300];
    char *token;
    pthread_t thread;
    int started;
    /* under c->lock */
    joule_cluster_node st;
    struct pstream_event last;
    int64_t arrived_ns;   /* when the latest event arrived; 0: none */
    int connected;
};

struct joule_cluster {
    pthread_mutex_t lock;
    atomic_int stop;
    int n, interval_ms;
    double stale_s;
    struct node *nodes;
};

static double now_s(void) { return joule_now_ns() / 1e9; }

static void set_down(struct node *nd, const char *why)
{
    pthread_mutex_lock(&nd->c->lock);
    nd->connected = 0;
    nd->st.state = JOULE_NODE_DOWN;
    snprintf(nd->st.error, sizeof nd->st.error, "%s", why);
    pthread_mutex_unlock(&nd->c->lock);
}

static void take_event(struct node *nd, const struct pstream_event *ev, unsigned long long missed)
{
    struct joule_cluster *c = nd->c;
    double sum = NAN;
    for (int k = 0; k < ev->ndev; k++)
        if (!isnan(ev->power_w[k]))
            sum = isnan(sum) ? ev->power_w[k] : sum + ev->power_w[k];
    pthread_mutex_lock(&c->lock);
    joule_cluster_node *s = &nd->st;
    /* the previous event's power held until this one, on the node's clock */
    double dt = ev->t_unix_s - s->event_unix_s;
    if (s->events && dt > 0 && dt <= 3.0 * c->interval_ms / 1e3 + 0.05 && !isnan(s->power_w)) {
        s->energy_j += s->power_w * dt;
        s->up_s += dt;
    }
    s->events++;
    s->state = JOULE_NODE_UP;
    s->missed = missed;
    s->power_w = sum;
    if (!isnan(sum) && (isnan(s->peak_power_w) || sum > s->peak_power_w))
        s->peak_power_w = sum;
    s->event_unix_s = ev->t_unix_s;
    s->ndevices = ev->ndev;
    s->error[0] = '\0';
    nd->last = *ev;
    nd->arrived_ns = joule_now_ns();
    pthread_mutex_unlock(&c->lock);
}

static void *node_main(void *arg)
{
    struct node *nd = arg;
    struct joule_cluster *c = nd->c;
    double backoff = 0.25;
    while (!atomic_load(&c->stop)) {
        struct pstream ps;
        if (pstream_open(&ps, nd->endpoint, nd->token, c->interval_ms, &c->stop)) {
            set_down(nd, joule_last_error());
        } else {
            pthread_mutex_lock(&c->lock);
            nd->connected = 1;
            nd->st.connects++;
            pthread_mutex_unlock(&c->lock);
            backoff = 0.25;
            /* Keep-alives come every second: silence for this long is a
             * node that hangs, worth a fresh connection. */
            int64_t quiet_ns = (int64_t)(fmax(5.0, 4.0 * c->interval_ms / 1e3) * 1e9);
            int64_t last_ns = joule_now_ns();
            while (!atomic_load(&c->stop)) {
                struct pstream_event ev;
                size_t before = ps.raw_len + ps.body_len;
                int r = pstream_next(&ps, &ev, 200);
                if (r < 0) {
                    set_down(nd, joule_last_error());
                    break;
                }
                if (r > 0 || ps.raw_len + ps.body_len != before)
                    last_ns = joule_now_ns();
                if (r > 0)
                    take_event(nd, &ev, ps.missed);
                else if (joule_now_ns() - last_ns > quiet_ns) {
                    set_down(nd, "no data from jouled for a while; reconnecting");
                    break;
                }
            }
            pstream_close(&ps);
        }
        /* wait before trying again, waking for stop */
        for (double t0 = now_s(); !atomic_load(&c->stop) && now_s() - t0 < backoff;)
            usleep(50000);
        backoff = fmin(backoff * 2, 2.0);
    }
    return NULL;
}

/* "tcp:HOST:PORT" with a numeric IPv4 host or localhost, or "unix:PATH". */
static int check_endpoint(const char *e)
{
    if (!strncmp(e, "unix:", 5) && e[5])
        return 0;
    if (strncmp(e, "tcp:", 4))
        return joule_set_error(JOULE_EINVAL, "'%s': use tcp:HOST:PORT or unix:PATH", e);
    const char *colon = strrchr(e + 4, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == e + 4 || !colon[1] || *end || port <= 0 || port > 65535)
        return joule_set_error(JOULE_EINVAL, "'%s': need tcp:HOST:PORT with a port 1-65535", e);
    /* like JOULE_DAEMON: no resolver lookups */
    char host[64];
    struct in_addr addr;
    snprintf(host, sizeof host, "%.*s", (int)(colon - e - 4), e + 4);
    if (strcmp(host, "localhost") && inet_pton(AF_INET, host, &addr) != 1)
        return joule_set_error(JOULE_EINVAL, "'%s': HOST must be a numeric IPv4 address or "
                                             "localhost", e);
    return 0;
}

JOULE_EXPORT int joule_cluster_open(const char *const *endpoints, const char *const *tokens,
                                    int n, int interval_ms, double stale_s, joule_cluster **out)
{
    if (!endpoints || !out || n <= 0)
        return joule_set_error(JOULE_EINVAL, "joule_cluster_open: no endpoints");
    *out = NULL;
    if (interval_ms < 1 || interval_ms > 60000)
        return joule_set_error(JOULE_EINVAL, "interval %d ms: give 1 to 60000", interval_ms);
    for (int i = 0; i < n; i++) {
        if (!endpoints[i] || strlen(endpoints[i]) >= sizeof((struct node *)0)->endpoint)
            return joule_set_error(JOULE_EINVAL, "endpoint %d is missing or too long", i + 1);
        int rc = check_endpoint(endpoints[i]);
        if (rc)
            return rc;
    }
    joule_cluster *c = calloc(1, sizeof *c);
    struct node *nodes = calloc((size_t)n, sizeof *nodes);
    if (!c || !nodes) {
        free(c);
        free(nodes);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->stop, 0);
    c->n = n;
    c->nodes = nodes;
    c->interval_ms = interval_ms;
    c->stale_s = stale_s > 0 ? stale_s : fmax(3.0 * interval_ms / 1e3, 2.0);
    for (int i = 0; i < n; i++) {
        struct node *nd = &nodes[i];
        nd->c = c;
        snprintf(nd->endpoint, sizeof nd->endpoint, "%s", endpoints[i]);
        nd->st.power_w = nd->st.peak_power_w = NAN;
        if (tokens && tokens[i] && !(nd->token = strdup(tokens[i]))) {
            joule_cluster_close(c);
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        }
    }
    for (int i = 0; i < n; i++) {
        if (pthread_create(&nodes[i].thread, NULL, node_main, &nodes[i])) {
            joule_cluster_close(c);
            return joule_set_error(JOULE_EIO, "cannot start a reader thread");
        }
        nodes[i].started = 1;
    }
    *out = c;
    return 0;
}

JOULE_EXPORT void joule_cluster_close(joule_cluster *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, 1);
    for (int i = 0; i < c->n; i++) {
        if (c->nodes[i].started)
            pthread_join(c->nodes[i].thread, NULL);
        free(c->nodes[i].token);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->nodes);
    free(c);
}

JOULE_EXPORT int joule_cluster_node_count(const joule_cluster *c) { return c ? c->n : 0; }

JOULE_EXPORT const char *joule_cluster_node_endpoint(const joule_cluster *c, int i)
{
    return c && i >= 0 && i < c->n ? c->nodes[i].endpoint : NULL;
}

JOULE_EXPORT int joule_cluster_node_status(joule_cluster *c, int i, joule_cluster_node *out)
{
    if (!c || !out || i < 0 || i >= c->n)
        return joule_set_error(JOULE_EINVAL, "no node %d in the cluster", i);
    struct node *nd = &c->nodes[i];
    pthread_mutex_lock(&c->lock);
    *out = nd->st;
    out->age_s = nd->arrived_ns ? (joule_now_ns() - nd->arrived_ns) / 1e9 : NAN;
    if (out->state != JOULE_NODE_DOWN) {
        if (!nd->arrived_ns)
            out->state = JOULE_NODE_CONNECTING;
        else if (out->age_s > c->stale_s) {
            out->state = JOULE_NODE_STALE;
            snprintf(out->error, sizeof out->error, "no event for %.1f s", out->age_s);
        } else {
            out->state = JOULE_NODE_UP;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

JOULE_EXPORT int joule_cluster_node_device(joule_cluster *c, int i, int k, char *label,
                                           size_t len, double *power_w)
{
    if (!c || i < 0 || i >= c->n)
        return joule_set_error(JOULE_EINVAL, "no node %d in the cluster", i);
    pthread_mutex_lock(&c->lock);
    const struct pstream_event *ev = &c->nodes[i].last;
    int ok = k >= 0 && k < ev->ndev;
    if (ok && label && len)
        snprintf(label, len, "%s", ev->label[k]);
    if (ok && power_w)
        *power_w = ev->power_w[k];
    pthread_mutex_unlock(&c->lock);
    return ok ? 0 : joule_set_error(JOULE_ENOENT, "node %d has no device %d", i, k);
}

JOULE_EXPORT const char *joule_node_state_name(int state)
{
    switch (state) {
    case JOULE_NODE_CONNECTING: return "connecting";
    case JOULE_NODE_UP: return "up";
    case JOULE_NODE_STALE: return "stale";
    case JOULE_NODE_DOWN: return "down";
    default: return "?";
    }
}
