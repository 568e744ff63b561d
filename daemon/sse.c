/* The SSE hub (see sse.h). */
#include "sse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct jd_sub {
    struct jd_sub *next;
    struct jd_stream_req req;
    double next_due;           /* monotonic s */
    /* ring of events: t (unix s) then one power value per device */
    double *ring;
    int cap, head, count;
    unsigned long long missed, missed_reported, seq;
    int closed;
};

struct jd_hub {
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* new events or stop */
    pthread_t thread;
    int running, stop;
    struct jd_sub *subs;
    int nsubs;
};

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Latest power of a device from the sampler, no device call. */
static double latest_power(struct jd *d, int dev, double now)
{
    int doms[3] = {JOULE_DOMAIN_POWER, JOULE_DOMAIN_POWER_AVERAGE, JOULE_DOMAIN_POWER_COUNTER};
    for (int k = 0; k < 3; k++) {
        if (!joule_sampler_has(d->sampler, dev, doms[k]))
            continue;
        /* counter power needs a window holding two counter reads */
        double t0 = doms[k] == JOULE_DOMAIN_POWER_COUNTER ? now - 1.0 : now, v;
        if (joule_sampler_latest(d->sampler, dev, doms[k], t0, now, NULL, &v) == 0)
            return v;
    }
    return NAN;
}

static void *hub_main(void *arg)
{
    struct jd *d = arg;
    struct jd_hub *h = d->hub;
    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        double now = joule_now_s();
        double soonest = now + 0.2;
        for (struct jd_sub *s = h->subs; s; s = s->next) {
            if (s->closed)
                continue;
            if (now >= s->next_due) {
                int stride = 1 + s->req.ndev;
                int slot;
                if (s->count == s->cap) { /* full: drop the oldest */
                    s->head = (s->head + 1) % s->cap;
                    s->count--;
                    s->missed++;
                }
                slot = (s->head + s->count) % s->cap;
                double *e = &s->ring[(size_t)slot * (size_t)stride];
                e[0] = now + d->mono_to_unix;
                for (int k = 0; k < s->req.ndev; k++)
                    e[1 + k] = latest_power(d, s->req.devices[k], now);
                s->count++;
                s->next_due += s->req.interval_ms / 1000.0;
                if (s->next_due < now)
                    s->next_due = now + s->req.interval_ms / 1000.0;
            }
            if (s->next_due < soonest)
                soonest = s->next_due;
        }
        pthread_cond_broadcast(&h->cond);
        int wait_ms = (int)ceil((soonest - joule_now_s()) * 1000.0);
        if (wait_ms < 1)
            wait_ms = 1;
        struct timespec ts;
        deadline_in(&ts, wait_ms);
        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int jd_hub_create(struct jd *d)
{
    struct jd_hub *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    d->hub = h;
    if (pthread_create(&h->thread, NULL, hub_main, d) != 0)
        return -1;
    h->running = 1;
    return 0;
}

void jd_hub_shutdown(struct jd *d)
{
    struct jd_hub *h = d->hub;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void jd_hub_destroy(struct jd *d)
{
    struct jd_hub *h = d->hub;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    if (h->running)
        pthread_join(h->thread, NULL);
    /* Subscribers still open belong to connections the server closes. */
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
    d->hub = NULL;
}

struct jd_sub *jd_sub_open(struct jd *d, const struct jd_stream_req *r, char *why, size_t whylen)
{
    struct jd_hub *h = d->hub;
    struct jd_sub *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    s->req = *r;
    s->cap = d->cfg.stream_buffer_events;
    s->ring = calloc((size_t)s->cap * (size_t)(1 + r->ndev), sizeof *s->ring);
    if (!s->ring) {
        free(s);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    if (h->nsubs >= d->cfg.stream_max_clients || h->stop) {
        pthread_mutex_unlock(&h->lock);
        free(s->ring);
        free(s);
        snprintf(why, whylen, "too many streams (stream_max_clients = %d)",
                 d->cfg.stream_max_clients);
        return NULL;
    }
    s->next_due = joule_now_s();
    s->next = h->subs;
    h->subs = s;
    h->nsubs++;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    return s;
}

void jd_sub_close(struct jd *d, struct jd_sub *s)
{
    struct jd_hub *h = d->hub;
    if (!s)
        return;
    if (h) {
        pthread_mutex_lock(&h->lock);
        for (struct jd_sub **p = &h->subs; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                h->nsubs--;
                break;
            }
        pthread_mutex_unlock(&h->lock);
    }
    free(s->ring);
    free(s);
}

unsigned long long jd_sub_missed_total(struct jd_sub *s) { return s->missed; }

ssize_t jd_sub_read(struct jd *d, struct jd_sub *s, char *buf, size_t len, int wait_ms)
{
    struct jd_hub *h = d->hub;
    if (!h)
        return -1;
    pthread_mutex_lock(&h->lock);
    if (!s->count && s->missed == s->missed_reported && !h->stop) {
        struct timespec ts;
        deadline_in(&ts, wait_ms);
        while (!s->count && !h->stop)
            if (pthread_cond_timedwait(&h->cond, &h->lock, &ts) == ETIMEDOUT)
                break;
    }
    if (h->stop) {
        pthread_mutex_unlock(&h->lock);
        return -1;
    }
    size_t used = 0;
    if (s->missed != s->missed_reported) {
        int n = snprintf(buf, len, "event: missed\ndata: {\"missed\":%llu,\"missed_total\":%llu}\n\n",
                         s->missed - s->missed_reported, s->missed);
        if (n > 0 && (size_t)n < len) {
            used = (size_t)n;
            s->missed_reported = s->missed;
        }
    }
    int stride = 1 + s->req.ndev;
    while (s->count) {
        char ev[4096];
        const double *e = &s->ring[(size_t)s->head * (size_t)stride];
        int n = snprintf(ev, sizeof ev, "id: %llu\nevent: power\ndata: {\"t\":%.6f,\"power_w\":{",
                         s->seq + 1, e[0]);
        for (int k = 0; k < s->req.ndev && n < (int)sizeof ev; k++) {
            const joule_device *dev = joule_device_at(d->ctx, s->req.devices[k]);
            if (isnan(e[1 + k]))
                n += snprintf(ev + n, sizeof ev - (size_t)n, "%s\"%s\":null", k ? "," : "",
                              joule_device_label(dev));
            else
                n += snprintf(ev + n, sizeof ev - (size_t)n, "%s\"%s\":%.3f", k ? "," : "",
                              joule_device_label(dev), e[1 + k]);
        }
        if (n < (int)sizeof ev)
            n += snprintf(ev + n, sizeof ev - (size_t)n, "}}\n\n");
        if (n >= (int)sizeof ev || used + (size_t)n > len)
            break;
        memcpy(buf + used, ev, (size_t)n);
        used += (size_t)n;
        s->head = (s->head + 1) % s->cap;
        s->count--;
        s->seq++;
    }
    pthread_mutex_unlock(&h->lock);
    return (ssize_t)used;
}
