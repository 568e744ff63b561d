/* The NVML backend: NVIDIA GPUs through libnvidia-ml, loaded with dlopen at
 * run time (no vendor header or library at build time; see nvml_abi.h).
 *
 * - The library is $JOULE_NVML_LIBRARY or libnvidia-ml.so.1. It is loaded
 *   and initialised once per process and reference-counted: every device
 *   holds a reference, so several contexts share one nvmlInit and the last
 *   device closed calls nvmlShutdown and dlclose.
 * - Newest symbol versions are tried first (nvmlInit_v2 before nvmlInit, ...)
 *   and optional functions may be absent; the device's capability bits say
 *   what was found.
 * - Energy comes from nvmlDeviceGetTotalEnergyConsumption (mJ since the
 *   driver loaded), decided by calling it. GPUs without it (pre-Volta) leave
 *   read_energy_uj NULL and the core integrates power (APPROX).
 * - Power comes from nvmlDeviceGetFieldValues with scope GPU, falling back to
 *   MODULE scope (Grace Hopper superchips report only that), then to
 *   nvmlDeviceGetPowerUsage. Memory power is the MEMORY scope.
 * - GPUs are listed in CUDA_VISIBLE_DEVICES order (indices, GPU- UUIDs and
 *   MIG- UUIDs, which map to the parent GPU with a note).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "devices/device.h"
#include "devices/note.h"
#include "devices/vendor_lib.h"
#include "devices/nvml/nvml_abi.h"

#define NVML_MAX_GPUS 64

struct nvml_api {
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*get_count)(unsigned int *);
    nvmlReturn_t (*get_handle_by_index)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*get_handle_by_uuid)(const char *, nvmlDevice_t *);
    nvmlReturn_t (*get_name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*get_uuid)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*get_pci_info)(nvmlDevice_t, nvmlPciInfo_t *);
    nvmlReturn_t (*get_architecture)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*get_total_energy)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*get_field_values)(nvmlDevice_t, int, nvmlFieldValue_t *);
    nvmlReturn_t (*get_power_usage)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*get_temperature)(nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*get_clock_info)(nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*get_clock_reasons)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*get_pl)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*get_pl_constraints)(nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*get_pl_default)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*get_enforced_pl)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*set_pl)(nvmlDevice_t, unsigned int);
    nvmlReturn_t (*set_gpu_locked_clocks)(nvmlDevice_t, unsigned int, unsigned int);
    nvmlReturn_t (*reset_gpu_locked_clocks)(nvmlDevice_t);
    nvmlReturn_t (*set_mem_locked_clocks)(nvmlDevice_t, unsigned int, unsigned int);
    nvmlReturn_t (*reset_mem_locked_clocks)(nvmlDevice_t);
    nvmlReturn_t (*get_supported_mem_clocks)(nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*get_supported_gfx_clocks)(nvmlDevice_t, unsigned int, unsigned int *,
                                             unsigned int *);
    nvmlReturn_t (*get_persistence)(nvmlDevice_t, int *);
    nvmlReturn_t (*set_persistence)(nvmlDevice_t, int);
    nvmlReturn_t (*get_mig_parent)(nvmlDevice_t, nvmlDevice_t *);
    nvmlReturn_t (*get_mig_mode)(nvmlDevice_t, unsigned int *, unsigned int *);
    const char *init_name, *pci_name, *reasons_name;
};

/* Process-wide library state, written only by the open and close
 * callbacks of `lib` (vendor_lib.h), so device operations read it without
 * a lock (each device holds a reference). */
static void *lib_handle;
static struct nvml_api api;

struct nvml_dev {
    nvmlDevice_t h;
    int scope;        /* NVML_POWER_SCOPE_* of the power fields, -1 none */
    int avg_field;    /* POWER_AVERAGE field works */
    unsigned mem_field; /* field id that works with MEMORY scope, 0 none */
    int power_usage;  /* nvmlDeviceGetPowerUsage works */
};

/* ---- loading ----------------------------------------------------------- */

static void *sym_first(void *h, const char *const *names, const char **used)
{
    for (int i = 0; names[i]; i++) {
        void *p = dlsym(h, names[i]);
        if (p) {
            if (used)
                *used = names[i];
            return p;
        }
    }
    return NULL;
}

#define LOAD(field, used, ...)                                                  \
    do {                                                                        \
        static const char *const names_[] = {__VA_ARGS__, NULL};               \
        void *p_ = sym_first(lib_handle, names_, used);                         \
        memcpy(&api.field, &p_, sizeof p_);                                     \
    } while (0)

static const char *nv_str(nvmlReturn_t r)
{
    const char *s = api.error_string ? api.error_string(r) : NULL;
    return s && *s ? s : "unknown NVML error";
}

