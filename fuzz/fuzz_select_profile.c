/* libFuzzer target: the power-limit profiling log `joule optimize select`
 * reads (src/optimize/profile_log.c), then the frontier and every selector
 * on what it read. A log that reads must give a valid choice: the reader
 * promises finite values whose cost stays finite. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "optimize/frontier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jopt_profile p;
    if (jopt_profile_read(fuzz_file(data, size), &p))
        return 0;
    int *idx = malloc(sizeof *idx * (size_t)p.n);
    if (idx) {
        int nf = jopt_frontier(p.points, p.n, idx);
        if (nf < 1 || nf > p.n)
            abort();
        static const struct jopt_selector sels[] = {{JOPT_SELECT_ENERGY, 0},
                                                    {JOPT_SELECT_TIME, 0},
                                                    {JOPT_SELECT_COST, 0.5},
                                                    {JOPT_SELECT_SLOWDOWN, 1.1}};
        for (size_t s = 0; s < sizeof sels / sizeof sels[0]; s++) {
            int k = jopt_select(&sels[s], p.points, p.n, 0, p.n_gpus);
            if (k < 0 || k >= p.n)
                abort();
        }
        free(idx);
    }
    jopt_profile_free(&p);
    return 0;
}
