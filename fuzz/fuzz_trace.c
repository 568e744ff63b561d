/* libFuzzer target: the trace reader (src/core/trace_read.c), then what
 * `joule analyze` and `joule plot` compute from a trace that reads. The
 * reader bounds times and powers so statistics stay finite: an ERANGE from
 * them is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <joule/joule.h>
#include <joule/swing.h>
#include <math.h>

#include "core/trace.h"
#include "core/trace_svg.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace t;
    if (trace_read(fuzz_file(data, size), &t))
        return 0;
    const struct trace_series **gpus = calloc((size_t)t.ndevices + 1, sizeof *gpus);
    int ngpu = 0;
    struct trace_stats st;
    for (int i = 0; i < t.ndevices; i++) {
        const struct trace_series *s = trace_power(&t.devices[i]);
        if (!s)
            continue;
        if (trace_stats_of(s->t, s->v, s->n, t.duration_s, t.interval_s, &st) == JOULE_ERANGE)
            abort();
        /* the swings `joule analyze` adds: numbers or NAN, never inf */
        joule_swing sw;
        if (joule_swing_of(s->t, s->v, s->n, t.duration_s, t.interval_s, 700, &sw) == 0 &&
            (isinf(sw.swing_w) || isinf(sw.ramp_up_w_per_s) || isinf(sw.band_share)))
            abort();
        if (gpus)
            gpus[ngpu++] = s;
    }
    double *sum_t, *sum_v;
    int n;
    if (ngpu && trace_sum(gpus, ngpu, &sum_t, &sum_v, &n) == 0) {
        if (trace_stats_of(sum_t, sum_v, n, t.duration_s, t.interval_s, &st) == JOULE_ERANGE)
            abort();
        free(sum_t);
        free(sum_v);
    }
    free(gpus);
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        trace_html_write(&t, null);
        fclose(null);
    }
    trace_free(&t);
    return 0;
}
