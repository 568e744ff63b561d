#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t cli_interrupted;
static volatile sig_atomic_t child_pid;
static struct sigaction old_int, old_term;

/* Whether a file named cmd exists in some folder of $PATH. */
static int on_path(const char *cmd)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char dir[4096];
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", n ? (int)n : 1, n ? p : ".", cmd);
        if (access(dir, F_OK) == 0)
            return 1;
        p += n;
        if (*p == ':')
            p++;
    }
    return 0;
}

/* A signal typed at the terminal already reached the command (same
 * process group); one sent to joule alone (kill, a scheduler) is passed on. */
static void forward_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    cli_interrupted = sig;
    if (child_pid > 0 && info && info->si_code != SI_KERNEL)
        kill((pid_t)child_pid, sig);
}

void cli_signals_forward(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

void cli_signals_restore(void)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

int cli_run_child(char **argv, const char *env_name, const char *env_value, int *exec_errno)
{
    int pipefd[2];
    *exec_errno = 0;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        *exec_errno = errno;
        return -1;
    }
    /* SIGINT/SIGTERM stay blocked until child_pid is set (parent) and the
     * default actions are back (child): a signal that arrives around the
     * fork is then passed on, not lost in either process's handler. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = fork();
    if (pid < 0) {
        *exec_errno = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (env_name)
            setenv(env_name, env_value, 1);
        execvp(argv[0], argv);
        int e = errno; /* the exec failed: tell the parent why */
        ssize_t w = write(pipefd[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    child_pid = pid;
    if (cli_interrupted) /* arrived before the child existed */
        kill(pid, (int)cli_interrupted);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    int e = 0;
    ssize_t n;
    while ((n = read(pipefd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    if (n == (ssize_t)sizeof e) {
        /* execvp says EACCES when any PATH folder was unsearchable, even if
         * the command is nowhere: a shell calls that "not found" (127). */
        if (e == EACCES && !strchr(argv[0], '/') && !on_path(argv[0]))
            e = ENOENT;
        *exec_errno = e;
        return -1;
    }
    return status;
}
