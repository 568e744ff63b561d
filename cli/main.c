/* joule — command-line front end. Each subcommand lives in cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include <joule/joule.h>

#include "commands.h"
#include "common.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"info", cmd_info, "list devices, their capabilities and limits, and absent backends"},
    {"run", cmd_run, "run a command and report its time and energy (like perf stat)"},
    {"monitor", cmd_monitor, "print power, energy, clocks and temperature live, like nvidia-smi dmon"},
    {"plot", cmd_plot, "draw a saved trace as SVG (or HTML with totals)"},
    {"analyze", cmd_analyze, "energy, power percentiles and peak moving averages of a trace"},
    {"gpu", cmd_gpu, "set or reset GPU power limits, locked clocks and persistence"},
    {"plan", cmd_plan, "plan per-stage GPU frequencies for pipeline-parallel training"},
    {"sweep", cmd_sweep, "run a command at several power limits or clocks; frontier and choices"},
    {"bench", cmd_bench, "benchmark an LLM server's energy per token (ML.ENERGY style): bench serve"},
    {"govern", cmd_govern, "lock an LLM server's GPU clock to the lowest that meets its latency SLOs"},
    {"optimize", cmd_optimize, "frontier and chosen power limit of a profiling log"},
    {"report", cmd_report, "merge the node files of `joule run --job-report DIR` into the job's energy"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: joule [--version] [--help] COMMAND [ARGS]\n\n"
            "Measure, limit and optimize the energy of GPUs and CPUs.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nEvery command takes --devices SPEC (default: $JOULE_DEVICES or 'all'),\n"
            "e.g. gpu:0,1  cpu  sim:4:h100  gpu:0+cpu. Run 'joule help COMMAND' (or\n"
            "'joule COMMAND --help') for more.\n");
}

/* `joule help CMD [SUB]`: CMD's own --help, so the two cannot differ. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[2], commands[i].name)) {
            char name[64], flag[] = "--help", *hargv[4] = {name, NULL, NULL, NULL};
            int n = 1;
            snprintf(name, sizeof name, "joule %s", commands[i].name);
            if (argc > 3) /* a subcommand: joule help gpu limit */
                hargv[n++] = argv[3];
            hargv[n++] = flag;
            return commands[i].fn(n, hargv);
        }
    fprintf(stderr, "joule help: unknown command '%s'\n", argv[2]);
    return cli_try_help("joule");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help"))
        return help(argc, argv);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("joule %s\n", joule_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            /* getopt names the program in its messages: "joule run: ..." */
            char name[64];
            snprintf(name, sizeof name, "joule %s", commands[i].name);
            argv[1] = name;
            int rc = commands[i].fn(argc - 1, argv + 1);
            /* Whatever a command printed to stdout must have reached it. */
            if (cli_close_output(commands[i].name, stdout, "-") && rc == 0)
                rc = 1;
            return rc;
        }
    if (argv[1][0] == '-')
        fprintf(stderr, "joule: unrecognized option '%s'\n", argv[1]);
    else
        fprintf(stderr, "joule: unknown command '%s'\n", argv[1]);
    return cli_try_help("joule");
}
