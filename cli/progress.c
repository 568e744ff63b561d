#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void cli_progress_hms(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e9) {
        snprintf(buf, len, "?");
        return;
    }
    long t = (long)s;
    if (t < 60)
        snprintf(buf, len, "%lds", t);
    else if (t < 3600)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
}

void cli_progress_format(char *buf, size_t len, const char *what, int done, int total,
                         double elapsed_s)
{
    char el[32], eta[32];
    cli_progress_hms(elapsed_s, el, sizeof el);
    if (done > 0 && done <= total)
        cli_progress_hms(elapsed_s / done * (total - done), eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    if (total <= 0) {
        snprintf(buf, len, "%s%selapsed %s", what && *what ? what : "", what && *what ? "  " : "",
                 el);
        return;
    }
    int cur = done < total ? done + 1 : total;
    snprintf(buf, len, "%s%srun %d/%d  elapsed %s  ETA %s", what && *what ? what : "",
             what && *what ? "  " : "", cur, total, el, eta);
}

void cli_progress_start(struct cli_progress *p, int quiet)
{
    *p = (struct cli_progress){0};
    const char *force = getenv("JOULE_PROGRESS");
    int on = force && *force ? strcmp(force, "0") != 0 : isatty(STDERR_FILENO);
    if (on && !quiet)
        p->out = stderr;
    p->start_s = mono_s();
}

void cli_progress_update(struct cli_progress *p, const char *what, int done, int total)
{
    if (!p->out)
        return;
    char line[256];
    cli_progress_format(line, sizeof line, what, done, total, mono_s() - p->start_s);
    size_t n = strlen(line);
    /* Pad over a longer previous line instead of a clear-line escape: a
     * plain '\r' works on every terminal. */
    fprintf(p->out, "\r%s%*s", line, p->shown > n ? (int)(p->shown - n) : 0, "");
    fflush(p->out);
    p->shown = n;
}

static void *busy_main(void *arg)
{
    struct cli_progress *p = arg;
    pthread_mutex_lock(&p->lock);
    double next = p->delay_s;
    while (!p->stop) {
        double now = mono_s() - p->start_s;
        if (now >= next) {
            cli_progress_update(p, p->what, 0, 0);
            next = floor(now) + 1;
        }
        double at = p->start_s + next;
        struct timespec ts = {(time_t)at, (long)((at - floor(at)) * 1e9)};
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void cli_progress_busy(struct cli_progress *p, const char *what, double delay_s)
{
    if (!p->out || p->ticking)
        return;
    snprintf(p->what, sizeof p->what, "%s", what);
    p->delay_s = delay_s;
    p->stop = 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* mono_s's clock */
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->thread, NULL, busy_main, p)) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        return; /* no progress line: nothing else depends on it */
    }
    p->ticking = 1;
}

void cli_progress_clear(struct cli_progress *p)
{
    if (p->ticking) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        p->ticking = 0;
    }
    if (!p->out || !p->shown)
        return;
    fprintf(p->out, "\r%*s\r", (int)p->shown, "");
    fflush(p->out);
    p->shown = 0;
}
