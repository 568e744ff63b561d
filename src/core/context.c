/* joule_open: run the backends, keep what the spec selects, start the
 * keeper; and the device accessors. */
#include "core/context.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/devspec.h"
#include "base/error.h"
#include "base/export.h"
#include "client/remote.h" /* jouled fallback for RAPL */

static const char *const kind_names[JOULE_KIND_COUNT] = {
    "gpu", "cpu-package", "dram", "psys", "cpu-core", "cpu-uncore",
};
static const char *const label_prefix[JOULE_KIND_COUNT] = {
    "gpu", "cpu", "dram", "psys", "core", "uncore",
};

JOULE_EXPORT const char *joule_kind_name(enum joule_device_kind kind)
{
    return (unsigned)kind < JOULE_KIND_COUNT ? kind_names[kind] : "unknown";
}

/* Runs one backend and records whether it found anything and why not. */
static int run_backend(struct joule_ctx *ctx, const struct jdev_backend *b,
                       const struct jdev_discover_args *args,
                       struct jdev_list *found, int required)
{
    struct joule_backend_status *st = &ctx->backends[ctx->nbackends++];
    st->name = b->name;
    int before = found->count;
    joule_clear_error();
    int rc = b->discover(args, found, st->reason, sizeof st->reason);
    st->code = rc;
    st->available = rc == 0 && found->count > before;
    if (rc && !st->reason[0])
        snprintf(st->reason, sizeof st->reason, "%s", joule_last_error());
    if (rc == 0 && found->count == before && !st->reason[0])
        snprintf(st->reason, sizeof st->reason, "no devices found");
    /* A malformed request (bad sim spec, bad CUDA_VISIBLE_DEVICES) is the
     * caller's error, not an absent backend. */
    if (rc == JOULE_EINVAL || (rc && required))
        return joule_set_error(rc, "%s", st->reason);
    return 0;
}

static int gpu_wanted(const struct devspec *s)
{
    return s->all || s->kinds[JOULE_KIND_GPU].wanted;
}

static int cpu_wanted(const struct devspec *s)
{
    for (int k = JOULE_KIND_CPU_PACKAGE; k < JOULE_KIND_COUNT; k++)
        if (s->kinds[k].wanted)
            return 1;
    return s->all;
}

/* Every explicitly named index must exist. */
static int check_named(const struct devspec *s, const struct jdev_list *found,
                       const struct joule_ctx *ctx)
{
    for (int k = 0; k < JOULE_KIND_COUNT; k++) {
        const struct devspec_kind *dk = &s->kinds[k];
        if (!dk->wanted)
            continue;
        int have = 0;
        for (int i = 0; i < found->count; i++)
            have += found->items[i]->kind == (enum joule_device_kind)k;
        for (int j = 0; j < dk->n || (dk->all && j == 0); j++) {
            int ok = 0;
            for (int i = 0; i < found->count; i++)
                ok |= found->items[i]->kind == (enum joule_device_kind)k &&
                      (dk->all || found->items[i]->index == dk->idx[j]);
            if (ok)
                continue;
            char why[1200] = "";
            int code = JOULE_ENODEV; /* EPERM when a backend was refused access */
            for (int b = 0; b < ctx->nbackends; b++)
                if (!ctx->backends[b].available) {
                    if (ctx->backends[b].code == JOULE_EPERM)
                        code = JOULE_EPERM;
                    size_t len = strlen(why);
                    snprintf(why + len, sizeof why - len, "%s%s: %s",
                             len ? "; " : "", ctx->backends[b].name,
                             ctx->backends[b].reason);
                }
            if (dk->all)
                return joule_set_error(code, "no %s devices found (%s)", kind_names[k], why);
            return joule_set_error(code,
                "%s%d not found: %d %s device%s present%s%s%s",
                label_prefix[k], dk->idx[j], have, kind_names[k],
                have == 1 ? "" : "s", why[0] ? " (" : "", why, why[0] ? ")" : "");
        }
    }
    return 0;
}

