/* Leases and the state file (see lease.h). */
#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_LEASES 256 /* settings with a recorded original */
#define MAX_HOLDS 256  /* leases over all settings */

/* One owner's lease on a setting: what it set, and how to tell it ended. */
struct hold {
    struct jd_owner owner;
    struct jd_value value;
    int pidfd;                 /* -1: poll the pid instead */
    unsigned long long start_time; /* /proc/PID/stat field 22 */
    double deadline;           /* monotonic s, TTL leases */
    uint64_t id;
};

/* A (GPU, setting) jouled changed: its original and the stack of leases
 * on it, the top one in force. No holds: between prepare and commit, or
 * left by a crashed predecessor and not restorable yet (note says). */
struct lease {
    int used;
    int gpu;
    char uuid[96];
    int setting;
    int64_t orig;              /* mW, or persistence 0/1; unused for clocks */
    char note[32];
    struct hold *h;            /* bottom .. top */
    int nh;
};

struct jd_leases {
    struct lease l[MAX_LEASES];
    int nholds;
    uint64_t next_id;
    char path[512], tmp[520];
    pthread_t thread;
    int running;
    int wake[2];
    int stop;
};

static const char *const setting_names[JD_SET_COUNT] = {"power_limit", "clocks",
                                                          "memory_clocks", "persistence"};

const char *jd_setting_name(int s)
{
    return s >= 0 && s < JD_SET_COUNT ? setting_names[s] : "unknown";
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* after ") " come fields 3.. ; start time is field 22 */
    unsigned long long v = 0;
    int field = 2;
    for (char *t = p + 1; *t; t++)
        if (*t == ' ' && ++field == 22) {
            v = strtoull(t + 1, NULL, 10);
            break;
        }
    return v;
}

static int hold_alive(const struct hold *h)
{
    if (h->owner.kind == JD_OWNER_TTL)
        return mono_s() < h->deadline;
    if (h->pidfd >= 0) {
        struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
        return poll(&p, 1, 0) == 0;
    }
    if (kill(h->owner.pid, 0) != 0 && errno == ESRCH)
        return 0;
    return proc_start_time(h->owner.pid) == h->start_time;
}

