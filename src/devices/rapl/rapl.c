/* RAPL over the powercap sysfs layout:
 *   <root>/class/powercap/<type>:<N>        top-level zone: package-P,
 *                                           package-P-die-D or psys
 *   <root>/class/powercap/<type>:<N>:<M>    subzone: core, uncore, dram
 * each with name, energy_uj and max_energy_range_uj. <type> is intel-rapl
 * (also used by AMD CPUs) or intel-rapl-mmio, whose zones repeat the MSR
 * ones and are skipped when both exist. All file access is in this file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/error.h"
#include "devices/device.h"
#include "devices/note.h"

#define SYSFS_MAGIC_NUMBER 0x62656572 /* statfs(2) f_type of sysfs */

/* energy_uj stays open: a read is one pread instead of open, read and
 * close, whose path walk is most of a read's cost. On sysfs an attribute's
 * inode lives as long as its zone. Elsewhere (a test tree whose files are
 * replaced by rename) a file whose last link is gone is opened anew. */
struct rapl_priv {
    char energy_path[512];
    int fd; /* -1: not open */
    int on_sysfs;
};

/* Parses the n bytes of buf (one unsigned integer and a newline). 0, or
 * -EINVAL with *bad filled. */
static int parse_u64(char *buf, ssize_t n, uint64_t *v, char *bad, size_t badlen)
{
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    while (*end == '\n' || *end == ' ')
        end++;
    if (end == buf || *end || errno || buf[0] == '-') {
        if (bad)
            snprintf(bad, badlen, "%.*s", (int)strcspn(buf, "\n"), buf);
        return -EINVAL;
    }
    *v = x;
    return 0;
}

/* Reads a sysfs file holding one unsigned integer. Returns 0, or -errno
 * for an open/read failure, or -EINVAL (with *bad filled) when the content
 * is not a number. */
static int read_u64_file(const char *path, uint64_t *v, char *bad, size_t badlen)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    return parse_u64(buf, n, v, bad, badlen);
}

static void close_energy(struct rapl_priv *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* read_u64_file on the kept energy_uj. A failed read is tried once more
 * on a freshly opened file (the zone's driver was reloaded). */
static int read_energy_file(struct rapl_priv *p, uint64_t *v, char *bad, size_t badlen)
{
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct stat st;
        if (p->fd >= 0 && !p->on_sysfs && fstat(p->fd, &st) == 0 && st.st_nlink == 0)
            close_energy(p); /* replaced: read the file now at the path */
        if (p->fd < 0) {
            p->fd = open(p->energy_path, O_RDONLY | O_CLOEXEC);
            if (p->fd < 0)
                return -errno;
            struct statfs fs;
            p->on_sysfs = fstatfs(p->fd, &fs) == 0 && fs.f_type == SYSFS_MAGIC_NUMBER;
        }
        char buf[64];
        ssize_t n = pread(p->fd, buf, sizeof buf - 1, 0);
        if (n >= 0)
            return parse_u64(buf, n, v, bad, badlen);
        rc = -errno;
        close_energy(p);
    }
    return rc;
}

static int read_name(const char *dir, char *name, size_t len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/name", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(name, (int)len, f))
        name[0] = '\0';
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
    return name[0] ? 0 : -1;
}

static int rapl_read_energy(struct joule_device *d, uint64_t *uj)
{
    struct rapl_priv *p = d->priv;
    char bad[64] = "";
    int rc = read_energy_file(p, uj, bad, sizeof bad);
    if (rc == -EINVAL)
        return joule_set_error(JOULE_EIO, "%s holds '%s', not a number of microjoules",
                               p->energy_path, bad);
    if (rc == -EACCES || rc == -EPERM)
        return joule_set_error(JOULE_EPERM,
            "%s: permission denied; RAPL energy_uj is readable by root only "
            "since Linux 5.10: " JDEV_HINT_READ_AS_USER,
            p->energy_path);
    if (rc)
        return joule_set_error(JOULE_EIO, "cannot read %s: %s", p->energy_path,
                               strerror(-rc));
    if (d->counter_range_uj && *uj > d->counter_range_uj)
        return joule_set_error(JOULE_EIO, "%s holds %llu, above max_energy_range_uj %llu",
                               p->energy_path, (unsigned long long)*uj,
                               (unsigned long long)d->counter_range_uj);
    return 0;
}

static void rapl_close(struct joule_device *d)
{
    close_energy(d->priv);
    free(d->priv);
}

static const struct jdev_ops rapl_ops = {
    .close = rapl_close,
    .read_energy_uj = rapl_read_energy,
};

/* A zone found in the directory listing. */
struct zone {
    char id[64];        /* "intel-rapl:0:1" */
    char type[32];      /* "intel-rapl" */
    int top, sub;       /* sub = -1 for a top-level zone */
    char name[64];
    enum joule_device_kind kind;
    int package, die;   /* parsed from package-P[-die-D] */
    int index;
};

static int parse_zone_id(const char *id, struct zone *z)
{
    const char *colon = strchr(id, ':');
    if (!colon || colon == id || (size_t)(colon - id) >= sizeof z->type || !strstr(id, "rapl"))
        return -1;
    memcpy(z->type, id, (size_t)(colon - id));
    z->type[colon - id] = '\0';
    char *end;
    z->top = (int)strtol(colon + 1, &end, 10);
    if (end == colon + 1)
        return -1;
    z->sub = -1;
    if (*end == ':') {
        const char *s = end + 1;
        z->sub = (int)strtol(s, &end, 10);
        if (end == s)
            return -1;
    }
    if (*end)
        return -1;
    snprintf(z->id, sizeof z->id, "%s", id);
    return 0;
}

static int classify(struct zone *z)
{
    z->package = z->die = 0;
    if (sscanf(z->name, "package-%d-die-%d", &z->package, &z->die) == 2 ||
        sscanf(z->name, "package-%d", &z->package) == 1) {
        z->kind = JOULE_KIND_CPU_PACKAGE;
    } else if (strcmp(z->name, "psys") == 0) {
        z->kind = JOULE_KIND_PSYS;
    } else if (strcmp(z->name, "dram") == 0) {
        z->kind = JOULE_KIND_DRAM;
    } else if (strcmp(z->name, "core") == 0) {
        z->kind = JOULE_KIND_CPU_CORE;
    } else if (strcmp(z->name, "uncore") == 0) {
        z->kind = JOULE_KIND_CPU_UNCORE;
    } else {
        return -1; /* e.g. a platform zone joule does not know */
    }
    return 0;
}

static int zone_order(const void *a, const void *b)
{
    const struct zone *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c)
        return c;
    if (x->top != y->top)
        return x->top - y->top;
    return x->sub - y->sub;
}

