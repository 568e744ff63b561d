/* A progress line for long commands (sweep, bso-simulate, plan): on stderr,
 * rewritten in place with '\r' and cleared at the end, only when stderr is
 * a terminal and not --quiet, so logs and pipes never see it. */
#ifndef JOULE_CLI_PROGRESS_H
#define JOULE_CLI_PROGRESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

struct cli_progress {
    FILE *out;      /* NULL: quiet */
    double start_s; /* monotonic */
    size_t shown;   /* characters on the line now, to blank them */
    /* cli_progress_busy's ticker */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int ticking, stop;
    double delay_s;
    char what[128];
};

/* Seconds as "42s", "1m05s", "3h02m" (rounded down; negative or NaN: "?"). */
void cli_progress_hms(double s, char *buf, size_t len);
/* The line, e.g. "setting 250 W  run 3/12  elapsed 1m05s  ETA 3m20s";
 * with total 0 (work that cannot be counted) "planning  elapsed 12s".
 * what names the current item ("setting 250 W"; NULL or "": left out);
 * done items of total are finished, the one in progress is done+1; the
 * ETA is the mean time of a finished item times those left, unknown
 * ("ETA ?") before the first finishes. Pure: the unit tests call it. */
void cli_progress_format(char *buf, size_t len, const char *what, int done, int total,
                         double elapsed_s);
/* On when stderr is a TTY and quiet is 0 ($JOULE_PROGRESS=1 forces it on,
 * 0 off: for tests and for logs that want it). */
void cli_progress_start(struct cli_progress *p, int quiet);
/* Redraws the line; a no-op when quiet. */
void cli_progress_update(struct cli_progress *p, const char *what, int done, int total);
/* For one long call that cannot report its progress (the planner's
 * solve): from delay_s on, redraws "what  elapsed T" every second from a
 * thread until cli_progress_clear. A no-op when quiet. */
void cli_progress_busy(struct cli_progress *p, const char *what, double delay_s);
/* Blanks the line (and stops cli_progress_busy's ticker), so what follows starts on a clean one: call before any
 * other stderr message and at the end. */
void cli_progress_clear(struct cli_progress *p);

#endif
