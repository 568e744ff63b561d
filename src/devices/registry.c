#include "devices/registry.h"

/* The remote backend is defined beside this layer, in client/remote.c:
 * it is a backend built on the jouled client, reading RAPL zones when
 * the rapl backend was refused (energy_uj is root-only since Linux 5.10). */
const struct jdev_registry_entry jdev_registry[JDEV_REGISTRY_COUNT] = {
    {&jdev_backend_nvml, JDEV_RUN_FOR_GPUS, 0},
    {&jdev_backend_rocm_smi, JDEV_RUN_FOR_GPUS, 0},
    {&jdev_backend_rapl, JDEV_RUN_FOR_CPUS, 0},
    {&jdev_backend_remote, JDEV_RUN_AFTER_REFUSAL, 0},
    /* Simulated GPUs come last, so real GPUs keep their CUDA numbers. */
    {&jdev_backend_sim, JDEV_RUN_FOR_GPUS, 1},
};
