/* GPU control through the public API (power limits, locked clocks,
 * persistence) and joule_restore().
 *
 * Every setting changed through a context is recorded before its first
 * change: the power limit and persistence mode by value; locked SM and
 * memory clocks as "changed" (NVML cannot read back a locked range, so
 * restoring means resetting them). joule_restore() puts each back and
 * forgets the record. joule_close() restores only when the context was
 * opened with restore_on_exit: `joule gpu` relies on settings outliving
 * the process.
 *
 * restore_on_exit registers the context in a process-wide list that is
 * restored
 *   - at exit() (an atexit handler), and
 *   - on SIGINT and SIGTERM: the handler hands the work to a restorer
 *     thread through a pipe, waits (poll, at most 5 s) for it to finish,
 *     then chains to the previous handler, or, when that was the default
 *     action, re-raises the signal with the default action so the process
 *     still dies of it.
 * The compromise: restoring calls the vendor library, which is not
 * async-signal-safe, so it never runs inside the handler; the handler uses
 * only write, poll, read, sigaction and raise. If the interrupted thread
 * held a device lock, the restorer waits for it at most 1 s and then goes
 * ahead without it (the vendor library is itself thread-safe). A process
 * that ignored SIGINT/SIGTERM (SIG_IGN) keeps ignoring them. SIGKILL and
 * crashes cannot be caught: settings then stay until `joule gpu ... --reset`.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/context.h"
#include "client/daemon_client.h"
#include "base/error.h"
#include "base/export.h"

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

/* ---- device access -------------------------------------------------------- */

static struct ctl_dev *ctl_of(struct joule_ctx *ctx, struct joule_device *d)
{
    struct control_state *st = ctx->control;
    if (!st)
        return NULL;
    for (int i = 0; i < st->n; i++)
        if (st->dev[i].d == d)
            return &st->dev[i];
    return NULL;
}

/* The GPU, locked; NULL with the error set. */
static struct joule_device *lock_gpu(joule_ctx *ctx, int gpu)
{
    struct joule_device *d = jctx_gpu(ctx, gpu);
    if (d)
        pthread_mutex_lock(&d->lock);
    return d;
}

static int unsupported(const struct joule_device *d, const char *what)
{
    return joule_set_error(JOULE_ENOTSUP, "%s (%s, %s backend) cannot %s", d->label,
                           d->name, d->backend, what);
}

/* ---- jouled fallback ------------------------------------------------------ */

/* A setter refused locally (JOULE_EPERM) goes to jouled when one is
 * configured (core/daemon_client.c). A context opened with
 * restore_on_exit ties the change to this process (jouled restores it when
 * the process ends, even on SIGKILL); otherwise the change persists, as a
 * local change would. Without a daemon the local error stands. */
static int via_daemon(const struct control_state *st, struct joule_device *d, int rc,
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

/* ---- queries ------------------------------------------------------------------ */

JOULE_EXPORT int joule_gpu_get_power_limit_w(joule_ctx *ctx, int gpu, double *current_w,
                                             double *min_w, double *max_w,
                                             double *default_w, double *enforced_w)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    struct jdev_power_limits l = {0};
    int rc = d->ops->get_power_limits ? d->ops->get_power_limits(d, &l)
                                      : unsupported(d, "report power limits");
    pthread_mutex_unlock(&d->lock);
    if (rc)
        return rc;
    if (current_w)
        *current_w = l.current_mw / 1000.0;
    if (min_w)
        *min_w = l.min_mw / 1000.0;
    if (max_w)
        *max_w = l.max_mw / 1000.0;
    if (default_w)
        *default_w = l.default_mw / 1000.0;
    if (enforced_w)
        *enforced_w = l.enforced_mw / 1000.0;
    return 0;
}

JOULE_EXPORT int joule_gpu_clocks_mhz(joule_ctx *ctx, int gpu, int *sm_mhz, int *mem_mhz)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int sm = 0, mem = 0;
    int rc = d->ops->read_clocks_mhz ? d->ops->read_clocks_mhz(d, &sm, &mem)
                                     : unsupported(d, "report clocks");
    pthread_mutex_unlock(&d->lock);
    if (rc)
        return rc;
    if (sm_mhz)
        *sm_mhz = sm;
    if (mem_mhz)
        *mem_mhz = mem;
    return 0;
}

