/* Small helpers shared by the tests: temporary directories, files, and
 * running the joule CLI with captured output. */
#ifndef JOULE_TEST_SUPPORT_H
#define JOULE_TEST_SUPPORT_H

#include <stddef.h>

/* Sleeps ms milliseconds (fractions allowed), resuming after signals. */
void ts_sleep_ms(double ms);

/* Creates a fresh temporary directory; returns a malloc'd path. */
char *ts_mkdtemp(void);
/* Removes a directory tree (rm -rf). */
void ts_rmtree(const char *path);
/* Writes text to dir/rel, creating parent directories. Returns 0 or -1. */
int ts_write(const char *dir, const char *rel, const char *text);
/* Reads a whole file into a malloc'd NUL-terminated string, NULL on error. */
char *ts_read(const char *path);

/* Runs argv (argv[0] a path) with extra environment entries "K=V" (NULL
 * terminated, may be NULL); captures stdout and stderr into malloc'd
 * strings (either may be NULL if not wanted). Returns the exit status, or
 * 128+signal, or -1 if it could not run. */
int ts_run(char *const argv[], char *const env[], char **out, char **err);

/* ts_run of `prog` with the NULL-terminated arguments that follow err
 * (at most 62): how the CLI tests run `joule ARGS...`. */
int ts_run_args(const char *prog, char *const env[], char **out, char **err, ...);

/* Runs argv with stdout going to stdout_path (e.g. /dev/full) and stderr
 * captured into a malloc'd string. Returns the exit status as ts_run. */
int ts_run_to(char *const argv[], const char *stdout_path, char **err);

/* Fills a fake powercap zone: <root>/class/powercap/<id>/{name,energy_uj,
 * max_energy_range_uj}. */
int ts_rapl_zone(const char *root, const char *id, const char *name,
                 unsigned long long energy_uj, unsigned long long range_uj);
/* Rewrites a zone's energy_uj in place. */
int ts_rapl_set(const char *root, const char *id, unsigned long long energy_uj);

/* A two-stage pipeline profile CSV (stage,instruction,frequency,time,energy)
 * with nfreq SM clocks from 1980 MHz down in steps of step_mhz: forward
 * 5 ms and backward 10 ms at full clock, stage 1 `heavier` times slower,
 * t(f) = t0 (0.85 f_max/f + 0.15), P(f) = 90 + 310 (f/f_max)^3 W. Writes
 * into buf (len bytes) and returns the length. */
size_t ts_pipeline_profile_csv(char *buf, size_t len, int nfreq, int step_mhz, double heavier);

#endif
