/* joule report DIR: merge the node files that `joule run --job-report DIR`
 * wrote under a launcher into the job's table, per node and in total
 * (docs/cluster.md). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/trace.h>

#include "commands.h"
#include "common.h"

#define MAX_NODES 100000

struct node_dev {
    char label[32], kind[32], name[128], uuid[96], backend[32];
    double energy_j, uncertainty_j; /* NAN: the device failed */
};

struct node {
    char file[256], name[200], host[256], trace[256];
    double begin_unix_s, end_unix_s, time_s;
    int exit_status, ndev;
    struct node_dev *dev;
    double kind_j[JOULE_KIND_COUNT], energy_j, uncertainty_j;
    char devices_text[512]; /* "2 × gpu NVIDIA H100, 2 × cpu_package ..." */
};

static void report_usage(FILE *out)
{
    fprintf(out,
            "usage: joule report [--json|--csv] [-o FILE] [--trace OUT] [--allow-mixed] DIR\n\n"
            "Merge the node files (DIR/NODE.json) that `joule run --job-report DIR` wrote on\n"
            "each node of a job (mpirun, srun) into the job's energy: one row per node and a\n"
            "total, whose time runs from the earliest begin to the latest end (wall clock).\n"
            "Nodes whose devices differ from the first node's are an error.\n\n"
            "  -j, --json          print the table as JSON\n"
            "      --csv           print one CSV row per node and a 'total' row\n"
            "  -o, --output FILE   write the table to FILE (default: stdout)\n"
            "  -t, --trace OUT     also merge the nodes' traces (joule run --trace FILE\n"
            "                      --job-report DIR) into one job-level trace OUT, aligned on\n"
            "                      the wall clock, with the job's GPU power summed as 'job'\n"
            "      --allow-mixed   merge nodes whose devices differ (flagged in the output)\n"
            "  -h, --help          this help\n");
}

static int fail_file(const char *path, const char *what)
{
    fprintf(stderr, "joule report: %s: %s\n", path, what);
    return -1;
}

static int get_number(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return -1;
    *out = v->valuedouble;
    return 0;
}

