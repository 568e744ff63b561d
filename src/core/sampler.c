/* The sampler: one background thread reads every device of a context each
 * interval into per-(device, domain) compressed histories (stream.c).
 * Every sample carries the time of its own read. Power derived from an
 * energy counter (RAPL) is not stored: queries derive it from the counter's
 * history as the average over each interval between two counter changes,
 * stamped with the interval's start, so integrating that step function
 * gives back the counter's energy exactly. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "base/error.h"
#include "base/export.h"
#include "core/sampler.h"
#include "core/stream.h"

struct joule_sampler {
    struct joule_ctx *ctx;
    int64_t interval_ns;
    int ndev;
    struct stream *streams;  /* [ndev][JOULE_DOMAIN_COUNT] */
    unsigned char *active;   /* same shape */

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int running, stop;
    int64_t cpu_ns;          /* finished runs' thread CPU time */
    clockid_t cpu_clock;
};

static const char *const domain_names[JOULE_DOMAIN_COUNT] = {
    "power_w", "avg_power_w", "memory_power_w", "counter_power_w",
    "energy_j", "temp_c", "sm_clock_mhz", "throttle",
};

JOULE_EXPORT const char *joule_domain_name(int domain)
{
    return domain >= 0 && domain < JOULE_DOMAIN_COUNT ? domain_names[domain] : NULL;
}

static int slot(const struct joule_sampler *s, int dev, int domain)
{
    return dev * JOULE_DOMAIN_COUNT + domain;
}

static void choose_domains(struct joule_sampler *s, int i)
{
    const struct joule_device *d = s->ctx->devs[i];
    const struct jdev_ops *o = d->ops;
    unsigned char *a = &s->active[slot(s, i, 0)];
    a[JOULE_DOMAIN_POWER] = o->read_power_mw && (d->caps & JOULE_CAP_POWER_INSTANT);
    a[JOULE_DOMAIN_POWER_AVERAGE] = o->read_power_mw && (d->caps & JOULE_CAP_POWER_AVERAGE);
    a[JOULE_DOMAIN_POWER_MEMORY] = o->read_power_mw && (d->caps & JOULE_CAP_POWER_MEMORY);
    a[JOULE_DOMAIN_POWER_COUNTER] = o->read_energy_uj && d->kind != JOULE_KIND_GPU;
    a[JOULE_DOMAIN_ENERGY] = o->read_energy_uj != NULL;
    a[JOULE_DOMAIN_TEMPERATURE] = o->read_temperature_c && (d->caps & JOULE_CAP_TEMPERATURE);
    a[JOULE_DOMAIN_SM_CLOCK] = o->read_clocks_mhz && (d->caps & JOULE_CAP_CLOCKS);
    a[JOULE_DOMAIN_THROTTLE] = o->read_throttle && (d->caps & JOULE_CAP_THROTTLE);
}

/* Domains that change slowly (a 1 s average, temperature, clocks,
 * throttle reasons, memory power) are read at most this often; instant
 * power and the counter every tick. */
#define SLOW_DOMAIN_NS 10000000LL

static int is_slow(int domain)
{
    return domain == JOULE_DOMAIN_POWER_AVERAGE || domain == JOULE_DOMAIN_POWER_MEMORY ||
           domain == JOULE_DOMAIN_TEMPERATURE || domain == JOULE_DOMAIN_SM_CLOCK ||
           domain == JOULE_DOMAIN_THROTTLE;
}

/* Reads one device: its counter through the core (wrap-corrected), then
 * the other domains under the device's lock. Each read is stamped with
 * the time right after it returns. */
