/* SVG drawings: a plan's timeline (Gantt chart) and the frontier. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

/* A "nice" tick step giving about `want` ticks over span. */
static double nice_step(double span, int want)
{
    if (!(span > 0))
        return 1;
    double raw = span / want;
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    double step = m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10;
    return step * p;
}

/* Frequency colour: blue (lowest) to red (highest) through green/yellow. */
static void freq_color(double frac, char *buf, size_t n)
{
    if (!(frac >= 0))
        frac = 0;
    if (frac > 1)
        frac = 1;
    double hue = 240.0 * (1.0 - frac);
    snprintf(buf, n, "hsl(%.0f,75%%,55%%)", hue);
}

static FILE *open_out(const char *path, int *rc)
{
    FILE *f = fopen(path, "w");
    if (!f)
        *rc = joule_set_error(JOULE_EIO, "cannot write %s: %s", path,
                       strerror(errno));
    return f;
}

int pl_write_gantt_svg(const pl_problem *pb, const pl_plan *p,
                       const char *path)
{
    const pl_dag *d = &pb->dag;
    int N = d->N;
    double *start = malloc((size_t)N * sizeof *start);
    if (!start)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    double T = 0;
    int fmin = 1 << 30, fmax = 0;
    for (int k = 0; k < pb->nkinds; k++)
        for (int i = 0; i < pb->kinds[k].nopt; i++) {
            int fq = pb->kinds[k].opt[i].freq_mhz;
            if (fq < fmin)
                fmin = fq;
            if (fq > fmax)
                fmax = fq;
        }
    for (int k = 0; k < N; k++) {
        int c = d->topo[k];
        double st = 0;
        for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++) {
            int q = d->pred[e];
            double fin = start[q] + pl_kind_of(pb, q)->opt[p->choice[q]].time_s;
            if (fin > st)
                st = fin;
        }
        start[c] = st;
        double fin = st + pl_kind_of(pb, c)->opt[p->choice[c]].time_s;
        if (fin > T)
            T = fin;
    }
    int rc = 0;
    FILE *f = open_out(path, &rc);
    if (!f) {
        free(start);
        return rc;
    }
    const double left = 70, right = 30, top = 50, rowh = 26, gap = 6;
    const double plotw = 1100;
    double height = top + d->S * (rowh + gap) + 90;
    double width = left + plotw + right;
    double sx = T > 0 ? plotw / T : 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height, width, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"14\">%s, %d stages x %d "
               "microbatches: %.6g s, %.6g J</text>\n",
            left, pl_schedule_name(pb->cfg.schedule), d->S, d->M, p->time_s,
            p->energy_j);
    for (int s = 0; s < d->S; s++) {
        double y = top + s * (rowh + gap);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">stage %d"
                   "</text>\n",
                left - 8, y + rowh / 2 + 4, s);
        fprintf(f, "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" "
                   "fill=\"#f2f2f2\"/>\n",
                left, y, plotw, rowh);
        for (int k = 0; k < 2 * d->M; k++) {
            int c = d->stage_seq[s * 2 * d->M + k];
            const pl_option *o = &pl_kind_of(pb, c)->opt[p->choice[c]];
            int instr = (c / d->M) % 2;
            double x = left + start[c] * sx, w = o->time_s * sx;
            char col[32];
            freq_color(fmax > fmin ? (double)(o->freq_mhz - fmin) /
                                         (fmax - fmin)
                                   : 1.0,
                       col, sizeof col);
            /* Blocks are numbered from 1 (F1, B1, ...), as pipeline
             * diagrams are drawn; stages keep their 0-based index. */
            fprintf(f, "<g><title>stage %d %s of microbatch %d of %d: %d MHz, %.6g s, "
                       "%.6g J</title>",
                    s, pl_instr_name(instr), c % d->M + 1, d->M, o->freq_mhz, o->time_s,
                    o->energy_j);
            fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                       "height=\"%.0f\" fill=\"%s\" stroke=\"%s\" "
                       "stroke-width=\"0.6\"/>",
                    x, y, w, rowh, col, instr ? "#222" : "#666");
            if (w >= 16)
                fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\" "
                           "font-size=\"%d\">%c%d</text>",
                        x + w / 2, y + rowh / 2 + 4, w >= 26 ? 11 : 8,
                        instr ? 'B' : 'F', c % d->M + 1);
            fprintf(f, "</g>\n");
        }
    }
    /* time axis */
    double ay = top + d->S * (rowh + gap) + 4;
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
               "stroke=\"black\"/>\n",
            left, ay, left + plotw, ay);
    double step = nice_step(T, 10);
    for (double t = 0; t <= T * (1 + 1e-9); t += step) {
        double x = left + t * sx;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" "
                   "stroke=\"black\"/>",
                x, ay, x, ay + 5);
        fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%g"
                   "</text>\n",
                x, ay + 17, t);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"middle\">time (s)"
               "</text>\n",
            left + plotw / 2, ay + 33);
    /* frequency legend */
    double ly = ay + 50;
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">SM clock:</text>\n", left,
            ly + 11);
    for (int i = 0; i <= 10; i++) {
        char col[32];
        freq_color(i / 10.0, col, sizeof col);
        fprintf(f, "<rect x=\"%.0f\" y=\"%.1f\" width=\"20\" height=\"14\" "
                   "fill=\"%s\"/>",
                left + 70 + i * 20, ly, col);
    }
    fprintf(f, "\n<text x=\"%.0f\" y=\"%.1f\">%d MHz</text><text x=\"%.0f\" "
               "y=\"%.1f\">%d MHz</text>\n",
            left + 70, ly + 28, fmin, left + 70 + 10 * 20, ly + 28, fmax);
    fprintf(f, "</svg>\n");
    free(start);
    return pl_close_output(f, path);
}