static int select_devices(struct joule_ctx *ctx, const struct devspec *spec,
                          struct jdev_list *found, int allow_empty)
{
    int gpus = 0;
    for (int i = 0; i < found->count; i++) {
        struct joule_device *d = found->items[i];
        if (d->kind == JOULE_KIND_GPU)
            d->index = gpus++;
    }
    int rc = check_named(spec, found, ctx);
    if (rc)
        return rc;
    ctx->devs = calloc(found->count ? found->count : 1, sizeof *ctx->devs);
    if (!ctx->devs)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    for (int i = 0; i < found->count; i++) {
        struct joule_device *d = found->items[i];
        int simulated = strcmp(d->backend, "sim") == 0;
        if (simulated || devspec_selects(spec, d->kind, d->index)) {
            snprintf(d->label, sizeof d->label, "%s%d", label_prefix[d->kind], d->index);
            ctx->devs[ctx->ndev++] = d;
            found->items[i] = NULL;
        }
    }
    /* Kind, then index: gpu0.., cpu0.., dram0.. whatever order the
     * backends listed them in (die zones, CUDA_VISIBLE_DEVICES). */
    for (int i = 1; i < ctx->ndev; i++)
        for (int j = i; j > 0; j--) {
            struct joule_device *a = ctx->devs[j - 1], *b = ctx->devs[j];
            if (a->kind < b->kind || (a->kind == b->kind && a->index <= b->index))
                break;
            ctx->devs[j - 1] = b;
            ctx->devs[j] = a;
        }
    if (ctx->ndev == 0 && !allow_empty) {
        char why[1200] = "";
        for (int b = 0; b < ctx->nbackends; b++) {
            size_t len = strlen(why);
            snprintf(why + len, sizeof why - len, "%s%s: %s", len ? "; " : "",
                     ctx->backends[b].name, ctx->backends[b].reason);
        }
        return joule_set_error(JOULE_ENODEV,
            "no devices to measure (%s). Try --devices sim:2:h100 for "
            "simulated GPUs", why);
    }
    return 0;
}

JOULE_EXPORT int joule_open(const joule_options *opts, joule_ctx **out)
{
    if (!out)
        return joule_set_error(JOULE_EINVAL, "joule_open: out is NULL");
    *out = NULL;
    static const joule_options defaults;
    if (!opts)
        opts = &defaults;

    const char *spec_text = opts->devices;
    if (!spec_text || !*spec_text)
        spec_text = getenv("JOULE_DEVICES");
    struct devspec spec;
    int rc = devspec_parse(spec_text, &spec);
    if (rc)
        return rc;

    struct joule_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    pthread_mutex_init(&ctx->log_lock, NULL);
    pthread_rwlock_init(&ctx->sampler_lock, NULL);
    ctx->open_ns = joule_now_ns();

    struct jdev_discover_args args = {0};
    args.sysfs_root = opts->sysfs_root;
    if (!args.sysfs_root || !*args.sysfs_root)
        args.sysfs_root = getenv("JOULE_SYSFS_ROOT");
    if (!args.sysfs_root || !*args.sysfs_root)
        args.sysfs_root = "/sys";
    args.sim_spec = spec.sim[0] ? spec.sim : NULL;

    struct jdev_list found = {0};
    int explicit_gpu = spec.kinds[JOULE_KIND_GPU].wanted;
    if (gpu_wanted(&spec)) {
        rc = run_backend(ctx, &jdev_backend_nvml, &args, &found, 0);
        if (!rc)
            rc = run_backend(ctx, &jdev_backend_rocm_smi, &args, &found, 0);
    }
    if (!rc && cpu_wanted(&spec)) {
        rc = run_backend(ctx, &jdev_backend_rapl, &args, &found, 0);
        /* jouled fallback (devices/remote.c): RAPL was refused (energy_uj
         * is root-only since Linux 5.10), so read it through the daemon
         * when one is configured or its default socket exists. */
        if (!rc && ctx->backends[ctx->nbackends - 1].code == JOULE_EPERM)
            rc = run_backend(ctx, &jdev_backend_remote, &args, &found, 0);
    }
    if (!rc && (args.sim_spec || explicit_gpu || spec.all))
        rc = run_backend(ctx, &jdev_backend_sim, &args, &found, args.sim_spec != NULL);
    if (!rc)
        rc = select_devices(ctx, &spec, &found, opts->allow_empty);
    jdev_list_free_all(&found);
    if (!rc)
        rc = edges_create(ctx, opts->edge_correction);
    if (!rc)
        rc = windows_create(&ctx->windows);
    if (!rc && opts->log_path) {
        rc = window_log_open(ctx, opts->log_path, opts->log_format);
    } else if (!rc && getenv("JOULE_WINDOW_LOG") && *getenv("JOULE_WINDOW_LOG")) {
        /* Set by `joule run --trace` for the program it runs: JSONL, so
         * several contexts and processes can append to one file, and
         * best effort, so a bad path never breaks the user's program. */
        if (window_log_open(ctx, getenv("JOULE_WINDOW_LOG"), JOULE_LOG_JSONL))
            joule_clear_error();
    }
    if (!rc) {
        ctx->sync_fn = opts->sync_fn;
        ctx->sync_user = opts->sync_user;
        if (opts->cuda_sync)
            rc = cuda_sync_create(ctx, &ctx->cuda);
    }
    if (!rc)
        rc = control_init(ctx, opts->restore_on_exit);
    if (!rc) {
        /* First read: every device's counter starts at zero here. */
        for (int i = 0; i < ctx->ndev; i++) {
            uint64_t uj;
            int64_t t;
            jctx_read_energy_uj(ctx, i, &uj, &t);
        }
        rc = keeper_start(ctx, opts->keeper_interval_ms);
    }
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", joule_last_error());
        joule_close(ctx);
        return joule_set_error(rc, "%s", msg);
    }
    *out = ctx;
    return 0;
}

