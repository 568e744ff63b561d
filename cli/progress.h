/* A progress line for long commands (sweep, bso-simulate, plan): on stderr,
 * rewritten in place with '\r' and cleared at the end, only when stderr is
 * a terminal and not --quiet, so logs and pipes never see it. */
#ifndef JOULE_CLI_PROGRESS_H
#define JOULE_CLI_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

struct cli_progress {
    FILE *out;      /* NULL: quiet */
    double start_s; /* monotonic */
    size_t shown;   /* characters on the line now, to blank them */
};

/* Seconds as "42s", "1m05s", "3h02m" (rounded down; negative or NaN: "?"). */
void cli_progress_hms(double s, char *buf, size_t len);
/* The line, e.g. "setting 250 W  run 3/12  elapsed 1m05s  ETA 3m20s".
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
/* Blanks the line, so what follows starts on a clean one: call before any
 * other stderr message and at the end. */
void cli_progress_clear(struct cli_progress *p);

#endif
