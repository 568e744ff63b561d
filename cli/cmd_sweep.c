/* joule sweep: run a command once per power limit (or locked SM clock),
 * highest setting first, measure each run as `joule run` does, and report
 * the table, the time–energy frontier and each selector's choice
 * (docs/optimize.md).
 *
 * Settings are restored at the end, when CMD fails, and on SIGINT/SIGTERM
 * (the signal is passed to CMD, the sweep stops, restores and reports what
 * it measured). A failed CMD marks its setting failed and the sweep goes on.
 *
 * Steady metric: CMD may append lines `joule:work N` (N units done since
 * its last line) to the file named in $JOULE_PROGRESS_FD; the table then
 * shows s/unit and J/unit. With simulated GPUs the sweep drives their load
 * (--sim-load, default 1) while CMD runs, and when CMD reports no work, counts the
 * simulated GPUs' own work (epochs in trace mode) as the units.
 *
 * Each setting's window must know its energy to ±1 %: a CMD too short for
 * that runs again in the same window (up to 20 runs or 120 s) and the
 * figures are per run. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "child.h"
#include "common.h"
#include "sweep_plot.h"
#include <joule/optimize.h>

#define MAX_SETTINGS 1024
#define MAX_GPUS 64
/* A setting's window repeats CMD until its energy is known to this
 * fraction, within these caps. */
#define SWEEP_TARGET 0.01
#define SWEEP_MAX_RUNS 20
#define SWEEP_MAX_S 120.0

static void sweep_usage(FILE *out)
{
    fprintf(out,
        "usage: joule sweep (--power-limits SPEC | --sm-clocks SPEC) [--devices SPEC]\n"
        "                   [--gpus LIST] [-r N] [--cooldown S] [--json|--csv] [-o FILE]\n"
        "                   [--plot FILE.svg] [--eta ETA] [--max F] [--sim-load L] -- CMD...\n\n"
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
        "      --cooldown S         seconds to wait between settings (default 0)\n"
        "  -j, --json               JSON report\n"
        "      --csv                one CSV row per setting\n"
        "  -o, --output FILE        write the report to FILE ('-': stdout; default: stderr)\n"
        "      --plot FILE.svg      energy vs time, frontier highlighted\n"
        "      --eta ETA            cost selector's eta (default 0.5)\n"
        "      --max F              slowdown selector's factor (default 1.1)\n"
        "      --sim-load L         load of simulated GPUs while CMD runs (default 1)\n"
        "  -h, --help               this help\n\n"
        "CMD may append lines 'joule:work N' to the file named in $JOULE_PROGRESS_FD to\n"
        "be measured per unit of work (J/unit, s/unit) instead of per run.\n");
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (!cli_interrupted && nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* The largest setting a sweep takes: far above any GPU's power limit (W)
 * or clock (MHz), and well inside an int. */
#define MAX_KNOB 1e6

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* "300:100:25" (either order) or "300,250,200"; sorted descending. Every
 * number is finite and every setting in (0, MAX_KNOB]. */
static int parse_settings(const char *spec, double *out, int cap, char *err, size_t errlen)
{
    int n = 0;
    double a, b, step;
    char tail;
    if (strchr(spec, ':')) {
        if (sscanf(spec, "%lf:%lf:%lf%c", &a, &b, &step, &tail) != 3 || !isfinite(a) ||
            !isfinite(b) || !isfinite(step) || !(step > 0)) {
            snprintf(err, errlen, "'%s' is not HIGH:LOW:STEP with finite numbers and STEP > 0",
                     spec);
            return -1;
        }
        double hi = fmax(a, b), lo = fmin(a, b);
        if ((hi - lo) / step + 1 > cap) {
            snprintf(err, errlen, "'%s' gives more than %d settings", spec, cap);
            return -1;
        }
        for (double v = hi; v >= lo - 1e-9 * hi; v = hi - (++n) * step)
            out[n] = v;
    } else {
        const char *p = spec;
        while (*p) {
            char *end;
            errno = 0;
            double v = strtod(p, &end);
            if (end == p || errno || !isfinite(v) || (*end && *end != ',')) {
                snprintf(err, errlen, "'%s' is not a list of numbers like 300,250,200", spec);
                return -1;
            }
            if (n == cap) {
                snprintf(err, errlen, "'%s' gives more than %d settings", spec, cap);
                return -1;
            }
            out[n++] = v;
            p = *end ? end + 1 : end;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "'%s' gives no settings", spec);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!(out[i] > 0 && out[i] <= MAX_KNOB)) {
            snprintf(err, errlen, "setting %g in '%s' must be above 0 and at most %g", out[i],
                     spec, MAX_KNOB);
            return -1;
        }
    }
    qsort(out, (size_t)n, sizeof *out, cmp_desc);
    for (int i = 1; i < n; i++)
        if (out[i] == out[i - 1]) {
            snprintf(err, errlen, "setting %g appears twice in '%s'", out[i], spec);
            return -1;
        }
    return n;
}

struct setting {
    double knob;
    int runs;           /* successful runs */
    int window_runs;    /* CMD runs in one window (for ±1 %) */
    int failed;
    char error[256];
    double *time_s, *energy_j, *units; /* [repeat] */
    double t, e, t_sd, e_sd, u;        /* means */
};

/* Sum of the "joule:work N" lines CMD wrote; -1 if none. A line whose N
 * is not a finite number >= 0, or a sum past the largest double, is -2
 * with a message in err naming the line. */
static double read_progress(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    double total = 0;
    int seen = 0, lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (strncmp(p, "joule:work", 10))
            continue; /* other lines are CMD's own */
        char *end;
        double v = strtod(p + 10, &end);
        if (end == p + 10 || end[strspn(end, " \t\r\n")] || !isfinite(v) || v < 0 ||
            !isfinite(total + v)) {
            snprintf(err, errlen, "$JOULE_PROGRESS_FD line %d: '%.*s' is not 'joule:work N' "
                     "with N a finite number >= 0 (or the total overflows)", lineno,
                     (int)strcspn(p, "\r\n"), p);
            free(line);
            fclose(f);
            return -2;
        }
        total += v;
        seen = 1;
    }
    free(line);
    fclose(f);
    return seen ? total : -1;
}

