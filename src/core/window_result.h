/* Measuring a window (core/window_result.c): read every device at the end
 * instant and turn the begin and end edges into a result. */
#ifndef JOULE_CORE_WINDOW_RESULT_H
#define JOULE_CORE_WINDOW_RESULT_H

#include <joule/joule.h>
#include <stdint.h>

struct joule_ctx;
struct edge_value;

/* The result of a window named name that began at begin_ns (begin_unix_s
 * on the wall clock) with begin edges begin[]/begin_status[] (ndev each;
 * begin[] is refined in place), ending at end_ns. NULL when out of
 * memory. */
joule_result *window_measure(struct joule_ctx *ctx, const char *name, int64_t begin_ns,
                             double begin_unix_s, struct edge_value *begin,
                             const int *begin_status, int64_t end_ns);

#endif
