/* joule plot TRACE -o out.svg [--html]: render a saved trace. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <joule/trace.h>

#include "commands.h"
#include "common.h"

static void plot_usage(FILE *out)
{
    fprintf(out,
            "usage: joule plot TRACE -o OUT.svg [--html]\n\n"
            "Draw a trace saved by `joule run --trace`: one power line per device\n"
            "(time in s, power in W), a legend, a shaded band per measurement window and\n"
            "a dashed line at the GPUs' power limit, titled with the trace's file name.\n"
            "With 3 or more GPUs a panel above shows their summed power (bold) and the\n"
            "per-device lines are drawn thinner.\n\n"
            "  -o, --output FILE  where to write (required; '-' for stdout)\n"
            "      --html         one HTML page: the plot and a table of totals\n"
            "  -h, --help         this help\n");
}

int cmd_plot(int argc, char **argv)
{
    enum { OPT_HTML = 256 };
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"html", no_argument, NULL, OPT_HTML},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *output = NULL;
    int html = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_HTML: html = 1; break;
        case 'h': plot_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (optind != argc - 1 || !output) {
        fprintf(stderr, "joule plot: %s\n", optind >= argc ? "missing TRACE file"
                                          : !output ? "missing -o OUT.svg"
                                                    : "expected one TRACE file");
        return cli_try_help(argv[0]);
    }
    joule_trace *t;
    if (joule_trace_read(argv[optind], &t)) {
        fprintf(stderr, "joule plot: %s\n", joule_last_error());
        return 1;
    }
    cli_warn_torn_trace("plot", argv[optind], t);
    FILE *f = cli_open_output("plot", output);
    if (!f) {
        joule_trace_free(t);
        return 1;
    }
    /* A failed write shows in the stream; closing it reports why. */
    if (html)
        joule_trace_write_html(t, f);
    else
        joule_trace_write_svg(t, f);
    int rc = cli_close_output("plot", f, output);
    joule_trace_free(t);
    return rc ? 1 : 0;
}
