/* The frame of the CLI's scatter plots (sweep --plot, bench serve --svg):
 * the <svg> header, title, plot box, grid with tick labels and the axis
 * labels. Each plot draws its own points inside. */
#ifndef JOULE_CLI_SVG_FRAME_H
#define JOULE_CLI_SVG_FRAME_H

#include <stdio.h>

struct svg_frame {
    int w, h, left, right, top, bottom; /* pixels */
    double x0, x1, y0, y1;              /* the data range drawn */
    const char *title, *x_label, *y_label;
    const char *y_tick_format;          /* printf format of a y tick, e.g. "%g" */
};

/* Opens the <svg> and draws the frame (no closing tag). */
void svg_frame_write(FILE *f, const struct svg_frame *fr);

#endif
