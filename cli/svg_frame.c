/* The scatter plots' frame (cli/svg_frame.h). */
#include "svg_frame.h"

#include <math.h>

#include "common.h"

/* A 1-2-5 step giving about `want` ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

void svg_frame_write(FILE *f, const struct svg_frame *fr)
{
    const int W = fr->w, H = fr->h, L = fr->left, R = fr->right, T = fr->top, B = fr->bottom;
#define PX(x) (L + ((x) - fr->x0) / (fr->x1 - fr->x0) * (W - L - R))
#define PY(y) (H - B - ((y) - fr->y0) / (fr->y1 - fr->y0) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<title>");
    cli_xml_text(f, fr->title);
    fprintf(f, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"15\">", L);
    cli_xml_text(f, fr->title);
    fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#444\"/>\n", L, T, W - L - R, H - T - B);
    double xs = nice_step(fr->x1 - fr->x0, 6), ys = nice_step(fr->y1 - fr->y0, 6);
    for (double x = ceil(fr->x0 / xs) * xs; x <= fr->x1; x += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                PX(x), T, PX(x), H - B, PX(x), H - B + 16, x);
    for (double y = ceil(fr->y0 / ys) * ys; y <= fr->y1; y += ys) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", L, PY(y), W - R, PY(y),
                L - 6, PY(y) + 4);
        fprintf(f, fr->y_tick_format, y);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2,
            H - 18, fr->x_label);
    fprintf(f, "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
               "%s</text>\n", (T + H - B) / 2, (T + H - B) / 2, fr->y_label);
#undef PX
#undef PY
}
