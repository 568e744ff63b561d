/* joule info: every device with its backend, capabilities, limits and
 * counter update period; for each absent backend, why and what to do. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "commands.h"
#include "common.h"

static void info_usage(FILE *out)
{
    fprintf(out,
            "usage: joule info [--devices SPEC] [--learn T] [--json]\n\n"
            "List devices: kind, index, name, backend, capabilities, energy-counter\n"
            "resolution and update period, GPU power limits, clocks, temperature and\n"
            "throttle reasons. Backends that found nothing say why. For each energy\n"
            "counter and power reading, what was learned of its timing: how often it\n"
            "updates, and how precisely each update can be placed.\n\n"
            "  -d, --devices SPEC     devices to list (default: $JOULE_DEVICES or all)\n"
            "  -l, --learn T          read the devices this long at most to learn their\n"
            "                         timing, e.g. 3s, 500ms; a bare number is seconds\n"
            "                         (default 1.5 s; 0: show what is known at once)\n"
            "  -j, --json             machine-readable output\n"
            "  -h, --help             this help\n");
}

struct gpu_state {
    int have_limits, have_clocks, have_temp, have_throttle, have_persistence;
    double cur, min, max, def, enf;
    int sm, mem, temp, persistence;
    char throttle[256];
};

static void read_gpu_state(joule_ctx *ctx, const joule_device *d, struct gpu_state *s)
{
    memset(s, 0, sizeof *s);
    if (joule_device_kind(d) != JOULE_KIND_GPU)
        return;
    int g = joule_device_index(d);
    uint64_t mask;
    s->have_limits = joule_gpu_get_power_limit_w(ctx, g, &s->cur, &s->min, &s->max,
                                                 &s->def, &s->enf) == 0;
    s->have_clocks = joule_gpu_clocks_mhz(ctx, g, &s->sm, &s->mem) == 0;
    s->have_temp = joule_gpu_temperature_c(ctx, g, &s->temp) == 0;
    s->have_persistence = (joule_device_caps(d) & JOULE_CAP_PERSISTENCE) &&
                          joule_gpu_get_persistence(ctx, g, &s->persistence) == 0;
    s->have_throttle = joule_gpu_throttle_reasons(ctx, g, &mask) == 0 &&
                       joule_throttle_names(mask, s->throttle, sizeof s->throttle) == 0;
}

/* How a device is read and, for GPUs, controlled: directly, or through
 * jouled for an unprivileged caller. */
static void access_paths(const joule_device *d, char *reads, size_t rlen, char *control,
                         size_t clen)
{
    char daemon[256];
    int have_daemon = joule_daemon_configured(daemon, sizeof daemon);
    int remote = strcmp(joule_device_backend(d), "remote") == 0;
    snprintf(reads, rlen, "%s", remote ? "via jouled" : "direct");
    control[0] = '\0';
    if (!(joule_device_caps(d) & JOULE_CAP_SET_POWER_LIMIT))
        return;
    if (joule_device_caps(d) & JOULE_CAP_SIMULATED)
        snprintf(control, clen, "direct (simulated)");
    else if (geteuid() == 0)
        snprintf(control, clen, "direct (root)");
    else if (have_daemon)
        snprintf(control, clen, "via jouled (%s)", daemon);
    else
        snprintf(control, clen, "needs root or jouled (no daemon configured)");
}

static const char *power_scope_name(int scope)
{
    return scope == JOULE_POWER_SCOPE_GPU      ? "gpu"
           : scope == JOULE_POWER_SCOPE_MODULE ? "module"
                                               : NULL;
}

/* "pci 00000000:3B:00.0, arch Hopper, power scope gpu": whichever is
 * known; "" when none is. */
static void identity_text(const joule_device *d, char *buf, size_t len)
{
    const char *pci = joule_device_pci_bus_id(d), *arch = joule_device_arch(d);
    const char *scope = power_scope_name(joule_device_power_scope(d));
    buf[0] = '\0';
    size_t used = 0;
    if (pci[0])
        used += (size_t)snprintf(buf + used, len - used, "pci %s", pci);
    if (arch[0] && used < len)
        used += (size_t)snprintf(buf + used, len - used, "%sarch %s", used ? ", " : "", arch);
    if (scope && used < len)
        snprintf(buf + used, len - used, "%spower scope %s%s", used ? ", " : "", scope,
                 joule_device_power_scope(d) == JOULE_POWER_SCOPE_MODULE ? " (GPU + CPU)" : "");
}

static void caps_text(uint32_t caps, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int b = 0; b < 32; b++) {
        const char *n = (caps & (1u << b)) ? joule_cap_name(1u << b) : NULL;
        if (!n)
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", n);
    }
}

static void period_text(double us, char *buf, size_t len)
{
    if (us >= 1000.0)
        snprintf(buf, len, "%.3g ms", us / 1000.0);
    else
        snprintf(buf, len, "%.3g us", us);
}

