#include "core/result.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"

joule_result *result_new(int ndev, const char *name)
{
    size_t len = strlen(name) + 1;
    joule_result *r = malloc(sizeof *r + sizeof r->dev[0] * (size_t)ndev + len);
    if (!r)
        return NULL;
    r->time_s = r->start_unix_s = 0;
    r->ndev = ndev;
    char *copy = (char *)&r->dev[ndev];
    memcpy(copy, name, len);
    r->name = copy;
    return r;
}

JOULE_EXPORT void joule_result_free(joule_result *r)
{
    free(r);
}

JOULE_EXPORT const char *joule_result_name(const joule_result *r) { return r ? r->name : NULL; }
JOULE_EXPORT double joule_result_time_s(const joule_result *r) { return r ? r->time_s : NAN; }
JOULE_EXPORT double joule_result_start_unix_s(const joule_result *r) { return r ? r->start_unix_s : NAN; }
JOULE_EXPORT int joule_result_device_count(const joule_result *r) { return r ? r->ndev : 0; }

JOULE_EXPORT double joule_result_energy_j(const joule_result *r, int i, int *quality, int *status)
{
    if (!r || i < 0 || i >= r->ndev) {
        joule_set_error(JOULE_EINVAL, "result device %d out of range", i);
        if (quality)
            *quality = JOULE_QUALITY_ERROR;
        if (status)
            *status = JOULE_EINVAL;
        return NAN;
    }
    if (quality)
        *quality = r->dev[i].quality;
    if (status)
        *status = r->dev[i].status;
    if (r->dev[i].status)
        joule_set_error(r->dev[i].status, "%s", r->dev[i].error);
    return r->dev[i].energy_j;
}

JOULE_EXPORT int joule_result_read(const joule_result *r, double *energy_j, int *quality,
                                   int *status, int cap)
{
    if (!r)
        return joule_set_error(JOULE_EINVAL, "result is NULL");
    for (int i = 0; i < r->ndev && i < cap; i++) {
        if (energy_j)
            energy_j[i] = r->dev[i].energy_j;
        if (quality)
            quality[i] = r->dev[i].quality;
        if (status)
            status[i] = r->dev[i].status;
    }
    return r->ndev;
}

JOULE_EXPORT double joule_result_total_j(const joule_result *r, enum joule_device_kind k)
{
    double sum = 0;
    for (int i = 0; r && i < r->ndev; i++)
        if (r->dev[i].kind == k && r->dev[i].status == 0)
            sum += r->dev[i].energy_j;
    return sum;
}

JOULE_EXPORT double joule_result_uncertainty_j(const joule_result *r, int i)
{
    if (!r || i < 0 || i >= r->ndev) {
        joule_set_error(JOULE_EINVAL, "result device %d out of range", i);
        return NAN;
    }
    return r->dev[i].uncertainty_j;
}

JOULE_EXPORT int joule_result_read_uncertainty(const joule_result *r, double *uncertainty_j,
                                               int cap)
{
    if (!r)
        return joule_set_error(JOULE_EINVAL, "result is NULL");
    for (int i = 0; i < r->ndev && i < cap && uncertainty_j; i++)
        uncertainty_j[i] = r->dev[i].uncertainty_j;
    return r->ndev;
}

JOULE_EXPORT double joule_result_total_uncertainty_j(const joule_result *r,
                                                     enum joule_device_kind k)
{
    double sum = 0;
    for (int i = 0; r && i < r->ndev; i++)
        if (r->dev[i].kind == k && r->dev[i].status == 0)
            sum += r->dev[i].uncertainty_j;
    return sum;
}

JOULE_EXPORT double joule_result_total_all_j(const joule_result *r)
{
    return joule_result_total_j(r, JOULE_KIND_GPU) +
           joule_result_total_j(r, JOULE_KIND_CPU_PACKAGE) +
           joule_result_total_j(r, JOULE_KIND_DRAM);
}

JOULE_EXPORT const char *joule_quality_name(int quality)
{
    switch (quality) {
    case JOULE_QUALITY_EXACT: return "exact";
    case JOULE_QUALITY_APPROX: return "approx";
    case JOULE_QUALITY_BELOW_RESOLUTION: return "below_resolution";
    case JOULE_QUALITY_ERROR: return "error";
    default: return "unknown";
    }
}

JOULE_EXPORT const char *joule_result_device_label(const joule_result *r, int i)
{
    if (!r || i < 0 || i >= r->ndev) {
        joule_set_error(JOULE_EINVAL, "result device %d out of range", i);
        return NULL;
    }
    return r->dev[i].label;
}

JOULE_EXPORT int joule_result_device_kind(const joule_result *r, int i)
{
    if (!r || i < 0 || i >= r->ndev) {
        joule_set_error(JOULE_EINVAL, "result device %d out of range", i);
        return -1;
    }
    return (int)r->dev[i].kind;
}

JOULE_EXPORT int joule_result_create(const char *name, int ndev, double time_s,
                                     double start_unix_s, joule_result **out)
{
    if (!out || ndev < 0 || ndev > 1 << 20)
        return joule_set_error(JOULE_EINVAL, "joule_result_create: bad device count %d", ndev);
    joule_result *r = result_new(ndev, name ? name : "");
    if (!r)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    r->time_s = time_s;
    r->start_unix_s = start_unix_s;
    for (int i = 0; i < ndev; i++) {
        struct result_device *rd = &r->dev[i];
        memset(rd, 0, sizeof *rd);
        rd->energy_j = rd->uncertainty_j = rd->plain_j = rd->plain_bound_j = NAN;
        rd->quality = JOULE_QUALITY_ERROR;
        rd->status = JOULE_ENOENT;
        snprintf(rd->error, sizeof rd->error, "device %d of a combined result was not set", i);
    }
    *out = r;
    return 0;
}

JOULE_EXPORT int joule_result_set_device(joule_result *r, int i, enum joule_device_kind kind,
                                         const char *label, double energy_j,
                                         double uncertainty_j, int quality, int status,
                                         const char *error)
{
    if (!r || i < 0 || i >= r->ndev)
        return joule_set_error(JOULE_EINVAL, "result device %d out of range", i);
    if ((int)kind < 0 || kind >= JOULE_KIND_COUNT || quality < JOULE_QUALITY_EXACT ||
        quality > JOULE_QUALITY_ERROR)
        return joule_set_error(JOULE_EINVAL, "result device %d: bad kind %d or quality %d", i,
                               (int)kind, quality);
    struct result_device *rd = &r->dev[i];
    rd->kind = kind;
    snprintf(rd->label, sizeof rd->label, "%s", label ? label : "");
    rd->status = status;
    rd->error[0] = '\0';
    if (status) {
        rd->quality = JOULE_QUALITY_ERROR;
        rd->energy_j = rd->uncertainty_j = rd->plain_j = rd->plain_bound_j = NAN;
        const char *why = error ? error : joule_error_text(status);
        snprintf(rd->error, sizeof rd->error, "%s", why ? why : "failed");
        return 0;
    }
    rd->quality = quality;
    rd->energy_j = rd->plain_j = energy_j;
    rd->uncertainty_j = rd->plain_bound_j = uncertainty_j;
    return 0;
}
