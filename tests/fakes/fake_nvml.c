/* A test double of libnvidia-ml.so.1: exports the NVML C ABI that joule's
 * backend uses, answering from the simulated GPU model (sim_model.c).
 * Built twice: the current library (newest symbol versions plus the old
 * names, like the real one) and, with FAKE_NVML_OLD, a library from an old
 * driver that has only the first versions of each symbol and none of the
 * newer functions (field values, architecture, memory locked clocks, MIG).
 *
 * Config: $JOULE_FAKE_NVML_CONFIG (JSON, see docs/gpu.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/nvml/nvml_abi.h"
#include "fake_common.h"

const char *const fake_config_env = "JOULE_FAKE_NVML_CONFIG";
const int fake_lost_code = NVML_ERROR_GPU_IS_LOST;

static const struct {
    const char *name;
    int code;
    const char *text;
} errors[] = {
    {"SUCCESS", NVML_SUCCESS, "Success"},
    {"UNINITIALIZED", NVML_ERROR_UNINITIALIZED, "Uninitialized"},
    {"INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT, "Invalid Argument"},
    {"NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED, "Not Supported"},
    {"NO_PERMISSION", NVML_ERROR_NO_PERMISSION, "Insufficient Permissions"},
    {"ALREADY_INITIALIZED", NVML_ERROR_ALREADY_INITIALIZED, "Already Initialized"},
    {"NOT_FOUND", NVML_ERROR_NOT_FOUND, "Not Found"},
    {"INSUFFICIENT_SIZE", NVML_ERROR_INSUFFICIENT_SIZE, "Insufficient Size"},
    {"INSUFFICIENT_POWER", NVML_ERROR_INSUFFICIENT_POWER, "Insufficient External Power"},
    {"DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"},
    {"TIMEOUT", NVML_ERROR_TIMEOUT, "Timeout"},
    {"IRQ_ISSUE", NVML_ERROR_IRQ_ISSUE, "Interrupt request issue"},
    {"LIBRARY_NOT_FOUND", NVML_ERROR_LIBRARY_NOT_FOUND, "NVML Shared Library Not Found"},
    {"FUNCTION_NOT_FOUND", NVML_ERROR_FUNCTION_NOT_FOUND, "Function Not Found"},
    {"CORRUPTED_INFOROM", NVML_ERROR_CORRUPTED_INFOROM, "Corrupted infoROM"},
    {"GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST, "GPU is lost"},
    {"RESET_REQUIRED", NVML_ERROR_RESET_REQUIRED, "GPU requires restart"},
    {"OPERATING_SYSTEM", NVML_ERROR_OPERATING_SYSTEM,
     "The operating system has blocked the request."},
    {"LIB_RM_VERSION_MISMATCH", NVML_ERROR_LIB_RM_VERSION_MISMATCH,
     "RM has detected an NVML/RM version mismatch."},
    {"IN_USE", NVML_ERROR_IN_USE, "In use by another client"},
    {"MEMORY", NVML_ERROR_MEMORY, "Insufficient Memory"},
    {"NO_DATA", NVML_ERROR_NO_DATA, "No data"},
    {"UNKNOWN", NVML_ERROR_UNKNOWN, "Unknown Error"},
};

int fake_error_code(const char *name)
{
    if (strncmp(name, "NVML_ERROR_", 11) == 0)
        name += 11;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (strcmp(errors[i].name, name) == 0)
            return errors[i].code;
    return -1;
}

#define API FAKE_EXPORT

/* Handles are pointers into S.gpu / S.mig. */
static int gpu_of(nvmlDevice_t h)
{
    const struct fake_gpu *g = (const struct fake_gpu *)h;
    if (g >= S.gpu && g < S.gpu + S.ngpu)
        return (int)(g - S.gpu);
    return -1;
}

static int mig_of(nvmlDevice_t h)
{
    const struct fake_mig *m = (const struct fake_mig *)h;
    if (m >= S.mig && m < S.mig + S.nmig)
        return (int)(m - S.mig);
    return -1;
}

