/* joule gpu: show, set or reset GPU power limits, locked clocks and
 * persistence.
 *
 *   joule gpu limit [--watts W | --reset] [--gpus LIST] [--devices SPEC] [--json]
 *   joule gpu clocks [--lock MIN[,MAX] | --reset] [--memory] [--list] [--gpus LIST]
 *                    [--devices SPEC] [--json]
 *   joule gpu persistence [on|off] [--gpus LIST] [--devices SPEC] [--json]
 *
 * Options and the on/off word may come in any order. Settings outlive the
 * command (that is the point), so the context is not opened with
 * restore-on-exit. Changing settings needs root, or jouled (docs/daemon.md):
 * the library hands a refused change to the daemon when one is configured. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <joule/joule.h>

#include "commands.h"
#include "common.h"
#include "gpu.h"

#define MAX_GPUS 64

static void usage(FILE *out)
{
    fprintf(out,
        "usage: joule gpu limit [--watts W | --reset] [--gpus LIST] [--devices SPEC] [--json]\n"
        "       joule gpu clocks [--lock MIN[,MAX] | --reset] [--memory] [--list]\n"
        "                        [--gpus LIST] [--devices SPEC] [--json]\n"
        "       joule gpu persistence [on|off] [--gpus LIST] [--devices SPEC] [--json]\n"
        "\n"
        "Show, set or reset GPU power limits, locked clocks and persistence mode.\n"
        "Without --watts/--lock/--reset/on/off the current values are shown.\n"
        "Options and the on/off word may come in any order. Settings stay after\n"
        "the command exits (except on simulated GPUs, which live only as long as\n"
        "the command). Changing them needs root, or jouled: start jouled as root\n"
        "and give your user the control scope in /etc/joule/jouled.conf\n"
        "(docs/daemon.md).\n"
        "\n"
        "  --gpus LIST      GPU indices, e.g. 0,2, or 'all' (default: all GPUs; indices\n"
        "                   follow CUDA_VISIBLE_DEVICES). Without it, a change skips\n"
        "                   GPUs that cannot make it; a GPU named here that cannot\n"
        "                   is an error\n"
        "  -d, --devices SPEC\n"
        "                   where the GPUs come from (default: gpu), e.g. sim:2:h100\n"
        "  --watts W        power limit in watts\n"
        "  --lock MIN[,MAX] lock clocks to MIN..MAX MHz (MAX defaults to MIN)\n"
        "  --memory         with clocks: lock/reset memory clocks instead of SM clocks\n"
        "  --reset          back to the default limit / unlocked clocks\n"
        "  --list           with clocks: list every supported SM clock (MHz)\n"
        "  -j, --json       show the current values as one JSON object\n"
        "  -h, --help       this help\n"
        "\n"
        "Exit status: 0 done, 1 a GPU failed (e.g. no permission), 2 bad usage\n"
        "(including --gpus naming a GPU that does not exist).\n");
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno || v < 0 || v > 1000000)
        return -1;
    *out = (int)v;
    return (int)(end - s);
}

/* "MIN" or "MIN,MAX" */
static int parse_lock(const char *s, int *mn, int *mx)
{
    int n = parse_int(s, mn);
    if (n < 0)
        return -1;
    if (s[n] == '\0') {
        *mx = *mn;
        return 0;
    }
    if (s[n] != ',')
        return -1;
    int m = parse_int(s + n + 1, mx);
    if (m < 0 || s[n + 1 + m] != '\0')
        return -1;
    return 0;
}

/* Fills idx with the GPUs named by LIST ("all" or "0,2"), checked against
 * the context's GPUs. Returns the count; -1 when there are no GPUs at all,
 * -2 for a bad list (malformed, or naming a GPU that does not exist), in
 * both cases after printing why. */
