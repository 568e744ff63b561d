/* Trace mode: replays the Zeus NSDI'23 power traces (one row per power
 * limit: time per epoch and average power). */
#include "devices/sim/sim_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static int split_spec(const char *spec, char parts[5][64])
{
    int n = 0;
    const char *p = spec;
    while (n < 5) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || len >= 64)
            return -1;
        memcpy(parts[n], p, len);
        parts[n++][len] = '\0';
        if (!slash)
            return n;
        p = slash + 1;
    }
    return -1;
}

int sim_trace_load(const char *data_dir, const char *spec, struct sim_trace *out)
{
    char parts[5][64];
    int n = split_spec(spec, parts);
    if (n != 4 && n != 5)
        return joule_set_error(JOULE_EINVAL,
            "sim trace '%s': expected GPU/DATASET/NETWORK/BATCH[/OPTIMIZER], "
            "e.g. v100/imagenet/resnet50/256", spec);
    char *end;
    long batch = strtol(parts[3], &end, 10);
    if (*end || batch <= 0)
        return joule_set_error(JOULE_EINVAL,
            "sim trace '%s': batch size '%s' is not a positive integer", spec, parts[3]);
    for (char *c = parts[0]; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');

    char path[4096];
    snprintf(path, sizeof path, "%s/zeus-nsdi23/summary_power_%s.csv", data_dir, parts[0]);
    FILE *f = fopen(path, "r");
    if (!f)
        return joule_set_error(JOULE_ENOENT,
            "sim trace: cannot open %s (%s); traces exist for a40, v100, p100 "
            "and rtx6000; set JOULE_DATA_DIR to the folder holding zeus-nsdi23/",
            path, strerror(errno));

    memset(out, 0, sizeof *out);
    snprintf(out->gpu, sizeof out->gpu, "%s", parts[0]);
    snprintf(out->dataset, sizeof out->dataset, "%s", parts[1]);
    snprintf(out->network, sizeof out->network, "%s", parts[2]);
    out->batch_size = (int)batch;
    if (n == 5)
        snprintf(out->optimizer, sizeof out->optimizer, "%s", parts[4]);

    char line[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1)
            continue; /* header */
        char ds[64], net[64], opt[32];
        int bs;
        double pl, tpe, pw;
        if (sscanf(line, "%63[^,],%63[^,],%d,%31[^,],%lf,%lf,%lf", ds, net, &bs,
                   opt, &pl, &tpe, &pw) != 7) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: malformed row", path, lineno);
            break;
        }
        if (strcmp(ds, out->dataset) || strcmp(net, out->network) || bs != batch)
            continue;
        if (!out->optimizer[0])
            snprintf(out->optimizer, sizeof out->optimizer, "%s", opt);
        if (strcmp(opt, out->optimizer))
            continue;
        if (!(pl > 0 && pl <= 1e6 && tpe > 0 && isfinite(tpe) && pw > 0 && pw <= 1e6)) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: power limit, time per epoch and "
                                 "power must be finite numbers > 0", path, lineno);
            break;
        }
        int dup = 0;
        for (int k = 0; k < out->n; k++)
            dup |= out->pl_w[k] == pl;
        if (dup) { /* two rows for one limit: which one the GPU follows is ambiguous */
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: a second row for %s/%s/%ld/%s at "
                                 "%g W", path, lineno, ds, net, batch, opt, pl);
            break;
        }
        if (out->n == SIM_TRACE_MAX_POINTS)
            break;
        /* insertion by power limit */
        int i = out->n++;
        while (i > 0 && out->pl_w[i - 1] > pl) {
            out->pl_w[i] = out->pl_w[i - 1];
            out->time_per_epoch_s[i] = out->time_per_epoch_s[i - 1];
            out->avg_power_w[i] = out->avg_power_w[i - 1];
            i--;
        }
        out->pl_w[i] = pl;
        out->time_per_epoch_s[i] = tpe;
        out->avg_power_w[i] = pw;
    }
    fclose(f);
    if (rc == 0 && out->n == 0)
        rc = joule_set_error(JOULE_ENOENT,
            "sim trace '%s': no rows for that dataset/network/batch size in %s",
            spec, path);
    return rc;
}

void sim_trace_at(const struct sim_trace *t, double pl_w, double *power_w,
                  double *time_per_epoch_s)
{
    int i = 0;
    if (pl_w <= t->pl_w[0] || t->n == 1) {
        *power_w = t->avg_power_w[0];
        *time_per_epoch_s = t->time_per_epoch_s[0];
        return;
    }
    if (pl_w >= t->pl_w[t->n - 1]) {
        *power_w = t->avg_power_w[t->n - 1];
        *time_per_epoch_s = t->time_per_epoch_s[t->n - 1];
        return;
    }
    while (t->pl_w[i + 1] < pl_w)
        i++;
    double a = (pl_w - t->pl_w[i]) / (t->pl_w[i + 1] - t->pl_w[i]);
    *power_w = t->avg_power_w[i] + a * (t->avg_power_w[i + 1] - t->avg_power_w[i]);
    *time_per_epoch_s = t->time_per_epoch_s[i] +
                        a * (t->time_per_epoch_s[i + 1] - t->time_per_epoch_s[i]);
}