static void read_device(struct joule_sampler *s, int i, int slow_due)
{
    struct joule_device *d = s->ctx->devs[i];
    const unsigned char *a = &s->active[slot(s, i, 0)];
    struct stream *st = &s->streams[slot(s, i, 0)];
    int64_t t;
    if (a[JOULE_DOMAIN_ENERGY]) {
        uint64_t uj;
        t = joule_now_ns();
        if (jctx_read_energy_at(s->ctx, i, t, &uj) == 0)
            stream_append(&st[JOULE_DOMAIN_ENERGY], t / 1000, (int64_t)uj);
    }
    unsigned char want[JOULE_DOMAIN_COUNT];
    int any = 0;
    for (int k = 0; k < JOULE_DOMAIN_COUNT; k++) {
        want[k] = a[k] && k != JOULE_DOMAIN_ENERGY && k != JOULE_DOMAIN_POWER_COUNTER &&
                  (slow_due || !is_slow(k));
        any |= want[k];
    }
    if (!any)
        return;
    pthread_mutex_lock(&d->lock);
    static const enum jdev_power_kind kinds[3] = {JDEV_POWER_INSTANT, JDEV_POWER_AVERAGE,
                                                  JDEV_POWER_MEMORY};
    for (int k = 0; k < 3; k++) {
        uint32_t mw;
        int64_t start = joule_now_ns();
        if (want[k] && d->ops->read_power_mw(d, kinds[k], &mw) == 0) {
            int64_t end = joule_now_ns();
            stream_append(&st[k], end / 1000, mw);
            jctx_note_power_locked(s->ctx, i, kinds[k], start, end, mw);
        }
    }
    int c, sm, mem;
    uint64_t mask;
    if (want[JOULE_DOMAIN_TEMPERATURE] && d->ops->read_temperature_c(d, &c) == 0)
        stream_append(&st[JOULE_DOMAIN_TEMPERATURE], joule_now_ns() / 1000, c);
    if (want[JOULE_DOMAIN_SM_CLOCK] && d->ops->read_clocks_mhz(d, &sm, &mem) == 0)
        stream_append(&st[JOULE_DOMAIN_SM_CLOCK], joule_now_ns() / 1000, sm);
    if (want[JOULE_DOMAIN_THROTTLE] && d->ops->read_throttle(d, &mask) == 0)
        stream_append(&st[JOULE_DOMAIN_THROTTLE], joule_now_ns() / 1000, (int64_t)mask);
    pthread_mutex_unlock(&d->lock);
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void add_ns(struct timespec *ts, int64_t ns)
{
    int64_t n = ts->tv_nsec + ns;
    ts->tv_sec += n / 1000000000LL;
    ts->tv_nsec = n % 1000000000LL;
}

static void *sampler_main(void *arg)
{
    struct joule_sampler *s = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    int64_t slow_every = SLOW_DOMAIN_NS / s->interval_ns, tick = 0;
    if (slow_every < 1)
        slow_every = 1;
    pthread_mutex_lock(&s->lock);
    do { /* every start reads once, however soon it is stopped */
        pthread_mutex_unlock(&s->lock);
        int slow_due = tick++ % slow_every == 0;
        for (int i = 0; i < s->ndev; i++)
            read_device(s, i, slow_due);
        pthread_mutex_lock(&s->lock);
        add_ns(&next, s->interval_ns);
        /* Behind by more than a tick (a slow read): skip, don't burst. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - next.tv_sec) * 1000000000LL + (now.tv_nsec - next.tv_nsec) >
            s->interval_ns)
            next = now;
        int rc = 0;
        while (!s->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&s->cond, &s->lock, &next);
    } while (!s->stop);
    s->cpu_ns += thread_cpu_ns();
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

JOULE_EXPORT int joule_sampler_create(joule_ctx *ctx, double interval_ms, double history_s,
                                      joule_sampler **out)
{
    if (!ctx || !out)
        return joule_set_error(JOULE_EINVAL, "joule_sampler_create: NULL argument");
    *out = NULL;
    if (!(interval_ms >= 1.0 && interval_ms <= 1000.0))
        return joule_set_error(JOULE_EINVAL,
            "sampling interval %g ms is outside 1-1000 ms (1 kHz to 1 Hz)", interval_ms);
    if (!(history_s > 0 && history_s <= 7 * 24 * 3600.0))
        return joule_set_error(JOULE_EINVAL,
            "history of %g s is outside (0, 604800] s", history_s);
    pthread_rwlock_rdlock(&ctx->sampler_lock);
    int busy = ctx->sampler != NULL;
    pthread_rwlock_unlock(&ctx->sampler_lock);
    if (busy)
        return joule_set_error(JOULE_EBUSY, "this context already has a sampler");
    struct joule_sampler *s = calloc(1, sizeof *s);
    int n = ctx->ndev;
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    s->ctx = ctx;
    s->ndev = n;
    s->interval_ns = (int64_t)(interval_ms * 1e6);
    s->streams = calloc((size_t)(n ? n : 1) * JOULE_DOMAIN_COUNT, sizeof *s->streams);
    s->active = calloc((size_t)(n ? n : 1) * JOULE_DOMAIN_COUNT, 1);
    if (!s->streams || !s->active) {
        free(s->streams);
        free(s->active);
        free(s);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    for (int k = 0; k < n * JOULE_DOMAIN_COUNT; k++)
        stream_init(&s->streams[k], history_s);
    for (int i = 0; i < n; i++)
        choose_domains(s, i);
    /* Once per context: a later sampler reuses what was measured. */
    int unmeasured = 0;
    for (int i = 0; i < n; i++)
        unmeasured |= !jctx_periods_measured(ctx, i);
    if (unmeasured)
        joule_detect_update_periods(ctx);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_rwlock_wrlock(&ctx->sampler_lock);
    if (ctx->sampler) { /* another thread won the race */
        pthread_rwlock_unlock(&ctx->sampler_lock);
        joule_sampler_destroy(s);
        return joule_set_error(JOULE_EBUSY, "this context already has a sampler");
    }
    ctx->sampler = s;
    pthread_rwlock_unlock(&ctx->sampler_lock);
    *out = s;
    return 0;
}

JOULE_EXPORT int joule_sampler_start(joule_sampler *s)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "sampler is NULL");
    pthread_mutex_lock(&s->lock);
    if (s->running) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->stop = 0;
    int rc = pthread_create(&s->thread, NULL, sampler_main, s);
    if (rc == 0) {
        s->running = 1;
        if (pthread_getcpuclockid(s->thread, &s->cpu_clock))
            s->cpu_clock = (clockid_t)-1;
    }
    pthread_mutex_unlock(&s->lock);
    return rc ? joule_set_error(JOULE_ENOMEM, "cannot start the sampler thread: %s",
                                strerror(rc))
              : 0;
}

