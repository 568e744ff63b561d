/* Prometheus label escaping, with the daemon's real /metrics; then
 * Prometheus, for real: a Prometheus server (Debian `prometheus`) on
 * loopback scrapes jouled's /metrics every second with a bearer token;
 * rate(joule_gpu_energy_joules_total[5s]) from its HTTP API must agree
 * with the simulated GPU's mean power within 2%. Skips (with the reason) when
 * no prometheus binary is installed: `apt-get install prometheus`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>

#include "test_daemon_harness.h"

/* The first result's value of an instant query, NAN if none. */
static double promql(int port, const char *q)
{
    char path[1024], enc[900];
    size_t o = 0;
    for (const char *p = q; *p && o + 4 < sizeof enc; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_')
            enc[o++] = *p;
        else
            o += (size_t)snprintf(enc + o, sizeof enc - o, "%%%02X", (unsigned char)*p);
    }
    enc[o] = '\0';
    snprintf(path, sizeof path, "/api/v1/query?query=%s", enc);
    char *body = NULL;
    int st = dm_http(NULL, port, "GET", path, NULL, NULL, 0, &body);
    double v = NAN;
    cJSON *root = st == 200 ? cJSON_Parse(body) : NULL;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "data"), "result");
    const cJSON *val = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "value"), 1);
    if (cJSON_IsString(val))
        v = strtod(val->valuestring, NULL);
    cJSON_Delete(root);
    free(body);
    return v;
}

/* A scrape is served from the sampler's latest values: 100 scrapes
 * between two sampler ticks make no NVML calls. */
static void test_scrape_costs_no_device_calls(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start_rec(&m, "[{\"model\": \"h100\"}, {\"model\": \"a100\"}]",
                                  "scope.read = all\nsample_interval_ms = 1000\n", 1),
                     0);
    char *body = NULL;
    assert_int_equal(dm_get(&m, "/metrics", &body), 200); /* one full sampler tick done */
    free(body);
    double t0 = dm_now();
    int before = fh_calls(&m.h, "nvmlDevice");
    assert_true(before > 0); /* the daemon's calls are recorded */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(dm_get(&m, "/metrics", &body), 200);
        assert_non_null(strstr(body, "joule_gpu_energy_joules_total"));
        free(body);
    }
    int after = fh_calls(&m.h, "nvmlDevice");
    double took = dm_now() - t0;
    /* At most one sampler tick fell inside the burst (1 s apart). */
    int ticks = (int)(took / 1.0) + 1;
    if (after - before > ticks * 2 * 12)
        fail_msg("%d NVML calls during 100 scrapes in %.2f s (%d sampler ticks)",
                 after - before, took, ticks);
    dm_stop(&m);
}