/* Common prologue of a device call: lock, check init and handle, inject.
 * On a non-zero return the caller returns it (already unlocked). */
static int enter(const char *fn, nvmlDevice_t h, int *gpu)
{
    fake_lock();
    if (!S.loaded || S.init_count == 0) {
        fake_record(fn, -1, NVML_ERROR_UNINITIALIZED, NULL);
        fake_unlock();
        return NVML_ERROR_UNINITIALIZED;
    }
    *gpu = gpu_of(h);
    if (*gpu < 0) {
        fake_record(fn, -1, NVML_ERROR_INVALID_ARGUMENT, "bad-handle");
        fake_unlock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    int rc = fake_inject(fn, *gpu);
    if (rc) {
        fake_record(fn, *gpu, rc, "injected");
        fake_unlock();
        return rc;
    }
    return 0;
}

static nvmlReturn_t leave(const char *fn, int gpu, nvmlReturn_t rc, const char *args)
{
    fake_record(fn, gpu, rc, "%s", args ? args : "");
    fake_unlock();
    return rc;
}

#define ENTER(h)                                        \
    int gpu_;                                           \
    do {                                                \
        int e_ = enter(__func__, (h), &gpu_);           \
        if (e_)                                         \
            return e_;                                  \
    } while (0);                                        \
    struct fake_gpu *G = &S.gpu[gpu_];                  \
    (void)G

#define LEAVE(rc, ...)                                  \
    do {                                                \
        char a_[160] = "";                              \
        if (fake_recording())                           \
            snprintf(a_, sizeof a_, " " __VA_ARGS__);   \
        return leave(__func__, gpu_, (rc), a_ + 1);     \
    } while (0)

static int privileged_or_fail(void) { return S.privileged ? 0 : NVML_ERROR_NO_PERMISSION; }

/* ---- init ------------------------------------------------------------------ */

static nvmlReturn_t do_init(const char *fn)
{
    fake_lock();
    if (S.init_count == 0) {
        if (fake_load() != 0) {
            fake_unlock();
            return NVML_ERROR_UNKNOWN;
        }
        if (S.init_error) {
            int rc = S.init_error;
            fake_record(fn, -1, rc, NULL);
            fake_unload();
            fake_unlock();
            return rc;
        }
    }
    int rc = fake_inject(fn, -1);
    if (rc == 0)
        S.init_count++;
    fake_record(fn, -1, rc, NULL);
    if (rc && S.init_count == 0)
        fake_unload();
    fake_unlock();
    return rc;
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlInit_v2(void) { return do_init("nvmlInit_v2"); }
/* What pynvml's nvmlInit() calls (flags only change driver-less init). */
API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    return do_init("nvmlInitWithFlags");
}
#endif
API nvmlReturn_t nvmlInit(void) { return do_init("nvmlInit"); }

API nvmlReturn_t nvmlShutdown(void)
{
    fake_lock();
    if (S.init_count == 0) {
        fake_unlock();
        return NVML_ERROR_UNINITIALIZED;
    }
    fake_record("nvmlShutdown", -1, 0, NULL);
    if (--S.init_count == 0)
        fake_unload();
    fake_unlock();
    return NVML_SUCCESS;
}

API const char *nvmlErrorString(nvmlReturn_t r)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == r)
            return errors[i].text;
    return "Unknown Error";
}

static nvmlReturn_t get_count(const char *fn, unsigned int *n)
{
    fake_lock();
    if (S.init_count == 0) {
        fake_unlock();
        return NVML_ERROR_UNINITIALIZED;
    }
    int rc = fake_inject(fn, -1);
    if (!rc)
        *n = (unsigned)S.ngpu;
    fake_record(fn, -1, rc, "count=%d", S.ngpu);
    fake_unlock();
    return rc;
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) { return get_count("nvmlDeviceGetCount_v2", n); }
#endif
API nvmlReturn_t nvmlDeviceGetCount(unsigned int *n) { return get_count("nvmlDeviceGetCount", n); }

