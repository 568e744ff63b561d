/* Placeholder until GPU control lands. */
#include "core/context.h"
#include "core/error.h"
#include "core/export.h"

void control_destroy(struct joule_ctx *ctx) { (void)ctx; }

int control_init(struct joule_ctx *ctx, int restore_on_exit)
{
    (void)ctx; (void)restore_on_exit;
    return 0;
}
