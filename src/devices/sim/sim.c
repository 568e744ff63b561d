/* The `sim` backend: simulated GPUs driven by the model in sim_model.c,
 * on the real CLOCK_MONOTONIC clock. Selected only by a "sim:" spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "devices/device.h"
#include "devices/note.h"
#include "devices/sim/sim.h"
#include "devices/sim/sim_model.h"

struct sim_priv {
    struct sim_gpu model;
    struct sim_trace trace;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct sim_gpu *model(struct joule_device *d)
{
    return &((struct sim_priv *)d->priv)->model;
}

static void sim_close(struct joule_device *d) { free(d->priv); }

static int sim_read_energy(struct joule_device *d, uint64_t *uj)
{
    *uj = sim_gpu_counter_mj(model(d), now_ns()) * 1000ull;
    return 0;
}

static int sim_read_power(struct joule_device *d, enum jdev_power_kind k,
                          uint32_t *mw)
{
    struct sim_gpu *g = model(d);
    double w;
    switch (k) {
    case JDEV_POWER_INSTANT: w = sim_gpu_instant_power_w(g, now_ns()); break;
    case JDEV_POWER_AVERAGE: w = sim_gpu_average_power_w(g, now_ns()); break;
    case JDEV_POWER_MEMORY:
        if (!g->p.has_memory_power)
            return joule_set_error(JOULE_ENOTSUP, "%s has no memory power sensor", d->name);
        w = sim_gpu_memory_power_w(g, now_ns());
        break;
    default: return joule_set_error(JOULE_EINVAL, "unknown power kind %d", (int)k);
    }
    *mw = (uint32_t)(w * 1000.0 + 0.5);
    return 0;
}

static int sim_read_temperature(struct joule_device *d, int *c)
{
    *c = sim_gpu_temperature_c(model(d), now_ns());
    return 0;
}

static int sim_read_clocks(struct joule_device *d, int *sm, int *mem)
{
    *sm = sim_gpu_sm_clock_mhz(model(d), now_ns());
    *mem = model(d)->p.mem_mhz;
    return 0;
}

static int sim_read_throttle(struct joule_device *d, uint64_t *mask)
{
    *mask = sim_gpu_throttle(model(d), now_ns());
    return 0;
}

static int sim_get_limits(struct joule_device *d, struct jdev_power_limits *o)
{
    struct sim_gpu *g = model(d);
    o->current_mw = o->enforced_mw = (uint32_t)(g->pl_w * 1000 + 0.5);
    o->min_mw = (uint32_t)(g->p.pl_min_w * 1000 + 0.5);
    o->max_mw = (uint32_t)(g->p.pl_max_w * 1000 + 0.5);
    o->default_mw = (uint32_t)(g->p.pl_default_w * 1000 + 0.5);
    return 0;
}

static int sim_set_limit(struct joule_device *d, uint32_t mw)
{
    struct sim_gpu *g = model(d);
    double w = mw / 1000.0;
    if (w < g->p.pl_min_w || w > g->p.pl_max_w)
        return joule_set_error(JOULE_ERANGE,
            "power limit %.0f W is outside %s's range %.0f-%.0f W", w, d->name,
            g->p.pl_min_w, g->p.pl_max_w);
    sim_gpu_set_power_limit(g, now_ns(), w);
    return 0;
}

static int sim_lock_clocks(struct joule_device *d, int min, int max)
{
    struct sim_gpu *g = model(d);
    if (min > max || min < g->p.sm_min_mhz || max > g->p.sm_max_mhz)
        return joule_set_error(JOULE_ERANGE,
            "locked clocks %d-%d MHz are outside %s's range %d-%d MHz", min,
            max, d->name, g->p.sm_min_mhz, g->p.sm_max_mhz);
    sim_gpu_lock_clocks(g, now_ns(), min, max);
    return 0;
}

static int sim_reset_clocks(struct joule_device *d)
{
    sim_gpu_lock_clocks(model(d), now_ns(), 0, 0);
    return 0;
}

static int sim_supported_clocks(struct joule_device *d, int *mhz, int cap)
{
    const struct sim_preset *p = &model(d)->p;
    int n = 0;
    for (int f = p->sm_max_mhz; f >= p->sm_min_mhz; f -= 15) {
        if (n < cap)
            mhz[n] = f;
        n++;
    }
    return n;
}

static int sim_get_persistence(struct joule_device *d, int *on)
{
    *on = model(d)->persistence;
    return 0;
}

static int sim_set_persistence(struct joule_device *d, int on)
{
    model(d)->persistence = on != 0;
    return 0;
}

static int sim_set_load_op(struct joule_device *d, double load)
{
    if (!(load >= 0 && load <= 1))
        return joule_set_error(JOULE_ERANGE, "sim load %g is outside [0, 1]", load);
    sim_gpu_set_load(model(d), now_ns(), load);
    return 0;
}

static int sim_work_done_op(struct joule_device *d, double *work)
{
    *work = sim_gpu_work(model(d), now_ns());
    return 0;
}

#define SIM_OPS_COMMON                               \
    .close = sim_close,                              \
    .read_power_mw = sim_read_power,                 \
    .read_temperature_c = sim_read_temperature,      \
    .read_clocks_mhz = sim_read_clocks,              \
    .read_throttle = sim_read_throttle,              \
    .get_power_limits = sim_get_limits,              \
    .set_power_limit_mw = sim_set_limit,             \
    .lock_clocks_mhz = sim_lock_clocks,              \
    .reset_clocks = sim_reset_clocks,                \
    .supported_clocks_mhz = sim_supported_clocks,    \
    .get_persistence = sim_get_persistence,          \
    .set_persistence = sim_set_persistence

static const struct jdev_ops sim_ops = {SIM_OPS_COMMON, .read_energy_uj = sim_read_energy};
/* Pre-Volta presets have no energy counter: the core integrates power. */
static const struct jdev_ops sim_ops_no_counter = {SIM_OPS_COMMON};
/* What only a simulated GPU does (core/sim_api.c). */
static const struct jdev_sim_ops sim_only_ops = {
    .set_load = sim_set_load_op,
    .work_done = sim_work_done_op,
};

