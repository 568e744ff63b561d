/* Helpers shared by `joule gpu limit`, `clocks` and `persistence`. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <joule/joule.h>

#include "common.h"
#include "gpu.h"

/* Whether the command changes something (else it shows values). */
int is_change(const struct args *a)
{
    return a->have_watts || a->have_lock || a->reset || a->have_persistence;
}

const joule_device *gpu_device(joule_ctx *ctx, int gpu)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == gpu)
            return d;
    }
    return NULL;
}

const char *gpu_label(const joule_device *d, int gpu, char *buf, size_t len)
{
    if (d)
        snprintf(buf, len, "%s (%s)", joule_device_label(d), joule_device_name(d));
    else
        snprintf(buf, len, "gpu%d", gpu);
    return buf;
}

int is_sim(const joule_device *d)
{
    return d && (joule_device_caps(d) & JOULE_CAP_SIMULATED);
}

/* Appended to a change made on a simulated GPU: its state lives in this
 * process only. */
const char *sim_suffix(const joule_device *d)
{
    return is_sim(d) ? "; simulated GPU: the setting is lost when this command exits" : "";
}

int report_failure(const char *what, int rc, int *perm_hint)
{
    fprintf(stderr, "joule gpu %s: %s\n", what, joule_last_error());
    if (rc == JOULE_EPERM && !*perm_hint) {
        const struct passwd *pw = getpwuid(geteuid());
        fprintf(stderr,
                "joule gpu: changing GPU settings needs root: run it as root (e.g. with "
                "sudo), or through jouled as an ordinary user: start jouled as root and "
                "give the user the control scope in /etc/joule/jouled.conf "
                "(scope.control = user:%s); joule uses the daemon at $JOULE_DAEMON or "
                "/run/joule/jouled.sock (docs/daemon.md)\n",
                pw && pw->pw_name ? pw->pw_name : "NAME");
        *perm_hint = 1;
    }
    return 1;
}

/* Show forms: a GPU that cannot report the value is not a failure (it is
 * said so); any other error is. In JSON the entry gets "error" or, for an
 * unsupported value, "unsupported" with the reason. */
int show_failure(const char *what, int rc, cJSON *entry, int *perm_hint)
{
    if (entry)
        cJSON_AddStringToObject(entry, rc == JOULE_ENOTSUP ? "unsupported" : "error",
                                joule_last_error());
    if (rc == JOULE_ENOTSUP) {
        if (!entry)
            printf("%s\n", joule_last_error());
        return 0;
    }
    return report_failure(what, rc, perm_hint);
}

/* Without --gpus a change skips the GPUs that cannot make it. Returns 1
 * when gpu is skipped (after saying so). */
int skip_incapable(const struct args *a, const joule_device *d, int gpu)
{
    uint32_t need = a->sub == SUB_LIMIT    ? JOULE_CAP_SET_POWER_LIMIT
                    : a->sub == SUB_CLOCKS ? JOULE_CAP_LOCK_CLOCKS
                                           : JOULE_CAP_PERSISTENCE;
    if ((a->gpus && strcmp(a->gpus, "all")) || !d || (joule_device_caps(d) & need))
        return 0;
    printf("gpu%d: skipped (%s)\n", gpu,
           a->sub == SUB_LIMIT    ? "cannot set a power limit"
           : a->sub == SUB_CLOCKS ? "cannot lock clocks"
                                  : "has no persistence mode");
    return 1;
}

cJSON *json_entry(cJSON *arr, const joule_device *d, int gpu)
{
    if (!arr)
        return NULL;
    if (d)
        return cli_device_json(arr, d);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(arr, o);
    cJSON_AddNumberToObject(o, "index", gpu);
    return o;
}

