/* The backend table: every backend joule knows, in the order joule_open
 * runs them (GPUs are numbered in this order: NVIDIA, AMD, then
 * simulated), and what decides whether each one runs. The core walks the
 * table and never names a backend. */
#ifndef JOULE_DEVICES_REGISTRY_H
#define JOULE_DEVICES_REGISTRY_H

#include "devices/device.h"

enum jdev_run_when {
    JDEV_RUN_FOR_GPUS,       /* GPUs are wanted ("all", "gpu", "gpu:1") */
    JDEV_RUN_FOR_CPUS,       /* CPU-side zones are wanted ("all", "cpu", "dram") */
    JDEV_RUN_AFTER_REFUSAL,  /* the entry before ran and was refused access
                                (EPERM): a fallback that reads the same devices
                                another way */
};

struct jdev_registry_entry {
    const struct jdev_backend *backend;
    enum jdev_run_when when;
    /* Also runs when the device spec names it (its text then comes in
     * jdev_discover_args.sim_spec), and must then find devices: a
     * request by name that fails is an error, not an absent backend. */
    int by_name;
};

/* The table's entries (a context records one status per entry); adding
 * a backend means one line in registry.c and this count. */
#define JDEV_REGISTRY_COUNT 5
extern const struct jdev_registry_entry jdev_registry[JDEV_REGISTRY_COUNT];

#endif
