/* joule gpu: set or reset GPU power limits, locked clocks and persistence.
 *
 *   joule gpu limit [--watts W | --reset] [--gpus LIST] [--devices SPEC]
 *   joule gpu clocks [--lock MIN[,MAX] | --reset] [--memory] [--gpus LIST]
 *   joule gpu persistence on|off [--gpus LIST]
 *
 * Settings outlive the command (that is the point), so the context is not
 * opened with restore-on-exit. Changing settings needs root; a later
 * version routes these through jouled for ordinary users. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "commands.h"
#include "common.h"

#define MAX_GPUS 64

static void usage(FILE *out)
{
    fprintf(out,
        "usage: joule gpu limit [--watts W | --reset] [--gpus LIST] [--devices SPEC]\n"
        "       joule gpu clocks [--lock MIN[,MAX] | --reset] [--memory] [--gpus LIST]\n"
        "                        [--devices SPEC]\n"
        "       joule gpu persistence on|off [--gpus LIST] [--devices SPEC]\n"
        "\n"
        "Set or reset GPU power limits, locked clocks and persistence mode. Without\n"
        "--watts/--lock/--reset, 'limit' and 'clocks' show the current values.\n"
        "Settings stay after the command exits; changing them needs root.\n"
        "\n"
        "  --gpus LIST      GPU indices, e.g. 0,2 (default: all GPUs; indices follow\n"
        "                   CUDA_VISIBLE_DEVICES)\n"
        "  --devices SPEC   where the GPUs come from (default: gpu), e.g. sim:2:h100\n"
        "  --watts W        power limit in watts\n"
        "  --lock MIN[,MAX] lock clocks to MIN..MAX MHz (MAX defaults to MIN)\n"
        "  --memory         with clocks: lock/reset memory clocks instead of SM clocks\n"
        "  --reset          back to the default limit / unlocked clocks\n"
        "  -h, --help       this help\n"
        "\n"
        "Exit status: 0 done, 1 a GPU failed (e.g. no permission), 2 bad usage.\n");
}

enum sub { SUB_LIMIT, SUB_CLOCKS, SUB_PERSISTENCE };

struct args {
    enum sub sub;
    const char *devices;
    const char *gpus;
    int have_watts;
    double watts;
    int have_lock;
    int lock_min, lock_max;
    int reset;
    int memory;
    int persistence; /* 0/1 */
};

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
 * the context's GPUs. Returns the count, or -1 after printing why. */
static int select_gpus(joule_ctx *ctx, const char *list, int *idx)
{
    int have[MAX_GPUS], ngpu = 0;
    for (int i = 0; i < joule_device_count(ctx) && ngpu < MAX_GPUS; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU)
            have[ngpu++] = joule_device_index(d);
    }
    if (ngpu == 0) {
        fprintf(stderr, "joule gpu: no GPUs found\n");
        return -1;
    }
    if (!list || !strcmp(list, "all")) {
        memcpy(idx, have, sizeof have[0] * (size_t)ngpu);
        return ngpu;
    }
    int n = 0;
    const char *p = list;
    while (*p) {
        int v, len = parse_int(p, &v);
        if (len <= 0 || (p[len] != ',' && p[len] != '\0')) {
            fprintf(stderr, "joule gpu: --gpus '%s': expected GPU indices like 0,2 or 'all' "
                            "(bad entry at character %d)\n", list, (int)(p - list) + 1);
            return -2;
        }
        int ok = 0;
        for (int i = 0; i < ngpu; i++)
            ok |= have[i] == v;
        if (!ok) {
            fprintf(stderr, "joule gpu: --gpus: gpu%d not found (%d GPU%s present)\n", v, ngpu,
                    ngpu == 1 ? "" : "s");
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (idx[i] == v) {
                fprintf(stderr, "joule gpu: --gpus '%s' lists gpu%d twice\n", list, v);
                return -2;
            }
        if (n < MAX_GPUS)
            idx[n++] = v;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0) {
        fprintf(stderr, "joule gpu: --gpus '%s' names no GPU\n", list);
        return -2;
    }
    return n;
}

