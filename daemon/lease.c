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

#include "core/context.h"

#define MAX_LEASES 256

struct lease {
    int used;
    int gpu;
    char uuid[96];
    int setting;
    int64_t orig;              /* mW, or persistence 0/1; unused for clocks */
    int owned;                 /* 0 between prepare and commit */
    struct jd_owner owner;
    int pidfd;                 /* -1: poll the pid instead */
    unsigned long long start_time; /* /proc/PID/stat field 22 */
    double deadline;           /* monotonic s, TTL leases */
    uint64_t id;
};

struct jd_leases {
    struct lease l[MAX_LEASES];
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

static int lease_alive(struct lease *l)
{
    if (l->owner.kind == JD_OWNER_TTL)
        return mono_s() < l->deadline;
    if (l->pidfd >= 0) {
        struct pollfd p = {.fd = l->pidfd, .events = POLLIN};
        return poll(&p, 1, 0) == 0;
    }
    if (kill(l->owner.pid, 0) != 0 && errno == ESRCH)
        return 0;
    return proc_start_time(l->owner.pid) == l->start_time;
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
        cJSON_AddStringToObject(e, "owner", l->owner.subject);
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

/* ---- restore ---- */

static void cache_after_restore(struct jd *d, int gpu, int setting)
{
    pthread_mutex_lock(&d->cache_lock);
    for (int i = 0; i < d->ngpu; i++)
        if (d->gpus[i].gpu == gpu) {
            if (setting == JD_SET_CLOCKS)
                d->gpus[i].lock_min_mhz = d->gpus[i].lock_max_mhz = 0;
            if (setting == JD_SET_MEM_CLOCKS)
                d->gpus[i].mem_lock_min_mhz = d->gpus[i].mem_lock_max_mhz = 0;
        }
    pthread_mutex_unlock(&d->cache_lock);
}

static int restore_one(struct jd *d, int gpu, int setting, int64_t orig)
{
    int rc;
    switch (setting) {
    case JD_SET_POWER_LIMIT: rc = joule_gpu_set_power_limit_w(d->ctx, gpu, orig / 1000.0); break;
    case JD_SET_CLOCKS: rc = joule_gpu_reset_clocks(d->ctx, gpu); break;
    case JD_SET_MEM_CLOCKS: rc = joule_gpu_reset_memory_clocks(d->ctx, gpu); break;
    default: rc = joule_gpu_set_persistence(d->ctx, gpu, (int)orig); break;
    }
    if (rc)
        jd_log_error("restoring %s of gpu%d failed: %s", setting_names[setting], gpu,
               joule_last_error());
    else
        cache_after_restore(d, gpu, setting);
    return rc;
}

static void lease_clear(struct lease *l)
{
    if (l->pidfd >= 0)
        close(l->pidfd);
    memset(l, 0, sizeof *l);
    l->pidfd = -1;
}

/* Restores lease i and forgets it (keeps it if the restore fails). */
static int lease_end(struct jd *d, struct lease *l, const char *why)
{
    int rc = restore_one(d, l->gpu, l->setting, l->orig);
    if (rc == 0) {
        jd_log("restored %s of gpu%d (%s; owner %s)", setting_names[l->setting], l->gpu, why,
               l->owner.subject);
        lease_clear(l);
    }
    return rc;
}

/* ---- watcher ---- */

static void *watcher(void *arg)
{
    struct jd *d = arg;
    struct jd_leases *L = d->leases;
    double next_refresh = 0;
    for (;;) {
        struct pollfd p[MAX_LEASES + 1];
        int n = 0;
        p[n++] = (struct pollfd){.fd = L->wake[0], .events = POLLIN};
        pthread_mutex_lock(&d->ctl_lock);
        if (L->stop) {
            pthread_mutex_unlock(&d->ctl_lock);
            return NULL;
        }
        for (int i = 0; i < MAX_LEASES; i++)
            if (L->l[i].used && L->l[i].owned && L->l[i].pidfd >= 0)
                p[n++] = (struct pollfd){.fd = L->l[i].pidfd, .events = POLLIN};
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
            if (l->used && l->owned && !lease_alive(l))
                changed |= lease_end(d, l, l->owner.kind == JD_OWNER_TTL ? "TTL lapsed"
                                                                         : "client exited") == 0;
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

int jd_leases_create(struct jd *d, char *err, size_t errlen)
{
    struct jd_leases *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < MAX_LEASES; i++)
        L->l[i].pidfd = -1;
    L->next_id = 1;
    L->wake[0] = L->wake[1] = -1;
    snprintf(L->path, sizeof L->path, "%s/state.json", d->cfg.state_dir);
    snprintf(L->tmp, sizeof L->tmp, "%s.tmp", L->path);
    d->leases = L;
    if (mkdir(d->cfg.state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: %s", d->cfg.state_dir, strerror(errno));
        return -1;
    }
    /* Crash recovery: whatever the state file holds was left by a
     * predecessor that did not get to restore it. */
    FILE *f = fopen(L->path, "r");
    if (f) {
        char *text = malloc(1 << 20);
        size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (text) {
            text[n] = '\0';
            cJSON *root = cJSON_Parse(text);
            if (!root)
                jd_log("state file %s is not valid JSON; ignoring it", L->path);
            const cJSON *e;
            int k = 0;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "entries")) {
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(e, "gpu");
                const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "uuid");
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "setting");
                const cJSON *o = cJSON_GetObjectItemCaseSensitive(e, "orig_mw");
                if (!o)
                    o = cJSON_GetObjectItemCaseSensitive(e, "orig");
                int setting = -1;
                for (int j = 0; j < JD_SET_COUNT && cJSON_IsString(s); j++)
                    if (!strcmp(s->valuestring, setting_names[j]))
                        setting = j;
                if (setting < 0 || !cJSON_IsNumber(g) || k >= MAX_LEASES ||
                    ((setting == JD_SET_POWER_LIMIT || setting == JD_SET_PERSISTENCE) &&
                     !cJSON_IsNumber(o))) {
                    jd_log("state file: skipping a malformed entry");
                    continue;
                }
                const char *uuid = cJSON_IsString(u) ? u->valuestring : "";
                int gpu = gpu_by_uuid(d, uuid, g->valueint);
                struct lease *l = &L->l[k];
                l->used = 1;
                l->gpu = gpu < 0 ? g->valueint : gpu;
                snprintf(l->uuid, sizeof l->uuid, "%s", uuid);
                l->setting = setting;
                l->orig = o ? (int64_t)o->valuedouble : 0;
                snprintf(l->owner.subject, sizeof l->owner.subject, "crashed predecessor");
                if (gpu < 0) {
                    jd_log("state file: GPU %s is gone; keeping its %s entry", uuid,
                           setting_names[setting]);
                    k++;
                    continue;
                }
                if (lease_end(d, l, "crash recovery") != 0)
                    k++; /* kept for the next start */
            }
            cJSON_Delete(root);
            free(text);
        }
    }
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
    if (restore) {
        int any = 0;
        for (int i = 0; i < MAX_LEASES; i++)
            if (L->l[i].used && L->l[i].owned)
                any |= lease_end(d, &L->l[i], "daemon stopping") == 0;
        char why[512];
        if (any && state_write(d, why, sizeof why))
            jd_log_error("%s", why);
    }
    for (int i = 0; i < MAX_LEASES; i++)
        if (L->l[i].pidfd >= 0)
            close(L->l[i].pidfd);
    pthread_mutex_unlock(&d->ctl_lock);
    if (L->wake[0] >= 0)
        close(L->wake[0]);
    if (L->wake[1] >= 0)
        close(L->wake[1]);
    free(L);
    d->leases = NULL;
}

