/* `joule gpu limit`: show, set or reset power limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <joule/joule.h>

#include "common.h"
#include "gpu.h"

int do_limit(joule_ctx *ctx, const struct args *a, const int *gpus, int n, cJSON *arr)
{
    int status = 0, perm_hint = 0, skipped = 0;
    for (int k = 0; k < n; k++) {
        const joule_device *d = gpu_device(ctx, gpus[k]);
        char who[160];
        gpu_label(d, gpus[k], who, sizeof who);
        if (!is_change(a)) {
            cJSON *o = json_entry(arr, d, gpus[k]);
            double cur, mn, mx, def, enf;
            int rc = joule_gpu_get_power_limit_w(ctx, gpus[k], &cur, &mn, &mx, &def, &enf);
            if (rc) {
                if (o)
                    cJSON_AddNullToObject(o, "power_limit_w");
                status |= show_failure("limit", rc, o, &perm_hint);
                continue;
            }
            if (o) {
                cJSON_AddNumberToObject(o, "power_limit_w", cur);
                cJSON_AddNumberToObject(o, "min_w", mn);
                cJSON_AddNumberToObject(o, "max_w", mx);
                cJSON_AddNumberToObject(o, "default_w", def);
                cJSON_AddNumberToObject(o, "enforced_w", enf);
            } else {
                printf("%s: power limit %.1f W (enforced %.1f W, default %.1f W, range "
                       "%.1f-%.1f W)\n", who, cur, enf, def, mn, mx);
            }
            continue;
        }
        if (skip_incapable(a, d, gpus[k])) {
            skipped++;
            continue;
        }
        double cur, def;
        int rc = joule_gpu_get_power_limit_w(ctx, gpus[k], &cur, NULL, NULL, &def, NULL);
        if (rc) {
            status = report_failure("limit", rc, &perm_hint);
            continue;
        }
        rc = a->reset ? joule_gpu_reset_power_limit(ctx, gpus[k])
                      : joule_gpu_set_power_limit_w(ctx, gpus[k], a->watts);
        if (rc) {
            status = report_failure("limit", rc, &perm_hint);
            continue;
        }
        double now = a->reset ? def : a->watts;
        joule_gpu_get_power_limit_w(ctx, gpus[k], &now, NULL, NULL, NULL, NULL);
        printf("%s: power limit %.1f W (was %.1f W%s)%s\n", who, now, cur,
               a->reset ? "; reset to default" : "", sim_suffix(d));
    }
    /* Nothing to reset is fine; a limit that no GPU could take is not. */
    if (a->have_watts && n > 0 && skipped == n) {
        fprintf(stderr, "joule gpu limit: no GPU can set a power limit\n");
        status = 1;
    }
    return status;
}
