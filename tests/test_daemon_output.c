/* What jouled writes for others to read: its log lines, and the text of
 * /metrics and /v1/discovery, whatever a client or a device hands it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <iconv.h>

#include "test_daemon_harness.h"

/* Whether glibc's iconv reads the text as UTF-8 (an independent check). */
static int valid_utf8(const char *s)
{
    iconv_t cd = iconv_open("UTF-8", "UTF-8");
    size_t in = strlen(s), outcap = 4 * in + 4, out = outcap;
    char *buf = malloc(outcap), *ip = (char *)s, *op = buf;
    size_t rc = iconv(cd, &ip, &in, &op, &out);
    iconv_close(cd);
    free(buf);
    return rc != (size_t)-1 && in == 0;
}

/* A GPU whose name is not UTF-8 (the NVML double returns the bytes as
 * configured): /metrics and /v1/discovery stay valid, the bad bytes
 * replaced with U+FFFD. */
static void test_gpu_name_not_utf8(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m,
                              "[{\"model\": \"h100\", \"name\": \"Bad\xff\xfe GPU \xc3\"}, "
                              "{\"model\": \"a100\", \"name\": \"Caf\xc3\xa9 \xed\xa0\x80\"}]",
                              "scope.read = all\n"),
                     0);
    usleep(200000);
    char *body = NULL;
    assert_int_equal(dm_get(&m, "/metrics", &body), 200);
    if (!valid_utf8(body))
        fail_msg("/metrics is not UTF-8:\n%s", body);
    assert_non_null(strstr(body, "joule_gpu_power_watts{gpu=\"0\",uuid=\"GPU-"));
    assert_non_null(strstr(body, "name=\"Bad\xef\xbf\xbd\xef\xbf\xbd GPU \xef\xbf\xbd\"}"));
    /* a valid sequence is kept; a surrogate (ED A0 80) is not UTF-8 */
    assert_non_null(strstr(body, "name=\"Caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}"));
    free(body);
    assert_int_equal(dm_get(&m, "/v1/discovery", &body), 200);
    assert_true(valid_utf8(body));
    cJSON *o = cJSON_Parse(body);
    const cJSON *dev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "devices"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(dev, "name")->valuestring,
                        "Bad\xef\xbf\xbd\xef\xbf\xbd GPU \xef\xbf\xbd");
    cJSON_Delete(o);
    free(body);
    /* A request byte echoed in an error is made valid too. */
    assert_int_equal(dm_get(&m, "/v1/energy?devices=gpu%FF", &body), 400);
    assert_true(valid_utf8(body));
    assert_non_null(strstr(body, "unknown device 'gpu\xef\xbf\xbd'"));
    free(body);
    dm_stop(&m);
}

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
        cmocka_unit_test(test_gpu_name_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
