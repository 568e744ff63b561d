/* libFuzzer target: the prompts JSONL reader (src/inference/prompts.c):
 * what loads holds at least one prompt, each with a line inside the file. */
#include <stdint.h>
#include <stdlib.h>

#include <joule/inference.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    joule_prompts *p = NULL;
    if (joule_prompts_load(fuzz_file(data, size), &p)) {
        if (p)
            abort();
        return 0;
    }
    int n = joule_prompts_count(p);
    if (n < 1)
        abort();
    for (int i = 0; i < n; i++) {
        int max_tokens = -1, line = -1;
        const char *text = joule_prompts_get(p, i, &max_tokens, &line);
        if (!text || line < 1 || (size_t)line > size)
            abort();
    }
    joule_prompts_free(p);
    return 0;
}
