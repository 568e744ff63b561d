#include "run_trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "../src/core/trace_write.h"

int run_trace_start(struct run_trace *rt, joule_ctx *ctx, const char *path, double interval_ms)
{
    memset(rt, 0, sizeof *rt);
    rt->path = path;
    rt->interval_ms = interval_ms;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "joule run: cannot write trace '%s': %s\n", path, strerror(errno));
        return -1;
    }
    fclose(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(rt->window_log, sizeof rt->window_log, "%s/joule-windows-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(rt->window_log);
    if (fd < 0) {
        fprintf(stderr, "joule run: cannot create a temporary window log: %s\n", strerror(errno));
        rt->window_log[0] = '\0';
    } else {
        close(fd);
        setenv("JOULE_WINDOW_LOG", rt->window_log, 1);
    }
    if (joule_sampler_create(ctx, interval_ms, 7 * 24 * 3600.0, &rt->sampler) ||
        joule_sampler_start(rt->sampler)) {
        fprintf(stderr, "joule run: %s\n", joule_last_error());
        return -1;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    rt->t0_s = joule_now_s();
    rt->start_unix_s = (double)tv.tv_sec + tv.tv_usec / 1e6;
    return 0;
}

int run_trace_finish(struct run_trace *rt, joule_ctx *ctx)
{
    if (!rt->sampler)
        return -1;
    double t1 = joule_now_s();
    joule_sampler_stop(rt->sampler);
    struct trace_write_args a = {
        .t0_s = rt->t0_s,
        .t1_s = t1,
        .start_unix_s = rt->start_unix_s,
        .interval_s = rt->interval_ms / 1e3,
        .window_log = rt->window_log[0] ? rt->window_log : NULL,
    };
    int rc = trace_write(ctx, rt->sampler, rt->path, &a);
    if (rc)
        fprintf(stderr, "joule run: %s\n", joule_last_error());
    if (rt->window_log[0]) {
        unlink(rt->window_log);
        unsetenv("JOULE_WINDOW_LOG");
    }
    joule_sampler_destroy(rt->sampler);
    rt->sampler = NULL;
    return rc ? -1 : 0;
}
