/* The "remote" backend (jdev_backend_remote, devices/device.h): CPU
 * package / DRAM (and other RAPL zones) read through jouled when RAPL's
 * energy_uj is root-only (Linux >= 5.10). The backend table
 * (devices/registry.c) runs it only after the rapl backend was refused
 * (EPERM).
 * Each read is one GET /v1/energy?devices=LABEL; jouled returns its own
 * wrap-corrected, monotonic microjoule count, so there is no wrap here. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "client/daemon_client.h"
#include "devices/device.h"
#include "devices/names.h"
#include "devices/note.h"

struct remote_priv {
    char label[32]; /* the daemon's label: "cpu0", "dram0" */
};

static int remote_read_energy(struct joule_device *d, uint64_t *uj)
{
    struct remote_priv *p = d->priv;
    char path[96];
    snprintf(path, sizeof path, "/v1/energy?devices=%s", p->label);
    char *body = NULL;
    int st = daemon_client_request("GET", path, NULL, &body);
    if (st < 0)
        return st;
    int rc = daemon_client_error(st, body, "reading energy");
    if (rc) {
        free(body);
        return rc;
    }
    cJSON *o = cJSON_Parse(body);
    free(body);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "devices"), 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "energy_uj");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(e, "error");
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
        rc = joule_set_error(JOULE_EIO, "jouled: %s: %s", p->label,
                             cJSON_IsString(err) ? err->valuestring : "no energy in the answer");
    } else {
        *uj = (uint64_t)v->valuedouble;
    }
    cJSON_Delete(o);
    return rc;
}

static void remote_close(struct joule_device *d) { free(d->priv); }

static const struct jdev_ops remote_ops = {
    .close = remote_close,
    .read_energy_uj = remote_read_energy,
};

static int kind_of(const char *k)
{
    for (int i = JOULE_KIND_CPU_PACKAGE; i < JOULE_KIND_COUNT; i++)
        if (!strcmp(k, joule_kind_name((enum joule_device_kind)i)))
            return i;
    return -1; /* GPUs stay with their own backends */
}

static int remote_discover(const struct jdev_discover_args *args, struct jdev_list *out,
                           char *reason, size_t reason_len)
{
    (void)args;
    char where[300];
    if (!daemon_client_configured(where, sizeof where)) {
        snprintf(reason, reason_len, "no jouled (set JOULE_DAEMON=unix:PATH or start jouled)");
        return JOULE_ENODEV;
    }
    char *body = NULL;
    int st = daemon_client_request("GET", "/v1/discovery", NULL, &body);
    if (st < 0) {
        snprintf(reason, reason_len, "%s", joule_last_error());
        return JOULE_ENODEV;
    }
    cJSON *o = st == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    if (!o) {
        snprintf(reason, reason_len, "jouled at %s answered discovery with HTTP %d", where, st);
        return JOULE_ENODEV;
    }
    int can_read = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(o, "scopes"))
        can_read |= cJSON_IsString(s) && !strcmp(s->valuestring, "read");
    int added = 0, offered = 0, rc = 0;
    const cJSON *dev;
    cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(o, "devices")) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(dev, "kind");
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(dev, "label");
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(dev, "index");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(dev, "name");
        int kind = cJSON_IsString(k) ? kind_of(k->valuestring) : -1;
        if (kind < 0 || !cJSON_IsString(lab) || !cJSON_IsNumber(idx))
            continue;
        offered++;
        if (!can_read)
            continue;
        struct remote_priv *p = calloc(1, sizeof *p);
        struct joule_device *d = p ? jdev_new((enum joule_device_kind)kind, "remote", &remote_ops)
                                   : NULL;
        if (!d) {
            free(p);
            rc = joule_set_error(JOULE_ENOMEM, "out of memory");
            break;
        }
        snprintf(p->label, sizeof p->label, "%s", lab->valuestring);
        d->priv = p;
        d->index = idx->valueint;
        d->socket = idx->valueint;
        snprintf(d->name, sizeof d->name, "%s",
                 cJSON_IsString(name) ? name->valuestring : lab->valuestring);
        jdev_note_add(d, "read through jouled at %s (RAPL energy_uj is root-only)", where);
        d->caps = JOULE_CAP_ENERGY_COUNTER;
        d->counter_range_uj = 0;
        d->resolution_uj = 1.0;
        d->update_period_us = 1000.0;
        d->max_power_mw = 1000000;
        rc = jdev_list_push(out, d);
        if (rc) {
            jdev_free(d);
            break;
        }
        added++;
    }
    cJSON_Delete(o);
    if (rc)
        return rc;
    if (!added) {
        if (offered)
            snprintf(reason, reason_len,
                     "jouled at %s does not grant uid %u the 'read' scope (scope.read in its "
                     "config)", where, (unsigned)getuid());
        else
            snprintf(reason, reason_len, "jouled at %s serves no CPU/DRAM devices", where);
        return offered ? JOULE_EPERM : JOULE_ENODEV;
    }
    return 0;
}

const struct jdev_backend jdev_backend_remote = {"remote", remote_discover};