static const char *data_dir(void)
{
    const char *d = getenv("JOULE_DATA_DIR");
    return d && *d ? d : JOULE_DEFAULT_DATA_DIR;
}

/* A millisecond value from the environment, or def when unset. */
static int env_ms(const char *name, double max_ms, double def, double *out)
{
    const char *v = getenv(name);
    *out = def;
    if (!v || !*v)
        return 0;
    char *end;
    double ms = strtod(v, &end);
    if (end == v || *end || !(ms >= 0 && ms <= max_ms))
        return joule_set_error(JOULE_EINVAL, "%s='%s': expected milliseconds in [0, %g]",
                               name, v, max_ms);
    *out = ms;
    return 0;
}

/* Each simulated GPU's counter updates at its own seeded phase, as real
 * GPUs' do; JOULE_SIM_COUNTER_PHASE_MS fixes it, JOULE_SIM_POWER_PERIOD_MS
 * makes instant power refresh slower than every 1 ms tick. */
static int set_timing(struct sim_gpu *g, uint64_t seed)
{
    double phase_ms, power_ms;
    double seeded = (double)sim_seeded_phase_ns(seed, SIM_COUNTER_PERIOD_NS) / 1e6;
    int rc = env_ms("JOULE_SIM_COUNTER_PHASE_MS", SIM_COUNTER_PERIOD_NS / 1e6, seeded, &phase_ms);
    if (!rc)
        rc = env_ms("JOULE_SIM_POWER_PERIOD_MS", 1000, 0, &power_ms);
    if (rc)
        return rc;
    int64_t pp = (int64_t)(power_ms * 1e6);
    sim_gpu_set_timing(g, (int64_t)(phase_ms * 1e6), pp, sim_seeded_phase_ns(seed * 7 + 1, pp));
    return 0;
}

static int make_device(int i, const struct sim_preset *preset, const char *trace_spec,
                       struct jdev_list *out)
{
    struct sim_priv *priv = calloc(1, sizeof *priv);
    if (!priv)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    struct sim_preset p = *preset;
    const struct sim_trace *trace = NULL;
    if (trace_spec) {
        int rc = sim_trace_load(data_dir(), trace_spec, &priv->trace);
        if (rc) {
            free(priv);
            return rc;
        }
        trace = &priv->trace;
        /* The measured limits are the device's range. */
        p.pl_min_w = trace->pl_w[0];
        p.pl_max_w = p.pl_default_w = p.tdp_w = trace->pl_w[trace->n - 1];
    }
    const char *seed_env = getenv("JOULE_SIM_SEED");
    uint64_t seed = (seed_env ? strtoull(seed_env, NULL, 0) : 42) + (uint64_t)i;
    sim_gpu_init(&priv->model, &p, trace, seed, now_ns());

    int rc = set_timing(&priv->model, seed);
    const char *load = getenv("JOULE_SIM_LOAD");
    if (!rc && load && *load) {
        int pos = 0;
        if (sim_gpu_set_schedule(&priv->model, load, &pos))
            rc = joule_set_error(JOULE_EINVAL,
                "JOULE_SIM_LOAD='%s': bad value at character %d; expected a "
                "load in [0,1] like 0.8, seconds:load pairs like "
                "0:0.1,2:0.9,8:0.1, or square:LOW,HIGH,MIN_S,MAX_S like "
                "square:170W,560W,0.35,0.55", load, pos + 1);
    }
    if (rc) {
        free(priv);
        return rc;
    }

