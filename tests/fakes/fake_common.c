#include "fake_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fake_state S;
static pthread_mutex_t fake_mutex = PTHREAD_MUTEX_INITIALIZER;

void fake_lock(void) { pthread_mutex_lock(&fake_mutex); }
void fake_unlock(void) { pthread_mutex_unlock(&fake_mutex); }

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t fake_now(void) { return S.manual_clock ? S.manual_now_ns : mono_ns(); }

static int arch_from_name(const char *a)
{
    static const char *names[] = {"", "", "Kepler", "Maxwell", "Pascal", "Volta",
                                  "Turing", "Ampere", "Ada", "Hopper", "Blackwell"};
    for (int i = 2; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(names[i], a) == 0)
            return i;
    return -1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static double num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int flag(const cJSON *o, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v))
        return v->valueint != 0;
    return def;
}

static const char *str(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : def;
}

/* The state file as last read or written by this process: another process
 * (jouled, a restorer) that rewrites it is seen on the next call, as a real
 * driver's settings are seen by every process. */
static struct stat state_seen;

static int state_changed(void)
{
    struct stat st;
    if (stat(S.state_path, &st) != 0)
        return 0;
    int changed = st.st_ino != state_seen.st_ino || st.st_dev != state_seen.st_dev ||
                  st.st_mtim.tv_sec != state_seen.st_mtim.tv_sec ||
                  st.st_mtim.tv_nsec != state_seen.st_mtim.tv_nsec;
    state_seen = st;
    return changed;
}

static void load_state_file(void)
{
    if (!S.state_path[0])
        return;
    state_changed();
    char *text = read_file(S.state_path);
    if (!text)
        return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(root, "gpus");
    int i = 0;
    const cJSON *g;
    int64_t now = fake_now();
    cJSON_ArrayForEach(g, gpus) {
        if (i >= S.ngpu)
            break;
        struct fake_gpu *f = &S.gpu[i++];
        double pl = num(g, "pl_w", f->m.pl_w);
        if (pl != f->m.pl_w)
            sim_gpu_set_power_limit(&f->m, now, pl);
        int lmin = (int)num(g, "lock_min_mhz", 0), lmax = (int)num(g, "lock_max_mhz", 0);
        if (lmin != f->m.lock_min_mhz || lmax != f->m.lock_max_mhz)
            sim_gpu_lock_clocks(&f->m, now, lmin, lmax);
        f->mem_lock_min = (int)num(g, "mem_lock_min_mhz", 0);
        f->mem_lock_max = (int)num(g, "mem_lock_max_mhz", 0);
        f->m.persistence = flag(g, "persistence", f->m.persistence);
    }
    cJSON_Delete(root);
}

void fake_save_state(void)
{
    if (!S.state_path[0])
        return;
    cJSON *root = cJSON_CreateObject();
    cJSON *gpus = cJSON_AddArrayToObject(root, "gpus");
    for (int i = 0; i < S.ngpu; i++) {
        struct fake_gpu *f = &S.gpu[i];
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "uuid", f->uuid);
        cJSON_AddNumberToObject(g, "pl_w", f->m.pl_w);
        cJSON_AddNumberToObject(g, "lock_min_mhz", f->m.lock_min_mhz);
        cJSON_AddNumberToObject(g, "lock_max_mhz", f->m.lock_max_mhz);
        cJSON_AddNumberToObject(g, "mem_lock_min_mhz", f->mem_lock_min);
        cJSON_AddNumberToObject(g, "mem_lock_max_mhz", f->mem_lock_max);
        cJSON_AddBoolToObject(g, "persistence", f->m.persistence);
        cJSON_AddItemToArray(gpus, g);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", S.state_path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (f) {
        fputs(text, f);
        fputc('\n', f);
        if (fclose(f) == 0 && rename(tmp, S.state_path) == 0)
            state_changed(); /* our own write: nothing to reload */
        else
            unlink(tmp);
    }
    free(text);
}

