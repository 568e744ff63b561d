/* TEMPORARY weak fallbacks so the CLI links while control.c is written;
 * removed once control.c defines them. */
#include "core/context.h"
#include "core/error.h"
#include "core/export.h"

#define WEAK __attribute__((weak))
JOULE_EXPORT WEAK int joule_gpu_get_power_limit_w(joule_ctx *c, int g, double *a, double *b, double *d, double *e, double *f) { return joule_set_error(JOULE_ENOTSUP, "not built"); }
JOULE_EXPORT WEAK int joule_gpu_clocks_mhz(joule_ctx *c, int g, int *a, int *b) { return joule_set_error(JOULE_ENOTSUP, "not built"); }
JOULE_EXPORT WEAK int joule_gpu_temperature_c(joule_ctx *c, int g, int *a) { return joule_set_error(JOULE_ENOTSUP, "not built"); }
JOULE_EXPORT WEAK int joule_gpu_throttle_reasons(joule_ctx *c, int g, uint64_t *m) { return joule_set_error(JOULE_ENOTSUP, "not built"); }
JOULE_EXPORT WEAK int joule_throttle_names(uint64_t m, char *b, size_t l) { return joule_set_error(JOULE_ENOTSUP, "not built"); }
JOULE_EXPORT WEAK int joule_gpu_set_power_limit_w(joule_ctx *c, int g, double w) { return joule_set_error(JOULE_ENOTSUP, "not built"); }
JOULE_EXPORT WEAK int joule_restore(joule_ctx *c) { return 0; }
