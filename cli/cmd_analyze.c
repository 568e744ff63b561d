/* joule analyze TRACE [--json]: energy and power statistics per device
 * and for the sum of all GPUs, including the peak moving-average power at
 * the timescales power provisioning cares about. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/trace.h>

#include "analyze_swing.h"
#include "commands.h"
#include "common.h"
#include "govern_log.h"
#include "hourly_report.h"

static const char *const scale_names[JOULE_TRACE_TIMESCALES] = {"10ms", "100ms", "1s", "10s",
                                                                "60s"};

static void analyze_usage(FILE *out)
{
    fprintf(out,
            "usage: joule analyze TRACE [--json] [--carbon FILE|G_PER_KWH] [--price FILE|PRICE_PER_KWH]\n"
            "                     [--pue X]\n"
            "       joule analyze --govern-log LOG [--json]\n\n"
            "Per device and for the sum of all GPUs (what a shared power feed carries\n"
            "when GPUs move in lockstep): energy; mean, p50, p95 and p99 power (time\n"
            "weighted); peak instant power; and the peak moving-average power over\n"
            "10 ms, 100 ms, 1 s, 10 s and 60 s where the trace resolves that timescale.\n"
            "Then its power swings: peak-to-trough swing (W, %% of TDP), the largest ramps\n"
            "(W/s between adjacent 100 ms windows) and the share of the power's variance\n"
            "in the 0.1-20 Hz band utilities watch, as far as the sampling resolves it.\n\n"
            "  -j, --json  machine-readable output\n"
            "      --carbon FILE|G_PER_KWH      emissions (gCO2e) per UTC hour: an Electricity\n"
            "                                   Maps hourly CSV, a WattTime JSON (.json) or a constant\n"
            "      --price FILE|PRICE_PER_KWH   cost per UTC hour: a CSV with time and price\n"
            "                                   columns, or a constant\n"
            "      --pue X     power usage effectiveness the energy is multiplied by (default 1)\n"
            "      --csv       with --carbon/--price: the hourly table as CSV, one row per\n"
            "                  UTC hour and device\n"
            "      --govern-log LOG  summarise a `joule govern --json` log instead: period,\n"
            "                  decisions, time at each clock, SLO violations and the energy\n"
            "                  saved against a fixed top clock (a LOG given as TRACE is\n"
            "                  recognised too)\n"
            "  -h, --help  this help\n");
}

struct entry {
    char label[40], name[128];
    joule_trace_stats st;
};

static void print_text(const char *path, const joule_trace *t, const struct entry *e, int n)
{
    printf("\n Power analysis of '%s' (%.3f s, %d device%s):\n\n", path, joule_trace_duration_s(t),
           joule_trace_device_count(t), joule_trace_device_count(t) == 1 ? "" : "s");
    printf(" %-8s %11s %9s %9s %9s %9s %9s |%s\n", "", "", "", "", "", "", "",
           "  peak of the moving-average power, W, over");
    printf(" %-8s %11s %9s %9s %9s %9s %9s |", "device", "energy_j", "mean_w", "p50_w", "p95_w",
           "p99_w", "peak_w");
    for (int k = 0; k < JOULE_TRACE_TIMESCALES; k++)
        printf(" %8s", scale_names[k]);
    printf("\n");
    for (int i = 0; i < n; i++) {
        const joule_trace_stats *s = &e[i].st;
        printf(" %-8s %11.3f %9.2f %9.2f %9.2f %9.2f %9.2f |", e[i].label, s->energy_j,
               s->mean_power_w, s->p50_power_w, s->p95_power_w, s->p99_power_w, s->peak_power_w);
        for (int k = 0; k < JOULE_TRACE_TIMESCALES; k++)
            if (isnan(s->peak_avg_power_w[k]))
                printf(" %8s", "-");
            else
                printf(" %8.2f", s->peak_avg_power_w[k]);
        printf("\n");
    }
    printf("\n '-': the trace is shorter than that timescale or sampled more coarsely.\n");
}

static void add_stats(cJSON *o, const joule_trace_stats *s)
{
    cJSON_AddNumberToObject(o, "duration_s", s->duration_s);
    cJSON_AddNumberToObject(o, "energy_j", s->energy_j);
    cJSON_AddNumberToObject(o, "mean_power_w", s->mean_power_w);
    cJSON_AddNumberToObject(o, "p50_power_w", s->p50_power_w);
    cJSON_AddNumberToObject(o, "p95_power_w", s->p95_power_w);
    cJSON_AddNumberToObject(o, "p99_power_w", s->p99_power_w);
    cJSON_AddNumberToObject(o, "peak_power_w", s->peak_power_w);
    cJSON *m = cJSON_AddObjectToObject(o, "peak_moving_average_power_w");
    for (int k = 0; k < JOULE_TRACE_TIMESCALES; k++)
        if (isnan(s->peak_avg_power_w[k]))
            cJSON_AddNullToObject(m, scale_names[k]);
        else
            cJSON_AddNumberToObject(m, scale_names[k], s->peak_avg_power_w[k]);
}

static int print_json(const char *path, const joule_trace *t, const struct entry *e, int n,
                      int have_sum, const struct hourly_table *ht, const struct hourly_args *ha)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "trace", path);
    cJSON_AddNumberToObject(root, "duration_s", joule_trace_duration_s(t));
    if (joule_trace_torn_line(t))
        cJSON_AddNumberToObject(root, "ignored_torn_line", joule_trace_torn_line(t));
    else
        cJSON_AddNullToObject(root, "ignored_torn_line");
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < n - have_sum; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(devs, o);
        cJSON_AddStringToObject(o, "label", e[i].label);
        cJSON_AddStringToObject(o, "name", e[i].name);
        add_stats(o, &e[i].st);
    }
    if (have_sum)
        add_stats(cJSON_AddObjectToObject(root, "gpu_sum"), &e[n - 1].st);
    else
        cJSON_AddNullToObject(root, "gpu_sum");
    if (ht)
        hourly_report_json(root, ht, ha);
    int rc = analyze_swing_json(path, t, root);
    char *text = rc ? NULL : cJSON_Print(root);
    if (text)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

int cmd_analyze(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"carbon", required_argument, NULL, 'C'},
        {"price", required_argument, NULL, 'P'},
        {"pue", required_argument, NULL, 'U'},
        {"govern-log", required_argument, NULL, 'G'},
        {"csv", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int json = 0, c;
    struct hourly_args ha = {.pue = 1.0};
    const char *govern_log = NULL;
    int csv = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'C': ha.carbon = optarg; break;
        case 'G': govern_log = optarg; break;
        case 'V': csv = 1; break;
        case 'P': ha.price = optarg; break;
        case 'U':
            if (hourly_parse_pue("analyze", optarg, &ha.pue))
                return 2;
            ha.pue_given = 1;
            break;
        case 'h': analyze_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (!govern_log && optind == argc - 1 && govern_log_detect(argv[optind]))
        govern_log = argv[optind];
    if (govern_log && (hourly_wanted(&ha) || optind < argc - (govern_log == argv[argc - 1]))) {
        fprintf(stderr, "joule analyze: --govern-log takes no TRACE, --carbon or --price\n");
        return 2;
    }
    if (govern_log)
        return govern_log_analyze(govern_log, json);
    if (csv && (json || !hourly_wanted(&ha))) {
        fprintf(stderr, "joule analyze: --csv is the hourly table of --carbon/--price (not "
                "with --json)\n");
        return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "joule analyze: expected one TRACE file\n");
        return cli_try_help(argv[0]);
    }
    const char *path = argv[optind];
    int load_rc = hourly_args_load("analyze", &ha);
    if (load_rc)
        return load_rc;
    joule_trace *t;
    if (joule_trace_read(path, &t)) {
        fprintf(stderr, "joule analyze: %s\n", joule_last_error());
        hourly_args_free(&ha);
        return 1;
    }
    cli_warn_torn_trace("analyze", path, t);
    int ndev = joule_trace_device_count(t);
    struct entry *e = calloc((size_t)ndev + 1, sizeof *e);
    int n = 0, ngpu = 0, rc = e ? 0 : JOULE_ENOMEM;
    for (int i = 0; i < ndev && !rc; i++) {
        if (!joule_trace_device_has_power(t, i))
            continue;
        snprintf(e[n].label, sizeof e[n].label, "%s", joule_trace_device_label(t, i));
        snprintf(e[n].name, sizeof e[n].name, "%s", joule_trace_device_name(t, i));
        rc = joule_trace_device_stats(t, i, &e[n].st);
        n++;
    }
    int have_sum = 0;
    int sum_rc = rc ? rc : joule_trace_gpu_sum_stats(t, &e[n].st, &ngpu);
    if (sum_rc == 0) {
        snprintf(e[n].label, sizeof e[n].label, "gpu-sum");
        snprintf(e[n].name, sizeof e[n].name, "sum of %d GPU%s", ngpu, ngpu == 1 ? "" : "s");
        n++;
        have_sum = 1;
    } else if (sum_rc != JOULE_ENOENT) {
        rc = sum_rc; /* no GPU is no sum; anything else is an error */
    }
    struct hourly_table ht = {0};
    const char **labels = hourly_wanted(&ha) ? calloc((size_t)ndev + 1, sizeof *labels) : NULL;
    if (!rc && hourly_wanted(&ha) && (!labels || hourly_table_from_trace(&ht, t, labels)))
        rc = labels ? -1 : JOULE_ENOMEM;
    if (!rc && n == 0) {
        fprintf(stderr, "joule analyze: %s has no power samples\n", path);
        rc = -1;
    } else if (rc) {
        fprintf(stderr, "joule analyze: %s: %s\n", path,
                e ? joule_last_error() : "out of memory");
    } else if (csv) {
        hourly_report_csv(stdout, &ht, &ha);
    } else if (json) {
        rc = print_json(path, t, e, n, have_sum, hourly_wanted(&ha) ? &ht : NULL, &ha);
    } else {
        print_text(path, t, e, n);
        rc = analyze_swing_text(path, t);
        if (hourly_wanted(&ha))
            hourly_report_text(stdout, &ht, &ha);
    }
    hourly_table_free(&ht);
    free(labels);
    hourly_args_free(&ha);
    free(e);
    joule_trace_free(t);
    return rc ? 1 : 0;
}
