/* Prometheus exposition text -> the vLLM metrics the inference benchmark
 * keeps (joule_serve_parse_metrics). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/export.h"
#include "joule/inference.h"

static void add(double *slot, double v, unsigned bit, unsigned *seen)
{
    if (isnan(*slot))
        *slot = 0;
    *slot += v;
    *seen |= bit;
}

JOULE_EXPORT int joule_serve_parse_metrics(const char *text, joule_serve_metrics *out)
{
    if (!out)
        return 0;
    out->running = out->waiting = out->generation_tokens = NAN;
    out->ttft_sum_s = out->ttft_count = out->itl_sum_s = out->itl_count = NAN;
    if (!text)
        return 0;
    unsigned seen = 0;
    double itl2_sum = NAN, itl2_count = NAN; /* the newer name, when the older is absent */
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        const char *q = p + strspn(p, " \t");
        if (q < eol && *q != '#') {
            const char *name = q;
            while (q < eol && *q != '{' && *q != ' ' && *q != '\t')
                q++;
            size_t nlen = (size_t)(q - name);
            int ok = 1;
            if (q < eol && *q == '{') { /* labels: skip, quotes and escapes included */
                int inq = 0;
                q++;
                while (q < eol && (inq || *q != '}')) {
                    if (inq && *q == '\\' && q + 1 < eol)
                        q++;
                    else if (*q == '"')
                        inq = !inq;
                    q++;
                }
                if (q >= eol)
                    ok = 0;
                else
                    q++;
            }
            char num[64];
            double v = NAN;
            if (ok) {
                q += strspn(q, " \t");
                size_t l = strcspn(q, " \t\r\n");
                if (q + l > eol || l == 0 || l >= sizeof num)
                    ok = 0;
                else {
                    memcpy(num, q, l);
                    num[l] = 0;
                    char *end;
                    v = strtod(num, &end);
                    ok = *end == 0;
                }
            }
#define IS(lit) (nlen == sizeof(lit) - 1 && !memcmp(name, lit, nlen))
            if (ok) {
                if (IS("vllm:num_requests_running"))
                    add(&out->running, v, 1u << 0, &seen);
                else if (IS("vllm:num_requests_waiting"))
                    add(&out->waiting, v, 1u << 1, &seen);
                else if (IS("vllm:generation_tokens_total"))
                    add(&out->generation_tokens, v, 1u << 2, &seen);
                else if (IS("vllm:time_to_first_token_seconds_sum"))
                    add(&out->ttft_sum_s, v, 1u << 3, &seen);
                else if (IS("vllm:time_to_first_token_seconds_count"))
                    add(&out->ttft_count, v, 1u << 4, &seen);
                else if (IS("vllm:time_per_output_token_seconds_sum"))
                    add(&out->itl_sum_s, v, 1u << 5, &seen);
                else if (IS("vllm:time_per_output_token_seconds_count"))
                    add(&out->itl_count, v, 1u << 6, &seen);
                else if (IS("vllm:inter_token_latency_seconds_sum"))
                    add(&itl2_sum, v, 1u << 5, &seen);
                else if (IS("vllm:inter_token_latency_seconds_count"))
                    add(&itl2_count, v, 1u << 6, &seen);
            }
#undef IS
        }
        p = *eol ? eol + 1 : eol;
    }
    if (isnan(out->itl_sum_s) && isnan(out->itl_count)) {
        out->itl_sum_s = itl2_sum;
        out->itl_count = itl2_count;
    }
    return __builtin_popcount(seen);
}

/* The value of label `key` in a "{...}" label set, into buf; 0 when found. */
static int label_value(const char *lb, const char *end, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    const char *p = lb;
    while (p < end) {
        p += strspn(p, " ,{");
        if (p >= end || *p == '}')
            return -1;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq + 1 >= end || eq[1] != '"')
            return -1;
        int match = (size_t)(eq - p) == klen && !memcmp(p, key, klen);
        const char *v = eq + 2;
        size_t o = 0;
        while (v < end && *v != '"') {
            if (*v == '\\' && v + 1 < end)
                v++;
            if (match && o + 1 < len)
                buf[o++] = *v;
            v++;
        }
        if (match) {
            buf[o] = 0;
            return 0;
        }
        p = v + 1;
    }
    return -1;
}

JOULE_EXPORT int joule_serve_parse_histogram(const char *text, const char *name, double *le,
                                             double *count, int cap)
{
    if (!text || !name || !le || !count || cap <= 0)
        return 0;
    char want[256];
    snprintf(want, sizeof want, "%s_bucket", name);
    size_t wl = strlen(want);
    int n = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        if (!strncmp(p, want, wl) && p[wl] == '{') {
            const char *lb = p + wl;
            const char *close = memchr(lb, '}', (size_t)(eol - lb));
            /* a '}' inside a quoted label value: find the real close */
            int inq = 0;
            for (const char *c = lb; c < eol; c++) {
                if (inq && *c == '\\') {
                    c++;
                    continue;
                }
                if (*c == '"')
                    inq = !inq;
                else if (!inq && *c == '}') {
                    close = c;
                    break;
                }
            }
            char lev[64], *end;
            if (close && label_value(lb, close, "le", lev, sizeof lev) == 0) {
                double l = strtod(lev, &end);
                double v = strtod(close + 1, &end);
                if (end != close + 1 && !isnan(l) && isfinite(v)) {
                    int k = 0;
                    while (k < n && le[k] != l)
                        k++;
                    if (k == n && n < cap) {
                        le[n] = l;
                        count[n++] = 0;
                    }
                    if (k < n)
                        count[k] += v;
                }
            }
        }
        p = *eol ? eol + 1 : eol;
    }
    /* sort by le (few buckets: insertion sort) */
    for (int i = 1; i < n; i++) {
        double l = le[i], c = count[i];
        int j = i - 1;
        while (j >= 0 && le[j] > l) {
            le[j + 1] = le[j];
            count[j + 1] = count[j];
            j--;
        }
        le[j + 1] = l;
        count[j + 1] = c;
    }
    return n;
}

JOULE_EXPORT double joule_serve_histogram_quantile(const double *le, const double *before,
                                                   const double *after, int n, double q)
{
    if (!le || !after || n <= 0 || !(q >= 0 && q <= 1))
        return NAN;
    double total = after[n - 1] - (before ? before[n - 1] : 0);
    if (!(total > 0))
        return NAN;
    double target = q * total, prev_le = 0, prev_c = 0;
    for (int i = 0; i < n; i++) {
        double c = after[i] - (before ? before[i] : 0);
        if (c >= target) {
            if (isinf(le[i]))
                return prev_le; /* above the highest finite bucket */
            if (c == prev_c)
                return le[i];
            return prev_le + (le[i] - prev_le) * (target - prev_c) / (c - prev_c);
        }
        prev_le = isinf(le[i]) ? prev_le : le[i];
        prev_c = c;
    }
    return prev_le;
}
