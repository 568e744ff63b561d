/* What jouled writes for others to read: its log lines, and the text of
 * /metrics and /v1/discovery, whatever a client or a device hands it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <iconv.h>
#include <math.h>

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

/* The value of the first sample line starting with prefix, NAN if none. */
static double sample_value(const char *text, const char *prefix)
{
    for (const char *p = text; (p = strstr(p, prefix)); p++)
        if (p == text || p[-1] == '\n') {
            const char *nl = strchr(p, '\n'), *sp = nl ? nl : p + strlen(p);
            while (sp > p && *sp != ' ')
                sp--; /* the value follows the line's last space */
            return strtod(sp + 1, NULL);
        }
    return NAN;
}

/* A GPU without an energy counter (P100) is in
 * joule_gpu_energy_joules_total too, marked quality="approx", at the
 * simulated power; the counter GPU's series is unchanged. */
static void test_energy_without_counter(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m,
                              "[{\"model\": \"h100\", \"load\": 0.5}, "
                              "{\"model\": \"p100\", \"load\": 0.8}]",
                              "scope.read = all\n"),
                     0);
    usleep(300000);
    const char *approx = "joule_gpu_energy_joules_total{gpu=\"1\",uuid=\"GPU-";
    char *b1 = NULL, *b2 = NULL;
    assert_int_equal(dm_get(&m, "/metrics", &b1), 200);
    double t1 = dm_now();
    sleep(2);
    assert_int_equal(dm_get(&m, "/metrics", &b2), 200);
    double t2 = dm_now();
    char *line = strstr(b2, approx);
    if (!line)
        fail_msg("no energy series for the P100:\n%s", b2);
    assert_non_null(strstr(line, "name=\"Tesla P100-PCIE-16GB (simulated)\",quality=\"approx\"} "));
    double e1 = sample_value(b1, approx), e2 = sample_value(b2, approx);
    /* docs/sim.md: idle 30 W + 0.8 x (250 - 30) W, instant readings +-3 % */
    double w = (e2 - e1) / (t2 - t1), want = 30 + 0.8 * 220;
    if (!(e1 > 0 && fabs(w - want) < 0.1 * want))
        fail_msg("P100 energy %g -> %g J over %.2f s = %.1f W, want %.1f W", e1, e2, t2 - t1, w,
                 want);
    /* The counter GPU: one series, labels as before (no quality label). */
    const char *exact = "joule_gpu_energy_joules_total{gpu=\"0\",uuid=\"GPU-";
    line = strstr(b2, exact);
    assert_non_null(line);
    assert_non_null(strstr(line, "name=\"NVIDIA H100 80GB HBM3 (simulated)\"} "));
    assert_true(strstr(line, "quality") == NULL || strstr(line, "quality") > strchr(line, '\n'));
    free(b1);
    free(b2);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_injection),
        cmocka_unit_test(test_gpu_name_not_utf8),
        cmocka_unit_test(test_energy_without_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
