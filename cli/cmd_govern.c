/* joule govern: an SLO-aware SM clock governor for one LLM server
 * (DynamoLLM style, docs/inference.md). Every interval it reads the
 * server's load and latency from its Prometheus metrics, locks the
 * lowest-energy clock whose profiled p90 TTFT and ITL meet the SLOs at
 * that load (from a `joule bench serve --sm-clocks --json` profile), steps
 * up at once when the observed p90 breaks an SLO, and restores the clocks
 * on exit (SIGINT/SIGTERM). The loop and the decisions are libjoule's
 * (include/joule/inference.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/inference.h>

#include "child.h"
#include "commands.h"
#include "common.h"
#include "govern_log.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: joule govern --url URL --profile BENCH.json (--itl-slo S | --ttft-slo S)\n"
        "                    [--interval T] [--margin F] [--devices SPEC] [--gpus LIST]\n"
        "                    [--metrics-url URL] [--json FILE]\n\n"
        "Lock the GPUs' SM clock, every interval, to the lowest-energy clock whose\n"
        "profiled p90 ITL and TTFT meet the SLOs at the server's current load (requests\n"
        "running + waiting, from its Prometheus metrics), with a margin and hysteresis;\n"
        "step up at once when the p90 observed over the last interval breaks an SLO.\n"
        "The profile is the JSON of joule bench serve --sm-clocks ... --concurrency ....\n"
        "Runs until SIGINT/SIGTERM, then unlocks the clocks. Settings go through jouled\n"
        "when unprivileged.\n\n"
        "  -u, --url URL          the server (its metrics at URL/metrics)\n"
        "  -P, --profile FILE     joule bench serve --json output with --sm-clocks\n"
        "      --itl-slo S        ITL p90 target (s, or 50ms)\n"
        "      --ttft-slo S       TTFT p90 target (s, or 500ms)\n"
        "  -i, --interval T       time between decisions, e.g. 5s, 1m; a bare number\n"
        "                         is seconds (default 5 s)\n"
        "      --margin F         profiled p90 must be within (1 - F) x SLO (default 0.1)\n"
        "  -d, --devices SPEC     devices (default: $JOULE_DEVICES or all)\n"
        "  -g, --gpus LIST        the server's GPUs (default: all)\n"
        "      --metrics-url URL  default URL/metrics\n"
        "      --json FILE        one JSON object per decision ('-': stdout), after a\n"
        "                         header with the SLOs; joule analyze --govern-log FILE\n"
        "                         summarises it\n"
        "  -h, --help             this help\n");
}

static double parse_seconds(const char *s)
{
    double v; /* libjoule's one duration parser: 50ms, 1.5s, 2m; bare: s */
    if (joule_parse_duration(s, 1, &v) || v <= 0)
        return -1;
    return v;
}

struct logger {
    FILE *json;
};

static void on_decision(void *user, const joule_govern_decision *d)
{
    struct logger *l = user;
    fprintf(stderr, "joule govern: t=%.1f s load %s%.3g, ITL p90 %.3g ms, TTFT p90 %.3g ms -> "
            "%d MHz (%s)\n", d->t_s, isnan(d->load) ? "unknown " : "", d->load,
            1e3 * d->itl_p90_s, 1e3 * d->ttft_p90_s, d->sm_clock_mhz,
            joule_govern_reason_name(d->reason));
    if (!l->json)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "t_s", d->t_s);
    if (isnan(d->load))
        cJSON_AddNullToObject(o, "load");
    else
        cJSON_AddNumberToObject(o, "load", d->load);
    if (isnan(d->itl_p90_s))
        cJSON_AddNullToObject(o, "itl_p90_s");
    else
        cJSON_AddNumberToObject(o, "itl_p90_s", d->itl_p90_s);
    if (isnan(d->ttft_p90_s))
        cJSON_AddNullToObject(o, "ttft_p90_s");
    else
        cJSON_AddNumberToObject(o, "ttft_p90_s", d->ttft_p90_s);
    cJSON_AddNumberToObject(o, "sm_clock_mhz", d->sm_clock_mhz);
    cJSON_AddStringToObject(o, "reason", joule_govern_reason_name(d->reason));
    if (isnan(d->tokens))
        cJSON_AddNullToObject(o, "tokens");
    else
        cJSON_AddNumberToObject(o, "tokens", d->tokens);
    govern_log_add_estimate(o, d);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (t) {
        fprintf(l->json, "%s\n", t);
        fflush(l->json);
        free(t);
    }
}

