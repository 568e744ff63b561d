/* The cluster view of power (include/joule/cluster.h, `joule monitor
 * --daemon`): two real jouleds on loopback (NVML double: two GPUs and one
 * GPU) followed over TCP with bearer tokens; per-node and total power; a
 * node killed shows as down and the total as partial, then comes back;
 * a refused token is named; bad lists and token files are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>

#include <joule/cluster.h>

#include "test_daemon_harness.h"

static const char *two = "[{\"model\": \"h100\"}, {\"model\": \"a100\"}]";
static const char *one = "[{\"model\": \"h100\"}]";

/* Waits up to timeout_s for node i to reach state; returns its status. */
static joule_cluster_node wait_state(joule_cluster *c, int i, int state, double timeout_s)
{
    joule_cluster_node s;
    for (double t0 = dm_now();; usleep(20000)) {
        assert_int_equal(joule_cluster_node_status(c, i, &s), 0);
        if (s.state == state || dm_now() - t0 > timeout_s)
            return s;
    }
}

/* The last line of text (a JSONL stream's last tick), parsed. */
static cJSON *last_line(const char *text)
{
    const char *end = text + strlen(text);
    while (end > text && end[-1] == '\n')
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    char *line = strndup(start, (size_t)(end - start));
    cJSON *o = cJSON_Parse(line);
    free(line);
    return o;
}

static const cJSON *node_of(const cJSON *tick, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(tick, "nodes"), i);
}

