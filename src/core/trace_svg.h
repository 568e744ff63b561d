/* Rendering a trace (`joule plot`). */
#ifndef JOULE_CORE_TRACE_SVG_H
#define JOULE_CORE_TRACE_SVG_H

#include <stdio.h>

#include "core/trace.h"

/* A self-contained SVG: one <path> per device with power samples. */
int trace_svg_write(const struct trace *t, FILE *f);
/* The plot area, for drawing over it from another file. */
struct svg_box {
    double left, right, top, bottom, t_max, p_max;
};
/* Marks each device's largest rise and fall (core/trace_svg_ramps.c). */
void trace_svg_ramp_marks(FILE *f, const struct trace *t, const struct svg_box *b);
/* One HTML page: the SVG and a table of each device's totals. */
int trace_html_write(const struct trace *t, FILE *f);

#endif
