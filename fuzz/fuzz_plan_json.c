/* libFuzzer target: reading a stage's sequence from a plan JSON
 * (pl_stage_plan_read in src/optimize/planner/output.c), the file
 * joule_plan_load() takes; stages 0 and 1. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "optimize/planner/planner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    for (int stage = 0; stage < 2; stage++) {
        pl_stage_plan sp;
        if (pl_stage_plan_read(path, stage, &sp) == 0) {
            if (sp.n < 1 || sp.num_stages <= stage)
                abort();
            pl_stage_plan_free(&sp);
        }
    }
    return 0;
}
