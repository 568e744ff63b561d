/* jouled's limits on the config, token and request paths: nothing
 * security-relevant is ever cut short. A value either fits whole or is
 * refused with its file and line; the parsers are called directly, and
 * the real daemon shows the end-to-end effect (who gets which scope). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"
#include "jd.h"
#include "test_daemon_harness.h"

static const char *two_gpus = "[{\"model\": \"h100\"}, {\"model\": \"a100\"}]";

/* "uid:0, <spaces> uid:1000123" where a 1024-byte copy would have ended
 * right after "uid:10". */
static char *long_scope_line(void)
{
    const char *head = "scope.control = uid:0,", *tail = "uid:1000123";
    size_t pad = 1023 - strlen("uid:0,") - strlen("uid:10");
    char *line = malloc(strlen(head) + pad + strlen(tail) + 2);
    size_t n = (size_t)sprintf(line, "%s", head);
    memset(line + n, ' ', pad);
    sprintf(line + n + pad, "%s\n", tail);
    return line;
}

static void test_long_scope_list_parsed_whole(void **state)
{
    (void)state;
    char *text = long_scope_line();
    struct jd_config c;
    jd_config_defaults(&c);
    char err[1024] = "";
    assert_int_equal(jd_config_parse(&c, "t.conf", text, err, sizeof err), 0);
    assert_int_equal(c.ncontrol, 2);
    assert_int_equal(c.control_rules[1].kind, JD_RULE_UID);
    assert_int_equal(c.control_rules[1].id, 1000123);
    assert_int_equal(jd_unix_scopes(&c, 10, 10, NULL, 0), 0);
    assert_int_equal(jd_unix_scopes(&c, 1000123, 10, NULL, 0), JD_SCOPE_CONTROL);
    free(text);

    /* No line length limit either: a 6000-character list is read whole. */
    size_t big = 6000;
    text = malloc(big + 64);
    int n = sprintf(text, "scope.read = uid:1,");
    memset(text + n, ' ', big);
    sprintf(text + n + big, "uid:2\n");
    jd_config_defaults(&c);
    assert_int_equal(jd_config_parse(&c, "t.conf", text, err, sizeof err), 0);
    assert_int_equal(c.nread, 2);
    assert_int_equal(c.read_rules[1].id, 2);
    free(text);
}

/* The reported case end to end: the intended uid gets control, uid 10
 * (what a cut list named) gets nothing. */
static void test_long_scope_list_daemon(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    char *line = long_scope_line();
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, line), 0);
    free(line);
    char *argv[] = {(char *)DM_JOULED, "--check-config", "--config", m.conf, NULL};
    assert_int_equal(ts_run(argv, NULL, NULL, NULL), 0);
    const char *body = "{\"watts\": 300, \"ttl_s\": 30}";
    assert_int_equal(dm_as(&m, 1000123, 1000123, -1, "POST", "/v1/gpus/0/power_limit", body,
                           NULL),
                     200);
    assert_int_equal(dm_as(&m, 10, 10, -1, "POST", "/v1/gpus/0/power_limit", body, NULL), 403);
    assert_int_equal(dm_as(&m, 10, 10, -1, "GET", "/v1/energy", NULL, NULL), 403);
    dm_stop(&m);
}

/* A key given twice would silently replace the first value. */
static void test_duplicate_key_refused(void **state)
{
    (void)state;
    struct jd_config c;
    jd_config_defaults(&c);
    char err[1024] = "";
    assert_int_equal(jd_config_parse(&c, "t.conf",
                                     "scope.control = uid:1000\n# more\nscope.control = uid:1\n",
                                     err, sizeof err),
                     -1);
    assert_string_equal(err, "t.conf:3: scope.control is already set on line 1; give each key "
                             "once");
}

/* Token scopes are read whole, however long the list. */
static void test_scope_words_not_cut(void **state)
{
    (void)state;
    char s[600];
    int n = sprintf(s, "read,");
    memset(s + n, ' ', 400);
    sprintf(s + n + 400, "control");
    unsigned sc = 0;
    assert_int_equal(jd_scopes_parse(s, &sc), 0);
    assert_int_equal(sc, JD_SCOPE_READ | JD_SCOPE_CONTROL);
    assert_int_equal(jd_scopes_parse("read, bogus", &sc), -1);
}

/* A token subject that does not fit is refused: a cut subject could be
 * another token's and own its TTL leases. */
static void test_token_subject_too_long(void **state)
{
    (void)state;
    const unsigned char key[] = "0123456789abcdef0123456789abcdef";
    char sub[200];
    memset(sub, 'a', sizeof sub - 1);
    sub[sizeof sub - 1] = '\0';
    char *tok = jd_token_issue(key, 32, sub, JD_SCOPE_READ, 0, 4000000000LL);
    assert_non_null(tok);
    char subject[96], why[256] = "";
    unsigned sc = 99;
    assert_int_equal(jd_token_verify(key, 32, tok, 1000, subject, sizeof subject, &sc, why,
                                     sizeof why),
                     JD_TOKEN_BAD);
    assert_int_equal(sc, 0);
    assert_non_null(strstr(why, "token subject is longer than 95 bytes"));
    free(tok);
    tok = jd_token_issue(key, 32, "alice", JD_SCOPE_READ, 0, 4000000000LL);
    assert_int_equal(jd_token_verify(key, 32, tok, 1000, subject, sizeof subject, &sc, why,
                                     sizeof why),
                     JD_TOKEN_VALID);
    assert_string_equal(subject, "alice");
    free(tok);
}

