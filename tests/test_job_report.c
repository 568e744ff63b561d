/* `joule run --job-report DIR` under a launcher and `joule report DIR`:
 * which rank measures (the launchers' local-rank variables set by hand,
 * and a real `mpirun -np 2` where present), the node files, the merged
 * table checked against the sim model, the job-level trace, and the
 * errors (empty directory, malformed file, nodes whose devices differ). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <joule/joule.h>
#include <joule/trace.h>

#include "test_support.h"

/* H100 preset: idle 70 W, TDP 700 W; load 0.5 draws 385 W. */
#define H100_HALF_W 385.0

static char *tmpdir;

/* Runs joule with args (NULL-terminated) and env; captures both streams. */
#define joule(env, out, err, ...) ts_run_args(JOULE_TEST_CLI, env, out, err, __VA_ARGS__)

static int setup(void **state)
{
    tmpdir = ts_mkdtemp();
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("SLURM_LOCALID");
    unsetenv("MPI_LOCALRANKID");
    unsetenv("JOULE_NODE_NAME");
    return 0;
}

static int teardown(void **state)
{
    ts_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

static char *path_in(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* A rank that is not node-local rank 0 only runs the command: its exit
 * status comes back and it writes nothing. */
static void test_other_ranks_only_run(void **state)
{
    char *dir = path_in(tmpdir, "other");
    char *env[] = {"OMPI_COMM_WORLD_LOCAL_RANK=1", "JOULE_DEVICES=sim:1:h100", NULL};
    assert_int_equal(joule(env, NULL, NULL, "run", "--job-report", dir, "--", "sh", "-c",
                           "exit 3", NULL), 3);
    assert_int_equal(access(dir, F_OK), -1);
    char *env2[] = {"SLURM_LOCALID=2", "JOULE_DEVICES=sim:1:h100", NULL};
    assert_int_equal(joule(env2, NULL, NULL, "run", "--job-report", dir, "--", "true", NULL), 0);
    char *err = NULL;
    char *env3[] = {"OMPI_COMM_WORLD_LOCAL_RANK=x", NULL};
    assert_int_equal(joule(env3, NULL, &err, "run", "--job-report", dir, "--", "true", NULL), 2);
    assert_non_null(strstr(err, "OMPI_COMM_WORLD_LOCAL_RANK='x' is not a rank"));
    free(err);
    free(dir);
}

/* Runs one pretend node (local rank 0) measuring two sim GPUs at half load. */
static void run_node(const char *dir, const char *node, const char *devices, int with_trace)
{
    char name_env[128], dev_env[128];
    snprintf(name_env, sizeof name_env, "JOULE_NODE_NAME=%s", node);
    snprintf(dev_env, sizeof dev_env, "JOULE_DEVICES=%s", devices);
    char *env[] = {"OMPI_COMM_WORLD_LOCAL_RANK=0", "JOULE_SIM_LOAD=0.5", name_env, dev_env, NULL};
    int rc = with_trace ? joule(env, NULL, NULL, "run", "--trace", "t.csv", "--interval", "20",
                                "--job-report", dir, "--", "sleep", "0.5", NULL)
                        : joule(env, NULL, NULL, "run", "--job-report", dir, "--", "sleep", "0.5",
                                NULL);
    assert_int_equal(rc, 0);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_two_nodes_merged(void **state)
{
    char *dir = path_in(tmpdir, "job");
    run_node(dir, "a", "sim:2:h100", 1);
    run_node(dir, "b", "sim:2:h100", 1);

    /* The node file: devices with uuid, energy and uncertainty. */
    char *file = path_in(dir, "a.json"), *text = ts_read(file);
    assert_non_null(text);
    cJSON *a = cJSON_Parse(text);
    assert_non_null(a);
    assert_int_equal((int)num(a, "exit_status"), 0);
    assert_int_equal((int)num(cJSON_GetObjectItem(a, "rank"), "local_rank"), 0);
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "devices"), 0);
    assert_string_equal(cJSON_GetObjectItem(d0, "uuid")->valuestring,
                        "GPU-51130000-0000-4000-8000-000000000000");
    assert_true(num(d0, "energy_uncertainty_j") > 0);
    assert_string_equal(cJSON_GetObjectItem(a, "trace")->valuestring, "a-t.csv");
    cJSON_Delete(a);
    free(text);
    free(file);

    char *out = NULL, *trace = path_in(tmpdir, "job-trace.csv");
    assert_int_equal(joule(NULL, &out, NULL, "report", "--json", "--trace", trace, dir, NULL), 0);
    cJSON *r = cJSON_Parse(out);
    assert_non_null(r);
    const cJSON *nodes = cJSON_GetObjectItem(r, "nodes"), *tot = cJSON_GetObjectItem(r, "total");
    assert_int_equal(cJSON_GetArraySize(nodes), 2);
    double sum = 0;
    for (int i = 0; i < 2; i++) {
        const cJSON *n = cJSON_GetArrayItem(nodes, i);
        double e = num(n, "gpu_energy_j"), t = num(n, "time_s");
        /* Each node: 2 GPUs at 385 W for its window, within 3 %. */
        assert_true(fabs(e - 2 * H100_HALF_W * t) < 0.03 * e);
        sum += e;
    }
    assert_int_equal((int)num(tot, "devices"), 4);
    assert_true(fabs(num(tot, "gpu_energy_j") - sum) < 1e-6);
    assert_true(fabs(num(tot, "energy_j") - sum) < 1e-6);
    assert_true(num(tot, "energy_uncertainty_j") > 0);
    /* Time from the earliest begin (node a) to the latest end (node b). */
    assert_true(num(tot, "time_s") >= 1.0);
    assert_true(fabs(num(tot, "time_s") - (num(tot, "end_unix_s") - num(tot, "begin_unix_s"))) < 1e-6);
    cJSON_Delete(r);
    free(out);

    /* CSV: two node rows and a total. */
    assert_int_equal(joule(NULL, &out, NULL, "report", "--csv", dir, NULL), 0);
    assert_non_null(strstr(out, "node,devices,time_s,"));
    assert_non_null(strstr(out, "\na,2,"));
    assert_non_null(strstr(out, "\nb,2,"));
    assert_non_null(strstr(out, "\ntotal,4,"));
    free(out);

    /* The job-level trace: both nodes' GPUs on one axis and their sum. */
    joule_trace *jt;
    assert_int_equal(joule_trace_read(trace, &jt), 0);
    assert_int_equal(joule_trace_device_count(jt), 5);
    assert_string_equal(joule_trace_device_label(jt, 2), "n1.gpu0");
    assert_string_equal(joule_trace_device_label(jt, 4), "job");
    joule_trace_stats job, gpus;
    int ngpus;
    assert_int_equal(joule_trace_device_stats(jt, 4, &job), 0);
    assert_int_equal(joule_trace_gpu_sum_stats(jt, &gpus, &ngpus), 0);
    assert_int_equal(ngpus, 4);
    /* The nodes ran one after the other: each node's GPUs count for the
     * job only while it ran, so the job drew 2 x 385 W at most (±3 %
     * noise), and its energy is the four GPUs' together. */
    assert_true(fabs(job.peak_power_w - 2 * H100_HALF_W) < 0.05 * 2 * H100_HALF_W);
    double each = 0;
    for (int i = 0; i < 4; i++) {
        joule_trace_stats g;
        assert_int_equal(joule_trace_device_stats(jt, i, &g), 0);
        each += g.energy_j;
    }
    assert_true(fabs(job.energy_j - each) < 0.01 * each);
    assert_true(joule_trace_duration_s(jt) >= 1.0);
    joule_trace_free(jt);
    free(trace);
    free(dir);
}

/* A real launcher: mpirun -np 2 on one host gives local ranks 0 and 1, so
 * one node file, and both ranks ran the command. */
static void test_under_mpirun(void **state)
{
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("skipped: mpirun not found\n");
        skip();
    }
    char *dir = path_in(tmpdir, "mpi"), *script;
    assert_true(asprintf(&script, "touch %s/ran.$OMPI_COMM_WORLD_RANK", tmpdir) > 0);
    char *argv[] = {"/usr/bin/env", "mpirun", "--oversubscribe", "-np", "2", (char *)JOULE_TEST_CLI, "run",
                    "--job-report", dir, "--", "sh", "-c", script, NULL};
    char *env[] = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                   "OMPI_MCA_btl=self,vader", "JOULE_DEVICES=sim:1:h100", NULL};
    char *err = NULL;
    int rc = ts_run(argv, env, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "mpirun: %s\n", err);
    assert_int_equal(rc, 0);
    free(err);
    char *r0 = path_in(tmpdir, "ran.0"), *r1 = path_in(tmpdir, "ran.1");
    assert_int_equal(access(r0, F_OK), 0);
    assert_int_equal(access(r1, F_OK), 0);
    char *out = NULL;
    assert_int_equal(joule(NULL, &out, NULL, "report", "--csv", dir, NULL), 0);
    assert_non_null(strstr(out, "\ntotal,1,")); /* one node measured, one GPU */
    free(out);
    free(r0);
    free(r1);
    free(script);
    free(dir);
}

