/* `joule run --job-report DIR`: the node side (cli/job_report.h). */
#include "job_report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* The launchers' node-local rank variables: Open MPI, Slurm, MPICH. */
static const char *const local_rank_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                                              "MPI_LOCALRANKID"};
static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "SLURM_PROCID", "PMI_RANK"};
static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS", "PMI_SIZE"};

static int env_int(const char *name, long *out)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < 0 || v > 1 << 30)
        return -1;
    *out = v;
    return 1;
}

int job_local_rank(void)
{
    for (size_t i = 0; i < sizeof local_rank_vars / sizeof *local_rank_vars; i++) {
        long v;
        int rc = env_int(local_rank_vars[i], &v);
        if (rc < 0) {
            fprintf(stderr, "joule run: %s='%s' is not a rank (a whole number from 0)\n",
                    local_rank_vars[i], getenv(local_rank_vars[i]));
            return -1;
        }
        if (rc > 0)
            return (int)v;
    }
    return 0;
}

int job_exec_only(char **cmd)
{
    fflush(NULL);
    execvp(cmd[0], cmd);
    int err = errno;
    fprintf(stderr, "joule run: cannot run '%s': %s\n", cmd[0], strerror(err));
    return err == ENOENT ? 127 : 126;
}

void job_node_name(char *buf, size_t len)
{
    const char *env = getenv("JOULE_NODE_NAME");
    if (env && *env)
        snprintf(buf, len, "%s", env);
    else if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "node");
    buf[len - 1] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '/' || (*p == '.' && p == buf) || (unsigned char)*p < ' ')
            *p = '_';
}

int job_report_dir(const char *dir)
{
    struct stat sb;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "joule run: --job-report '%s': cannot create it: %s\n", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "joule run: --job-report '%s' is not a directory\n", dir);
        return -1;
    }
    return 0;
}

/* The first launcher variable of a list that is set, as a number. */
static void add_rank_var(cJSON *o, const char *key, const char *const *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        long v;
        if (env_int(vars[i], &v) > 0) {
            cJSON_AddNumberToObject(o, key, (double)v);
            return;
        }
    }
    cJSON_AddNullToObject(o, key);
}

static cJSON *node_json(joule_ctx *ctx, const struct run_stats *st, const char *node,
                        double begin_unix_s, double end_unix_s, char **cmd, int exit_status,
                        const char *trace_name)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "joule_job_report", 1);
    cJSON_AddStringToObject(root, "node", node);
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    cJSON_AddStringToObject(root, "host", host);
    cJSON *ranks = cJSON_AddObjectToObject(root, "rank");
    long lr = job_local_rank();
    cJSON_AddNumberToObject(ranks, "local_rank", (double)lr);
    add_rank_var(ranks, "world_rank", rank_vars, sizeof rank_vars / sizeof *rank_vars);
    add_rank_var(ranks, "world_size", size_vars, sizeof size_vars / sizeof *size_vars);
    const char *job = getenv("SLURM_JOB_ID");
    if (job && *job)
        cJSON_AddStringToObject(root, "slurm_job_id", job);
    cJSON *argv = cJSON_AddArrayToObject(root, "command");
    for (int i = 0; cmd[i]; i++)
        cJSON_AddItemToArray(argv, cJSON_CreateString(cmd[i]));
    cJSON_AddNumberToObject(root, "begin_unix_s", begin_unix_s);
    cJSON_AddNumberToObject(root, "end_unix_s", end_unix_s);
    cJSON_AddNumberToObject(root, "time_s", st->time_s[0]);
    cJSON_AddNumberToObject(root, "exit_status", exit_status);
    if (trace_name)
        cJSON_AddStringToObject(root, "trace", trace_name);
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < st->ndev; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        cJSON *o = cli_device_json(devs, d);
        cJSON_AddStringToObject(o, "uuid", joule_device_uuid(d));
        if (st->status[i] || isnan(st->energy[i])) {
            cJSON_AddNullToObject(o, "energy_j");
            cJSON_AddNullToObject(o, "energy_uncertainty_j");
            cJSON_AddStringToObject(o, "error", st->error[i]);
        } else {
            cJSON_AddNumberToObject(o, "energy_j", st->energy[i]);
            cJSON_AddNumberToObject(o, "energy_uncertainty_j", st->bound[i]);
        }
        cJSON_AddStringToObject(o, "quality", joule_quality_name(st->quality[i]));
    }
    return root;
}

int job_report_write(const char *dir, joule_ctx *ctx, const struct run_stats *st, double begin_unix_s,
                     double end_unix_s, char **cmd, int exit_status, const char *trace_name)
{
    char node[200], path[4096], tmp[4200];
    job_node_name(node, sizeof node);
    snprintf(path, sizeof path, "%s/%s.json", dir, node);
    snprintf(tmp, sizeof tmp, "%s/.%s.json.%ld.tmp", dir, node, (long)getpid());
    cJSON *root = node_json(ctx, st, node, begin_unix_s, end_unix_s, cmd, exit_status, trace_name);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    FILE *f = text ? fopen(tmp, "w") : NULL;
    int rc = -1;
    if (!text)
        fprintf(stderr, "joule run: out of memory writing the job report\n");
    else if (!f)
        fprintf(stderr, "joule run: cannot write '%s': %s\n", tmp, strerror(errno));
    else {
        fputs(text, f);
        fputc('\n', f);
        if (cli_close_output("run", f, tmp) == 0) {
            if (rename(tmp, path) == 0)
                rc = 0;
            else
                fprintf(stderr, "joule run: cannot write '%s': %s\n", path, strerror(errno));
        }
        if (rc)
            unlink(tmp);
    }
    free(text);
    return rc;
}

int job_setup(const char *dir, int repeat, const char **trace, char *buf, size_t len,
              char **trace_name)
{
    if (repeat != 1) {
        fprintf(stderr, "joule run: --job-report measures one run: leave out -r\n");
        return 2;
    }
    int local = job_local_rank();
    if (local < 0)
        return 2;
    if (local > 0)
        return JOB_EXEC_ONLY;
    if (job_report_dir(dir))
        return 1;
    if (*trace) {
        const char *base = strrchr(*trace, '/');
        base = base ? base + 1 : *trace;
        size_t n = strlen(base);
        if (!*base || (n >= 5 && !strcmp(base + n - 5, ".json"))) {
            fprintf(stderr, "joule run: --trace '%s' with --job-report: give a file name not "
                            "ending in .json (the trace becomes DIR/NODE-NAME)\n", *trace);
            return 2;
        }
        char node[200];
        job_node_name(node, sizeof node);
        snprintf(buf, len, "%s/%s-%s", dir, node, base);
        *trace = buf;
        *trace_name = strrchr(buf, '/') + 1;
    }
    return JOB_MEASURE;
}
