/* `joule plot` marks each device's largest ramps (docs/cluster.md, "Power
 * swings"): a small triangle, pointing up at the largest rise and down at
 * the largest fall between adjacent ramp windows, with the rate in W/s as
 * its tooltip; the plot's largest rise and largest fall are labelled. Drawn
 * over the power lines by one call from trace_svg_write. */
#include <math.h>
#include <stdio.h>

#include "core/trace.h"
#include "core/trace_svg.h"
#include "core/trace_swing.h"

#define MARK_COLOR "#000"

static double box_x(const struct svg_box *b, double t)
{
    return b->left + t / b->t_max * (b->right - b->left);
}

static double box_y(const struct svg_box *b, double p)
{
    return b->bottom - p / b->p_max * (b->bottom - b->top);
}

/* The step function's value at time x. */
static double value_at(const struct trace_series *s, double x)
{
    int i = 0;
    while (i + 1 < s->n && s->t[i + 1] <= x)
        i++;
    return s->v[i];
}

static void mark(FILE *f, const struct svg_box *b, const struct trace_device *d,
                 const struct trace_series *s, double time_s, double rate, double window_s,
                 int up, int labelled)
{
    double x = box_x(b, time_s), y = box_y(b, value_at(s, time_s));
    /* the triangle's tip touches the line */
    if (up)
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" "
                   "stroke=\"white\">", x, y + 2, x - 5, y + 11, x + 5, y + 11, MARK_COLOR);
    else
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" "
                   "stroke=\"white\">", x, y - 2, x - 5, y - 11, x + 5, y - 11, MARK_COLOR);
    fprintf(f, "<title>%s largest %s: %s%.0f W/s over %g ms at %.3f s</title></polygon>\n",
            d->label, up ? "rise" : "fall", up ? "+" : "-", rate, window_s * 1e3, time_s);
    /* near the right edge the label goes left of its mark */
    int left = x > b->right - 130;
    if (labelled)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-family=\"sans-serif\" "
                   "font-size=\"10\" fill=\"%s\" stroke=\"white\" stroke-width=\"3\" "
                   "paint-order=\"stroke\">largest %s %s%.0f W/s</text>\n",
                left ? x - 7 : x + 7, up ? y + 12 : y - 5, left ? "end" : "start", MARK_COLOR,
                up ? "rise" : "fall", up ? "+" : "-", rate);
}

void trace_svg_ramp_marks(FILE *f, const struct trace *t, const struct svg_box *b)
{
    double end = t->duration_s > 0 ? t->duration_s : b->t_max;
    double best_up = 0, best_down = 0;
    int up_labelled = 0, down_labelled = 0;
    /* Two passes: find the plot's largest rise and fall, then draw, with a
     * label on those two only (lines in lockstep would stack theirs). */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < t->ndevices; i++) {
            const struct trace_device *d = &t->devices[i];
            const struct trace_series *s = trace_power(d);
            joule_swing r;
            if (!s || trace_ramps_of(s->t, s->v, s->n, end, t->interval_s, &r))
                continue;
            if (pass == 0) {
                best_up = fmax(best_up, isnan(r.ramp_up_w_per_s) ? 0 : r.ramp_up_w_per_s);
                best_down = fmax(best_down, isnan(r.ramp_down_w_per_s) ? 0 : r.ramp_down_w_per_s);
                continue;
            }
            if (r.ramp_up_w_per_s > 0) {
                int label = !up_labelled && r.ramp_up_w_per_s == best_up;
                mark(f, b, d, s, r.ramp_up_time_s, r.ramp_up_w_per_s, r.ramp_window_s, 1, label);
                up_labelled |= label;
            }
            if (r.ramp_down_w_per_s > 0) {
                int label = !down_labelled && r.ramp_down_w_per_s == best_down;
                mark(f, b, d, s, r.ramp_down_time_s, r.ramp_down_w_per_s, r.ramp_window_s, 0,
                     label);
                down_labelled |= label;
            }
        }
    }
}
