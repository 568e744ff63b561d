/* The "remote" backend: RAPL zones read through jouled (client/remote.c); joule_open
 * runs it from the backend table (devices/registry.c). */
#ifndef JOULE_CLIENT_REMOTE_H
#define JOULE_CLIENT_REMOTE_H

#include "devices/device.h"

extern const struct jdev_backend jdev_backend_remote;

#endif
