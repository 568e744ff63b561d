/* A test double of librocm_smi64.so: the ROCm SMI calls joule's backend
 * uses, answered from the simulated GPU model (sim_model.c), like the NVML
 * double. A GPU's "counter_scale" makes its energy counter lie (broken
 * counters on some AMD GPUs). Config: $JOULE_FAKE_ROCM_CONFIG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/rocm/rocm_smi_abi.h"
#include "fake_common.h"

const char *const fake_config_env = "JOULE_FAKE_ROCM_CONFIG";
/* ROCm SMI has no "GPU lost" code; a vanished device reads as a file
 * error (its sysfs files are gone). */
const int fake_lost_code = RSMI_STATUS_FILE_ERROR;

#define RES_UJ 15.259f /* counter resolution of current AMD parts */

static const struct {
    const char *name;
    int code;
    const char *text;
} errors[] = {
    {"SUCCESS", RSMI_STATUS_SUCCESS, "RSMI_STATUS_SUCCESS: The function has been executed successfully."},
    {"INVALID_ARGS", RSMI_STATUS_INVALID_ARGS, "RSMI_STATUS_INVALID_ARGS: The provided arguments do not meet the preconditions required for input by the function."},
    {"NOT_SUPPORTED", RSMI_STATUS_NOT_SUPPORTED, "RSMI_STATUS_NOT_SUPPORTED: The requested information or action is not available for the given input, on the given system"},
    {"FILE_ERROR", RSMI_STATUS_FILE_ERROR, "RSMI_STATUS_FILE_ERROR: Problem accessing a file. This may because the operation is not supported by the Linux kernel version running on the executing machine"},
    {"PERMISSION", RSMI_STATUS_PERMISSION, "RSMI_STATUS_PERMISSION: An operation was not permitted"},
    {"OUT_OF_RESOURCES", RSMI_STATUS_OUT_OF_RESOURCES, "RSMI_STATUS_OUT_OF_RESOURCES: Unable to acquire memory or other resource"},
    {"INTERNAL_EXCEPTION", RSMI_STATUS_INTERNAL_EXCEPTION, "RSMI_STATUS_INTERNAL_EXCEPTION: An internal exception was caught"},
    {"INPUT_OUT_OF_BOUNDS", RSMI_STATUS_INPUT_OUT_OF_BOUNDS, "RSMI_STATUS_INPUT_OUT_OF_BOUNDS: The provided input is out of allowable or safe range"},
    {"INIT_ERROR", RSMI_STATUS_INIT_ERROR, "RSMI_STATUS_INIT_ERROR: An error occurred during initialization"},
    {"NOT_FOUND", RSMI_STATUS_NOT_FOUND, "RSMI_STATUS_NOT_FOUND: An item was searched for but not found"},
    {"BUSY", RSMI_STATUS_BUSY, "RSMI_STATUS_BUSY: The device is busy"},
};

int fake_error_code(const char *name)
{
    if (strncmp(name, "RSMI_STATUS_", 12) == 0)
        name += 12;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (strcmp(errors[i].name, name) == 0)
            return errors[i].code;
    return -1;
}

#define API FAKE_EXPORT

static int enter(const char *fn, uint32_t dv)
{
    fake_lock();
    if (!S.loaded || S.init_count == 0) {
        fake_record(fn, -1, RSMI_STATUS_INIT_ERROR, NULL);
        fake_unlock();
        return RSMI_STATUS_INIT_ERROR;
    }
    if (dv >= (uint32_t)S.ngpu) {
        fake_record(fn, -1, RSMI_STATUS_INVALID_ARGS, "dv=%u", dv);
        fake_unlock();
        return RSMI_STATUS_INVALID_ARGS;
    }
    int rc = fake_inject(fn, (int)dv);
    if (rc) {
        fake_record(fn, (int)dv, rc, "injected");
        fake_unlock();
        return rc;
    }
    return 0;
}

static rsmi_status_t leave(const char *fn, uint32_t dv, rsmi_status_t rc, const char *a)
{
    fake_record(fn, (int)dv, rc, "%s", a);
    fake_unlock();
    return rc;
}

