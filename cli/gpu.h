/* `joule gpu`'s parts: the parsed command line, helpers shared by the
 * three subcommands, and the subcommands (gpu_limit.c, gpu_clocks.c,
 * gpu_persistence.c; cmd_gpu.c parses and dispatches). */
#ifndef JOULE_CLI_GPU_H
#define JOULE_CLI_GPU_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <joule/joule.h>

enum sub { SUB_LIMIT, SUB_CLOCKS, SUB_PERSISTENCE };

struct args {
    enum sub sub;
    const char *devices;
    const char *gpus;
    int have_watts;
    double watts;
    int have_lock;
    int lock_min, lock_max;
    int reset;
    int memory;
    int list;
    int json;
    int have_persistence;
    int persistence; /* 0/1 */
};

/* Whether the command changes something (else it shows values). */
int is_change(const struct args *a);

/* gpu_common.c */
const joule_device *gpu_device(joule_ctx *ctx, int gpu);
/* "LABEL (NAME)" into buf, "gpuN" for a GPU not in the context. */
const char *gpu_label(const joule_device *d, int gpu, char *buf, size_t len);
int is_sim(const joule_device *d);
/* Appended to a change made on a simulated GPU: its state lives in this
 * process only. */
const char *sim_suffix(const joule_device *d);
/* Prints a failed change (with a hint on privileges once); returns 1. */
int report_failure(const char *what, int rc, int *perm_hint);
/* Show forms: a GPU that cannot report the value is not a failure (it is
 * said so); any other error is. In JSON the entry gets "error" or, for an
 * unsupported value, "unsupported" with the reason. */
int show_failure(const char *what, int rc, cJSON *entry, int *perm_hint);
/* Without --gpus a change skips the GPUs that cannot make it. Returns 1
 * when gpu is skipped (after saying so). */
int skip_incapable(const struct args *a, const joule_device *d, int gpu);
/* The JSON object of one GPU, added to arr; NULL when arr is NULL (text). */
cJSON *json_entry(cJSON *arr, const joule_device *d, int gpu);

/* The subcommands over gpus[n]; arr is the JSON array for --json, else
 * NULL. Return the exit status. */
int do_limit(joule_ctx *ctx, const struct args *a, const int *gpus, int n, cJSON *arr);
int do_clocks(joule_ctx *ctx, const struct args *a, const int *gpus, int n, cJSON *arr);
int do_persistence(joule_ctx *ctx, const struct args *a, const int *gpus, int n, cJSON *arr);

#endif