static const char *const source_names[] = {"counter", "power", "power_average"};

/* "periodic: every 100.001 ms, each update placed to ±0.12 ms" */
static void timing_text(joule_ctx *ctx, int i, int source, char *buf, size_t len)
{
    double period, unc, jitter;
    int st = joule_device_timing(ctx, i, source, &period, &unc, &jitter);
    switch (st) {
    case JOULE_TIMING_PERIODIC:
        snprintf(buf, len, "every %.6g ms, each update placed to ±%.3g ms%s", period / 1e3,
                 unc / 1e3, jitter > 0 ? " (updates jitter)" : "");
        break;
    case JOULE_TIMING_CONTINUOUS:
        snprintf(buf, len, "at almost every read (faster than joule reads it)");
        break;
    case JOULE_TIMING_APERIODIC:
        snprintf(buf, len, "irregularly, about every %.3g ms", period / 1e3);
        break;
    case JOULE_TIMING_LEARNING:
        snprintf(buf, len, "not learned yet (too few changes seen)");
        break;
    default: snprintf(buf, len, "not seen to change"); break;
    }
}

static void add_timing_json(cJSON *o, joule_ctx *ctx, int i)
{
    cJSON *t = cJSON_AddObjectToObject(o, "timing");
    for (int src = 0; src < 3; src++) {
        double period, unc, jitter;
        int st = joule_device_timing(ctx, i, src, &period, &unc, &jitter);
        if (st < 0)
            continue;
        cJSON *s = cJSON_AddObjectToObject(t, source_names[src]);
        cJSON_AddStringToObject(s, "state", joule_timing_state_name(st));
        if (period > 0)
            cJSON_AddNumberToObject(s, "period_us", period);
        if (st == JOULE_TIMING_PERIODIC) {
            cJSON_AddNumberToObject(s, "uncertainty_us", unc);
            cJSON_AddNumberToObject(s, "jitter_us", jitter);
        }
    }
}

static int print_text(joule_ctx *ctx)
{
    int n = joule_device_count(ctx);
    printf("joule %s: %d device%s\n", joule_version(), n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        char caps[512], period[32];
        caps_text(joule_device_caps(d), caps, sizeof caps);
        period_text(joule_device_update_period_us(d), period, sizeof period);
        printf("\n  %-7s %s\n", joule_device_label(d), joule_device_name(d));
        printf("          kind %s, backend %s%s%s\n", joule_kind_name(joule_device_kind(d)),
               joule_device_backend(d), joule_device_uuid(d)[0] ? ", uuid " : "",
               joule_device_uuid(d));
        char ident[200];
        identity_text(d, ident, sizeof ident);
        if (ident[0])
            printf("          %s\n", ident);
        if (joule_device_caps(d) & JOULE_CAP_ENERGY_COUNTER)
            printf("          energy counter: %g uJ resolution, updates every %s\n",
                   joule_device_energy_resolution_uj(d), period);
        else
            printf("          no energy counter: power (updates every %s) is integrated; "
                   "results are approx\n", period);
        if (joule_device_power_period_us(d) > 0) {
            char pp[32];
            period_text(joule_device_power_period_us(d), pp, sizeof pp);
            /* Detection polls every ~1 ms, so that is as fine as it sees. */
            printf("          power reading updates every %s%s (measured)\n", pp,
                   joule_device_power_period_us(d) < 1500 ? " or faster" : "");
        }
        if (joule_device_timing(ctx, i, JOULE_SOURCE_COUNTER, NULL, NULL, NULL) >
            JOULE_TIMING_UNKNOWN) {
            char t[160];
            timing_text(ctx, i, JOULE_SOURCE_COUNTER, t, sizeof t);
            printf("          learned: counter updates %s\n", t);
            if (joule_device_timing(ctx, i, JOULE_SOURCE_POWER, NULL, NULL, NULL) >
                JOULE_TIMING_UNKNOWN) {
                timing_text(ctx, i, JOULE_SOURCE_POWER, t, sizeof t);
                printf("                   instant power refreshes %s\n", t);
            }
            if (joule_device_timing(ctx, i, JOULE_SOURCE_POWER_AVERAGE, NULL, NULL, NULL) >
                JOULE_TIMING_UNKNOWN) {
                timing_text(ctx, i, JOULE_SOURCE_POWER_AVERAGE, t, sizeof t);
                printf("                   average power refreshes %s\n", t);
            }
        }
        printf("          capabilities: %s\n", caps);
        char reads[64], control[320];
        access_paths(d, reads, sizeof reads, control, sizeof control);
        printf("          reads: %s%s%s\n", reads, control[0] ? "; control: " : "", control);
        struct gpu_state s;
        read_gpu_state(ctx, d, &s);
        if (s.have_limits)
            printf("          power limit %.0f W (range %.0f-%.0f W, default %.0f W, "
                   "enforced %.0f W)\n", s.cur, s.min, s.max, s.def, s.enf);
        if (s.have_clocks || s.have_temp)
            printf("          SM clock %d MHz, memory clock %d MHz, temperature %d C\n",
                   s.sm, s.mem, s.temp);
        if (s.have_persistence)
            printf("          persistence mode %s\n", s.persistence ? "on" : "off");
        if (s.have_throttle)
            printf("          throttle reasons: %s\n", s.throttle);
        if (joule_device_note(d)[0])
            printf("          note: %s\n", joule_device_note(d));
    }
    printf("\nBackends:\n");
    for (int b = 0; b < joule_backend_count(ctx); b++) {
        int avail;
        const char *reason;
        const char *name = joule_backend_at(ctx, b, &avail, &reason);
        printf("  %-9s %s%s%s\n", name, avail ? "in use" : "absent",
               reason[0] ? ": " : "", reason);
    }
    if (cli_has_simulated(ctx))
        printf("\nSimulated GPUs follow joule's power model (docs/sim.md); they are not "
               "real hardware.\n");
    return 0;
}

