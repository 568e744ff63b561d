/* libFuzzer target: the Prometheus exposition text parsers of the
 * inference benchmark (src/inference/metrics.c): the vLLM metrics, a
 * histogram's buckets (le strictly ascending) and its quantile. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <joule/inference.h>

#define CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    joule_serve_metrics m;
    int found = joule_serve_parse_metrics(text, &m);
    if (found < 0 || found > 16)
        abort();
    static const char *const names[] = {"vllm:time_to_first_token_seconds",
                                        "vllm:inter_token_latency_seconds", "x"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        double le[CAP], after[CAP], before[CAP] = {0};
        int n = joule_serve_parse_histogram(text, names[k], le, after, CAP);
        if (n < 0 || n > CAP)
            abort();
        for (int i = 1; i < n; i++)
            if (!(le[i] > le[i - 1]))
                abort();
        for (double q = 0; q <= 1.0; q += 0.25)
            (void)joule_serve_histogram_quantile(le, before, after, n, q);
    }
    free(text);
    return 0;
}