static void test_report_errors(void **state)
{
    char *err = NULL, *out = NULL;
    char *empty = path_in(tmpdir, "empty");
    assert_int_equal(ts_write(empty, "readme.txt", "nothing\n"), 0);
    assert_int_equal(joule(NULL, NULL, &err, "report", empty, NULL), 1);
    assert_non_null(strstr(err, "no node reports"));
    free(err);

    char *bad = path_in(tmpdir, "bad");
    assert_int_equal(ts_write(bad, "x.json", "{\"joule_job_report\": 1, \"begin_unix_s\": 1}\n"), 0);
    assert_int_equal(joule(NULL, NULL, &err, "report", bad, NULL), 1);
    assert_non_null(strstr(err, "/x.json: \"begin_unix_s\""));
    free(err);
    assert_int_equal(ts_write(bad, "x.json", "{ not json"), 0);
    assert_int_equal(joule(NULL, NULL, &err, "report", bad, NULL), 1);
    assert_non_null(strstr(err, "/x.json: not JSON"));
    free(err);

    /* A node whose devices differ from the others. */
    char *mixed = path_in(tmpdir, "mixed");
    run_node(mixed, "a", "sim:2:h100", 0);
    run_node(mixed, "c", "sim:1:a100", 0);
    assert_int_equal(joule(NULL, &out, &err, "report", mixed, NULL), 1);
    assert_non_null(strstr(err, "node 'c' has devices [1 x gpu NVIDIA A100"));
    assert_non_null(strstr(err, "differ from node 'a'"));
    assert_string_equal(out, "");
    free(out);
    free(err);
    assert_int_equal(joule(NULL, &out, &err, "report", "--json", "--allow-mixed", mixed, NULL), 0);
    assert_non_null(strstr(out, "\"mixed_devices\":\ttrue"));
    free(out);
    free(err);
    /* --trace without node traces names the node. */
    assert_int_equal(joule(NULL, NULL, &err, "report", "--trace", "/dev/null", "--allow-mixed",
                           mixed, NULL), 1);
    assert_non_null(strstr(err, "node 'a' (a.json) has no trace"));
    free(err);

    assert_int_equal(joule(NULL, &out, NULL, "report", "--help", NULL), 0);
    assert_non_null(strstr(out, "usage: joule report"));
    free(out);
    assert_int_equal(joule(NULL, NULL, &err, "report", NULL), 2);
    assert_non_null(strstr(err, "missing the directory"));
    free(err);
    assert_int_equal(joule(NULL, NULL, NULL, "report", "--json", "--csv", mixed, NULL), 2);
    free(empty);
    free(bad);
    free(mixed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_ranks_only_run),
        cmocka_unit_test(test_two_nodes_merged),
        cmocka_unit_test(test_under_mpirun),
        cmocka_unit_test(test_report_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
