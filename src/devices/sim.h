/* Test access to a simulated device's ground truth. */
#ifndef JOULE_DEVICES_SIM_H
#define JOULE_DEVICES_SIM_H

#include "devices/device.h"

/* Exact energy since the device's model started (the integral of its
 * instant power, not the 100 ms counter), joules. ENOTSUP if d is not a
 * sim device. */
int sim_device_true_energy_j(struct joule_device *d, double *joules);

#endif
