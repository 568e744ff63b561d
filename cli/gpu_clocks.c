/* `joule gpu clocks`: show, list, lock or reset SM (and memory) clocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <joule/joule.h>

#include "common.h"
#include "gpu.h"

#define MAX_CLOCKS 512
#define LIST_WIDTH 78

/* "    1980, 1965, ..." lines of at most LIST_WIDTH columns. */
static void print_clock_list(const int *clk, int nc)
{
    char line[LIST_WIDTH + 16];
    size_t len = 0;
    for (int i = 0; i < nc; i++) {
        char item[16];
        int il = snprintf(item, sizeof item, "%d%s", clk[i], i + 1 < nc ? "," : "");
        if (len > 4 && len + 1 + (size_t)il > LIST_WIDTH) {
            printf("%s\n", line);
            len = 0;
        }
        if (len == 0)
            len = (size_t)snprintf(line, sizeof line, "    %s", item);
        else
            len += (size_t)snprintf(line + len, sizeof line - len, " %s", item);
    }
    if (len)
        printf("%s\n", line);
}

static int show_clocks(joule_ctx *ctx, const struct args *a, const joule_device *d, int gpu,
                       const char *who, cJSON *arr, int *perm_hint)
{
    cJSON *o = json_entry(arr, d, gpu);
    int sm = 0, mem = 0;
    int rc = joule_gpu_clocks_mhz(ctx, gpu, &sm, &mem);
    if (rc) {
        if (o) {
            cJSON_AddNullToObject(o, "sm_clock_mhz");
            cJSON_AddNullToObject(o, "memory_clock_mhz");
        }
        return show_failure("clocks", rc, o, perm_hint);
    }
    int clk[MAX_CLOCKS];
    int nc = joule_gpu_supported_clocks_mhz(ctx, gpu, clk, MAX_CLOCKS);
    if (nc > MAX_CLOCKS)
        nc = MAX_CLOCKS;
    if (o) {
        cJSON_AddNumberToObject(o, "sm_clock_mhz", sm);
        cJSON_AddNumberToObject(o, "memory_clock_mhz", mem);
        if (nc > 0) {
            cJSON_AddNumberToObject(o, "supported_sm_clock_min_mhz", clk[nc - 1]);
            cJSON_AddNumberToObject(o, "supported_sm_clock_max_mhz", clk[0]);
            cJSON_AddItemToObject(o, "supported_sm_clocks_mhz", cJSON_CreateIntArray(clk, nc));
        } else {
            cJSON_AddNullToObject(o, "supported_sm_clocks_mhz");
        }
        return 0;
    }
    if (nc > 0) {
        printf("%s: SM %d MHz, memory %d MHz; supported SM clocks %d-%d MHz (%d steps)\n", who,
               sm, mem, clk[nc - 1], clk[0], nc);
        if (a->list) {
            printf("  supported SM clocks (MHz):\n");
            print_clock_list(clk, nc);
        }
    } else {
        printf("%s: SM %d MHz, memory %d MHz\n", who, sm, mem);
        if (a->list)
            printf("  supported SM clocks: not reported (%s)\n", joule_last_error());
    }
    return 0;
}

int do_clocks(joule_ctx *ctx, const struct args *a, const int *gpus, int n, cJSON *arr)
{
    int status = 0, perm_hint = 0, skipped = 0;
    const char *what = a->memory ? "memory" : "SM";
    for (int k = 0; k < n; k++) {
        const joule_device *d = gpu_device(ctx, gpus[k]);
        char who[160];
        gpu_label(d, gpus[k], who, sizeof who);
        if (!is_change(a)) {
            status |= show_clocks(ctx, a, d, gpus[k], who, arr, &perm_hint);
            continue;
        }
        if (skip_incapable(a, d, gpus[k])) {
            skipped++;
            continue;
        }
        int rc;
        if (a->have_lock) {
            rc = a->memory ? joule_gpu_lock_memory_clocks_mhz(ctx, gpus[k], a->lock_min, a->lock_max)
                           : joule_gpu_lock_clocks_mhz(ctx, gpus[k], a->lock_min, a->lock_max);
            if (rc) {
                status = report_failure("clocks", rc, &perm_hint);
                continue;
            }
            printf("%s: %s clocks locked to %d-%d MHz%s\n", who, what, a->lock_min, a->lock_max,
                   sim_suffix(d));
        } else {
            rc = a->memory ? joule_gpu_reset_memory_clocks(ctx, gpus[k])
                           : joule_gpu_reset_clocks(ctx, gpus[k]);
            if (rc) {
                status = report_failure("clocks", rc, &perm_hint);
                continue;
            }
            printf("%s: %s clocks unlocked%s\n", who, what, sim_suffix(d));
        }
    }
    /* Nothing to unlock is fine; a lock that no GPU could take is not. */
    if (a->have_lock && n > 0 && skipped == n) {
        fprintf(stderr, "joule gpu clocks: no GPU can lock clocks\n");
        status = 1;
    }
    return status;
}
