/* The jouled fallback of the setters and of restore. */
#include <stdio.h>
#include <string.h>

#include "core/control.h"
#include "base/error.h"

/* A setter refused locally (JOULE_EPERM) goes to jouled when one is
 * configured (client/daemon_client.c). A context opened with
 * restore_on_exit ties the change to this process (jouled restores it when
 * the process ends, even on SIGKILL); otherwise the change persists, as a
 * local change would. Without a daemon the local error stands. */
int ctl_via_daemon(const struct control_state *st, struct joule_device *d, int rc,
                   enum daemon_gpu_op op, int a, int b)
{
    char where[300];
    if (rc != JOULE_EPERM || !daemon_client_configured(where, sizeof where))
        return rc;
    char local[512];
    snprintf(local, sizeof local, "%s", joule_last_error());
    int persist = !(st && st->restore_on_exit);
    int r = daemon_client_gpu(d, op, a, b, persist);
    if (r == JOULE_ENODEV && strstr(joule_last_error(), "cannot reach jouled"))
        return joule_set_error(rc, "%s; and %s", local, joule_last_error());
    return r;
}
