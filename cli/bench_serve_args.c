/* `joule bench serve` arguments. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_serve.h"
#include "common.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: joule bench serve --url URL --model NAME --prompts FILE.jsonl\n"
        "           [--concurrency 8,16,32] [--requests N]\n"
        "           [--power-limits W,... | --sm-clocks MHz,...] [--devices SPEC] [--gpus LIST]\n"
        "           [--itl-slo S] [--ttft-slo S] [--min-steady S]\n"
        "           [--json FILE] [--csv FILE] [--svg FILE]\n\n"
        "Measure the energy of an OpenAI-compatible streaming LLM server (vLLM, SGLang,\n"
        "TRT-LLM, llama.cpp) the way the ML.ENERGY benchmark does: keep CONCURRENCY\n"
        "streaming /v1/completions requests in flight and measure the GPUs over the\n"
        "steady state (from the moment CONCURRENCY requests have their first token until\n"
        "N - CONCURRENCY - 1 have finished). Per configuration: TTFT and ITL p50/p90/p99,\n"
        "output tokens/s, tokens/s per user, energy per token and per request, tokens/s\n"
        "per watt, average power, and the validity checks. Then the frontier of energy\n"
        "per token against ITL p90, and the configuration of least energy per token that\n"
        "meets the SLOs. Settings are applied through joule's control API (through jouled\n"
        "when $JOULE_DAEMON is set) and restored at the end, on failure and on Ctrl-C.\n\n"
        "  -u, --url URL            server, e.g. http://localhost:8000\n"
        "  -m, --model NAME         the model the server serves\n"
        "  -P, --prompts FILE       JSONL: {\"prompt\": \"...\", \"max_tokens\": N} per line\n"
        "      --api API            completions (default: /v1/completions) or chat\n"
        "                           (/v1/chat/completions, the prompt as a user message)\n"
        "  -c, --concurrency LIST   requests in flight, e.g. 8,16,32 (default 8)\n"
        "  -n, --requests N         requests per configuration (default: one per prompt,\n"
        "                           prompts reused in order when N is larger)\n"
        "  -p, --power-limits SPEC  watts: a list 700,500,300 or HIGH:LOW:STEP\n"
        "  -s, --sm-clocks SPEC     locked SM clocks in MHz, same forms\n"
        "  -d, --devices SPEC       devices (default: $JOULE_DEVICES or all)\n"
        "  -g, --gpus LIST          the server's GPUs: set and measured (default: all)\n"
        "      --itl-slo S          ITL p90 target for the recommendation (s, or 50ms)\n"
        "      --ttft-slo S         TTFT p90 target for the recommendation (s, or 500ms)\n"
        "      --min-steady S       validity: shortest steady window (s, or 2m; default\n"
        "                           30 s)\n"
        "      --power-bounds LO:HI validity: plausible average W per GPU (default:\n"
        "                           above 0 and at most 1.1 x its maximum power limit)\n"
        "      --timeout S          one request's limit (s, or 10m; default 600 s)\n"
        "      --metrics-url URL    the server's Prometheus metrics, scraped every second\n"
        "                           and kept in the JSON (default: URL/metrics)\n"
        "      --no-metrics         do not scrape them\n"
        "      --no-ignore-eos      do not send \"ignore_eos\": true (vLLM's flag that\n"
        "                           makes every request stream exactly max_tokens)\n"
        "      --json FILE          JSON report ('-': stdout)\n"
        "      --csv FILE           one CSV row per configuration ('-': stdout)\n"
        "      --svg FILE           energy per token against ITL p90, frontier marked\n"
        "  -h, --help               this help\n\n"
        "The table goes to stdout (to stderr when a report goes to stdout). Exit status:\n"
        "0 done, 1 a request or a setting failed (what was measured is still reported),\n"
        "2 bad arguments, 130 interrupted.\n");
}

/* "1.5", "1.5s", "50ms" -> seconds; -1 when bad. */
static double parse_seconds(const char *s)
{
    double v; /* libjoule's one duration parser: 50ms, 1.5s, 2m; bare: s */
    if (joule_parse_duration(s, 1, &v) || v < 0)
        return -1;
    return v;
}

static int parse_conc(const char *spec, int *out, int cap)
{
    int n = 0;
    const char *p = spec;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 100000 || (*end && *end != ',') || n == cap)
            return -1;
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n ? n : -1;
}