JOULE_EXPORT void joule_close(joule_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->plan_state && ctx->plan_state_free)
        ctx->plan_state_free(ctx->plan_state);
    joule_sampler_destroy(ctx->sampler);
    keeper_stop(ctx);
    control_destroy(ctx);
    window_log_close(ctx);
    if (ctx->windows)
        windows_destroy(ctx->windows);
    cuda_sync_destroy(ctx->cuda);
    edges_destroy(ctx);
    for (int i = 0; i < ctx->ndev; i++)
        jdev_free(ctx->devs[i]);
    free(ctx->devs);
    pthread_mutex_destroy(&ctx->log_lock);
    pthread_rwlock_destroy(&ctx->sampler_lock);
    free(ctx);
}

struct joule_device *jctx_gpu(struct joule_ctx *ctx, int gpu)
{
    if (!ctx) {
        joule_set_error(JOULE_EINVAL, "context is NULL");
        return NULL;
    }
    int gpus = 0;
    for (int i = 0; i < ctx->ndev; i++) {
        struct joule_device *d = ctx->devs[i];
        if (d->kind != JOULE_KIND_GPU)
            continue;
        gpus++;
        if (d->index == gpu)
            return d;
    }
    joule_set_error(JOULE_ENODEV, "gpu%d is not monitored by this context (%d GPU%s)",
                    gpu, gpus, gpus == 1 ? "" : "s");
    return NULL;
}

/* ---- accessors ---- */

JOULE_EXPORT int joule_device_count(const joule_ctx *ctx) { return ctx ? ctx->ndev : 0; }

JOULE_EXPORT const joule_device *joule_device_at(const joule_ctx *ctx, int i)
{
    if (!ctx || i < 0 || i >= ctx->ndev) {
        joule_set_error(JOULE_EINVAL, "device %d out of range", i);
        return NULL;
    }
    return ctx->devs[i];
}

JOULE_EXPORT enum joule_device_kind joule_device_kind(const joule_device *d) { return d->kind; }
JOULE_EXPORT int joule_device_index(const joule_device *d) { return d->index; }
JOULE_EXPORT const char *joule_device_name(const joule_device *d) { return d->name; }
JOULE_EXPORT const char *joule_device_label(const joule_device *d) { return d->label; }
JOULE_EXPORT const char *joule_device_backend(const joule_device *d) { return d->backend; }
JOULE_EXPORT const char *joule_device_uuid(const joule_device *d) { return d->uuid; }
JOULE_EXPORT uint32_t joule_device_caps(const joule_device *d) { return d->caps; }
JOULE_EXPORT double joule_device_energy_resolution_uj(const joule_device *d) { return d->resolution_uj; }
JOULE_EXPORT double joule_device_update_period_us(const joule_device *d)
{
    double v;
    __atomic_load(&d->update_period_us, &v, __ATOMIC_RELAXED);
    return v;
}
JOULE_EXPORT const char *joule_device_note(const joule_device *d) { return d->note; }
JOULE_EXPORT const char *joule_device_pci_bus_id(const joule_device *d) { return d->pci_bus_id; }

JOULE_EXPORT const char *joule_device_arch(const joule_device *d)
{
    /* Backends write "unknown" when the vendor library has no name for it. */
    return strcmp(d->arch, "unknown") ? d->arch : "";
}

JOULE_EXPORT int joule_device_power_scope(const joule_device *d)
{
    return d->power_scope == JOULE_POWER_SCOPE_GPU || d->power_scope == JOULE_POWER_SCOPE_MODULE
               ? d->power_scope
               : JOULE_POWER_SCOPE_NONE;
}

JOULE_EXPORT int joule_backend_count(const joule_ctx *ctx) { return ctx ? ctx->nbackends : 0; }

JOULE_EXPORT const char *joule_backend_at(const joule_ctx *ctx, int i, int *available,
                                          const char **reason)
{
    if (!ctx || i < 0 || i >= ctx->nbackends)
        return NULL;
    if (available)
        *available = ctx->backends[i].available;
    if (reason)
        *reason = ctx->backends[i].reason;
    return ctx->backends[i].name;
}

static const char *const cap_names[] = {
    "energy_counter", "power_instant", "power_average", "power_memory",
    "temperature", "clocks", "throttle", "power_limit", "set_power_limit",
    "lock_clocks", "persistence", "simulated",
};

JOULE_EXPORT const char *joule_cap_name(uint32_t bit)
{
    for (unsigned i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
        if (bit == (1u << i))
            return cap_names[i];
    return NULL;
}