static void get_string(const cJSON *o, const char *key, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(buf, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int kind_of(const char *name)
{
    for (int k = 0; k < JOULE_KIND_COUNT; k++)
        if (!strcmp(joule_kind_name((enum joule_device_kind)k), name))
            return k;
    return -1;
}

/* Device signature: "2 × gpu NVIDIA H100, 1 × cpu_package ..." in sorted order. */
static int dev_cmp(const void *a, const void *b)
{
    const struct node_dev *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->name, y->name);
}

static void signature(struct node *n)
{
    struct node_dev *s = malloc((size_t)(n->ndev ? n->ndev : 1) * sizeof *s);
    n->devices_text[0] = '\0';
    if (!s)
        return;
    memcpy(s, n->dev, (size_t)n->ndev * sizeof *s);
    qsort(s, (size_t)n->ndev, sizeof *s, dev_cmp);
    for (int i = 0; i < n->ndev;) {
        int j = i;
        while (j < n->ndev && !dev_cmp(&s[i], &s[j]))
            j++;
        size_t used = strlen(n->devices_text);
        snprintf(n->devices_text + used, sizeof n->devices_text - used, "%s%d x %s %s",
                 used ? ", " : "", j - i, s[i].kind, s[i].name);
        i = j;
    }
    free(s);
}

static int parse_node(const char *dir, const char *file, struct node *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(n->file, sizeof n->file, "%s", file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "joule report: cannot read '%s': %s\n", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t cap = 0, len = 0, got;
    char chunk[8192];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = 2 * (len + got + 1);
            char *p = realloc(text, cap);
            if (!p) {
                free(text);
                fclose(f);
                return fail_file(path, "out of memory");
            }
            text = p;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!text)
        return fail_file(path, "empty file: not a node report of `joule run --job-report`");
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc = -1;
    const cJSON *devs, *d;
    double ver, exit_status;
    if (!root)
        fail_file(path, "not JSON: not a node report of `joule run --job-report`");
    else if (get_number(root, "joule_job_report", &ver) || ver != 1)
        fail_file(path, "no \"joule_job_report\": 1: not a node report of `joule run --job-report`");
    else if (get_number(root, "begin_unix_s", &n->begin_unix_s) ||
             get_number(root, "end_unix_s", &n->end_unix_s) || get_number(root, "time_s", &n->time_s) ||
             get_number(root, "exit_status", &exit_status) || n->end_unix_s < n->begin_unix_s)
        fail_file(path, "\"begin_unix_s\", \"end_unix_s\", \"time_s\" or \"exit_status\" missing "
                        "or not a number (or the end before the begin)");
    else if (!cJSON_IsArray(devs = cJSON_GetObjectItemCaseSensitive(root, "devices")))
        fail_file(path, "\"devices\" missing or not an array");
    else {
        n->exit_status = (int)exit_status;
        get_string(root, "node", n->name, sizeof n->name);
        get_string(root, "host", n->host, sizeof n->host);
        get_string(root, "trace", n->trace, sizeof n->trace);
        if (!n->name[0])
            fail_file(path, "\"node\" missing");
        else if (!(n->dev = calloc((size_t)cJSON_GetArraySize(devs) + 1, sizeof *n->dev)))
            fail_file(path, "out of memory");
        else {
            rc = 0;
            cJSON_ArrayForEach(d, devs)
            {
                struct node_dev *nd = &n->dev[n->ndev];
                get_string(d, "label", nd->label, sizeof nd->label);
                get_string(d, "kind", nd->kind, sizeof nd->kind);
                get_string(d, "name", nd->name, sizeof nd->name);
                get_string(d, "uuid", nd->uuid, sizeof nd->uuid);
                get_string(d, "backend", nd->backend, sizeof nd->backend);
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "energy_j");
                if (!nd->label[0] || kind_of(nd->kind) < 0 || !(cJSON_IsNumber(e) || cJSON_IsNull(e))) {
                    char msg[160];
                    snprintf(msg, sizeof msg, "device %d: \"label\", \"kind\" or \"energy_j\" missing or invalid",
                             n->ndev);
                    rc = fail_file(path, msg);
                    break;
                }
                nd->energy_j = nd->uncertainty_j = NAN;
                if (cJSON_IsNumber(e)) {
                    nd->energy_j = e->valuedouble;
                    if (get_number(d, "energy_uncertainty_j", &nd->uncertainty_j))
                        nd->uncertainty_j = 0;
                }
                n->ndev++;
            }
        }
    }
    cJSON_Delete(root);
    if (rc)
        return -1;
    for (int i = 0; i < n->ndev; i++) {
        const struct node_dev *nd = &n->dev[i];
        int k = kind_of(nd->kind);
        if (isnan(nd->energy_j))
            continue;
        n->kind_j[k] += nd->energy_j;
        if (k <= JOULE_KIND_DRAM) { /* psys, core and uncore overlap these */
            n->energy_j += nd->energy_j;
            n->uncertainty_j += nd->uncertainty_j;
        }
    }
    signature(n);
    return 0;
}

static int json_file(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 5 && !strcmp(e->d_name + n - 5, ".json");
}

