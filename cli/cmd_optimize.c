/* joule optimize select: the time–energy frontier of a power-limit
 * profiling log and the limit a selector picks (docs/optimize.md). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/optimize.h>

#include "commands.h"
#include "common.h"

static void optimize_usage(FILE *out)
{
    fprintf(out,
            "usage: joule optimize select --profile FILE [--selector NAME] [--eta ETA]\n"
            "                             [--max F] [--json|--csv]\n"
            "       joule optimize bso-simulate --trace DIR --workload W --gpu G [...]\n"
            "                             (the batch-size optimizer on the Zeus traces;\n"
            "                             joule optimize bso-simulate --help)\n\n"
            "Read a power-limit profiling log (the window-log CSV: rows named\n"
            "__GlobalPowerLimitOptimizer_{W}, GPU energies summed) and print the\n"
            "time-energy frontier and the power limit the selector chooses.\n\n"
            "  -p, --profile FILE   the profiling log\n"
            "  -s, --selector NAME  energy | time | cost | slowdown (default cost);\n"
            "                       cost:ETA and slowdown:F are accepted too\n"
            "      --eta ETA        cost: minimize ETA*E + (1-ETA)*P_max*N_gpus*T, ETA in\n"
            "                       [0,1] (default 0.5); P_max is the highest limit profiled\n"
            "      --max F          slowdown: lowest energy with T <= F * T(highest limit),\n"
            "                       F >= 1 (default 1.1)\n"
            "  -j, --json           print {\"frontier\": [...], \"choice\": {...}}\n"
            "      --csv            print every limit with frontier and chosen flags\n"
            "  -h, --help           this help\n");
}

static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || isnan(v))
        return -1;
    *out = v;
    return 0;
}

static int cmd_select(int argc, char **argv)
{
    enum { OPT_ETA = 256, OPT_MAX, OPT_CSV };
    static const struct option opts[] = {
        {"profile", required_argument, NULL, 'p'},
        {"selector", required_argument, NULL, 's'},
        {"eta", required_argument, NULL, OPT_ETA},
        {"max", required_argument, NULL, OPT_MAX},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, OPT_CSV},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *profile = NULL, *selector = "cost";
    double eta = NAN, fmax = NAN;
    int json = 0, csv = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:s:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': profile = optarg; break;
        case 's': selector = optarg; break;
        case OPT_ETA:
            if (parse_num(optarg, &eta)) {
                fprintf(stderr, "joule optimize select: --eta '%s' is not a number\n", optarg);
                return 2;
            }
            break;
        case OPT_MAX:
            if (parse_num(optarg, &fmax)) {
                fprintf(stderr, "joule optimize select: --max '%s' is not a number\n", optarg);
                return 2;
            }
            break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'h': optimize_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule optimize select: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!profile) {
        fprintf(stderr, "joule optimize select: --profile FILE is required\n");
        return 2;
    }
    if (json && csv) {
        fprintf(stderr, "joule optimize select: choose one of --json and --csv\n");
        return 2;
    }
    joule_selector sel;
    int rc;
    if (strchr(selector, ':')) {
        if (!isnan(eta) || !isnan(fmax)) {
            fprintf(stderr, "joule optimize select: give the parameter once: '%s' or --eta/--max\n",
                    selector);
            return 2;
        }
        rc = joule_selector_parse(selector, &sel);
    } else {
        if (!isnan(eta) && strcmp(selector, "cost")) {
            fprintf(stderr, "joule optimize select: --eta only applies to --selector cost\n");
            return 2;
        }
        if (!isnan(fmax) && strcmp(selector, "slowdown")) {
            fprintf(stderr, "joule optimize select: --max only applies to --selector slowdown\n");
            return 2;
        }
        rc = joule_selector_make(selector, !strcmp(selector, "cost") ? eta : fmax, &sel);
    }
    if (rc) {
        fprintf(stderr, "joule optimize select: %s\n", joule_last_error());
        return 2;
    }
    joule_power_profile *prof;
    if (joule_power_profile_read(profile, &prof)) {
        fprintf(stderr, "joule optimize select: %s\n", joule_last_error());
        return 1;
    }
    int npoints, ngpus = joule_power_profile_gpus(prof);
    const joule_setting_point *points = joule_power_profile_points(prof, &npoints);
    int *front = calloc((size_t)npoints, sizeof *front);
    char *on = calloc((size_t)npoints, 1); /* on the frontier, by point */
    if (!front || !on) {
        fprintf(stderr, "joule optimize select: out of memory\n");
        free(front);
        free(on);
        joule_power_profile_free(prof);
        return 1;
    }
    int k = joule_select_point(&sel, points, npoints, 0, ngpus);
    if (k < 0) {
        fprintf(stderr, "joule optimize select: %s: %s\n", profile, joule_last_error());
        free(front);
        free(on);
        joule_power_profile_free(prof);
        return 1;
    }
    int nf = joule_frontier(points, npoints, front);
    for (int j = 0; j < nf; j++)
        on[front[j]] = 1;
    char selname[64];
    joule_selector_format(&sel, selname, sizeof selname);
    const joule_setting_point *ch = &points[k];
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "frontier");
        for (int i = 0; i < nf; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "power_limit_w", points[front[i]].knob);
            cJSON_AddNumberToObject(o, "time_s", points[front[i]].time_s);
            cJSON_AddNumberToObject(o, "energy_j", points[front[i]].energy_j);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON *o = cJSON_AddObjectToObject(root, "choice");
        cJSON_AddNumberToObject(o, "power_limit_w", ch->knob);
        cJSON_AddNumberToObject(o, "time_s", ch->time_s);
        cJSON_AddNumberToObject(o, "energy_j", ch->energy_j);
        cJSON_AddStringToObject(root, "selector", selname);
        cJSON_AddNumberToObject(root, "gpus", ngpus);
        cJSON *all = cJSON_AddArrayToObject(root, "points");
        for (int i = 0; i < npoints; i++) {
            cJSON *q = cJSON_CreateObject();
            cJSON_AddNumberToObject(q, "power_limit_w", points[i].knob);
            cJSON_AddNumberToObject(q, "time_s", points[i].time_s);
            cJSON_AddNumberToObject(q, "energy_j", points[i].energy_j);
            cJSON_AddItemToArray(all, q);
        }
        char *text = cJSON_Print(root);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    } else if (csv) {
        printf("power_limit_w,time_s,energy_j,avg_power_w,frontier,chosen\n");
        for (int i = 0; i < npoints; i++) {
            const joule_setting_point *p = &points[i];
            printf("%g,%.9g,%.9g,%.6g,%d,%d\n", p->knob, p->time_s, p->energy_j,
                   p->energy_j / p->time_s, on[i], i == k);
        }
    } else {
        printf("\n Power-limit profile '%s': %d limits, %d GPU%s (energy summed)\n\n", profile,
               npoints, ngpus, ngpus == 1 ? "" : "s");
        printf("   %8s  %12s  %14s  %10s\n", "limit W", "time s", "energy J", "power W");
        for (int i = 0; i < npoints; i++) {
            const joule_setting_point *p = &points[i];
            printf("   %8g  %12.4f  %14.3f  %10.2f  %s%s\n", p->knob, p->time_s, p->energy_j,
                   p->energy_j / p->time_s, on[i] ? "frontier" : "",
                   i == k ? "  <- chosen" : "");
        }
        printf("\n Frontier (time ascending):");
        for (int j = 0; j < nf; j++)
            printf(" %g W", points[front[j]].knob);
        printf("\n Choice (%s): %g W  (%.4f s, %.3f J)\n\n", selname, ch->knob, ch->time_s,
               ch->energy_j);
    }
    free(front);
    free(on);
    joule_power_profile_free(prof);
    return 0;
}

int cmd_optimize(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        optimize_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* getopt names the program in its messages: "joule optimize select: ..." */
    if (!strcmp(argv[1], "select")) {
        char name[] = "joule optimize select";
        argv[1] = name;
        return cmd_select(argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "bso-simulate")) {
        char name[] = "joule optimize bso-simulate";
        argv[1] = name;
        return cmd_bso_simulate(argc - 1, argv + 1);
    }
    fprintf(stderr, "joule optimize: unknown subcommand '%s' (known: select, bso-simulate)\n",
            argv[1]);
    return 2;
}
