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
#include <stdio.h>
#include <stdlib.h>

#include "child.h"
#include "commands.h"
#include "common.h"
#include "sweep.h"

/* Opens the context and the sweep over the chosen GPUs, and checks every
 * setting against them. Returns 0 or the exit code (message printed). */
static int open_sweep(const struct sweep_args *a, joule_ctx **ctx, joule_sweep **sw,
                      struct sweep_summary *sum)
{
    joule_options *o = NULL;
    if (joule_options_create(&o) || joule_options_set_devices(o, a->spec) ||
        joule_options_set_restore_on_exit(o, 1) || joule_open(o, ctx)) {
        fprintf(stderr, "joule sweep: %s\n", joule_last_error());
        joule_options_destroy(o);
        return 1;
    }
    joule_options_destroy(o);
    joule_sweep_options so;
    joule_sweep_options_default(&so);
    so.knob = a->clocks ? JOULE_SWEEP_SM_CLOCK : JOULE_SWEEP_POWER_LIMIT;
    so.sim_load = a->sim_load;
    if (a->gpus_spec) {
        int n = joule_parse_gpu_list(*ctx, a->gpus_spec, sum->gpus, SWEEP_MAX_GPUS);
        if (n <= 0) {
            fprintf(stderr, "joule sweep: --gpus: %s\n",
                    n == 0 ? "no GPUs given" : joule_last_error());
            return 2;
        }
        so.gpus = sum->gpus;
        so.ngpus = n;
    } else {
        int any = 0;
        for (int i = 0; i < joule_device_count(*ctx); i++)
            any |= joule_device_kind(joule_device_at(*ctx, i)) == JOULE_KIND_GPU;
        if (!any) {
            fprintf(stderr, "joule sweep: no GPU among the devices '%s'\n",
                    a->spec ? a->spec : "all");
            return 1;
        }
    }
    int rc = joule_sweep_create(*ctx, &so, sw);
    if (rc) {
        fprintf(stderr, "joule sweep: %s\n", joule_last_error());
        return rc == JOULE_ENODEV ? 2 : 1;
    }
    sum->ngpus = joule_sweep_gpu_count(*sw);
    for (int i = 0; i < sum->ngpus; i++)
        sum->gpus[i] = joule_sweep_gpu(*sw, i);
    sum->nsim = joule_sweep_simulated_count(*sw);
    for (int k = 0; k < a->nset; k++)
        if ((rc = joule_sweep_check_setting(*sw, a->knobs[k]))) {
            fprintf(stderr, "joule sweep: %s\n", joule_last_error());
            return rc == JOULE_ERANGE ? 2 : 1;
        }
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_args a;
    int exit_code = sweep_parse_args(argc, argv, &a);
    if (exit_code >= 0)
        return exit_code;
    FILE *out = cli_open_report("sweep", a.output, a.json || a.csv);
    if (!out)
        return 2;
    joule_ctx *ctx = NULL;
    joule_sweep *sw = NULL;
    struct sweep_summary sum = {0};
    int restore_rc = 0;
    exit_code = open_sweep(&a, &ctx, &sw, &sum);
    if (!exit_code)
        exit_code = sweep_run(ctx, sw, &a, &sum, &restore_rc);
    if (!exit_code) {
        sweep_summarize(&a, joule_sweep_max_power_limit_w(sw), &sum);
        if (a.json)
            sweep_report_json(out, &a, &sum);
        else if (a.csv)
            sweep_report_csv(out, &a, &sum);
        else
            sweep_report_text(out, &a, &sum);
        if (a.plot && sum.np > 0 && sweep_report_plot(&a, &sum))
            exit_code = 1;
        if (cli_interrupted)
            exit_code = 128 + (int)cli_interrupted;
        else if (sum.nok == 0)
            exit_code = 1;
        else if (restore_rc)
            exit_code = 1;
    }
    sweep_summary_free(&a, &sum);
    if (cli_close_output("sweep", out, a.output) && exit_code == 0)
        exit_code = 1;
    joule_sweep_destroy(sw);
    joule_close(ctx);
    return exit_code;
}