static void test_prometheus_scrape(void **state)
{
    (void)state;
    if (system("command -v prometheus >/dev/null 2>&1") != 0) {
        print_message("SKIP: no prometheus binary (apt-get install prometheus) - the real "
                      "Prometheus scrape test did not run\n");
        skip();
    }
    struct dm m;
    assert_int_equal(dm_start(&m, "[{\"model\": \"h100\", \"load\": 0.8}]",
                              "scope.read = all\n"),
                     0);
    char *tok = dm_token(&m, "prometheus", "read", "1h");
    assert_non_null(tok);
    int pport = dm_free_port();
    char yml[2048];
    snprintf(yml, sizeof yml,
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: joule\n    authorization:\n"
             "      type: Bearer\n      credentials: %s\n"
             "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
             tok, m.port);
    ts_write(m.h.dir, "prometheus.yml", yml);
    char cfg[600], data[600], listen[64], plog[600];
    snprintf(cfg, sizeof cfg, "--config.file=%s/prometheus.yml", m.h.dir);
    snprintf(data, sizeof data, "--storage.tsdb.path=%s/prom-data", m.h.dir);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", pport);
    snprintf(plog, sizeof plog, "%s/prometheus.log", m.h.dir);
    pid_t prom = fork();
    if (prom == 0) {
        int fd = open(plog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("prometheus", "prometheus", cfg, data, listen, (char *)NULL);
        _exit(127);
    }
    /* The simulated H100 at load 0.8 draws 70 W + 0.8 x 630 W on average
     * (docs/sim.md): the energy counter's rate must match that. Instant
     * power readings carry +-3 % noise, so their 5-s average (5 scrapes)
     * is only a sanity check. */
    const double simulated_w = 70.0 + 0.8 * (700.0 - 70.0);
    double rate = NAN, power = NAN, t0 = dm_now();
    int agreed = 0;
    sleep(8); /* a 5 s window + a few scrapes of margin */
    while (dm_now() - t0 < 25 && !agreed) {
        rate = promql(pport, "rate(joule_gpu_energy_joules_total[5s])");
        power = promql(pport, "avg_over_time(joule_gpu_power_watts[5s])");
        if (isfinite(rate) && isfinite(power))
            agreed = fabs(rate - simulated_w) / simulated_w < 0.02 &&
                     fabs(power - simulated_w) / simulated_w < 0.05;
        if (!agreed)
            sleep(1);
    }
    print_message("prometheus: rate(joule_gpu_energy_joules_total[5s]) = %.2f W "
                  "(simulated %.2f W, %.2f%%), avg_over_time(joule_gpu_power_watts[5s]) "
                  "= %.2f W\n", rate, simulated_w, 100 * fabs(rate - simulated_w) / simulated_w,
                  power);
    kill(prom, SIGTERM);
    waitpid(prom, NULL, 0);
    if (!agreed) {
        char *log = ts_read(plog);
        print_message("prometheus log:\n%s\n", log ? log : "");
        free(log);
    }
    free(tok);
    dm_stop(&m);
    assert_true(agreed);
}

/* Label values escape backslash, double quote and line feed as \\, \" and
 * \n (text exposition format 0.0.4); nothing else is escaped. The NVML
 * double names the GPU: Q"B\S, a line feed, then L. Needs no Prometheus. */
static void test_label_escaping(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m,
                              "[{\"model\": \"h100\", \"load\": 0.5, "
                              "\"name\": \"Q\\\"B\\\\S\\nL\"}]",
                              "scope.read = all\n"),
                     0);
    const char *labels = "gpu=\"0\",uuid=\"GPU-fa4e0000-0000-4000-8000-000000000000\","
                         "name=\"Q\\\"B\\\\S\\nL\"";
    /* Every GPU family carries the same escaped labels. */
    const char *families[] = {"joule_gpu_energy_joules_total{", "joule_gpu_power_watts{",
                              "joule_gpu_power_limit_watts{", "joule_gpu_temperature_celsius{",
                              "joule_gpu_sm_clock_hertz{", "joule_gpu_throttle_active{"};
    enum { NF = sizeof families / sizeof *families };
    char want[NF][512];
    for (size_t i = 0; i < NF; i++)
        snprintf(want[i], sizeof want[i], "\n%s%s%s", families[i], labels,
                 i == NF - 1 ? ",reason=\"gpu_idle\"} " : "} ");
    /* The power-limit cache and the sampler fill within a few periods. */
    char *body = NULL;
    size_t missing = 0;
    for (double t0 = dm_now(); dm_now() - t0 < 5; usleep(50000)) {
        free(body);
        body = NULL;
        assert_int_equal(dm_get(&m, "/metrics", &body), 200);
        for (missing = 0; missing < NF && strstr(body, want[missing]); missing++)
            ;
        if (missing == NF)
            break;
    }
    if (missing < NF)
        fail_msg("/metrics lacks '%s':\n%s", want[missing], body);
    assert_non_null(strstr(body, "\njoule_gpu_power_limit_watts{gpu=\"0\",uuid=\"GPU-fa4e0000-"
                                 "0000-4000-8000-000000000000\",name=\"Q\\\"B\\\\S\\nL\"} "
                                 "700.000\n"));
    /* The raw line feed in the name never splits a sample line. */
    int gpu_lines = 0;
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        if (strncmp(line, "joule_", 6))
            fail_msg("sample line split by an unescaped line feed: '%s'", line);
        if (!strncmp(line, "joule_gpu_", 10)) {
            gpu_lines++;
            assert_non_null(strstr(line, "name=\"Q\\\"B\\\\S\\nL\""));
        }
    }
    assert_int_equal(gpu_lines, 5 + 9);
    free(body);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_costs_no_device_calls),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_prometheus_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
