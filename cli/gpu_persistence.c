/* `joule gpu persistence`: show or set persistence mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <joule/joule.h>

#include "common.h"
#include "gpu.h"

int do_persistence(joule_ctx *ctx, const struct args *a, const int *gpus, int n,
                          cJSON *arr)
{
    int status = 0, perm_hint = 0, skipped = 0;
    for (int k = 0; k < n; k++) {
        const joule_device *d = gpu_device(ctx, gpus[k]);
        char who[160];
        gpu_label(d, gpus[k], who, sizeof who);
        if (!is_change(a)) {
            cJSON *o = json_entry(arr, d, gpus[k]);
            int on = 0;
            int rc = joule_gpu_get_persistence(ctx, gpus[k], &on);
            if (rc) {
                if (o)
                    cJSON_AddNullToObject(o, "persistence");
                status |= show_failure("persistence", rc, o, &perm_hint);
                continue;
            }
            if (o)
                cJSON_AddBoolToObject(o, "persistence", on);
            else
                printf("%s: persistence mode %s\n", who, on ? "on" : "off");
            continue;
        }
        if (skip_incapable(a, d, gpus[k])) {
            skipped++;
            continue;
        }
        int rc = joule_gpu_set_persistence(ctx, gpus[k], a->persistence);
        if (rc) {
            status = report_failure("persistence", rc, &perm_hint);
            continue;
        }
        printf("%s: persistence mode %s%s\n", who, a->persistence ? "on" : "off", sim_suffix(d));
    }
    if (a->persistence && n > 0 && skipped == n) {
        fprintf(stderr, "joule gpu persistence: no GPU has a persistence mode\n");
        status = 1;
    }
    return status;
}
