/* The request head (request line and header fields, RFC 9112), checked
 * as its bytes arrive, before libmicrohttpd parses it: bytes that cannot
 * be HTTP are refused at once instead of waiting for a line end, and
 * what libmicrohttpd 0.9.75 mishandles (a bad Content-Length got a doubled
 * status line) never reaches it. Pure: no I/O. */
#ifndef JOULED_HTTP_HEAD_H
#define JOULED_HTTP_HEAD_H

#include <stddef.h>

enum jd_head_verdict {
    JD_HEAD_BAD = -1,   /* *status and why say what is wrong, and where */
    JD_HEAD_MORE = 0,   /* valid so far; the head is not complete */
    JD_HEAD_OK = 1,     /* a complete, valid head in the first bytes */
};

/* Checks buf[0..n) (the bytes received so far on a new connection).
 * A head longer than max_head bytes gets 414 or 431; a Content-Length
 * over max_body gets 413. */
enum jd_head_verdict jd_head_check(const char *buf, size_t n, size_t max_head,
                                   unsigned long long max_body, int *status, char *why,
                                   size_t whylen);

#endif