#define ENTER(dv)                                   \
    do {                                            \
        int e_ = enter(__func__, (dv));             \
        if (e_)                                     \
            return e_;                              \
    } while (0);                                    \
    struct fake_gpu *G = &S.gpu[dv];                \
    (void)G

#define LEAVE(dv, rc, ...)                          \
    do {                                            \
        char a_[160] = "";                          \
        if (fake_recording())                       \
            snprintf(a_, sizeof a_, " " __VA_ARGS__); \
        return leave(__func__, (dv), (rc), a_ + 1); \
    } while (0)

API rsmi_status_t rsmi_init(uint64_t flags)
{
    fake_lock();
    if (S.init_count == 0) {
        if (fake_load() != 0) {
            fake_unlock();
            return RSMI_STATUS_INIT_ERROR;
        }
        if (S.init_error) {
            int rc = S.init_error;
            fake_record("rsmi_init", -1, rc, NULL);
            fake_unload();
            fake_unlock();
            return rc;
        }
    }
    S.init_count++;
    fake_record("rsmi_init", -1, 0, "flags=%llu", (unsigned long long)flags);
    fake_unlock();
    return RSMI_STATUS_SUCCESS;
}

API rsmi_status_t rsmi_shut_down(void)
{
    fake_lock();
    if (S.init_count == 0) {
        fake_unlock();
        return RSMI_STATUS_INIT_ERROR;
    }
    fake_record("rsmi_shut_down", -1, 0, NULL);
    if (--S.init_count == 0)
        fake_unload();
    fake_unlock();
    return RSMI_STATUS_SUCCESS;
}

API rsmi_status_t rsmi_status_string(rsmi_status_t status, const char **text)
{
    if (!text)
        return RSMI_STATUS_INVALID_ARGS;
    *text = "RSMI_STATUS_UNKNOWN_ERROR: An unknown error occurred";
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == status)
            *text = errors[i].text;
    return RSMI_STATUS_SUCCESS;
}

API rsmi_status_t rsmi_num_monitor_devices(uint32_t *n)
{
    fake_lock();
    if (S.init_count == 0) {
        fake_unlock();
        return RSMI_STATUS_INIT_ERROR;
    }
    *n = (uint32_t)S.ngpu;
    fake_record("rsmi_num_monitor_devices", -1, 0, "%u", *n);
    fake_unlock();
    return RSMI_STATUS_SUCCESS;
}

API rsmi_status_t rsmi_dev_name_get(uint32_t dv, char *name, size_t len)
{
    ENTER(dv);
    if (!name || len == 0)
        LEAVE(dv, RSMI_STATUS_INVALID_ARGS);
    snprintf(name, len, "%s", G->name);
    LEAVE(dv, strlen(G->name) >= len ? RSMI_STATUS_INSUFFICIENT_SIZE : RSMI_STATUS_SUCCESS);
}

API rsmi_status_t rsmi_dev_unique_id_get(uint32_t dv, uint64_t *id)
{
    ENTER(dv);
    *id = 0x5a1e000000000000ull + dv + 1;
    LEAVE(dv, RSMI_STATUS_SUCCESS);
}

/* bdfid = domain << 32 | bus << 8 | device << 3 | function */
API rsmi_status_t rsmi_dev_pci_id_get(uint32_t dv, uint64_t *bdfid)
{
    ENTER(dv);
    unsigned dom = 0, bus = 0, dev = 0, fn = 0;
    sscanf(G->pci_bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn);
    *bdfid = ((uint64_t)dom << 32) | (bus << 8) | (dev << 3) | fn;
    LEAVE(dv, RSMI_STATUS_SUCCESS);
}

API rsmi_status_t rsmi_dev_energy_count_get(uint32_t dv, uint64_t *count, float *res,
                                            uint64_t *timestamp)
{
    ENTER(dv);
    if (!count || !timestamp)
        LEAVE(dv, RSMI_STATUS_INVALID_ARGS);
    if (!G->energy_counter)
        LEAVE(dv, RSMI_STATUS_NOT_SUPPORTED);
    int64_t now = fake_now();
    double uj = (sim_gpu_energy_j(&G->m, now) * 1e6 + G->energy_start_mj * 1e3) *
                G->counter_scale;
    *count = (uint64_t)(uj / RES_UJ);
    if (res)
        *res = RES_UJ;
    *timestamp = (uint64_t)now;
    LEAVE(dv, RSMI_STATUS_SUCCESS, "%llu", (unsigned long long)*count);
}