JOULE_EXPORT int joule_sampler_stop(joule_sampler *s)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "sampler is NULL");
    pthread_mutex_lock(&s->lock);
    if (!s->running) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->stop = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->lock);
    s->running = 0;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

JOULE_EXPORT void joule_sampler_destroy(joule_sampler *s)
{
    if (!s)
        return;
    joule_sampler_stop(s);
    pthread_rwlock_wrlock(&s->ctx->sampler_lock);
    if (s->ctx->sampler == s)
        s->ctx->sampler = NULL;
    pthread_rwlock_unlock(&s->ctx->sampler_lock);
    for (int k = 0; k < s->ndev * JOULE_DOMAIN_COUNT; k++)
        stream_destroy(&s->streams[k]);
    free(s->streams);
    free(s->active);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

static int check(joule_sampler *s, int device, int domain)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "sampler is NULL");
    if (device < 0 || device >= s->ndev)
        return joule_set_error(JOULE_EINVAL, "device %d out of range (0-%d)", device,
                               s->ndev - 1);
    if (domain < 0 || domain >= JOULE_DOMAIN_COUNT)
        return joule_set_error(JOULE_EINVAL, "unknown domain %d", domain);
    if (!s->active[slot(s, device, domain)])
        return joule_set_error(JOULE_ENOTSUP, "%s is not sampled in %s",
                               s->ctx->devs[device]->label, domain_names[domain]);
    return 0;
}

JOULE_EXPORT int joule_sampler_has(joule_sampler *s, int device, int domain)
{
    return s && device >= 0 && device < s->ndev && domain >= 0 &&
           domain < JOULE_DOMAIN_COUNT && s->active[slot(s, device, domain)];
}

