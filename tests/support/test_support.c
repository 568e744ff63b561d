#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Tests that replay real measurements read ../shared/data; when it is
 * missing they fail, and this says why before the first failure. */
__attribute__((constructor)) static void check_data_dir(void)
{
    struct stat st;
    if (stat(JOULE_TEST_DATA_DIR "/zeus-nsdi23", &st) != 0)
        fprintf(stderr,
                "NOTE: the reference data folder %s is missing, so tests that replay real "
                "measurements will fail: the project expects ../shared/data beside it\n",
                JOULE_TEST_DATA_DIR);
}

void ts_sleep_ms(double ms)
{
    long long ns = (long long)(ms * 1e6);
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

char *ts_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/joule-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(buf))
        return NULL;
    return strdup(buf);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void ts_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    return 0;
}

int ts_write(const char *dir, const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (mkdirs(path))
        return -1;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f) ? -1 : 0;
}

char *ts_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len <= 1) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

struct sink {
    int fd;
    char *buf;
    size_t len, cap;
};

static void drain(struct sink *s)
{
    char tmp[4096];
    ssize_t n = read(s->fd, tmp, sizeof tmp);
    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    if (s->len + (size_t)n + 1 > s->cap) {
        s->cap = (s->len + (size_t)n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, tmp, (size_t)n);
    s->len += (size_t)n;
    s->buf[s->len] = '\0';
}

int ts_run(char *const argv[], char *const env[], char **out, char **err)
{
    int po[2], pe[2];
    if (pipe(po) || pipe(pe))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        _exit(126);
    }
    close(po[1]);
    close(pe[1]);
    struct sink s[2] = {{po[0], calloc(1, 1), 0, 1}, {pe[0], calloc(1, 1), 0, 1}};
    while (s[0].fd >= 0 || s[1].fd >= 0) {
        struct pollfd p[2];
        int n = 0;
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0)
                p[n++] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
        if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < n; k++)
                if (s[i].fd >= 0 && p[k].fd == s[i].fd && p[k].revents)
                    drain(&s[i]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out)
        *out = s[0].buf;
    else
        free(s[0].buf);
    if (err)
        *err = s[1].buf;
    else
        free(s[1].buf);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int ts_run_to(char *const argv[], const char *stdout_path, char **err)
{
    char *dir = ts_mkdtemp();
    char errpath[4096];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int o = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(125);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char *text = ts_read(errpath);
    if (err)
        *err = text ? text : strdup("");
    else
        free(text);
    ts_rmtree(dir);
    free(dir);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int ts_rapl_zone(const char *root, const char *id, const char *name,
                 unsigned long long energy_uj, unsigned long long range_uj)
{
    char rel[512], val[64];
    snprintf(rel, sizeof rel, "class/powercap/%s/name", id);
    snprintf(val, sizeof val, "%s\n", name);
    if (ts_write(root, rel, val))
        return -1;
    snprintf(rel, sizeof rel, "class/powercap/%s/max_energy_range_uj", id);
    snprintf(val, sizeof val, "%llu\n", range_uj);
    if (ts_write(root, rel, val))
        return -1;
    return ts_rapl_set(root, id, energy_uj);
}

int ts_rapl_set(const char *root, const char *id, unsigned long long energy_uj)
{
    char rel[512], val[64];
    snprintf(rel, sizeof rel, "class/powercap/%s/energy_uj", id);
    snprintf(val, sizeof val, "%llu\n", energy_uj);
    return ts_write(root, rel, val);
}

size_t ts_pipeline_profile_csv(char *buf, size_t len, int nfreq, int step_mhz, double heavier)
{
    size_t n = (size_t)snprintf(buf, len, "stage,instruction,frequency,time,energy\n");
    for (int s = 0; s < 2; s++)
        for (int ins = 0; ins < 2; ins++)
            for (int k = 0; k < nfreq && n < len; k++) {
                int f = 1980 - step_mhz * k;
                double x = f / 1980.0;
                double t = (ins ? 0.010 : 0.005) * (s ? heavier : 1.0) * (0.85 / x + 0.15);
                double p = 90 + 310 * x * x * x;
                n += (size_t)snprintf(buf + n, len - n, "%d,%s,%d,%.9f,%.9f\n", s,
                                      ins ? "backward" : "forward", f, t, p * t);
            }
    return n;
}

int ts_run_args(const char *prog, char *const env[], char **out, char **err, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)prog;
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 63 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = ts_run(argv, env, &o, &e);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}
