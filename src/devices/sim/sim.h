/* Test access to a simulated device's ground truth. */
#ifndef JOULE_DEVICES_SIM_H
#define JOULE_DEVICES_SIM_H

#include "devices/device.h"

/* Exact energy since the device's model started (the integral of its
 * instant power, not the 100 ms counter), joules. ENOTSUP if d is not a
 * sim device. */
int sim_device_true_energy_j(struct joule_device *d, double *joules);
/* The same at an earlier monotonic time t_ns (within the model's retained
 * history of power changes). */
int sim_device_true_energy_at_j(struct joule_device *d, int64_t t_ns, double *joules);

#endif