static const char *gpu_label(joule_ctx *ctx, int gpu, char *buf, size_t len)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == gpu) {
            snprintf(buf, len, "%s (%s)", joule_device_label(d), joule_device_name(d));
            return buf;
        }
    }
    snprintf(buf, len, "gpu%d", gpu);
    return buf;
}

static int report_failure(const char *what, int rc, int *perm_hint)
{
    fprintf(stderr, "joule gpu %s: %s\n", what, joule_last_error());
    if (rc == JOULE_EPERM && !*perm_hint) {
        fprintf(stderr,
                "joule gpu: changing GPU settings needs root: run it as root (e.g. with "
                "sudo); running it through the jouled daemon as an ordinary user comes "
                "in a later version\n");
        *perm_hint = 1;
    }
    return 1;
}

static int do_limit(joule_ctx *ctx, const struct args *a, const int *gpus, int n)
{
    int status = 0, perm_hint = 0;
    for (int k = 0; k < n; k++) {
        char who[160];
        gpu_label(ctx, gpus[k], who, sizeof who);
        double cur, mn, mx, def, enf;
        int rc = joule_gpu_get_power_limit_w(ctx, gpus[k], &cur, &mn, &mx, &def, &enf);
        if (rc) {
            status = report_failure("limit", rc, &perm_hint);
            continue;
        }
        if (!a->have_watts && !a->reset) {
            printf("%s: power limit %.1f W (enforced %.1f W, default %.1f W, range "
                   "%.1f-%.1f W)\n", who, cur, enf, def, mn, mx);
            continue;
        }
        rc = a->reset ? joule_gpu_reset_power_limit(ctx, gpus[k])
                      : joule_gpu_set_power_limit_w(ctx, gpus[k], a->watts);
        if (rc) {
            status = report_failure("limit", rc, &perm_hint);
            continue;
        }
        double now = a->reset ? def : a->watts;
        joule_gpu_get_power_limit_w(ctx, gpus[k], &now, NULL, NULL, NULL, NULL);
        printf("%s: power limit %.1f W (was %.1f W%s)\n", who, now, cur,
               a->reset ? "; reset to default" : "");
    }
    return status;
}

static int do_clocks(joule_ctx *ctx, const struct args *a, const int *gpus, int n)
{
    int status = 0, perm_hint = 0;
    const char *what = a->memory ? "memory" : "SM";
    for (int k = 0; k < n; k++) {
        char who[160];
        gpu_label(ctx, gpus[k], who, sizeof who);
        int rc;
        if (a->have_lock) {
            rc = a->memory ? joule_gpu_lock_memory_clocks_mhz(ctx, gpus[k], a->lock_min, a->lock_max)
                           : joule_gpu_lock_clocks_mhz(ctx, gpus[k], a->lock_min, a->lock_max);
            if (rc) {
                status = report_failure("clocks", rc, &perm_hint);
                continue;
            }
            printf("%s: %s clocks locked to %d-%d MHz\n", who, what, a->lock_min, a->lock_max);
        } else if (a->reset) {
            rc = a->memory ? joule_gpu_reset_memory_clocks(ctx, gpus[k])
                           : joule_gpu_reset_clocks(ctx, gpus[k]);
            if (rc) {
                status = report_failure("clocks", rc, &perm_hint);
                continue;
            }
            printf("%s: %s clocks unlocked\n", who, what);
        } else {
            int sm = 0, mem = 0;
            rc = joule_gpu_clocks_mhz(ctx, gpus[k], &sm, &mem);
            if (rc) {
                status = report_failure("clocks", rc, &perm_hint);
                continue;
            }
            int clk[512];
            int nc = joule_gpu_supported_clocks_mhz(ctx, gpus[k], clk, 512);
            if (nc > 512)
                nc = 512;
            if (nc > 0)
                printf("%s: SM %d MHz, memory %d MHz; supported SM clocks %d-%d MHz (%d steps)\n",
                       who, sm, mem, clk[nc - 1], clk[0], nc);
            else
                printf("%s: SM %d MHz, memory %d MHz\n", who, sm, mem);
        }
    }
    return status;
}

