/* `joule sweep --plot`: energy against time, one dot per setting, the
 * frontier drawn as a highlighted line, each dot labelled with its knob. */
#include "sweep_plot.h"

#include <math.h>
#include <stdio.h>

#include "common.h"
#include "svg_frame.h"

#define W 720
#define H 480
#define LEFT 80
#define RIGHT 30
#define TOP 40
#define BOTTOM 60

void sweep_plot_svg(FILE *f, const char *title, const char *knob_unit,
                   const char *time_label, const char *energy_label, const double *knob,
                   const double *time_s, const double *energy_j, int n, const int *frontier,
                   int nf, int chosen)
{
    double t0 = INFINITY, t1 = -INFINITY, e0 = INFINITY, e1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        t0 = fmin(t0, time_s[i]);
        t1 = fmax(t1, time_s[i]);
        e0 = fmin(e0, energy_j[i]);
        e1 = fmax(e1, energy_j[i]);
    }
    if (n == 0) {
        t0 = e0 = 0;
        t1 = e1 = 1;
    }
    double tp = (t1 - t0) * 0.08 + 1e-12 + fabs(t1) * 1e-6, ep = (e1 - e0) * 0.08 + 1e-12 + fabs(e1) * 1e-6;
    t0 -= tp;
    t1 += tp;
    e0 -= ep;
    e1 += ep;
#define PX(t) (LEFT + ((t) - t0) / (t1 - t0) * (W - LEFT - RIGHT))
#define PY(e) (H - BOTTOM - ((e) - e0) / (e1 - e0) * (H - TOP - BOTTOM))
    svg_frame_write(f, &(struct svg_frame){W, H, LEFT, RIGHT, TOP, BOTTOM, t0, t1, e0, e1, title,
                                           time_label, energy_label, "%g"});
    if (nf > 0) {
        fprintf(f, "<path class=\"frontier\" d=\"");
        for (int j = 0; j < nf; j++)
            fprintf(f, "%s%.1f %.1f", j ? " L" : "M", PX(time_s[frontier[j]]),
                    PY(energy_j[frontier[j]]));
        fprintf(f, "\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2.5\"/>\n");
    }
    for (int i = 0; i < n; i++) {
        int on = 0;
        for (int j = 0; j < nf; j++)
            on |= frontier[j] == i;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"%s/>"
                   "<text x=\"%.1f\" y=\"%.1f\">%g %s</text>\n",
                PX(time_s[i]), PY(energy_j[i]), i == chosen ? 7 : 5,
                on ? "#d62728" : "#1f77b4",
                i == chosen ? " stroke=\"black\" stroke-width=\"2\"" : "", PX(time_s[i]) + 8,
                PY(energy_j[i]) - 6, knob[i], knob_unit);
    }
    /* The legend, inside the plot's top right corner. */
    int lx = W - RIGHT - 150, ly = TOP + 16;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"144\" height=\"%d\" fill=\"white\" "
               "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n", lx - 6, ly - 12, chosen >= 0 ? 58 : 40);
    fprintf(f, "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#d62728\" "
               "stroke-width=\"2.5\"/><text x=\"%d\" y=\"%d\">frontier</text></g>\n",
            lx, ly - 4, lx + 18, ly - 4, lx + 24, ly);
    ly += 18;
    fprintf(f, "<g class=\"legend\"><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"#1f77b4\"/>"
               "<text x=\"%d\" y=\"%d\">off the frontier</text></g>\n", lx + 9, ly - 4, lx + 24, ly);
    if (chosen >= 0) {
        ly += 18;
        fprintf(f, "<g class=\"legend\"><circle cx=\"%d\" cy=\"%d\" r=\"6\" fill=\"none\" "
                   "stroke=\"black\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">cost choice</text>"
                   "</g>\n", lx + 9, ly - 4, lx + 24, ly);
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}
