/* The per-device running totals (core/counter.c), for the code that reads
 * devices itself: window edges read every device under its lock first
 * and stamp the reads together (core/edge_read.c). */
#ifndef JOULE_CORE_COUNTER_H
#define JOULE_CORE_COUNTER_H

#include <stdint.h>

struct joule_ctx;
struct joule_device;

/* The core's state for one device: ctx->counters[i] belongs to
 * ctx->devs[i] and is guarded by that device's lock, except the learned
 * periods, which windows read without it (atomics). */
struct device_counter {
    /* The wrap-corrected counter or, for a device with no counter, the
     * integral of its power. */
    int have_last;
    uint64_t last_raw_uj;
    uint64_t total_uj;
    double integral_uj;         /* power-only devices: trapezoid integral */
    int64_t last_read_ns;
    uint32_t last_power_mw;
    uint32_t recent_power_mw;   /* from the last two reads, for estimates */
    int last_status;
    /* The device's nominal periods until joule_detect_update_periods
     * measures them (core/device_timing.c). */
    double update_period_us;    /* energy counter (or power if none) */
    double power_period_us;     /* power reading, 0 = unknown */
    int periods_measured;
};

/* One counter per selected device, starting from the device's nominal
 * periods; each device's core pointer is set to its counter. */
int counters_create(struct joule_ctx *ctx);
void counters_destroy(struct joule_ctx *ctx);
/* A device's counter from its public handle (NULL before selection). */
const struct device_counter *counter_of(const struct joule_device *d);
/* Its energy counter's update period (µs): learned, else nominal. */
double counter_update_period_us(const struct device_counter *c);

/* With the device's lock held: its raw counter, or its power (mW) when it
 * has no counter. */
int counter_read_raw_locked(struct joule_device *d, uint64_t *raw);
/* With device i's lock held: folds a read (rc, raw) made over [t, end]
 * into its total and its edge tracker; *uj gets the total. */
int counter_apply_locked(struct joule_ctx *ctx, int i, int64_t t, int64_t end, int rc,
                         uint64_t raw, uint64_t *uj);

#endif
