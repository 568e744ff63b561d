/* joule bench: benchmarks of whole systems. `joule bench serve` measures
 * the energy of an OpenAI-compatible streaming LLM server, ML.ENERGY
 * style, at each power limit or SM clock and each concurrency
 * (docs/inference.md). The load generator, the steady window and the
 * statistics are libjoule's (include/joule/inference.h); settings go
 * through the sweep's apply (include/joule/sweep.h) and are restored by
 * joule_restore at the end, when a configuration fails and on Ctrl-C. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <joule/inference.h>
#include <joule/sweep.h>

#include "bench_serve.h"
#include "child.h"
#include "commands.h"
#include "common.h"

struct progress {
    int tty;
    char label[96];
};

static void on_progress(void *user, int finished, int total, double steady_s, int steady)
{
    struct progress *p = user;
    if (!p->tty)
        return;
    fprintf(stderr, "\r\033[K%s: %d/%d requests done, steady window %s%.1f s", p->label,
            finished, total, steady ? "open, " : "", steady_s);
    fflush(stderr);
}

static void label_of(const struct bench_args *a, double knob, int conc, char *buf, size_t len)
{
    if (isnan(knob))
        snprintf(buf, len, "concurrency %d", conc);
    else
        snprintf(buf, len, "%g %s, concurrency %d", knob, a->clocks ? "MHz" : "W", conc);
}

/* The context and, with settings, the sweep that applies them. Returns 0
 * or the exit code (message printed). */
static int open_all(const struct bench_args *a, joule_ctx **ctx, joule_sweep **sw,
                    struct bench_summary *s)
{
    joule_options *o = NULL;
    if (joule_options_create(&o) || joule_options_set_devices(o, a->spec) ||
        joule_options_set_restore_on_exit(o, 1) || joule_open(o, ctx)) {
        fprintf(stderr, "joule bench serve: %s\n", joule_last_error());
        joule_options_destroy(o);
        return 1;
    }
    joule_options_destroy(o);
    if (a->gpus_spec) {
        int n = joule_parse_gpu_list(*ctx, a->gpus_spec, s->gpus, BENCH_MAX_GPUS);
        if (n <= 0) {
            fprintf(stderr, "joule bench serve: --gpus: %s\n",
                    n == 0 ? "no GPUs given" : joule_last_error());
            return 2;
        }
        s->ngpus = n;
    } else {
        for (int i = 0; i < joule_device_count(*ctx) && s->ngpus < BENCH_MAX_GPUS; i++) {
            const joule_device *d = joule_device_at(*ctx, i);
            if (joule_device_kind(d) == JOULE_KIND_GPU)
                s->gpus[s->ngpus++] = joule_device_index(d);
        }
        if (!s->ngpus) {
            fprintf(stderr, "joule bench serve: no GPU among the devices '%s'; the server's "
                    "GPUs are what is measured (--devices gpu:0,1)\n", a->spec ? a->spec : "all");
            return 1;
        }
    }
    if (!a->nknob)
        return 0;
    joule_sweep_options so;
    joule_sweep_options_default(&so);
    so.knob = a->clocks ? JOULE_SWEEP_SM_CLOCK : JOULE_SWEEP_POWER_LIMIT;
    so.gpus = s->gpus;
    so.ngpus = s->ngpus;
    int rc = joule_sweep_create(*ctx, &so, sw);
    if (rc) {
        fprintf(stderr, "joule bench serve: %s\n", joule_last_error());
        return rc == JOULE_ENODEV ? 2 : 1;
    }
    for (int k = 0; k < a->nknob; k++)
        if ((rc = joule_sweep_check_setting(*sw, a->knobs[k]))) {
            fprintf(stderr, "joule bench serve: %s\n", joule_last_error());
            return rc == JOULE_ERANGE ? 2 : 1;
        }
    return 0;
}