/* ---- changes ---- */

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
    if (find(L, gpu, setting))
        return 0;
    struct lease *l = NULL;
    for (int i = 0; i < MAX_LEASES && !l; i++)
        if (!L->l[i].used)
            l = &L->l[i];
    if (!l) {
        snprintf(why, whylen, "too many active leases (%d)", MAX_LEASES);
        return -1;
    }
    struct joule_device *dev = jctx_gpu(d->ctx, gpu);
    if (!dev) {
        snprintf(why, whylen, "%s", joule_last_error());
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
        int on = -1, rc = JOULE_ENOTSUP;
        pthread_mutex_lock(&dev->lock);
        if (dev->ops->get_persistence)
            rc = dev->ops->get_persistence(dev, &on);
        pthread_mutex_unlock(&dev->lock);
        if (rc) {
            snprintf(why, whylen, "cannot read persistence mode of gpu%d: %s", gpu,
                     rc == JOULE_ENOTSUP ? "not supported" : joule_last_error());
            return -1;
        }
        orig = on;
    }
    memset(l, 0, sizeof *l);
    l->pidfd = -1;
    l->used = 1;
    l->gpu = gpu;
    snprintf(l->uuid, sizeof l->uuid, "%s", dev->uuid);
    l->setting = setting;
    l->orig = orig;
    l->id = L->next_id++;
    snprintf(l->owner.subject, sizeof l->owner.subject, "pending");
    if (state_write(d, why, whylen)) {
        lease_clear(l);
        return -1;
    }
    *created = 1;
    return 0;
}

