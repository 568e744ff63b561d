/* Request head checking (see http_head.h). Stricter than libmicrohttpd
 * everywhere they differ, so a head that passes here is one it parses as
 * meant: no obs-fold, no whitespace before a colon, no control bytes, one
 * Content-Length of digits, no Content-Length beside Transfer-Encoding. */
#include "http_head.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 token characters. */
static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field value: SP, HTAB, visible ASCII, obs-text. */
static int vchar(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

struct st {
    int *status;
    char *why;
    size_t whylen;
};

static enum jd_head_verdict bad(struct st *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum jd_head_verdict bad(struct st *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, s->whylen, fmt, ap);
    va_end(ap);
    *s->status = status;
    return JD_HEAD_BAD;
}

/* The request line (len bytes, no line end; complete says whether its end
 * has arrived). Checks each part as far as it goes. */
static enum jd_head_verdict request_line(struct st *s, const char *p, size_t len, int complete)
{
    size_t i = 0;
    while (i < len && tchar((unsigned char)p[i]))
        i++;
    if (i < len && (p[i] != ' ' || i == 0))
        return bad(s, 400, "request line: byte 0x%02x at offset %zu cannot be in a method",
                   (unsigned char)p[i], i);
    size_t t = ++i;
    while (i < len && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i < len && (p[i] != ' ' || i == t))
        return bad(s, 400,
                   "request line: byte 0x%02x at offset %zu cannot be in a request target "
                   "(visible ASCII; percent-encode the rest)",
                   (unsigned char)p[i], i);
    size_t v = ++i;
    static const char proto[] = "HTTP/";
    for (; i < len && i - v < 5; i++)
        if (p[i] != proto[i - v])
            return bad(s, 400, "request line: expected HTTP/1.1 at offset %zu", v);
    if (i < len && (len - v != 8 || p[v + 5] < '0' || p[v + 5] > '9' || p[v + 6] != '.' ||
                    p[v + 7] < '0' || p[v + 7] > '9')) {
        if (!complete && len - v < 8)
            return JD_HEAD_MORE;
        return bad(s, 400, "request line: expected HTTP/1.1 at offset %zu", v);
    }
    if (!complete)
        return JD_HEAD_MORE;
    if (v > len || len - v != 8)
        return bad(s, 400, "request line: expected METHOD TARGET HTTP/1.1");
    if (p[v + 5] != '1')
        return bad(s, 505, "HTTP/%c.%c is not supported (use HTTP/1.1)", p[v + 5], p[v + 7]);
    return JD_HEAD_OK;
}

/* Content-Length and Transfer-Encoding, the fields that frame the body. */
struct framing {
    int have_cl, have_te;
    unsigned long long cl;
};

static enum jd_head_verdict field(struct st *s, struct framing *f, const char *p, size_t len,
                                  int complete, int lineno, unsigned long long max_body)
{
    if (len && (p[0] == ' ' || p[0] == '\t'))
        return bad(s, 400, "header line %d: starts with whitespace (obsolete line folding)",
                   lineno);
    size_t i = 0;
    while (i < len && tchar((unsigned char)p[i]))
        i++;
    if (i < len && (p[i] != ':' || i == 0))
        return bad(s, 400, "header line %d: byte 0x%02x at offset %zu cannot be in a field name",
                   lineno, (unsigned char)p[i], i);
    if (i == len)
        return complete ? bad(s, 400, "header line %d: no ':' after the field name", lineno)
                        : JD_HEAD_MORE;
    size_t name = i++;
    for (size_t k = i; k < len; k++)
        if (!vchar((unsigned char)p[k]))
            return bad(s, 400,
                       "header line %d: byte 0x%02x at offset %zu cannot be in a field value",
                       lineno, (unsigned char)p[k], k);
    if (!complete)
        return JD_HEAD_MORE;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    while (len > i && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (name == 14 && !strncasecmp(p, "Content-Length", 14)) {
        if (f->have_cl++)
            return bad(s, 400, "header line %d: Content-Length given twice", lineno);
        if (i == len || strspn(p + i, "0123456789") < len - i)
            return bad(s, 400, "header line %d: Content-Length '%.*s' is not a number of bytes",
                       lineno, (int)(len - i > 32 ? 32 : len - i), p + i);
        f->cl = 0;
        for (; i < len; i++) {
            f->cl = f->cl * 10 + (unsigned)(p[i] - '0');
            if (f->cl > max_body)
                return bad(s, 413, "Content-Length is larger than max_body_bytes (%llu bytes)",
                           max_body);
        }
    } else if (name == 17 && !strncasecmp(p, "Transfer-Encoding", 17)) {
        if (f->have_te++)
            return bad(s, 400, "header line %d: Transfer-Encoding given twice", lineno);
        if (len - i != 7 || strncasecmp(p + i, "chunked", 7))
            return bad(s, 501, "header line %d: Transfer-Encoding '%.*s' is not supported "
                               "(only chunked)",
                       lineno, (int)(len - i > 32 ? 32 : len - i), p + i);
    }
    if (f->have_cl && f->have_te)
        return bad(s, 400, "Content-Length and Transfer-Encoding exclude each other");
    return JD_HEAD_OK;
}

enum jd_head_verdict jd_head_check(const char *buf, size_t n, size_t max_head,
                                   unsigned long long max_body, int *status, char *why,
                                   size_t whylen)
{
    struct st s = {status, why, whylen};
    struct framing f = {0};
    size_t pos = 0;
    for (;;) { /* empty lines before the request line are allowed */
        if (pos < n && buf[pos] == '\n')
            pos++;
        else if (pos + 1 < n && buf[pos] == '\r' && buf[pos + 1] == '\n')
            pos += 2;
        else
            break;
    }
    for (int lineno = 0;; lineno++) {
        const char *nl = memchr(buf + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - buf) : n, len = end - pos;
        if (nl && len && buf[end - 1] == '\r')
            len--;
        const char *cr = memchr(buf + pos, '\r', len);
        if (cr && cr + 1 < buf + n && lineno)
            return bad(&s, 400, "header line %d: a CR byte not followed by LF at offset %zu",
                       lineno, (size_t)(cr - (buf + pos)));
        if (cr && cr + 1 < buf + n)
            return bad(&s, 400, "request line: a CR byte not followed by LF at offset %zu",
                       (size_t)(cr - (buf + pos)));
        if (!nl && end > max_head)
            return bad(&s, lineno ? 431 : 414, "the %s is larger than %zu bytes",
                       lineno ? "request head" : "request line", max_head);
        if (cr && !nl)
            len = (size_t)(cr - (buf + pos)); /* a CR last: its LF may follow */
        if (lineno && nl && len == 0)
            return end + 1 > max_head ? bad(&s, 431, "the request head is larger than %zu bytes",
                                            max_head)
                                      : JD_HEAD_OK;
        enum jd_head_verdict v =
            lineno ? field(&s, &f, buf + pos, len, nl != NULL, lineno, max_body)
                   : request_line(&s, buf + pos, len, nl != NULL);
        if (v != JD_HEAD_OK || !nl)
            return v == JD_HEAD_OK ? JD_HEAD_MORE : v;
        pos = end + 1;
    }
}