/* A secret file longer than the key buffer is refused, not cut. */
static void test_secret_file_too_long(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char path[600], text[301];
    memset(text, 'k', 300);
    text[300] = '\0';
    ts_write(dir, "long.key", text);
    snprintf(path, sizeof path, "%s/long.key", dir);
    chmod(path, 0600);
    unsigned char buf[256];
    size_t len = 0;
    char err[512] = "";
    assert_int_equal(jd_secret_load(path, buf, sizeof buf, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "is longer than 256 bytes"));
    ts_rmtree(dir);
    free(dir);
}

/* `socket` longer than a unix socket path: --check-config says so (the
 * daemon would refuse it at start). */
static void test_check_config_socket_path(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    char text[400], path[600];
    snprintf(text, sizeof text, "devices = sim:1:h100\nsocket = /tmp/%0200d.sock\n", 0);
    ts_write(dir, "c.conf", text);
    snprintf(path, sizeof path, "%s/c.conf", dir);
    char *argv[] = {(char *)DM_JOULED, "--check-config", "--config", path, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(ts_run(argv, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "unix socket path"));
    free(out);
    free(err);
    ts_rmtree(dir);
    free(dir);
}

/* --check-config judges the device spec as the daemon does at start. */
static void test_check_config_devices(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    const struct {
        const char *spec;
        int rc;
        const char *needle;
    } cases[] = {
        {"sim:0:h100", 2, "devices = sim:0:h100: device spec 'sim:0:h100': expected sim:COUNT"},
        {"sim:1:h999", 2, "unknown GPU preset 'h999'"},
        {"gpu:0+bogus", 2, "unknown item 'bogus'"},
        {"sim:2:h100,p100", 0, "is valid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[300], path[600];
        snprintf(text, sizeof text, "devices = %s\nsocket = %s/s.sock\n", cases[i].spec, dir);
        ts_write(dir, "c.conf", text);
        snprintf(path, sizeof path, "%s/c.conf", dir);
        char *argv[] = {(char *)DM_JOULED, "--check-config", "--config", path, NULL};
        char *out = NULL, *err = NULL;
        int rc = ts_run(argv, NULL, &out, &err);
        if (rc != cases[i].rc || (!strstr(out, cases[i].needle) && !strstr(err, cases[i].needle)))
            fail_msg("devices = %s: rc %d, out '%s', err '%s'; want %d with '%s'", cases[i].spec,
                     rc, out, err, cases[i].rc, cases[i].needle);
        free(out);
        free(err);
    }
    ts_rmtree(dir);
    free(dir);
}

/* POST /v1/restore {"gpu": "000...01"} names gpu 1, even when longer than
 * any buffer: it must not restore the caller's lease on gpu 0. */
static void test_restore_gpu_id_not_cut(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = all\nscope.control = all\n"), 0);
    char *ctl = dm_token(&m, "ci", "control", "1h");
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/0/power_limit",
                            "{\"watts\": 333, \"ttl_s\": 600}", NULL),
                     200);
    char body[200];
    snprintf(body, sizeof body, "{\"gpu\": \"%080d\"}", 1);
    char *out = NULL;
    assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/restore", body, &out), 200);
    assert_string_equal(out, "{\"restored\":0}");
    free(out);
    assert_true(fh_state(&m.h, 0, "pl_w") == 333);
    free(ctl);
    dm_stop(&m);
}

/* A peer in more supplementary groups than any fixed array: the group
 * that grants the scope comes last and still counts. */
static void test_many_supplementary_groups(void **state)
{
    (void)state;
    DM_REQUIRE_ROOT();
    struct dm m;
    assert_int_equal(dm_start(&m, two_gpus, "scope.read = gid:5099\n"), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        gid_t groups[100];
        for (int i = 0; i < 100; i++)
            groups[i] = (gid_t)(5000 + i);
        if (setgroups(100, groups) || setgid(4999) || setuid(4999))
            _exit(99);
        int st = dm_get(&m, "/v1/energy", NULL);
        dm_write_all(p[1], (char *)&st, sizeof st);
        _exit(0);
    }
    close(p[1]);
    int st = -1;
    assert_int_equal(read(p[0], &st, sizeof st), (ssize_t)sizeof st);
    close(p[0]);
    waitpid(pid, NULL, 0);
    assert_int_equal(st, 200);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_scope_list_parsed_whole),
        cmocka_unit_test(test_long_scope_list_daemon),
        cmocka_unit_test(test_duplicate_key_refused),
        cmocka_unit_test(test_scope_words_not_cut),
        cmocka_unit_test(test_token_subject_too_long),
        cmocka_unit_test(test_secret_file_too_long),
        cmocka_unit_test(test_check_config_socket_path),
        cmocka_unit_test(test_check_config_devices),
        cmocka_unit_test(test_restore_gpu_id_not_cut),
        cmocka_unit_test(test_many_supplementary_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
