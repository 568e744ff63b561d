/* Lease semantics with several owners of one setting (docs/daemon.md):
 * the leases form a stack. When the lease in force ends, the value of the
 * latest live lease below it comes back; a lease below the top just
 * leaves; the original returns with the last one. Owners are client
 * processes on the unix socket (leases end when they exit). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_daemon_harness.h"

struct client {
    pid_t pid;
    int cmd, reply; /* pipes: requests to the child, its statuses back */
};

/* A client process that makes the requests it is sent ("METHOD PATH
 * BODY" lines) and exits when its pipe closes. */
static void client_start(const struct dm *m, struct client *c)
{
    int down[2], up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    c->pid = fork();
    if (c->pid == 0) {
        /* only its own pipe ends: an earlier client's, inherited, would
         * keep that client from seeing its pipe close */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != down[0] && fd != up[1])
                close(fd);
        FILE *in = fdopen(down[0], "r");
        char line[512];
        while (fgets(line, sizeof line, in)) {
            line[strcspn(line, "\n")] = '\0';
            char method[16], path[128];
            int off = 0;
            sscanf(line, "%15s %127s %n", method, path, &off);
            int st = dm_send(m, method, path, line + off, NULL);
            dm_write_all(up[1], (char *)&st, sizeof st);
        }
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    c->cmd = down[1];
    c->reply = up[0];
}

static void client_do(struct client *c, const char *method, const char *path, const char *body)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s %s\n", method, path, body);
    assert_int_equal(dm_write_all(c->cmd, line, (size_t)n), 0);
    int st = -1;
    assert_int_equal(read(c->reply, &st, sizeof st), (ssize_t)sizeof st);
    assert_int_equal(st, 200);
}

static void client_exit(struct client *c)
{
    close(c->cmd);
    waitpid(c->pid, NULL, 0);
    close(c->reply);
}

/* Waits until /v1/leases lists n leases. */
static void wait_leases(const struct dm *m, int n)
{
    int have = -1;
    for (double t0 = dm_now(); dm_now() - t0 < 10;) {
        char *body = NULL;
        assert_int_equal(dm_get(m, "/v1/leases", &body), 200);
        have = 0;
        for (const char *p = body; (p = strstr(p, "\"setting\":")); p++)
            have++;
        free(body);
        if (have == n)
            return;
        usleep(20000);
    }
    fail_msg("%d leases listed, want %d", have, n);
}

static const char *gpu = "[{\"model\": \"h100\"}]";
static const char *conf = "scope.read = all\nscope.control = all\n";
#define PL "/v1/gpus/0/power_limit"

/* The later lease ends first: the earlier owner's value comes back while
 * it runs; the original only when it ends too. */
static void test_later_ends_first(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, gpu, conf), 0);
    struct client a, b;
    client_start(&m, &a);
    client_start(&m, &b);
    client_do(&a, "POST", PL, "{\"watts\": 300}");
    client_do(&b, "POST", PL, "{\"watts\": 250}");
    assert_true(fh_state(&m.h, 0, "pl_w") == 250);
    char *body = NULL;
    assert_int_equal(dm_get(&m, "/v1/leases", &body), 200);
    const char *top = strstr(body, "\"in_force\":true"), *below = strstr(body, "\"in_force\":false");
    assert_true(top && below && top < below);
    assert_non_null(strstr(body, "\"original_w\":700"));
    free(body);

    client_exit(&b);
    assert_true(dm_wait_state(&m, 0, "pl_w", 300, 10) == 300); /* a's value, a still runs */
    wait_leases(&m, 1);
    assert_true(fh_state(&m.h, 0, "pl_w") == 300);
    client_exit(&a);
    assert_true(dm_wait_state(&m, 0, "pl_w", 700, 10) == 700);
    wait_leases(&m, 0);
    dm_stop(&m);
}

/* The earlier lease ends first: the later value stays in force. */
static void test_earlier_ends_first(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, gpu, conf), 0);
    struct client a, b;
    client_start(&m, &a);
    client_start(&m, &b);
    client_do(&a, "POST", PL, "{\"watts\": 300}");
    client_do(&b, "POST", PL, "{\"watts\": 250}");
    client_exit(&a);
    wait_leases(&m, 1);
    assert_true(fh_state(&m.h, 0, "pl_w") == 250);
    client_exit(&b);
    assert_true(dm_wait_state(&m, 0, "pl_w", 700, 10) == 700);
    wait_leases(&m, 0);
    dm_stop(&m);
}

/* An owner changing again moves on top (one place per owner); a DELETE
 * (reset) is a value like any other and the lock below it comes back. */
static void test_owner_moves_on_top_and_reset(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, gpu, conf), 0);
    struct client a, b;
    client_start(&m, &a);
    client_start(&m, &b);
    client_do(&a, "POST", PL, "{\"watts\": 300}");
    client_do(&b, "POST", PL, "{\"watts\": 250}");
    client_do(&a, "POST", PL, "{\"watts\": 280}");
    assert_true(fh_state(&m.h, 0, "pl_w") == 280);
    wait_leases(&m, 2);
    client_do(&a, "POST", "/v1/gpus/0/clocks", "{\"min_mhz\": 900, \"max_mhz\": 1200}");
    client_do(&b, "DELETE", "/v1/gpus/0/clocks", "{}");
    assert_true(fh_state(&m.h, 0, "lock_max_mhz") == 0);
    client_exit(&a);
    assert_true(dm_wait_state(&m, 0, "pl_w", 250, 10) == 250); /* b's value */
    wait_leases(&m, 2);
    assert_true(fh_state(&m.h, 0, "lock_max_mhz") == 0); /* b's reset stays */
    client_start(&m, &a);
    client_do(&a, "POST", "/v1/gpus/0/clocks", "{\"min_mhz\": 900, \"max_mhz\": 1100}");
    assert_true(fh_state(&m.h, 0, "lock_max_mhz") == 1100);
    client_exit(&b);
    assert_true(dm_wait_state(&m, 0, "pl_w", 700, 10) == 700);
    assert_true(fh_state(&m.h, 0, "lock_max_mhz") == 1100); /* a's lock is on top */
    client_exit(&a);
    assert_true(dm_wait_state(&m, 0, "lock_max_mhz", 0, 10) == 0);
    wait_leases(&m, 0);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_later_ends_first),
        cmocka_unit_test(test_earlier_ends_first),
        cmocka_unit_test(test_owner_moves_on_top_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
