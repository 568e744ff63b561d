/* jouled under load: requests/s and p50/p99 latency of GET /metrics and
 * of an energy read (GET /v1/energy?devices=gpu0) over the unix socket,
 * one connection per request like libjoule's client, sequentially and
 * from 16 concurrent threads; beside the same reads made in-process
 * (the router called directly, and joule_device_energy_j). Runs jouled
 * on two simulated H100s in a temporary directory. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "jd.h"

#ifndef JOULED_PATH
#define JOULED_PATH "jouled"
#endif

static char sock_path[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int request(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char buf[16384];
    ssize_t r, total = 0;
    int status = -1;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        if (total == 0 && r > 12)
            status = atoi(buf + 9);
        total += r;
    }
    close(fd);
    return status;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void sequential(const char *name, const char *path, int n)
{
    double *lat = malloc(sizeof *lat * (size_t)n);
    int errors = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        double a = now_s();
        errors += request(path) != 200;
        lat[i] = now_s() - a;
    }
    double dt = now_s() - t0;
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    printf("%-34s %8.0f req/s   p50 %7.1f us   p99 %7.1f us   errors %d\n", name, n / dt,
           lat[n / 2] * 1e6, lat[(int)(n * 0.99)] * 1e6, errors);
    free(lat);
}

struct worker {
    const char *path;
    int n, errors;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++)
        w->errors += request(w->path) != 200;
    return NULL;
}

static void concurrent(const char *name, const char *path, int threads, int per)
{
    pthread_t t[64];
    struct worker w[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){path, per, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    double dt = now_s() - t0;
    printf("%-34s %8.0f req/s   (%d clients x %d)            errors %d\n", name,
           threads * per / dt, threads, per, errors);
}

int main(void)
{
    char dir[] = "/tmp/jouled-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char conf[512], state[512];
    snprintf(conf, sizeof conf, "%s/jouled.conf", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(sock_path, sizeof sock_path, "%s/jouled.sock", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "devices = sim:2:h100\nscope.read = all\nsample_interval_ms = 100\n"
               "socket_mode = 0600\n");
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(JOULED_PATH, JOULED_PATH, "--foreground", "--config", conf, "--socket", sock_path,
              "--state-dir", state, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && request("/v1/discovery") != 200; i++)
        usleep(10000);
    printf("jouled over its unix socket (2 simulated GPUs, one connection per request):\n");
    sequential("GET /metrics (sequential)", "/metrics", 5000);
    sequential("GET /v1/energy?devices=gpu0 (seq.)", "/v1/energy?devices=gpu0", 5000);
    concurrent("GET /metrics (concurrent)", "/metrics", 16, 500);
    concurrent("GET /v1/energy (concurrent)", "/v1/energy?devices=gpu0", 16, 500);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    /* The same reads in-process. */
    struct jd_config c;
    jd_config_defaults(&c);
    char err[512];
    jd_config_parse(&c, "bench", "devices = sim:2:h100\nscope.read = all\n", err, sizeof err);
    snprintf(c.state_dir, sizeof c.state_dir, "%s", state);
    struct jd *d = NULL;
    if (jd_create(&c, &d, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct jd_req req = {.method = "GET", .path = "/metrics"};
    req.peer.transport = JD_UNIX;
    req.peer.has_cred = 1;
    int n = 20000;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        struct jd_resp r;
        jd_route(d, &req, &r);
        jd_resp_free(&r);
    }
    double metrics_us = (now_s() - t0) / n * 1e6;
    t0 = now_s();
    double j;
    int q;
    for (int i = 0; i < n; i++)
        joule_device_energy_j(d->ctx, 0, &j, &q);
    double energy_us = (now_s() - t0) / n * 1e6;
    printf("\nin-process, same reads:\n");
    printf("%-34s %8.2f us per call\n", "/metrics text (router, no socket)", metrics_us);
    printf("%-34s %8.2f us per call\n", "joule_device_energy_j (gpu0)", energy_us);
    jd_destroy(d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
