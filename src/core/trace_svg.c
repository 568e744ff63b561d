/* `joule plot`: a trace as one self-contained SVG — a power line per
 * device (exactly one <path> each), labelled axes, a legend, a shaded band
 * per measurement window and a dashed line at each GPU's power limit.
 * Long traces are reduced to each pixel column's first, lowest, highest
 * and last value, so peaks survive and the file stays small. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "base/error.h"
#include "core/trace.h"
#include "core/trace_svg.h"

#define W 960
#define H 480
#define LEFT 70
#define RIGHT 230
#define TOP 40
#define BOTTOM 55

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NCOLORS (sizeof palette / sizeof palette[0])

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* A 1-2-5 step giving about `want` ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

struct frame {
    double t_max, p_max;
};

static double px(const struct frame *fr, double t) { return LEFT + t / fr->t_max * (W - LEFT - RIGHT); }
static double py(const struct frame *fr, double p) { return H - BOTTOM - p / fr->p_max * (H - TOP - BOTTOM); }

static void axes(FILE *f, const struct frame *fr)
{
    double plot_right = W - RIGHT, plot_bottom = H - BOTTOM;
    double ts = nice_step(fr->t_max, 8), ps = nice_step(fr->p_max, 6);
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    for (double t = 0; t <= fr->t_max + 1e-9; t += ts)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                px(fr, t), TOP, px(fr, t), plot_bottom, px(fr, t), plot_bottom + 16, t);
    for (double p = 0; p <= fr->p_max + 1e-9; p += ps)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                LEFT, py(fr, p), plot_right, py(fr, p), LEFT - 6, py(fr, p) + 4, p);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", LEFT,
            plot_bottom, plot_right, plot_bottom);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n", LEFT, TOP,
            LEFT, plot_bottom);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">time (s)</text>\n",
            (LEFT + plot_right) / 2, H - 12);
    fprintf(f, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"13\">power (W)</text>\n</g>\n", (TOP + plot_bottom) / 2);
}

/* One step path, reduced per pixel column. */
static void power_path(FILE *f, const struct frame *fr, const struct trace_series *s, double end,
                       const char *color)
{
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" d=\"", color);
    int col = -1;
    double lo = 0, hi = 0, last = 0;
    for (int i = 0; i < s->n; i++) {
        double x = px(fr, s->t[i]), y = py(fr, s->v[i]);
        int c = (int)x;
        if (i == 0) {
            fprintf(f, "M%.1f %.1f", x, y);
        } else if (c != col) {
            if (lo != hi)
                fprintf(f, "V%.1f V%.1f ", lo, hi);
            fprintf(f, "V%.1f H%.1f V%.1f", last, x, y);
        } else {
            lo = fmin(lo, y);
            hi = fmax(hi, y);
            last = y;
            continue;
        }
        col = c;
        lo = hi = last = y;
    }
    if (lo != hi)
        fprintf(f, "V%.1f V%.1f V%.1f", lo, hi, last);
    fprintf(f, "H%.1f\"/>\n", px(fr, end));
}

int trace_svg_write(const struct trace *t, FILE *f)
{
    struct frame fr = {t->duration_s > 0 ? t->duration_s : 1, 0};
    for (int i = 0; i < t->ndevices; i++) {
        const struct trace_series *s = trace_power(&t->devices[i]);
        for (int k = 0; s && k < s->n; k++)
            fr.p_max = fmax(fr.p_max, s->v[k]);
        fr.p_max = fmax(fr.p_max, t->devices[i].power_limit_w);
        if (s && s->n)
            fr.t_max = fmax(fr.t_max, s->t[s->n - 1]);
    }
    fr.p_max = fr.p_max > 0 ? fr.p_max * 1.1 : 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\">\n", W, H, W, H);
    fprintf(f, "<title>joule power trace</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            W, H);
    axes(f, &fr);
    for (int w = 0; w < t->nwindows; w++) {
        const struct trace_window *win = &t->windows[w];
        double x0 = px(&fr, fmax(0, win->start_s)), x1 = px(&fr, fmin(fr.t_max, win->end_s));
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#888\" "
                   "fill-opacity=\"0.15\"><title>", x0, TOP, fmax(x1 - x0, 0.5), H - TOP - BOTTOM);
        xml_text(f, win->name);
        fprintf(f, "</title></rect>\n<text x=\"%.1f\" y=\"%d\" font-family=\"sans-serif\" "
                   "font-size=\"10\" fill=\"#555\">", x0 + 2, TOP - 4);
        xml_text(f, win->name);
        fprintf(f, "</text>\n");
    }
    for (int i = 0, shown = 0; i < t->ndevices; i++) {
        const struct trace_device *d = &t->devices[i];
        const struct trace_series *s = trace_power(d);
        if (!s)
            continue;
        const char *color = palette[shown % NCOLORS];
        if (d->power_limit_w > 0)
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-dasharray=\"6,4\" stroke-opacity=\"0.7\"><title>%s power limit "
                       "%g W</title></line>\n", LEFT, py(&fr, d->power_limit_w), W - RIGHT,
                    py(&fr, d->power_limit_w), color, d->label, d->power_limit_w);
        power_path(f, &fr, s, fr.t_max, color);
        double ly = TOP + 10 + shown * 18;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"/><text x=\"%d\" y=\"%.1f\" font-family=\"sans-serif\" "
                   "font-size=\"11\">", W - RIGHT + 12, ly, W - RIGHT + 32, ly, color,
                W - RIGHT + 38, ly + 4);
        xml_text(f, d->label);
        if (d->name[0]) { /* the legend column fits about 30 characters */
            char name[TRACE_NAME_MAX];
            snprintf(name, sizeof name, "%s", d->name);
            if (strlen(name) > 30)
                strcpy(name + 27, "...");
            fputc(' ', f);
            xml_text(f, name);
        }
        fprintf(f, "<title>");
        xml_text(f, d->name);
        fprintf(f, "</title></text>\n");
        shown++;
    }
    trace_svg_ramp_marks(f, t, &(struct svg_box){LEFT, W - RIGHT, TOP, H - BOTTOM, fr.t_max,
                                                 fr.p_max});
    fprintf(f, "</svg>\n");
    return ferror(f) ? joule_set_error(JOULE_EIO, "writing the SVG failed") : 0;
}

int trace_html_write(const struct trace *t, FILE *f)
{
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>joule trace</title>\n"
               "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
               "td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}"
               "td:first-child,th:first-child{text-align:left}</style></head><body>\n"
               "<h1>joule power trace</h1>\n");
    int rc = trace_svg_write(t, f);
    fprintf(f, "<table>\n<tr><th>device</th><th>energy_j</th><th>mean_power_w</th>"
               "<th>p99_power_w</th><th>peak_power_w</th></tr>\n");
    for (int i = 0; i < t->ndevices; i++) {
        const struct trace_device *d = &t->devices[i];
        const struct trace_series *s = trace_power(d);
        struct trace_stats st;
        if (!s || trace_stats_of(s->t, s->v, s->n, t->duration_s, t->interval_s, &st))
            continue;
        fprintf(f, "<tr><td>");
        xml_text(f, d->label);
        fprintf(f, " ");
        xml_text(f, d->name);
        fprintf(f, "</td><td>%.3f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td></tr>\n", st.energy_j,
                st.mean_w, st.p99_w, st.peak_w);
    }
    fprintf(f, "</table>\n</body></html>\n");
    return rc;
}