/* ---- state file ---- */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes every recorded original; 0 or -1 with why. */
static int state_write(struct jd *d, char *why, size_t whylen)
{
    struct jd_leases *L = d->leases;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON *arr = cJSON_AddArrayToObject(root, "entries");
    for (int i = 0; i < MAX_LEASES; i++) {
        struct lease *l = &L->l[i];
        if (!l->used)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "gpu", l->gpu);
        cJSON_AddStringToObject(e, "uuid", l->uuid);
        cJSON_AddStringToObject(e, "setting", setting_names[l->setting]);
        if (l->setting == JD_SET_POWER_LIMIT)
            cJSON_AddNumberToObject(e, "orig_mw", (double)l->orig);
        if (l->setting == JD_SET_PERSISTENCE)
            cJSON_AddNumberToObject(e, "orig", (double)l->orig);
        cJSON_AddStringToObject(e, "owner", l->nh ? l->h[l->nh - 1].owner.subject : l->note);
        cJSON_AddItemToArray(arr, e);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int fd = open(L->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    free(text);
    if (ok)
        ok = rename(L->tmp, L->path) == 0;
    if (ok)
        ok = fsync_dir(d->cfg.state_dir) == 0;
    if (!ok) {
        snprintf(why, whylen, "cannot write the state file %s: %s", L->path,
                 strerror(e ? e : errno));
        return -1;
    }
    return 0;
}

/* ---- applying values ---- */

static void cache_clocks(struct jd *d, int gpu, int setting, int min_mhz, int max_mhz)
{
    pthread_mutex_lock(&d->cache_lock);
    for (int i = 0; i < d->ngpu; i++)
        if (d->gpus[i].gpu == gpu && setting == JD_SET_CLOCKS) {
            d->gpus[i].lock_min_mhz = min_mhz;
            d->gpus[i].lock_max_mhz = max_mhz;
        } else if (d->gpus[i].gpu == gpu && setting == JD_SET_MEM_CLOCKS) {
            d->gpus[i].mem_lock_min_mhz = min_mhz;
            d->gpus[i].mem_lock_max_mhz = max_mhz;
        }
    pthread_mutex_unlock(&d->cache_lock);
}

int jd_lease_apply(struct jd *d, int gpu, int setting, const struct jd_value *v)
{
    int rc;
    switch (setting) {
    case JD_SET_POWER_LIMIT:
        rc = v->reset ? joule_gpu_reset_power_limit(d->ctx, gpu)
                      : joule_gpu_set_power_limit_w(d->ctx, gpu, v->watts);
        break;
    case JD_SET_CLOCKS:
        rc = v->reset ? joule_gpu_reset_clocks(d->ctx, gpu)
                      : joule_gpu_lock_clocks_mhz(d->ctx, gpu, v->min_mhz, v->max_mhz);
        break;
    case JD_SET_MEM_CLOCKS:
        rc = v->reset ? joule_gpu_reset_memory_clocks(d->ctx, gpu)
                      : joule_gpu_lock_memory_clocks_mhz(d->ctx, gpu, v->min_mhz, v->max_mhz);
        break;
    default: rc = joule_gpu_set_persistence(d->ctx, gpu, v->enabled); break;
    }
    if (rc == 0 && (setting == JD_SET_CLOCKS || setting == JD_SET_MEM_CLOCKS))
        cache_clocks(d, gpu, setting, v->reset ? 0 : v->min_mhz, v->reset ? 0 : v->max_mhz);
    return rc;
}

static void hold_close(struct hold *h)
{
    if (h->pidfd >= 0)
        close(h->pidfd);
    h->pidfd = -1;
}

static void lease_clear(struct jd_leases *L, struct lease *l)
{
    for (int i = 0; i < l->nh; i++)
        hold_close(&l->h[i]);
    L->nholds -= l->nh;
    free(l->h);
    memset(l, 0, sizeof *l);
}

/* Puts the original back and forgets the setting (kept if that fails). */
static int lease_end(struct jd *d, struct lease *l, const char *why)
{
    struct jd_value v = {.reset = l->setting == JD_SET_CLOCKS || l->setting == JD_SET_MEM_CLOCKS,
                         .watts = (double)l->orig / 1000.0,
                         .enabled = (int)l->orig};
    int rc = jd_lease_apply(d, l->gpu, l->setting, &v);
    if (rc) {
        jd_log_error("restoring %s of gpu%d failed: %s", setting_names[l->setting], l->gpu,
                     joule_last_error());
        return rc;
    }
    jd_log("restored %s of gpu%d (%s; owner %s)", setting_names[l->setting], l->gpu, why,
           l->nh ? l->h[l->nh - 1].owner.subject : l->note);
    lease_clear(d->leases, l);
    return 0;
}

/* Ends hold k: below the top it just leaves the stack; the top one hands
 * the setting to the lease below it or, the last one, to the original.
 * Returns 1 when the setting is forgotten (the state file changes). */
static int hold_end(struct jd *d, struct lease *l, int k, const char *why)
{
    if (l->nh == 1)
        return lease_end(d, l, why) == 0;
    struct hold gone = l->h[k];
    memmove(&l->h[k], &l->h[k + 1], (size_t)(l->nh - k - 1) * sizeof *l->h);
    l->nh--;
    d->leases->nholds--;
    const struct hold *top = &l->h[l->nh - 1];
    if (k < l->nh)
        jd_log("gpu%d %s: lease of %s ended (%s) under the lease of %s, which stays", l->gpu,
               setting_names[l->setting], gone.owner.subject, why, top->owner.subject);
    else if (jd_lease_apply(d, l->gpu, l->setting, &top->value))
        jd_log_error("gpu%d %s: putting back the value of %s failed: %s", l->gpu,
                     setting_names[l->setting], top->owner.subject, joule_last_error());
    else
        jd_log("gpu%d %s: lease of %s ended (%s); back to the value of %s", l->gpu,
               setting_names[l->setting], gone.owner.subject, why, top->owner.subject);
    hold_close(&gone);
    return 0;
}

/* ---- watcher ---- */

static void *watcher(void *arg)
{
    struct jd *d = arg;
    struct jd_leases *L = d->leases;
    double next_refresh = 0;
    for (;;) {
        struct pollfd p[MAX_HOLDS + 1];
        int n = 0;
        p[n++] = (struct pollfd){.fd = L->wake[0], .events = POLLIN};
        pthread_mutex_lock(&d->ctl_lock);
        if (L->stop) {
            pthread_mutex_unlock(&d->ctl_lock);
            return NULL;
        }
        for (int i = 0; i < MAX_LEASES; i++)
            for (int k = 0; k < L->l[i].nh; k++)
                if (L->l[i].h[k].pidfd >= 0 && n <= MAX_HOLDS)
                    p[n++] = (struct pollfd){.fd = L->l[i].h[k].pidfd, .events = POLLIN};
        pthread_mutex_unlock(&d->ctl_lock);
        poll(p, (nfds_t)n, 200);
        if (p[0].revents & POLLIN) {
            char buf[64];
            ssize_t r = read(L->wake[0], buf, sizeof buf);
            (void)r;
        }
        pthread_mutex_lock(&d->ctl_lock);
        if (L->stop) {
            pthread_mutex_unlock(&d->ctl_lock);
            return NULL;
        }
        int changed = 0;
        for (int i = 0; i < MAX_LEASES; i++) {
            struct lease *l = &L->l[i];
            /* top down: an ended top hands over to the next live one */
            for (int k = l->nh - 1; k >= 0; k--)
                if (k < l->nh && !hold_alive(&l->h[k]))
                    changed |= hold_end(d, l, k,
                                        l->h[k].owner.kind == JD_OWNER_TTL ? "TTL lapsed"
                                                                           : "client exited");
        }
        if (changed) {
            char why[512];
            if (state_write(d, why, sizeof why))
                jd_log_error("%s", why);
        }
        pthread_mutex_unlock(&d->ctl_lock);
        double now = mono_s();
        if (now >= next_refresh) {
            jd_refresh_cache(d); /* limits may change behind our back */
            jd_integrate_energy(d);
            next_refresh = now + 1.0;
        }
    }
}

static void wake(struct jd_leases *L)
{
    char c = 1;
    ssize_t r = write(L->wake[1], &c, 1);
    (void)r;
}

/* ---- lifecycle ---- */

static int gpu_by_uuid(struct jd *d, const char *uuid, int fallback)
{
    for (int i = 0; i < joule_device_count(d->ctx); i++) {
        const joule_device *dev = joule_device_at(d->ctx, i);
        if (joule_device_kind(dev) == JOULE_KIND_GPU && uuid[0] &&
            strcmp(joule_device_uuid(dev), uuid) == 0)
            return joule_device_index(dev);
    }
    return uuid[0] ? -1 : fallback;
}

/* ---- crash recovery ---- */

#define STATE_MAX_BYTES (16 << 20)

/* The whole file into *text (NUL-terminated); 0, 1 when there is none, or
 * -1 with why. */
static int read_all(const char *path, char **text, size_t *len, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(why, whylen, "cannot read the state file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (ssize_t r = 1; buf && r > 0;) {
        if (n == cap && n < STATE_MAX_BYTES + 1) {
            char *b = realloc(buf, (cap *= 2) + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        r = n < cap ? read(fd, buf + n, cap - n) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, whylen, "cannot read the state file %s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        n += (size_t)r;
    }
    close(fd);
    if (!buf) {
        snprintf(why, whylen, "out of memory reading %s", path);
        return -1;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Checks one entry before anything is converted; 0, or -1 with what is
 * wrong (the numbers must be exactly what state_write writes). */
static int entry_check(const cJSON *e, int *setting, int *gpu, const char **uuid, int64_t *orig,
                       char *why, size_t whylen)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(e, "gpu");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "uuid");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "setting");
    *setting = -1;
    for (int j = 0; j < JD_SET_COUNT && cJSON_IsString(s); j++)
        if (!strcmp(s->valuestring, setting_names[j]))
            *setting = j;
    if (!cJSON_IsObject(e) || *setting < 0) {
        snprintf(why, whylen, "no known \"setting\"");
        return -1;
    }
    if (!cJSON_IsNumber(g) || g->valuedouble != floor(g->valuedouble) || g->valuedouble < 0 ||
        g->valuedouble > 1023) {
        snprintf(why, whylen, "\"gpu\" is not an index 0-1023");
        return -1;
    }
    *gpu = (int)g->valuedouble;
    if (u && (!cJSON_IsString(u) || strlen(u->valuestring) >= sizeof((struct lease *)0)->uuid)) {
        snprintf(why, whylen, "\"uuid\" is not a GPU UUID");
        return -1;
    }
    *uuid = u ? u->valuestring : "";
    *orig = 0;
    if (*setting != JD_SET_POWER_LIMIT && *setting != JD_SET_PERSISTENCE)
        return 0;
    const char *key = *setting == JD_SET_POWER_LIMIT ? "orig_mw" : "orig";
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(e, key);
    double lo = *setting == JD_SET_POWER_LIMIT ? 1 : 0;
    double hi = *setting == JD_SET_POWER_LIMIT ? 1e9 : 1; /* 1 mW..1 MW; off/on */
    if (!cJSON_IsNumber(o) || !(o->valuedouble >= lo && o->valuedouble <= hi) ||
        o->valuedouble != floor(o->valuedouble)) {
        snprintf(why, whylen, "\"%s\" = %.17g is not an integer in %.0f..%.0f", key,
                 cJSON_IsNumber(o) ? o->valuedouble : NAN, lo, hi);
        return -1;
    }
    *orig = (int64_t)o->valuedouble;
    return 0;
}

/* Moves a state file that cannot be trusted aside (the only record of the
 * originals must never be overwritten); 0 or -1. */
static int set_aside(struct jd *d, char *aside, size_t len)
{
    const char *path = d->leases->path;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    for (int k = 0; k < 100; k++) {
        if (k)
            snprintf(aside, len, "%s.corrupt-%s-%d", path, stamp, k);
        else
            snprintf(aside, len, "%s.corrupt-%s", path, stamp);
        /* link fails rather than replace an earlier copy */
        if (link(path, aside) == 0)
            return unlink(path) == 0 && fsync_dir(d->cfg.state_dir) == 0 ? 0 : -1;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Whatever the state file holds was left by a predecessor that did not get
 * to restore it: restore it now. A file that is not exactly what
 * state_write writes (not JSON, another version, a bad entry) is set aside
 * and reported; its valid entries are still restored. */
static int state_load(struct jd *d, char *err, size_t errlen)
{
    struct jd_leases *L = d->leases;
    char *text = NULL;
    size_t n = 0;
    int rc = read_all(L->path, &text, &n, err, errlen);
    if (rc)
        return rc > 0 ? 0 : -1;
    char problem[512] = "";
    int bad = 0, total = 0, restored = 0, k = 0;
    const char *end = text;
    cJSON *root = n <= STATE_MAX_BYTES ? cJSON_ParseWithLengthOpts(text, n, &end, 0) : NULL;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
    if (n > STATE_MAX_BYTES)
        snprintf(problem, sizeof problem, "larger than %d MiB", STATE_MAX_BYTES >> 20);
    else if (!root || end[strspn(end, " \t\r\n")])
        snprintf(problem, sizeof problem, "not valid JSON (error near byte %zu)",
                 (size_t)(end - text));
    else if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
        snprintf(problem, sizeof problem,
                 "unknown version %.17g (this jouled reads version 1); nothing in it is "
                 "restored", cJSON_IsNumber(ver) ? ver->valuedouble : NAN);
    else if (!cJSON_IsArray(entries))
        snprintf(problem, sizeof problem, "\"entries\" is not an array");
    /* First check every entry, then restore the good ones. Two entries
     * for one setting contradict each other: neither is trusted. */
    struct rec {
        int valid, ok, setting, gpu;
        const char *uuid;
        int64_t orig;
    } *recs = calloc((size_t)cJSON_GetArraySize(entries) + 1, sizeof *recs);
    for (const cJSON *e = problem[0] || !recs ? NULL : entries->child; e; e = e->next) {
        struct rec *r = &recs[total++];
        char why[256] = "";
        r->valid = entry_check(e, &r->setting, &r->gpu, &r->uuid, &r->orig, why, sizeof why) == 0;
        r->ok = r->valid;
        for (struct rec *q = recs; q < r && r->valid; q++)
            if (q->valid && q->setting == r->setting && !strcmp(q->uuid, r->uuid) &&
                (r->uuid[0] || q->gpu == r->gpu)) {
                snprintf(why, sizeof why, "repeats entry %d", (int)(q - recs) + 1);
                bad += q->ok;
                q->ok = r->ok = 0;
            }
        bad += !!why[0];
        if (why[0] && !problem[0])
            snprintf(problem, sizeof problem, "entry %d: %s", total, why);
    }
    for (struct rec *r = recs; r && r < recs + total; r++) {
        if (!r->ok)
            continue;
        if (k >= MAX_LEASES) {
            bad++;
            if (!problem[0])
                snprintf(problem, sizeof problem, "more than %d entries", MAX_LEASES);
            continue;
        }
        int found = gpu_by_uuid(d, r->uuid, r->gpu);
        struct lease *l = &L->l[k];
        l->used = 1;
        l->gpu = found < 0 ? r->gpu : found;
        snprintf(l->uuid, sizeof l->uuid, "%s", r->uuid);
        l->setting = r->setting;
        l->orig = r->orig;
        snprintf(l->note, sizeof l->note, "crashed predecessor");
        if (found < 0) {
            jd_log_error("state file: GPU %s is gone; keeping its %s entry for the next start",
                         r->uuid, setting_names[r->setting]);
            k++;
        } else if (lease_end(d, l, "crash recovery") == 0) {
            restored++;
        } else {
            k++; /* kept for the next start */
        }
    }
    free(recs);
    cJSON_Delete(root);
    free(text);
    if (!problem[0])
        return 0;
    char aside[600];
    if (set_aside(d, aside, sizeof aside)) {
        snprintf(err, errlen, "state file %s: %s; cannot move it aside (%s): refusing to start "
                 "rather than overwrite it", L->path, problem, strerror(errno));
        return -1;
    }
    jd_log_error("state file %s: %s; kept as %s; restored %d of %d entr%s (%d bad): check the "
                 "GPUs' settings against it", L->path, problem, aside, restored, total,
                 total == 1 ? "y" : "ies", bad);
    return 0;
}

int jd_leases_create(struct jd *d, char *err, size_t errlen)
{
    struct jd_leases *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    L->next_id = 1;
    L->wake[0] = L->wake[1] = -1;
    snprintf(L->path, sizeof L->path, "%s/state.json", d->cfg.state_dir);
    snprintf(L->tmp, sizeof L->tmp, "%s.tmp", L->path);
    d->leases = L;
    if (mkdir(d->cfg.state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: %s", d->cfg.state_dir, strerror(errno));
        return -1;
    }
    if (state_load(d, err, errlen))
        return -1;
    if (state_write(d, err, errlen))
        return -1;
    if (pipe2(L->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pthread_create(&L->thread, NULL, watcher, d) != 0) {
        snprintf(err, errlen, "cannot start the lease thread");
        return -1;
    }
    L->running = 1;
    return 0;
}

void jd_leases_destroy(struct jd *d, int restore)
{
    struct jd_leases *L = d->leases;
    if (!L)
        return;
    if (L->running) {
        pthread_mutex_lock(&d->ctl_lock);
        L->stop = 1;
        pthread_mutex_unlock(&d->ctl_lock);
        wake(L);
        pthread_join(L->thread, NULL);
    }
    pthread_mutex_lock(&d->ctl_lock);
    int any = 0;
    for (int i = 0; i < MAX_LEASES; i++)
        if (restore && L->l[i].nh)
            any |= lease_end(d, &L->l[i], "daemon stopping") == 0;
    char why[512];
    if (any && state_write(d, why, sizeof why))
        jd_log_error("%s", why);
    for (int i = 0; i < MAX_LEASES; i++)
        lease_clear(L, &L->l[i]);
    pthread_mutex_unlock(&d->ctl_lock);
    if (L->wake[0] >= 0)
        close(L->wake[0]);
    if (L->wake[1] >= 0)
        close(L->wake[1]);
    free(L);
    d->leases = NULL;
}

/* ---- changes ---- */

/* The monitored GPU with this index, or NULL. */
static const joule_device *gpu_device(struct jd *d, int gpu)
{
    for (int i = 0; i < joule_device_count(d->ctx); i++) {
        const joule_device *dev = joule_device_at(d->ctx, i);
        if (joule_device_kind(dev) == JOULE_KIND_GPU && joule_device_index(dev) == gpu)
            return dev;
    }
    return NULL;
}

static struct lease *find(struct jd_leases *L, int gpu, int setting)
{
    for (int i = 0; i < MAX_LEASES; i++)
        if (L->l[i].used && L->l[i].gpu == gpu && L->l[i].setting == setting)
            return &L->l[i];
    return NULL;
}

int jd_lease_prepare(struct jd *d, int gpu, int setting, int *created, char *why, size_t whylen)
{
    struct jd_leases *L = d->leases;
    *created = 0;
    if (L->nholds >= MAX_HOLDS) {
        snprintf(why, whylen, "too many active leases (%d)", MAX_HOLDS);
        return -1;
    }
    if (find(L, gpu, setting))
        return 0;
    struct lease *l = NULL;
    for (int i = 0; i < MAX_LEASES && !l; i++)
        if (!L->l[i].used)
            l = &L->l[i];
    if (!l) {
        snprintf(why, whylen, "too many changed settings (%d)", MAX_LEASES);
        return -1;
    }
    const joule_device *dev = gpu_device(d, gpu);
    if (!dev) {
        snprintf(why, whylen, "gpu%d is not monitored by jouled", gpu);
        return -1;
    }
    int64_t orig = 0;
    if (setting == JD_SET_POWER_LIMIT) {
        double cur;
        if (joule_gpu_get_power_limit_w(d->ctx, gpu, &cur, NULL, NULL, NULL, NULL)) {
            snprintf(why, whylen, "cannot read the current power limit: %s", joule_last_error());
            return -1;
        }
        orig = llround(cur * 1000.0);
    } else if (setting == JD_SET_PERSISTENCE) {
        int on = -1;
        int rc = joule_gpu_get_persistence(d->ctx, gpu, &on);
        if (rc) {
            snprintf(why, whylen, "cannot read persistence mode of gpu%d: %s", gpu,
                     rc == JOULE_ENOTSUP ? "not supported" : joule_last_error());
            return -1;
        }
        orig = on;
    }
    memset(l, 0, sizeof *l);
    l->used = 1;
    l->gpu = gpu;
    snprintf(l->uuid, sizeof l->uuid, "%s", joule_device_uuid(dev));
    l->setting = setting;
    l->orig = orig;
    snprintf(l->note, sizeof l->note, "pending");
    if (state_write(d, why, whylen)) {
        lease_clear(L, l);
        return -1;
    }
    *created = 1;
    return 0;
}

void jd_lease_abort(struct jd *d, int gpu, int setting)
{
    struct lease *l = find(d->leases, gpu, setting);
    if (!l || l->nh)
        return;
    lease_clear(d->leases, l);
    char why[512];
    if (state_write(d, why, sizeof why))
        jd_log_error("%s", why);
}

static int owner_matches(const struct jd_owner *a, const struct jd_owner *o)
{
    if (a->kind != o->kind)
        return 0;
    if (o->kind == JD_OWNER_PID)
        return a->pid == o->pid;
    return strcmp(a->subject, o->subject) == 0;
}

int jd_lease_commit(struct jd *d, int gpu, int setting, const struct jd_owner *o,
                    const struct jd_value *v, int persist, char *why, size_t whylen)
{
    struct jd_leases *L = d->leases;
    struct lease *l = find(L, gpu, setting);
    if (!l)
        return 0;
    if (persist) {
        jd_log("persist: %s of gpu%d set by %s stays after the client ends%s",
               setting_names[setting], gpu, o->subject,
               l->nh ? "; the leases on it end without restoring" : "");
        lease_clear(L, l);
        if (state_write(d, why, whylen))
            jd_log_error("%s", why);
        return 0;
    }
    struct hold *h = realloc(l->h, (size_t)(l->nh + 1) * sizeof *h);
    if (!h) { /* no lease can hold the change: undo it */
        snprintf(why, whylen, "out of memory; the change is undone");
        if (l->nh)
            jd_lease_apply(d, gpu, setting, &l->h[l->nh - 1].value);
        else
            lease_end(d, l, "out of memory");
        return -1;
    }
    l->h = h;
    /* An owner holds one place in the stack: a new value moves it on top. */
    for (int k = 0; k < l->nh; k++)
        if (owner_matches(&l->h[k].owner, o)) {
            hold_close(&l->h[k]);
            memmove(&l->h[k], &l->h[k + 1], (size_t)(l->nh - k - 1) * sizeof *l->h);
            l->nh--;
            L->nholds--;
            break;
        }
    h = &l->h[l->nh++];
    L->nholds++;
    memset(h, 0, sizeof *h);
    h->owner = *o;
    h->value = *v;
    h->id = L->next_id++;
    h->pidfd = -1;
    if (o->kind == JD_OWNER_PID) {
        h->pidfd = (int)syscall(SYS_pidfd_open, o->pid, 0);
        h->start_time = proc_start_time(o->pid);
        if (h->pidfd < 0 && errno != ENOSYS) /* the client is already gone */
            jd_log("client pid %d is gone; its lease ends at once", (int)o->pid);
    }
    h->deadline = o->kind == JD_OWNER_TTL ? mono_s() + o->ttl_s : 0;
    if (state_write(d, why, whylen))
        jd_log_error("%s", why);
    wake(L);
    return 0;
}

int jd_lease_release(struct jd *d, const struct jd_owner *o, int gpu)
{
    struct jd_leases *L = d->leases;
    int n = 0, changed = 0;
    for (int i = 0; i < MAX_LEASES; i++) {
        struct lease *l = &L->l[i];
        for (int k = l->nh - 1; k >= 0; k--)
            if (k < l->nh && (gpu < 0 || l->gpu == gpu) && owner_matches(&l->h[k].owner, o)) {
                n++;
                changed |= hold_end(d, l, k, "released by its owner");
            }
    }
    char why[512];
    if (changed && state_write(d, why, sizeof why))
        jd_log_error("%s", why);
    return n;
}

static void value_json(cJSON *e, int setting, const struct jd_value *v)
{
    if (v->reset)
        cJSON_AddBoolToObject(e, "reset", 1);
    else if (setting == JD_SET_POWER_LIMIT)
        cJSON_AddNumberToObject(e, "watts", v->watts);
    else if (setting == JD_SET_PERSISTENCE)
        cJSON_AddBoolToObject(e, "enabled", v->enabled);
    else {
        cJSON_AddNumberToObject(e, "min_mhz", v->min_mhz);
        cJSON_AddNumberToObject(e, "max_mhz", v->max_mhz);
    }
}

cJSON *jd_leases_json(struct jd *d)
{
    cJSON *arr = cJSON_CreateArray();
    double now = mono_s();
    for (int i = 0; i < MAX_LEASES; i++) {
        const struct lease *l = &d->leases->l[i];
        /* one entry per lease, the one in force first; one for a setting
         * waiting to be restored */
        for (int k = l->nh ? l->nh - 1 : 0; l->used && k >= 0; k--) {
            const struct hold *h = l->nh ? &l->h[k] : NULL;
            cJSON *e = cJSON_CreateObject();
            if (h)
                cJSON_AddNumberToObject(e, "id", (double)h->id);
            cJSON_AddNumberToObject(e, "gpu", l->gpu);
            cJSON_AddStringToObject(e, "setting", setting_names[l->setting]);
            if (l->setting == JD_SET_POWER_LIMIT)
                cJSON_AddNumberToObject(e, "original_w", (double)l->orig / 1000.0);
            if (l->setting == JD_SET_PERSISTENCE)
                cJSON_AddBoolToObject(e, "original_enabled", l->orig != 0);
            cJSON_AddStringToObject(e, "owner", h ? h->owner.subject : l->note);
            if (h) {
                cJSON_AddBoolToObject(e, "in_force", k == l->nh - 1);
                value_json(e, l->setting, &h->value);
                if (h->owner.kind == JD_OWNER_PID)
                    cJSON_AddNumberToObject(e, "pid", h->owner.pid);
                else
                    cJSON_AddNumberToObject(e, "expires_in_s", h->deadline - now);
            }
            cJSON_AddItemToArray(arr, e);
        }
    }
    return arr;
}