static double to_unit(int domain, int64_t v)
{
    switch (domain) {
    case JOULE_DOMAIN_POWER:
    case JOULE_DOMAIN_POWER_AVERAGE:
    case JOULE_DOMAIN_POWER_MEMORY:
    case JOULE_DOMAIN_POWER_COUNTER: return (double)v / 1e3;
    case JOULE_DOMAIN_ENERGY: return (double)v / 1e6;
    default: return (double)v;
    }
}

/* Counter power from the energy history: the step starting at each
 * counter change holds the average power until the next change. */
static int read_counter_power(struct joule_sampler *s, int device, int64_t t0_us,
                              int64_t t1_us, struct sample **out, int64_t *last_read)
{
    struct sample *e;
    int64_t horizon = t1_us > INT64_MAX - 60000000LL ? INT64_MAX : t1_us + 60000000LL;
    int n = stream_read(&s->streams[slot(s, device, JOULE_DOMAIN_ENERGY)], t0_us, horizon, &e,
                        last_read);
    if (n < 0)
        return n;
    int m = 0;
    for (int k = 0; k + 1 < n && e[k].t_us <= t1_us; k++) {
        int64_t dt = e[k + 1].t_us - e[k].t_us;
        /* µJ per µs is W; stored in mW like the other power domains */
        e[m].v = dt > 0 ? (int64_t)llround((double)(e[k + 1].v - e[k].v) * 1e3 / (double)dt) : 0;
        e[m].t_us = e[k].t_us;
        if (last_read)
            *last_read = e[k + 1].t_us;
        m++;
    }
    *out = e;
    return m;
}

/* A domain's samples over [t0, t1], the one in force at t0 first. */
static int read_domain(struct joule_sampler *s, int device, int domain, int64_t t0_us,
                       int64_t t1_us, struct sample **out, int64_t *last_read)
{
    if (domain == JOULE_DOMAIN_POWER_COUNTER)
        return read_counter_power(s, device, t0_us, t1_us, out, last_read);
    return stream_read(&s->streams[slot(s, device, domain)], t0_us, t1_us, out, last_read);
}

/* A checked read of [t0_s, t1_s]: the count, or a negative code. */
static int read_span(struct joule_sampler *s, int device, int domain, double t0_s, double t1_s,
                     struct sample **v)
{
    int rc = check(s, device, domain);
    if (rc)
        return rc;
    return read_domain(s, device, domain, (int64_t)(t0_s * 1e6), (int64_t)(t1_s * 1e6), v,
                       NULL);
}

JOULE_EXPORT int joule_sampler_timeline(joule_sampler *s, int device, int domain, double t0_s,
                                        double t1_s, double *t_s, double *values, int cap)
{
    struct sample *v;
    int n = read_span(s, device, domain, t0_s, t1_s, &v);
    if (n < 0)
        return n;
    for (int k = 0; k < n && k < cap; k++) {
        if (t_s)
            t_s[k] = (double)v[k].t_us / 1e6;
        if (values)
            values[k] = to_unit(domain, v[k].v);
    }
    free(v);
    return n;
}

JOULE_EXPORT int joule_sampler_latest(joule_sampler *s, int device, int domain, double t0_s,
                                      double t1_s, double *t_s, double *value)
{
    struct sample *v;
    int n = read_span(s, device, domain, t0_s, t1_s, &v);
    if (n < 0)
        return n;
    if (n > 0) {
        if (t_s)
            *t_s = (double)v[n - 1].t_us / 1e6;
        if (value)
            *value = to_unit(domain, v[n - 1].v);
    }
    free(v);
    return n > 0 ? 0
                 : joule_set_error(JOULE_ENOENT, "no %s sample of %s in that time",
                                   domain_names[domain], s->ctx->devs[device]->label);
}