int pl_write_frontier_svg(const pl_frontier *fr, int highlight,
                          const char *path)
{
    int rc = 0;
    FILE *f = open_out(path, &rc);
    if (!f)
        return rc;
    const double left = 90, right = 30, top = 40, bottom = 60;
    const double pw = 800, ph = 500;
    double width = left + pw + right, height = top + ph + bottom;
    double tmin = INFINITY, tmax = -INFINITY, emin = INFINITY, emax = -INFINITY;
    for (int i = 0; i < fr->n; i++) {
        tmin = fmin(tmin, fr->pts[i].time_s);
        tmax = fmax(tmax, fr->pts[i].time_s);
        emin = fmin(emin, fr->pts[i].energy_j);
        emax = fmax(emax, fr->pts[i].energy_j);
    }
    if (fr->n == 0) {
        tmin = emin = 0;
        tmax = emax = 1;
    }
    double tpad = (tmax - tmin) * 0.05, epad = (emax - emin) * 0.05;
    if (!(tpad > 0))
        tpad = fabs(tmin) * 0.01 + 1e-3;
    if (!(epad > 0))
        epad = fabs(emin) * 0.01 + 1e-3;
    tmin -= tpad;
    tmax += tpad;
    emin -= epad;
    emax += epad;
#define PX(t) (left + ((t) - tmin) / (tmax - tmin) * pw)
#define PY(e) (top + ph - ((e) - emin) / (emax - emin) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height, width, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"14\">Iteration "
               "time-energy frontier (%d plans)</text>\n",
            left, fr->n);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" "
               "fill=\"none\" stroke=\"black\"/>\n",
            left, top, pw, ph);
    double ts = nice_step(tmax - tmin, 8);
    for (double t = ceil(tmin / ts) * ts; t <= tmax; t += ts) {
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" "
                   "stroke=\"#ddd\"/><text x=\"%.2f\" y=\"%.0f\" "
                   "text-anchor=\"middle\">%g</text>\n",
                PX(t), top, PX(t), top + ph, PX(t), top + ph + 16, t);
    }
    double es = nice_step(emax - emin, 8);
    for (double e = ceil(emin / es) * es; e <= emax; e += es) {
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" "
                   "stroke=\"#ddd\"/><text x=\"%.0f\" y=\"%.2f\" "
                   "text-anchor=\"end\">%g</text>\n",
                left, PY(e), left + pw, PY(e), left - 6, PY(e) + 4, e);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">iteration "
               "time (s)</text>\n",
            left + pw / 2, top + ph + 40);
    fprintf(f, "<text transform=\"translate(%.0f,%.0f) rotate(-90)\" "
               "text-anchor=\"middle\">iteration energy (J)</text>\n",
            left - 62, top + ph / 2);
    if (fr->n > 0) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" "
                   "stroke-width=\"1.5\" points=\"");
        for (int i = 0; i < fr->n; i++)
            fprintf(f, "%.2f,%.2f ", PX(fr->pts[i].time_s),
                    PY(fr->pts[i].energy_j));
        fprintf(f, "\"/>\n");
        int every = fr->n > 400 ? fr->n / 400 : 1;
        for (int i = 0; i < fr->n; i += every)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\" "
                       "fill=\"#1f77b4\"><title>plan %d: %.6g s, %.6g J"
                       "</title></circle>\n",
                    PX(fr->pts[i].time_s), PY(fr->pts[i].energy_j),
                    fr->pts[i].id, fr->pts[i].time_s, fr->pts[i].energy_j);
        if (highlight >= 0 && highlight < fr->n)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"5\" fill=\"none\" "
                       "stroke=\"#d62728\" stroke-width=\"2\"><title>selected "
                       "plan %d</title></circle>\n",
                    PX(fr->pts[highlight].time_s),
                    PY(fr->pts[highlight].energy_j), fr->pts[highlight].id);
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    return pl_close_output(f, path);
}
