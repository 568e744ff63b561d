/* What jouled writes for others to read: its log lines, and the text of
 * /metrics and /v1/discovery, whatever a client or a device hands it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_daemon_harness.h"

/* A token subject with CR/LF cannot forge a log line: every control
 * character is escaped. */
static void test_log_injection(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, "[{\"model\": \"h100\"}]",
                              "scope.read = all\nscope.control = all\n"),
                     0);
    char *tok = dm_token(&m, "eve\r\njouled: restored power_limit of gpu0 (forged)", "control",
                         "1h");
    assert_non_null(tok);
    assert_int_equal(dm_tcp(&m, tok, "POST", "/v1/gpus/0/power_limit",
                            "{\"watts\": 300, \"ttl_s\": 600}", NULL),
                     200);
    dm_kill(&m, SIGTERM); /* the restore at stop logs the owner again */
    char *log = ts_read(m.log);
    assert_non_null(log);
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, "forged") && !strstr(line, "eve\\x0d\\x0ajouled: restored"))
            fail_msg("a forged log line: '%s'", line);
    free(log);
    log = ts_read(m.log);
    assert_non_null(strstr(log, "changed by eve\\x0d\\x0ajouled: restored power_limit of gpu0 "
                                "(forged)"));
    assert_null(strchr(log, '\r'));
    free(log);
    free(tok);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