    struct joule_device *d = jdev_new(JOULE_KIND_GPU, "sim",
                                      p.has_energy_counter ? &sim_ops : &sim_ops_no_counter);
    if (!d) {
        free(priv);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    d->priv = priv;
    d->sim_ops = &sim_only_ops;
    d->backend_index = i;
    snprintf(d->name, sizeof d->name, "%s", p.name);
    snprintf(d->uuid, sizeof d->uuid, "GPU-5113%04x-0000-4000-8000-%012x", i, i);
    snprintf(d->arch, sizeof d->arch, "%s", p.arch);
    if (trace)
        jdev_note_add(d, "replays %s %s/%s batch %d (%s), %d power limits", trace->gpu,
                      trace->dataset, trace->network, trace->batch_size, trace->optimizer,
                      trace->n);
    d->caps = JOULE_CAP_POWER_INSTANT | JOULE_CAP_POWER_AVERAGE |
              JOULE_CAP_TEMPERATURE | JOULE_CAP_CLOCKS | JOULE_CAP_THROTTLE |
              JOULE_CAP_POWER_LIMIT | JOULE_CAP_SET_POWER_LIMIT |
              JOULE_CAP_LOCK_CLOCKS | JOULE_CAP_PERSISTENCE | JOULE_CAP_SIMULATED;
    if (p.has_energy_counter)
        d->caps |= JOULE_CAP_ENERGY_COUNTER;
    if (p.has_memory_power)
        d->caps |= JOULE_CAP_POWER_MEMORY;
    d->resolution_uj = 1000.0;
    d->update_period_us = p.has_energy_counter ? SIM_COUNTER_PERIOD_NS / 1000.0
                                               : SIM_TICK_NS / 1000.0;
    /* Instant power refreshes every tick, or as JOULE_SIM_POWER_PERIOD_MS says. */
    d->power_period_us = (priv->model.power_period_ns ? priv->model.power_period_ns
                                                      : SIM_TICK_NS) / 1000.0;
    d->max_power_mw = (uint32_t)(p.tdp_w * 1000);
    return jdev_list_push(out, d);
}

/* spec: "N[:PRESET[,PRESET...]]" or "N:trace=GPU/DATASET/NETWORK/BATCH". */
static int sim_discover(const struct jdev_discover_args *args,
                        struct jdev_list *out, char *reason, size_t reason_len)
{
    const char *spec = args->sim_spec;
    if (!spec) {
        snprintf(reason, reason_len, "only used when asked for, e.g. --devices sim:2:h100");
        return JOULE_ENODEV;
    }
    char *end;
    errno = 0;
    long n = strtol(spec, &end, 10);
    if (end == spec || errno || n < 1 || n > 64 || (*end && *end != ':'))
        return joule_set_error(JOULE_EINVAL,
            "device spec 'sim:%s': expected sim:COUNT[:PRESET] with COUNT 1-64, "
            "e.g. sim:4:h100", spec);
    const char *rest = *end ? end + 1 : "h100";
    if (strncmp(rest, "trace=", 6) == 0) {
        const struct sim_preset *p;
        char gpu[16];
        size_t len = strcspn(rest + 6, "/");
        snprintf(gpu, sizeof gpu, "%.*s", (int)(len < 15 ? len : 15), rest + 6);
        if (!(p = sim_preset_find(gpu)))
            return joule_set_error(JOULE_EINVAL,
                "device spec 'sim:%s': no preset for GPU '%s'", spec, gpu);
        for (long i = 0; i < n; i++) {
            int rc = make_device((int)i, p, rest + 6, out);
            if (rc)
                return rc;
        }
        return 0;
    }
    /* A comma list of presets, used in turn. */
    const char *names[64];
    char buf[256];
    snprintf(buf, sizeof buf, "%s", rest);
    int np = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && np < 64;
         tok = strtok_r(NULL, ",", &save))
        names[np++] = tok;
    if (np == 0)
        return joule_set_error(JOULE_EINVAL, "device spec 'sim:%s': no preset given", spec);
    for (long i = 0; i < n; i++) {
        const struct sim_preset *p = sim_preset_find(names[i % np]);
        if (!p) {
            char known[256] = "";
            for (int k = 0; k < sim_preset_count(); k++) {
                strncat(known, k ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, sim_preset_at(k)->key, sizeof known - strlen(known) - 1);
            }
            return joule_set_error(JOULE_EINVAL,
                "device spec 'sim:%s': unknown GPU preset '%s' (known: %s)",
                spec, names[i % np], known);
        }
        int rc = make_device((int)i, p, NULL, out);
        if (rc)
            return rc;
    }
    return 0;
}

const struct jdev_backend jdev_backend_sim = {"sim", sim_discover};

int sim_device_true_energy_j(struct joule_device *d, double *joules)
{
    if (!d || d->sim_ops != &sim_only_ops)
        return joule_set_error(JOULE_ENOTSUP, "not a simulated device");
    pthread_mutex_lock(&d->lock);
    *joules = sim_gpu_energy_j(model(d), now_ns());
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int sim_device_true_energy_at_j(struct joule_device *d, int64_t t_ns, double *joules)
{
    if (!d || d->sim_ops != &sim_only_ops)
        return joule_set_error(JOULE_ENOTSUP, "not a simulated device");
    pthread_mutex_lock(&d->lock);
    int64_t now = now_ns();
    sim_gpu_energy_j(model(d), now); /* apply every change up to now */
    *joules = sim_gpu_energy_j(model(d), t_ns < now ? t_ns : now);
    pthread_mutex_unlock(&d->lock);
    return 0;
}
