/* `joule run --trace`: sample power while the command runs and save the
 * timeline, with the windows the command itself measured. */
#ifndef JOULE_CLI_RUN_TRACE_H
#define JOULE_CLI_RUN_TRACE_H

#include <joule/joule.h>

struct run_trace {
    const char *path;
    joule_sampler *sampler;
    char window_log[4096];
    double t0_s, start_unix_s, interval_ms;
};

/* Checks the path is writable, points the command's libjoule at a window
 * log (JOULE_WINDOW_LOG) and starts sampling. Prints its own errors. */
int run_trace_start(struct run_trace *rt, joule_ctx *ctx, const char *path, double interval_ms);
/* Stops sampling and writes the trace. Prints its own errors. */
int run_trace_finish(struct run_trace *rt, joule_ctx *ctx);

#endif