static void test_cluster(void **state)
{
    (void)state;
    struct dm a, b;
    assert_int_equal(dm_start(&a, two, "scope.read = all\n"), 0);
    assert_int_equal(dm_start(&b, one, "scope.read = all\n"), 0);
    char *ta = dm_token(&a, "alice", "read", "1h"), *tb = dm_token(&b, "alice", "read", "1h");
    assert_non_null(ta);
    assert_non_null(tb);
    char ea[64], eb[64];
    snprintf(ea, sizeof ea, "tcp:127.0.0.1:%d", a.port);
    snprintf(eb, sizeof eb, "tcp:127.0.0.1:%d", b.port);

    /* the library: both up, each node's power the sum of its devices */
    const char *eps[2] = {ea, eb}, *toks[2] = {ta, tb};
    joule_cluster *c = NULL;
    assert_int_equal(joule_cluster_open(eps, toks, 2, 100, 1.0, &c), 0);
    joule_cluster_node sa = wait_state(c, 0, JOULE_NODE_UP, 10);
    joule_cluster_node sb = wait_state(c, 1, JOULE_NODE_UP, 10);
    assert_int_equal(sa.state, JOULE_NODE_UP);
    assert_int_equal(sb.state, JOULE_NODE_UP);
    assert_int_equal(sa.ndevices, 2);
    assert_int_equal(sb.ndevices, 1);
    double sum = 0, w;
    char label[32];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(joule_cluster_node_device(c, 0, k, label, sizeof label, &w), 0);
        assert_true(w > 0);
        sum += w;
    }
    assert_string_equal(label, "gpu1");
    /* the devices and the node total come from one event */
    assert_int_equal(joule_cluster_node_status(c, 0, &sa), 0);
    assert_true(fabs(sa.power_w - sum) < 1e-9 || sa.events > 1);
    assert_int_equal(joule_cluster_node_device(c, 1, 1, NULL, 0, NULL), JOULE_ENOENT);

    /* node b dies: down, with the reason; a keeps going */
    dm_kill(&b, SIGKILL);
    sb = wait_state(c, 1, JOULE_NODE_DOWN, 10);
    assert_int_equal(sb.state, JOULE_NODE_DOWN);
    print_message("node down: %s\n", sb.error);
    assert_true(sb.error[0] != '\0');
    sa = wait_state(c, 0, JOULE_NODE_UP, 5);
    assert_int_equal(sa.state, JOULE_NODE_UP);
    /* it comes back on the same port: the reader reconnects */
    assert_int_equal(dm_spawn(&b), 0);
    sb = wait_state(c, 1, JOULE_NODE_UP, 15);
    assert_int_equal(sb.state, JOULE_NODE_UP);
    assert_true(sb.connects >= 2);
    /* a's energy: its events' power over the time they cover */
    usleep(300000);
    assert_int_equal(joule_cluster_node_status(c, 0, &sa), 0);
    print_message("node a: %llu events, %.3f J over %.3f s, %.1f W now\n", sa.events,
                  sa.energy_j, sa.up_s, sa.power_w);
    assert_true(sa.up_s > 0.2);
    assert_true(fabs(sa.energy_j / sa.up_s - sa.power_w) < 0.2 * sa.power_w);
    joule_cluster_close(c);

    /* the CLI: one token file line per node */
    char *dir = ts_mkdtemp(), tokfile[600], list[200];
    char *text = malloc(strlen(ta) + strlen(tb) + 64);
    sprintf(text, "# node a, node b\n%s\n\n%s\n", ta, tb);
    ts_write(dir, "tokens", text);
    free(text);
    snprintf(tokfile, sizeof tokfile, "%s/tokens", dir);
    chmod(tokfile, 0600);
    snprintf(list, sizeof list, "%s,%s", ea, eb);
    char *argv[] = {JOULE_TEST_CLI, "monitor", "--daemon", list, "--token-file", tokfile,
                    "--interval", "300", "--duration", "2.5", "--format", "jsonl", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    cJSON *tick = last_line(out);
    assert_non_null(tick);
    assert_int_equal(cJSON_GetObjectItem(tick, "nodes_up")->valueint, 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(tick, "partial")));
    double pa = cJSON_GetObjectItem(node_of(tick, 0), "power_w")->valuedouble;
    double pb = cJSON_GetObjectItem(node_of(tick, 1), "power_w")->valuedouble;
    assert_true(pa > 0 && pb > 0);
    assert_true(fabs(cJSON_GetObjectItem(tick, "total_power_w")->valuedouble - (pa + pb)) < 1e-6);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(node_of(tick, 0), "devices"),
                                        "gpu1"));
    cJSON_Delete(tick);
    /* the totals go to stderr beside jsonl */
    assert_non_null(strstr(err, "# total"));
    free(out);
    free(err);

    /* b down again: its row says so, the total is partial and without it */
    dm_kill(&b, SIGKILL);
    assert_int_equal(ts_run(argv, NULL, &out, &err), 0);
    tick = last_line(out);
    assert_non_null(tick);
    assert_int_equal(cJSON_GetObjectItem(tick, "nodes_up")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(tick, "nodes_total")->valueint, 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(tick, "partial")));
    assert_string_equal(cJSON_GetObjectItem(node_of(tick, 1), "state")->valuestring, "down");
    assert_non_null(strstr(cJSON_GetObjectItem(node_of(tick, 1), "error")->valuestring,
                           "cannot reach jouled"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(node_of(tick, 1), "power_w")));
    pa = cJSON_GetObjectItem(node_of(tick, 0), "power_w")->valuedouble;
    assert_true(fabs(cJSON_GetObjectItem(tick, "total_power_w")->valuedouble - pa) < 1e-6);
    cJSON_Delete(tick);
    free(out);
    free(err);
    /* the table names the missing node on the total's row */
    char *targv[] = {JOULE_TEST_CLI, "monitor", "--daemon", list, "--token-file", tokfile,
                     "--interval", "300", "--duration", "1", NULL};
    assert_int_equal(ts_run(targv, NULL, &out, &err), 0);
    char want[200];
    snprintf(want, sizeof want, "1/2 up");
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "partial, without: %s down", eb);
    assert_non_null(strstr(out, want));
    free(out);
    free(err);

    /* a token jouled refuses: the node is down with jouled's reason */
    ts_write(dir, "bad", "jt1.bad.token\n");
    char badfile[600];
    snprintf(badfile, sizeof badfile, "%s/bad", dir);
    chmod(badfile, 0600);
    char *bargv[] = {JOULE_TEST_CLI, "monitor", "--daemon", ea, "--token-file", badfile,
                     "--interval", "200", "--duration", "0.5", "--format", "jsonl", NULL};
    assert_int_equal(ts_run(bargv, NULL, &out, &err), 1); /* no node ever reported */
    tick = last_line(out);
    assert_non_null(tick);
    assert_non_null(strstr(cJSON_GetObjectItem(node_of(tick, 0), "error")->valuestring,
                           "HTTP 401"));
    cJSON_Delete(tick);
    free(out);
    free(err);

    /* bad input: a token file with 3 tokens for 2 nodes, a bad endpoint */
    ts_write(dir, "three", "a\nb\nc\n");
    char three[600];
    snprintf(three, sizeof three, "%s/three", dir);
    chmod(three, 0600);
    char *x1[] = {JOULE_TEST_CLI, "monitor", "--daemon", list, "--token-file", three, NULL};
    assert_int_equal(ts_run(x1, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "one for every node or one per node (2)"));
    free(out);
    free(err);
    char *x2[] = {JOULE_TEST_CLI, "monitor", "--daemon", "tcp:127.0.0.1", NULL};
    assert_int_equal(ts_run(x2, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "tcp:HOST:PORT"));
    free(out);
    free(err);
    char *x3[] = {JOULE_TEST_CLI, "monitor", "--daemon", "tcp:node1:9464", NULL};
    assert_int_equal(ts_run(x3, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "numeric IPv4"));
    free(out);
    free(err);

    free(ta);
    free(tb);
    ts_rmtree(dir);
    free(dir);
    dm_stop(&a);
    dm_stop(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
