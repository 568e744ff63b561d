/* CLOCK_MONOTONIC in ns, and joule_now_s() for the public API. */
#include "base/clock.h"

#include <time.h>

#include "base/export.h"

int64_t joule_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double joule_unix_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

JOULE_EXPORT double joule_now_s(void) { return (double)joule_now_ns() / 1e9; }
