/* Helpers shared by the subcommands. */
#ifndef JOULE_CLI_COMMON_H
#define JOULE_CLI_COMMON_H

#include <joule/joule.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

/* Opens a context for spec (NULL: $JOULE_DEVICES or all); prints the
 * library's message and returns NULL on failure. */
joule_ctx *cli_open(const char *command, const char *spec, int allow_empty);
/* Whether any selected device is simulated. */
int cli_has_simulated(joule_ctx *ctx);
/* A JSON object with a device's label, kind, index, name and backend,
 * added to array; the caller adds the rest. */
struct cJSON *cli_device_json(struct cJSON *array, const joule_device *d);
/* Output files: "-" is stdout, else the file is created. NULL after
 * printing why. */
FILE *cli_open_output(const char *command, const char *path);
/* Flushes f and closes it unless it is stdout or stderr. A write or close
 * that failed (a full disk, /dev/full) prints "joule COMMAND: cannot write
 * 'PATH': <strerror>" and returns -1, so no command reports success for
 * output it lost. NULL f is a no-op. */
int cli_close_output(const char *command, FILE *f, const char *path);
/* The report stream of `run`/`sweep -o PATH`: as cli_open_output when
 * path is given; else stdout for a machine-readable report (--json,
 * --csv: `joule run --json -- cmd | jq` works) and stderr for the human
 * text (like perf stat, so it stays apart from CMD's own stdout). Close it
 * with cli_close_output. */
FILE *cli_open_report(const char *command, const char *path, int machine);
/* A duration option, through libjoule's one parser (joule_parse_duration):
 * "100ms", "1.5s", "2h", or a bare number in the option's documented unit
 * bare_unit_s (1e-3 for an option in ms, 1 for one in s). Out of
 * [lo_s, hi_s] or unreadable: prints "joule COMMAND: OPTION 'TEXT': give a
 * duration from LO to HI ..." and returns -1. */
int cli_parse_duration(const char *command, const char *option, const char *text,
                       double bare_unit_s, double lo_s, double hi_s, double *out_s);
/* Seconds with the largest unit that keeps them whole: "1ms", "60s", "7d". */
void cli_format_duration(double s, char *buf, size_t len);
/* After getopt has said what is wrong with an option ("joule run:
 * unrecognized option '--jsn'"): one line saying where the help is,
 * instead of the whole usage. prog is the command as typed ("joule run").
 * Returns 2, the exit code of bad usage. */
int cli_try_help(const char *prog);
/* Warns, one line per device, where interval_ms is finer than the source
 * of its sampled power can serve: a counter-only device (RAPL) is limited
 * by how often its energy counter changes, the others by their power
 * reading. */
void cli_warn_coarse_sources(const char *command, joule_ctx *ctx, joule_sampler *s,
                             double interval_ms);
/* Warns when joule_trace_read left out a last line without a line end. */
struct joule_trace;
void cli_warn_torn_trace(const char *command, const char *path, const struct joule_trace *t);
/* Mean and sample standard deviation (n-1) of v[0], v[stride], ...;
 * the mean of nothing is NAN, the spread of fewer than two values 0. */
double cli_mean(const double *v, int n, int stride);
double cli_stddev(const double *v, int n, int stride);
/* key: v, or null where v is NaN or infinite (not JSON numbers). */
void cli_json_number(struct cJSON *o, const char *key, double v);
/* Calls tick(arg, t) every interval_ms after origin (CLOCK_MONOTONIC), t
 * the scheduled seconds since origin, on absolute deadlines so it never
 * drifts; with duration_s > 0 the last call is at duration_s, not a whole
 * interval later. Stops when *stop is set (a signal) or tick returns
 * nonzero, and returns that value (0 otherwise): `joule monitor`'s loop. */
int cli_every(const struct timespec *origin, double interval_ms, double duration_s,
              volatile sig_atomic_t *stop, int (*tick)(void *arg, double t), void *arg);
/* s as XML character data (<, >, & escaped; control characters dropped),
 * for the SVG plots' titles and labels. */
void cli_xml_text(FILE *f, const char *s);
/* The local wall clock as "2026-01-01T12:00:00.123", for streamed rows. */
void cli_wall_timestamp(char *buf, size_t len);
/* Formats seconds as "1.234 s" or "12 ms". */
void cli_duration(double s, char *buf, size_t len);

/* Power limits or clocks: "300:100:25" (either order) or "300,250,200",
 * sorted descending, every number finite, every setting in (0, 1e6] and
 * none twice. Returns how many, or -1 with the reason in err. */
int cli_parse_settings(const char *spec, double *out, int cap, char *err, size_t errlen);

#endif