static nvmlReturn_t by_index(const char *fn, unsigned int i, nvmlDevice_t *h)
{
    fake_lock();
    if (S.init_count == 0) {
        fake_unlock();
        return NVML_ERROR_UNINITIALIZED;
    }
    int rc = i < (unsigned)S.ngpu ? fake_inject(fn, (int)i) : NVML_ERROR_INVALID_ARGUMENT;
    if (!rc)
        *h = (nvmlDevice_t)&S.gpu[i];
    fake_record(fn, (int)i, rc, NULL);
    fake_unlock();
    return rc;
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *h)
{
    return by_index("nvmlDeviceGetHandleByIndex_v2", i, h);
}
#endif
API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *h)
{
    return by_index("nvmlDeviceGetHandleByIndex", i, h);
}

API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *h)
{
    fake_lock();
    if (S.init_count == 0) {
        fake_unlock();
        return NVML_ERROR_UNINITIALIZED;
    }
    int rc = NVML_ERROR_NOT_FOUND;
    for (int i = 0; i < S.ngpu; i++)
        if (strcmp(S.gpu[i].uuid, uuid) == 0) {
            *h = (nvmlDevice_t)&S.gpu[i];
            rc = 0;
        }
#ifndef FAKE_NVML_OLD
    for (int i = 0; i < S.nmig; i++)
        if (strcmp(S.mig[i].uuid, uuid) == 0) {
            *h = (nvmlDevice_t)&S.mig[i];
            rc = 0;
        }
#endif
    fake_record("nvmlDeviceGetHandleByUUID", -1, rc, "%s", uuid);
    fake_unlock();
    return rc;
}

/* ---- identity -------------------------------------------------------------- */

static nvmlReturn_t copy_str(char *dst, unsigned int len, const char *src)
{
    if (strlen(src) + 1 > len)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t h, char *name, unsigned int len)
{
    ENTER(h);
    LEAVE(copy_str(name, len, G->name));
}

API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t h, char *uuid, unsigned int len)
{
    fake_lock();
    int m = mig_of(h);
    if (m >= 0 && S.init_count) {
        nvmlReturn_t rc = copy_str(uuid, len, S.mig[m].uuid);
        fake_record("nvmlDeviceGetUUID", -1, rc, "mig=%d", m);
        fake_unlock();
        return rc;
    }
    fake_unlock();
    ENTER(h);
    LEAVE(copy_str(uuid, len, G->uuid));
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t h, nvmlPciInfo_t *pci)
{
    ENTER(h);
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", G->pci_bus_id);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", G->pci_bus_id + 4);
    pci->bus = (unsigned)(0x10 + gpu_);
    LEAVE(NVML_SUCCESS);
}
#endif

/* v1 layout: a 16-byte busId ("0000:10:00.0"), then the numbers. */
API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t h, void *out)
{
    ENTER(h);
    struct {
        char busId[16];
        unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
        unsigned int reserved[4];
    } v1;
    memset(&v1, 0, sizeof v1);
    snprintf(v1.busId, sizeof v1.busId, "%s", G->pci_bus_id + 4);
    memcpy(out, &v1, sizeof v1);
    LEAVE(NVML_SUCCESS);
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t h, unsigned int *arch)
{
    ENTER(h);
    *arch = G->arch < 0 ? NVML_DEVICE_ARCH_UNKNOWN : (unsigned)G->arch;
    LEAVE(NVML_SUCCESS, "%u", *arch);
}
#endif

#ifndef FAKE_NVML_OLD
/* Grace Hopper C2C link detection (Zeus asks): the parts modelled here are
 * discrete GPUs, which answer NOT_SUPPORTED. */
API nvmlReturn_t nvmlDeviceGetC2cModeInfoV(nvmlDevice_t h, void *info)
{
    (void)info;
    ENTER(h);
    LEAVE(NVML_ERROR_NOT_SUPPORTED);
}
#endif

/* ---- energy and power ------------------------------------------------------- */

API nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t h, unsigned long long *mj)
{
    ENTER(h);
    if (!G->energy_counter)
        LEAVE(NVML_ERROR_NOT_SUPPORTED);
    int64_t sample_ns = fake_now();
    if (G->energy_read_ns > 0) {
        /* A slow driver call: the counter is sampled somewhere inside it
         * (where, a real driver does not say: seeded, uniform), so an
         * update just before the call returns may be in the value or not. */
        static uint64_t calls;
        uint64_t x = (++calls + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 31;
        sample_ns += (int64_t)((double)(x >> 11) / (double)(1ull << 53) * (double)G->energy_read_ns);
        struct timespec ts = {G->energy_read_ns / 1000000000, G->energy_read_ns % 1000000000};
        nanosleep(&ts, NULL);
    }
    *mj = G->energy_start_mj + sim_gpu_counter_mj(&G->m, sample_ns);
    LEAVE(NVML_SUCCESS, "%llu", *mj);
}

API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t h, unsigned int *mw)
{
    ENTER(h);
    /* On most GPUs this is the 1-s average. */
    *mw = (unsigned)(sim_gpu_average_power_w(&G->m, fake_now()) * 1000.0 + 0.5);
    LEAVE(NVML_SUCCESS, "%u", *mw);
}

#ifndef FAKE_NVML_OLD
static nvmlReturn_t field(struct fake_gpu *G, nvmlFieldValue_t *v)
{
    int64_t now = fake_now();
    double w;
    if (!G->field_values)
        return NVML_ERROR_NOT_SUPPORTED;
    if (v->fieldId != NVML_FI_DEV_POWER_INSTANT && v->fieldId != NVML_FI_DEV_POWER_AVERAGE)
        return NVML_ERROR_NOT_SUPPORTED;
    int avg = v->fieldId == NVML_FI_DEV_POWER_AVERAGE;
    switch (v->scopeId) {
    case NVML_POWER_SCOPE_GPU:
        if (!G->scope_gpu)
            return NVML_ERROR_NOT_SUPPORTED;
        w = avg ? sim_gpu_average_power_w(&G->m, now) : sim_gpu_instant_power_w(&G->m, now);
        break;
    case NVML_POWER_SCOPE_MODULE:
        if (G->scope_gpu)
            return NVML_ERROR_NOT_SUPPORTED; /* only superchips */
        w = G->module_extra_w +
            (avg ? sim_gpu_average_power_w(&G->m, now) : sim_gpu_instant_power_w(&G->m, now));
        break;
    case NVML_POWER_SCOPE_MEMORY: {
        const char *mode = G->memory_power_field;
        if (!G->memory_power || (!strcmp(mode, "instant") && avg) ||
            (!strcmp(mode, "average") && !avg))
            return NVML_ERROR_NOT_SUPPORTED;
        w = !strcmp(mode, "zero") ? 0 : sim_gpu_memory_power_w(&G->m, now);
        break;
    }
    default:
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    v->value.uiVal = (unsigned)(w * 1000.0 + 0.5);
    v->timestamp = now / 1000;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t h, int n, nvmlFieldValue_t *values)
{
    ENTER(h);
    char args[160] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        values[i].nvmlReturn = field(G, &values[i]);
        if (!fake_recording())
            continue;
        used += (size_t)snprintf(args + used, sizeof args - used, "%sfield=%u scope=%u:%d",
                                 i ? "," : "", values[i].fieldId, values[i].scopeId,
                                 values[i].nvmlReturn);
        if (used >= sizeof args)
            used = sizeof args - 1;
    }
    LEAVE(NVML_SUCCESS, "%s", args);
}
#endif

/* ---- other readings ---------------------------------------------------------- */

API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t h, int sensor, unsigned int *t)
{
    ENTER(h);
    if (sensor != NVML_TEMPERATURE_GPU)
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    *t = (unsigned)sim_gpu_temperature_c(&G->m, fake_now());
    LEAVE(NVML_SUCCESS, "%u", *t);
}