/* RSMI_POWER_TYPE: what rsmi_dev_power_get reported. */
#define FAKE_RSMI_CURRENT_POWER 1

API rsmi_status_t rsmi_dev_power_get(uint32_t dv, uint64_t *uw, int *type)
{
    ENTER(dv);
    if (!G->rocm_power_get)
        LEAVE(dv, RSMI_STATUS_NOT_SUPPORTED);
    *uw = (uint64_t)(sim_gpu_instant_power_w(&G->m, fake_now()) * 1e6);
    if (type)
        *type = FAKE_RSMI_CURRENT_POWER;
    LEAVE(dv, RSMI_STATUS_SUCCESS, "%llu", (unsigned long long)*uw);
}

API rsmi_status_t rsmi_dev_power_ave_get(uint32_t dv, uint32_t sensor, uint64_t *uw)
{
    ENTER(dv);
    if (sensor != 0)
        LEAVE(dv, RSMI_STATUS_INVALID_ARGS);
    if (!G->rocm_power_ave)
        LEAVE(dv, RSMI_STATUS_NOT_SUPPORTED);
    *uw = (uint64_t)(sim_gpu_average_power_w(&G->m, fake_now()) * 1e6);
    LEAVE(dv, RSMI_STATUS_SUCCESS, "%llu", (unsigned long long)*uw);
}

API rsmi_status_t rsmi_dev_power_cap_get(uint32_t dv, uint32_t sensor, uint64_t *cap)
{
    ENTER(dv);
    *cap = (uint64_t)(G->m.pl_w * 1e6);
    LEAVE(dv, RSMI_STATUS_SUCCESS, "%llu", (unsigned long long)*cap);
}

API rsmi_status_t rsmi_dev_power_cap_range_get(uint32_t dv, uint32_t sensor, uint64_t *mx,
                                               uint64_t *mn)
{
    ENTER(dv);
    *mx = (uint64_t)(G->m.p.pl_max_w * 1e6);
    *mn = (uint64_t)(G->m.p.pl_min_w * 1e6);
    LEAVE(dv, RSMI_STATUS_SUCCESS);
}

API rsmi_status_t rsmi_dev_power_cap_default_get(uint32_t dv, uint64_t *def)
{
    ENTER(dv);
    *def = (uint64_t)(G->m.p.pl_default_w * 1e6);
    LEAVE(dv, RSMI_STATUS_SUCCESS);
}

API rsmi_status_t rsmi_dev_power_cap_set(uint32_t dv, uint32_t sensor, uint64_t cap)
{
    ENTER(dv);
    int rc = S.privileged ? RSMI_STATUS_SUCCESS : RSMI_STATUS_PERMISSION;
    if (!rc && (cap < (uint64_t)(G->m.p.pl_min_w * 1e6) || cap > (uint64_t)(G->m.p.pl_max_w * 1e6)))
        rc = RSMI_STATUS_INPUT_OUT_OF_BOUNDS;
    if (!rc) {
        sim_gpu_set_power_limit(&G->m, fake_now(), cap / 1e6);
        fake_save_state();
    }
    LEAVE(dv, rc, "%llu", (unsigned long long)cap);
}

API rsmi_status_t rsmi_dev_temp_metric_get(uint32_t dv, uint32_t sensor, int metric,
                                           int64_t *mdeg)
{
    ENTER(dv);
    if (metric != RSMI_TEMP_CURRENT)
        LEAVE(dv, RSMI_STATUS_NOT_SUPPORTED);
    /* MI200-style parts have no edge sensor: only junction and memory. */
    if (sensor != RSMI_TEMP_TYPE_JUNCTION && sensor != RSMI_TEMP_TYPE_EDGE)
        LEAVE(dv, RSMI_STATUS_NOT_SUPPORTED);
    *mdeg = (int64_t)sim_gpu_temperature_c(&G->m, fake_now()) * 1000;
    LEAVE(dv, RSMI_STATUS_SUCCESS, "sensor=%u", sensor);
}
