/* joule_restore(): puts each recorded setting back and forgets the
 * record. joule_close() restores only when the context was opened with
 * restore_on_exit (control_exit.c): `joule gpu` relies on settings
 * outliving the process. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "core/control.h"
#include "base/error.h"
#include "base/export.h"

/* Puts back one device's settings; d->lock is held (or could not be had). */
static int restore_dev(const struct control_state *st, struct ctl_dev *cd)
{
    struct joule_device *d = cd->d;
    int first = 0;
    char msg[1024] = "";
#define NOTE_FAIL(rc_)                                                          \
    do {                                                                        \
        if (!first) {                                                           \
            first = (rc_);                                                      \
            snprintf(msg, sizeof msg, "%s", joule_last_error());                \
        }                                                                       \
    } while (0)
    if (cd->clocks_changed) {
        int rc = d->ops->reset_clocks ? d->ops->reset_clocks(d) : ctl_unsupported(d, "reset SM clocks");
        rc = ctl_via_daemon(st, d, rc, DAEMON_RESET_CLOCKS, 0, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->clocks_changed = 0;
    }
    if (cd->mem_clocks_changed) {
        int rc = d->ops->reset_mem_clocks ? d->ops->reset_mem_clocks(d)
                                          : ctl_unsupported(d, "reset memory clocks");
        rc = ctl_via_daemon(st, d, rc, DAEMON_RESET_MEM_CLOCKS, 0, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->mem_clocks_changed = 0;
    }
    if (cd->pl_changed) {
        int rc = d->ops->set_power_limit_mw ? d->ops->set_power_limit_mw(d, cd->pl_orig_mw)
                                            : ctl_unsupported(d, "set a power limit");
        rc = ctl_via_daemon(st, d, rc, DAEMON_SET_POWER_LIMIT, (int)cd->pl_orig_mw, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->pl_changed = 0;
    }
    if (cd->persist_changed) {
        int rc = d->ops->set_persistence ? d->ops->set_persistence(d, cd->persist_orig)
                                         : ctl_unsupported(d, "set persistence mode");
        rc = ctl_via_daemon(st, d, rc, DAEMON_SET_PERSISTENCE, cd->persist_orig, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->persist_changed = 0;
    }
#undef NOTE_FAIL
    if (first)
        joule_set_error(first, "restoring %s: %s", d->label, msg);
    return first;
}

int ctl_restore_state(struct control_state *st, int from_signal)
{
    int first = 0;
    char msg[1024] = "";
    for (int i = 0; st && i < st->n; i++) {
        struct ctl_dev *cd = &st->dev[i];
        int locked = 1;
        if (from_signal) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            locked = pthread_mutex_timedlock(&cd->d->lock, &until) == 0;
        } else {
            pthread_mutex_lock(&cd->d->lock);
        }
        int rc = restore_dev(st, cd);
        if (rc && !first) {
            first = rc;
            snprintf(msg, sizeof msg, "%s", joule_last_error());
        }
        if (locked)
            pthread_mutex_unlock(&cd->d->lock);
    }
    if (first)
        joule_set_error(first, "%s", msg);
    return first;
}

JOULE_EXPORT int joule_restore(joule_ctx *ctx)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    return ctl_restore_state(ctx->control, 0);
}
