/* The server-sent-events parser of the inference benchmark: an OpenAI-
 * compatible completion or chat stream, fed in whatever chunks the network
 * gives, one token event counted per "data:" event with text. Its own file
 * so fuzz/fuzz_sse.c drives the very code serve.c runs. */
#ifndef JOULE_INFERENCE_SSE_H
#define JOULE_INFERENCE_SSE_H

#include <stddef.h>

struct sse_parser {
    char line[8192];  /* the line being assembled */
    size_t linelen;
    int line_overflow;
    int saw_done;     /* "data: [DONE]" arrived */
    int failed;       /* the stream is malformed or the caller failed it */
    char err[384];
    /* Called per token event; a nonzero return fails the stream (the
     * callback fails it first, with its reason, through sse_fail). */
    int (*on_token)(void *user);
    void *user;
};

void sse_init(struct sse_parser *p, int (*on_token)(void *user), void *user);
/* Feeds len bytes; 0, or -1 once the stream has failed (p->err says why;
 * the rest of the stream is not read). */
int sse_feed(struct sse_parser *p, const char *data, size_t len);
/* Fails the stream with fmt (one %s: detail), keeping the first reason. */
void sse_fail(struct sse_parser *p, const char *fmt, const char *detail);

#endif
