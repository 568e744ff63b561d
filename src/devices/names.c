#include "devices/names.h"

#include "base/export.h"

static const char *const kind_names[JOULE_KIND_COUNT] = {
    "gpu", "cpu-package", "dram", "psys", "cpu-core", "cpu-uncore",
};
static const char *const label_prefix[JOULE_KIND_COUNT] = {
    "gpu", "cpu", "dram", "psys", "core", "uncore",
};

JOULE_EXPORT const char *joule_kind_name(enum joule_device_kind kind)
{
    return (unsigned)kind < JOULE_KIND_COUNT ? kind_names[kind] : "unknown";
}

const char *jdev_label_prefix(enum joule_device_kind kind)
{
    return (unsigned)kind < JOULE_KIND_COUNT ? label_prefix[kind] : "dev";
}

static const char *const cap_names[] = {
    "energy_counter", "power_instant", "power_average", "power_memory",
    "temperature", "clocks", "throttle", "power_limit", "set_power_limit",
    "lock_clocks", "persistence", "simulated", "cuda",
};

JOULE_EXPORT const char *joule_cap_name(uint32_t bit)
{
    for (unsigned i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
        if (bit == (1u << i))
            return cap_names[i];
    return NULL;
}
