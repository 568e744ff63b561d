/* The "remote" backend: RAPL zones read through jouled (devices/remote.c). */
#ifndef JOULE_CLIENT_REMOTE_H
#define JOULE_CLIENT_REMOTE_H

#include "devices/device.h"

extern const struct jdev_backend jdev_backend_remote;

#endif