void jd_lease_abort(struct jd *d, int gpu, int setting)
{
    struct lease *l = find(d->leases, gpu, setting);
    if (!l || l->owned)
        return;
    lease_clear(l);
    char why[512];
    if (state_write(d, why, sizeof why))
        jd_log_error("%s", why);
}

int jd_lease_commit(struct jd *d, int gpu, int setting, const struct jd_owner *o, int persist,
                    char *why, size_t whylen)
{
    struct jd_leases *L = d->leases;
    struct lease *l = find(L, gpu, setting);
    if (!l)
        return 0;
    if (persist) {
        jd_log("persist: %s of gpu%d set by %s stays after the client ends",
               setting_names[setting], gpu, o->subject);
        lease_clear(l);
        if (state_write(d, why, whylen))
            jd_log_error("%s", why);
        return 0;
    }
    int pidfd = -1;
    unsigned long long start = 0;
    if (o->kind == JD_OWNER_PID) {
        pidfd = (int)syscall(SYS_pidfd_open, o->pid, 0);
        start = proc_start_time(o->pid);
        if (pidfd < 0 && errno != ENOSYS) {
            /* The client is already gone: restore right away. */
            jd_log("client pid %d is gone; restoring at once", (int)o->pid);
        }
    }
    if (l->pidfd >= 0)
        close(l->pidfd);
    l->owner = *o;
    l->owned = 1;
    l->pidfd = pidfd;
    l->start_time = start;
    l->deadline = o->kind == JD_OWNER_TTL ? mono_s() + o->ttl_s : 0;
    if (state_write(d, why, whylen))
        jd_log_error("%s", why);
    wake(L);
    return 0;
}

static int owner_matches(const struct lease *l, const struct jd_owner *o)
{
    if (l->owner.kind != o->kind)
        return 0;
    if (o->kind == JD_OWNER_PID)
        return l->owner.pid == o->pid;
    return strcmp(l->owner.subject, o->subject) == 0;
}

int jd_lease_release(struct jd *d, const struct jd_owner *o, int gpu)
{
    struct jd_leases *L = d->leases;
    int n = 0;
    for (int i = 0; i < MAX_LEASES; i++) {
        struct lease *l = &L->l[i];
        if (l->used && l->owned && (gpu < 0 || l->gpu == gpu) && owner_matches(l, o))
            n += lease_end(d, l, "released by its owner") == 0;
    }
    char why[512];
    if (n && state_write(d, why, sizeof why))
        jd_log_error("%s", why);
    return n;
}

int jd_lease_count(struct jd *d)
{
    int n = 0;
    for (int i = 0; i < MAX_LEASES; i++)
        n += d->leases->l[i].used;
    return n;
}

cJSON *jd_leases_json(struct jd *d)
{
    cJSON *arr = cJSON_CreateArray();
    double now = mono_s();
    for (int i = 0; i < MAX_LEASES; i++) {
        const struct lease *l = &d->leases->l[i];
        if (!l->used)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", (double)l->id);
        cJSON_AddNumberToObject(e, "gpu", l->gpu);
        cJSON_AddStringToObject(e, "setting", setting_names[l->setting]);
        if (l->setting == JD_SET_POWER_LIMIT)
            cJSON_AddNumberToObject(e, "original_w", l->orig / 1000.0);
        if (l->setting == JD_SET_PERSISTENCE)
            cJSON_AddBoolToObject(e, "original_enabled", l->orig != 0);
        cJSON_AddStringToObject(e, "owner", l->owner.subject);
        if (l->owner.kind == JD_OWNER_PID)
            cJSON_AddNumberToObject(e, "pid", l->owner.pid);
        else
            cJSON_AddNumberToObject(e, "expires_in_s", l->deadline - now);
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}
