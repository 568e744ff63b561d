/* What the control files share (src/core/control_*.c): the record of
 * settings a context changed, device access for the setters, and the
 * jouled fallback.
 *
 *   control_access.c   a GPU locked by index, its record, "cannot"
 *   control_query.c    reading limits, clocks, temperature, throttle
 *   control_set.c      the setters, each recording what it changes
 *   control_daemon.c   a setter refused locally goes to jouled
 *   control_restore.c  joule_restore(): putting recorded settings back
 *   control_exit.c     restore_on_exit: at exit() and on SIGINT/SIGTERM
 *
 * Control uses only a device's lock, ops, caps and identity fields. */
#ifndef JOULE_CORE_CONTROL_H
#define JOULE_CORE_CONTROL_H

#include "core/context.h"
#include "client/daemon_client.h"

/* Every setting changed through a context is recorded before its first
 * change: the power limit and persistence mode by value; locked SM and
 * memory clocks as "changed" (NVML cannot read back a locked range, so
 * restoring means resetting them). */
struct ctl_dev {
    struct joule_device *d;
    /* Guarded by d->lock. */
    int pl_changed;
    uint32_t pl_orig_mw;
    int clocks_changed;
    int mem_clocks_changed;
    int persist_changed;
    int persist_orig;
};

struct control_state {
    int n;
    struct ctl_dev *dev;
    int restore_on_exit;
    int registered;
    struct control_state *next;
};

/* The record of d in ctx, or NULL (not a GPU, or no control state). */
struct ctl_dev *ctl_of(struct joule_ctx *ctx, struct joule_device *d);
/* The GPU, locked; NULL with the error set. */
struct joule_device *ctl_lock_gpu(joule_ctx *ctx, int gpu);
/* JOULE_ENOTSUP with "gpu0 (NAME, BACKEND backend) cannot WHAT". */
int ctl_unsupported(const struct joule_device *d, const char *what);
/* rc of a local attempt, or jouled's answer when rc is JOULE_EPERM and a
 * daemon is configured (control_daemon.c). */
int ctl_via_daemon(const struct control_state *st, struct joule_device *d, int rc,
                   enum daemon_gpu_op op, int a, int b);
/* Puts back every recorded setting of st; from_signal waits at most 1 s
 * for a device lock (control_restore.c). */
int ctl_restore_state(struct control_state *st, int from_signal);

#endif