static int select_gpus(joule_ctx *ctx, const char *list, int *idx)
{
    int ngpu = 0;
    char present[256] = "";
    for (int i = 0, used = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) != JOULE_KIND_GPU)
            continue;
        if (used < (int)sizeof present)
            used += snprintf(present + used, sizeof present - (size_t)used, "%sgpu%d",
                             ngpu ? ", " : "", joule_device_index(d));
        ngpu++;
    }
    if (ngpu == 0) {
        fprintf(stderr, "joule gpu: no GPUs found\n");
        return -1;
    }
    int n = joule_parse_gpu_list(ctx, list ? list : "all", idx, MAX_GPUS);
    if (n > 0)
        return n;
    if (n != JOULE_ENODEV) {
        fprintf(stderr, "joule gpu: --gpus: %s\n", joule_last_error());
        return -2;
    }
    /* Name the first entry that is no GPU here, and the GPUs that are. */
    const char *p = list;
    size_t len = strcspn(p, ",");
    while (p[len]) {
        char entry[64];
        int one;
        snprintf(entry, sizeof entry, "%.*s", (int)len, p);
        if (joule_parse_gpu_list(ctx, entry, &one, 1) < 0)
            break;
        p += len + 1;
        len = strcspn(p, ",");
    }
    int digits = len > 0 && strspn(p, "0123456789") >= len;
    fprintf(stderr, "joule gpu: --gpus '%s': %s%.*s not found (%d GPU%s present: %s; indices "
                    "like 0,2, labels like gpu0, UUIDs or 'all')\n",
            list, digits ? "gpu" : "", (int)len, p, ngpu, ngpu == 1 ? "" : "s", present);
    return -2;
}

