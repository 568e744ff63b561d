/* Names of the public device enums (joule.h): kinds and capability bits.
 * Here, at the bottom, so every layer (the jouled client included) names
 * kinds the same way. */
#ifndef JOULE_DEVICES_NAMES_H
#define JOULE_DEVICES_NAMES_H

#include <joule/joule.h>

/* Label prefix of a kind: "gpu", "cpu", "dram", "psys", "core", "uncore"
 * (labels are prefix + index: "gpu0", "cpu1"); "dev" if unknown. */
const char *jdev_label_prefix(enum joule_device_kind kind);

/* joule_kind_name() and joule_cap_name() are public (joule.h). */

#endif
