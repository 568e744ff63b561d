/* `joule plot`: a trace as one self-contained SVG — a title (the trace's
 * file name), a power line per device (exactly one <path> each), labelled
 * axes, a legend beside the plot sized to its longest entry, a shaded band
 * per measurement window and a dashed line at the GPUs' power limit (with
 * its own legend entry). With TOTAL_MIN_GPUS or more GPUs a second panel
 * above shows their summed power as one bold line, and the per-device lines
 * get thinner and lighter so eight of them stay readable.
 * Long traces are reduced to each pixel column's first, lowest, highest
 * and last value, so peaks survive and the file stays small. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "base/error.h"
#include "core/trace.h"
#include "core/trace_svg.h"

#define LEFT 70
#define PLOT_W 660
#define TOP 48
#define BOTTOM 55
#define PANEL_H 385       /* the device panel alone */
#define TOTAL_PANEL_H 170 /* the total panel, when drawn */
#define DEVICE_PANEL_H 300
#define PANEL_GAP 36
#define LEGEND_ROW 18
#define CHAR_W 7          /* a generous width of one 11 px sans-serif character */
#define TOTAL_MIN_GPUS 3  /* a total panel from this many GPUs on */
#define THIN_MIN 4        /* thinner, lighter device lines from this many on */

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

/* One panel: time across, power up, between pixel rows top and bottom. */
struct frame {
    double t_max, p_max;
    double top, bottom;
};

static double px(const struct frame *fr, double t) { return LEFT + t / fr->t_max * PLOT_W; }
static double py(const struct frame *fr, double p)
{
    return fr->bottom - p / fr->p_max * (fr->bottom - fr->top);
}

static void axes(FILE *f, const struct frame *fr, const char *ylabel, int time_label)
{
    double plot_right = LEFT + PLOT_W;
    double ts = nice_step(fr->t_max, 8), ps = nice_step(fr->p_max, 6);
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    for (double t = 0; t <= fr->t_max + 1e-9; t += ts)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                px(fr, t), fr->top, px(fr, t), fr->bottom, px(fr, t), fr->bottom + 16, t);
    for (double p = 0; p <= fr->p_max + 1e-9; p += ps)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                LEFT, py(fr, p), plot_right, py(fr, p), LEFT - 6, py(fr, p) + 4, p);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", LEFT,
            fr->bottom, plot_right, fr->bottom);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n", LEFT,
            fr->top, LEFT, fr->bottom);
    if (time_label)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">"
                   "time (s)</text>\n", LEFT + PLOT_W / 2.0, fr->bottom + 40);
    fprintf(f, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"13\">%s</text>\n</g>\n", (fr->top + fr->bottom) / 2, ylabel);
}

/* One step path, reduced per pixel column. */
static void power_path(FILE *f, const struct frame *fr, const struct trace_series *s, double end,
                       const char *style)
{
    fprintf(f, "<path fill=\"none\" %s d=\"", style);
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

/* Legend rows: a swatch (solid or dashed) and a text. */
struct legend {
    FILE *f;
    double x, y;
};

static void legend_row(struct legend *l, const char *color, double width, int dashed,
                       const char *label, const char *name, const char *tip)
{
    fprintf(l->f, "<g class=\"legend\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"%s\" stroke-width=\"%g\"%s/><text x=\"%.1f\" y=\"%.1f\" "
                  "font-family=\"sans-serif\" font-size=\"11\">",
            l->x, l->y, l->x + 20, l->y, color, width, dashed ? " stroke-dasharray=\"6,4\"" : "",
            l->x + 26, l->y + 4);
    xml_text(l->f, label);
    if (name && name[0]) { /* long device names are cut to 30 characters */
        char cut[TRACE_NAME_MAX];
        snprintf(cut, sizeof cut, "%s", name);
        if (strlen(cut) > 30)
            strcpy(cut + 27, "...");
        fputc(' ', l->f);
        xml_text(l->f, cut);
    }
    if (tip && tip[0]) {
        fprintf(l->f, "<title>");
        xml_text(l->f, tip);
        fprintf(l->f, "</title>");
    }
    fprintf(l->f, "</text></g>\n");
    l->y += LEGEND_ROW;
}

static size_t legend_chars(const struct trace_device *d)
{
    size_t n = strlen(d->name);
    return strlen(d->label) + (n ? 1 + (n > 30 ? 30 : n) : 0);
}

static void window_bands(FILE *f, const struct trace *t, const struct frame *fr, int labels)
{
    for (int w = 0; w < t->nwindows; w++) {
        const struct trace_window *win = &t->windows[w];
        double x0 = px(fr, fmax(0, win->start_s)), x1 = px(fr, fmin(fr->t_max, win->end_s));
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#888\" "
                   "fill-opacity=\"0.15\"><title>", x0, fr->top, fmax(x1 - x0, 0.5),
                fr->bottom - fr->top);
        xml_text(f, win->name);
        fprintf(f, "</title></rect>\n");
        if (!labels)
            continue;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-family=\"sans-serif\" font-size=\"10\" "
                   "fill=\"#555\">", x0 + 2, fr->top - 4);
        xml_text(f, win->name);
        fprintf(f, "</text>\n");
    }
}

