/* The daemon state: one joule context and one sampler shared by every
 * request, the power-limit cache, logging. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "auth.h"
#include "lease.h"
#include "sse.h"

static int use_syslog;

void jd_log_use_syslog(int on)
{
    use_syslog = on;
    if (on)
        openlog("jouled", LOG_PID, LOG_DAEMON);
}

/* One call, one line: control characters (a token subject with CR/LF, a
 * request's bytes in an error) and the backslash are escaped as \xNN, so
 * nothing a client sends can forge or split a log line. */
static void emit(int prio, const char *fmt, va_list ap)
{
    char *raw = NULL;
    if (vasprintf(&raw, fmt, ap) < 0)
        return;
    size_t n = strlen(raw);
    char *msg = malloc(4 * n + 1);
    if (!msg) {
        free(raw);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            o += (size_t)sprintf(msg + o, "\\x%02x", c);
        else
            msg[o++] = (char)c;
    }
    msg[o] = '\0';
    if (use_syslog)
        syslog(prio, "%s", msg);
    else
        fprintf(stderr, "jouled: %s%s\n", prio == LOG_ERR ? "error: " : "", msg);
    free(msg);
    free(raw);
}

void jd_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_NOTICE, fmt, ap);
    va_end(ap);
}

void jd_log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_ERR, fmt, ap);
    va_end(ap);
}

void jd_refresh_cache(struct jd *d)
{
    for (int g = 0; g < d->ngpu; g++) {
        int gpu = d->gpus[g].gpu;
        double cur = 0, mn = 0, mx = 0, def = 0;
        int have = joule_gpu_get_power_limit_w(d->ctx, gpu, &cur, &mn, &mx, &def, NULL) == 0;
        int on = -1;
        if (joule_gpu_get_persistence(d->ctx, gpu, &on) != 0)
            on = -1;
        pthread_mutex_lock(&d->cache_lock);
        struct jd_gpu_cache *c = &d->gpus[g];
        c->have_limit = have;
        if (have) {
            c->limit_w = cur;
            c->min_w = mn;
            c->max_w = mx;
            c->default_w = def;
        }
        c->persistence = on;
        pthread_mutex_unlock(&d->cache_lock);
    }
}

void jd_integrate_energy(struct jd *d)
{
    pthread_mutex_lock(&d->cache_lock);
    double now = joule_now_s();
    for (int g = 0; g < d->ngpu; g++) {
        struct jd_gpu_cache *c = &d->gpus[g];
        double j;
        if (c->no_counter && now > c->approx_t &&
            joule_sampler_energy_j(d->sampler, c->dev, c->approx_t, now, &j) == 0) {
            c->approx_j += j;
            c->approx_t = now;
            c->have_approx = 1;
        }
    }
    pthread_mutex_unlock(&d->cache_lock);
}

int jd_open_devices(const char *spec, joule_ctx **ctx, char *err, size_t errlen)
{
    /* The daemon must never route its own reads back to itself. */
    setenv("JOULE_DAEMON", "off", 1);
    joule_options *o = NULL;
    int rc = joule_options_create(&o);
    if (!rc)
        rc = joule_options_set_devices(o, spec);
    /* jouled measures no windows of its own: no power reads for edges. */
    if (!rc)
        rc = joule_options_set_edge_correction(o, 0);
    if (!rc)
        rc = joule_open(o, ctx);
    joule_options_destroy(o);
    if (rc)
        snprintf(err, errlen, "devices = %s: %s", spec, joule_last_error());
    return rc ? -1 : 0;
}

int jd_create(const struct jd_config *cfg, struct jd **out, char *err, size_t errlen)
{
    *out = NULL;
    struct jd *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->cfg = *cfg;
    pthread_mutex_init(&d->ctl_lock, NULL);
    pthread_mutex_init(&d->cache_lock, NULL);

    if (cfg->token_secret_file[0] &&
        jd_secret_load(cfg->token_secret_file, d->secret, sizeof d->secret, &d->secret_len, err,
                       errlen))
        goto fail;

    if (jd_open_devices(cfg->devices, &d->ctx, err, errlen))
        goto fail;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    d->mono_to_unix = (double)rt.tv_sec + rt.tv_nsec / 1e9 - joule_now_s();

    int n = joule_device_count(d->ctx);
    d->gpus = calloc(n ? (size_t)n : 1, sizeof *d->gpus);
    if (!d->gpus) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const joule_device *dev = joule_device_at(d->ctx, i);
        if (joule_device_kind(dev) == JOULE_KIND_GPU) {
            struct jd_gpu_cache *c = &d->gpus[d->ngpu++];
            c->dev = i;
            c->gpu = joule_device_index(dev);
            c->persistence = -1;
        }
    }
    jd_refresh_cache(d);

    if (joule_sampler_create(d->ctx, cfg->sample_interval_ms, 60.0, &d->sampler) ||
        joule_sampler_start(d->sampler)) {
        snprintf(err, errlen, "sampler: %s", joule_last_error());
        goto fail;
    }
    for (int g = 0; g < d->ngpu; g++) {
        struct jd_gpu_cache *c = &d->gpus[g];
        c->no_counter = !joule_sampler_has(d->sampler, c->dev, JOULE_DOMAIN_ENERGY);
        c->approx_t = joule_now_s();
    }
    if (jd_leases_create(d, err, errlen))
        goto fail;
    if (jd_hub_create(d)) {
        snprintf(err, errlen, "cannot start the stream thread");
        goto fail;
    }
    *out = d;
    return 0;
fail:
    jd_destroy(d);
    return -1;
}

void jd_destroy(struct jd *d)
{
    if (!d)
        return;
    jd_hub_destroy(d);
    if (d->ctx)
        jd_leases_destroy(d, 1);
    if (d->sampler)
        joule_sampler_destroy(d->sampler);
    joule_close(d->ctx);
    free(d->gpus);
    pthread_mutex_destroy(&d->ctl_lock);
    pthread_mutex_destroy(&d->cache_lock);
    free(d);
}
