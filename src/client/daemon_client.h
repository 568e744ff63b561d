/* A small client for jouled (HTTP/1.1 + JSON over a unix socket or TCP),
 * used when the caller lacks the privilege to do something itself: GPU
 * control (core/control_daemon.c) and RAPL reads (client/remote.c).
 *
 * Where: $JOULE_DAEMON = unix:PATH | tcp:HOST:PORT | off; unset means the
 * default socket /run/joule/jouled.sock when it exists. Over TCP the
 * bearer token comes from $JOULE_DAEMON_TOKEN. */
#ifndef JOULE_CLIENT_DAEMON_CLIENT_H
#define JOULE_CLIENT_DAEMON_CLIENT_H

#include <stddef.h>

struct joule_device;

#define JOULE_DAEMON_DEFAULT_SOCKET "/run/joule/jouled.sock"

/* 1 when a daemon is configured (or the default socket exists); desc gets
 * "unix:/run/joule/jouled.sock". Does not connect. */
int daemon_client_configured(char *desc, size_t len);
/* A connected socket to where ("unix:PATH" or "tcp:IPV4:PORT"), with
 * 10 s send and receive timeouts, or a negative JOULE_E* code. */
int daemon_client_dial(const char *where);
/* One request. Returns the HTTP status (>= 100), or a negative JOULE_E*
 * code with the error set when the daemon cannot be reached. *body gets the
 * response body (malloc'd) when out is not NULL. */
int daemon_client_request(const char *method, const char *path, const char *json, char **body);
/* Turns a non-2xx status and its JSON body into a JOULE_E* code with the
 * daemon's message; 0 for 2xx. */
int daemon_client_error(int status, const char *body, const char *what);

/* GPU control through jouled, on the GPU with d's UUID (else its index). */
enum daemon_gpu_op {
    DAEMON_SET_POWER_LIMIT, /* a = mW */
    DAEMON_LOCK_CLOCKS,     /* a, b = MHz */
    DAEMON_RESET_CLOCKS,
    DAEMON_LOCK_MEM_CLOCKS,
    DAEMON_RESET_MEM_CLOCKS,
    DAEMON_SET_PERSISTENCE, /* a = 0/1 */
};
/* persist: keep the setting after this process ends (else jouled restores
 * it when the process exits). */
int daemon_client_gpu(const struct joule_device *d, enum daemon_gpu_op op, int a, int b,
                      int persist);

#endif