int trace_svg_write(const struct trace *t, FILE *f)
{
    struct frame fr = {t->duration_s > 0 ? t->duration_s : 1, 0, 0, 0};
    int nshown = 0, ngpus = 0, nlimits = 0, same_limit = 1;
    double limit = 0;
    size_t chars = 12; /* "total, N GPUs", "power limit X W" */
    for (int i = 0; i < t->ndevices; i++) {
        const struct trace_device *d = &t->devices[i];
        const struct trace_series *s = trace_power(d);
        if (!s)
            continue;
        nshown++;
        ngpus += trace_device_is_gpu(d);
        for (int k = 0; k < s->n; k++)
            fr.p_max = fmax(fr.p_max, s->v[k]);
        if (d->power_limit_w > 0) {
            fr.p_max = fmax(fr.p_max, d->power_limit_w);
            same_limit &= !nlimits || d->power_limit_w == limit;
            limit = d->power_limit_w;
            nlimits++;
        }
        if (s->n)
            fr.t_max = fmax(fr.t_max, s->t[s->n - 1]);
        size_t c = legend_chars(d);
        chars = c > chars ? c : chars;
    }
    fr.p_max = fr.p_max > 0 ? fr.p_max * 1.1 : 1;
    if (!same_limit && chars < 28) /* "gpu12 power limit 700 W" */
        chars = 28;

    struct trace_series total = {0};
    /* The GPUs' summed power (a GPU counts from its first sample on, as
     * in `joule analyze`'s GPU sum). */
    int summed;
    int with_total = ngpus >= TOTAL_MIN_GPUS && trace_gpu_sum(t, &total, NULL, &summed, NULL) == 0;
    struct frame tf = fr;
    if (with_total) {
        tf.p_max = 0;
        for (int k = 0; k < total.n; k++)
            tf.p_max = fmax(tf.p_max, total.v[k]);
        tf.p_max = tf.p_max > 0 ? tf.p_max * 1.1 : 1;
        tf.top = TOP;
        tf.bottom = TOP + TOTAL_PANEL_H;
        fr.top = tf.bottom + PANEL_GAP;
        fr.bottom = fr.top + DEVICE_PANEL_H;
    } else {
        fr.top = TOP;
        fr.bottom = TOP + PANEL_H;
    }
    int rows = nshown + (nlimits > 0 ? (same_limit ? 1 : nlimits) : 0) + with_total;
    int legend_x = LEFT + PLOT_W + 16;
    int w = legend_x + 26 + (int)chars * CHAR_W + 10;
    int h = (int)fr.bottom + BOTTOM;
    if (TOP + 10 + rows * LEGEND_ROW + 10 > h)
        h = TOP + 10 + rows * LEGEND_ROW + 10;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\">\n<title>", w, h, w, h);
    xml_text(f, t->title[0] ? t->title : "joule power trace");
    fprintf(f, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", w, h);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"24\" font-family=\"sans-serif\" "
               "font-size=\"15\" font-weight=\"bold\">", LEFT);
    xml_text(f, t->title[0] ? t->title : "joule power trace");
    fprintf(f, "</text>\n");
    if (with_total) {
        axes(f, &tf, "total (W)", 0);
        window_bands(f, t, &tf, 1);
        power_path(f, &tf, &total, tf.t_max, "class=\"total\" stroke=\"#111\" stroke-width=\"2.5\"");
    }
    axes(f, &fr, with_total ? "per device (W)" : "power (W)", 1);
    window_bands(f, t, &fr, !with_total);

    struct legend lg = {f, legend_x, TOP + 10};
    int thin = nshown >= THIN_MIN;
    char style[128], text[96];
    if (with_total) {
        snprintf(text, sizeof text, "total, %d GPUs", ngpus);
        legend_row(&lg, "#111", 3.5, 0, text, NULL, "the GPUs' power summed, upper panel");
    }
    if (nlimits > 0 && same_limit) {
        fprintf(f, "<line class=\"limit\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                   "stroke=\"#555\" stroke-dasharray=\"6,4\"/>\n", LEFT, py(&fr, limit),
                LEFT + PLOT_W, py(&fr, limit));
        snprintf(text, sizeof text, "power limit %g W", limit);
        legend_row(&lg, "#555", 1.5, 1, text, NULL, NULL);
    }
    for (int i = 0, shown = 0; i < t->ndevices; i++) {
        const struct trace_device *d = &t->devices[i];
        const struct trace_series *s = trace_power(d);
        if (!s)
            continue;
        const char *color = palette[shown % NCOLORS];
        if (d->power_limit_w > 0 && !same_limit)
            fprintf(f, "<line class=\"limit\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                       "stroke=\"%s\" stroke-dasharray=\"6,4\" stroke-opacity=\"0.7\"/>\n",
                    LEFT, py(&fr, d->power_limit_w), LEFT + PLOT_W, py(&fr, d->power_limit_w),
                    color);
        snprintf(style, sizeof style, "stroke=\"%s\" stroke-width=\"%s\"%s", color,
                 thin ? "0.9" : "1.2", thin ? " stroke-opacity=\"0.75\"" : "");
        power_path(f, &fr, s, fr.t_max, style);
        legend_row(&lg, color, 3, 0, d->label, d->name, d->name);
        shown++;
    }
    for (int i = 0, shown = 0; nlimits > 0 && !same_limit && i < t->ndevices; i++) {
        const struct trace_device *d = &t->devices[i];
        if (!trace_power(d))
            continue;
        if (d->power_limit_w > 0) {
            snprintf(text, sizeof text, "%s power limit %g W", d->label, d->power_limit_w);
            legend_row(&lg, palette[shown % NCOLORS], 1.5, 1, text, NULL, NULL);
        }
        shown++;
    }
    free(total.t);
    free(total.v);
    trace_svg_ramp_marks(f, t, &(struct svg_box){LEFT, LEFT + PLOT_W, fr.top, fr.bottom, fr.t_max,
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
               "<h1>");
    xml_text(f, t->title[0] ? t->title : "joule power trace");
    fprintf(f, "</h1>\n");
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
