/* The ROCm SMI backend: AMD GPUs through librocm_smi64, loaded with dlopen
 * at run time (declarations in rocm_smi_abi.h).
 *
 * - The library is $JOULE_ROCM_SMI_LIBRARY, else librocm_smi64.so (plus
 *   its versioned names and /opt/rocm/lib). Loaded and initialised once per
 *   process and shared by reference (vendor_lib.h), like NVML.
 * - Energy = rsmi_dev_energy_count_get's count × counter_resolution (µJ).
 *   Some AMD GPUs report broken counters, so at open the counter's rate is
 *   compared with rsmi_dev_power_ave_get over a short interval; if they
 *   disagree by more than 10× the device integrates power instead (APPROX)
 *   and its note says why.
 * - Power from rsmi_dev_power_get (current, where the GPU has it) and
 *   rsmi_dev_power_ave_get; GPUs with only one of them use it for both.
 *   Power cap (get/set/range/default) and temperature.
 * - GPUs follow HIP_VISIBLE_DEVICES (else ROCR_VISIBLE_DEVICES) when set.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "base/error.h"
#include "devices/device.h"
#include "devices/note.h"
#include "devices/vendor_lib.h"
#include "devices/rocm/rocm_smi_abi.h"

#define RSMI_MAX_GPUS 64
/* The counter check: at least this long between the two reads, and at most
 * this long waiting for the counter to move. */
#define RSMI_CHECK_MIN_NS 30000000LL
#define RSMI_CHECK_MAX_NS 300000000LL
#define RSMI_CHECK_RATIO 10.0

struct rsmi_api {
    rsmi_status_t (*init)(uint64_t);
    rsmi_status_t (*shut_down)(void);
    rsmi_status_t (*status_string)(rsmi_status_t, const char **);
    rsmi_status_t (*num_devices)(uint32_t *);
    rsmi_status_t (*name_get)(uint32_t, char *, size_t);
    rsmi_status_t (*unique_id_get)(uint32_t, uint64_t *);
    rsmi_status_t (*pci_id_get)(uint32_t, uint64_t *);
    rsmi_status_t (*energy_count_get)(uint32_t, uint64_t *, float *, uint64_t *);
    rsmi_status_t (*power_ave_get)(uint32_t, uint32_t, uint64_t *);
    rsmi_status_t (*power_get)(uint32_t, uint64_t *, int *);
    rsmi_status_t (*power_cap_get)(uint32_t, uint32_t, uint64_t *);
    rsmi_status_t (*power_cap_set)(uint32_t, uint32_t, uint64_t);
    rsmi_status_t (*power_cap_range_get)(uint32_t, uint32_t, uint64_t *, uint64_t *);
    rsmi_status_t (*power_cap_default_get)(uint32_t, uint64_t *);
    rsmi_status_t (*temp_metric_get)(uint32_t, uint32_t, int, int64_t *);
};

static void *lib_handle;
static struct rsmi_api api;

