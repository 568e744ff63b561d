/* The job's GPU record for the epilog (spank_state.h). Written as root
 * by slurmstepd, read by the job epilog; a temporary file and a rename
 * keep a reader from seeing half a file, and flock() on the folder keeps
 * two steps of the job starting at once from losing each other's GPUs. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spank_state.h"

static void file_name(const char *dir, const char *job, char *out, size_t cap)
{
    snprintf(out, cap, "%s/job-%s.json", dir, job);
}

/* mkdir -p, root only (the record says which GPUs a job used). */
static int make_dir(const char *dir, char *err, size_t len)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        snprintf(err, len, "state_dir '%s' is too long", dir);
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                snprintf(err, len, "cannot create %s: %s", p, strerror(errno));
                return -1;
            }
            *s = c;
            if (!c)
                return 0;
        }
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
        } else {
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

int sj_state_load(const char *dir, const char *job, struct sj_saved_gpu *g, int cap, char *err,
                  size_t len)
{
    char path[4200];
    file_name(dir, job, path, sizeof path);
    errno = 0;
    char *text = read_text(path);
    if (!text) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, len, "cannot read %s: %s", path, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(root, "gpus");
    if (!cJSON_IsArray(gpus)) {
        cJSON_Delete(root);
        snprintf(err, len, "%s is not a joule job record (no \"gpus\" array)", path);
        return -1;
    }
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, gpus) {
        const cJSON *uuid = cJSON_GetObjectItemCaseSensitive(it, "uuid");
        const cJSON *pl = cJSON_GetObjectItemCaseSensitive(it, "power_limit_w");
        const cJSON *ck = cJSON_GetObjectItemCaseSensitive(it, "clocks_locked");
        if (!cJSON_IsString(uuid) || n == cap)
            continue;
        memset(&g[n], 0, sizeof g[n]);
        snprintf(g[n].uuid, sizeof g[n].uuid, "%s", uuid->valuestring);
        g[n].power_limit_w = cJSON_IsNumber(pl) ? pl->valuedouble : 0;
        g[n].clocks_locked = cJSON_IsTrue(ck);
        n++;
    }
    cJSON_Delete(root);
    return n;
}

static int write_record(const char *path, const struct sj_saved_gpu *g, int n, char *err,
                        size_t len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *gpus = cJSON_AddArrayToObject(root, "gpus");
    for (int i = 0; gpus && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "uuid", g[i].uuid);
        cJSON_AddNumberToObject(o, "power_limit_w", g[i].power_limit_w);
        cJSON_AddBoolToObject(o, "clocks_locked", g[i].clocks_locked);
        cJSON_AddItemToArray(gpus, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, len, "out of memory writing %s", path);
        return -1;
    }
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int rc = -1;
    FILE *f = fopen(tmp, "w");
    if (f) {
        int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok = fclose(f) == 0 && ok;
        if (ok && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc) {
        snprintf(err, len, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(text);
    return rc;
}

int sj_state_record(const char *dir, const char *job, const struct sj_saved_gpu *g, int n,
                    char *err, size_t len)
{
    if (make_dir(dir, err, len))
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || flock(dfd, LOCK_EX) != 0) {
        snprintf(err, len, "cannot lock %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    struct sj_saved_gpu *all = calloc(SJ_STATE_MAX_GPUS, sizeof *all);
    int rc = -1;
    int m = all ? sj_state_load(dir, job, all, SJ_STATE_MAX_GPUS, err, len) : -1;
    if (!all)
        snprintf(err, len, "out of memory");
    if (m >= 0) {
        for (int i = 0; i < n; i++) {
            int k = 0;
            while (k < m && strcmp(all[k].uuid, g[i].uuid))
                k++;
            if (k == m) {
                if (m == SJ_STATE_MAX_GPUS)
                    continue;
                all[m++] = g[i];
                continue;
            }
            /* The first change's original wins: a later step saw the job's
             * own setting, not the one from before the job. */
            if (all[k].power_limit_w <= 0)
                all[k].power_limit_w = g[i].power_limit_w;
            all[k].clocks_locked |= g[i].clocks_locked;
        }
        char path[4200];
        file_name(dir, job, path, sizeof path);
        rc = write_record(path, all, m, err, len);
    }
    free(all);
    close(dfd); /* drops the lock */
    return rc;
}

void sj_state_remove(const char *dir, const char *job)
{
    char path[4200];
    file_name(dir, job, path, sizeof path);
    unlink(path);
}