struct sweep {
    joule_ctx *ctx;
    int clocks;          /* 0: power limits, 1: SM clocks */
    int gpus[MAX_GPUS];
    int dev[MAX_GPUS];   /* context index of each GPU */
    int ngpus;
    int nsim;            /* how many of them are simulated */
    double sim_load;
    double p_max_w;      /* largest max power limit among the GPUs */
    int warned;          /* that short runs are repeated in one window */
};

static int apply(struct sweep *sw, double knob, char *err, size_t errlen)
{
    for (int i = 0; i < sw->ngpus; i++) {
        int rc = sw->clocks ? joule_gpu_lock_clocks_mhz(sw->ctx, sw->gpus[i], (int)knob,
                                                        (int)knob)
                            : joule_gpu_set_power_limit_w(sw->ctx, sw->gpus[i], knob);
        if (rc) {
            snprintf(err, errlen, "cannot apply %g %s to gpu%d: %s", knob,
                     sw->clocks ? "MHz" : "W", sw->gpus[i], joule_last_error());
            return rc;
        }
    }
    return 0;
}

static void set_sim_load(struct sweep *sw, double load)
{
    for (int i = 0; i < sw->ngpus; i++)
        if (joule_device_caps(joule_device_at(sw->ctx, sw->dev[i])) & JOULE_CAP_SIMULATED)
            joule_sim_set_load(sw->ctx, sw->gpus[i], load);
}

static double sim_work(struct sweep *sw)
{
    double s = 0;
    int n = 0;
    for (int i = 0; i < sw->ngpus; i++) {
        double w;
        if ((joule_device_caps(joule_device_at(sw->ctx, sw->dev[i])) & JOULE_CAP_SIMULATED) &&
            joule_sim_work_done(sw->ctx, sw->gpus[i], &w) == 0) {
            s += w;
            n++;
        }
    }
    return n ? s / n : 0;
}

/* The open sweep window's energy over the swept GPUs so far, and its
 * uncertainty; non-zero when a GPU failed. */
static int peek_energy(struct sweep *sw, double *t, double *e, double *bound)
{
    joule_result *res = NULL;
    if (joule_window_peek(sw->ctx, "joule sweep", 0, &res))
        return -1;
    *t = joule_result_time_s(res);
    *e = *bound = 0;
    int failed = 0;
    for (int i = 0; i < sw->ngpus; i++) {
        int s;
        *e += joule_result_energy_j(res, sw->dev[i], NULL, &s);
        *bound += joule_result_uncertainty_j(res, sw->dev[i]);
        failed |= s != 0;
    }
    joule_result_free(res);
    return failed;
}

