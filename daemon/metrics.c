/* GET /metrics: Prometheus text exposition (format 0.0.4) built from the
 * sampler's latest values and the power-limit cache: a scrape makes no
 * device calls. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value, escaped (backslash, double quote, newline) whole. */
static void put_label(struct buf *b, const char *name, const char *v)
{
    put(b, "%s=\"", name);
    for (;;) {
        size_t k = strcspn(v, "\\\"\n");
        put(b, "%.*s", (int)k, v);
        if (!v[k])
            break;
        put(b, "\\%c", v[k] == '\n' ? 'n' : v[k]);
        v += k + 1;
    }
    put(b, "\"");
}

static int latest(struct jd *d, int dev, int dom, double now, double *v)
{
    if (!joule_sampler_has(d->sampler, dev, dom))
        return -1;
    double x;
    if (joule_sampler_latest(d->sampler, dev, dom, now, now, NULL, &x) || isnan(x))
        return -1;
    *v = x;
    return 0;
}

/* metric{gpu="0",uuid="…",name="…"<extra>} value */
static void gpu_sample(struct buf *b, struct jd *d, int i, const char *metric, const char *extra,
                       const char *value)
{
    const joule_device *dev = joule_device_at(d->ctx, i);
    put(b, "%s{gpu=\"%d\",", metric, joule_device_index(dev));
    put_label(b, "uuid", joule_device_uuid(dev));
    put(b, ",");
    put_label(b, "name", joule_device_name(dev));
    put(b, "%s} %s\n", extra, value);
}

static const char *const throttle_reasons[] = {
    "gpu_idle",   "app_clocks", "sw_power_cap",   "hw_slowdown",    "sync_boost",
    "sw_thermal", "hw_thermal", "hw_power_brake", "display_clocks",
};

static int is_gpu(struct jd *d, int i)
{
    return joule_device_kind(joule_device_at(d->ctx, i)) == JOULE_KIND_GPU;
}

char *jd_metrics_text(struct jd *d, size_t *len)
{
    struct buf b = {malloc(8192), 0, 8192, 0};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    double now = joule_now_s();
    int n = joule_device_count(d->ctx);
    char val[64];
    double v;

    put(&b, "# HELP joule_gpu_energy_joules_total Energy used by the GPU since jouled started; "
            "quality=\"approx\": integrated from sampled power (no energy counter).\n"
            "# TYPE joule_gpu_energy_joules_total counter\n");
    for (int i = 0; i < n; i++)
        if (is_gpu(d, i) && latest(d, i, JOULE_DOMAIN_ENERGY, now, &v) == 0) {
            snprintf(val, sizeof val, "%.6f", v);
            gpu_sample(&b, d, i, "joule_gpu_energy_joules_total", "", val);
        }
    jd_integrate_energy(d); /* up to now: the sampler's values, no device call */
    pthread_mutex_lock(&d->cache_lock);
    for (int g = 0; g < d->ngpu; g++)
        if (d->gpus[g].have_approx) {
            snprintf(val, sizeof val, "%.6f", d->gpus[g].approx_j);
            gpu_sample(&b, d, d->gpus[g].dev, "joule_gpu_energy_joules_total",
                       ",quality=\"approx\"", val);
        }
    pthread_mutex_unlock(&d->cache_lock);

    put(&b, "# HELP joule_cpu_energy_joules_total Energy used by a CPU package or its DRAM "
            "since jouled started (RAPL).\n"
            "# TYPE joule_cpu_energy_joules_total counter\n");
    for (int i = 0; i < n; i++) {
        const joule_device *dev = joule_device_at(d->ctx, i);
        enum joule_device_kind k = joule_device_kind(dev);
        if ((k == JOULE_KIND_CPU_PACKAGE || k == JOULE_KIND_DRAM) &&
            latest(d, i, JOULE_DOMAIN_ENERGY, now, &v) == 0)
            put(&b, "joule_cpu_energy_joules_total{socket=\"%d\",domain=\"%s\"} %.6f\n",
                joule_device_index(dev), k == JOULE_KIND_DRAM ? "dram" : "package", v);
    }

    put(&b, "# HELP joule_gpu_power_watts Current GPU power draw.\n"
            "# TYPE joule_gpu_power_watts gauge\n");
    for (int i = 0; i < n; i++)
        if (is_gpu(d, i) && (latest(d, i, JOULE_DOMAIN_POWER, now, &v) == 0 ||
                             latest(d, i, JOULE_DOMAIN_POWER_AVERAGE, now, &v) == 0)) {
            snprintf(val, sizeof val, "%.3f", v);
            gpu_sample(&b, d, i, "joule_gpu_power_watts", "", val);
        }

    put(&b, "# HELP joule_gpu_power_limit_watts Power limit the GPU enforces.\n"
            "# TYPE joule_gpu_power_limit_watts gauge\n");
    pthread_mutex_lock(&d->cache_lock);
    for (int g = 0; g < d->ngpu; g++)
        if (d->gpus[g].have_limit) {
            snprintf(val, sizeof val, "%.3f", d->gpus[g].limit_w);
            gpu_sample(&b, d, d->gpus[g].dev, "joule_gpu_power_limit_watts", "", val);
        }
    pthread_mutex_unlock(&d->cache_lock);

    put(&b, "# HELP joule_gpu_temperature_celsius GPU temperature.\n"
            "# TYPE joule_gpu_temperature_celsius gauge\n");
    for (int i = 0; i < n; i++)
        if (is_gpu(d, i) && latest(d, i, JOULE_DOMAIN_TEMPERATURE, now, &v) == 0) {
            snprintf(val, sizeof val, "%g", v);
            gpu_sample(&b, d, i, "joule_gpu_temperature_celsius", "", val);
        }

    put(&b, "# HELP joule_gpu_sm_clock_hertz GPU SM clock.\n"
            "# TYPE joule_gpu_sm_clock_hertz gauge\n");
    for (int i = 0; i < n; i++)
        if (is_gpu(d, i) && latest(d, i, JOULE_DOMAIN_SM_CLOCK, now, &v) == 0) {
            snprintf(val, sizeof val, "%.0f", v * 1e6);
            gpu_sample(&b, d, i, "joule_gpu_sm_clock_hertz", "", val);
        }

    put(&b, "# HELP joule_gpu_throttle_active Whether a clock throttle reason is active "
            "(1) or not (0).\n"
            "# TYPE joule_gpu_throttle_active gauge\n");
    for (int i = 0; i < n; i++)
        if (is_gpu(d, i) && latest(d, i, JOULE_DOMAIN_THROTTLE, now, &v) == 0) {
            uint64_t mask = (uint64_t)v;
            for (unsigned r = 0; r < sizeof throttle_reasons / sizeof *throttle_reasons; r++) {
                char reason[64];
                snprintf(reason, sizeof reason, ",reason=\"%s\"", throttle_reasons[r]);
                gpu_sample(&b, d, i, "joule_gpu_throttle_active", reason,
                           (mask >> r) & 1 ? "1" : "0");
            }
        }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
