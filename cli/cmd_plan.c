/* joule plan — per-stage GPU frequency plans for pipeline-parallel training
 * (Perseus-style iteration time–energy frontier). See docs/planner.md. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <joule/joule.h>
#include <joule/planner.h>

#include "commands.h"
#include "common.h"
#include "plan_report.h"
#include "progress.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: joule plan [PROFILE.csv] --stages S --microbatches M [options]\n"
        "\n"
        "Plans the GPU SM frequency of every forward and backward computation of one\n"
        "pipeline-parallel training iteration. Computes the iteration time-energy\n"
        "frontier, from every computation at its fastest setting (minimum time, with\n"
        "the energy bloat of computations off the critical path removed) to the time\n"
        "beyond which slowing further saves nothing.\n"
        "\n"
        "Input:\n"
        "  -p, --profile FILE        profile CSV with a header and rows\n"
        "                            stage,instruction,frequency,time,energy\n"
        "                            (instruction forward|backward, frequency in MHz,\n"
        "                            time in s, energy in J; Zeus's pipeline profiler)\n"
        "  -s, --stages S            number of pipeline stages (every stage 0..S-1 needs\n"
        "                            forward and backward rows)\n"
        "  -m, --microbatches M      microbatches per iteration\n"
        "      --schedule NAME       1f1b (default; synchronous 1F1B as in DeepSpeed) or\n"
        "                            gpipe (all forwards, then all backwards)\n"
        "      --quantum T           time quantum, in s or with a unit: 1ms (default),\n"
        "                            500us, 0.002s\n"
        "      --blocking-power-w W  power a GPU draws while blocked on a neighbour,\n"
        "                            charged to every idle interval (default 70)\n"
        "      --no-search           skip the discrete improvement (a local search over\n"
        "                            the real options after the exact hull solve; see\n"
        "                            docs/planner.md): faster, up to ~1%% more energy\n"
        "\n"
        "Choosing a plan (for --json, --svg and the summary):\n"
        "      --at WHICH            min-energy-no-slowdown: the plan at the minimum\n"
        "                            iteration time, without energy bloat;\n"
        "                            min-energy: the cheapest plan on the frontier\n"
        "      --deadline S          the cheapest plan whose iteration time is <= S s\n"
        "\n"
        "Output:\n"
        "  -o, --output FILE         frontier CSV: plan_id,time_s,energy_j,\n"
        "                            quantized_time_s,model_energy_j,lower_bound_j\n"
        "                            ('-' for stdout)\n"
        "      --plans DIR           one plan JSON per frontier point: DIR/plan_NNNN.json\n"
        "      --json FILE           the chosen plan as JSON (the file joule_plan_load()\n"
        "                            reads); without --at/--deadline the whole frontier\n"
        "                            ('-' for stdout)\n"
        "      --svg FILE            timeline of the chosen plan (default: the\n"
        "                            minimum-time plan): one row per stage, a block per\n"
        "                            computation coloured by its frequency\n"
        "      --frontier-svg FILE   energy against time along the frontier\n"
        "  -q, --quiet               no summary, and no progress line (shown on stderr\n"
        "                            when it is a terminal and solving takes over 2 s)\n"
        "\n"
        "Checking the frequencies against a GPU:\n"
        "      --gpu N               fail when a profile frequency is not a supported SM\n"
        "                            clock of GPU N\n"
        "      --devices SPEC        devices to open for --gpu (default: $JOULE_DEVICES\n"
        "                            or all)\n"
        "  -h, --help                this help\n"
        "\n"
        "Plans are JSON: {\"time_s\": T, \"energy_j\": E, \"stages\": [[{\"instruction\":\n"
        "\"forward\", \"microbatch\": 0, \"frequency_mhz\": 1740}, ...], ...]}. time_s and\n"
        "energy_j are recomputed from the profile by simulating the schedule;\n"
        "E = sum of energies + blocking power * (S * T - sum of times).\n"
        "\n"
        "Exit status: 0 done, 1 bad input or no plan meets the deadline, 2 bad usage.\n");
}

/* "1ms", "500us", "0.002s", "0.001" (seconds): libjoule's one duration
 * parser, as every other time option. */