/* Whether one more run of CMD goes into this setting's window: its
 * energy is not yet known to ±1 %, and the cap is not reached. Says so
 * once, with numbers. */
static int needs_more(struct sweep *sw, int runs)
{
    double t, e, bound;
    if (runs >= SWEEP_MAX_RUNS || peek_energy(sw, &t, &e, &bound) || !(e > 0) ||
        bound <= SWEEP_TARGET * e || t >= SWEEP_MAX_S)
        return 0;
    if (!sw->warned) {
        fprintf(stderr,
                "joule sweep: one run of %.3g s measures only to ±%.2g %% of its energy; "
                "each setting runs CMD again in the same window (up to %d runs or %g s) "
                "to reach ±%g %%, and reports per run\n",
                t / runs, 100 * bound / e, SWEEP_MAX_RUNS, SWEEP_MAX_S, 100 * SWEEP_TARGET);
        sw->warned = 1;
    }
    return 1;
}

/* One setting's window: CMD once, or as many times as it takes to know
 * its energy to ±1 % (per run: *t, *e, *units). Returns the last wait
 * status, or -1 when CMD could not start. */
static int measure(struct sweep *sw, char **cmd, const char *progress, double *t, double *e,
                   double *units, int *runs, char *err, size_t errlen)
{
    FILE *pf = fopen(progress, "w");
    if (pf)
        fclose(pf);
    double w0 = 0, w1 = 0;
    if (sw->nsim) {
        set_sim_load(sw, sw->sim_load);
        w0 = sim_work(sw);
    }
    joule_result *res = NULL;
    if (joule_window_begin(sw->ctx, "joule sweep", JOULE_WINDOW_RESTART)) {
        snprintf(err, errlen, "%s", joule_last_error());
        return -1;
    }
    int exec_errno, status;
    *runs = 0;
    do {
        status = cli_run_child(cmd, "JOULE_PROGRESS_FD", progress, &exec_errno);
        ++*runs;
    } while (status == 0 && !cli_interrupted && needs_more(sw, *runs));
    if (joule_window_end(sw->ctx, "joule sweep", 0, &res) && !res) {
        snprintf(err, errlen, "%s", joule_last_error());
        return -1;
    }
    if (sw->nsim) {
        w1 = sim_work(sw);
        set_sim_load(sw, 0);
    }
    if (status < 0) {
        snprintf(err, errlen, "cannot run '%s': %s", cmd[0], strerror(exec_errno));
        joule_result_free(res);
        return -1;
    }
    *t = joule_result_time_s(res) / *runs;
    *e = 0;
    for (int i = 0; i < sw->ngpus; i++) {
        int q, s;
        double v = joule_result_energy_j(res, sw->dev[i], &q, &s);
        if (s) {
            snprintf(err, errlen, "gpu%d failed: %s", sw->gpus[i], joule_last_error());
            *e = NAN;
        } else {
            *e += v / *runs;
        }
    }
    joule_result_free(res);
    double u = read_progress(progress, err, errlen);
    if (u == -1 && sw->nsim)
        u = w1 - w0;
    if (u > 0 && !(isfinite(*t / u) && isfinite(*e / u))) {
        snprintf(err, errlen, "%g units of work give a time or energy per unit that is not a "
                 "finite number", u);
        u = -2;
    }
    *units = u == -2 ? NAN : u < 0 ? u : u / *runs; /* per run, like *t and *e */
    return status;
}

static int parse_gpus(const char *s, int *out, int cap)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 1 << 20 || (*end && *end != ',') || n == cap)
            return -1;
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