int bench_serve_parse_args(int argc, char **argv, struct bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->min_steady_s = 30;
    a->timeout_s = 600;
    a->ignore_eos = 1;
    a->conc[0] = 8;
    a->nconc = 1;
    enum { O_ITL = 256, O_TTFT, O_STEADY, O_BOUNDS, O_TIMEOUT, O_NOEOS, O_JSON, O_CSV, O_SVG,
           O_MURL, O_NOMETRICS, O_API };
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"model", required_argument, NULL, 'm'},
        {"prompts", required_argument, NULL, 'P'},
        {"concurrency", required_argument, NULL, 'c'},
        {"requests", required_argument, NULL, 'n'},
        {"power-limits", required_argument, NULL, 'p'},
        {"sm-clocks", required_argument, NULL, 's'},
        {"devices", required_argument, NULL, 'd'},
        {"gpus", required_argument, NULL, 'g'},
        {"itl-slo", required_argument, NULL, O_ITL},
        {"ttft-slo", required_argument, NULL, O_TTFT},
        {"min-steady", required_argument, NULL, O_STEADY},
        {"power-bounds", required_argument, NULL, O_BOUNDS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"no-ignore-eos", no_argument, NULL, O_NOEOS},
        {"metrics-url", required_argument, NULL, O_MURL},
        {"no-metrics", no_argument, NULL, O_NOMETRICS},
        {"api", required_argument, NULL, O_API},
        {"json", required_argument, NULL, O_JSON},
        {"csv", required_argument, NULL, O_CSV},
        {"svg", required_argument, NULL, O_SVG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pl = NULL, *clk = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:m:P:c:n:p:s:d:g:h", opts, NULL)) != -1) {
        double v;
        switch (c) {
        case 'u': a->url = optarg; break;
        case 'm': a->model = optarg; break;
        case 'P': a->prompts = optarg; break;
        case 'c':
            if ((a->nconc = parse_conc(optarg, a->conc, BENCH_MAX_LIST)) < 0) {
                fprintf(stderr, "joule bench serve: --concurrency '%s' is not a list of whole "
                        "numbers from 1 to 100000 like 8,16,32\n", optarg);
                return 2;
            }
            break;
        case 'n': {
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (end == optarg || *end || errno || n < 2 || n > 10000000) {
                fprintf(stderr, "joule bench serve: --requests '%s' is not a whole number from "
                        "2 to 10000000\n", optarg);
                return 2;
            }
            a->requests = (int)n;
            break;
        }
        case 'p': pl = optarg; break;
        case 's': clk = optarg; break;
        case 'd': a->spec = optarg; break;
        case 'g': a->gpus_spec = optarg; break;
        case O_ITL:
        case O_TTFT:
        case O_STEADY:
        case O_TIMEOUT:
            if ((v = parse_seconds(optarg)) < 0 || (c != O_STEADY && v == 0)) {
                fprintf(stderr, "joule bench serve: --%s '%s' is not a duration like 0.05, "
                        "0.05s or 50ms%s\n", c == O_ITL ? "itl-slo" : c == O_TTFT ? "ttft-slo" :
                        c == O_STEADY ? "min-steady" : "timeout", optarg,
                        c == O_STEADY ? "" : " above 0");
                return 2;
            }
            if (c == O_ITL)
                a->itl_slo_s = v;
            else if (c == O_TTFT)
                a->ttft_slo_s = v;
            else if (c == O_STEADY)
                a->min_steady_s = v;
            else
                a->timeout_s = v;
            break;
        case O_BOUNDS: {
            double lo, hi;
            char tail;
            if (sscanf(optarg, "%lf:%lf%c", &lo, &hi, &tail) != 2 || !isfinite(lo) ||
                !isfinite(hi) || lo < 0 || !(hi > lo)) {
                fprintf(stderr, "joule bench serve: --power-bounds '%s' is not LO:HI watts "
                        "with 0 <= LO < HI\n", optarg);
                return 2;
            }
            a->min_power_w = lo;
            a->max_power_w = hi;
            break;
        }
        case O_NOEOS: a->ignore_eos = 0; break;
        case O_MURL: a->metrics_url = optarg; break;
        case O_NOMETRICS: a->no_metrics = 1; break;
        case O_API:
            if (strcmp(optarg, "completions") && strcmp(optarg, "chat")) {
                fprintf(stderr, "joule bench serve: --api '%s': give completions or chat\n",
                        optarg);
                return 2;
            }
            a->chat = !strcmp(optarg, "chat");
            break;
        case O_JSON: a->json = optarg; break;
        case O_CSV: a->csv = optarg; break;
        case O_SVG: a->svg = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule bench serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    const char *missing = !a->url ? "--url" : !a->model ? "--model" : !a->prompts ? "--prompts"
                                                                                 : NULL;
    if (missing) {
        fprintf(stderr, "joule bench serve: %s is required (see joule bench serve --help)\n",
                missing);
        return 2;
    }
    if (pl && clk) {
        fprintf(stderr, "joule bench serve: give at most one of --power-limits and --sm-clocks\n");
        return 2;
    }
    if (pl || clk) {
        char err[256];
        a->clocks = clk != NULL;
        a->nknob = cli_parse_settings(pl ? pl : clk, a->knobs, BENCH_MAX_LIST, err, sizeof err);
        if (a->nknob < 0) {
            fprintf(stderr, "joule bench serve: %s %s\n", pl ? "--power-limits" : "--sm-clocks",
                    err);
            return 2;
        }
        for (int i = 0; a->clocks && i < a->nknob; i++)
            if (a->knobs[i] != floor(a->knobs[i])) {
                fprintf(stderr, "joule bench serve: --sm-clocks %g is not a whole number of "
                        "MHz\n", a->knobs[i]);
                return 2;
            }
    }
    int to_stdout = (a->json && !strcmp(a->json, "-")) + (a->csv && !strcmp(a->csv, "-"));
    if (to_stdout > 1 || (a->svg && !strcmp(a->svg, "-") && to_stdout)) {
        fprintf(stderr, "joule bench serve: only one report can go to stdout ('-')\n");
        return 2;
    }
    return -1;
}