int fake_load(void)
{
    const char *path = getenv(fake_config_env);
    memset(&S.gpu, 0, sizeof S.gpu);
    S.ngpu = S.nmig = S.nerr = 0;
    S.privileged = 0;
    S.manual_clock = 0;
    S.manual_now_ns = 0;
    S.init_error = 0;
    S.record_fd = -1;
    S.state_path[0] = '\0';
    if (!path || !*path) {
        fprintf(stderr, "fake GPU library: set %s to a JSON config\n", fake_config_env);
        return -1;
    }
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "fake GPU library: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) {
        fprintf(stderr, "fake GPU library: %s is not valid JSON (near '%.20s')\n", path,
                cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
        return -1;
    }
    S.privileged = flag(root, "privileged", 0);
    S.manual_clock = strcmp(str(root, "clock", "real"), "manual") == 0;
    S.manual_now_ns = (int64_t)(num(root, "start_time_s", 0) * 1e9);
    S.init_error = (int)num(root, "init_error", 0);
    const char *rec = str(root, "record", NULL);
    if (rec)
        S.record_fd = open(rec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    snprintf(S.state_path, sizeof S.state_path, "%s", str(root, "state", ""));
    uint64_t seed = (uint64_t)num(root, "seed", 42);
    int64_t now = fake_now();

    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(root, "gpus")) {
        if (S.ngpu >= FAKE_MAX_GPUS)
            break;
        int i = S.ngpu;
        struct fake_gpu *f = &S.gpu[i];
        const char *model = str(g, "model", "h100");
        const struct sim_preset *p = sim_preset_find(model);
        if (!p) {
            fprintf(stderr, "fake GPU library: gpu %d: unknown model '%s'\n", i, model);
            cJSON_Delete(root);
            return -1;
        }
        snprintf(f->model, sizeof f->model, "%s", p->key);
        sim_gpu_init(&f->m, p, NULL, seed + (uint64_t)i, now);
        /* Per-GPU timing: a seeded counter phase unless given, and instant
         * power refreshed every power_period_ms (0: every 1 ms tick). */
        int64_t pp = (int64_t)(num(g, "power_period_ms", 0) * 1e6);
        double phase_ms = num(g, "counter_phase_ms",
                              (double)sim_seeded_phase_ns(seed + (uint64_t)i,
                                                          SIM_COUNTER_PERIOD_NS) / 1e6);
        sim_gpu_set_timing(&f->m, (int64_t)(phase_ms * 1e6), pp,
                           (int64_t)(num(g, "power_phase_ms", 0) * 1e6));
        f->energy_read_ns = (int64_t)(num(g, "energy_read_ms", 0) * 1e6);
        sim_gpu_set_counter_jitter(&f->m, (int64_t)(num(g, "counter_jitter_ms", 0) * 1e6));
        double load = num(g, "load", 0);
        if (load > 0)
            sim_gpu_set_load(&f->m, now, load);
        const char *schedule = str(g, "schedule", NULL);
        int pos;
        if (schedule && sim_gpu_set_schedule(&f->m, schedule, &pos)) {
            fprintf(stderr, "fake GPU library: gpu %d: bad schedule '%s' at character %d\n", i,
                    schedule, pos + 1);
            cJSON_Delete(root);
            return -1;
        }
        snprintf(f->name, sizeof f->name, "%s", str(g, "name", p->name));
        char def_uuid[64];
        snprintf(def_uuid, sizeof def_uuid, "GPU-fa4e%04x-0000-4000-8000-%012x", i, i);
        snprintf(f->uuid, sizeof f->uuid, "%s", str(g, "uuid", def_uuid));
        char def_pci[32];
        snprintf(def_pci, sizeof def_pci, "00000000:%02X:00.0", 0x10 + i);
        snprintf(f->pci_bus_id, sizeof f->pci_bus_id, "%s", str(g, "pci_bus_id", def_pci));
        f->arch = arch_from_name(str(g, "arch", p->arch));
        f->energy_counter = flag(g, "energy_counter", p->has_energy_counter);
        f->field_values = flag(g, "field_values", 1);
        f->scope_gpu = strcmp(str(g, "power_scope", "gpu"), "module") != 0;
        f->module_extra_w = num(g, "module_extra_w", 100.0);
        f->memory_power = flag(g, "memory_power", p->has_memory_power);
        snprintf(f->memory_power_field, sizeof f->memory_power_field, "%s",
                 str(g, "memory_power_field", "instant"));
        f->counter_scale = num(g, "counter_scale", 1.0);
        f->rocm_power_ave = flag(g, "power_ave", 1);
        f->rocm_power_get = flag(g, "power_get", 1);
        f->energy_start_mj = (uint64_t)num(g, "energy_start_mj", 1000000.0 * (i + 1));
        f->mig_mode = flag(g, "mig_mode", 0);
        f->m.persistence = flag(g, "persistence", 0);
        S.ngpu++;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "mig")) {
        if (S.nmig >= FAKE_MAX_MIG)
            break;
        struct fake_mig *x = &S.mig[S.nmig++];
        snprintf(x->uuid, sizeof x->uuid, "%s", str(m, "uuid", "MIG-0"));
        x->parent = (int)num(m, "parent", 0);
        if (x->parent >= 0 && x->parent < S.ngpu)
            S.gpu[x->parent].mig_mode = 1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "errors")) {
        if (S.nerr >= FAKE_MAX_ERRORS)
            break;
        struct fake_error_rule *r = &S.err[S.nerr];
        snprintf(r->function, sizeof r->function, "%s", str(e, "function", "*"));
        r->gpu = (int)num(e, "gpu", -1);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "error");
        if (cJSON_IsNumber(code))
            r->code = code->valueint;
        else if (cJSON_IsString(code) && (r->code = fake_error_code(code->valuestring)) < 0) {
            fprintf(stderr, "fake GPU library: unknown error name '%s'\n", code->valuestring);
            cJSON_Delete(root);
            return -1;
        }
        r->after = (long)num(e, "after", 0);
        r->times = (long)num(e, "times", -1);
        r->seen = r->fired = 0;
        S.nerr++;
    }
    cJSON_Delete(root);
    load_state_file();
    S.loaded = 1;
    return 0;
}

