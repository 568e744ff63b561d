/* The one clock: CLOCK_MONOTONIC in nanoseconds, what every read, edge
 * and sample is stamped with (docs/measurement.md). */
#ifndef JOULE_BASE_CLOCK_H
#define JOULE_BASE_CLOCK_H

#include <stdint.h>

int64_t joule_now_ns(void);
/* The wall clock in seconds since the epoch, for stamps kept in files
 * (databases, state): never for durations. */
double joule_unix_s(void);

#endif
