/* Rendering a trace (`joule plot`). */
#ifndef JOULE_CORE_TRACE_SVG_H
#define JOULE_CORE_TRACE_SVG_H

#include <stdio.h>

#include "core/trace.h"

/* A self-contained SVG: one <path> per device with power samples. */
int trace_svg_write(const struct trace *t, FILE *f);
/* One HTML page: the SVG and a table of each device's totals. */
int trace_html_write(const struct trace *t, FILE *f);

#endif
