/* `joule analyze`'s power swings (include/joule/swing.h; docs/cluster.md,
 * "Power swings"): one row per device with power and one for the sum of
 * the GPUs, the sampling and the ramp window stated, and the part of the
 * 0.1-20 Hz band the sampling can resolve said plainly. */
#include "analyze_swing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/swing.h>

#include "common.h"

struct row {
    char label[40];
    const char *tdp_source; /* NULL: unknown */
    int is_sum;
    joule_swing sw;
};

/* Rows for every device with power, then the GPU sum (if any GPU has
 * power). Returns the count, or -1 with the message printed. */
static int collect(const char *path, const joule_trace *t, struct row **out)
{
    int ndev = joule_trace_device_count(t), n = 0, ngpu = 0;
    struct row *r = calloc((size_t)ndev + 1, sizeof *r);
    if (!r) {
        fprintf(stderr, "joule analyze: out of memory\n");
        return -1;
    }
    for (int i = 0; i < ndev; i++) {
        if (!joule_trace_device_has_power(t, i))
            continue;
        snprintf(r[n].label, sizeof r[n].label, "%s", joule_trace_device_label(t, i));
        r[n].tdp_source = joule_trace_device_tdp_source(t, i);
        if (joule_trace_device_swing(t, i, &r[n].sw)) {
            fprintf(stderr, "joule analyze: %s: power swings of %s: %s\n", path, r[n].label,
                    joule_last_error());
            free(r);
            return -1;
        }
        n++;
    }
    int rc = joule_trace_gpu_sum_swing(t, &r[n].sw, &ngpu);
    if (rc == 0) {
        snprintf(r[n].label, sizeof r[n].label, "gpu-sum");
        r[n].tdp_source = isnan(r[n].sw.tdp_w) ? NULL : "sum of the GPUs'";
        r[n].is_sum = 1;
        n++;
    } else if (rc != JOULE_ENOENT) {
        fprintf(stderr, "joule analyze: %s: power swings of the GPU sum: %s\n", path,
                joule_last_error());
        free(r);
        return -1;
    }
    *out = r;
    return n;
}

static void cell(char *buf, size_t len, double v, int decimals)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.*f", decimals, v);
}

/* "0.1-5 Hz" of the 0.1-20 Hz band, or "none" */
static void band_text(char *buf, size_t len, const joule_swing *s)
{
    if (isnan(s->band_hi_hz))
        snprintf(buf, len, "none");
    else
        snprintf(buf, len, "%g-%.3g", s->band_lo_hz, s->band_hi_hz);
}

int analyze_swing_text(const char *path, const joule_trace *t)
{
    struct row *r;
    int n = collect(path, t, &r);
    if (n <= 0)
        return n < 0;
    const joule_swing *f = &r[0].sw;
    printf("\n Power swings (sampled every %g ms; ramps between adjacent %g ms windows;\n"
           " band: share of the power's variance at %g-%g Hz, the band utilities watch):\n\n",
           f->sample_s * 1e3, f->ramp_window_s * 1e3, (double)JOULE_SWING_BAND_LO_HZ,
           (double)JOULE_SWING_BAND_HI_HZ);
    printf(" %-8s %9s %9s %9s %7s %12s %8s %12s %8s %10s %7s\n", "device", "peak_w", "trough_w",
           "swing_w", "%tdp", "ramp_up_w/s", "at_s", "ramp_dn_w/s", "at_s", "band_hz", "share%");
    int unknown_tdp = 0, partial = 0, too_short = 0;
    for (int i = 0; i < n; i++) {
        const joule_swing *s = &r[i].sw;
        char pct[16], up[24], upt[16], dn[24], dnt[16], band[24], share[16];
        cell(pct, sizeof pct, s->swing_pct_tdp, 1);
        cell(up, sizeof up, s->ramp_up_w_per_s, 1);
        cell(upt, sizeof upt, s->ramp_up_time_s, 2);
        cell(dn, sizeof dn, s->ramp_down_w_per_s, 1);
        cell(dnt, sizeof dnt, s->ramp_down_time_s, 2);
        cell(share, sizeof share, 100 * s->band_share, 1);
        band_text(band, sizeof band, s);
        printf(" %-8s %9.2f %9.2f %9.2f %7s %12s %8s %12s %8s %10s %7s\n", r[i].label, s->peak_w,
               s->trough_w, s->swing_w, pct, up, upt, dn, dnt, band, share);
        unknown_tdp |= isnan(s->tdp_w);
        partial |= isnan(s->band_hi_hz) || s->band_hi_hz < JOULE_SWING_BAND_HI_HZ;
        too_short |= !isnan(s->band_hi_hz) && isnan(s->band_share);
    }
    printf("\n %%tdp: swing over the maximum power limit the trace recorded (else its power\n"
           " limit)%s.\n", unknown_tdp ? "; '-': TDP unknown (no limit recorded)" : "");
    if (partial)
        printf(" band_hz: the part of the %g-%g Hz band this sampling resolves: every %g ms\n"
               " shows frequencies up to %g Hz (Nyquist), so faster swings are not seen.\n",
               (double)JOULE_SWING_BAND_LO_HZ, (double)JOULE_SWING_BAND_HI_HZ,
               f->sample_s * 1e3, 0.5 / fmax(f->sample_s, 0.005));
    if (too_short)
        printf(" share '-': the trace is shorter than %g s, too short to tell %g Hz from a\n"
               " slower drift.\n", 1 / JOULE_SWING_BAND_LO_HZ, (double)JOULE_SWING_BAND_LO_HZ);
    else if (f->freq_step_hz > JOULE_SWING_BAND_LO_HZ / 2)
        printf(" The trace is short: the periodogram's bins are %.3g Hz apart, so the %g Hz\n"
               " edge of the band is only roughly placed.\n", f->freq_step_hz,
               (double)JOULE_SWING_BAND_LO_HZ);
    free(r);
    return 0;
}

