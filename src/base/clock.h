/* The one clock: CLOCK_MONOTONIC in nanoseconds, what every read, edge
 * and sample is stamped with (docs/measurement.md). */
#ifndef JOULE_BASE_CLOCK_H
#define JOULE_BASE_CLOCK_H

#include <stdint.h>

int64_t joule_now_ns(void);

#endif
