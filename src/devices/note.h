/* What backends tell users about a device and about refused access, in
 * one voice: the `joule info` note and the "needs root" hints. */
#ifndef JOULE_DEVICES_NOTE_H
#define JOULE_DEVICES_NOTE_H

#include <stddef.h>

struct joule_device;

/* Appends one remark to d->note ("; " between remarks), printf-style;
 * cut short when the note is full. */
void jdev_note_add(struct joule_device *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Why a permission was refused and what to do about it, without root.
 * Reading: RAPL's energy_uj (root-only since Linux 5.10). */
#define JDEV_HINT_READ_AS_USER "run as root, use jouled, or grant read access"
/* Changing GPU settings (power limit, clocks, persistence). */
#define JDEV_HINT_CONTROL_AS_USER                                               \
    "changing GPU settings needs root: run as root, or run jouled (as root) " \
    "and grant this user the control scope in /etc/joule/jouled.conf"

#endif
