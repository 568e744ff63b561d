/* joule_open and joule_close: the order in which a context comes up
 * (discovery, selection, per-device state, windows, log, sync, control,
 * first read, keeper) and goes down again. */
#include "core/context.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/export.h"
#include "core/counter.h"
#include "core/devspec.h"

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
    rc = backends_run(ctx, &spec, &args, &found);
    if (!rc)
        rc = devices_select(ctx, &spec, &found, opts->allow_empty);
    jdev_list_free_all(&found);
    if (!rc)
        rc = counters_create(ctx);
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
    jctx_detach_all(ctx);
    joule_sampler_destroy(ctx->sampler);
    keeper_stop(ctx);
    control_destroy(ctx);
    window_log_close(ctx);
    if (ctx->windows)
        windows_destroy(ctx->windows);
    cuda_sync_destroy(ctx->cuda);
    edges_destroy(ctx);
    counters_destroy(ctx);
    for (int i = 0; i < ctx->ndev; i++)
        jdev_free(ctx->devs[i]);
    free(ctx->devs);
    pthread_mutex_destroy(&ctx->log_lock);
    pthread_rwlock_destroy(&ctx->sampler_lock);
    free(ctx);
}
