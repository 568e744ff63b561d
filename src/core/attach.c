/* Objects higher layers park on a context (core/context.h). */
#include "core/context.h"

#include "base/error.h"

int jctx_attach(struct joule_ctx *ctx, const void *key, void *obj, void (*free_fn)(void *))
{
    if (!ctx || !key)
        return joule_set_error(JOULE_EINVAL, "jctx_attach: no context or key");
    if (jctx_attached(ctx, key))
        return joule_set_error(JOULE_EEXIST, "jctx_attach: already attached");
    for (int i = 0; i < JCTX_MAX_ATTACHED; i++)
        if (!ctx->attached[i].key) {
            ctx->attached[i] = (struct jctx_attachment){key, obj, free_fn};
            return 0;
        }
    return joule_set_error(JOULE_ENOMEM, "jctx_attach: all %d slots are taken",
                           JCTX_MAX_ATTACHED);
}

void *jctx_attached(struct joule_ctx *ctx, const void *key)
{
    for (int i = 0; ctx && key && i < JCTX_MAX_ATTACHED; i++)
        if (ctx->attached[i].key == key)
            return ctx->attached[i].obj;
    return NULL;
}

void *jctx_detach(struct joule_ctx *ctx, const void *key)
{
    for (int i = 0; ctx && key && i < JCTX_MAX_ATTACHED; i++)
        if (ctx->attached[i].key == key) {
            void *obj = ctx->attached[i].obj;
            ctx->attached[i] = (struct jctx_attachment){0};
            return obj;
        }
    return NULL;
}

void jctx_detach_all(struct joule_ctx *ctx)
{
    for (int i = JCTX_MAX_ATTACHED; i-- > 0;) {
        struct jctx_attachment a = ctx->attached[i];
        ctx->attached[i] = (struct jctx_attachment){0};
        if (a.key && a.free_fn)
            a.free_fn(a.obj);
    }
}
