/* `joule run --trace`: sample power while the command runs and save the
 * timeline, with the windows the command itself measured. The trace is
 * appended to the file every second as the run goes, each append a whole
 * number of rows, so a run that is killed leaves a valid trace of what was
 * sampled until then; a run that ends rewrites it complete. */
#ifndef JOULE_CLI_RUN_TRACE_H
#define JOULE_CLI_RUN_TRACE_H

#include <pthread.h>
#include <stdint.h>

#include <joule/joule.h>

struct run_trace {
    const char *path;
    joule_ctx *ctx;
    joule_sampler *sampler;
    char window_log[4096];
    double t0_s, start_unix_s, interval_ms;

    /* Appending as the run goes (regular files only; else written once at
     * the end). */
    int fd;                  /* the trace file, -1 when not appending */
    char real_path[4096];    /* what the finished trace replaces */
    int64_t flushed_us;      /* rows stamped up to here are in the file */
    int flushed_any;         /* the first append (with the row in force
                                at the start) is done */
    long window_off;         /* bytes of the window log already copied */
    pthread_t flusher;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int flusher_running, stop;
};

/* Checks the path is writable, points the command's libjoule at a window
 * log (JOULE_WINDOW_LOG), starts sampling, writes the trace's header and
 * starts appending rows every second. Prints its own errors and cleans up
 * after itself on failure (rt->sampler is then NULL). */
int run_trace_start(struct run_trace *rt, joule_ctx *ctx, const char *path, double interval_ms);
/* Stops sampling and writes the complete trace. Prints its own errors. */
int run_trace_finish(struct run_trace *rt, joule_ctx *ctx);

#endif
