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
