/* Published board figures of common data-centre GPUs (SXM parts; PCIe A40
 * and P100). Idle power is what an unloaded GPU in persistence mode draws. */
#include "devices/sim/sim_model.h"

#include <stddef.h>
#include <strings.h>

static const struct sim_preset presets[] = {
    /* key    name                                     arch      tdp  plmin plmax pldef idle smin smax  mem  cnt mempow */
    {"v100", "Tesla V100-SXM2-32GB (simulated)",      "Volta",  300, 150, 300, 300, 40, 135, 1530,  877, 1, 0},
    {"a100", "NVIDIA A100-SXM4-40GB (simulated)",     "Ampere", 400, 100, 400, 400, 55, 210, 1410, 1215, 1, 0},
    {"h100", "NVIDIA H100 80GB HBM3 (simulated)",     "Hopper", 700, 200, 700, 700, 70, 345, 1980, 2619, 1, 1},
    {"a40",  "NVIDIA A40 (simulated)",                "Ampere", 300, 100, 300, 300, 30, 210, 1740, 7251, 1, 0},
    {"rtx6000", "Quadro RTX 6000 (simulated)",        "Turing", 260, 100, 260, 260, 25, 300, 1770, 7000, 1, 0},
    {"p100", "Tesla P100-PCIE-16GB (simulated)",      "Pascal", 250, 125, 250, 250, 30, 544, 1328,  715, 0, 0},
};

const struct sim_preset *sim_preset_find(const char *key)
{
    for (int i = 0; i < sim_preset_count(); i++)
        if (strcasecmp(presets[i].key, key) == 0)
            return &presets[i];
    return NULL;
}

int sim_preset_count(void) { return (int)(sizeof presets / sizeof presets[0]); }

const struct sim_preset *sim_preset_at(int i) { return &presets[i]; }
