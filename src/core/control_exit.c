/* The restore-on-exit record: contexts opened with restore_on_exit, and
 * the control state's life (control_init, control_guard, control_destroy).
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/control.h"
#include "base/error.h"

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
        ctl_restore_state(st, from_signal);
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
        ctl_restore_state(st, 0);
    free(st->dev);
    free(st);
    ctx->control = NULL;
}