struct rsmi_dev {
    uint32_t dv;
    float resolution_uj;
    int temp_sensor;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *rs_str(rsmi_status_t r)
{
    const char *s = NULL;
    if (api.status_string && api.status_string(r, &s) == RSMI_STATUS_SUCCESS && s && *s)
        return s;
    return "unknown ROCm SMI error";
}

static int rs_code(rsmi_status_t r)
{
    switch (r) {
    case RSMI_STATUS_SUCCESS: return JOULE_OK;
    case RSMI_STATUS_INVALID_ARGS: return JOULE_EINVAL;
    case RSMI_STATUS_NOT_SUPPORTED:
    case RSMI_STATUS_NOT_YET_IMPLEMENTED: return JOULE_ENOTSUP;
    case RSMI_STATUS_PERMISSION: return JOULE_EPERM;
    case RSMI_STATUS_INPUT_OUT_OF_BOUNDS: return JOULE_ERANGE;
    case RSMI_STATUS_INIT_ERROR: return JOULE_ELIB;
    case RSMI_STATUS_NOT_FOUND: return JOULE_ENODEV;
    case RSMI_STATUS_OUT_OF_RESOURCES: return JOULE_ENOMEM;
    case RSMI_STATUS_BUSY: return JOULE_EBUSY;
    default: return JOULE_EIO;
    }
}

static const char *who(const struct joule_device *d, char *buf, size_t len)
{
    if (d->label[0])
        snprintf(buf, len, "%s (%s)", d->label, d->name);
    else
        snprintf(buf, len, "AMD GPU %d (%s)", d->backend_index, d->name);
    return buf;
}

static int rs_fail(const struct joule_device *d, const char *fn, rsmi_status_t r)
{
    char w[160];
    return joule_set_error(rs_code(r), "%s: %s: %s (ROCm SMI status %d)%s",
                           who(d, w, sizeof w), fn, rs_str(r), (int)r,
                           r == RSMI_STATUS_PERMISSION
                               ? "; " JDEV_HINT_CONTROL_AS_USER
                               : "");
}

#define LOAD(field, name)                                   \
    do {                                                    \
        void *p_ = dlsym(lib_handle, name);                 \
        memcpy(&api.field, &p_, sizeof p_);                 \
    } while (0)

static void unload_locked(void)
{
    if (lib_handle)
        dlclose(lib_handle);
    lib_handle = NULL;
    memset(&api, 0, sizeof api);
}

/* Loads and initialises ROCm SMI (lib's open callback). On failure writes
 * why into reason, leaves nothing loaded and returns a JOULE_E*. */
static int rsmi_open(char *reason, size_t reason_len)
{
    static const char *const defaults[] = {
        "librocm_smi64.so", "librocm_smi64.so.7", "librocm_smi64.so.6",
        "librocm_smi64.so.5", "/opt/rocm/lib/librocm_smi64.so", NULL};
    const char *path;
    /* Without the DRM class no amdgpu device exists, and the system's ROCm
     * SMI (installed with Slurm's rsmi plugin or hwloc on NVIDIA-only
     * nodes too) prints errors on stderr from rsmi_init: skip it then. A
     * library named by the variable (a test double) is always tried. */
    if (!getenv("JOULE_ROCM_SMI_LIBRARY") && access("/sys/class/drm", F_OK) != 0) {
        snprintf(reason, reason_len, "no /sys/class/drm: no amdgpu driver is loaded");
        return JOULE_ENODEV;
    }
    lib_handle = vendor_dlopen("JOULE_ROCM_SMI_LIBRARY", defaults,
                               "librocm_smi64.so not found (no ROCm installed?); set "
                               "JOULE_ROCM_SMI_LIBRARY to its path",
                               &path, reason, reason_len);
    if (!lib_handle)
        return JOULE_ENODEV;
    memset(&api, 0, sizeof api);
    LOAD(init, "rsmi_init");
    LOAD(shut_down, "rsmi_shut_down");
    LOAD(status_string, "rsmi_status_string");
    LOAD(num_devices, "rsmi_num_monitor_devices");
    LOAD(name_get, "rsmi_dev_name_get");
    LOAD(unique_id_get, "rsmi_dev_unique_id_get");
    LOAD(pci_id_get, "rsmi_dev_pci_id_get");
    LOAD(energy_count_get, "rsmi_dev_energy_count_get");
    LOAD(power_ave_get, "rsmi_dev_power_ave_get");
    LOAD(power_get, "rsmi_dev_power_get");
    LOAD(power_cap_get, "rsmi_dev_power_cap_get");
    LOAD(power_cap_set, "rsmi_dev_power_cap_set");
    LOAD(power_cap_range_get, "rsmi_dev_power_cap_range_get");
    LOAD(power_cap_default_get, "rsmi_dev_power_cap_default_get");
    LOAD(temp_metric_get, "rsmi_dev_temp_metric_get");
    if (!api.init || !api.shut_down || !api.num_devices) {
        snprintf(reason, reason_len,
                 "%s lacks rsmi_init, rsmi_shut_down or rsmi_num_monitor_devices; "
                 "is it really ROCm SMI?", path);
        unload_locked();
        return JOULE_ELIB;
    }
    rsmi_status_t r = api.init(0);
    if (r != RSMI_STATUS_SUCCESS) {
        snprintf(reason, reason_len, "rsmi_init failed: %s (status %d)%s", rs_str(r),
                 (int)r, r == RSMI_STATUS_INIT_ERROR ? "; is the amdgpu driver loaded?" : "");
        unload_locked();
        return r == RSMI_STATUS_PERMISSION ? JOULE_EPERM : JOULE_ELIB;
    }
    return 0;
}

static void rsmi_shutdown(void)
{
    if (api.shut_down)
        api.shut_down();
    unload_locked();
}

static struct vendor_lib lib = VENDOR_LIB_INIT(rsmi_open, rsmi_shutdown);

/* ---- device operations ---------------------------------------------------- */

static struct rsmi_dev *P(struct joule_device *d) { return d->priv; }

static void rs_close(struct joule_device *d)
{
    free(d->priv);
    d->priv = NULL;
    vendor_lib_release(&lib);
}

static int rs_read_energy(struct joule_device *d, uint64_t *uj)
{
    uint64_t count = 0, ts = 0;
    float res = 0;
    rsmi_status_t r = api.energy_count_get(P(d)->dv, &count, &res, &ts);
    if (r != RSMI_STATUS_SUCCESS)
        return rs_fail(d, "rsmi_dev_energy_count_get", r);
    if (res > 0)
        P(d)->resolution_uj = res;
    *uj = (uint64_t)((double)count * (double)P(d)->resolution_uj);
    return 0;
}

static int rs_read_power(struct joule_device *d, enum jdev_power_kind k, uint32_t *mw)
{
    uint64_t uw = 0;
    rsmi_status_t r;
    switch (k) {
    case JDEV_POWER_INSTANT:
        if (api.power_get) {
            int type = 0;
            r = api.power_get(P(d)->dv, &uw, &type);
            if (r == RSMI_STATUS_SUCCESS)
                break;
            if (r != RSMI_STATUS_NOT_SUPPORTED)
                return rs_fail(d, "rsmi_dev_power_get", r);
        }
        /* The average is all there is. */
        __attribute__((fallthrough));
    case JDEV_POWER_AVERAGE:
        r = api.power_ave_get ? api.power_ave_get(P(d)->dv, 0, &uw) : RSMI_STATUS_NOT_SUPPORTED;
        if (r == RSMI_STATUS_NOT_SUPPORTED && api.power_get && k == JDEV_POWER_AVERAGE) {
            /* Newer GPUs (MI300) answer only rsmi_dev_power_get. */
            int type = 0;
            r = api.power_get(P(d)->dv, &uw, &type);
            if (r != RSMI_STATUS_SUCCESS)
                return rs_fail(d, "rsmi_dev_power_get", r);
            break;
        }
        if (r != RSMI_STATUS_SUCCESS)
            return rs_fail(d, api.power_ave_get ? "rsmi_dev_power_ave_get"
                                                : "rsmi_dev_power_get", r);
        break;
    default: {
        char w[160];
        return joule_set_error(JOULE_ENOTSUP, "%s reports no memory power",
                               who(d, w, sizeof w));
    }
    }
    *mw = (uint32_t)((uw + 500) / 1000);
    return 0;
}

static int rs_read_temperature(struct joule_device *d, int *c)
{
    int64_t mdeg = 0;
    rsmi_status_t r = api.temp_metric_get(P(d)->dv, (uint32_t)P(d)->temp_sensor,
                                          RSMI_TEMP_CURRENT, &mdeg);
    if (r != RSMI_STATUS_SUCCESS)
        return rs_fail(d, "rsmi_dev_temp_metric_get", r);
    *c = (int)(mdeg / 1000);
    return 0;
}

static int rs_get_limits(struct joule_device *d, struct jdev_power_limits *o)
{
    uint64_t cap = 0, mx = 0, mn = 0, def = 0;
    rsmi_status_t r = api.power_cap_get(P(d)->dv, 0, &cap);
    if (r != RSMI_STATUS_SUCCESS)
        return rs_fail(d, "rsmi_dev_power_cap_get", r);
    r = api.power_cap_range_get(P(d)->dv, 0, &mx, &mn);
    if (r != RSMI_STATUS_SUCCESS)
        return rs_fail(d, "rsmi_dev_power_cap_range_get", r);
    def = mx;
    if (api.power_cap_default_get &&
        (r = api.power_cap_default_get(P(d)->dv, &def)) != RSMI_STATUS_SUCCESS)
        return rs_fail(d, "rsmi_dev_power_cap_default_get", r);
    o->current_mw = o->enforced_mw = (uint32_t)(cap / 1000);
    o->min_mw = (uint32_t)(mn / 1000);
    o->max_mw = (uint32_t)(mx / 1000);
    o->default_mw = (uint32_t)(def / 1000);
    return 0;
}

static int rs_set_limit(struct joule_device *d, uint32_t mw)
{
    char w[160];
    struct jdev_power_limits l;
    int rc = rs_get_limits(d, &l);
    if (rc)
        return rc;
    if (mw < l.min_mw || mw > l.max_mw)
        return joule_set_error(JOULE_ERANGE,
            "power cap %.1f W is outside %s's allowed range %.1f-%.1f W", mw / 1000.0,
            who(d, w, sizeof w), l.min_mw / 1000.0, l.max_mw / 1000.0);
    rsmi_status_t r = api.power_cap_set(P(d)->dv, 0, (uint64_t)mw * 1000ull);
    if (r != RSMI_STATUS_SUCCESS)
        return rs_fail(d, "rsmi_dev_power_cap_set", r);
    return 0;
}

#define RS_OPS_COMMON                          \
    .close = rs_close,                         \
    .read_power_mw = rs_read_power,            \
    .read_temperature_c = rs_read_temperature, \
    .get_power_limits = rs_get_limits,         \
    .set_power_limit_mw = rs_set_limit

static const struct jdev_ops rs_ops = {RS_OPS_COMMON, .read_energy_uj = rs_read_energy};
static const struct jdev_ops rs_ops_no_counter = {RS_OPS_COMMON};

/* ---- discovery -------------------------------------------------------------- */

struct probe {
    int counter;          /* energy_count_get works */
    uint64_t c0, c1;
    int64_t t0, t1;
    float res;
};

static int make_device(uint32_t dv, const struct probe *pr, struct jdev_list *out)
{
    struct rsmi_dev *p = calloc(1, sizeof *p);
    if (!p)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    p->dv = dv;
    p->resolution_uj = pr->res > 0 ? pr->res : 15.3f;

    char name[96] = "", why[200] = "";
    if (!api.name_get || api.name_get(dv, name, sizeof name) != RSMI_STATUS_SUCCESS)
        snprintf(name, sizeof name, "AMD GPU %u", dv);

    /* The counter check: the counter's rate against the average power. */
    int counter = pr->counter;
    uint64_t uw = 0;
    int have_avg = api.power_ave_get && api.power_ave_get(dv, 0, &uw) == RSMI_STATUS_SUCCESS;
    int type = 0;
    uint64_t cur_uw = 0;
    int have_cur = api.power_get && api.power_get(dv, &cur_uw, &type) == RSMI_STATUS_SUCCESS;
    if (!have_avg && have_cur)
        uw = cur_uw; /* the check works with whichever power there is */
    if (counter && (have_avg || have_cur) && uw > 0) {
        double avg_w = uw / 1e6;
        double dt_s = (double)(pr->t1 - pr->t0) / 1e9;
        double rate_w = pr->c1 >= pr->c0 && dt_s > 0
                            ? (double)(pr->c1 - pr->c0) * p->resolution_uj / 1e6 / dt_s
                            : 0.0;
        if (rate_w <= 0 && avg_w >= 1.0) {
            counter = 0;
            snprintf(why, sizeof why,
                     "energy counter did not advance in %.0f ms while average power "
                     "was %.1f W: integrating power instead", dt_s * 1e3, avg_w);
        } else if (rate_w > 0 &&
                   (rate_w > avg_w * RSMI_CHECK_RATIO || rate_w * RSMI_CHECK_RATIO < avg_w)) {
            counter = 0;
            snprintf(why, sizeof why,
                     "energy counter rate %.4g W disagrees with average power %.4g W "
                     "by more than %.0fx (some AMD GPUs report broken counters): "
                     "integrating power instead", rate_w, avg_w, RSMI_CHECK_RATIO);
        }
    }

    struct joule_device *d = jdev_new(JOULE_KIND_GPU, "rocm_smi",
                                      counter ? &rs_ops : &rs_ops_no_counter);
    if (!d) {
        free(p);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    vendor_lib_retain(&lib);
    d->priv = p;
    d->backend_index = (int)dv;
    snprintf(d->name, sizeof d->name, "%s", name);
    uint64_t id = 0;
    if (api.unique_id_get && api.unique_id_get(dv, &id) == RSMI_STATUS_SUCCESS && id)
        snprintf(d->uuid, sizeof d->uuid, "0x%016llx", (unsigned long long)id);
    uint64_t bdf = 0;
    if (api.pci_id_get && api.pci_id_get(dv, &bdf) == RSMI_STATUS_SUCCESS)
        snprintf(d->pci_bus_id, sizeof d->pci_bus_id, "%04x:%02x:%02x.%x",
                 (unsigned)(bdf >> 32) & 0xffff, (unsigned)(bdf >> 8) & 0xff,
                 (unsigned)(bdf >> 3) & 0x1f, (unsigned)bdf & 0x7);
    if (counter)
        d->caps |= JOULE_CAP_ENERGY_COUNTER;
    if (have_avg || have_cur || (api.power_ave_get && !counter))
        d->caps |= JOULE_CAP_POWER_AVERAGE | JOULE_CAP_POWER_INSTANT;
    int64_t t;
    if (api.temp_metric_get) {
        if (api.temp_metric_get(dv, RSMI_TEMP_TYPE_EDGE, RSMI_TEMP_CURRENT, &t) ==
            RSMI_STATUS_SUCCESS) {
            p->temp_sensor = RSMI_TEMP_TYPE_EDGE;
            d->caps |= JOULE_CAP_TEMPERATURE;
        } else if (api.temp_metric_get(dv, RSMI_TEMP_TYPE_JUNCTION, RSMI_TEMP_CURRENT, &t) ==
                   RSMI_STATUS_SUCCESS) {
            p->temp_sensor = RSMI_TEMP_TYPE_JUNCTION;
            d->caps |= JOULE_CAP_TEMPERATURE;
        }
    }
    uint64_t mx = 0, mn = 0, cap = 0;
    if (api.power_cap_get && api.power_cap_range_get &&
        api.power_cap_range_get(dv, 0, &mx, &mn) == RSMI_STATUS_SUCCESS &&
        api.power_cap_get(dv, 0, &cap) == RSMI_STATUS_SUCCESS) {
        d->caps |= JOULE_CAP_POWER_LIMIT;
        if (api.power_cap_set)
            d->caps |= JOULE_CAP_SET_POWER_LIMIT;
    }
    d->counter_range_uj = 0;
    d->resolution_uj = counter ? p->resolution_uj : 1000.0;
    d->update_period_us = 1000.0; /* gpu_metrics refresh, ~1 ms */
    d->max_power_mw = mx ? (uint32_t)(mx / 1000) : 1000000;
    if (why[0])
        jdev_note_add(d, "%s", why);
    else if (!pr->counter)
        jdev_note_add(d, "no energy counter: energy integrated from average power");
    return jdev_list_push(out, d);
}

static int rs_discover(const struct jdev_discover_args *args, struct jdev_list *out,
                       char *reason, size_t reason_len)
{
    (void)args;
    int rc = vendor_lib_acquire(&lib, reason, reason_len);
    if (rc)
        return rc;
    uint32_t n = 0;
    rsmi_status_t r = api.num_devices(&n);
    if (r != RSMI_STATUS_SUCCESS) {
        snprintf(reason, reason_len, "rsmi_num_monitor_devices failed: %s", rs_str(r));
        vendor_lib_release(&lib);
        return JOULE_ELIB;
    }
    if (n == 0) {
        snprintf(reason, reason_len, "ROCm SMI found no AMD GPUs");
        vendor_lib_release(&lib);
        return JOULE_ENODEV;
    }
    if (n > RSMI_MAX_GPUS)
        n = RSMI_MAX_GPUS;

    char ids[RSMI_MAX_GPUS][32];
    const char *id_ptrs[RSMI_MAX_GPUS];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = 0;
        ids[i][0] = '\0';
        if (api.unique_id_get && api.unique_id_get(i, &id) == RSMI_STATUS_SUCCESS && id)
            snprintf(ids[i], sizeof ids[i], "0x%016llx", (unsigned long long)id);
        id_ptrs[i] = ids[i];
    }
    const char *vis = getenv("HIP_VISIBLE_DEVICES");
    const char *vis_name = "HIP_VISIBLE_DEVICES";
    if (!vis) {
        vis = getenv("ROCR_VISIBLE_DEVICES");
        vis_name = "ROCR_VISIBLE_DEVICES";
    }
    int map[RSMI_MAX_GPUS], visible = 0;
    rc = jdev_cuda_visible_map(vis, id_ptrs, (int)n, map, &visible);
    if (rc) {
        snprintf(reason, reason_len, "%s (from %s)", joule_last_error(), vis_name);
        joule_set_error(rc, "%s", reason);
        vendor_lib_release(&lib);
        return rc;
    }
    if (visible == 0) {
        snprintf(reason, reason_len, "%s hides every AMD GPU", vis_name);
        vendor_lib_release(&lib);
        return JOULE_ENODEV;
    }

    /* Counter check for all GPUs at once: one short wait in total. */
    struct probe pr[RSMI_MAX_GPUS];
    memset(pr, 0, sizeof pr);
    int any = 0;
    for (int k = 0; k < visible; k++) {
        uint64_t ts;
        uint32_t dv = (uint32_t)map[k];
        pr[k].counter = api.energy_count_get &&
                        api.energy_count_get(dv, &pr[k].c0, &pr[k].res, &ts) ==
                            RSMI_STATUS_SUCCESS;
        pr[k].t0 = mono_ns();
        any |= pr[k].counter;
    }
    if (any) {
        int64_t start = mono_ns();
        for (;;) {
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
            int64_t now = mono_ns();
            if (now - start < RSMI_CHECK_MIN_NS)
                continue;
            int all_moved = 1;
            for (int k = 0; k < visible; k++) {
                if (!pr[k].counter)
                    continue;
                uint64_t t;
                float res;
                if (api.energy_count_get((uint32_t)map[k], &pr[k].c1, &res, &t) !=
                    RSMI_STATUS_SUCCESS)
                    pr[k].c1 = pr[k].c0;
                pr[k].t1 = mono_ns();
                all_moved &= pr[k].c1 != pr[k].c0;
            }
            if (all_moved || now - start >= RSMI_CHECK_MAX_NS)
                break;
        }
    }
    for (int k = 0; k < visible; k++) {
        rc = make_device((uint32_t)map[k], &pr[k], out);
        if (rc) {
            snprintf(reason, reason_len, "%s", joule_last_error());
            vendor_lib_release(&lib);
            return rc;
        }
    }
    vendor_lib_release(&lib);
    return 0;
}

const struct jdev_backend jdev_backend_rocm_smi = {"rocm_smi", rs_discover};
