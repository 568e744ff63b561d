/* The step's energy report, written as the job's user or as root. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spank_report.h"

char *sj_report_json(joule_ctx *ctx, const joule_result *r, const int *use,
                     const struct sj_step_info *info)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "joule_job_report", 1);
    cJSON_AddStringToObject(root, "node", info->node);
    cJSON_AddStringToObject(root, "host", info->node);
    cJSON_AddStringToObject(root, "source", "spank_joule");
    cJSON_AddStringToObject(root, "slurm_job_id", info->job);
    cJSON_AddStringToObject(root, "slurm_step", info->step);
    cJSON_AddNumberToObject(root, "begin_unix_s", info->begin_unix_s);
    cJSON_AddNumberToObject(root, "end_unix_s", info->end_unix_s);
    cJSON_AddNumberToObject(root, "time_s", r ? joule_result_time_s(r) : 0);
    cJSON_AddNumberToObject(root, "exit_status", info->exit_status);
    if (info->power_limit_w > 0)
        cJSON_AddNumberToObject(root, "power_limit_w", info->power_limit_w);
    if (info->clock_min_mhz > 0) {
        cJSON_AddNumberToObject(root, "gpu_clock_min_mhz", info->clock_min_mhz);
        cJSON_AddNumberToObject(root, "gpu_clock_max_mhz", info->clock_max_mhz);
    }
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    double total = 0;
    for (int i = 0; r && i < joule_device_count(ctx); i++) {
        if (!use[i])
            continue;
        const joule_device *d = joule_device_at(ctx, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(devs, o);
        cJSON_AddStringToObject(o, "label", joule_device_label(d));
        cJSON_AddStringToObject(o, "kind", joule_kind_name(joule_device_kind(d)));
        cJSON_AddNumberToObject(o, "index", joule_device_index(d));
        cJSON_AddStringToObject(o, "name", joule_device_name(d));
        cJSON_AddStringToObject(o, "backend", joule_device_backend(d));
        cJSON_AddStringToObject(o, "uuid", joule_device_uuid(d));
        int quality = 0, status = 0;
        double e = joule_result_energy_j(r, i, &quality, &status);
        if (status || isnan(e)) {
            cJSON_AddNullToObject(o, "energy_j");
            cJSON_AddNullToObject(o, "energy_uncertainty_j");
            cJSON_AddStringToObject(o, "error", joule_strerror(status));
        } else {
            cJSON_AddNumberToObject(o, "energy_j", e);
            cJSON_AddNumberToObject(o, "energy_uncertainty_j", joule_result_uncertainty_j(r, i));
            total += e;
        }
        cJSON_AddStringToObject(o, "quality", joule_quality_name(quality));
    }
    cJSON_AddNumberToObject(root, "energy_j", total);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* mkdir -p of path's folder; 0 or an errno. */
static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : errno;
        *p = '/';
        if (rc)
            return rc;
    }
    return 0;
}

/* 0 or an errno. Only async-signal-safe calls: it also runs in a child
 * forked from slurmstepd's threads. */
static int write_atomically(const char *path, const char *text, char *tmp, size_t tmpcap)
{
    size_t n = strlen(path);
    if (n + 16 >= tmpcap)
        return ENAMETOOLONG;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".joule-tmp", 11);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    size_t len = strlen(text), done = 0;
    int rc = 0;
    while (done < len && !rc) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno != EINTR)
            rc = errno;
        else if (w > 0)
            done += (size_t)w;
    }
    if (close(fd) != 0 && !rc)
        rc = errno;
    if (!rc && rename(tmp, path) != 0)
        rc = errno;
    if (rc)
        unlink(tmp);
    return rc;
}

int sj_write_report(const char *path, const char *text, int as_user, uid_t uid, gid_t gid,
                    char *err, size_t len)
{
    char *dirs = strdup(path), tmp[4200];
    int rc = dirs ? 0 : ENOMEM;
    if (!rc && !as_user) {
        rc = make_parents(dirs);
        if (!rc)
            rc = write_atomically(path, text, tmp, sizeof tmp);
    } else if (!rc) {
        pid_t pid = fork();
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
                _exit(EPERM);
            int e = make_parents(dirs);
            _exit(e ? e : write_atomically(path, text, tmp, sizeof tmp));
        }
        int st = 0;
        if (pid < 0)
            rc = errno;
        else {
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
        }
    }
    free(dirs);
    if (rc)
        snprintf(err, len, "cannot write the energy report '%s'%s: %s", path,
                 as_user ? " as the job's user" : "", strerror(rc));
    return rc ? -1 : 0;
}