static cJSON *swing_json(const struct row *r)
{
    const joule_swing *s = &r->sw;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", r->label);
    cli_json_number(o, "peak_w", s->peak_w);
    cli_json_number(o, "peak_time_s", s->peak_time_s);
    cli_json_number(o, "trough_w", s->trough_w);
    cli_json_number(o, "trough_time_s", s->trough_time_s);
    cli_json_number(o, "swing_w", s->swing_w);
    cli_json_number(o, "tdp_w", s->tdp_w);
    if (r->tdp_source)
        cJSON_AddStringToObject(o, "tdp_source", r->tdp_source);
    else
        cJSON_AddNullToObject(o, "tdp_source");
    cli_json_number(o, "swing_pct_tdp", s->swing_pct_tdp);
    cli_json_number(o, "sample_s", s->sample_s);
    cli_json_number(o, "ramp_window_s", s->ramp_window_s);
    cli_json_number(o, "ramp_up_w_per_s", s->ramp_up_w_per_s);
    cli_json_number(o, "ramp_up_time_s", s->ramp_up_time_s);
    cli_json_number(o, "ramp_down_w_per_s", s->ramp_down_w_per_s);
    cli_json_number(o, "ramp_down_time_s", s->ramp_down_time_s);
    cli_json_number(o, "variance_w2", s->variance_w2);
    cli_json_number(o, "band_lo_hz", s->band_lo_hz);
    cli_json_number(o, "band_hi_hz", s->band_hi_hz);
    cli_json_number(o, "band_share", s->band_share);
    cli_json_number(o, "freq_step_hz", s->freq_step_hz);
    return o;
}

int analyze_swing_json(const char *path, const joule_trace *t, cJSON *root)
{
    struct row *r;
    int n = collect(path, t, &r);
    if (n < 0)
        return 1;
    cJSON *sw = cJSON_AddObjectToObject(root, "swings");
    cJSON_AddNumberToObject(sw, "band_lo_hz", JOULE_SWING_BAND_LO_HZ);
    cJSON_AddNumberToObject(sw, "band_hi_hz", JOULE_SWING_BAND_HI_HZ);
    cJSON *devs = cJSON_AddArrayToObject(sw, "devices");
    int have_sum = n > 0 && r[n - 1].is_sum;
    for (int i = 0; i < n - have_sum; i++)
        cJSON_AddItemToArray(devs, swing_json(&r[i]));
    if (have_sum)
        cJSON_AddItemToObject(sw, "gpu_sum", swing_json(&r[n - 1]));
    else
        cJSON_AddNullToObject(sw, "gpu_sum");
    free(r);
    return 0;
}
