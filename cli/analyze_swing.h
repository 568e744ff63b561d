/* The power-swing part of `joule analyze` (cli/analyze_swing.c): swing,
 * largest ramps and the share of variation in the 0.1-20 Hz band, per
 * device with power and for the sum of the GPUs. */
#ifndef JOULE_CLI_ANALYZE_SWING_H
#define JOULE_CLI_ANALYZE_SWING_H

#include <cjson/cJSON.h>
#include <joule/trace.h>

/* A table after analyze's own; 0, or nonzero (message printed) on failure. */
int analyze_swing_text(const char *path, const joule_trace *t);
/* root["swings"]; 0, or nonzero (message printed) on failure. */
int analyze_swing_json(const char *path, const joule_trace *t, cJSON *root);

#endif