int cmd_sweep(int argc, char **argv)
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
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *pl_spec = NULL, *clk_spec = NULL, *spec = NULL, *gpus_spec = NULL,
               *output = NULL, *plot = NULL;
    int repeat = 1, json = 0, csv = 0, c;
    double cooldown = 0, eta = 0.5, fmax = 1.1, sim_load = 1.0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:c:d:g:r:jo:h", opts, NULL)) != -1) {
        char *end = NULL;
        errno = 0;
        switch (c) {
        case 'p': pl_spec = optarg; break;
        case 'c': clk_spec = optarg; break;
        case 'd': spec = optarg; break;
        case 'g': gpus_spec = optarg; break;
        case 'r': {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || errno || v < 1 || v > 10000) {
                fprintf(stderr, "joule sweep: -r '%s' is not a whole number from 1 to 10000\n",
                        optarg);
                return 2;
            }
            repeat = (int)v;
            break;
        }
        case OPT_COOLDOWN:
            cooldown = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(cooldown >= 0 && cooldown <= 86400)) {
                fprintf(stderr, "joule sweep: --cooldown '%s': give 0 to 86400 seconds\n", optarg);
                return 2;
            }
            break;
        case OPT_ETA:
            eta = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(eta >= 0 && eta <= 1)) {
                fprintf(stderr, "joule sweep: --eta '%s' must be a number in [0, 1]\n", optarg);
                return 2;
            }
            break;
        case OPT_MAX:
            fmax = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(fmax >= 1) || isinf(fmax)) {
                fprintf(stderr, "joule sweep: --max '%s' must be a slowdown factor >= 1\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_SIMLOAD:
            sim_load = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(sim_load >= 0 && sim_load <= 1)) {
                fprintf(stderr, "joule sweep: --sim-load '%s' must be in [0, 1]\n", optarg);
                return 2;
            }
            break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'o': output = optarg; break;
        case OPT_PLOT: plot = optarg; break;
        case 'h': sweep_usage(stdout); return 0;
        default: sweep_usage(stderr); return 2;
        }
    }
    if (!pl_spec == !clk_spec) {
        fprintf(stderr, "joule sweep: give exactly one of --power-limits and --sm-clocks\n");
        return 2;
    }
    if (json && csv) {
        fprintf(stderr, "joule sweep: choose one of --json and --csv\n");
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "joule sweep: missing command to run (usage: joule sweep "
                        "--power-limits 300:100:25 -- CMD [ARGS...])\n");
        return 2;
    }
    char **cmd = argv + optind;
    double knobs[MAX_SETTINGS];
    char err[512];
    int nset = parse_settings(pl_spec ? pl_spec : clk_spec, knobs, MAX_SETTINGS, err, sizeof err);
    if (nset < 0) {
        fprintf(stderr, "joule sweep: %s %s\n", pl_spec ? "--power-limits" : "--sm-clocks", err);
        return 2;
    }
    if (clk_spec)
        for (int i = 0; i < nset; i++)
            if (knobs[i] != floor(knobs[i])) {
                fprintf(stderr, "joule sweep: --sm-clocks %g is not a whole number of MHz\n",
                        knobs[i]);
                return 2;
            }

    struct sweep sw = {0};
    sw.clocks = clk_spec != NULL;
    sw.sim_load = sim_load;
    if (gpus_spec) {
        sw.ngpus = parse_gpus(gpus_spec, sw.gpus, MAX_GPUS);
        if (sw.ngpus <= 0) {
            fprintf(stderr, "joule sweep: --gpus '%s' is not a list of GPU indices like 0,1\n",
                    gpus_spec);
            return 2;
        }
    }
    FILE *out = cli_open_report("sweep", output);
    if (!out)
        return 2;
    joule_options *o = NULL;
    if (joule_options_create(&o) || joule_options_set_devices(o, spec) ||
        joule_options_set_restore_on_exit(o, 1) || joule_open(o, &sw.ctx)) {
        fprintf(stderr, "joule sweep: %s\n", joule_last_error());
        joule_options_destroy(o);
        cli_close_output("sweep", out, output);
        return 1;
    }
    joule_options_destroy(o);
    int exit_code = 0;
    struct setting *st = NULL;
    char tmpdir[] = "/tmp/joule-sweep-XXXXXX", progress[64] = "";

    /* The GPUs to set. */
    if (!gpus_spec)
        for (int i = 0; i < joule_device_count(sw.ctx) && sw.ngpus < MAX_GPUS; i++)
            if (joule_device_kind(joule_device_at(sw.ctx, i)) == JOULE_KIND_GPU)
                sw.gpus[sw.ngpus++] = joule_device_index(joule_device_at(sw.ctx, i));
    if (sw.ngpus == 0) {
        fprintf(stderr, "joule sweep: no GPU among the devices '%s'\n", spec ? spec : "all");
        exit_code = 1;
        goto out;
    }
    for (int g = 0; g < sw.ngpus; g++) {
        sw.dev[g] = -1;
        for (int i = 0; i < joule_device_count(sw.ctx); i++) {
            const joule_device *d = joule_device_at(sw.ctx, i);
            if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == sw.gpus[g])
                sw.dev[g] = i;
        }
        if (sw.dev[g] < 0) {
            fprintf(stderr, "joule sweep: --gpus: no gpu%d among the devices\n", sw.gpus[g]);
            exit_code = 2;
            goto out;
        }
        const joule_device *d = joule_device_at(sw.ctx, sw.dev[g]);
        sw.nsim += (joule_device_caps(d) & JOULE_CAP_SIMULATED) != 0;
        double mn, mx;
        if (joule_gpu_get_power_limit_w(sw.ctx, sw.gpus[g], NULL, &mn, &mx, NULL, NULL) == 0) {
            if (mx > sw.p_max_w)
                sw.p_max_w = mx;
            if (!sw.clocks)
                for (int k = 0; k < nset; k++)
                    if (knobs[k] < mn || knobs[k] > mx) {
                        fprintf(stderr, "joule sweep: power limit %g W is outside gpu%d (%s)'s "
                                        "range %g-%g W\n", knobs[k], sw.gpus[g],
                                joule_device_name(d), mn, mx);
                        exit_code = 2;
                        goto out;
                    }
        } else if (!sw.clocks) {
            fprintf(stderr, "joule sweep: gpu%d: %s\n", sw.gpus[g], joule_last_error());
            exit_code = 1;
            goto out;
        }
        if (sw.clocks) {
            int mhz[512];
            int n = joule_gpu_supported_clocks_mhz(sw.ctx, sw.gpus[g], mhz, 512);
            if (n > 0)
                for (int k = 0; k < nset; k++)
                    if (knobs[k] < mhz[n - 1] || knobs[k] > mhz[0]) {
                        fprintf(stderr, "joule sweep: SM clock %g MHz is outside gpu%d (%s)'s "
                                        "range %d-%d MHz\n", knobs[k], sw.gpus[g],
                                joule_device_name(d), mhz[n - 1], mhz[0]);
                        exit_code = 2;
                        goto out;
                    }
        }
    }
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "joule sweep: cannot create a temporary folder: %s\n", strerror(errno));
        exit_code = 1;
        goto out;
    }
    snprintf(progress, sizeof progress, "%s/progress", tmpdir);
    /* Settings are compared to ±1 %: learn the counters' timing first
     * (about a second) so the first setting's window needs no extra runs. */
    joule_learn_timing(sw.ctx, 2.0);

    st = calloc((size_t)nset, sizeof *st);
    for (int k = 0; k < nset; k++) {
        st[k].knob = knobs[k];
        st[k].time_s = calloc((size_t)repeat, sizeof(double));
        st[k].energy_j = calloc((size_t)repeat, sizeof(double));
        st[k].units = calloc((size_t)repeat, sizeof(double));
    }

    cli_signals_forward();

    int done = 0;
    for (int k = 0; k < nset && !cli_interrupted; k++) {
        if (k > 0 && cooldown > 0)
            sleep_s(cooldown);
        if (cli_interrupted)
            break;
        if (apply(&sw, knobs[k], st[k].error, sizeof st[k].error)) {
            st[k].failed = 1;
            fprintf(stderr, "joule sweep: %s\n", st[k].error);
            done = k + 1;
            continue;
        }
        for (int r = 0; r < repeat && !cli_interrupted; r++) {
            double t = 0, e = 0, u = -1;
            char rerr[256] = "";
            int status = measure(&sw, cmd, progress, &t, &e, &u, &st[k].window_runs, rerr,
                                 sizeof rerr);
            if (status < 0) {
                st[k].failed = 1;
                snprintf(st[k].error, sizeof st[k].error, "%s", rerr);
                fprintf(stderr, "joule sweep: %g %s: %s\n", knobs[k], sw.clocks ? "MHz" : "W",
                        rerr);
                break;
            }
            int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
            if (cli_interrupted)
                break; /* a run cut short is not a measurement */
            if (code != 0 || isnan(e) || isnan(u)) {
                st[k].failed = 1;
                if (code != 0)
                    snprintf(st[k].error, sizeof st[k].error, "command exited with status %d",
                             code);
                else
                    snprintf(st[k].error, sizeof st[k].error, "%s", rerr);
                fprintf(stderr, "joule sweep: %g %s: %s; going on with the next setting\n",
                        knobs[k], sw.clocks ? "MHz" : "W", st[k].error);
                break;
            }
            st[k].time_s[st[k].runs] = t;
            st[k].energy_j[st[k].runs] = e;
            st[k].units[st[k].runs] = u;
            st[k].runs++;
        }
        if (!cli_interrupted)
            done = k + 1;
        /* A failed command may have left the GPU in any state: restore now
         * so nothing lingers if the sweep stops here. */
        if (st[k].failed)
            joule_restore(sw.ctx);
    }
    if (sw.nsim)
        set_sim_load(&sw, 0);
    int restore_rc = joule_restore(sw.ctx);
    cli_signals_restore();
    if (restore_rc)
        fprintf(stderr, "joule sweep: restoring the GPUs' settings failed: %s\n",
                joule_last_error());

    /* Summaries. A setting is measured when it has runs and did not fail. */
    int per_unit = 1, nok = 0;
    for (int k = 0; k < nset; k++) {
        struct setting *s = &st[k];
        if (s->failed)
            s->runs = 0; /* partial repeats of a failed setting are not reported */
        if (!s->runs)
            continue;
        nok++;
        s->t = cli_mean(s->time_s, s->runs, 1);
        s->e = cli_mean(s->energy_j, s->runs, 1);
        s->t_sd = cli_stddev(s->time_s, s->runs, 1);
        s->e_sd = cli_stddev(s->energy_j, s->runs, 1);
        s->u = cli_mean(s->units, s->runs, 1);
        for (int r = 0; r < s->runs; r++)
            if (!(s->units[r] > 0))
                per_unit = 0;
    }
    if (nok == 0)
        per_unit = 0;
    /* Points: per unit (mean of per-run rates) or per run. */
    joule_setting_point *pts = calloc((size_t)nset, sizeof *pts);
    int *pidx = calloc((size_t)nset, sizeof *pidx), np = 0;
    for (int k = 0; k < nset; k++) {
        struct setting *s = &st[k];
        if (!s->runs)
            continue;
        double t = s->t, e = s->e;
        if (per_unit) {
            double ts[10000], es[10000];
            for (int r = 0; r < s->runs; r++) {
                ts[r] = s->time_s[r] / s->units[r];
                es[r] = s->energy_j[r] / s->units[r];
            }
            t = cli_mean(ts, s->runs, 1);
            e = cli_mean(es, s->runs, 1);
        }
        pts[np] = (joule_setting_point){s->knob, t, e};
        pidx[np++] = k;
    }
    int base = np > 0 ? 0 : -1; /* highest measured setting */
    int *front = calloc((size_t)nset, sizeof *front);
    int nf = 0;
    static const char *const selnames[4] = {"energy", "time", "cost", "slowdown"};
    int choice[4] = {-1, -1, -1, -1};
    char selerr[512] = "";
    if (np >= 2 && joule_points_check(pts, np, "sweep") == 0) {
        nf = joule_frontier(pts, np, front);
        joule_selector sels[4] = {{JOULE_SELECT_ENERGY, 0}, {JOULE_SELECT_TIME, 0},
                                        {JOULE_SELECT_COST, eta}, {JOULE_SELECT_SLOWDOWN, fmax}};
        for (int s = 0; s < 4 && nf; s++)
            if ((choice[s] = joule_select_point(&sels[s], pts, np, sw.p_max_w, sw.ngpus)) < 0) {
                snprintf(selerr, sizeof selerr, "%s", joule_last_error());
                nf = 0; /* no frontier or choice is reported then */
                choice[0] = choice[1] = choice[2] = choice[3] = -1;
            }
    } else if (np >= 2) {
        snprintf(selerr, sizeof selerr, "%s", joule_last_error());
    } else {
        snprintf(selerr, sizeof selerr, "fewer than two settings were measured");
    }
    const char *unit = sw.clocks ? "MHz" : "W";
    const char *knob_key = sw.clocks ? "sm_clock_mhz" : "power_limit_w";

    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *cmdj = cJSON_AddArrayToObject(root, "command");
        for (int i = 0; cmd[i]; i++)
            cJSON_AddItemToArray(cmdj, cJSON_CreateString(cmd[i]));
        cJSON_AddStringToObject(root, "knob", knob_key);
        cJSON_AddNumberToObject(root, "repeat", repeat);
        cJSON_AddStringToObject(root, "metric", per_unit ? "per_unit" : "per_run");
        cJSON *g = cJSON_AddArrayToObject(root, "gpus");
        for (int i = 0; i < sw.ngpus; i++)
            cJSON_AddItemToArray(g, cJSON_CreateNumber(sw.gpus[i]));
        cJSON *arr = cJSON_AddArrayToObject(root, "settings");
        for (int k = 0; k < nset && k < done; k++) {
            struct setting *s = &st[k];
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, o2);
            cJSON_AddNumberToObject(o2, knob_key, s->knob);
            cJSON_AddStringToObject(o2, "status", s->failed ? "failed" : "ok");
            if (s->failed) {
                cJSON_AddStringToObject(o2, "error", s->error);
                continue;
            }
            cJSON_AddNumberToObject(o2, "runs", s->runs);
            cJSON_AddNumberToObject(o2, "runs_per_window", s->window_runs);
            cJSON_AddNumberToObject(o2, "time_s", s->t);
            cJSON_AddNumberToObject(o2, "time_s_stddev", s->t_sd);
            cJSON_AddNumberToObject(o2, "energy_j", s->e);
            cJSON_AddNumberToObject(o2, "energy_j_stddev", s->e_sd);
            cJSON_AddNumberToObject(o2, "avg_power_w", s->e / s->t);
            if (s->u > 0) {
                cJSON_AddNumberToObject(o2, "work_units", s->u);
                for (int i = 0; i < np; i++)
                    if (pidx[i] == k && per_unit) {
                        cJSON_AddNumberToObject(o2, "time_s_per_unit", pts[i].time_s);
                        cJSON_AddNumberToObject(o2, "energy_j_per_unit", pts[i].energy_j);
                    }
            }
            if (base >= 0) {
                for (int i = 0; i < np; i++)
                    if (pidx[i] == k) {
                        cJSON_AddNumberToObject(o2, "slowdown", pts[i].time_s / pts[base].time_s);
                        cJSON_AddNumberToObject(o2, "saving",
                                                1.0 - pts[i].energy_j / pts[base].energy_j);
                    }
            }
        }
        cJSON *fr = cJSON_AddArrayToObject(root, "frontier");
        for (int j = 0; j < nf; j++) {
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddNumberToObject(o2, knob_key, pts[front[j]].knob);
            cJSON_AddNumberToObject(o2, "time_s", pts[front[j]].time_s);
            cJSON_AddNumberToObject(o2, "energy_j", pts[front[j]].energy_j);
            cJSON_AddItemToArray(fr, o2);
        }
        cJSON *ch = cJSON_AddObjectToObject(root, "choices");
        for (int s = 0; s < 4; s++) {
            if (choice[s] < 0) {
                cJSON_AddNullToObject(ch, selnames[s]);
                continue;
            }
            cJSON *o2 = cJSON_AddObjectToObject(ch, selnames[s]);
            cJSON_AddNumberToObject(o2, knob_key, pts[choice[s]].knob);
            cJSON_AddNumberToObject(o2, "time_s", pts[choice[s]].time_s);
            cJSON_AddNumberToObject(o2, "energy_j", pts[choice[s]].energy_j);
            if (s == 2)
                cJSON_AddNumberToObject(o2, "eta", eta);
            if (s == 3)
                cJSON_AddNumberToObject(o2, "max_slowdown", fmax);
        }
        if (selerr[0])
            cJSON_AddStringToObject(root, "choice_error", selerr);
        cJSON_AddBoolToObject(root, "interrupted", cli_interrupted != 0);
        cJSON_AddBoolToObject(root, "simulated", sw.nsim > 0);
        char *text = cJSON_Print(root);
        fprintf(out, "%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    } else if (csv) {
        fprintf(out, "%s,status,runs,time_s,time_s_stddev,energy_j,energy_j_stddev,avg_power_w,"
                     "work_units,time_s_per_unit,energy_j_per_unit,slowdown,saving,frontier\n",
                knob_key);
        for (int k = 0; k < nset && k < done; k++) {
            struct setting *s = &st[k];
            if (s->failed) {
                fprintf(out, "%g,failed,0,,,,,,,,,,,0\n", s->knob);
                continue;
            }
            int i = 0;
            while (i < np && pidx[i] != k)
                i++;
            int on = 0;
            for (int j = 0; j < nf; j++)
                on |= front[j] == i;
            fprintf(out, "%g,ok,%d,%.6f,%.6f,%.6f,%.6f,%.6f,", s->knob, s->runs, s->t, s->t_sd,
                    s->e, s->e_sd, s->e / s->t);
            if (per_unit)
                fprintf(out, "%.9g,%.9g,%.9g,", s->u, pts[i].time_s, pts[i].energy_j);
            else
                fprintf(out, ",,,");
            fprintf(out, "%.6f,%.6f,%d\n", pts[i].time_s / pts[base].time_s,
                    1.0 - pts[i].energy_j / pts[base].energy_j, on);
        }
    } else {
        char cmdtext[1024] = "";
        for (int i = 0; cmd[i]; i++) {
            size_t used = strlen(cmdtext);
            snprintf(cmdtext + used, sizeof cmdtext - used, "%s%s", i ? " " : "", cmd[i]);
        }
        fprintf(out, "\n Sweep of '%s' over %s on %d GPU%s", cmdtext,
                sw.clocks ? "SM clocks" : "power limits", sw.ngpus, sw.ngpus == 1 ? "" : "s");
        if (repeat > 1)
            fprintf(out, " (%d runs each)", repeat);
        fprintf(out, ":\n\n   %9s %12s %14s %10s %9s %8s",
                sw.clocks ? "clock MHz" : "limit W", "time s", "energy J", "power W",
                "slowdown", "saving");
        if (per_unit)
            fprintf(out, " %12s %14s", "s/unit", "J/unit");
        fputc('\n', out);
        for (int k = 0; k < nset && k < done; k++) {
            struct setting *s = &st[k];
            if (s->failed) {
                fprintf(out, "   %9g   failed: %s\n", s->knob, s->error);
                continue;
            }
            int i = 0;
            while (i < np && pidx[i] != k)
                i++;
            fprintf(out, "   %9g %12.4f %14.3f %10.2f %8.3fx %7.1f%%", s->knob, s->t, s->e,
                    s->e / s->t, pts[i].time_s / pts[base].time_s,
                    100.0 * (1.0 - pts[i].energy_j / pts[base].energy_j));
            if (per_unit)
                fprintf(out, " %12.6g %14.6g", pts[i].time_s, pts[i].energy_j);
            if (repeat > 1 && s->t > 0 && s->e > 0)
                fprintf(out, "  (+- %.2f%% time, +- %.2f%% energy)", 100 * s->t_sd / s->t,
                        100 * s->e_sd / s->e);
            fputc('\n', out);
        }
        if (nf > 0) {
            fprintf(out, "\n Frontier (time ascending):");
            for (int j = 0; j < nf; j++)
                fprintf(out, " %g %s", pts[front[j]].knob, unit);
            fprintf(out, "\n Choices:\n");
            for (int s = 0; s < 4; s++) {
                char label[64];
                if (s == 2)
                    snprintf(label, sizeof label, "cost (eta %g)", eta);
                else if (s == 3)
                    snprintf(label, sizeof label, "slowdown (max %gx)", fmax);
                else
                    snprintf(label, sizeof label, "%s", selnames[s]);
                fprintf(out, "   %-20s %g %s\n", label, pts[choice[s]].knob, unit);
            }
        } else {
            fprintf(out, "\n No frontier: %s\n", selerr);
        }
        fprintf(out, "\n Slowdown and saving are against the highest setting measured%s.\n",
                per_unit ? "; per unit of work" : "");
        if (sw.nsim)
            fprintf(out, " Simulated GPUs ran at load %g while the command ran%s.\n", sim_load,
                        per_unit ? "; their work (epochs in trace mode) is the unit unless the "
                                   "command reported its own" : "");
    }
    if (plot && np > 0) {
        double *kk = calloc((size_t)np, sizeof *kk), *tt = calloc((size_t)np, sizeof *tt),
               *ee = calloc((size_t)np, sizeof *ee);
        for (int i = 0; i < np; i++) {
            kk[i] = pts[i].knob;
            tt[i] = pts[i].time_s;
            ee[i] = pts[i].energy_j;
        }
        FILE *pf = cli_open_output("sweep", plot);
        if (pf)
            sweep_plot_svg(pf, "joule sweep: energy vs time", unit,
                           per_unit ? "time per unit (s)" : "time (s)",
                           per_unit ? "energy per unit (J)" : "energy (J)", kk, tt, ee, np,
                           front, nf, choice[2]);
        if (!pf || cli_close_output("sweep", pf, plot))
            exit_code = 1;
        free(kk);
        free(tt);
        free(ee);
    }
    free(pts);
    free(pidx);
    free(front);
    if (cli_interrupted)
        exit_code = 128 + (int)cli_interrupted;
    else if (nok == 0)
        exit_code = 1;
    else if (restore_rc)
        exit_code = 1;

out:
    if (progress[0]) {
        unlink(progress);
        rmdir(tmpdir);
    }
    for (int k = 0; st && k < nset; k++) {
        free(st[k].time_s);
        free(st[k].energy_j);
        free(st[k].units);
    }
    free(st);
    if (cli_close_output("sweep", out, output) && exit_code == 0)
        exit_code = 1;
    joule_close(sw.ctx);
    return exit_code;
}
