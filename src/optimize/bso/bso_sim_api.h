/* What a joule_bso_sim holds (shared by the API and its JSON writer). */
#ifndef JOULE_BSO_SIM_API_H
#define JOULE_BSO_SIM_API_H

#include <stdbool.h>

#include "optimize/bso/bso_simulate.h"

struct joule_bso_sim {
    const struct bso_workload *w;
    struct bso_trace trace;
    struct bso_sim_params params;
    struct bso_sim_result result;
    bool ran;
};

#endif