JOULE_EXPORT int joule_gpu_temperature_c(joule_ctx *ctx, int gpu, int *celsius)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int c = 0;
    int rc = d->ops->read_temperature_c ? d->ops->read_temperature_c(d, &c)
                                        : unsupported(d, "report its temperature");
    pthread_mutex_unlock(&d->lock);
    if (!rc && celsius)
        *celsius = c;
    return rc;
}

JOULE_EXPORT int joule_gpu_throttle_reasons(joule_ctx *ctx, int gpu, uint64_t *mask)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    uint64_t m = 0;
    int rc = d->ops->read_throttle ? d->ops->read_throttle(d, &m)
                                   : unsupported(d, "report throttle reasons");
    pthread_mutex_unlock(&d->lock);
    if (!rc && mask)
        *mask = m;
    return rc;
}

JOULE_EXPORT int joule_gpu_supported_clocks_mhz(joule_ctx *ctx, int gpu, int *mhz, int cap)
{
    if (cap < 0 || (cap > 0 && !mhz))
        return joule_set_error(JOULE_EINVAL, "supported clocks: need a buffer for %d values", cap);
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int rc = d->ops->supported_clocks_mhz ? d->ops->supported_clocks_mhz(d, mhz, cap)
                                          : unsupported(d, "list its supported clocks");
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static const char *const throttle_names[] = {
    "gpu_idle",   "app_clocks", "sw_power_cap",   "hw_slowdown",    "sync_boost",
    "sw_thermal", "hw_thermal", "hw_power_brake", "display_clocks",
};

JOULE_EXPORT int joule_throttle_names(uint64_t mask, char *buf, size_t len)
{
    if (!buf || len == 0)
        return joule_set_error(JOULE_EINVAL, "joule_throttle_names: no buffer");
    char tmp[256] = "";
    size_t used = 0;
    int n = 0;
    for (unsigned b = 0; b < sizeof throttle_names / sizeof throttle_names[0]; b++)
        if (mask & (1ull << b))
            used += (size_t)snprintf(tmp + used, sizeof tmp - used, "%s%s", n++ ? "," : "",
                                     throttle_names[b]);
    uint64_t unknown = mask & ~((1ull << (sizeof throttle_names / sizeof throttle_names[0])) - 1);
    if (unknown)
        snprintf(tmp + used, sizeof tmp - used, "%sunknown_0x%llx", n++ ? "," : "",
                 (unsigned long long)unknown);
    if (n == 0)
        snprintf(tmp, sizeof tmp, "none");
    if (strlen(tmp) >= len) {
        memcpy(buf, tmp, len - 1);
        buf[len - 1] = '\0';
        return joule_set_error(JOULE_ERANGE,
                               "joule_throttle_names: buffer of %zu bytes is too small "
                               "for '%s'", len, tmp);
    }
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

/* ---- setters ---------------------------------------------------------------------- */

static int set_limit_locked(joule_ctx *ctx, struct joule_device *d, uint32_t mw)
{
    if (!d->ops->set_power_limit_mw || !d->ops->get_power_limits)
        return unsupported(d, "set a power limit");
    struct jdev_power_limits l;
    int rc = d->ops->get_power_limits(d, &l);
    if (rc)
        return rc;
    if (mw < l.min_mw || mw > l.max_mw)
        return joule_set_error(JOULE_ERANGE,
            "power limit %.1f W is outside %s (%s)'s allowed range %.1f-%.1f W",
            mw / 1000.0, d->label, d->name, l.min_mw / 1000.0, l.max_mw / 1000.0);
    struct ctl_dev *cd = ctl_of(ctx, d);
    rc = d->ops->set_power_limit_mw(d, mw);
    rc = via_daemon(ctx->control, d, rc, DAEMON_SET_POWER_LIMIT, (int)mw, 0);
    if (rc == 0 && cd && !cd->pl_changed) {
        cd->pl_changed = 1;
        cd->pl_orig_mw = l.current_mw;
    }
    return rc;
}

JOULE_EXPORT int joule_gpu_set_power_limit_w(joule_ctx *ctx, int gpu, double watts)
{
    if (!isfinite(watts) || watts <= 0 || watts > 1e6)
        return joule_set_error(JOULE_EINVAL, "power limit %g W: need a positive number of watts",
                               watts);
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int rc = set_limit_locked(ctx, d, (uint32_t)lround(watts * 1000.0));
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_gpu_reset_power_limit(joule_ctx *ctx, int gpu)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    struct jdev_power_limits l;
    int rc = d->ops->get_power_limits ? d->ops->get_power_limits(d, &l)
                                      : unsupported(d, "report power limits");
    if (!rc)
        rc = set_limit_locked(ctx, d, l.default_mw);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int lock_range(joule_ctx *ctx, int gpu, int min_mhz, int max_mhz, int memory)
{
    const char *what = memory ? "memory" : "SM";
    if (min_mhz <= 0 || max_mhz <= 0 || min_mhz > max_mhz)
        return joule_set_error(JOULE_EINVAL,
                               "locked %s clocks %d,%d MHz: need 0 < MIN <= MAX", what,
                               min_mhz, max_mhz);
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int (*op)(struct joule_device *, int, int) =
        memory ? d->ops->lock_mem_clocks_mhz : d->ops->lock_clocks_mhz;
    int rc = op ? op(d, min_mhz, max_mhz)
                : unsupported(d, memory ? "lock memory clocks" : "lock SM clocks");
    rc = via_daemon(ctx->control, d, rc, memory ? DAEMON_LOCK_MEM_CLOCKS : DAEMON_LOCK_CLOCKS,
                    min_mhz, max_mhz);
    struct ctl_dev *cd = ctl_of(ctx, d);
    if (rc == 0 && cd) {
        if (memory)
            cd->mem_clocks_changed = 1;
        else
            cd->clocks_changed = 1;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int reset_range(joule_ctx *ctx, int gpu, int memory)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int (*op)(struct joule_device *) = memory ? d->ops->reset_mem_clocks : d->ops->reset_clocks;
    int rc = op ? op(d) : unsupported(d, memory ? "reset memory clocks" : "reset SM clocks");
    rc = via_daemon(ctx->control, d, rc, memory ? DAEMON_RESET_MEM_CLOCKS : DAEMON_RESET_CLOCKS,
                    0, 0);
    struct ctl_dev *cd = ctl_of(ctx, d);
    if (rc == 0 && cd) {
        /* Reset is what a restore would do. */
        if (memory)
            cd->mem_clocks_changed = 0;
        else
            cd->clocks_changed = 0;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_gpu_lock_clocks_mhz(joule_ctx *ctx, int gpu, int min_mhz, int max_mhz)
{
    return lock_range(ctx, gpu, min_mhz, max_mhz, 0);
}

JOULE_EXPORT int joule_gpu_reset_clocks(joule_ctx *ctx, int gpu) { return reset_range(ctx, gpu, 0); }

JOULE_EXPORT int joule_gpu_lock_memory_clocks_mhz(joule_ctx *ctx, int gpu, int min_mhz,
                                                  int max_mhz)
{
    return lock_range(ctx, gpu, min_mhz, max_mhz, 1);
}

JOULE_EXPORT int joule_gpu_reset_memory_clocks(joule_ctx *ctx, int gpu)
{
    return reset_range(ctx, gpu, 1);
}

JOULE_EXPORT int joule_gpu_set_persistence(joule_ctx *ctx, int gpu, int enable)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return JOULE_ENODEV;
    int rc, orig = -1;
    if (!d->ops->set_persistence) {
        rc = unsupported(d, "set persistence mode");
    } else {
        if (d->ops->get_persistence && d->ops->get_persistence(d, &orig) != 0)
            orig = -1;
        rc = d->ops->set_persistence(d, enable != 0);
        rc = via_daemon(ctx->control, d, rc, DAEMON_SET_PERSISTENCE, enable != 0, 0);
    }
    struct ctl_dev *cd = ctl_of(ctx, d);
    if (rc == 0 && cd && !cd->persist_changed && orig >= 0) {
        cd->persist_changed = 1;
        cd->persist_orig = orig;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

JOULE_EXPORT int joule_gpu_get_persistence(joule_ctx *ctx, int gpu, int *on)
{
    struct joule_device *d = lock_gpu(ctx, gpu);
    if (!d)
        return ctx ? JOULE_ENODEV : JOULE_EINVAL;
    int v = 0;
    int rc = d->ops->get_persistence ? d->ops->get_persistence(d, &v)
                                     : unsupported(d, "report persistence mode");
    pthread_mutex_unlock(&d->lock);
    if (!rc && on)
        *on = v != 0;
    return rc;
}

/* ---- restore ------------------------------------------------------------------------ */

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
        int rc = d->ops->reset_clocks ? d->ops->reset_clocks(d) : unsupported(d, "reset SM clocks");
        rc = via_daemon(st, d, rc, DAEMON_RESET_CLOCKS, 0, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->clocks_changed = 0;
    }
    if (cd->mem_clocks_changed) {
        int rc = d->ops->reset_mem_clocks ? d->ops->reset_mem_clocks(d)
                                          : unsupported(d, "reset memory clocks");
        rc = via_daemon(st, d, rc, DAEMON_RESET_MEM_CLOCKS, 0, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->mem_clocks_changed = 0;
    }
    if (cd->pl_changed) {
        int rc = d->ops->set_power_limit_mw ? d->ops->set_power_limit_mw(d, cd->pl_orig_mw)
                                            : unsupported(d, "set a power limit");
        rc = via_daemon(st, d, rc, DAEMON_SET_POWER_LIMIT, (int)cd->pl_orig_mw, 0);
        if (rc)
            NOTE_FAIL(rc);
        else
            cd->pl_changed = 0;
    }
    if (cd->persist_changed) {
        int rc = d->ops->set_persistence ? d->ops->set_persistence(d, cd->persist_orig)
                                         : unsupported(d, "set persistence mode");
        rc = via_daemon(st, d, rc, DAEMON_SET_PERSISTENCE, cd->persist_orig, 0);
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

static int restore_state(struct control_state *st, int from_signal)
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
    return restore_state(ctx->control, 0);
}

/* ---- restore at exit and on signals ---------------------------------------------------- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct control_state *reg_head;
static int atexit_done;
static pid_t handlers_pid; /* process whose restorer thread and pipes exist */
static int req_pipe[2] = {-1, -1}, done_pipe[2] = {-1, -1};
static pthread_t restorer;
static struct sigaction old_int, old_term;
static int have_int, have_term;

static void restore_registered(int from_signal)
{
    if (from_signal) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        if (pthread_mutex_timedlock(&reg_lock, &until) != 0)
            return;
    } else {
        pthread_mutex_lock(&reg_lock);
    }
    for (struct control_state *st = reg_head; st; st = st->next)
        restore_state(st, from_signal);
    pthread_mutex_unlock(&reg_lock);
}

static void at_exit(void) { restore_registered(0); }

static void *restorer_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        char c;
        ssize_t n = read(req_pipe[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        restore_registered(1);
        ssize_t w = write(done_pipe[1], &c, 1);
        (void)w;
    }
}

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    int saved = errno;
    if (handlers_pid == getpid() && req_pipe[1] >= 0) {
        char c = (char)sig, junk[16];
        /* Drop stale completions, then ask and wait (at most 5 s). */
        while (read(done_pipe[0], junk, sizeof junk) > 0)
            ;
        if (write(req_pipe[1], &c, 1) == 1) {
            struct pollfd p = {.fd = done_pipe[0], .events = POLLIN};
            for (int waited = 0; waited < 5000; waited += 100) {
                int r = poll(&p, 1, 100);
                if (r > 0)
                    break;
            }
            while (read(done_pipe[0], junk, sizeof junk) > 0)
                ;
        }
    }
    const struct sigaction *old = sig == SIGINT ? &old_int : &old_term;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction)
            old->sa_sigaction(sig, info, uc);
    } else if (old->sa_handler == SIG_DFL) {
        /* Die of the signal as the process would have. */
        sigaction(sig, old, NULL);
        raise(sig);
    } else if (old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    }
    errno = saved;
}

static int install_handler(int sig, struct sigaction *old, int *have)
{
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) != 0)
        return -1;
    if (cur.sa_flags & SA_SIGINFO ? cur.sa_sigaction == on_signal : 0)
        return 0; /* already ours */
    if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN)
        return 0; /* the process ignores it: keep ignoring */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    if (sigaction(sig, &sa, old) != 0)
        return -1;
    *have = 1;
    return 0;
}

/* Starts the restorer thread and installs the handlers once per process
 * (again in a forked child). reg_lock is held. */
static int setup_handlers_locked(void)
{
    if (!atexit_done) {
        if (atexit(at_exit) != 0)
            return joule_set_error(JOULE_ENOMEM, "cannot register the exit-time restore");
        atexit_done = 1;
    }
    if (handlers_pid == getpid())
        return 0;
    /* A fork copied the pipes but not the thread: start afresh. */
    for (int i = 0; i < 2; i++) {
        if (req_pipe[i] >= 0)
            close(req_pipe[i]);
        if (done_pipe[i] >= 0)
            close(done_pipe[i]);
        req_pipe[i] = done_pipe[i] = -1;
    }
    if (pipe2(req_pipe, O_CLOEXEC) != 0 || pipe2(done_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return joule_set_error(JOULE_EIO, "cannot create the restore pipe: %s", strerror(errno));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&restorer, &attr, restorer_main, NULL);
    pthread_attr_destroy(&attr);
    if (e != 0)
        return joule_set_error(JOULE_ENOMEM, "cannot start the restore thread: %s", strerror(e));
    handlers_pid = getpid();
    if (install_handler(SIGINT, &old_int, &have_int) != 0 ||
        install_handler(SIGTERM, &old_term, &have_term) != 0)
        return joule_set_error(JOULE_EIO, "cannot install SIGINT/SIGTERM handlers: %s",
                               strerror(errno));
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

int control_init(struct joule_ctx *ctx, int restore_on_exit)
{
    struct control_state *st = calloc(1, sizeof *st);
    if (!st)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    st->dev = calloc(ctx->ndev ? (size_t)ctx->ndev : 1, sizeof *st->dev);
    if (!st->dev) {
        free(st);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    for (int i = 0; i < ctx->ndev; i++)
        if (ctx->devs[i]->kind == JOULE_KIND_GPU)
            st->dev[st->n++].d = ctx->devs[i];
    st->restore_on_exit = restore_on_exit != 0;
    ctx->control = st;
    if (st->restore_on_exit) {
        pthread_mutex_lock(&reg_lock);
        int rc = setup_handlers_locked();
        if (rc == 0) {
            st->next = reg_head;
            reg_head = st;
            st->registered = 1;
        }
        pthread_mutex_unlock(&reg_lock);
        if (rc)
            return rc;
    }
    return 0;
}

int control_guard(struct joule_ctx *ctx)
{
    struct control_state *st = ctx ? ctx->control : NULL;
    if (!st)
        return joule_set_error(JOULE_EINVAL, "context has no control state");
    pthread_mutex_lock(&reg_lock);
    int rc = 0;
    if (!st->registered) {
        rc = setup_handlers_locked();
        if (rc == 0) {
            st->next = reg_head;
            reg_head = st;
            st->registered = 1;
            st->restore_on_exit = 1;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

void control_destroy(struct joule_ctx *ctx)
{
    struct control_state *st = ctx ? ctx->control : NULL;
    if (!st)
        return;
    if (st->registered) {
        pthread_mutex_lock(&reg_lock);
        for (struct control_state **p = &reg_head; *p; p = &(*p)->next)
            if (*p == st) {
                *p = st->next;
                break;
            }
        pthread_mutex_unlock(&reg_lock);
    }
    /* Closing a restore_on_exit context ends what it set, like an exit. */
    if (st->restore_on_exit)
        restore_state(st, 0);
    free(st->dev);
    free(st);
    ctx->control = NULL;
}
