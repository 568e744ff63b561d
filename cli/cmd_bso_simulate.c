/* joule optimize bso-simulate: the batch-size optimizer replayed on the
 * Zeus NSDI'23 traces (docs/optimize.md). Uses only <joule/bso.h>. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/bso.h>

#include "commands.h"
#include "common.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: joule optimize bso-simulate --trace DIR --workload W --gpu G\n"
            "           [--eta ETA] [--beta B] [--seed N] [--recurrences N]\n"
            "           [--prune-factor F] [--json FILE|-]\n\n"
            "Replay recurrences of a training job under the batch-size optimizer on the\n"
            "traces published with Zeus (NSDI'23): each run samples a recorded training\n"
            "run of its batch size, the first run at a batch size profiles the power\n"
            "limits during its first epoch, and a run stops early past B x the least\n"
            "cost. Prints the default, the oracle, the mean of the last 10 recurrences\n"
            "and everything spent, against the default.\n\n"
            "  -t, --trace DIR        folder with summary_train.csv, summary_power_<gpu>.csv\n"
            "  -w, --workload W       ");
    for (int i = 0; joule_bso_sim_workload(i); i++)
        fprintf(out, "%s%s", i ? ", " : "", joule_bso_sim_workload(i));
    fprintf(out,
            "\n"
            "  -g, --gpu G            v100, a40, p100 or rtx6000 (the power files present)\n"
            "      --eta ETA          cost = ETA*E + (1-ETA)*MaxPower*T, in [0,1] (default 0.5)\n"
            "      --beta B           stop a run past B x the least cost, >= 1 or inf\n"
            "                         (default 2)\n"
            "      --seed N           seed of the sampled runs and the bandit (default 1)\n"
            "      --recurrences N    default 2 x |batch sizes| x |power limits|\n"
            "      --prune-factor F   pruning also stops at a size converging at F x the\n"
            "                         round's best cost (default 1.5; 0: as Zeus exactly)\n"
            "  -j, --json FILE|-      write the report as JSON (- : standard output; the\n"
            "                         table then goes to standard error)\n"
            "  -h, --help             this help\n");
}

static int parse_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || isnan(v)) {
        fprintf(stderr, "joule optimize bso-simulate: %s: '%s' is not a number\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_count(const char *opt, const char *s, unsigned long long max,
                       unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || *s == '-' || v > max) {
        fprintf(stderr, "joule optimize bso-simulate: %s: '%s' is not a whole number in 0..%llu\n",
                opt, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

static void print_table(FILE *out, const joule_bso_sim *s, const char *workload, const char *gpu)
{
    int bs, rec = joule_bso_sim_recurrences(s), runs = joule_bso_sim_run_count(s);
    double pl, eta, tta, l_eta, l_tta, l_pct, e, de, c_pct;
    joule_bso_sim_savings(s, &l_eta, &l_tta, &l_pct, &e, &de, &c_pct);
    fprintf(out, "%s on %s: %d recurrences, %d runs\n\n", workload, gpu, rec, runs);
    fprintf(out, "%-22s %10s %8s %14s %12s %8s\n", "", "batch", "limit_w", "energy_j", "time_s",
            "saved");
    joule_bso_sim_point(s, "default", &bs, &pl, &eta, &tta);
    double def_eta = eta;
    fprintf(out, "%-22s %10d %8.0f %14.4g %12.4g %8s\n", "default", bs, pl, eta, tta, "");
    joule_bso_sim_point(s, "oracle", &bs, &pl, &eta, &tta);
    fprintf(out, "%-22s %10d %8.0f %14.4g %12.4g %7.1f%%\n", "oracle", bs, pl, eta, tta,
            100.0 * (1.0 - eta / def_eta));
    fprintf(out, "%-22s %10s %8s %14.4g %12.4g %7.1f%%\n", "joule, last 10 (mean)", "", "", l_eta,
            l_tta, l_pct);
    fprintf(out, "%-22s %10s %8s %14.4g %12s %7.1f%%\n", "joule, cumulative", "", "", e, "", c_pct);
    fprintf(out, "%-22s %10s %8s %14.4g %12s\n", "default, cumulative", "", "", de, "");
}

int cmd_bso_simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trace", required_argument, 0, 't'},  {"workload", required_argument, 0, 'w'},
        {"gpu", required_argument, 0, 'g'},    {"eta", required_argument, 0, 'e'},
        {"beta", required_argument, 0, 'b'},   {"seed", required_argument, 0, 's'},
        {"recurrences", required_argument, 0, 'r'}, {"prune-factor", required_argument, 0, 'p'},
        {"json", required_argument, 0, 'j'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *trace = NULL, *workload = NULL, *gpu = NULL, *json = NULL;
    double eta = 0.5, beta = 2.0, prune = 1.5;
    unsigned long long seed = 1, recurrences = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:w:g:j:h", opts, NULL)) != -1) {
        switch (c) {
            case 't': trace = optarg; break;
            case 'w': workload = optarg; break;
            case 'g': gpu = optarg; break;
            case 'j': json = optarg; break;
            case 'e':
                if (parse_double("--eta", optarg, &eta) < 0)
                    return 2;
                break;
            case 'b':
                if (parse_double("--beta", optarg, &beta) < 0)
                    return 2;
                break;
            case 'p':
                if (parse_double("--prune-factor", optarg, &prune) < 0)
                    return 2;
                break;
            case 's':
                if (parse_count("--seed", optarg, UINT64_MAX, &seed) < 0)
                    return 2;
                break;
            case 'r':
                if (parse_count("--recurrences", optarg, 1000000, &recurrences) < 0)
                    return 2;
                break;
            case 'h': usage(stdout); return 0;
            default: return cli_try_help(argv[0]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule optimize bso-simulate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!trace || !workload || !gpu) {
        fprintf(stderr, "joule optimize bso-simulate: --trace, --workload and --gpu are required "
                        "(see --help)\n");
        return 2;
    }
    joule_bso_sim *s = NULL;
    int rc = joule_bso_sim_create(trace, workload, gpu, &s);
    if (rc == 0)
        rc = joule_bso_sim_set_eta(s, eta);
    if (rc == 0)
        rc = joule_bso_sim_set_beta(s, beta);
    if (rc == 0)
        rc = joule_bso_sim_set_seed(s, (uint64_t)seed);
    if (rc == 0)
        rc = joule_bso_sim_set_recurrences(s, (int)recurrences);
    if (rc == 0)
        rc = joule_bso_sim_set_prune_factor(s, prune);
    if (rc == 0)
        rc = joule_bso_sim_run(s);
    if (rc < 0) {
        fprintf(stderr, "joule optimize bso-simulate: %s\n", joule_last_error());
        joule_bso_sim_destroy(s);
        return 1;
    }
    bool to_stdout = json && strcmp(json, "-") == 0;
    print_table(to_stdout ? stderr : stdout, s, workload, gpu);
    if (json) {
        FILE *f = to_stdout ? stdout : fopen(json, "w");
        if (!f) {
            fprintf(stderr, "joule optimize bso-simulate: cannot write %s: %s\n", json,
                    strerror(errno));
            joule_bso_sim_destroy(s);
            return 1;
        }
        rc = joule_bso_sim_write_json(s, f);
        if (!to_stdout && fclose(f) != 0 && rc == 0)
            rc = -1;
        if (rc < 0) {
            fprintf(stderr, "joule optimize bso-simulate: %s: %s\n", json, joule_last_error());
            joule_bso_sim_destroy(s);
            return 1;
        }
    }
    joule_bso_sim_destroy(s);
    return 0;
}