API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t h, int type, unsigned int *mhz)
{
    ENTER(h);
    switch (type) {
    case NVML_CLOCK_GRAPHICS:
    case NVML_CLOCK_SM: *mhz = (unsigned)sim_gpu_sm_clock_mhz(&G->m, fake_now()); break;
    case NVML_CLOCK_MEM:
        *mhz = (unsigned)(G->mem_lock_max ? G->mem_lock_max : G->m.p.mem_mhz);
        break;
    default: LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    LEAVE(NVML_SUCCESS, "type=%d %u", type, *mhz);
}

static nvmlReturn_t reasons(nvmlDevice_t h, unsigned long long *mask, const char *fn)
{
    int gpu_;
    int e = enter(fn, h, &gpu_);
    if (e)
        return e;
    *mask = sim_gpu_throttle(&S.gpu[gpu_].m, fake_now());
    return leave(fn, gpu_, NVML_SUCCESS, NULL);
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t h, unsigned long long *m)
{
    return reasons(h, m, "nvmlDeviceGetCurrentClocksEventReasons");
}
#endif
API nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t h, unsigned long long *m)
{
    return reasons(h, m, "nvmlDeviceGetCurrentClocksThrottleReasons");
}

/* ---- power limits -------------------------------------------------------------- */

static unsigned mw(double w) { return (unsigned)(w * 1000.0 + 0.5); }

API nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t h, unsigned int *v)
{
    ENTER(h);
    *v = mw(G->m.pl_w);
    LEAVE(NVML_SUCCESS, "%u", *v);
}

API nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t h, unsigned int *mn,
                                                              unsigned int *mx)
{
    ENTER(h);
    *mn = mw(G->m.p.pl_min_w);
    *mx = mw(G->m.p.pl_max_w);
    LEAVE(NVML_SUCCESS, "%u %u", *mn, *mx);
}

API nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t h, unsigned int *v)
{
    ENTER(h);
    *v = mw(G->m.p.pl_default_w);
    LEAVE(NVML_SUCCESS, "%u", *v);
}

API nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t h, unsigned int *v)
{
    ENTER(h);
    *v = mw(G->m.pl_w);
    LEAVE(NVML_SUCCESS, "%u", *v);
}

API nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t h, unsigned int v)
{
    ENTER(h);
    int rc = privileged_or_fail();
    if (!rc && (v < mw(G->m.p.pl_min_w) || v > mw(G->m.p.pl_max_w)))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc) {
        sim_gpu_set_power_limit(&G->m, fake_now(), v / 1000.0);
        fake_save_state();
    }
    LEAVE(rc, "%u", v);
}

/* ---- clocks -------------------------------------------------------------------- */

API nvmlReturn_t nvmlDeviceSetGpuLockedClocks(nvmlDevice_t h, unsigned int mn, unsigned int mx)
{
    ENTER(h);
    int rc = G->arch >= 0 && G->arch < NVML_DEVICE_ARCH_VOLTA ? NVML_ERROR_NOT_SUPPORTED
                                                             : privileged_or_fail();
    if (!rc && (mn > mx || (int)mn < G->m.p.sm_min_mhz || (int)mx > G->m.p.sm_max_mhz))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc) {
        sim_gpu_lock_clocks(&G->m, fake_now(), (int)mn, (int)mx);
        fake_save_state();
    }
    LEAVE(rc, "%u %u", mn, mx);
}

API nvmlReturn_t nvmlDeviceResetGpuLockedClocks(nvmlDevice_t h)
{
    ENTER(h);
    int rc = G->arch >= 0 && G->arch < NVML_DEVICE_ARCH_VOLTA ? NVML_ERROR_NOT_SUPPORTED
                                                             : privileged_or_fail();
    if (!rc) {
        sim_gpu_lock_clocks(&G->m, fake_now(), 0, 0);
        fake_save_state();
    }
    LEAVE(rc);
}

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceSetMemoryLockedClocks(nvmlDevice_t h, unsigned int mn, unsigned int mx)
{
    ENTER(h);
    int rc = privileged_or_fail();
    if (!rc && (mn > mx || (int)mx > G->m.p.mem_mhz || (int)mn < G->m.p.mem_mhz / 2))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc) {
        G->mem_lock_min = (int)mn;
        G->mem_lock_max = (int)mx;
        fake_save_state();
    }
    LEAVE(rc, "%u %u", mn, mx);
}

