#include "run_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <joule/trace.h>

#include "common.h"

/* How often rows are appended to the trace while the command runs. */
#define APPEND_EVERY_S 1
/* A counter that has not changed for this long no longer holds appends
 * back (its open step then appears only in the finished trace). */
#define COUNTER_HOLD_MAX_US 5000000LL

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Appends buf whole or not at all: a write that fails part way (a full
 * disk, a file size limit) is cut back, so the file always ends in a whole
 * line. Returns 0 or -1 with errno set. */
static int write_whole(int fd, const char *buf, size_t len)
{
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (write_all(fd, buf, len) == 0)
        return 0;
    int err = errno;
    if (start >= 0 && ftruncate(fd, start) == 0)
        lseek(fd, start, SEEK_SET);
    errno = err;
    return -1;
}

/* The header of the trace as it is appended: like the finished trace's,
 * without duration_s (a reader takes the last row's time) and with the
 * windows following the rows as they end. */
static int write_header(struct run_trace *rt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return -1;
    joule_trace_format_header(m, rt->ctx, rt->start_unix_s, -1, rt->interval_ms / 1e3);
    fprintf(m, "time_s,device,domain,value\n");
    int rc = fclose(m) ? -1 : write_whole(rt->fd, buf, len);
    free(buf);
    return rc;
}

struct row {
    int64_t t_us;
    double t, v;
    int dev, domain;
};

static int by_time(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    if (x->dev != y->dev)
        return x->dev - y->dev;
    return x->domain - y->domain;
}

/* Appends, in one write of whole lines, the rows stamped after the last
 * append and up to a point the sampler has surely stored everything
 * before, then the windows ended since. Every append leaves a valid
 * trace: rows stay in time order across appends. Returns 0 or -1. */
static int append_rows(struct run_trace *rt)
{
    joule_ctx *ctx = rt->ctx;
    joule_sampler *s = rt->sampler;
    int ndev = joule_device_count(ctx);
    double now = joule_now_s();
    int64_t now_us = (int64_t)(now * 1e6);
    /* A read is stamped just before it is stored: the last ticks wait. */
    int64_t upto = now_us - (int64_t)(2 * rt->interval_ms * 1e3) - 100000;
    /* Counter-derived power is known for a step only once the counter has
     * changed again: stop short of each counter's open step. */
    for (int i = 0; i < ndev; i++) {
        double t, v;
        if (!joule_sampler_has(s, i, JOULE_DOMAIN_POWER_COUNTER) ||
            joule_sampler_timeline(s, i, JOULE_DOMAIN_ENERGY, now, now, &t, &v, 1) < 1)
            continue;
        int64_t open_us = llround(t * 1e6);
        if (open_us > now_us - COUNTER_HOLD_MAX_US && open_us - 1 < upto)
            upto = open_us - 1;
    }
    if (upto <= rt->flushed_us)
        return 0;

    struct row *rows = NULL;
    size_t nrows = 0, cap = 0;
    double from = rt->flushed_any ? (double)rt->flushed_us / 1e6 : rt->t0_s;
    double to = (double)upto / 1e6;
    int rc = 0;
    for (int i = 0; i < ndev && !rc; i++)
        for (int d = 0; d < JOULE_DOMAIN_COUNT && !rc; d++) {
            if (!joule_sampler_has(s, i, d))
                continue;
            int n = joule_sampler_timeline(s, i, d, from, to, NULL, NULL, 0);
            if (n <= 0)
                continue;
            double *t = malloc(sizeof *t * (size_t)n), *v = malloc(sizeof *v * (size_t)n);
            if (t && v && nrows + (size_t)n > cap) {
                struct row *nr = realloc(rows, sizeof *nr * (nrows + (size_t)n) * 2);
                if (nr) {
                    rows = nr;
                    cap = (nrows + (size_t)n) * 2;
                }
            }
            if (!t || !v || nrows + (size_t)n > cap) {
                free(t);
                free(v);
                rc = -1;
                errno = ENOMEM;
                break;
            }
            int m = joule_sampler_timeline(s, i, d, from, to, t, v, n);
            for (int k = 0; k < m && k < n; k++) {
                int64_t tu = llround(t[k] * 1e6);
                /* the first append also holds the row in force at the start */
                if (tu > upto || (rt->flushed_any && tu <= rt->flushed_us))
                    continue;
                rows[nrows++] = (struct row){tu, t[k], v[k], i, d};
            }
            free(t);
            free(v);
        }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = rc ? NULL : open_memstream(&buf, &len);
    if (m) {
        if (nrows)
            qsort(rows, nrows, sizeof *rows, by_time);
        for (size_t k = 0; k < nrows; k++) {
            double rel = rows[k].t - rt->t0_s;
            joule_trace_format_row(m, rel < 0 ? 0 : rel,
                                   joule_device_label(joule_device_at(ctx, rows[k].dev)),
                                   rows[k].domain, rows[k].v);
        }
        long window_off = rt->window_off;
        /* the windows the command ended since the last append */
        joule_trace_format_log_windows(m, rt->window_log[0] ? rt->window_log : NULL,
                                       &rt->window_off, rt->start_unix_s);
        rc = fclose(m) ? -1 : write_whole(rt->fd, buf, len);
        if (rc)
            rt->window_off = window_off; /* those windows are not in the file */
    } else {
        rc = -1;
    }
    free(buf);
    free(rows);
    if (rc == 0) {
        rt->flushed_us = upto;
        rt->flushed_any = 1;
    }
    return rc;
}