/* Reads every DIR/NODE.json, in name order. Returns the count or -1. */
static int read_nodes(const char *dir, struct node **out)
{
    struct dirent **list;
    int n = scandir(dir, &list, json_file, alphasort);
    if (n < 0) {
        fprintf(stderr, "joule report: cannot read directory '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    if (n == 0 || n > MAX_NODES) {
        free(list);
        fprintf(stderr, "joule report: %s: %s\n", dir,
                n ? "more than 100000 node files"
                  : "no node reports (*.json): run `joule run --job-report DIR -- CMD` under "
                    "mpirun or srun first");
        return -1;
    }
    struct node *nodes = calloc((size_t)n, sizeof *nodes);
    int rc = nodes ? 0 : -1;
    for (int i = 0; i < n; i++) {
        if (!rc && parse_node(dir, list[i]->d_name, &nodes[i]))
            rc = -1;
        free(list[i]);
    }
    free(list);
    if (rc) {
        for (int i = 0; nodes && i < n; i++)
            free(nodes[i].dev);
        free(nodes);
        return -1;
    }
    *out = nodes;
    return n;
}

/* Nodes whose devices differ from the first node's: an error unless
 * allowed. Real GPUs reported by two nodes: a warning. */
static int check_nodes(const struct node *nodes, int n, int allow_mixed, int *mixed)
{
    *mixed = 0;
    for (int i = 1; i < n; i++)
        if (strcmp(nodes[i].devices_text, nodes[0].devices_text)) {
            *mixed = 1;
            fprintf(stderr,
                    "joule report: %s: node '%s' has devices [%s], which differ from node '%s' "
                    "(%s): [%s]%s\n",
                    allow_mixed ? "warning" : "error", nodes[i].name, nodes[i].devices_text,
                    nodes[0].name, nodes[0].file, nodes[0].devices_text,
                    allow_mixed ? "" : "; a job's nodes must match (--allow-mixed merges them anyway)");
            if (!allow_mixed)
                return -1;
        }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            for (int i = 0; i < nodes[a].ndev; i++)
                for (int j = 0; j < nodes[b].ndev; j++) {
                    const struct node_dev *x = &nodes[a].dev[i], *y = &nodes[b].dev[j];
                    if (x->uuid[0] && !strcmp(x->uuid, y->uuid) && strcmp(x->backend, "sim"))
                        fprintf(stderr,
                                "joule report: warning: device %s is reported by nodes '%s' and '%s' "
                                "and counted twice: did two processes on one host measure "
                                "(JOULE_NODE_NAME set to different names)?\n",
                                x->uuid, nodes[a].name, nodes[b].name);
                }
    return 0;
}

struct totals {
    double begin, end, kind_j[JOULE_KIND_COUNT], energy_j, uncertainty_j;
    int ndev, failed_nodes;
};

static struct totals job_totals(const struct node *nodes, int n)
{
    struct totals t = {.begin = INFINITY, .end = -INFINITY};
    for (int i = 0; i < n; i++) {
        t.begin = fmin(t.begin, nodes[i].begin_unix_s);
        t.end = fmax(t.end, nodes[i].end_unix_s);
        for (int k = 0; k < JOULE_KIND_COUNT; k++)
            t.kind_j[k] += nodes[i].kind_j[k];
        t.energy_j += nodes[i].energy_j;
        t.uncertainty_j += nodes[i].uncertainty_j;
        t.ndev += nodes[i].ndev;
        t.failed_nodes += nodes[i].exit_status != 0;
    }
    return t;
}

static void print_text(FILE *out, const char *dir, const struct node *nodes, int n,
                       const struct totals *t)
{
    fprintf(out, "\n Job energy from %s (%d node%s, %d devices):\n\n", dir, n, n == 1 ? "" : "s",
            t->ndev);
    fprintf(out, " %-20s %4s %10s %12s %12s %12s %14s %12s %5s\n", "node", "devs", "time_s",
            "gpu_j", "cpu_j", "dram_j", "energy_j", "±_j", "exit");
    for (int i = 0; i < n; i++)
        fprintf(out, " %-20s %4d %10.3f %12.3f %12.3f %12.3f %14.3f %12.3f %5d\n", nodes[i].name,
                nodes[i].ndev, nodes[i].end_unix_s - nodes[i].begin_unix_s,
                nodes[i].kind_j[JOULE_KIND_GPU], nodes[i].kind_j[JOULE_KIND_CPU_PACKAGE],
                nodes[i].kind_j[JOULE_KIND_DRAM], nodes[i].energy_j, nodes[i].uncertainty_j,
                nodes[i].exit_status);
    fprintf(out, " %-20s %4d %10.3f %12.3f %12.3f %12.3f %14.3f %12.3f\n", "total", t->ndev,
            t->end - t->begin, t->kind_j[JOULE_KIND_GPU], t->kind_j[JOULE_KIND_CPU_PACKAGE],
            t->kind_j[JOULE_KIND_DRAM], t->energy_j, t->uncertainty_j);
    fprintf(out, "\n energy_j = GPU + CPU package + DRAM; ±_j adds the devices' bounds; time from "
                 "the earliest begin to the latest end.\n");
}

static void print_csv(FILE *out, const struct node *nodes, int n, const struct totals *t)
{
    fprintf(out, "node,devices,time_s,begin_unix_s,end_unix_s,gpu_energy_j,cpu_energy_j,"
                 "dram_energy_j,energy_j,energy_uncertainty_j,exit_status\n");
    for (int i = 0; i < n; i++) {
        joule_csv_write_field(out, nodes[i].name);
        fprintf(out, ",%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%d\n", nodes[i].ndev,
                nodes[i].end_unix_s - nodes[i].begin_unix_s, nodes[i].begin_unix_s,
                nodes[i].end_unix_s, nodes[i].kind_j[JOULE_KIND_GPU],
                nodes[i].kind_j[JOULE_KIND_CPU_PACKAGE], nodes[i].kind_j[JOULE_KIND_DRAM],
                nodes[i].energy_j, nodes[i].uncertainty_j, nodes[i].exit_status);
    }
    fprintf(out, "total,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,\n", t->ndev, t->end - t->begin,
            t->begin, t->end, t->kind_j[JOULE_KIND_GPU], t->kind_j[JOULE_KIND_CPU_PACKAGE],
            t->kind_j[JOULE_KIND_DRAM], t->energy_j, t->uncertainty_j);
}

static void add_sums(cJSON *o, double time_s, double begin, double end, const double *kind_j,
                     double e, double u)
{
    cJSON_AddNumberToObject(o, "time_s", time_s);
    cJSON_AddNumberToObject(o, "begin_unix_s", begin);
    cJSON_AddNumberToObject(o, "end_unix_s", end);
    cJSON_AddNumberToObject(o, "gpu_energy_j", kind_j[JOULE_KIND_GPU]);
    cJSON_AddNumberToObject(o, "cpu_energy_j", kind_j[JOULE_KIND_CPU_PACKAGE]);
    cJSON_AddNumberToObject(o, "dram_energy_j", kind_j[JOULE_KIND_DRAM]);
    cJSON_AddNumberToObject(o, "energy_j", e);
    cJSON_AddNumberToObject(o, "energy_uncertainty_j", u);
}

static void print_json(FILE *out, const struct node *nodes, int n, const struct totals *t, int mixed)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "nodes");
    for (int i = 0; i < n; i++) {
        const struct node *nd = &nodes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "node", nd->name);
        cJSON_AddStringToObject(o, "host", nd->host);
        cJSON_AddStringToObject(o, "file", nd->file);
        add_sums(o, nd->end_unix_s - nd->begin_unix_s, nd->begin_unix_s, nd->end_unix_s, nd->kind_j,
                 nd->energy_j, nd->uncertainty_j);
        cJSON_AddNumberToObject(o, "exit_status", nd->exit_status);
        cJSON *devs = cJSON_AddArrayToObject(o, "devices");
        for (int j = 0; j < nd->ndev; j++) {
            const struct node_dev *d = &nd->dev[j];
            cJSON *dj = cJSON_CreateObject();
            cJSON_AddItemToArray(devs, dj);
            cJSON_AddStringToObject(dj, "label", d->label);
            cJSON_AddStringToObject(dj, "kind", d->kind);
            cJSON_AddStringToObject(dj, "name", d->name);
            cJSON_AddStringToObject(dj, "uuid", d->uuid);
            if (isnan(d->energy_j)) {
                cJSON_AddNullToObject(dj, "energy_j");
                cJSON_AddNullToObject(dj, "energy_uncertainty_j");
            } else {
                cJSON_AddNumberToObject(dj, "energy_j", d->energy_j);
                cJSON_AddNumberToObject(dj, "energy_uncertainty_j", d->uncertainty_j);
            }
        }
    }
    cJSON *tot = cJSON_AddObjectToObject(root, "total");
    cJSON_AddNumberToObject(tot, "nodes", n);
    cJSON_AddNumberToObject(tot, "devices", t->ndev);
    add_sums(tot, t->end - t->begin, t->begin, t->end, t->kind_j, t->energy_j, t->uncertainty_j);
    cJSON_AddNumberToObject(tot, "failed_nodes", t->failed_nodes);
    cJSON_AddBoolToObject(tot, "mixed_devices", mixed);
    char *s = cJSON_Print(root);
    if (s)
        fprintf(out, "%s\n", s);
    free(s);
    cJSON_Delete(root);
}

