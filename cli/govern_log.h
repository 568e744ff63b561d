/* The log of `joule govern --json FILE` and its summary in `joule analyze
 * --govern-log FILE` (docs/inference.md, "Records").
 *
 * Version 2 (this one): a header line {"joule_govern_log": 2, SLOs,
 * interval, profile, metrics URL}, then one line per decision with the
 * profile's energy per token at the clock its tokens ran at and at the top
 * clock, then {"summary": {...}} when the governor stopped. Version 1 logs
 * (no header, decisions without the estimate) are read for what they hold:
 * period, decisions and time at each clock; their SLO violations and
 * saving are reported as unknown, with the reason. */
#ifndef JOULE_CLI_GOVERN_LOG_H
#define JOULE_CLI_GOVERN_LOG_H

#include <stdio.h>

#include <joule/inference.h>

#define GOVERN_LOG_VERSION 2

struct cJSON;

void govern_log_header(FILE *f, const joule_govern_options *o, double interval_s,
                       const char *profile, const char *metrics_url);
/* Adds a decision's estimate fields to its JSON object. */
void govern_log_add_estimate(struct cJSON *o, const joule_govern_decision *d);

/* Whether path's first non-blank byte is '{' (a governor log, not a trace). */
int govern_log_detect(const char *path);
/* `joule analyze --govern-log PATH [--json]`: 0, or 1 after printing why
 * (file and line). */
int govern_log_analyze(const char *path, int json);

#endif