static const char *nv_code_name(nvmlReturn_t r)
{
    switch (r) {
    case NVML_ERROR_UNINITIALIZED: return "NVML_ERROR_UNINITIALIZED";
    case NVML_ERROR_INVALID_ARGUMENT: return "NVML_ERROR_INVALID_ARGUMENT";
    case NVML_ERROR_NOT_SUPPORTED: return "NVML_ERROR_NOT_SUPPORTED";
    case NVML_ERROR_NO_PERMISSION: return "NVML_ERROR_NO_PERMISSION";
    case NVML_ERROR_NOT_FOUND: return "NVML_ERROR_NOT_FOUND";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "NVML_ERROR_INSUFFICIENT_SIZE";
    case NVML_ERROR_INSUFFICIENT_POWER: return "NVML_ERROR_INSUFFICIENT_POWER";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "NVML_ERROR_DRIVER_NOT_LOADED";
    case NVML_ERROR_TIMEOUT: return "NVML_ERROR_TIMEOUT";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML_ERROR_LIBRARY_NOT_FOUND";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "NVML_ERROR_FUNCTION_NOT_FOUND";
    case NVML_ERROR_GPU_IS_LOST: return "NVML_ERROR_GPU_IS_LOST";
    case NVML_ERROR_RESET_REQUIRED: return "NVML_ERROR_RESET_REQUIRED";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "NVML_ERROR_LIB_RM_VERSION_MISMATCH";
    case NVML_ERROR_IN_USE: return "NVML_ERROR_IN_USE";
    case NVML_ERROR_MEMORY: return "NVML_ERROR_MEMORY";
    case NVML_ERROR_NO_DATA: return "NVML_ERROR_NO_DATA";
    case NVML_ERROR_GPU_NOT_FOUND: return "NVML_ERROR_GPU_NOT_FOUND";
    case NVML_ERROR_UNKNOWN: return "NVML_ERROR_UNKNOWN";
    default: return "NVML error";
    }
}

/* NVML return code -> JOULE_E* code. */
static int nv_code(nvmlReturn_t r)
{
    switch (r) {
    case NVML_SUCCESS: return JOULE_OK;
    case NVML_ERROR_INVALID_ARGUMENT: return JOULE_EINVAL;
    case NVML_ERROR_NOT_SUPPORTED:
    case NVML_ERROR_FUNCTION_NOT_FOUND:
    case NVML_ERROR_FREQ_NOT_SUPPORTED: return JOULE_ENOTSUP;
    case NVML_ERROR_NO_PERMISSION: return JOULE_EPERM;
    case NVML_ERROR_NOT_FOUND:
    case NVML_ERROR_GPU_NOT_FOUND: return JOULE_ENODEV;
    case NVML_ERROR_GPU_IS_LOST: return JOULE_EGPULOST;
    case NVML_ERROR_UNINITIALIZED:
    case NVML_ERROR_DRIVER_NOT_LOADED:
    case NVML_ERROR_LIBRARY_NOT_FOUND:
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return JOULE_ELIB;
    case NVML_ERROR_IN_USE: return JOULE_EBUSY;
    case NVML_ERROR_MEMORY: return JOULE_ENOMEM;
    default: return JOULE_EIO;
    }
}

static const char *who(const struct joule_device *d, char *buf, size_t len)
{
    if (d->label[0])
        snprintf(buf, len, "%s (%s)", d->label, d->name);
    else
        snprintf(buf, len, "NVIDIA GPU %d (%s)", d->backend_index, d->name);
    return buf;
}

/* Sets the error for a failed NVML call on d, keeping NVML's own text. */
static int nv_fail(const struct joule_device *d, const char *fn, nvmlReturn_t r)
{
    char w[160];
    const char *hint = "";
    if (r == NVML_ERROR_NO_PERMISSION)
        hint = "; " JDEV_HINT_CONTROL_AS_USER;
    else if (r == NVML_ERROR_GPU_IS_LOST)
        hint = "; the GPU fell off the bus or stopped responding (check "
               "dmesg for Xid errors; a reset or reboot is needed)";
    return joule_set_error(nv_code(r), "%s: %s: %s (%s)%s", who(d, w, sizeof w),
                           fn, nv_str(r), nv_code_name(r), hint);
}

static int missing(const struct joule_device *d, const char *fn)
{
    char w[160];
    return joule_set_error(JOULE_ENOTSUP,
        "%s: this NVML library has no %s (driver too old?)", who(d, w, sizeof w), fn);
}

static void unload_locked(void)
{
    if (lib_handle)
        dlclose(lib_handle);
    lib_handle = NULL;
    memset(&api, 0, sizeof api);
}

/* Loads and initialises NVML (lib's open callback). On failure writes why
 * into reason, leaves nothing loaded and returns a JOULE_E*. */