int sampler_energy_uj(struct joule_sampler *s, int device, int64_t t0_us, int64_t t1_us,
                      double *uj)
{
    static const int order[] = {JOULE_DOMAIN_POWER, JOULE_DOMAIN_POWER_COUNTER,
                                JOULE_DOMAIN_POWER_AVERAGE};
    int domain = -1;
    for (int k = 0; k < 3 && domain < 0; k++)
        if (s->active[slot(s, device, order[k])])
            domain = order[k];
    if (domain < 0)
        return joule_set_error(JOULE_ENOTSUP, "%s has no power reading to integrate",
                               s->ctx->devs[device]->label);
    struct sample *v;
    int64_t last_read;
    int n = read_domain(s, device, domain, t0_us, t1_us, &v, &last_read);
    if (n < 0)
        return n;
    if (n == 0) {
        free(v);
        return joule_set_error(JOULE_ENOENT, "the sampler holds no %s samples of %s for "
                               "that time", domain_names[domain],
                               s->ctx->devs[device]->label);
    }
    /* Each value holds from its time until the next sample; the first is
     * held back to t0 and the last on to t1 (mW × µs = nJ). */
    double nj = 0;
    for (int k = 0; k < n; k++) {
        int64_t from = k == 0 ? t0_us : v[k].t_us;
        int64_t to = k + 1 < n ? v[k + 1].t_us : t1_us;
        if (from < t0_us)
            from = t0_us;
        if (to > t1_us)
            to = t1_us;
        if (to > from)
            nj += (double)v[k].v * (double)(to - from);
    }
    free(v);
    *uj = nj / 1e3;
    return 0;
}

JOULE_EXPORT int joule_sampler_energy_j(joule_sampler *s, int device, double t0_s, double t1_s,
                                        double *joules)
{
    if (!s || !joules)
        return joule_set_error(JOULE_EINVAL, "joule_sampler_energy_j: NULL argument");
    if (device < 0 || device >= s->ndev)
        return joule_set_error(JOULE_EINVAL, "device %d out of range", device);
    if (!(t1_s >= t0_s))
        return joule_set_error(JOULE_EINVAL, "time range [%g, %g] s is empty", t0_s, t1_s);
    double uj;
    int rc = sampler_energy_uj(s, device, (int64_t)(t0_s * 1e6), (int64_t)(t1_s * 1e6), &uj);
    if (rc == 0)
        *joules = uj / 1e6;
    return rc;
}

JOULE_EXPORT uint64_t joule_sampler_dropped(joule_sampler *s, int device, int domain)
{
    if (check(s, device, domain))
        return 0;
    if (domain == JOULE_DOMAIN_POWER_COUNTER)
        domain = JOULE_DOMAIN_ENERGY;
    return stream_dropped(&s->streams[slot(s, device, domain)]);
}

JOULE_EXPORT size_t joule_sampler_memory_bytes(joule_sampler *s)
{
    if (!s)
        return 0;
    size_t b = sizeof *s;
    for (int k = 0; k < s->ndev * JOULE_DOMAIN_COUNT; k++)
        b += sizeof s->streams[k] + stream_bytes(&s->streams[k]);
    return b;
}

JOULE_EXPORT int joule_sampler_cpu_s(joule_sampler *s, double *total_s)
{
    if (!s)
        return joule_set_error(JOULE_EINVAL, "sampler is NULL");
    pthread_mutex_lock(&s->lock);
    int64_t cpu = s->cpu_ns;
    if (s->running && s->cpu_clock != (clockid_t)-1) {
        struct timespec ts;
        if (clock_gettime(s->cpu_clock, &ts) == 0)
            cpu += (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    pthread_mutex_unlock(&s->lock);
    if (total_s)
        *total_s = (double)cpu / 1e9;
    return 0;
}

int sampler_running(struct joule_sampler *s)
{
    pthread_mutex_lock(&s->lock);
    int r = s->running;
    pthread_mutex_unlock(&s->lock);
    return r;
}

size_t sampler_encoded_bytes(struct joule_sampler *s)
{
    size_t b = 0;
    for (int k = 0; k < s->ndev * JOULE_DOMAIN_COUNT; k++)
        b += stream_encoded_bytes(&s->streams[k]);
    return b;
}