static int do_persistence(joule_ctx *ctx, const struct args *a, const int *gpus, int n)
{
    int status = 0, perm_hint = 0;
    for (int k = 0; k < n; k++) {
        char who[160];
        gpu_label(ctx, gpus[k], who, sizeof who);
        int rc = joule_gpu_set_persistence(ctx, gpus[k], a->persistence);
        if (rc) {
            status = report_failure("persistence", rc, &perm_hint);
            continue;
        }
        printf("%s: persistence mode %s\n", who, a->persistence ? "on" : "off");
    }
    return status;
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
        fprintf(stderr, "joule gpu: unknown subcommand '%s' (limit, clocks or persistence)\n\n",
                argv[1]);
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];

    static const struct option opts[] = {
        {"gpus", required_argument, NULL, 'g'},
        {"devices", required_argument, NULL, 'd'},
        {"watts", required_argument, NULL, 'w'},
        {"lock", required_argument, NULL, 'l'},
        {"reset", no_argument, NULL, 'r'},
        {"memory", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    int sargc = argc - 1;
    char **sargv = argv + 1;
    while ((c = getopt_long(sargc, sargv, "+h", opts, NULL)) != -1) {
        switch (c) {
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
        case 'h': usage(stdout); return 0;
        default:
            if (optopt)
                fprintf(stderr, "joule gpu %s: option -%c %s\n", sub, optopt,
                        strchr("gdwl", optopt) ? "needs a value" : "is unknown");
            else
                fprintf(stderr, "joule gpu %s: unknown or incomplete option '%s'\n", sub,
                        sargv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    int rest = sargc - optind;
    char **restv = sargv + optind;

    switch (a.sub) {
    case SUB_LIMIT:
        if (a.have_lock || a.memory || rest) {
            fprintf(stderr, "joule gpu limit: takes --watts W or --reset%s%s\n",
                    rest ? "; unexpected argument " : "", rest ? restv[0] : "");
            return 2;
        }
        if (a.have_watts && a.reset) {
            fprintf(stderr, "joule gpu limit: give either --watts or --reset, not both\n");
            return 2;
        }
        break;
    case SUB_CLOCKS:
        if (a.have_watts || rest) {
            fprintf(stderr, "joule gpu clocks: takes --lock MIN[,MAX] or --reset%s%s\n",
                    rest ? "; unexpected argument " : "", rest ? restv[0] : "");
            return 2;
        }
        if (a.have_lock && a.reset) {
            fprintf(stderr, "joule gpu clocks: give either --lock or --reset, not both\n");
            return 2;
        }
        break;
    case SUB_PERSISTENCE:
        if (a.have_watts || a.have_lock || a.reset || a.memory || rest != 1 ||
            (strcmp(restv[0], "on") && strcmp(restv[0], "off"))) {
            fprintf(stderr, "joule gpu persistence: expected 'on' or 'off'\n");
            return 2;
        }
        a.persistence = !strcmp(restv[0], "on");
        break;
    }

    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "gpu %s", sub);
    joule_ctx *ctx = cli_open(cmdname, a.devices ? a.devices : "gpu", 0);
    if (!ctx)
        return 1;
    int gpus[MAX_GPUS];
    int n = select_gpus(ctx, a.gpus, gpus);
    int status;
    if (n < 0)
        status = n == -2 ? 2 : 1;
    else if (a.sub == SUB_LIMIT)
        status = do_limit(ctx, &a, gpus, n);
    else if (a.sub == SUB_CLOCKS)
        status = do_clocks(ctx, &a, gpus, n);
    else
        status = do_persistence(ctx, &a, gpus, n);
    joule_close(ctx);
    return status;
}