int cmd_govern(int argc, char **argv)
{
    enum { O_ITL = 256, O_TTFT, O_MARGIN, O_MURL, O_JSON };
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"profile", required_argument, NULL, 'P'},
        {"itl-slo", required_argument, NULL, O_ITL},
        {"ttft-slo", required_argument, NULL, O_TTFT},
        {"interval", required_argument, NULL, 'i'},
        {"margin", required_argument, NULL, O_MARGIN},
        {"devices", required_argument, NULL, 'd'},
        {"gpus", required_argument, NULL, 'g'},
        {"metrics-url", required_argument, NULL, O_MURL},
        {"json", required_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *profile = NULL, *spec = NULL, *gpus_spec = NULL, *murl = NULL,
               *json = NULL;
    joule_govern_options go;
    joule_govern_options_default(&go);
    double interval = 5;
    int c;
    while ((c = getopt_long(argc, argv, "u:P:i:d:g:h", opts, NULL)) != -1) {
        double v;
        switch (c) {
        case 'u': url = optarg; break;
        case 'P': profile = optarg; break;
        case 'd': spec = optarg; break;
        case 'g': gpus_spec = optarg; break;
        case O_MURL: murl = optarg; break;
        case O_JSON: json = optarg; break;
        case O_ITL:
        case O_TTFT:
        case 'i':
            if ((v = parse_seconds(optarg)) < 0) {
                fprintf(stderr, "joule govern: --%s '%s' is not a duration above 0 like 0.05, "
                        "0.05s or 50ms\n", c == O_ITL ? "itl-slo" : c == O_TTFT ? "ttft-slo" :
                        "interval", optarg);
                return 2;
            }
            if (c == O_ITL)
                go.itl_slo_s = v;
            else if (c == O_TTFT)
                go.ttft_slo_s = v;
            else
                interval = v;
            break;
        case O_MARGIN: {
            char *end;
            v = strtod(optarg, &end);
            if (end == optarg || *end || !(v >= 0 && v < 1)) {
                fprintf(stderr, "joule govern: --margin '%s' must be in [0, 1)\n", optarg);
                return 2;
            }
            go.margin = v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (!url && !murl) {
        fprintf(stderr, "joule govern: --url is required\n");
        return 2;
    }
    if (!profile) {
        fprintf(stderr, "joule govern: --profile is required (joule bench serve --sm-clocks "
                "... --json FILE makes one)\n");
        return 2;
    }
    if (!(go.itl_slo_s > 0) && !(go.ttft_slo_s > 0)) {
        fprintf(stderr, "joule govern: give --itl-slo and/or --ttft-slo\n");
        return 2;
    }
    char metrics[1200];
    if (murl)
        snprintf(metrics, sizeof metrics, "%s", murl);
    else {
        size_t n = strlen(url);
        while (n && url[n - 1] == '/')
            n--;
        snprintf(metrics, sizeof metrics, "%.*s/metrics", (int)n, url);
    }
    joule_govern_profile *p = NULL;
    if (joule_govern_profile_load(profile, &p)) {
        fprintf(stderr, "joule govern: --profile: %s\n", joule_last_error());
        return 2;
    }
    joule_governor *g = NULL;
    if (joule_governor_create(p, &go, &g)) {
        fprintf(stderr, "joule govern: %s\n", joule_last_error());
        joule_govern_profile_free(p);
        return 2;
    }
    joule_govern_profile_free(p);
    joule_ctx *ctx = NULL;
    joule_options *o = NULL;
    if (joule_options_create(&o) || joule_options_set_devices(o, spec) ||
        joule_options_set_restore_on_exit(o, 1) || joule_open(o, &ctx)) {
        fprintf(stderr, "joule govern: %s\n", joule_last_error());
        joule_options_destroy(o);
        joule_governor_destroy(g);
        return 1;
    }
    joule_options_destroy(o);
    int gpus[256], ngpus = 0;
    if (gpus_spec) {
        ngpus = joule_parse_gpu_list(ctx, gpus_spec, gpus, 256);
        if (ngpus <= 0) {
            fprintf(stderr, "joule govern: --gpus: %s\n",
                    ngpus == 0 ? "no GPUs given" : joule_last_error());
            joule_close(ctx);
            joule_governor_destroy(g);
            return 2;
        }
    }
    struct logger l = {NULL};
    if (json && !(l.json = cli_open_output("govern", json))) {
        joule_close(ctx);
        joule_governor_destroy(g);
        return 2;
    }
    if (l.json)
        govern_log_header(l.json, &go, interval, profile, metrics);
    cli_signals_forward();
    joule_govern_summary sum;
    int rc = joule_govern_run(ctx, g, metrics, ngpus ? gpus : NULL, ngpus, interval,
                              &cli_interrupted, on_decision, &l, &sum);
    cli_signals_restore();
    if (!rc) {
        fprintf(stderr, "joule govern: %.1f s, %.4g J on the governed GPUs, %.0f tokens "
                "(%.4g J/token); the profile estimates %.1f %% less energy than the top clock "
                "for these tokens\n", sum.time_s, sum.energy_j, sum.tokens,
                sum.energy_per_token_j, 100 * sum.est_saving);
        if (l.json) {
            cJSON *root = cJSON_CreateObject(), *x = cJSON_AddObjectToObject(root, "summary");
            const struct {
                const char *k;
                double v;
            } f[] = {{"time_s", sum.time_s}, {"energy_j", sum.energy_j}, {"tokens", sum.tokens},
                     {"energy_per_token_j", sum.energy_per_token_j},
                     {"est_governed_j", sum.est_governed_j},
                     {"est_max_clock_j", sum.est_max_clock_j}, {"est_saving", sum.est_saving}};
            for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
                if (isfinite(f[i].v))
                    cJSON_AddNumberToObject(x, f[i].k, f[i].v);
                else
                    cJSON_AddNullToObject(x, f[i].k);
            }
            char *t = cJSON_PrintUnformatted(root);
            cJSON_Delete(root);
            if (t) {
                fprintf(l.json, "%s\n", t);
                free(t);
            }
        }
    }
    int exit_code = 0;
    if (rc) {
        fprintf(stderr, "joule govern: %s; the clocks are restored\n", joule_last_error());
        exit_code = 1;
    } else {
        fprintf(stderr, "joule govern: stopped; the clocks are restored\n");
    }
    if (l.json && cli_close_output("govern", l.json, json) && !exit_code)
        exit_code = 1;
    joule_close(ctx);
    joule_governor_destroy(g);
    return exit_code;
}