static int parse_quantum(const char *s, double *out)
{
    double v;
    if (joule_parse_duration(s, 1, &v) || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Checks every profile frequency against GPU `gpu`'s supported clocks. */
static int check_gpu(const joule_planner_profile *prof, const char *devices, int gpu)
{
    joule_options *opts = NULL;
    joule_ctx *ctx = NULL;
    int rc = joule_options_create(&opts);
    if (!rc)
        rc = joule_options_set_devices(opts, devices);
    if (!rc)
        rc = joule_options_set_keeper_interval_ms(opts, -1);
    if (!rc)
        rc = joule_open(opts, &ctx);
    joule_options_destroy(opts);
    if (rc) {
        fprintf(stderr, "joule plan: --gpu %d: %s\n", gpu, joule_last_error());
        return 1;
    }
    int clocks[512];
    int n = joule_gpu_supported_clocks_mhz(ctx, gpu, clocks, 512);
    if (n < 0) {
        fprintf(stderr, "joule plan: --gpu %d: %s\n", gpu, joule_last_error());
        joule_close(ctx);
        return 1;
    }
    if (n > 512)
        n = 512;
    char label[32];
    snprintf(label, sizeof label, "gpu%d", gpu);
    rc = joule_planner_profile_check_clocks(prof, clocks, n, label);
    joule_close(ctx);
    if (rc) {
        fprintf(stderr, "joule plan: %s\n", joule_last_error());
        return 1;
    }
    return 0;
}

enum {
    OPT_SCHEDULE = 256,
    OPT_QUANTUM,
    OPT_BLOCKING,
    OPT_AT,
    OPT_DEADLINE,
    OPT_PLANS,
    OPT_JSON,
    OPT_SVG,
    OPT_FSVG,
    OPT_GPU,
    OPT_DEVICES,
    OPT_NO_SEARCH,
};

int cmd_plan(int argc, char **argv)
{
    static const struct option opts[] = {
        {"profile", required_argument, NULL, 'p'},
        {"stages", required_argument, NULL, 's'},
        {"microbatches", required_argument, NULL, 'm'},
        {"schedule", required_argument, NULL, OPT_SCHEDULE},
        {"quantum", required_argument, NULL, OPT_QUANTUM},
        {"blocking-power-w", required_argument, NULL, OPT_BLOCKING},
        {"at", required_argument, NULL, OPT_AT},
        {"deadline", required_argument, NULL, OPT_DEADLINE},
        {"output", required_argument, NULL, 'o'},
        {"plans", required_argument, NULL, OPT_PLANS},
        {"json", required_argument, NULL, OPT_JSON},
        {"svg", required_argument, NULL, OPT_SVG},
        {"frontier-svg", required_argument, NULL, OPT_FSVG},
        {"gpu", required_argument, NULL, OPT_GPU},
        {"devices", required_argument, NULL, OPT_DEVICES},
        {"no-search", no_argument, NULL, OPT_NO_SEARCH},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    joule_planner_options cfg;
    joule_planner_options_default(&cfg);
    const char *profile = NULL, *csv = NULL, *plans = NULL, *json = NULL,
               *svg = NULL, *fsvg = NULL, *devices = NULL, *at = NULL;
    double deadline = -1;
    int gpu = -1, quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:s:m:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': profile = optarg; break;
        case 's':
            if (parse_int(optarg, 1, JOULE_PLANNER_MAX_STAGES, &cfg.stages)) {
                fprintf(stderr, "joule plan: --stages '%s' is not a whole "
                        "number in 1..%d\n", optarg, JOULE_PLANNER_MAX_STAGES);
                return 2;
            }
            break;
        case 'm':
            if (parse_int(optarg, 1, JOULE_PLANNER_MAX_COMPUTATIONS, &cfg.microbatches)) {
                fprintf(stderr, "joule plan: --microbatches '%s' is not a "
                        "positive whole number\n", optarg);
                return 2;
            }
            break;
        case OPT_SCHEDULE:
            cfg.schedule = joule_schedule_parse(optarg);
            if (cfg.schedule < 0) {
                fprintf(stderr, "joule plan: --schedule '%s': expected 1f1b "
                        "or gpipe\n", optarg);
                return 2;
            }
            break;
        case OPT_QUANTUM:
            if (parse_quantum(optarg, &cfg.quantum_s)) {
                fprintf(stderr, "joule plan: --quantum '%s': expected a "
                        "positive time such as 1ms, 500us or 0.002\n", optarg);
                return 2;
            }
            break;
        case OPT_BLOCKING:
            if (parse_double(optarg, &cfg.blocking_power_w) ||
                cfg.blocking_power_w < 0) {
                fprintf(stderr, "joule plan: --blocking-power-w '%s': "
                        "expected watts >= 0\n", optarg);
                return 2;
            }
            break;
        case OPT_AT:
            if (strcmp(optarg, "min-energy-no-slowdown") &&
                strcmp(optarg, "min-energy")) {
                fprintf(stderr, "joule plan: --at '%s': expected "
                        "min-energy-no-slowdown or min-energy\n", optarg);
                return 2;
            }
            at = optarg;
            break;
        case OPT_DEADLINE:
            if (parse_double(optarg, &deadline) || !(deadline > 0)) {
                fprintf(stderr, "joule plan: --deadline '%s': expected a "
                        "positive number of seconds\n", optarg);
                return 2;
            }
            break;
        case 'o': csv = optarg; break;
        case OPT_PLANS: plans = optarg; break;
        case OPT_JSON: json = optarg; break;
        case OPT_SVG: svg = optarg; break;
        case OPT_FSVG: fsvg = optarg; break;
        case OPT_GPU:
            if (parse_int(optarg, 0, 1 << 20, &gpu)) {
                fprintf(stderr, "joule plan: --gpu '%s' is not a GPU index\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_DEVICES: devices = optarg; break;
        case 'q': quiet = 1; break;
        case OPT_NO_SEARCH: cfg.improve_budget = -1; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "joule plan: option '%s' needs a value\n",
                    argv[optind - 1]);
            return cli_try_help(argv[0]);
        default:
            if (optopt)
                fprintf(stderr, "joule plan: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "joule plan: unknown option '%s'\n",
                        argv[optind - 1]);
            return cli_try_help(argv[0]);
        }
    }
    if (optind < argc) {
        if (profile || optind + 1 < argc) {
            fprintf(stderr, "joule plan: unexpected argument '%s'\n",
                    argv[profile ? optind : optind + 1]);
            return 2;
        }
        profile = argv[optind];
    }
    if (!profile || cfg.stages < 1 || cfg.microbatches < 1) {
        fprintf(stderr, "joule plan: %s\nRun 'joule plan --help' for the "
                "options.\n",
                !profile ? "no profile CSV given (joule plan PROFILE.csv ...)"
                : cfg.stages < 1 ? "--stages S is required"
                                 : "--microbatches M is required");
        return 2;
    }
    if (at && deadline > 0) {
        fprintf(stderr, "joule plan: --at and --deadline choose a plan each; "
                "give one of them\n");
        return 2;
    }
    /* the summary goes to stderr when stdout carries data */
    int data_on_stdout = (csv && !strcmp(csv, "-")) ||
                         (json && !strcmp(json, "-"));
    FILE *info = data_on_stdout ? stderr : stdout;

    joule_planner_profile *prof = NULL;
    int rc = joule_planner_profile_load(profile, &prof);
    if (rc) {
        fprintf(stderr, "joule plan: %s\n", joule_last_error());
        return 1;
    }
    if (gpu >= 0 && check_gpu(prof, devices, gpu)) {
        joule_planner_profile_free(prof);
        return 1;
    }
    joule_planner *pl = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = joule_planner_create(prof, &cfg, &pl);
    joule_planner_profile_free(prof);
    if (!rc) {
        /* A large pipeline takes seconds: say it is working, on a terminal */
        struct cli_progress pg;
        char what[96];
        snprintf(what, sizeof what, "planning %d stages x %d microbatches", cfg.stages,
                 cfg.microbatches);
        cli_progress_start(&pg, quiet);
        cli_progress_busy(&pg, what, 2.0);
        rc = joule_planner_solve(pl);
        cli_progress_clear(&pg);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    joule_planner_report rep;
    if (!rc)
        rc = joule_planner_get_report(pl, &rep);
    if (rc) {
        fprintf(stderr, "joule plan: %s\n", joule_last_error());
        joule_planner_destroy(pl);
        return 1;
    }
    double solve_s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    int chosen = -1, status = 0;
    if (deadline > 0) {
        chosen = joule_planner_pick_deadline(pl, deadline);
        if (chosen < 0) {
            fprintf(stderr, "joule plan: %s\n", joule_last_error());
            status = 1;
            goto done;
        }
    } else if (at && !strcmp(at, "min-energy")) {
        chosen = rep.plans - 1;
    } else if (at) {
        chosen = 0;
    }
    if (csv && (rc = joule_planner_write_frontier_csv(pl, csv)))
        goto fail;
    if (plans && (rc = joule_planner_write_plans_dir(pl, plans)))
        goto fail;
    if (json) {
        rc = chosen >= 0 ? joule_planner_write_plan_json(pl, chosen, json)
                         : joule_planner_write_frontier_json(pl, json);
        if (rc)
            goto fail;
    }
    if (svg && (rc = joule_planner_write_gantt_svg(pl, chosen >= 0 ? chosen : 0, svg)))
        goto fail;
    if (fsvg && (rc = joule_planner_write_frontier_svg(pl, chosen, fsvg)))
        goto fail;
    if (!quiet)
        plan_print_summary(info, pl, &cfg, &rep, solve_s, chosen,
                           deadline > 0 ? "deadline" : at);
    goto done;
fail:
    fprintf(stderr, "joule plan: %s\n", joule_last_error());
    status = 1;
done:
    joule_planner_destroy(pl);
    return status;
}
