/* libFuzzer target: the planner's profile CSV (src/optimize/planner/
 * profile.c), and on a profile that parses, the problem built from it
 * (pruning, quantization, the int64 bounds of problem.c) for the stages it
 * names. The input is the file's text. */
#include <stdint.h>
#include <stdlib.h>

#include "optimize/planner/planner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_profile *prof = NULL;
    if (pl_profile_parse((const char *)data, size, "fuzz.csv", &prof))
        return 0;
    if (prof->max_stage < 16) {
        pl_config cfg;
        pl_config_default(&cfg);
        cfg.stages = prof->max_stage + 1;
        cfg.microbatches = 2;
        pl_problem pb;
        if (pl_problem_init(&pb, prof, &cfg) == 0)
            pl_problem_free(&pb);
    }
    pl_profile_free(prof);
    return 0;
}