static int merge_traces(const char *dir, const struct node *nodes, int n, const char *out_path)
{
    char **paths = calloc((size_t)n, sizeof *paths), **prefixes = calloc((size_t)n, sizeof *prefixes);
    const char **names = calloc((size_t)n, sizeof *names);
    int rc = paths && prefixes && names ? 0 : -1;
    for (int i = 0; !rc && i < n; i++) {
        if (!nodes[i].trace[0] || strchr(nodes[i].trace, '/')) {
            fprintf(stderr, "joule report: --trace: node '%s' (%s) has no trace in %s: run it with "
                            "`joule run --trace FILE --job-report DIR`\n",
                    nodes[i].name, nodes[i].file, dir);
            rc = -1;
            break;
        }
        if (asprintf(&paths[i], "%s/%s", dir, nodes[i].trace) < 0 ||
            asprintf(&prefixes[i], "n%d", i) < 0) {
            paths[i] = prefixes[i] = NULL;
            rc = -1;
            break;
        }
        names[i] = nodes[i].name;
    }
    if (!rc && joule_trace_merge((const char *const *)paths, (const char *const *)prefixes, names, n,
                                 out_path)) {
        fprintf(stderr, "joule report: --trace: %s\n", joule_last_error());
        rc = -1;
    }
    for (int i = 0; i < n; i++) {
        free(paths ? paths[i] : NULL);
        free(prefixes ? prefixes[i] : NULL);
    }
    free(paths);
    free(prefixes);
    free(names);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    enum { OPT_CSV = 256, OPT_MIXED };
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, OPT_CSV},
        {"output", required_argument, NULL, 'o'},
        {"trace", required_argument, NULL, 't'},
        {"allow-mixed", no_argument, NULL, OPT_MIXED},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *output = "-", *trace = NULL;
    int json = 0, csv = 0, allow_mixed = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jo:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'o': output = optarg; break;
        case 't': trace = optarg; break;
        case OPT_MIXED: allow_mixed = 1; break;
        case 'h': report_usage(stdout); return 0;
        default: return cli_try_help(argv[0]);
        }
    }
    if (json && csv) {
        fprintf(stderr, "joule report: choose one of --json and --csv\n");
        return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "joule report: %s (usage: joule report [OPTIONS] DIR)\n",
                optind >= argc ? "missing the directory of node reports" : "give one directory");
        return 2;
    }
    const char *dir = argv[optind];
    struct node *nodes = NULL;
    int n = read_nodes(dir, &nodes), mixed = 0, rc = 1;
    if (n < 0)
        return 1;
    if (check_nodes(nodes, n, allow_mixed, &mixed) == 0 && (!trace || merge_traces(dir, nodes, n, trace) == 0)) {
        struct totals t = job_totals(nodes, n);
        FILE *out = cli_open_output("report", output);
        if (out) {
            if (json)
                print_json(out, nodes, n, &t, mixed);
            else if (csv)
                print_csv(out, nodes, n, &t);
            else
                print_text(out, dir, nodes, n, &t);
            rc = cli_close_output("report", out, output) ? 1 : 0;
        }
        for (int i = 0; i < n; i++)
            if (nodes[i].exit_status)
                fprintf(stderr, "joule report: node '%s': the command exited with status %d\n",
                        nodes[i].name, nodes[i].exit_status);
    }
    for (int i = 0; i < n; i++)
        free(nodes[i].dev);
    free(nodes);
    return rc;
}