int cmd_gpu(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    struct args a;
    memset(&a, 0, sizeof a);
    if (!strcmp(argv[1], "limit"))
        a.sub = SUB_LIMIT;
    else if (!strcmp(argv[1], "clocks"))
        a.sub = SUB_CLOCKS;
    else if (!strcmp(argv[1], "persistence"))
        a.sub = SUB_PERSISTENCE;
    else {
        fprintf(stderr, "joule gpu: unknown subcommand '%s' (limit, clocks or persistence)\n",
                argv[1]);
        return cli_try_help(argv[0]);
    }
    const char *sub = argv[1];

    static const struct option opts[] = {
        {"gpus", required_argument, NULL, 'g'},
        {"devices", required_argument, NULL, 'd'},
        {"watts", required_argument, NULL, 'w'},
        {"lock", required_argument, NULL, 'l'},
        {"reset", no_argument, NULL, 'r'},
        {"memory", no_argument, NULL, 'm'},
        {"list", no_argument, NULL, 'L'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    int sargc = argc - 1;
    char **sargv = argv + 1;
    /* Words other than options (on/off) are collected in order, wherever
     * they stand: the leading '-' makes getopt return each as code 1, so
     * option order does not matter and POSIXLY_CORRECT cannot change it. */
    const char *words[8];
    int nwords = 0, extra_words = 0;
    while ((c = getopt_long(sargc, sargv, "-hd:j", opts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (nwords < (int)(sizeof words / sizeof words[0]))
                words[nwords++] = optarg;
            else
                extra_words++;
            break;
        case 'g': a.gpus = optarg; break;
        case 'd': a.devices = optarg; break;
        case 'w': {
            char *end;
            errno = 0;
            a.watts = strtod(optarg, &end);
            if (end == optarg || *end || errno || !isfinite(a.watts) || a.watts <= 0) {
                fprintf(stderr, "joule gpu limit: --watts '%s': expected a positive number "
                                "of watts, e.g. 250\n", optarg);
                return 2;
            }
            a.have_watts = 1;
            break;
        }
        case 'l':
            if (parse_lock(optarg, &a.lock_min, &a.lock_max) || a.lock_min <= 0 ||
                a.lock_min > a.lock_max) {
                fprintf(stderr, "joule gpu clocks: --lock '%s': expected MIN or MIN,MAX in MHz "
                                "with 0 < MIN <= MAX, e.g. 1200 or 900,1410\n", optarg);
                return 2;
            }
            a.have_lock = 1;
            break;
        case 'r': a.reset = 1; break;
        case 'm': a.memory = 1; break;
        case 'L': a.list = 1; break;
        case 'j': a.json = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            if (optopt && !strncmp(sargv[optind - 1], "--", 2))
                fprintf(stderr, "joule gpu %s: option '%s' needs a value\n", sub,
                        sargv[optind - 1]);
            else if (optopt)
                fprintf(stderr, "joule gpu %s: option -%c %s\n", sub, optopt,
                        optopt == 'd' ? "needs a value" : "is unknown");
            else
                fprintf(stderr, "joule gpu %s: unknown or incomplete option '%s'\n", sub,
                        sargv[optind - 1]);
            return cli_try_help(argv[0]);
        }
    }
    for (; optind < sargc; optind++) /* after "--" */
        if (nwords < (int)(sizeof words / sizeof words[0]))
            words[nwords++] = sargv[optind];
        else
            extra_words++;
    int rest = nwords + extra_words;

    switch (a.sub) {
    case SUB_LIMIT:
        if (a.have_lock || a.memory || a.list || rest) {
            fprintf(stderr, "joule gpu limit: takes --watts W or --reset%s%s%s\n",
                    rest ? "; unexpected argument '" : "", rest ? words[0] : "",
                    rest ? "'" : "");
            return 2;
        }
        if (a.have_watts && a.reset) {
            fprintf(stderr, "joule gpu limit: give either --watts or --reset, not both\n");
            return 2;
        }
        break;
    case SUB_CLOCKS:
        if (a.have_watts || rest) {
            fprintf(stderr, "joule gpu clocks: takes --lock MIN[,MAX] or --reset%s%s%s\n",
                    rest ? "; unexpected argument '" : "", rest ? words[0] : "",
                    rest ? "'" : "");
            return 2;
        }
        if (a.have_lock && a.reset) {
            fprintf(stderr, "joule gpu clocks: give either --lock or --reset, not both\n");
            return 2;
        }
        if (a.list && (a.have_lock || a.reset)) {
            fprintf(stderr, "joule gpu clocks: --list shows the supported clocks; it does "
                            "not go with --lock or --reset\n");
            return 2;
        }
        break;
    case SUB_PERSISTENCE:
        if (a.have_watts || a.have_lock || a.reset || a.memory || a.list || rest > 1 ||
            (rest == 1 && strcmp(words[0], "on") && strcmp(words[0], "off"))) {
            fprintf(stderr, "joule gpu persistence: expected 'on' or 'off' (or nothing, to "
                            "show the current mode)%s%s%s\n",
                    rest ? "; got '" : "", rest ? words[rest > 1 ? 1 : 0] : "",
                    rest ? "'" : "");
            return 2;
        }
        if (rest == 1) {
            a.have_persistence = 1;
            a.persistence = !strcmp(words[0], "on");
        }
        break;
    }
    if (a.json && is_change(&a)) {
        fprintf(stderr, "joule gpu %s: --json is for showing the current values; it does "
                        "not go with a change\n", sub);
        return 2;
    }

    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "gpu %s", sub);
    joule_ctx *ctx = cli_open(cmdname, a.devices ? a.devices : "gpu", 0);
    if (!ctx)
        return 1;
    int gpus[MAX_GPUS];
    int n = select_gpus(ctx, a.gpus, gpus);
    int status;
    cJSON *root = NULL, *arr = NULL;
    if (n >= 0 && a.json) {
        root = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(root, "gpus");
    }
    if (n < 0)
        status = n == -2 ? 2 : 1;
    else if (a.sub == SUB_LIMIT)
        status = do_limit(ctx, &a, gpus, n, arr);
    else if (a.sub == SUB_CLOCKS)
        status = do_clocks(ctx, &a, gpus, n, arr);
    else
        status = do_persistence(ctx, &a, gpus, n, arr);
    if (root) {
        char *text = cJSON_Print(root);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    }
    joule_close(ctx);
    return status;
}
