/* Sampler internals the window code uses. */
#ifndef JOULE_CORE_SAMPLER_H
#define JOULE_CORE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct joule_sampler;

/* Energy of device i over [t0_us, t1_us] from its sampled power (step
 * function), microjoules. */
int sampler_energy_uj(struct joule_sampler *s, int device, int64_t t0_us,
                      int64_t t1_us, double *uj);
/* Bytes the stored samples take (see stream_encoded_bytes). */
size_t sampler_encoded_bytes(struct joule_sampler *s);
/* Whether the sampler thread is running. */
int sampler_running(struct joule_sampler *s);

#endif
