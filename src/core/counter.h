/* The per-device running totals (core/counter.c), for the code that reads
 * devices itself: window edges read every device under its lock first
 * and stamp the reads together (core/edge_read.c). */
#ifndef JOULE_CORE_COUNTER_H
#define JOULE_CORE_COUNTER_H

#include <stdint.h>

struct joule_ctx;
struct joule_device;

/* With the device's lock held: its raw counter, or its power (mW) when it
 * has no counter. */
int counter_read_raw_locked(struct joule_device *d, uint64_t *raw);
/* With device i's lock held: folds a read (rc, raw) made over [t, end]
 * into its total and its edge tracker; *uj gets the total. */
int counter_apply_locked(struct joule_ctx *ctx, int i, int64_t t, int64_t end, int rc,
                         uint64_t raw, uint64_t *uj);

#endif