static int run_all(joule_ctx *ctx, joule_sweep *sw, const struct bench_args *a,
                   const joule_prompts *prompts, struct bench_summary *s)
{
    int nknob = a->nknob ? a->nknob : 1;
    s->pt = calloc((size_t)nknob * (size_t)a->nconc, sizeof *s->pt);
    if (!s->pt) {
        fprintf(stderr, "joule bench serve: out of memory\n");
        return 1;
    }
    struct progress pr = {isatty(2), ""};
    joule_serve_options o;
    joule_serve_options_default(&o);
    o.url = a->url;
    o.model = a->model;
    o.requests = a->requests;
    o.gpus = s->gpus;
    o.ngpus = s->ngpus;
    o.min_steady_s = a->min_steady_s;
    o.min_power_w = a->min_power_w;
    o.max_power_w = a->max_power_w;
    o.request_timeout_s = a->timeout_s;
    o.ignore_eos = a->ignore_eos;
    o.metrics_url = a->metrics_url;
    o.chat = a->chat;
    o.metrics_interval_s = a->no_metrics ? 0 : 1;
    o.stop = &cli_interrupted;
    o.progress = on_progress;
    o.progress_user = &pr;
    for (int k = 0; k < nknob && !s->error[0]; k++) {
        double knob = a->nknob ? a->knobs[k] : NAN;
        if (a->nknob && joule_sweep_apply(sw, knob)) {
            snprintf(s->error, sizeof s->error, "%g %s: %s", knob, a->clocks ? "MHz" : "W",
                     joule_last_error());
            break;
        }
        for (int c = 0; c < a->nconc && !s->error[0]; c++) {
            label_of(a, knob, a->conc[c], pr.label, sizeof pr.label);
            o.concurrency = a->conc[c];
            joule_serve_result *r = NULL;
            int rc = joule_serve_run(ctx, prompts, &o, &r);
            if (pr.tty)
                fprintf(stderr, "\r\033[K");
            if (rc) {
                s->interrupted = cli_interrupted != 0;
                snprintf(s->error, sizeof s->error, "%s: %s", pr.label, joule_last_error());
                break;
            }
            struct bench_point *p = &s->pt[s->np++];
            p->knob = knob;
            p->st = *joule_serve_result_stats(r);
            p->nms = joule_serve_result_metrics_count(r);
            p->ms = p->nms ? calloc((size_t)p->nms, sizeof *p->ms) : NULL;
            if (!p->ms)
                p->nms = 0;
            for (int i = 0; i < p->nms; i++)
                joule_serve_result_metrics(r, i, &p->ms[i]);
            const char *me = joule_serve_result_metrics_error(r);
            snprintf(p->merr, sizeof p->merr, "%s", me ? me : "");
            joule_serve_result_free(r);
            if (!pr.tty)
                continue;
            fprintf(stderr, "%s: %.4g J/token, ITL p90 %.3g ms, %.4g tokens/s%s%s\n", pr.label,
                    p->st.energy_per_token_j, 1e3 * p->st.itl.p90_s, p->st.output_tokens_per_s,
                    p->st.invalid ? "; INVALID: " : "", p->st.invalid_text);
        }
    }
    return 0;
}

static int write_file(const char *path, int kind, const struct bench_args *a,
                      const struct bench_summary *s)
{
    FILE *f = cli_open_output("bench serve", path);
    if (!f)
        return 1;
    if (kind == 0)
        bench_serve_json(f, a, s);
    else if (kind == 1)
        bench_serve_csv(f, a, s);
    else
        bench_serve_svg(f, a, s);
    return cli_close_output("bench serve", f, path) ? 1 : 0;
}

static int cmd_bench_serve(int argc, char **argv)
{
    struct bench_args a;
    int exit_code = bench_serve_parse_args(argc, argv, &a);
    if (exit_code >= 0)
        return exit_code;
    joule_prompts *prompts = NULL;
    if (joule_prompts_load(a.prompts, &prompts)) {
        fprintf(stderr, "joule bench serve: --prompts: %s\n", joule_last_error());
        return 2;
    }
    int n = a.requests ? a.requests : joule_prompts_count(prompts);
    for (int c = 0; c < a.nconc; c++)
        if (n < a.conc[c] + 2) {
            fprintf(stderr, "joule bench serve: %d requests at concurrency %d leave no steady "
                    "state; give --requests of at least %d (or more prompts)\n", n, a.conc[c],
                    2 * a.conc[c] + 1);
            joule_prompts_free(prompts);
            return 2;
        }
    joule_ctx *ctx = NULL;
    joule_sweep *sw = NULL;
    struct bench_summary s;
    memset(&s, 0, sizeof s);
    s.rec = -1;
    exit_code = open_all(&a, &ctx, &sw, &s);
    if (!exit_code) {
        cli_signals_forward();
        exit_code = run_all(ctx, sw, &a, prompts, &s);
        /* Settings back before anything else can fail. */
        if (a.nknob && joule_restore(ctx)) {
            fprintf(stderr, "joule bench serve: restoring the GPUs' settings failed: %s\n",
                    joule_last_error());
            exit_code = 1;
        }
        cli_signals_restore();
    }
    if (s.error[0]) {
        fprintf(stderr, "joule bench serve: %s%s\n", s.error,
                a.nknob ? "; the GPUs' settings are restored" : "");
        if (!exit_code)
            exit_code = s.interrupted ? 128 + (int)cli_interrupted : 1;
    }
    if (s.pt && (s.np > 0 || !s.error[0])) {
        bench_serve_choose(&a, &s);
        int json_out = a.json && !strcmp(a.json, "-"), csv_out = a.csv && !strcmp(a.csv, "-");
        bench_serve_table(json_out || csv_out ? stderr : stdout, &a, &s);
        if (a.json && write_file(a.json, 0, &a, &s) && !exit_code)
            exit_code = 1;
        if (a.csv && write_file(a.csv, 1, &a, &s) && !exit_code)
            exit_code = 1;
        if (a.svg && write_file(a.svg, 2, &a, &s) && !exit_code)
            exit_code = 1;
    }
    for (int i = 0; i < s.np; i++)
        free(s.pt[i].ms);
    free(s.pt);
    joule_sweep_destroy(sw);
    joule_close(ctx);
    joule_prompts_free(prompts);
    return exit_code;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: joule bench serve [OPTIONS]   (joule bench serve --help)\n\n"
                     "  serve   energy per token of an OpenAI-compatible streaming LLM server,\n"
                     "          ML.ENERGY style, over power limits or SM clocks\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "serve")) {
        char name[] = "joule bench serve";
        argv[1] = name;
        return cmd_bench_serve(argc - 1, argv + 1);
    }
    fprintf(stderr, "joule bench: unknown benchmark '%s' (there is: serve)\n", argv[1]);
    return 2;
}