void fake_unload(void)
{
    if (S.record_fd >= 0)
        close(S.record_fd);
    S.record_fd = -1;
    S.loaded = 0;
}

int fake_inject(const char *fn, int gpu)
{
    if (S.state_path[0] && state_changed())
        load_state_file();
    if (gpu >= 0 && gpu < S.ngpu && S.gpu[gpu].lost)
        return fake_lost_code;
    for (int i = 0; i < S.nerr; i++) {
        struct fake_error_rule *r = &S.err[i];
        if (strcmp(r->function, "*") != 0 && strcmp(r->function, fn) != 0)
            continue;
        if (r->gpu >= 0 && r->gpu != gpu)
            continue;
        r->seen++;
        if (r->seen <= r->after)
            continue;
        if (r->times >= 0 && r->fired >= r->times)
            continue;
        r->fired++;
        if (r->code == fake_lost_code && gpu >= 0 && gpu < S.ngpu)
            S.gpu[gpu].lost = 1;
        return r->code;
    }
    return 0;
}

void fake_record(const char *fn, int gpu, int rc, const char *fmt, ...)
{
    if (S.record_fd < 0)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s", fn);
    if (gpu >= 0)
        n += snprintf(line + n, sizeof line - (size_t)n, " gpu=%d", gpu);
    if (fmt && *fmt) {
        char args[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(args, sizeof args, fmt, ap);
        va_end(ap);
        if (args[0])
            n += snprintf(line + n, sizeof line - (size_t)n, " %s", args);
    }
    if (n > (int)sizeof line - 32)
        n = (int)sizeof line - 32;
    n += snprintf(line + n, sizeof line - (size_t)n, " -> %d\n", rc);
    ssize_t w = write(S.record_fd, line, (size_t)n);
    (void)w;
}

/* ---- test hooks (dlsym them from the loaded double) -------------------- */

FAKE_EXPORT void fake_set_time_ns(int64_t t)
{
    fake_lock();
    S.manual_now_ns = t;
    fake_unlock();
}

FAKE_EXPORT void fake_advance_ns(int64_t dt)
{
    fake_lock();
    S.manual_now_ns += dt;
    fake_unlock();
}

FAKE_EXPORT int fake_set_load(int gpu, double load)
{
    int rc = -1;
    fake_lock();
    if (S.loaded && gpu >= 0 && gpu < S.ngpu) {
        sim_gpu_set_load(&S.gpu[gpu].m, fake_now(), load);
        rc = 0;
    }
    fake_unlock();
    return rc;
}

/* Exact energy of the model since the double loaded, joules. */
FAKE_EXPORT double fake_energy_j(int gpu)
{
    double e = -1;
    fake_lock();
    if (S.loaded && gpu >= 0 && gpu < S.ngpu)
        e = sim_gpu_energy_j(&S.gpu[gpu].m, fake_now());
    fake_unlock();
    return e;
}

/* Exact energy of the model at monotonic time t_ns (within its retained
 * history), joules: the truth a test compares a window against. */
FAKE_EXPORT double fake_energy_at_j(int gpu, int64_t t_ns)
{
    double e = -1;
    fake_lock();
    if (S.loaded && gpu >= 0 && gpu < S.ngpu) {
        int64_t now = fake_now();
        sim_gpu_energy_j(&S.gpu[gpu].m, now); /* apply every switch up to now */
        e = sim_gpu_energy_j(&S.gpu[gpu].m, t_ns < now ? t_ns : now);
    }
    fake_unlock();
    return e;
}

/* sim_model.c calls this only for trace-mode GPUs, which the doubles never
 * create; defined here so sim_trace.c (and its error reporting) stays out. */
void sim_trace_at(const struct sim_trace *t, double pl_w, double *power_w,
                  double *time_per_epoch_s)
{
    (void)t;
    (void)pl_w;
    *power_w = 0;
    *time_per_epoch_s = 1;
}
