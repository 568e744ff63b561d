/* `joule sweep` arguments: the options and the settings to sweep. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sweep.h"

static void sweep_usage(FILE *out)
{
    fprintf(out,
        "usage: joule sweep (--power-limits SPEC | --sm-clocks SPEC) [--devices SPEC]\n"
        "                   [--gpus LIST] [-r N] [--cooldown T] [--json|--csv] [-o FILE]\n"
        "                   [--plot FILE.svg] [--eta ETA] [--max F] [--sim-load L] [-q]\n"
        "                   -- CMD...\n\n"
        "Run CMD once per setting, highest first, with the setting applied to the GPUs,\n"
        "and report time, energy, average power, slowdown and saving against the\n"
        "highest setting, the time-energy frontier and the choice of every selector.\n"
        "A CMD too short to know its energy to +-1 %% runs again in the same window\n"
        "(up to 20 runs or 120 s); the figures are then per run.\n"
        "Settings are restored at the end, on Ctrl-C and when CMD fails; a failed run\n"
        "marks its setting failed and the sweep goes on. Energy is that of the swept\n"
        "GPUs (the devices the setting changes); CPU and DRAM are not part of it.\n\n"
        "  -p, --power-limits SPEC  watts: HIGH:LOW:STEP (either order) or a list 300,250\n"
        "  -c, --sm-clocks SPEC     locked SM clocks in MHz, same forms\n"
        "  -d, --devices SPEC       devices (default: $JOULE_DEVICES or all)\n"
        "  -g, --gpus LIST          GPUs to set and measure, e.g. 0,1 (default: all)\n"
        "  -r, --repeat N           runs per setting; mean and spread are reported\n"
        "      --cooldown T         wait between settings, e.g. 30s, 2m; a bare number\n"
        "                           is seconds (default 0)\n"
        "  -j, --json               JSON report (to stdout)\n"
        "      --csv                one CSV row per setting (to stdout)\n"
        "  -o, --output FILE        write the report to FILE ('-': stdout; default: stdout\n"
        "                           for --json/--csv, stderr for the text report)\n"
        "      --plot FILE.svg      energy vs time, frontier highlighted\n"
        "      --eta ETA            cost selector's eta (default 0.5)\n"
        "      --max F              slowdown selector's factor (default 1.1)\n"
        "      --sim-load L         load of simulated GPUs while CMD runs (default 1)\n"
        "  -q, --quiet              no progress line (shown on stderr only when it is a\n"
        "                           terminal: setting, run i/n, elapsed time, ETA)\n"
        "  -h, --help               this help\n\n"
        "CMD may append lines 'joule:work N' to the file named in $JOULE_PROGRESS_FD to\n"
        "be measured per unit of work (J/unit, s/unit) instead of per run.\n\n"
        "Streams: CMD's stdout and stderr are joule's own. The text report goes to\n"
        "stderr; --json/--csv go to stdout at the end. When CMD writes to stdout, use\n"
        "-o FILE to keep the report apart.\n");
}

int sweep_parse_args(int argc, char **argv, struct sweep_args *a)
{
    enum { OPT_CSV = 256, OPT_COOLDOWN, OPT_PLOT, OPT_ETA, OPT_MAX, OPT_SIMLOAD };
    static const struct option opts[] = {
        {"power-limits", required_argument, NULL, 'p'},
        {"sm-clocks", required_argument, NULL, 'c'},
        {"devices", required_argument, NULL, 'd'},
        {"gpus", required_argument, NULL, 'g'},
        {"repeat", required_argument, NULL, 'r'},
        {"cooldown", required_argument, NULL, OPT_COOLDOWN},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, OPT_CSV},
        {"output", required_argument, NULL, 'o'},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"eta", required_argument, NULL, OPT_ETA},
        {"max", required_argument, NULL, OPT_MAX},
        {"sim-load", required_argument, NULL, OPT_SIMLOAD},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *pl_spec = NULL, *clk_spec = NULL;
    int c;
    *a = (struct sweep_args){.repeat = 1, .eta = 0.5, .fmax = 1.1, .sim_load = 1.0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:c:d:g:r:jo:qh", opts, NULL)) != -1) {
        char *end = NULL;
        errno = 0;
        switch (c) {
        case 'p': pl_spec = optarg; break;
        case 'c': clk_spec = optarg; break;
        case 'd': a->spec = optarg; break;
        case 'g': a->gpus_spec = optarg; break;
        case 'r': {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || errno || v < 1 || v > 10000) {
                fprintf(stderr, "joule sweep: -r '%s' is not a whole number from 1 to 10000\n",
                        optarg);
                return 2;
            }
            a->repeat = (int)v;
            break;
        }
        case OPT_COOLDOWN:
            if (cli_parse_duration("sweep", "--cooldown", optarg, 1, 0, 86400, &a->cooldown))
                return 2;
            break;
        case OPT_ETA:
            a->eta = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(a->eta >= 0 && a->eta <= 1)) {
                fprintf(stderr, "joule sweep: --eta '%s' must be a number in [0, 1]\n", optarg);
                return 2;
            }
            break;
        case OPT_MAX:
            a->fmax = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(a->fmax >= 1) || isinf(a->fmax)) {
                fprintf(stderr, "joule sweep: --max '%s' must be a slowdown factor >= 1\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_SIMLOAD:
            a->sim_load = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(a->sim_load >= 0 && a->sim_load <= 1)) {
                fprintf(stderr, "joule sweep: --sim-load '%s' must be in [0, 1]\n", optarg);
                return 2;
            }
            break;
        case 'j': a->json = 1; break;
        case OPT_CSV: a->csv = 1; break;
        case 'o': a->output = optarg; break;
        case OPT_PLOT: a->plot = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'h': sweep_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (!pl_spec == !clk_spec) {
        fprintf(stderr, "joule sweep: give exactly one of --power-limits and --sm-clocks\n");
        return 2;
    }
    if (a->json && a->csv) {
        fprintf(stderr, "joule sweep: choose one of --json and --csv\n");
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "joule sweep: missing command to run (usage: joule sweep "
                        "--power-limits 300:100:25 -- CMD [ARGS...])\n");
        return 2;
    }
    a->cmd = argv + optind;
    a->clocks = clk_spec != NULL;
    char err[512];
    a->nset = cli_parse_settings(pl_spec ? pl_spec : clk_spec, a->knobs, SWEEP_MAX_SETTINGS, err,
                             sizeof err);
    if (a->nset < 0) {
        fprintf(stderr, "joule sweep: %s %s\n", pl_spec ? "--power-limits" : "--sm-clocks", err);
        return 2;
    }
    if (clk_spec)
        for (int i = 0; i < a->nset; i++)
            if (a->knobs[i] != floor(a->knobs[i])) {
                fprintf(stderr, "joule sweep: --sm-clocks %g is not a whole number of MHz\n",
                        a->knobs[i]);
                return 2;
            }

    return -1;
}
