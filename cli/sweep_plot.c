/* `joule sweep --plot`: energy against time, one dot per setting, the
 * frontier drawn as a highlighted line, each dot labelled with its knob. */
#include "sweep_plot.h"

#include <math.h>
#include <stdio.h>

#include "common.h"

#define W 720
#define H 480
#define LEFT 80
#define RIGHT 30
#define TOP 40
#define BOTTOM 60

static double nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

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
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<title>");
    cli_xml_text(f, title);
    fprintf(f, "</title>\n");
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"15\">", LEFT);
    cli_xml_text(f, title);
    fprintf(f, "</text>\n");
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#444\"/>\n", LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    double ts = nice_step(t1 - t0, 6), es = nice_step(e1 - e0, 6);
    for (double t = ceil(t0 / ts) * ts; t <= t1; t += ts)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                PX(t), TOP, PX(t), H - BOTTOM, PX(t), H - BOTTOM + 16, t);
    for (double e = ceil(e0 / es) * es; e <= e1; e += es)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                LEFT, PY(e), W - RIGHT, PY(e), LEFT - 6, PY(e) + 4, e);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
            (LEFT + W - RIGHT) / 2, H - 18, time_label);
    fprintf(f, "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
               "%s</text>\n", (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2, energy_label);
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
