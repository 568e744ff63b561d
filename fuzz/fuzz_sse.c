/* libFuzzer target: the inference benchmark's SSE stream parser
 * (src/inference/sse.c), fed in two chunks cut where the first byte says,
 * as the network cuts a stream anywhere. A token callback that refuses the
 * Nth token exercises the caller-failure path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inference/sse.h"

struct count {
    int tokens, refuse_at;
};

static int on_token(void *user)
{
    struct count *c = user;
    return ++c->tokens == c->refuse_at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct count c = {0, data[1] % 8 ? data[1] % 8 : -1};
    struct sse_parser p;
    sse_init(&p, on_token, &c);
    size_t cut = data[0] % (size - 1);
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    if (cut > n)
        cut = n;
    int rc = sse_feed(&p, s, cut);
    if (rc == 0)
        rc = sse_feed(&p, s + cut, n - cut);
    /* Failed is final and says why; a token needs a line end. */
    if ((rc != 0) != (p.failed != 0) || (p.failed && !p.err[0]))
        abort();
    if (!p.failed && sse_feed(&p, "", 0))
        abort();
    if (c.tokens > (int)n || p.linelen >= sizeof p.line)
        abort();
    return 0;
}