static void *flusher_main(void *arg)
{
    struct run_trace *rt = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&rt->lock);
    while (!rt->stop) {
        next.tv_sec += APPEND_EVERY_S;
        int rc = 0;
        while (!rt->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&rt->cond, &rt->lock, &next);
        if (rt->stop)
            break;
        pthread_mutex_unlock(&rt->lock);
        int failed = append_rows(rt);
        if (failed)
            fprintf(stderr, "joule run: cannot append to trace '%s': %s (it is written "
                            "when the command ends)\n", rt->path, strerror(errno));
        pthread_mutex_lock(&rt->lock);
        if (failed)
            break;
    }
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

static void stop_flusher(struct run_trace *rt)
{
    if (!rt->flusher_running)
        return;
    pthread_mutex_lock(&rt->lock);
    rt->stop = 1;
    pthread_cond_signal(&rt->cond);
    pthread_mutex_unlock(&rt->lock);
    pthread_join(rt->flusher, NULL);
    pthread_mutex_destroy(&rt->lock);
    pthread_cond_destroy(&rt->cond);
    rt->flusher_running = 0;
}

/* Starts appending: the header now, rows every APPEND_EVERY_S. */
static void start_appending(struct run_trace *rt)
{
    rt->flushed_us = (int64_t)llround(rt->t0_s * 1e6);
    if (write_header(rt)) {
        fprintf(stderr, "joule run: cannot write trace '%s': %s (trying again when the "
                        "command ends)\n", rt->path, strerror(errno));
        close(rt->fd);
        rt->fd = -1;
        return;
    }
    pthread_mutex_init(&rt->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->cond, &attr);
    pthread_condattr_destroy(&attr);
    /* Signals are for the main thread, which passes them to the command. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rt->flusher_running = pthread_create(&rt->flusher, NULL, flusher_main, rt) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!rt->flusher_running) {
        pthread_mutex_destroy(&rt->lock);
        pthread_cond_destroy(&rt->cond);
    }
}

/* Waits (normally well under a millisecond, at most 500 ms) until the
 * sampler thread has stored its first reading of every device, so the
 * trace holds each device's state at its start however short the command:
 * a thread that is slow to be scheduled would otherwise take its first
 * reading after a very short command has ended. */
static void wait_first_samples(joule_ctx *ctx, joule_sampler *s)
{
    double give_up = joule_now_s() + 0.5;
    for (int i = 0; i < joule_device_count(ctx);) {
        int stored = 0, sampled = 0;
        double now = joule_now_s();
        for (int d = 0; d < JOULE_DOMAIN_COUNT && !stored; d++)
            if (d != JOULE_DOMAIN_POWER_COUNTER && joule_sampler_has(s, i, d)) {
                sampled = 1;
                stored = joule_sampler_timeline(s, i, d, now, now, NULL, NULL, 0) > 0;
            }
        if (stored || !sampled || now > give_up) {
            i++;
            continue;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

int run_trace_start(struct run_trace *rt, joule_ctx *ctx, const char *path, double interval_ms)
{
    memset(rt, 0, sizeof *rt);
    rt->fd = -1;
    rt->path = path;
    rt->ctx = ctx;
    rt->interval_ms = interval_ms;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "joule run: cannot write trace '%s': %s\n", path, strerror(errno));
        return -1;
    }
    /* Appended to as the run goes where it is a regular file (not a pipe
     * or a device), then replaced by the finished trace. */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && realpath(path, rt->real_path))
        rt->fd = fd;
    else
        close(fd);
    const char *tmp = getenv("TMPDIR");
    snprintf(rt->window_log, sizeof rt->window_log, "%s/joule-windows-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    int wfd = mkstemp(rt->window_log);
    if (wfd < 0) {
        fprintf(stderr, "joule run: cannot create a temporary window log: %s\n", strerror(errno));
        rt->window_log[0] = '\0';
    } else {
        close(wfd);
        setenv("JOULE_WINDOW_LOG", rt->window_log, 1);
    }
    if (joule_sampler_create(ctx, interval_ms, 7 * 24 * 3600.0, &rt->sampler) ||
        joule_sampler_start(rt->sampler)) {
        fprintf(stderr, "joule run: %s\n", joule_last_error());
        joule_sampler_destroy(rt->sampler);
        rt->sampler = NULL;
        if (rt->fd >= 0)
            close(rt->fd);
        rt->fd = -1;
        if (rt->window_log[0]) {
            unlink(rt->window_log);
            unsetenv("JOULE_WINDOW_LOG");
        }
        return -1;
    }
    cli_warn_coarse_sources("run", ctx, rt->sampler, interval_ms);
    wait_first_samples(ctx, rt->sampler);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    rt->t0_s = joule_now_s();
    rt->start_unix_s = (double)tv.tv_sec + tv.tv_usec / 1e6;
    if (rt->fd >= 0)
        start_appending(rt);
    return 0;
}

/* Writes the finished trace beside the appended one and renames it over
 * it, so the file is a valid trace at every moment. When that write fails
 * (a full disk) the appended trace stays as it is: whole rows up to the
 * last append. Only where no file can be made beside it is it rewritten in
 * place. */
static int write_replacing(struct run_trace *rt, joule_trace_range *a, char *msg, size_t len)
{
    char tmp[sizeof rt->real_path + 16];
    const char *slash = strrchr(rt->real_path, '/');
    a->name = rt->path;
    int fd = -1;
    if (slash) {
        snprintf(tmp, sizeof tmp, "%.*s/.%s.XXXXXX", (int)(slash - rt->real_path),
                 rt->real_path, slash + 1);
        fd = mkstemp(tmp);
    }
    if (fd < 0) {
        int rc = joule_trace_write(rt->ctx, rt->sampler, rt->real_path, a);
        if (rc)
            snprintf(msg, len, "%s", joule_last_error());
        return rc;
    }
    struct stat st; /* the mode the trace was created with, not mkstemp's 0600 */
    if (fstat(rt->fd, &st) == 0)
        fchmod(fd, st.st_mode & 07777);
    close(fd);
    int rc = joule_trace_write(rt->ctx, rt->sampler, tmp, a);
    char why[1024];
    if (rc) {
        snprintf(why, sizeof why, "%s", joule_last_error());
    } else if (rename(tmp, rt->real_path) != 0) {
        rc = -1;
        snprintf(why, sizeof why, "cannot replace trace '%s': %s", rt->path, strerror(errno));
    }
    if (rc) {
        unlink(tmp);
        snprintf(msg, len, "%s; '%s' keeps the rows appended until then (whole rows, "
                           "no duration_s)", why, rt->path);
    }
    return rc;
}

int run_trace_finish(struct run_trace *rt, joule_ctx *ctx)
{
    if (!rt->sampler)
        return -1;
    double t1 = joule_now_s();
    stop_flusher(rt);
    joule_sampler_stop(rt->sampler);
    joule_trace_range a = {
        .t0_s = rt->t0_s,
        .t1_s = t1,
        .start_unix_s = rt->start_unix_s,
        .interval_s = rt->interval_ms / 1e3,
        .window_log = rt->window_log[0] ? rt->window_log : NULL,
    };
    int rc;
    char msg[2048];
    if (rt->fd >= 0) {
        rc = write_replacing(rt, &a, msg, sizeof msg);
        close(rt->fd);
        rt->fd = -1;
    } else {
        rc = joule_trace_write(ctx, rt->sampler, rt->path, &a);
        if (rc)
            snprintf(msg, sizeof msg, "%s", joule_last_error());
    }
    if (rc)
        fprintf(stderr, "joule run: %s\n", msg);
    if (rt->window_log[0]) {
        unlink(rt->window_log);
        unsetenv("JOULE_WINDOW_LOG");
    }
    joule_sampler_destroy(rt->sampler);
    rt->sampler = NULL;
    return rc ? -1 : 0;
}