API nvmlReturn_t nvmlDeviceResetMemoryLockedClocks(nvmlDevice_t h)
{
    ENTER(h);
    int rc = privileged_or_fail();
    if (!rc) {
        G->mem_lock_min = G->mem_lock_max = 0;
        fake_save_state();
    }
    LEAVE(rc);
}
#endif

/* Two memory clocks: full speed and half. */
API nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t h, unsigned int *count,
                                                    unsigned int *mhz)
{
    ENTER(h);
    unsigned cap = *count;
    *count = 2;
    if (cap < 2)
        LEAVE(NVML_ERROR_INSUFFICIENT_SIZE);
    mhz[0] = (unsigned)G->m.p.mem_mhz;
    mhz[1] = (unsigned)(G->m.p.mem_mhz / 2);
    LEAVE(NVML_SUCCESS, "count=2");
}

/* SM clocks from max down to min in 15 MHz steps (like the sim backend). */
API nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t h, unsigned int mem,
                                                      unsigned int *count, unsigned int *mhz)
{
    ENTER(h);
    if ((int)mem != G->m.p.mem_mhz && (int)mem != G->m.p.mem_mhz / 2)
        LEAVE(NVML_ERROR_NOT_FOUND, "mem=%u", mem);
    unsigned n = 0;
    for (int f = G->m.p.sm_max_mhz; f >= G->m.p.sm_min_mhz; f -= 15)
        n++;
    unsigned cap = *count;
    *count = n;
    if (cap < n)
        LEAVE(NVML_ERROR_INSUFFICIENT_SIZE, "mem=%u", mem);
    unsigned i = 0;
    for (int f = G->m.p.sm_max_mhz; f >= G->m.p.sm_min_mhz; f -= 15)
        mhz[i++] = (unsigned)f;
    LEAVE(NVML_SUCCESS, "mem=%u count=%u", mem, n);
}

/* ---- persistence ------------------------------------------------------------------ */

API nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t h, int *mode)
{
    ENTER(h);
    *mode = G->m.persistence ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
    LEAVE(NVML_SUCCESS, "%d", *mode);
}

API nvmlReturn_t nvmlDeviceSetPersistenceMode(nvmlDevice_t h, int mode)
{
    ENTER(h);
    int rc = privileged_or_fail();
    if (!rc && mode != NVML_FEATURE_ENABLED && mode != NVML_FEATURE_DISABLED)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    if (!rc) {
        G->m.persistence = mode == NVML_FEATURE_ENABLED;
        fake_save_state();
    }
    LEAVE(rc, "%d", mode);
}

/* ---- MIG ----------------------------------------------------------------------------- */

#ifndef FAKE_NVML_OLD
API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig, nvmlDevice_t *h)
{
    fake_lock();
    int m = mig_of(mig);
    int rc = S.init_count == 0 ? NVML_ERROR_UNINITIALIZED
             : m < 0           ? NVML_ERROR_INVALID_ARGUMENT
                               : fake_inject("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", -1);
    if (!rc) {
        if (S.mig[m].parent < 0 || S.mig[m].parent >= S.ngpu)
            rc = NVML_ERROR_NOT_FOUND;
        else
            *h = (nvmlDevice_t)&S.gpu[S.mig[m].parent];
    }
    fake_record("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", -1, rc, "mig=%d", m);
    fake_unlock();
    return rc;
}

API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t h, unsigned int *is_mig)
{
    fake_lock();
    *is_mig = mig_of(h) >= 0;
    fake_unlock();
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t h, unsigned int *cur, unsigned int *pending)
{
    ENTER(h);
    if (G->arch >= 0 && G->arch < NVML_DEVICE_ARCH_AMPERE)
        LEAVE(NVML_ERROR_NOT_SUPPORTED);
    *cur = *pending = (unsigned)G->mig_mode;
    LEAVE(NVML_SUCCESS, "%u", *cur);
}
#endif

API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t h, unsigned int *index)
{
    ENTER(h);
    *index = (unsigned)gpu_;
    LEAVE(NVML_SUCCESS);
}
