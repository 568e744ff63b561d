/* Request deadline watchdog (see deadline.h). One thread scans the open
 * connections every 100 ms; all state is under one mutex, and the entry
 * (with its fd) lives until libmicrohttpd reports the close, so the
 * watchdog never writes to a closed or reused descriptor. */
#include "deadline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

enum state { WAITING, ANSWERING, TIMED_OUT };

struct jd_deadline {
    struct jd_deadline *prev, *next;
    int fd;
    enum state state;
    double deadline;
};

struct jd_deadlines {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    double timeout_s;
    struct jd_deadline *head;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Best effort and never blocking: the peer is slow by definition. */
static void answer_408(const struct jd_deadlines *dl, int fd)
{
    char body[160], msg[400];
    int bl = snprintf(body, sizeof body,
                      "{\"error\":\"request not received within request_timeout_s (%g s)\","
                      "\"status\":408}",
                      dl->timeout_s);
    int ml = snprintf(msg, sizeof msg,
                      "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      bl, body);
    ssize_t sent = send(fd, msg, (size_t)ml, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)sent; /* a peer that is gone or not reading misses the status */
    /* Wakes the connection's thread, which then closes it. */
    shutdown(fd, SHUT_RDWR);
}

static void *watch(void *arg)
{
    struct jd_deadlines *dl = arg;
    pthread_mutex_lock(&dl->lock);
    while (!dl->stopping) {
        double now = now_s();
        for (struct jd_deadline *e = dl->head; e; e = e->next) {
            if (e->state == WAITING && now >= e->deadline) {
                e->state = TIMED_OUT;
                answer_408(dl, e->fd);
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&dl->wake, &dl->lock, &until);
    }
    pthread_mutex_unlock(&dl->lock);
    return NULL;
}

int jd_deadlines_start(double timeout_s, struct jd_deadlines **out)
{
    struct jd_deadlines *dl = calloc(1, sizeof *dl);
    if (!dl)
        return -1;
    dl->timeout_s = timeout_s;
    pthread_mutex_init(&dl->lock, NULL);
    pthread_cond_init(&dl->wake, NULL);
    if (pthread_create(&dl->thread, NULL, watch, dl) != 0) {
        pthread_cond_destroy(&dl->wake);
        pthread_mutex_destroy(&dl->lock);
        free(dl);
        return -1;
    }
    *out = dl;
    return 0;
}

void jd_deadlines_stop(struct jd_deadlines *dl)
{
    if (!dl)
        return;
    pthread_mutex_lock(&dl->lock);
    dl->stopping = 1;
    pthread_cond_signal(&dl->wake);
    pthread_mutex_unlock(&dl->lock);
    pthread_join(dl->thread, NULL);
    while (dl->head) {
        struct jd_deadline *e = dl->head;
        dl->head = e->next;
        free(e);
    }
    pthread_cond_destroy(&dl->wake);
    pthread_mutex_destroy(&dl->lock);
    free(dl);
}

struct jd_deadline *jd_deadline_open(struct jd_deadlines *dl, int fd, double start)
{
    struct jd_deadline *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fd = fd;
    e->state = WAITING;
    pthread_mutex_lock(&dl->lock);
    e->deadline = start + dl->timeout_s;
    e->next = dl->head;
    if (dl->head)
        dl->head->prev = e;
    dl->head = e;
    pthread_mutex_unlock(&dl->lock);
    return e;
}

void jd_deadline_close(struct jd_deadlines *dl, struct jd_deadline *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&dl->lock);
    if (e->prev)
        e->prev->next = e->next;
    else
        dl->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&dl->lock);
    free(e);
}

int jd_deadline_claim(struct jd_deadlines *dl, struct jd_deadline *e)
{
    if (!e)
        return 0;
    pthread_mutex_lock(&dl->lock);
    int timed_out = e->state == TIMED_OUT;
    if (!timed_out)
        e->state = ANSWERING;
    pthread_mutex_unlock(&dl->lock);
    return timed_out ? -1 : 0;
}