static int nvml_open(char *reason, size_t reason_len)
{
    static const char *const defaults[] = {"libnvidia-ml.so.1", NULL};
    const char *path;
    lib_handle = vendor_dlopen("JOULE_NVML_LIBRARY", defaults,
                               "libnvidia-ml.so.1 not found (no NVIDIA driver installed?); "
                               "set JOULE_NVML_LIBRARY to its path",
                               &path, reason, reason_len);
    if (!lib_handle)
        return JOULE_ENODEV;
    memset(&api, 0, sizeof api);
    LOAD(init, &api.init_name, "nvmlInit_v2", "nvmlInit");
    LOAD(shutdown, NULL, "nvmlShutdown");
    LOAD(error_string, NULL, "nvmlErrorString");
    LOAD(get_count, NULL, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
    LOAD(get_handle_by_index, NULL, "nvmlDeviceGetHandleByIndex_v2",
         "nvmlDeviceGetHandleByIndex");
    LOAD(get_handle_by_uuid, NULL, "nvmlDeviceGetHandleByUUID");
    LOAD(get_name, NULL, "nvmlDeviceGetName");
    LOAD(get_uuid, NULL, "nvmlDeviceGetUUID");
    LOAD(get_pci_info, &api.pci_name, "nvmlDeviceGetPciInfo_v3",
         "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo");
    LOAD(get_architecture, NULL, "nvmlDeviceGetArchitecture");
    LOAD(get_total_energy, NULL, "nvmlDeviceGetTotalEnergyConsumption");
    LOAD(get_field_values, NULL, "nvmlDeviceGetFieldValues");
    LOAD(get_power_usage, NULL, "nvmlDeviceGetPowerUsage");
    LOAD(get_temperature, NULL, "nvmlDeviceGetTemperature");
    LOAD(get_clock_info, NULL, "nvmlDeviceGetClockInfo");
    LOAD(get_clock_reasons, &api.reasons_name,
         "nvmlDeviceGetCurrentClocksEventReasons",
         "nvmlDeviceGetCurrentClocksThrottleReasons");
    LOAD(get_pl, NULL, "nvmlDeviceGetPowerManagementLimit");
    LOAD(get_pl_constraints, NULL, "nvmlDeviceGetPowerManagementLimitConstraints");
    LOAD(get_pl_default, NULL, "nvmlDeviceGetPowerManagementDefaultLimit");
    LOAD(get_enforced_pl, NULL, "nvmlDeviceGetEnforcedPowerLimit");
    LOAD(set_pl, NULL, "nvmlDeviceSetPowerManagementLimit");
    LOAD(set_gpu_locked_clocks, NULL, "nvmlDeviceSetGpuLockedClocks");
    LOAD(reset_gpu_locked_clocks, NULL, "nvmlDeviceResetGpuLockedClocks");
    LOAD(set_mem_locked_clocks, NULL, "nvmlDeviceSetMemoryLockedClocks");
    LOAD(reset_mem_locked_clocks, NULL, "nvmlDeviceResetMemoryLockedClocks");
    LOAD(get_supported_mem_clocks, NULL, "nvmlDeviceGetSupportedMemoryClocks");
    LOAD(get_supported_gfx_clocks, NULL, "nvmlDeviceGetSupportedGraphicsClocks");
    LOAD(get_persistence, NULL, "nvmlDeviceGetPersistenceMode");
    LOAD(set_persistence, NULL, "nvmlDeviceSetPersistenceMode");
    LOAD(get_mig_parent, NULL, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle");
    LOAD(get_mig_mode, NULL, "nvmlDeviceGetMigMode");

    if (!api.init || !api.shutdown || !api.get_count || !api.get_handle_by_index) {
        snprintf(reason, reason_len,
                 "%s lacks nvmlInit, nvmlShutdown, nvmlDeviceGetCount or "
                 "nvmlDeviceGetHandleByIndex; is it really NVML?", path);
        unload_locked();
        return JOULE_ELIB;
    }
    nvmlReturn_t r = api.init();
    if (r != NVML_SUCCESS) {
        snprintf(reason, reason_len, "%s failed: %s (%s)%s", api.init_name,
                 nv_str(r), nv_code_name(r),
                 r == NVML_ERROR_DRIVER_NOT_LOADED
                     ? "; is the nvidia kernel module loaded?"
                     : r == NVML_ERROR_LIB_RM_VERSION_MISMATCH
                           ? "; the driver was updated: reload the module or reboot"
                           : "");
        unload_locked();
        return r == NVML_ERROR_NO_PERMISSION ? JOULE_EPERM : JOULE_ELIB;
    }
    return 0;
}

static void nvml_shutdown(void)
{
    if (api.shutdown)
        api.shutdown();
    unload_locked();
}

static struct vendor_lib lib = VENDOR_LIB_INIT(nvml_open, nvml_shutdown);

/* ---- device operations --------------------------------------------------- */

static struct nvml_dev *P(struct joule_device *d) { return d->priv; }

static void nvml_close(struct joule_device *d)
{
    free(d->priv);
    d->priv = NULL;
    vendor_lib_release(&lib);
}

static int nvml_read_energy(struct joule_device *d, uint64_t *uj)
{
    unsigned long long mj = 0;
    nvmlReturn_t r = api.get_total_energy(P(d)->h, &mj);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetTotalEnergyConsumption", r);
    *uj = (uint64_t)mj * 1000ull;
    return 0;
}

static nvmlReturn_t field_mw(nvmlDevice_t h, unsigned field, unsigned scope,
                             uint32_t *mw)
{
    nvmlFieldValue_t v;
    memset(&v, 0, sizeof v);
    v.fieldId = field;
    v.scopeId = scope;
    nvmlReturn_t r = api.get_field_values(h, 1, &v);
    if (r != NVML_SUCCESS)
        return r;
    if (v.nvmlReturn != NVML_SUCCESS)
        return v.nvmlReturn;
    switch (v.valueType) {
    case NVML_VALUE_TYPE_DOUBLE: *mw = (uint32_t)(v.value.dVal + 0.5); break;
    case NVML_VALUE_TYPE_UNSIGNED_INT: *mw = v.value.uiVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG: *mw = (uint32_t)v.value.ulVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: *mw = (uint32_t)v.value.ullVal; break;
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG:
        *mw = v.value.sllVal < 0 ? 0 : (uint32_t)v.value.sllVal;
        break;
    case NVML_VALUE_TYPE_SIGNED_INT: *mw = v.value.siVal < 0 ? 0 : (uint32_t)v.value.siVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT: *mw = v.value.usVal; break;
    default: return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}

static int nvml_read_power(struct joule_device *d, enum jdev_power_kind k,
                           uint32_t *mw)
{
    struct nvml_dev *p = P(d);
    nvmlReturn_t r;
    switch (k) {
    case JDEV_POWER_INSTANT:
    case JDEV_POWER_AVERAGE: {
        int use_field = k == JDEV_POWER_INSTANT ? p->scope >= 0 : p->avg_field;
        if (use_field) {
            unsigned f = k == JDEV_POWER_INSTANT ? NVML_FI_DEV_POWER_INSTANT
                                                 : NVML_FI_DEV_POWER_AVERAGE;
            r = field_mw(p->h, f, (unsigned)p->scope, mw);
            if (r != NVML_SUCCESS)
                return nv_fail(d, "nvmlDeviceGetFieldValues(power)", r);
            return 0;
        }
        if (!p->power_usage)
            return missing(d, "power reading");
        unsigned int v = 0;
        r = api.get_power_usage(p->h, &v);
        if (r != NVML_SUCCESS)
            return nv_fail(d, "nvmlDeviceGetPowerUsage", r);
        *mw = v;
        return 0;
    }
    case JDEV_POWER_MEMORY:
        if (!p->mem_field) {
            char w[160];
            return joule_set_error(JOULE_ENOTSUP, "%s reports no memory power",
                                   who(d, w, sizeof w));
        }
        r = field_mw(p->h, p->mem_field, NVML_POWER_SCOPE_MEMORY, mw);
        if (r != NVML_SUCCESS)
            return nv_fail(d, "nvmlDeviceGetFieldValues(memory power)", r);
        return 0;
    }
    return joule_set_error(JOULE_EINVAL, "unknown power kind %d", (int)k);
}

static int nvml_read_temperature(struct joule_device *d, int *c)
{
    unsigned int t = 0;
    nvmlReturn_t r = api.get_temperature(P(d)->h, NVML_TEMPERATURE_GPU, &t);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetTemperature", r);
    *c = (int)t;
    return 0;
}

static int nvml_read_clocks(struct joule_device *d, int *sm, int *mem)
{
    unsigned int s = 0, m = 0;
    nvmlReturn_t r = api.get_clock_info(P(d)->h, NVML_CLOCK_SM, &s);
    if (r == NVML_SUCCESS)
        r = api.get_clock_info(P(d)->h, NVML_CLOCK_MEM, &m);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetClockInfo", r);
    *sm = (int)s;
    *mem = (int)m;
    return 0;
}

static int nvml_read_throttle(struct joule_device *d, uint64_t *mask)
{
    unsigned long long m = 0;
    nvmlReturn_t r = api.get_clock_reasons(P(d)->h, &m);
    if (r != NVML_SUCCESS)
        return nv_fail(d, api.reasons_name, r);
    /* JOULE_THROTTLE_* use NVML's bit values. */
    *mask = m & NVML_CLOCK_EVENT_REASONS_KNOWN;
    return 0;
}

static int nvml_get_limits(struct joule_device *d, struct jdev_power_limits *o)
{
    struct nvml_dev *p = P(d);
    unsigned int cur = 0, mn = 0, mx = 0, def = 0, enf = 0;
    nvmlReturn_t r;
    if (!api.get_pl || !api.get_pl_constraints)
        return missing(d, "nvmlDeviceGetPowerManagementLimit");
    if ((r = api.get_pl(p->h, &cur)) != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetPowerManagementLimit", r);
    if ((r = api.get_pl_constraints(p->h, &mn, &mx)) != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetPowerManagementLimitConstraints", r);
    def = cur;
    if (api.get_pl_default && (r = api.get_pl_default(p->h, &def)) != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetPowerManagementDefaultLimit", r);
    enf = cur;
    if (api.get_enforced_pl && (r = api.get_enforced_pl(p->h, &enf)) != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetEnforcedPowerLimit", r);
    o->current_mw = cur;
    o->min_mw = mn;
    o->max_mw = mx;
    o->default_mw = def;
    o->enforced_mw = enf;
    return 0;
}

static int nvml_set_limit(struct joule_device *d, uint32_t mw)
{
    char w[160];
    if (!api.set_pl)
        return missing(d, "nvmlDeviceSetPowerManagementLimit");
    struct jdev_power_limits l;
    int rc = nvml_get_limits(d, &l);
    if (rc)
        return rc;
    if (mw < l.min_mw || mw > l.max_mw)
        return joule_set_error(JOULE_ERANGE,
            "power limit %.1f W is outside %s's allowed range %.1f-%.1f W",
            mw / 1000.0, who(d, w, sizeof w), l.min_mw / 1000.0, l.max_mw / 1000.0);
    nvmlReturn_t r = api.set_pl(P(d)->h, mw);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceSetPowerManagementLimit", r);
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Supported memory clocks, descending. Returns the count or an error. */
static int mem_clocks(struct joule_device *d, unsigned *out, unsigned cap)
{
    if (!api.get_supported_mem_clocks)
        return missing(d, "nvmlDeviceGetSupportedMemoryClocks");
    unsigned n = cap;
    nvmlReturn_t r = api.get_supported_mem_clocks(P(d)->h, &n, out);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetSupportedMemoryClocks", r);
    qsort(out, n, sizeof *out, cmp_desc);
    return (int)n;
}

/* Supported SM clocks at the highest memory clock, descending. */
static int gfx_clocks(struct joule_device *d, unsigned *out, unsigned cap)
{
    unsigned mem[64];
    int nm = mem_clocks(d, mem, 64);
    if (nm < 0)
        return nm;
    if (nm == 0) {
        char w[160];
        return joule_set_error(JOULE_ENOTSUP, "%s lists no memory clocks",
                               who(d, w, sizeof w));
    }
    if (!api.get_supported_gfx_clocks)
        return missing(d, "nvmlDeviceGetSupportedGraphicsClocks");
    unsigned n = cap;
    nvmlReturn_t r = api.get_supported_gfx_clocks(P(d)->h, mem[0], &n, out);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetSupportedGraphicsClocks", r);
    qsort(out, n, sizeof *out, cmp_desc);
    return (int)n;
}

static int check_clock_range(struct joule_device *d, int min, int max,
                             int memory)
{
    char w[160];
    unsigned clk[512];
    if (min <= 0 || max <= 0 || min > max)
        return joule_set_error(JOULE_EINVAL,
            "%s: locked %s clocks %d,%d MHz: need 0 < MIN <= MAX",
            who(d, w, sizeof w), memory ? "memory" : "SM", min, max);
    int n = memory ? mem_clocks(d, clk, 512) : gfx_clocks(d, clk, 512);
    if (n < 0)
        return n;
    if (n == 0)
        return 0; /* nothing to check against; NVML decides */
    int lo = (int)clk[n - 1], hi = (int)clk[0];
    if (min < lo || max > hi)
        return joule_set_error(JOULE_ERANGE,
            "locked %s clocks %d-%d MHz are outside %s's allowed range %d-%d MHz",
            memory ? "memory" : "SM", min, max, who(d, w, sizeof w), lo, hi);
    return 0;
}

static int nvml_lock_clocks(struct joule_device *d, int min, int max)
{
    if (!api.set_gpu_locked_clocks)
        return missing(d, "nvmlDeviceSetGpuLockedClocks");
    int rc = check_clock_range(d, min, max, 0);
    if (rc)
        return rc;
    nvmlReturn_t r = api.set_gpu_locked_clocks(P(d)->h, (unsigned)min, (unsigned)max);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceSetGpuLockedClocks", r);
    return 0;
}

static int nvml_reset_clocks(struct joule_device *d)
{
    if (!api.reset_gpu_locked_clocks)
        return missing(d, "nvmlDeviceResetGpuLockedClocks");
    nvmlReturn_t r = api.reset_gpu_locked_clocks(P(d)->h);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceResetGpuLockedClocks", r);
    return 0;
}

static int nvml_lock_mem_clocks(struct joule_device *d, int min, int max)
{
    if (!api.set_mem_locked_clocks)
        return missing(d, "nvmlDeviceSetMemoryLockedClocks");
    int rc = check_clock_range(d, min, max, 1);
    if (rc)
        return rc;
    nvmlReturn_t r = api.set_mem_locked_clocks(P(d)->h, (unsigned)min, (unsigned)max);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceSetMemoryLockedClocks", r);
    return 0;
}

static int nvml_reset_mem_clocks(struct joule_device *d)
{
    if (!api.reset_mem_locked_clocks)
        return missing(d, "nvmlDeviceResetMemoryLockedClocks");
    nvmlReturn_t r = api.reset_mem_locked_clocks(P(d)->h);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceResetMemoryLockedClocks", r);
    return 0;
}

static int nvml_supported_clocks(struct joule_device *d, int *mhz, int cap)
{
    unsigned clk[512];
    int n = gfx_clocks(d, clk, 512);
    if (n < 0)
        return n;
    for (int i = 0; i < n && i < cap; i++)
        mhz[i] = (int)clk[i];
    return n;
}

static int nvml_get_persistence(struct joule_device *d, int *on)
{
    if (!api.get_persistence)
        return missing(d, "nvmlDeviceGetPersistenceMode");
    int v = 0;
    nvmlReturn_t r = api.get_persistence(P(d)->h, &v);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceGetPersistenceMode", r);
    *on = v == NVML_FEATURE_ENABLED;
    return 0;
}

static int nvml_set_persistence(struct joule_device *d, int on)
{
    if (!api.set_persistence)
        return missing(d, "nvmlDeviceSetPersistenceMode");
    nvmlReturn_t r = api.set_persistence(P(d)->h, on ? NVML_FEATURE_ENABLED
                                                     : NVML_FEATURE_DISABLED);
    if (r != NVML_SUCCESS)
        return nv_fail(d, "nvmlDeviceSetPersistenceMode", r);
    return 0;
}

#define NVML_OPS_COMMON                                 \
    .close = nvml_close,                                \
    .read_power_mw = nvml_read_power,                   \
    .read_temperature_c = nvml_read_temperature,        \
    .read_clocks_mhz = nvml_read_clocks,                \
    .read_throttle = nvml_read_throttle,                \
    .get_power_limits = nvml_get_limits,                \
    .set_power_limit_mw = nvml_set_limit,               \
    .lock_clocks_mhz = nvml_lock_clocks,                \
    .reset_clocks = nvml_reset_clocks,                  \
    .lock_mem_clocks_mhz = nvml_lock_mem_clocks,        \
    .reset_mem_clocks = nvml_reset_mem_clocks,          \
    .supported_clocks_mhz = nvml_supported_clocks,      \
    .get_persistence = nvml_get_persistence,            \
    .set_persistence = nvml_set_persistence

static const struct jdev_ops nvml_ops = {NVML_OPS_COMMON,
                                         .read_energy_uj = nvml_read_energy};
/* No energy counter (pre-Volta): the core integrates read_power_mw. */
static const struct jdev_ops nvml_ops_no_counter = {NVML_OPS_COMMON};

/* ---- discovery ------------------------------------------------------------ */

static const char *arch_name(unsigned a)
{
    switch (a) {
    case NVML_DEVICE_ARCH_KEPLER: return "Kepler";
    case NVML_DEVICE_ARCH_MAXWELL: return "Maxwell";
    case NVML_DEVICE_ARCH_PASCAL: return "Pascal";
    case NVML_DEVICE_ARCH_VOLTA: return "Volta";
    case NVML_DEVICE_ARCH_TURING: return "Turing";
    case NVML_DEVICE_ARCH_AMPERE: return "Ampere";
    case NVML_DEVICE_ARCH_ADA: return "Ada";
    case NVML_DEVICE_ARCH_HOPPER: return "Hopper";
    case NVML_DEVICE_ARCH_BLACKWELL: return "Blackwell";
    case NVML_DEVICE_ARCH_T23X: return "Orin";
    default: return "unknown";
    }
}

/* joule numbers GPUs in NVML's (PCI bus) order, as CUDA does only with
 * CUDA_DEVICE_ORDER=PCI_BUS_ID; by default CUDA puts the fastest first,
 * which differs only when the models differ. Integer CUDA_VISIBLE_DEVICES
 * entries and joule's own indices are then ambiguous; UUIDs are not. */
static int cuda_order_may_differ(nvmlDevice_t *handles, unsigned count, const char *cvd)
{
    const char *order = getenv("CUDA_DEVICE_ORDER");
    if ((order && !strcmp(order, "PCI_BUS_ID")) || !api.get_name || count < 2)
        return 0;
    if (cvd && *cvd) {
        /* Only UUID entries ("GPU-…", "MIG-…"): unambiguous. */
        int any_index = 0;
        for (const char *p = cvd; *p;) {
            p += strspn(p, " ");
            any_index |= (*p >= '0' && *p <= '9') || *p == '-';
            p += strcspn(p, ",");
            p += *p == ',';
        }
        if (!any_index)
            return 0;
    }
    char first[96] = "", name[96];
    for (unsigned i = 0; i < count; i++) {
        if (api.get_name(handles[i], name, sizeof name) != NVML_SUCCESS)
            return 0;
        if (i == 0)
            snprintf(first, sizeof first, "%s", name);
        else if (strcmp(first, name))
            return 1;
    }
    return 0;
}

/* Fills one device for physical GPU phys. mig_uuid is the MIG instance the
 * user named for it, or NULL. */
static int make_device(unsigned phys, nvmlDevice_t h, const char *mig_uuid,
                       struct jdev_list *out)
{
    struct nvml_dev *p = calloc(1, sizeof *p);
    if (!p)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    p->h = h;
    p->scope = -1;

    nvmlReturn_t r;
    unsigned long long mj;
    int counter = 0, counter_err = 0;
    if (api.get_total_energy) {
        r = api.get_total_energy(h, &mj);
        if (r == NVML_SUCCESS)
            counter = 1;
        else if (r != NVML_ERROR_NOT_SUPPORTED && r != NVML_ERROR_FUNCTION_NOT_FOUND) {
            /* Keep the counter path so reads report the real error. */
            counter = 1;
            counter_err = r;
        }
    }

    struct joule_device *d = jdev_new(JOULE_KIND_GPU, "nvml",
                                      counter ? &nvml_ops : &nvml_ops_no_counter);
    if (!d) {
        free(p);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    /* The device owns one library reference from here on. */
    vendor_lib_retain(&lib);
    d->priv = p;
    d->backend_index = (int)phys;

    if (!api.get_name || api.get_name(h, d->name, sizeof d->name) != NVML_SUCCESS)
        snprintf(d->name, sizeof d->name, "NVIDIA GPU %u", phys);
    if (!api.get_uuid || api.get_uuid(h, d->uuid, sizeof d->uuid) != NVML_SUCCESS)
        d->uuid[0] = '\0';
    if (api.get_pci_info) {
        nvmlPciInfo_t pci;
        memset(&pci, 0, sizeof pci);
        if (api.get_pci_info(h, &pci) == NVML_SUCCESS) {
            int v1 = strcmp(api.pci_name, "nvmlDeviceGetPciInfo") == 0;
            const char *id = v1 || !pci.busId[0] ? pci.busIdLegacy : pci.busId;
            snprintf(d->pci_bus_id, sizeof d->pci_bus_id, "%.*s",
                     (int)(v1 || !pci.busId[0] ? sizeof pci.busIdLegacy : sizeof pci.busId),
                     id);
        }
    }
    unsigned arch = NVML_DEVICE_ARCH_UNKNOWN;
    if (api.get_architecture && api.get_architecture(h, &arch) == NVML_SUCCESS)
        snprintf(d->arch, sizeof d->arch, "%s", arch_name(arch));

    /* Every GPU NVML reports runs CUDA: window edges can wait for it. */
    d->caps = JOULE_CAP_CUDA;
    if (counter)
        d->caps |= JOULE_CAP_ENERGY_COUNTER;

    /* Power: field values with GPU scope, else MODULE scope (superchips),
     * else nvmlDeviceGetPowerUsage. */
    uint32_t mw;
    if (api.get_field_values) {
        if (field_mw(h, NVML_FI_DEV_POWER_INSTANT, NVML_POWER_SCOPE_GPU, &mw) == NVML_SUCCESS) {
            p->scope = NVML_POWER_SCOPE_GPU;
            d->power_scope = JOULE_POWER_SCOPE_GPU;
        } else if (field_mw(h, NVML_FI_DEV_POWER_INSTANT, NVML_POWER_SCOPE_MODULE, &mw) ==
                   NVML_SUCCESS) {
            p->scope = NVML_POWER_SCOPE_MODULE;
            d->power_scope = JOULE_POWER_SCOPE_MODULE;
            jdev_note_add(d, "power readings cover the module (superchip: GPU + CPU); "
                             "windows use the energy counter only");
        }
        if (p->scope >= 0 &&
            field_mw(h, NVML_FI_DEV_POWER_AVERAGE, (unsigned)p->scope, &mw) == NVML_SUCCESS)
            p->avg_field = 1;
        /* Memory power: instant, else average (Zeus reads the latter on
         * H100). GPUs without it may answer success with 0 mW: a loaded
         * or idle HBM stack never draws 0, so 0 means unsupported. */
        static const unsigned mem_fields[] = {NVML_FI_DEV_POWER_INSTANT,
                                              NVML_FI_DEV_POWER_AVERAGE};
        for (size_t i = 0; i < 2 && !p->mem_field; i++)
            if (field_mw(h, mem_fields[i], NVML_POWER_SCOPE_MEMORY, &mw) == NVML_SUCCESS &&
                mw > 0)
                p->mem_field = mem_fields[i];
    }
    unsigned int uw;
    if (api.get_power_usage && api.get_power_usage(h, &uw) == NVML_SUCCESS)
        p->power_usage = 1;
    if (p->scope >= 0 || p->power_usage)
        d->caps |= JOULE_CAP_POWER_INSTANT;
    if (p->avg_field || p->power_usage)
        d->caps |= JOULE_CAP_POWER_AVERAGE;
    if (p->mem_field)
        d->caps |= JOULE_CAP_POWER_MEMORY;
    if (p->scope < 0 && p->power_usage)
        jdev_note_add(d, "power from nvmlDeviceGetPowerUsage (a ~1 s average on "
                         "most GPUs)");

    unsigned t;
    if (api.get_temperature && api.get_temperature(h, NVML_TEMPERATURE_GPU, &t) == NVML_SUCCESS)
        d->caps |= JOULE_CAP_TEMPERATURE;
    if (api.get_clock_info && api.get_clock_info(h, NVML_CLOCK_SM, &t) == NVML_SUCCESS)
        d->caps |= JOULE_CAP_CLOCKS;
    unsigned long long reasons;
    if (api.get_clock_reasons && api.get_clock_reasons(h, &reasons) == NVML_SUCCESS)
        d->caps |= JOULE_CAP_THROTTLE;

    unsigned mn = 0, mx = 0;
    if (api.get_pl && api.get_pl_constraints &&
        api.get_pl_constraints(h, &mn, &mx) == NVML_SUCCESS && mx > 0) {
        d->caps |= JOULE_CAP_POWER_LIMIT;
        if (api.set_pl)
            d->caps |= JOULE_CAP_SET_POWER_LIMIT;
    }
    if (api.set_gpu_locked_clocks && api.reset_gpu_locked_clocks &&
        (arch == NVML_DEVICE_ARCH_UNKNOWN || arch >= NVML_DEVICE_ARCH_VOLTA))
        d->caps |= JOULE_CAP_LOCK_CLOCKS;
    int pm;
    if (api.get_persistence && api.get_persistence(h, &pm) == NVML_SUCCESS)
        d->caps |= JOULE_CAP_PERSISTENCE;

    /* NVML's energy counter is a 64-bit mJ count: no wrap in practice. */
    d->counter_range_uj = 0;
    d->resolution_uj = 1000.0;
    /* Nominal: NVIDIA does not document the counter's update period;
     * 100 ms is what is observed on Volta-Hopper data-centre parts. */
    d->update_period_us = 100000.0;
    d->max_power_mw = mx > 0 ? mx : 1000000;
    if (!counter)
        jdev_note_add(d, "no energy counter (pre-Volta): energy integrated from power");
    if (counter_err)
        jdev_note_add(d, "energy counter failed at open: %.128s", nv_str(counter_err));
    if (mig_uuid) {
        jdev_note_add(d, "%.100s is a MIG instance: energy, power and settings belong to "
                         "the whole GPU", mig_uuid);
    } else if (api.get_mig_mode) {
        unsigned cur = 0, pend = 0;
        if (api.get_mig_mode(h, &cur, &pend) == NVML_SUCCESS && cur == 1)
            jdev_note_add(d, "MIG enabled: energy belongs to the whole GPU");
    }
    return jdev_list_push(out, d);
}

/* Rewrites MIG entries of CUDA_VISIBLE_DEVICES into their parent GPU's
 * UUID. mig[k] gets the k-th entry's MIG UUID (or "" when it is a GPU). */
static int resolve_mig(const char *cvd, char *rewritten, size_t len,
                       char (*mig)[96], int max)
{
    rewritten[0] = '\0';
    int k = 0;
    const char *p = cvd;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char tok[256];
        snprintf(tok, sizeof tok, "%.*s", (int)(n < 255 ? n : 255), p);
        char *t = tok;
        while (*t == ' ')
            t++;
        for (size_t e = strlen(t); e && t[e - 1] == ' '; e--)
            t[e - 1] = '\0';
        char repl[256];
        snprintf(repl, sizeof repl, "%s", t);
        if (k < max)
            mig[k][0] = '\0';
        if (strncmp(t, "MIG-", 4) == 0) {
            if (strncmp(t, "MIG-GPU-", 8) == 0) {
                /* CUDA 11.0 form: MIG-GPU-<parent uuid>/<gi>/<ci>. */
                snprintf(repl, sizeof repl, "%.*s", (int)strcspn(t + 4, "/"), t + 4);
            } else {
                nvmlDevice_t mh, parent;
                char puuid[96];
                if (!api.get_handle_by_uuid || !api.get_mig_parent || !api.get_uuid)
                    return joule_set_error(JOULE_ENOTSUP,
                        "CUDA_VISIBLE_DEVICES entry '%s' is a MIG instance and this "
                        "NVML cannot name its parent GPU (no "
                        "nvmlDeviceGetDeviceHandleFromMigDeviceHandle); joule "
                        "measures whole GPUs: name the parent GPU instead", t);
                nvmlReturn_t r = api.get_handle_by_uuid(t, &mh);
                if (r != NVML_SUCCESS)
                    return joule_set_error(r == NVML_ERROR_NOT_FOUND ? JOULE_ENODEV
                                                                     : nv_code(r),
                        "CUDA_VISIBLE_DEVICES entry '%s': nvmlDeviceGetHandleByUUID: "
                        "%s (see nvidia-smi -L)", t, nv_str(r));
                r = api.get_mig_parent(mh, &parent);
                if (r == NVML_SUCCESS)
                    r = api.get_uuid(parent, puuid, sizeof puuid);
                if (r != NVML_SUCCESS)
                    return joule_set_error(JOULE_ENOTSUP,
                        "CUDA_VISIBLE_DEVICES entry '%s' is a MIG instance whose "
                        "parent GPU NVML cannot name (%s); name the parent GPU "
                        "instead", t, nv_str(r));
                snprintf(repl, sizeof repl, "%s", puuid);
            }
            if (k < max)
                snprintf(mig[k], sizeof mig[k], "%.95s", t);
        }
        size_t used = strlen(rewritten);
        snprintf(rewritten + used, len - used, "%s%s", used ? "," : "", repl);
        if (*t)
            k++;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int nvml_discover(const struct jdev_discover_args *args,
                         struct jdev_list *out, char *reason, size_t reason_len)
{
    (void)args;
    int rc = vendor_lib_acquire(&lib, reason, reason_len);
    if (rc)
        return rc;

    unsigned count = 0;
    nvmlReturn_t r = api.get_count(&count);
    if (r != NVML_SUCCESS) {
        snprintf(reason, reason_len, "nvmlDeviceGetCount failed: %s", nv_str(r));
        vendor_lib_release(&lib);
        return nv_code(r) == JOULE_EPERM ? JOULE_EPERM : JOULE_ELIB;
    }
    if (count == 0) {
        snprintf(reason, reason_len, "NVML found no NVIDIA GPUs");
        vendor_lib_release(&lib);
        return JOULE_ENODEV;
    }
    if (count > NVML_MAX_GPUS)
        count = NVML_MAX_GPUS;

    nvmlDevice_t handles[NVML_MAX_GPUS];
    char uuids[NVML_MAX_GPUS][96];
    const char *uuid_ptrs[NVML_MAX_GPUS];
    for (unsigned i = 0; i < count; i++) {
        r = api.get_handle_by_index(i, &handles[i]);
        if (r != NVML_SUCCESS) {
            rc = joule_set_error(nv_code(r), "NVIDIA GPU %u: nvmlDeviceGetHandleByIndex: %s",
                                 i, nv_str(r));
            snprintf(reason, reason_len, "%s", joule_last_error());
            vendor_lib_release(&lib);
            return rc;
        }
        uuids[i][0] = '\0';
        if (api.get_uuid)
            api.get_uuid(handles[i], uuids[i], sizeof uuids[i]);
        uuid_ptrs[i] = uuids[i];
    }

    /* CUDA_VISIBLE_DEVICES: MIG entries to parents, then the common map. */
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    char mig[NVML_MAX_GPUS][96];
    char rewritten[4096];
    int map[NVML_MAX_GPUS], visible = 0;
    for (int k = 0; k < NVML_MAX_GPUS; k++)
        mig[k][0] = '\0';
    if (cvd) {
        rc = resolve_mig(cvd, rewritten, sizeof rewritten, mig, NVML_MAX_GPUS);
        if (rc == 0)
            rc = jdev_cuda_visible_map(rewritten, uuid_ptrs, (int)count, map, &visible);
    } else {
        rc = jdev_cuda_visible_map(NULL, uuid_ptrs, (int)count, map, &visible);
    }
    if (rc) {
        snprintf(reason, reason_len, "%s", joule_last_error());
        vendor_lib_release(&lib);
        return rc;
    }
    if (visible == 0) {
        snprintf(reason, reason_len,
                 "CUDA_VISIBLE_DEVICES='%s' hides every NVIDIA GPU", cvd ? cvd : "");
        vendor_lib_release(&lib);
        return JOULE_ENODEV;
    }
    int first = out->count;
    for (int k = 0; k < visible; k++) {
        rc = make_device((unsigned)map[k], handles[map[k]],
                         k < NVML_MAX_GPUS && mig[k][0] ? mig[k] : NULL, out);
        if (rc) {
            snprintf(reason, reason_len, "%s", joule_last_error());
            vendor_lib_release(&lib);
            return rc;
        }
    }
    if (cuda_order_may_differ(handles, count, cvd))
        for (int k = first; k < out->count; k++)
            jdev_note_add(out->items[k],
                          "GPUs of different models and CUDA_DEVICE_ORDER is not PCI_BUS_ID: "
                          "CUDA numbers them fastest first, so this index may not be CUDA's; "
                          "set CUDA_DEVICE_ORDER=PCI_BUS_ID or name GPUs by UUID");
    vendor_lib_release(&lib); /* the devices hold their own references */
    return 0;
}

const struct jdev_backend jdev_backend_nvml = {"nvml", nvml_discover};