static int print_json(joule_ctx *ctx)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", joule_version());
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        cJSON *o = cli_device_json(devs, d);
        cJSON_AddStringToObject(o, "uuid", joule_device_uuid(d));
        cJSON_AddStringToObject(o, "pci_bus_id", joule_device_pci_bus_id(d));
        cJSON_AddStringToObject(o, "arch", joule_device_arch(d));
        const char *scope = power_scope_name(joule_device_power_scope(d));
        if (scope)
            cJSON_AddStringToObject(o, "power_scope", scope);
        else
            cJSON_AddNullToObject(o, "power_scope");
        cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
        for (int b = 0; b < 32; b++)
            if ((joule_device_caps(d) & (1u << b)) && joule_cap_name(1u << b))
                cJSON_AddItemToArray(caps, cJSON_CreateString(joule_cap_name(1u << b)));
        char reads[64], control[320];
        access_paths(d, reads, sizeof reads, control, sizeof control);
        cJSON_AddStringToObject(o, "reads", reads);
        if (control[0])
            cJSON_AddStringToObject(o, "control", control);
        cJSON_AddNumberToObject(o, "energy_resolution_uj", joule_device_energy_resolution_uj(d));
        cJSON_AddNumberToObject(o, "update_period_us", joule_device_update_period_us(d));
        if (joule_device_power_period_us(d) > 0)
            cJSON_AddNumberToObject(o, "power_update_period_us", joule_device_power_period_us(d));
        add_timing_json(o, ctx, i);
        struct gpu_state s;
        read_gpu_state(ctx, d, &s);
        if (s.have_limits) {
            cJSON *pl = cJSON_AddObjectToObject(o, "power_limit_w");
            cJSON_AddNumberToObject(pl, "current", s.cur);
            cJSON_AddNumberToObject(pl, "min", s.min);
            cJSON_AddNumberToObject(pl, "max", s.max);
            cJSON_AddNumberToObject(pl, "default", s.def);
            cJSON_AddNumberToObject(pl, "enforced", s.enf);
        }
        if (s.have_clocks) {
            cJSON_AddNumberToObject(o, "sm_clock_mhz", s.sm);
            cJSON_AddNumberToObject(o, "memory_clock_mhz", s.mem);
        }
        if (s.have_temp)
            cJSON_AddNumberToObject(o, "temperature_c", s.temp);
        if (s.have_persistence)
            cJSON_AddBoolToObject(o, "persistence", s.persistence);
        if (s.have_throttle)
            cJSON_AddStringToObject(o, "throttle_reasons", s.throttle);
        cJSON_AddStringToObject(o, "note", joule_device_note(d));
    }
    cJSON *backends = cJSON_AddArrayToObject(root, "backends");
    for (int b = 0; b < joule_backend_count(ctx); b++) {
        int avail;
        const char *reason;
        const char *name = joule_backend_at(ctx, b, &avail, &reason);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(backends, o);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "available", avail);
        cJSON_AddStringToObject(o, "reason", reason);
    }
    char *text = cJSON_Print(root);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"devices", required_argument, NULL, 'd'},
        {"learn", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *spec = NULL;
    int json = 0, c;
    double learn_s = 1.5;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': spec = optarg; break;
        case 'l':
            if (cli_parse_duration("info", "--learn", optarg, 1, 0, 60, &learn_s))
                return 2;
            break;
        case 'j': json = 1; break;
        case 'h': info_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule info: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    joule_ctx *ctx = cli_open("info", spec, 1);
    if (!ctx)
        return 1;
    /* Learn how each counter and power reading updates, then replace the
     * nominal update periods by measured ones (200 ms more). */
    if (learn_s > 0)
        joule_learn_timing(ctx, learn_s);
    joule_detect_update_periods(ctx);
    int rc = json ? print_json(ctx) : print_text(ctx);
    joule_close(ctx);
    return rc;
}
