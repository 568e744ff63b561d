/* Saving a sampler's timeline as a trace file (format in trace.h). */
#ifndef JOULE_CORE_TRACE_WRITE_H
#define JOULE_CORE_TRACE_WRITE_H

#include <joule/joule.h>

struct trace_write_args {
    double t0_s, t1_s;       /* monotonic range to save */
    double start_unix_s;     /* wall clock at t0_s */
    double interval_s;       /* the sampler's interval */
    const char *window_log;  /* JSONL window log to embed, or NULL */
    const char *name;        /* the file errors name, when not path */
};

/* Writes the trace to path. A write that fails (a full disk) leaves whole
 * lines only: the torn last one is cut off. */
int trace_write(joule_ctx *ctx, joule_sampler *s, const char *path,
                const struct trace_write_args *args);
/* Cuts a regular file back to the end of its last whole line; 0 or -1. */
int trace_trim_torn(const char *path);

#endif
