/* SVG of a sweep: energy vs time with the frontier highlighted. */
#ifndef JOULE_CLI_SWEEP_PLOT_H
#define JOULE_CLI_SWEEP_PLOT_H

#include <stdio.h>

/* Writes the SVG to f. frontier holds nf indices ordered by time; chosen
 * is an index or -1. */
void sweep_plot_svg(FILE *f, const char *title, const char *knob_unit,
                   const char *time_label, const char *energy_label, const double *knob,
                   const double *time_s, const double *energy_j, int n, const int *frontier,
                   int nf, int chosen);

#endif