static void append_reason(char *reason, size_t len, const char *fmt, const char *a,
                          const char *b)
{
    size_t n = strlen(reason);
    if (n >= len - 1)
        return;
    if (n)
        n += (size_t)snprintf(reason + n, len - n, "; ");
    if (n < len)
        snprintf(reason + n, len - n, fmt, a, b);
}

static int rapl_discover(const struct jdev_discover_args *args, struct jdev_list *out,
                         char *reason, size_t reason_len)
{
    char base[512];
    snprintf(base, sizeof base, "%s/class/powercap", args->sysfs_root);
    DIR *dir = opendir(base);
    if (!dir) {
        snprintf(reason, reason_len,
                 "no powercap directory %s (%s): not Linux on bare metal, or the "
                 "intel_rapl_msr module is not loaded (modprobe intel_rapl_msr)",
                 base, strerror(errno));
        return JOULE_ENODEV;
    }
    struct zone *zones = NULL;
    int nz = 0, cap = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        struct zone z;
        if (parse_zone_id(e->d_name, &z))
            continue;
        char zdir[600];
        snprintf(zdir, sizeof zdir, "%s/%s", base, e->d_name);
        if (read_name(zdir, z.name, sizeof z.name) || classify(&z))
            continue;
        if (nz == cap) {
            cap = cap ? cap * 2 : 16;
            struct zone *nzs = realloc(zones, sizeof *zones * (size_t)cap);
            if (!nzs) {
                closedir(dir);
                free(zones);
                return joule_set_error(JOULE_ENOMEM, "out of memory");
            }
            zones = nzs;
        }
        zones[nz++] = z;
    }
    closedir(dir);
    qsort(zones, (size_t)nz, sizeof *zones, zone_order);

    /* Indices: packages by (package, die); psys and top-level dram in order;
     * subzones take their parent's index. */
    int npsys = 0, ndram = 0, denied = 0, added = 0;
    for (int i = 0; i < nz; i++)
        zones[i].index = -1;
    for (int i = 0; i < nz; i++) {
            struct zone *z = &zones[i];
            if (z->sub >= 0)
                continue;
            /* MMIO zones repeat MSR ones of the same name. */
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= zones[j].sub < 0 && strcmp(zones[j].name, z->name) == 0 &&
                       strcmp(zones[j].type, z->type) != 0;
            if (dup) {
                z->kind = JOULE_KIND_COUNT; /* skip */
                continue;
            }
            if (z->kind == JOULE_KIND_CPU_PACKAGE) {
                int rank = 0;
                for (int j = 0; j < nz; j++)
                    if (zones[j].sub < 0 && zones[j].kind == JOULE_KIND_CPU_PACKAGE &&
                        j != i && strcmp(zones[j].type, z->type) == 0 &&
                        (zones[j].package < z->package ||
                         (zones[j].package == z->package && zones[j].die < z->die)))
                        rank++;
                z->index = rank;
            } else if (z->kind == JOULE_KIND_PSYS) {
                z->index = npsys++;
            } else {
                z->index = z->kind == JOULE_KIND_DRAM ? ndram++ : 0;
            }
        }

    for (int i = 0; i < nz; i++) {
        struct zone *z = &zones[i];
        if (z->kind == JOULE_KIND_COUNT)
            continue;
        int socket = z->package;
        if (z->sub >= 0) {
            int parent = -1;
            for (int j = 0; j < nz; j++)
                if (zones[j].sub < 0 && zones[j].top == z->top &&
                    strcmp(zones[j].type, z->type) == 0)
                    parent = j;
            if (parent < 0 || zones[parent].kind == JOULE_KIND_COUNT)
                continue;
            z->index = zones[parent].index;
            socket = zones[parent].package;
        }
        char zdir[600], path[700], bad[64] = "";
        snprintf(zdir, sizeof zdir, "%s/%s", base, z->id);
        uint64_t energy, range = 0, maxp = 0, limit = 0;
        snprintf(path, sizeof path, "%s/energy_uj", zdir);
        int rc = read_u64_file(path, &energy, bad, sizeof bad);
        if (rc == -EACCES || rc == -EPERM) {
            denied++;
            append_reason(reason, reason_len,
                "%s (%s): energy_uj is readable by root only since Linux 5.10; "
                JDEV_HINT_READ_AS_USER " (chmod o+r .../energy_uj)", z->id, z->name);
            continue;
        }
        if (rc) {
            char msg[160];
            snprintf(msg, sizeof msg, rc == -EINVAL ? "energy_uj holds '%s', not a number"
                                                    : "cannot read energy_uj: %s",
                     rc == -EINVAL ? bad : strerror(-rc));
            append_reason(reason, reason_len, "%s: %s", z->id, msg);
            continue;
        }
        snprintf(path, sizeof path, "%s/max_energy_range_uj", zdir);
        rc = read_u64_file(path, &range, bad, sizeof bad);
        if (rc || range == 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "max_energy_range_uj %s%s%s", rc == -EINVAL ? "holds '" : "",
                     rc == -EINVAL ? bad : rc ? "is missing or unreadable" : "is 0",
                     rc == -EINVAL ? "', not a number" : "");
            append_reason(reason, reason_len, "%s: %s (needed to correct wrap-around)", z->id, msg);
            continue;
        }
        snprintf(path, sizeof path, "%s/constraint_0_max_power_uw", zdir);
        if (read_u64_file(path, &maxp, NULL, 0) || maxp == 0) {
            snprintf(path, sizeof path, "%s/constraint_0_power_limit_uw", zdir);
            if (read_u64_file(path, &limit, NULL, 0) == 0)
                maxp = limit * 2;
        }

        struct rapl_priv *priv = calloc(1, sizeof *priv);
        struct joule_device *d = priv ? jdev_new(z->kind, "rapl", &rapl_ops) : NULL;
        if (!d) {
            free(priv);
            free(zones);
            return joule_set_error(JOULE_ENOMEM, "out of memory");
        }
        snprintf(priv->energy_path, sizeof priv->energy_path, "%s/energy_uj", zdir);
        priv->fd = -1;
        d->priv = priv;
        d->backend_index = i;
        d->index = z->index;
        d->socket = socket;
        snprintf(d->name, sizeof d->name, "%s", z->name);
        jdev_note_add(d, "%s", z->id);
        d->caps = JOULE_CAP_ENERGY_COUNTER;
        d->counter_range_uj = range;
        d->max_power_mw = (uint32_t)(maxp / 1000 > UINT32_MAX ? UINT32_MAX : maxp / 1000);
        d->resolution_uj = 1.0;        /* sysfs unit; hardware steps are ~15-61 µJ */
        d->update_period_us = 1000.0;  /* RAPL updates about every ms */
        rc = jdev_list_push(out, d);
        if (rc) {
            jdev_free(d);
            free(zones);
            return rc;
        }
        added++;
    }
    free(zones);
    if (!added) {
        if (!reason[0])
            snprintf(reason, reason_len, "%s has no RAPL zones", base);
        return denied ? JOULE_EPERM : JOULE_ENODEV;
    }
    return 0;
}

const struct jdev_backend jdev_backend_rapl = {"rapl", rapl_discover};
