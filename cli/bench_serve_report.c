/* `joule bench serve` reports: the table, JSON, CSV and the SVG of energy
 * per token against ITL p90 with the frontier and the recommendation. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_serve.h"
#include "common.h"
#include "svg_frame.h"

void bench_serve_choose(const struct bench_args *a, struct bench_summary *s)
{
    joule_serve_point *p = calloc((size_t)(s->np ? s->np : 1), sizeof *p);
    s->nfront = 0;
    s->rec = -1;
    if (!p) {
        snprintf(s->rec_error, sizeof s->rec_error, "out of memory");
        return;
    }
    for (int i = 0; i < s->np; i++) {
        const joule_serve_stats *st = &s->pt[i].st;
        p[i] = (joule_serve_point){st->energy_per_token_j, st->itl.p90_s, st->ttft.p90_s,
                                   st->invalid == 0};
        s->pt[i].on_frontier = 0;
    }
    s->nfront = joule_serve_frontier(p, s->np, s->front);
    if (s->nfront < 0)
        s->nfront = 0;
    for (int i = 0; i < s->nfront; i++)
        s->pt[s->front[i]].on_frontier = 1;
    int rec = joule_serve_recommend(p, s->np, a->itl_slo_s, a->ttft_slo_s);
    if (rec >= 0)
        s->rec = rec;
    else
        snprintf(s->rec_error, sizeof s->rec_error, "%s", joule_last_error());
    free(p);
}

static const char *knob_col(const struct bench_args *a)
{
    return !a->nknob ? NULL : a->clocks ? "sm_clock_mhz" : "power_limit_w";
}

static void invalid_names(const joule_serve_stats *st, char *buf, size_t len)
{
    buf[0] = 0;
    for (int k = 0; k < JOULE_SERVE_INVALID_COUNT; k++)
        if (st->invalid & (1u << k)) {
            size_t l = strlen(buf);
            snprintf(buf + l, len - l, "%s%s", l ? ";" : "", joule_serve_invalid_name(k));
        }
}

void bench_serve_table(FILE *f, const struct bench_args *a, const struct bench_summary *s)
{
    const char *unit = a->clocks ? "MHz" : "W";
    fprintf(f, "%-9s %5s %9s %9s %9s %9s %10s %8s %10s %10s %8s %7s  %s\n",
            a->nknob ? (a->clocks ? "SM MHz" : "limit W") : "", "conc", "TTFT p90", "ITL p50",
            "ITL p90", "ITL p99", "tokens/s", "tok/s/u", "J/token", "J/request", "power W",
            "tok/J", "");
    for (int i = 0; i < s->np; i++) {
        const struct bench_point *p = &s->pt[i];
        const joule_serve_stats *st = &p->st;
        char knob[32] = "";
        if (!isnan(p->knob))
            snprintf(knob, sizeof knob, "%g", p->knob);
        char names[128];
        invalid_names(st, names, sizeof names);
        fprintf(f, "%-9s %5d %7.1fms %7.2fms %7.2fms %7.2fms %10.1f %8.2f %10.4g %10.4g %8.1f "
                   "%7.3g  %s%s%s%s\n", knob, st->concurrency, 1e3 * st->ttft.p90_s,
                1e3 * st->itl.p50_s, 1e3 * st->itl.p90_s, 1e3 * st->itl.p99_s,
                st->output_tokens_per_s, st->tps_per_user, st->energy_per_token_j,
                st->energy_per_request_j, st->avg_power_w, st->tps_per_w,
                p->on_frontier ? "frontier " : "", i == s->rec ? "RECOMMENDED " : "",
                st->invalid ? "INVALID: " : "", names);
    }
    for (int i = 0; i < s->np; i++)
        if (s->pt[i].st.invalid) {
            char knob[48] = "";
            if (!isnan(s->pt[i].knob))
                snprintf(knob, sizeof knob, "%g %s, ", s->pt[i].knob, unit);
            fprintf(f, "invalid: %sconcurrency %d: %s\n", knob, s->pt[i].st.concurrency,
                    s->pt[i].st.invalid_text);
        }
    if (s->rec >= 0) {
        const struct bench_point *p = &s->pt[s->rec];
        char knob[48] = "";
        if (!isnan(p->knob))
            snprintf(knob, sizeof knob, "%g %s, ", p->knob, unit);
        fprintf(f, "recommendation: %sconcurrency %d: %.4g J/token, ITL p90 %.3g ms, TTFT p90 "
                   "%.3g ms", knob, p->st.concurrency, p->st.energy_per_token_j,
                1e3 * p->st.itl.p90_s, 1e3 * p->st.ttft.p90_s);
        if (a->itl_slo_s > 0 || a->ttft_slo_s > 0) {
            fprintf(f, " (meets");
            if (a->itl_slo_s > 0)
                fprintf(f, " ITL p90 <= %g ms", 1e3 * a->itl_slo_s);
            if (a->ttft_slo_s > 0)
                fprintf(f, "%s TTFT p90 <= %g ms", a->itl_slo_s > 0 ? "," : "",
                        1e3 * a->ttft_slo_s);
            fprintf(f, ")");
        }
        fprintf(f, "\n");
    } else if (s->np > 0) {
        fprintf(f, "recommendation: none: %s\n", s->rec_error);
    }
}

static cJSON *pct(const joule_serve_percentiles *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "p50", p->p50_s);
    cJSON_AddNumberToObject(o, "p90", p->p90_s);
    cJSON_AddNumberToObject(o, "p99", p->p99_s);
    cJSON_AddNumberToObject(o, "mean", p->mean_s);
    return o;
}

int bench_serve_json(FILE *f, const struct bench_args *a, const struct bench_summary *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "url", a->url);
    cJSON_AddStringToObject(root, "model", a->model);
    cJSON_AddStringToObject(root, "prompts", a->prompts);
    if (knob_col(a))
        cJSON_AddStringToObject(root, "knob", knob_col(a));
    else
        cJSON_AddNullToObject(root, "knob");
    cJSON *g = cJSON_AddArrayToObject(root, "gpus");
    for (int i = 0; i < s->ngpus; i++)
        cJSON_AddItemToArray(g, cJSON_CreateNumber(s->gpus[i]));
    if (a->itl_slo_s > 0)
        cJSON_AddNumberToObject(root, "itl_slo_s", a->itl_slo_s);
    else
        cJSON_AddNullToObject(root, "itl_slo_s");
    if (a->ttft_slo_s > 0)
        cJSON_AddNumberToObject(root, "ttft_slo_s", a->ttft_slo_s);
    else
        cJSON_AddNullToObject(root, "ttft_slo_s");
    cJSON_AddNumberToObject(root, "min_steady_s", a->min_steady_s);
    cJSON *cs = cJSON_AddArrayToObject(root, "configurations");
    for (int i = 0; i < s->np; i++) {
        const struct bench_point *p = &s->pt[i];
        const joule_serve_stats *st = &p->st;
        cJSON *c = cJSON_CreateObject();
        if (knob_col(a))
            cJSON_AddNumberToObject(c, knob_col(a), p->knob);
        cJSON_AddNumberToObject(c, "concurrency", st->concurrency);
        cJSON_AddNumberToObject(c, "requests", st->requests);
        cJSON_AddNumberToObject(c, "output_tokens", (double)st->output_tokens);
        cli_json_number(c, "mean_output_tokens", st->mean_output_tokens);
        cli_json_number(c, "duration_s", st->duration_s);
        cli_json_number(c, "steady_start_s", st->steady_start_s);
        cli_json_number(c, "steady_end_s", st->steady_end_s);
        cli_json_number(c, "steady_s", st->steady_s);
        cJSON_AddNumberToObject(c, "steady_tokens", (double)st->steady_tokens);
        cJSON_AddItemToObject(c, "ttft_s", pct(&st->ttft));
        cJSON_AddItemToObject(c, "itl_s", pct(&st->itl));
        cli_json_number(c, "output_tokens_per_s", st->output_tokens_per_s);
        cli_json_number(c, "tps_per_user", st->tps_per_user);
        cli_json_number(c, "energy_j", st->energy_j);
        cli_json_number(c, "energy_uncertainty_j", st->energy_uncertainty_j);
        cli_json_number(c, "energy_per_token_j", st->energy_per_token_j);
        cli_json_number(c, "energy_per_request_j", st->energy_per_request_j);
        cli_json_number(c, "avg_power_w", st->avg_power_w);
        cli_json_number(c, "tps_per_w", st->tps_per_w);
        cJSON_AddBoolToObject(c, "valid", st->invalid == 0);
        cJSON *inv = cJSON_AddArrayToObject(c, "invalid");
        for (int k = 0; k < JOULE_SERVE_INVALID_COUNT; k++)
            if (st->invalid & (1u << k))
                cJSON_AddItemToArray(inv, cJSON_CreateString(joule_serve_invalid_name(k)));
        cJSON_AddStringToObject(c, "invalid_reasons", st->invalid_text);
        cJSON_AddBoolToObject(c, "on_frontier", p->on_frontier);
        cJSON *sm = cJSON_AddObjectToObject(c, "server_metrics");
        cJSON *smp = cJSON_AddArrayToObject(sm, "samples");
        for (int k = 0; k < p->nms; k++) {
            const joule_serve_metrics *m = &p->ms[k];
            cJSON *x = cJSON_CreateObject();
            cli_json_number(x, "t_s", m->t_s);
            cli_json_number(x, "num_requests_running", m->running);
            cli_json_number(x, "num_requests_waiting", m->waiting);
            cli_json_number(x, "generation_tokens", m->generation_tokens);
            cli_json_number(x, "ttft_sum_s", m->ttft_sum_s);
            cli_json_number(x, "ttft_count", m->ttft_count);
            cli_json_number(x, "itl_sum_s", m->itl_sum_s);
            cli_json_number(x, "itl_count", m->itl_count);
            cJSON_AddItemToArray(smp, x);
        }
        if (p->merr[0])
            cJSON_AddStringToObject(sm, "error", p->merr);
        else
            cJSON_AddNullToObject(sm, "error");
        cJSON_AddItemToArray(cs, c);
    }
    cJSON *fr = cJSON_AddArrayToObject(root, "frontier");
    for (int i = 0; i < s->nfront; i++)
        cJSON_AddItemToArray(fr, cJSON_CreateNumber(s->front[i]));
    if (s->rec >= 0) {
        cJSON *r = cJSON_AddObjectToObject(root, "recommendation");
        cJSON_AddNumberToObject(r, "index", s->rec);
        if (knob_col(a))
            cJSON_AddNumberToObject(r, knob_col(a), s->pt[s->rec].knob);
        cJSON_AddNumberToObject(r, "concurrency", s->pt[s->rec].st.concurrency);
        cli_json_number(r, "energy_per_token_j", s->pt[s->rec].st.energy_per_token_j);
        cJSON_AddNullToObject(root, "recommendation_error");
    } else {
        cJSON_AddNullToObject(root, "recommendation");
        cJSON_AddStringToObject(root, "recommendation_error", s->rec_error);
    }
    if (s->error[0])
        cJSON_AddStringToObject(root, "error", s->error);
    else
        cJSON_AddNullToObject(root, "error");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return -1;
    fprintf(f, "%s\n", text);
    free(text);
    return 0;
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.9g", v);
    else
        fprintf(f, ",");
}

void bench_serve_csv(FILE *f, const struct bench_args *a, const struct bench_summary *s)
{
    if (knob_col(a))
        fprintf(f, "%s,", knob_col(a));
    fprintf(f, "concurrency,requests,output_tokens,steady_s,steady_tokens,ttft_p50_s,ttft_p90_s,"
               "ttft_p99_s,itl_p50_s,itl_p90_s,itl_p99_s,output_tokens_per_s,tps_per_user,"
               "energy_j,energy_per_token_j,energy_per_request_j,avg_power_w,tps_per_w,valid,"
               "invalid,on_frontier,recommended\n");
    for (int i = 0; i < s->np; i++) {
        const struct bench_point *p = &s->pt[i];
        const joule_serve_stats *st = &p->st;
        if (knob_col(a))
            fprintf(f, "%g,", p->knob);
        fprintf(f, "%d,%d,%ld", st->concurrency, st->requests, st->output_tokens);
        csv_num(f, st->steady_s);
        fprintf(f, ",%ld", st->steady_tokens);
        const double v[] = {st->ttft.p50_s, st->ttft.p90_s, st->ttft.p99_s, st->itl.p50_s,
                            st->itl.p90_s, st->itl.p99_s, st->output_tokens_per_s,
                            st->tps_per_user, st->energy_j, st->energy_per_token_j,
                            st->energy_per_request_j, st->avg_power_w, st->tps_per_w};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            csv_num(f, v[k]);
        char names[128];
        invalid_names(st, names, sizeof names);
        fprintf(f, ",%d,%s,%d,%d\n", st->invalid == 0, names, p->on_frontier, i == s->rec);
    }
}

#define W 760
#define H 500
#define LEFT 90
#define RIGHT 30
#define TOP 40
#define BOTTOM 60

void bench_serve_svg(FILE *f, const struct bench_args *a, const struct bench_summary *s)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int any = 0;
    for (int i = 0; i < s->np; i++) {
        double x = 1e3 * s->pt[i].st.itl.p90_s, y = s->pt[i].st.energy_per_token_j;
        if (!isfinite(x) || !isfinite(y))
            continue;
        any = 1;
        x0 = fmin(x0, x);
        x1 = fmax(x1, x);
        y0 = fmin(y0, y);
        y1 = fmax(y1, y);
    }
    if (!any) {
        x0 = y0 = 0;
        x1 = y1 = 1;
    }
    double xp = (x1 - x0) * 0.08 + 1e-9 + fabs(x1) * 1e-3;
    double yp = (y1 - y0) * 0.08 + 1e-12 + fabs(y1) * 1e-3;
    x0 -= xp;
    x1 += xp;
    y0 -= yp;
    y1 += yp;
#define PX(x) (LEFT + ((x) - x0) / (x1 - x0) * (W - LEFT - RIGHT))
#define PY(y) (H - BOTTOM - ((y) - y0) / (y1 - y0) * (H - TOP - BOTTOM))
    /* The title names the model: "MODEL: energy per token against ITL p90". */
    char title[160];
    snprintf(title, sizeof title, "%.100s: energy per token against ITL p90",
             a->model ? a->model : "joule bench serve");
    svg_frame_write(f, &(struct svg_frame){W, H, LEFT, RIGHT, TOP, BOTTOM, x0, x1, y0, y1, title,
                                           "ITL p90 (ms)", "energy per token (J)", "%.4g"});
    if (a->itl_slo_s > 0 && 1e3 * a->itl_slo_s > x0 && 1e3 * a->itl_slo_s < x1)
        fprintf(f, "<line class=\"slo\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                   "stroke=\"#888\" stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%d\" "
                   "fill=\"#666\">ITL SLO</text>\n", PX(1e3 * a->itl_slo_s), TOP,
                PX(1e3 * a->itl_slo_s), H - BOTTOM, PX(1e3 * a->itl_slo_s) + 4, TOP + 14);
    if (s->nfront > 0) {
        fprintf(f, "<path class=\"frontier\" d=\"");
        for (int j = 0; j < s->nfront; j++)
            fprintf(f, "%s%.1f %.1f", j ? " L" : "M", PX(1e3 * s->pt[s->front[j]].st.itl.p90_s),
                    PY(s->pt[s->front[j]].st.energy_per_token_j));
        fprintf(f, "\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2.5\"/>\n");
    }
    for (int i = 0; i < s->np; i++) {
        const struct bench_point *p = &s->pt[i];
        double x = 1e3 * p->st.itl.p90_s, y = p->st.energy_per_token_j;
        if (!isfinite(x) || !isfinite(y))
            continue;
        char label[64];
        if (isnan(p->knob))
            snprintf(label, sizeof label, "c%d", p->st.concurrency);
        else
            snprintf(label, sizeof label, "%g %s c%d", p->knob, a->clocks ? "MHz" : "W",
                     p->st.concurrency);
        /* Labels of points near the right edge end at the point, inside. */
        int flip = PX(x) > W - RIGHT - 150;
        fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"%s/>"
                   "<text x=\"%.1f\" y=\"%.1f\"%s>%s%s</text>\n",
                i == s->rec ? "recommended" : p->on_frontier ? "frontier-point" : "point", PX(x),
                PY(y), i == s->rec ? 8 : 5,
                p->st.invalid ? "#bbbbbb" : p->on_frontier ? "#d62728" : "#1f77b4",
                i == s->rec ? " stroke=\"black\" stroke-width=\"2.5\"" : "",
                flip ? PX(x) - 9 : PX(x) + 9, PY(y) - 7, flip ? " text-anchor=\"end\"" : "",
                label, p->st.invalid ? " (invalid)" : "");
    }
    /* The legend, inside the plot's top right corner, on a white box. */
    int lx = W - RIGHT - 170, ly = TOP + 16;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"164\" height=\"76\" fill=\"white\" "
               "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n", lx - 6, ly - 12);
    fprintf(f, "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
               "stroke=\"#d62728\" stroke-width=\"2.5\"/><text x=\"%d\" y=\"%d\">frontier</text>"
               "</g>\n", lx, ly - 4, lx + 18, ly - 4, lx + 24, ly);
    fprintf(f, "<g class=\"legend\"><circle cx=\"%d\" cy=\"%d\" r=\"6\" fill=\"none\" "
               "stroke=\"black\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">recommendation"
               "</text></g>\n", lx + 9, ly + 14, lx + 24, ly + 18);
    fprintf(f, "<g class=\"legend\"><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"#1f77b4\"/>"
               "<text x=\"%d\" y=\"%d\">off the frontier</text></g>\n", lx + 9, ly + 32,
            lx + 24, ly + 36);
    fprintf(f, "<g class=\"legend\"><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"#bbbbbb\"/>"
               "<text x=\"%d\" y=\"%d\">invalid run</text></g>\n", lx + 9, ly + 50, lx + 24,
            ly + 54);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}
