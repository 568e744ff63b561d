/* The public face of traces (include/joule/trace.h): an opaque handle over
 * the parsed trace, and the analysis and drawing over it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>
#include <joule/trace.h>

#include "base/error.h"
#include "base/export.h"
#include "core/trace.h"
#include "core/context.h"
#include "core/trace_svg.h"

_Static_assert(JOULE_TRACE_TIMESCALES == TRACE_TIMESCALES, "one list of timescales");

struct joule_trace {
    struct trace t;
};

const struct trace *trace_of(const joule_trace *h) { return h ? &h->t : NULL; }

JOULE_EXPORT int joule_trace_read(const char *path, joule_trace **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_trace_read: NULL argument");
    *out = NULL;
    joule_trace *h = calloc(1, sizeof *h);
    if (!h)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading '%s'", path);
    int rc = trace_read(path, &h->t);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

JOULE_EXPORT void joule_trace_free(joule_trace *t)
{
    if (!t)
        return;
    trace_free(&t->t);
    free(t);
}

JOULE_EXPORT double joule_trace_start_unix_s(const joule_trace *t) { return t->t.start_unix_s; }
JOULE_EXPORT double joule_trace_duration_s(const joule_trace *t) { return t->t.duration_s; }
JOULE_EXPORT double joule_trace_interval_s(const joule_trace *t) { return t->t.interval_s; }
JOULE_EXPORT int joule_trace_torn_line(const joule_trace *t) { return t->t.torn_line; }
JOULE_EXPORT int joule_trace_device_count(const joule_trace *t) { return t->t.ndevices; }
JOULE_EXPORT int joule_trace_window_count(const joule_trace *t) { return t->t.nwindows; }

static const struct trace_device *device(const joule_trace *t, int i)
{
    return t && i >= 0 && i < t->t.ndevices ? &t->t.devices[i] : NULL;
}

JOULE_EXPORT const char *joule_trace_device_label(const joule_trace *t, int i)
{
    const struct trace_device *d = device(t, i);
    return d ? d->label : NULL;
}

JOULE_EXPORT const char *joule_trace_device_kind(const joule_trace *t, int i)
{
    const struct trace_device *d = device(t, i);
    return d ? d->kind : NULL;
}

JOULE_EXPORT const char *joule_trace_device_name(const joule_trace *t, int i)
{
    const struct trace_device *d = device(t, i);
    return d ? d->name : NULL;
}

JOULE_EXPORT int joule_trace_device_is_gpu(const joule_trace *t, int i)
{
    const struct trace_device *d = device(t, i);
    return d && trace_device_is_gpu(d);
}

JOULE_EXPORT int joule_trace_device_has_power(const joule_trace *t, int i)
{
    const struct trace_device *d = device(t, i);
    return d && trace_power(d) != NULL;
}

JOULE_EXPORT const char *joule_trace_window_name(const joule_trace *t, int i)
{
    return t && i >= 0 && i < t->t.nwindows ? t->t.windows[i].name : NULL;
}

JOULE_EXPORT int joule_trace_window_span(const joule_trace *t, int i, double *start_s,
                                         double *end_s)
{
    if (!t || i < 0 || i >= t->t.nwindows)
        return joule_set_error(JOULE_ENOENT, "no window %d in the trace", i);
    if (start_s)
        *start_s = t->t.windows[i].start_s;
    if (end_s)
        *end_s = t->t.windows[i].end_s;
    return 0;
}

JOULE_EXPORT double joule_trace_timescale_s(int k)
{
    return k >= 0 && k < TRACE_TIMESCALES ? trace_timescales_s[k] : NAN;
}

static void to_public(const struct trace_stats *s, joule_trace_stats *out)
{
    *out = (joule_trace_stats){s->duration_s, s->energy_j, s->mean_w, s->p50_w,
                               s->p95_w,      s->p99_w,    s->peak_w, {0}};
    for (int k = 0; k < TRACE_TIMESCALES; k++)
        out->peak_avg_power_w[k] = s->peak_avg_w[k];
}

JOULE_EXPORT int joule_trace_device_stats(const joule_trace *t, int i, joule_trace_stats *out)
{
    const struct trace_device *d = device(t, i);
    const struct trace_series *s = d ? trace_power(d) : NULL;
    if (!s || !out)
        return joule_set_error(JOULE_ENOENT, "device %d of the trace has no power samples", i);
    struct trace_stats st;
    int rc = trace_stats_of(s->t, s->v, s->n, t->t.duration_s, t->t.interval_s, &st);
    if (!rc)
        to_public(&st, out);
    return rc;
}

JOULE_EXPORT int joule_trace_device_energy_j(const joule_trace *t, int i, double t0_s,
                                            double t1_s, double *joules)
{
    const struct trace_device *d = device(t, i);
    const struct trace_series *s = d ? trace_power(d) : NULL;
    if (!s || !joules)
        return joule_set_error(JOULE_ENOENT, "device %d of the trace has no power samples", i);
    *joules = trace_energy_between(s, t->t.duration_s, t0_s, t1_s);
    return 0;
}

JOULE_EXPORT int joule_trace_gpu_sum_stats(const joule_trace *t, joule_trace_stats *out,
                                           int *ngpus)
{
    if (!t || !out)
        return joule_set_error(JOULE_EINVAL, "joule_trace_gpu_sum_stats: NULL argument");
    struct trace_series sum;
    int n, rc = trace_gpu_sum(&t->t, &sum, NULL, &n, NULL);
    if (ngpus)
        *ngpus = n;
    struct trace_stats s;
    if (!rc)
        rc = trace_stats_of(sum.t, sum.v, sum.n, t->t.duration_s, t->t.interval_s, &s);
    free(sum.t);
    free(sum.v);
    if (!rc)
        to_public(&s, out);
    return rc;
}

JOULE_EXPORT int joule_trace_write_svg(const joule_trace *t, FILE *f)
{
    return trace_svg_write(&t->t, f);
}

JOULE_EXPORT int joule_trace_write_html(const joule_trace *t, FILE *f)
{
    return trace_html_write(&t->t, f);
}
