/* joule run: like `perf stat`, run a command and report time and energy
 * per device. Signals sent to joule are passed on to the command, and
 * joule exits with the command's status (128+signal if it was killed). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "child.h"
#include "common.h"
#include "job_report.h"
#include "run_hourly.h"
#include "run_report.h"
#include "run_trace.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: joule run [--devices SPEC] [-r N] [--json|--csv] [-o FILE]\n"
            "                 [--trace FILE [--interval T]] [--job-report DIR]\n"
            "                 [--carbon FILE|G] [--price FILE|P] [--pue X] [--] CMD [ARGS...]\n\n"
            "Run CMD and report elapsed time, energy per device with totals, and average\n"
            "power, like `perf stat`. Device energy is whole-device: it includes every\n"
            "process using the device, not only CMD. SIGINT and SIGTERM sent to joule are\n"
            "passed to CMD; joule exits with CMD's status (128+N if CMD died of signal N).\n\n"
            "  -d, --devices SPEC  devices to measure (default: $JOULE_DEVICES or all),\n"
            "                      e.g. gpu:0,1  cpu  sim:2:h100  gpu+cpu\n"
            "  -r, --repeat N      run CMD N times; print mean and stddev\n"
            "  -j, --json          print the report as JSON (to stdout)\n"
            "      --csv           print one CSV row per run and device (to stdout)\n"
            "  -o, --output FILE   write the report to FILE ('-': stdout; default: stdout\n"
            "                      for --json/--csv, stderr for the text report)\n"
            "  -t, --trace FILE    also save the power timeline of the run (for `joule plot`\n"
            "                      and `joule analyze`), with the windows CMD measured\n"
            "  -i, --interval T    trace sampling interval, 1ms to 1s (a bare number: ms;\n"
            "                      default 100ms)\n"
            "      --job-report DIR  under mpirun/srun: only the node-local rank 0\n"
            "                      ($OMPI_COMM_WORLD_LOCAL_RANK, $SLURM_LOCALID) measures and\n"
            "                      writes DIR/NODE.json (NODE: $JOULE_NODE_NAME or the host\n"
            "                      name; --trace goes to DIR/NODE-FILE); other ranks only run\n"
            "                      CMD. Merge with `joule report DIR` (docs/cluster.md)\n"
            "      --carbon FILE|G_PER_KWH     emissions (gCO2e) per UTC hour: Electricity Maps\n"
            "                      hourly CSV, WattTime JSON (.json) or a constant\n"
            "      --price FILE|PRICE_PER_KWH  cost per UTC hour: a time,price CSV or a constant\n"
            "      --pue X         power usage effectiveness (default 1)\n"
            "  -h, --help          this help\n\n"
            "Streams: CMD's stdout and stderr are joule's own. The text report goes to\n"
            "stderr, like perf stat; --json/--csv go to stdout once CMD has exited, after\n"
            "anything CMD printed there. When CMD writes to stdout, use -o FILE to keep the\n"
            "report apart: joule run --json -o run.json -- CMD\n");
}

static int parse_repeat(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < 1 || v > 100000)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    enum { OPT_CSV = 256, OPT_JOB_REPORT, OPT_CARBON, OPT_PRICE, OPT_PUE };
    static const struct option opts[] = {
        {"trace", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'i'},
        {"devices", required_argument, NULL, 'd'},
        {"repeat", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, OPT_CSV},
        {"carbon", required_argument, NULL, OPT_CARBON},
        {"price", required_argument, NULL, OPT_PRICE},
        {"pue", required_argument, NULL, OPT_PUE},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"job-report", required_argument, NULL, OPT_JOB_REPORT},
        {0, 0, 0, 0},
    };
    const char *spec = NULL, *output = NULL, *trace = NULL, *job_dir = NULL;
    int repeat = 1, json = 0, csv = 0, c, have_interval = 0;
    double interval_ms = 100;
    struct hourly_args ha = {.pue = 1.0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "+d:r:jo:t:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case 'i': {
            /* below 1 ms no device can serve readings */
            double s;
            if (cli_parse_duration("run", "--interval", optarg, 1e-3, 1e-3, 1, &s))
                return 2;
            interval_ms = s * 1e3;
            have_interval = 1;
            break;
        }
        case 'd': spec = optarg; break;
        case 'r':
            if (parse_repeat(optarg, &repeat)) {
                fprintf(stderr, "joule run: -r '%s' is not a whole number from 1 to 100000\n", optarg);
                return 2;
            }
            break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case OPT_JOB_REPORT: job_dir = optarg; break;
        case OPT_CARBON: ha.carbon = optarg; break;
        case OPT_PRICE: ha.price = optarg; break;
        case OPT_PUE:
            if (hourly_parse_pue("run", optarg, &ha.pue))
                return 2;
            ha.pue_given = 1;
            break;
        case 'o': output = optarg; break;
        case 'h': run_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (json && csv) {
        fprintf(stderr, "joule run: choose one of --json and --csv\n");
        return 2;
    }
    if (have_interval && !trace) {
        fprintf(stderr, "joule run: --interval only applies with --trace FILE\n");
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "joule run: missing command to run (usage: joule run [OPTIONS] -- CMD [ARGS...])\n");
        return 2;
    }
    char **cmd = argv + optind;
    char job_trace[4096], *job_trace_name = NULL;
    if (job_dir) {
        int rc = job_setup(job_dir, repeat, &trace, job_trace, sizeof job_trace, &job_trace_name);
        if (rc == JOB_EXEC_ONLY)
            return job_exec_only(cmd);
        if (rc != JOB_MEASURE)
            return rc;
    }
    double job_begin = NAN, job_end = NAN;
    int load_rc = hourly_args_load("run", &ha);
    if (load_rc)
        return load_rc; /* before the command runs: a bad file costs nothing */

    FILE *out = cli_open_report("run", output, json || csv);
    if (!out) {
        hourly_args_free(&ha);
        return 2;
    }
    joule_ctx *ctx = cli_open("run", spec, 0);
    if (!ctx) {
        cli_close_output("run", out, output);
        hourly_args_free(&ha);
        return 1;
    }
    struct run_hourly rh = {0};
    if (hourly_wanted(&ha) && run_hourly_start(&rh, ctx, repeat)) {
        run_hourly_free(&rh);
        hourly_args_free(&ha);
        cli_close_output("run", out, output);
        joule_close(ctx);
        return 1;
    }

    struct run_trace rt = {0};
    if (trace && run_trace_start(&rt, ctx, trace, interval_ms)) {
        if (rt.sampler)
            joule_sampler_destroy(rt.sampler);
        run_hourly_free(&rh);
        hourly_args_free(&ha);
        cli_close_output("run", out, output);
        joule_close(ctx);
        return 1;
    }

    cli_signals_forward();

    struct run_stats st = {0};
    st.ndev = joule_device_count(ctx);
    st.time_s = calloc((size_t)repeat, sizeof *st.time_s);
    st.energy = calloc((size_t)repeat * (size_t)(st.ndev ? st.ndev : 1), sizeof *st.energy);
    st.bound = calloc((size_t)repeat * (size_t)(st.ndev ? st.ndev : 1), sizeof *st.bound);
    st.quality = calloc((size_t)(st.ndev ? st.ndev : 1), sizeof *st.quality);
    st.status = calloc((size_t)(st.ndev ? st.ndev : 1), sizeof *st.status);
    st.error = calloc((size_t)(st.ndev ? st.ndev : 1), sizeof *st.error);
    int exit_status = 0, failed = 0;
    for (int r = 0; r < repeat && !cli_interrupted; r++) {
        joule_result *res = NULL;
        if (joule_window_begin(ctx, "joule run", JOULE_WINDOW_RESTART)) {
            fprintf(stderr, "joule run: %s\n", joule_last_error());
            failed = 1;
            break;
        }
        if (hourly_wanted(&ha))
            run_hourly_begin(&rh);
        int exec_errno;
        int status = cli_run_child(cmd, NULL, NULL, &exec_errno);
        if (joule_window_end(ctx, "joule run", 0, &res) && !res) {
            fprintf(stderr, "joule run: %s\n", joule_last_error());
            failed = 1;
            break;
        }
        if (status < 0) {
            fprintf(stderr, "joule run: cannot run '%s': %s\n", cmd[0], strerror(exec_errno));
            exit_status = exec_errno == ENOENT ? 127 : 126;
            joule_result_free(res);
            failed = 1;
            break;
        }
        st.time_s[r] = joule_result_time_s(res);
        job_begin = joule_result_start_unix_s(res);
        job_end = job_begin + st.time_s[r];
        for (int i = 0; i < st.ndev; i++) {
            int q, s;
            double e = joule_result_energy_j(res, i, &q, &s);
            st.energy[r * st.ndev + i] = s ? NAN : e;
            st.bound[r * st.ndev + i] = s ? NAN : joule_result_uncertainty_j(res, i);
            if (q > st.quality[i])
                st.quality[i] = q;
            if (s && !st.status[i]) {
                st.status[i] = s;
                snprintf(st.error[i], sizeof st.error[i], "%s", joule_last_error());
            }
        }
        joule_result_free(res);
        if (hourly_wanted(&ha))
            run_hourly_end(&rh, r, st.energy + r * st.ndev);
        st.runs = r + 1;
        exit_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        if (exit_status != 0)
            break; /* like perf stat -r: stop at the first failing run */
    }
    cli_signals_restore();
    if (trace && run_trace_finish(&rt, ctx) && exit_status == 0)
        failed = 1;

    if (hourly_wanted(&ha)) {
        run_hourly_finish(&rh);
        st.hourly_runs = rh.per_run;
        st.hourly_total = &rh.total;
        st.hourly = &ha;
    }
    if (st.runs > 0) {
        if (json)
            run_report_json(out, ctx, &st, cmd, exit_status);
        else if (csv)
            run_report_csv(out, ctx, &st);
        else
            run_report_text(out, ctx, &st, cmd);
        if (st.runs < repeat)
            fprintf(stderr, "joule run: stopped after %d of %d runs (exit status %d)\n",
                    st.runs, repeat, exit_status);
    }
    if (job_dir && st.runs > 0 && job_report_write(job_dir, ctx, &st, job_begin, job_end, cmd,
                                                   exit_status, job_trace_name))
        failed = 1;
    if (cli_close_output("run", out, output))
        failed = 1;
    free(st.time_s);
    free(st.energy);
    free(st.bound);
    free(st.quality);
    free(st.status);
    free(st.error);
    run_hourly_free(&rh);
    hourly_args_free(&ha);
    joule_close(ctx);
    if (failed && exit_status == 0)
        exit_status = 1;
    return exit_status;
}
