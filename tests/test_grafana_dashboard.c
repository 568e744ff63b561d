/* The Grafana dashboard (packaging/grafana/joule.json) queries only what
 * jouled exports: the real jouled runs on NVML-double GPUs (an H100 with an
 * energy counter, a P100 without, so quality="approx" appears) and a fake
 * RAPL tree; every metric name in the dashboard's PromQL (panel targets and
 * template variables) must be a sample name in its /metrics, every label a
 * label jouled exports (or one Prometheus adds: instance, job), every
 * {{label}} in a legend too, and every $variable one the dashboard defines.
 * And the other way round: every family jouled exports is on the dashboard.
 * The PromQL scanner is checked on its own, and a dashboard with a
 * misspelled metric or label must fail the check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>

#include "test_daemon_harness.h"

#define DASHBOARD JOULE_TEST_SOURCE_DIR "/packaging/grafana/joule.json"

struct names {
    int n;
    char v[128][96];
};

static void add(struct names *s, const char *p, size_t len)
{
    if (len == 0) /* "$" ending a regular expression is no variable */
        return;
    if (len >= sizeof s->v[0])
        len = sizeof s->v[0] - 1;
    for (int i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && !strncmp(s->v[i], p, len))
            return;
    if (s->n < (int)(sizeof s->v / sizeof s->v[0])) {
        memcpy(s->v[s->n], p, len);
        s->v[s->n++][len] = '\0';
    }
}

static int has(const struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name))
            return 1;
    return 0;
}

static int ident_start(char c) { return isalpha((unsigned char)c) || c == '_' || c == ':'; }
static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == ':'; }

static int word_is(const char *s, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && !strncmp(*list, s, len))
            return 1;
    return 0;
}

/* Keywords followed by a parenthesized list of label names. */
static const char *const label_list_kw[] = {"by", "without", "on", "ignoring", "group_left",
                                            "group_right", NULL};
static const char *const other_kw[] = {"bool", "offset", "and", "or", "unless", "atan2", NULL};
/* Aggregations: `sum by (l) (x)` puts a keyword, not "(", after the name. */
static const char *const aggregations[] = {"sum", "min", "max", "avg", "group", "stddev",
                                           "stdvar", "count", "count_values", "bottomk",
                                           "topk", "quantile", "limitk", "limit_ratio", NULL};

static const char *skip_string(const char *p)
{
    char q = *p++;
    while (*p && *p != q)
        p += (*p == '\\' && p[1]) ? 2 : 1;
    return *p ? p + 1 : p;
}

/* $name, ${name} or [[name]]-free Grafana variables: into vars. */
static const char *scan_var(const char *p, struct names *vars)
{
    p++;
    if (*p == '{') {
        const char *s = ++p;
        while (*p && *p != '}' && *p != ':')
            p++;
        add(vars, s, (size_t)(p - s));
        while (*p && *p != '}')
            p++;
        return *p ? p + 1 : p;
    }
    const char *s = p;
    while (ident_char(*p))
        p++;
    add(vars, s, (size_t)(p - s));
    return p;
}

/* Inside {...}: label names before their matcher; values skipped. */
static const char *scan_matchers(const char *p, struct names *labels, struct names *vars)
{
    while (*p && *p != '}') {
        if (ident_start(*p)) {
            const char *s = p;
            while (ident_char(*p))
                p++;
            add(labels, s, (size_t)(p - s));
        } else if (*p == '"' || *p == '\'' || *p == '`') {
            const char *s = p;
            p = skip_string(p);
            for (const char *v = s; v < p; v++)
                if (*v == '$')
                    v = scan_var(v, vars) - 1;
        } else {
            p++;
        }
    }
    return *p ? p + 1 : p;
}

static const char *scan_label_list(const char *p, struct names *labels)
{
    while (*p && *p != ')') {
        if (ident_start(*p)) {
            const char *s = p;
            while (ident_char(*p))
                p++;
            add(labels, s, (size_t)(p - s));
        } else {
            p++;
        }
    }
    return *p ? p + 1 : p;
}

/* The metric names, label names and Grafana variables of a PromQL
 * expression (with Grafana's $variables in it). */
static void scan_promql(const char *q, struct names *metrics, struct names *labels,
                        struct names *vars)
{
    const char *p = q;
    while (*p) {
        char c = *p;
        if (c == '"' || c == '\'' || c == '`') {
            p = skip_string(p);
        } else if (c == '$') {
            p = scan_var(p, vars);
        } else if (c == '[') { /* a range or subquery step: durations, $__rate_interval */
            while (*p && *p != ']') {
                if (*p == '$')
                    p = scan_var(p, vars);
                else
                    p++;
            }
            if (*p)
                p++;
        } else if (c == '{') {
            p = scan_matchers(p + 1, labels, vars);
        } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)p[1]))) {
            while (isalnum((unsigned char)*p) || *p == '.')
                p++;
        } else if (ident_start(c)) {
            const char *s = p;
            while (ident_char(*p))
                p++;
            size_t len = (size_t)(p - s);
            const char *after = p;
            while (isspace((unsigned char)*after))
                after++;
            if (word_is(s, len, label_list_kw)) {
                if (*after == '(')
                    p = scan_label_list(after + 1, labels);
            } else if (!word_is(s, len, other_kw) && !word_is(s, len, aggregations) &&
                       *after != '(') {
                add(metrics, s, len); /* not a function, aggregation or keyword */
            }
        } else {
            p++;
        }
    }
}

/* A template variable's query: label_values(SELECTOR, LABEL) or PromQL. */
static void scan_template_query(const char *q, struct names *metrics, struct names *labels,
                                struct names *vars)
{
    const char *lv = "label_values(";
    if (strncmp(q, lv, strlen(lv))) {
        scan_promql(q, metrics, labels, vars);
        return;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", q + strlen(lv));
    char *close = strrchr(buf, ')');
    if (close)
        *close = '\0';
    char *comma = strrchr(buf, ',');
    char *label = comma ? comma + 1 : buf;
    while (isspace((unsigned char)*label))
        label++;
    size_t n = strlen(label);
    while (n && isspace((unsigned char)label[n - 1]))
        n--;
    add(labels, label, n);
    if (comma) {
        *comma = '\0';
        scan_promql(buf, metrics, labels, vars);
    }
}

/* {{label}} in a legend format. */
static void scan_legend(const char *f, struct names *labels)
{
    for (const char *p = strstr(f, "{{"); p; p = strstr(p, "{{")) {
        p += 2;
        while (isspace((unsigned char)*p))
            p++;
        const char *s = p;
        while (ident_char(*p))
            p++;
        add(labels, s, (size_t)(p - s));
    }
}

struct dash {
    struct names metrics, labels, vars, defined;
    int exprs, bad_exprs; /* expressions that name no metric */
    char bad[512];
};

/* Every string: $variables; "expr": PromQL; "legendFormat": labels. */
static void walk(const cJSON *j, struct dash *d)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        if (cJSON_IsString(it)) {
            for (const char *v = strchr(it->valuestring, '$'); v; v = strchr(v, '$'))
                v = scan_var(v, &d->vars);
            if (it->string && !strcmp(it->string, "expr")) {
                struct names m = {0};
                scan_promql(it->valuestring, &m, &d->labels, &d->vars);
                for (int i = 0; i < m.n; i++)
                    add(&d->metrics, m.v[i], strlen(m.v[i]));
                d->exprs++;
                if (m.n == 0) {
                    d->bad_exprs++;
                    snprintf(d->bad, sizeof d->bad, "%s", it->valuestring);
                }
            } else if (it->string && !strcmp(it->string, "legendFormat")) {
                scan_legend(it->valuestring, &d->labels);
            }
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            walk(it, d);
        }
    }
}

static int read_dashboard(const char *text, struct dash *d)
{
    memset(d, 0, sizeof *d);
    cJSON *root = cJSON_Parse(text);
    if (!root)
        return -1;
    walk(root, d);
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "templating"), "list");
    const cJSON *v;
    cJSON_ArrayForEach(v, tl)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "name");
        if (cJSON_IsString(name))
            add(&d->defined, name->valuestring, strlen(name->valuestring));
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "query"))
            continue;
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(v, "query");
        if (cJSON_IsObject(q))
            q = cJSON_GetObjectItemCaseSensitive(q, "query");
        if (cJSON_IsString(q))
            scan_template_query(q->valuestring, &d->metrics, &d->labels, &d->vars);
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(v, "definition");
        if (cJSON_IsString(def))
            scan_template_query(def->valuestring, &d->metrics, &d->labels, &d->vars);
    }
    cJSON_Delete(root);
    return 0;
}

struct exported {
    struct names families, samples, labels;
};

/* Prometheus text format: TYPE lines name families, sample lines give
 * names and label names. */
static void read_metrics(const char *body, struct exported *e)
{
    memset(e, 0, sizeof *e);
    add(&e->labels, "instance", 8); /* added by Prometheus to every scraped series */
    add(&e->labels, "job", 3);
    for (const char *line = body; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
        if (!strncmp(line, "# TYPE ", 7)) {
            const char *s = line + 7;
            add(&e->families, s, strcspn(s, " \n"));
            continue;
        }
        if (*line == '#' || *line == '\n')
            continue;
        size_t n = strcspn(line, "{ \n");
        add(&e->samples, line, n);
        if (line[n] != '{')
            continue;
        const char *p = line + n + 1;
        while (*p && *p != '}' && *p != '\n') {
            if (ident_start(*p)) {
                const char *s = p;
                while (ident_char(*p))
                    p++;
                add(&e->labels, s, (size_t)(p - s));
            } else if (*p == '"') {
                p = skip_string(p);
            } else {
                p++;
            }
        }
    }
}

/* Problems of a dashboard against what jouled exports, one per line. */
static int check(const struct dash *d, const struct exported *e, char *msg, size_t len)
{
    int bad = 0;
    size_t o = 0;
    msg[0] = '\0';
#define PROBLEM(...)                                                                       \
    do {                                                                                   \
        bad++;                                                                             \
        if (o < len)                                                                       \
            o += (size_t)snprintf(msg + o, len - o, __VA_ARGS__);                          \
    } while (0)
    for (int i = 0; i < d->metrics.n; i++)
        if (!has(&e->samples, d->metrics.v[i]))
            PROBLEM("metric %s is not in jouled's /metrics\n", d->metrics.v[i]);
    for (int i = 0; i < d->labels.n; i++)
        if (!has(&e->labels, d->labels.v[i]))
            PROBLEM("label %s is not one jouled exports\n", d->labels.v[i]);
    for (int i = 0; i < d->vars.n; i++)
        if (strncmp(d->vars.v[i], "__", 2) && !has(&d->defined, d->vars.v[i]))
            PROBLEM("variable $%s is not defined in templating\n", d->vars.v[i]);
    if (d->bad_exprs)
        PROBLEM("%d expressions query no metric, e.g. %s\n", d->bad_exprs, d->bad);
    return bad;
}

static void test_scanner(void **state)
{
    (void)state;
    struct names m = {0}, l = {0}, v = {0};
    scan_promql("sum by (instance) (rate(joule_a_total{instance=~\"$instance\", "
                "gpu=~\"${gpu}\"}[$__rate_interval])) and on (instance, reason) "
                "(max_over_time(joule_b{x=\"by (y)\"}[5m]) == 1) * 2.5e3 offset 5m",
                &m, &l, &v);
    assert_int_equal(m.n, 2);
    assert_true(has(&m, "joule_a_total") && has(&m, "joule_b"));
    assert_int_equal(l.n, 4);
    assert_true(has(&l, "instance") && has(&l, "gpu") && has(&l, "reason") &&
                has(&l, "x"));
    assert_true(has(&v, "instance") && has(&v, "gpu") && has(&v, "__rate_interval"));
    struct names m2 = {0}, l2 = {0}, v2 = {0};
    scan_template_query("label_values(joule_c{instance=~\"$instance\"}, gpu)", &m2, &l2, &v2);
    assert_int_equal(m2.n, 1);
    assert_string_equal(m2.v[0], "joule_c");
    assert_true(has(&l2, "gpu") && has(&l2, "instance"));
    struct names l3 = {0};
    scan_legend("{{instance}} gpu{{ gpu }} {{name}}", &l3);
    assert_int_equal(l3.n, 3);
    assert_true(has(&l3, "gpu"));
}

/* A misspelled metric, label, legend label or variable fails the check. */
static void test_check_catches_mistakes(void **state)
{
    (void)state;
    struct exported e;
    read_metrics("# TYPE joule_gpu_power_watts gauge\n"
                 "joule_gpu_power_watts{gpu=\"0\",uuid=\"u\",name=\"n{x}\"} 1\n",
                 &e);
    assert_true(has(&e.labels, "gpu") && has(&e.labels, "name") && !has(&e.labels, "x"));
    const char *good = "{\"templating\": {\"list\": [{\"name\": \"g\", \"type\": \"query\", "
                       "\"query\": \"label_values(joule_gpu_power_watts, gpu)\"}]}, "
                       "\"panels\": [{\"targets\": [{\"expr\": "
                       "\"joule_gpu_power_watts{gpu=~\\\"$g\\\"}\", "
                       "\"legendFormat\": \"{{instance}} {{name}}\"}]}]}";
    struct dash d;
    char msg[2048];
    assert_int_equal(read_dashboard(good, &d), 0);
    assert_int_equal(check(&d, &e, msg, sizeof msg), 0);
    const char *bad[][2] = {
        {"joule_gpu_power_watts{gpu", "joule_gpu_power_wats{gpu"},
        {"{gpu=~", "{gpuu=~"},
        {"{{name}}", "{{reason}}"},
        {"$g\\\"}", "$h\\\"}"},
        {"power_watts, gpu)", "power_watts, reason)"},
        {"\"joule_gpu_power_watts{", "\"sum by (gpu) (joule_gpu_power_wats){"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[1024];
        const char *at = strstr(good, bad[i][0]);
        assert_non_null(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, bad[i][1],
                 at + strlen(bad[i][0]));
        assert_int_equal(read_dashboard(text, &d), 0);
        if (check(&d, &e, msg, sizeof msg) == 0)
            fail_msg("not caught: %s -> %s", bad[i][0], bad[i][1]);
    }
}

static void test_dashboard_queries_what_jouled_exports(void **state)
{
    (void)state;
    char *text = ts_read(DASHBOARD);
    assert_non_null(text);
    struct dash d;
    assert_int_equal(read_dashboard(text, &d), 0);
    free(text);
    assert_true(d.exprs >= 10);

    char *sys = ts_mkdtemp();
    assert_non_null(sys);
    chmod(sys, 0755);
    assert_int_equal(ts_rapl_zone(sys, "intel-rapl:0", "package-0", 1000000, 262143328850ULL), 0);
    assert_int_equal(ts_rapl_zone(sys, "intel-rapl:0:0", "dram", 500000, 65712999613ULL), 0);
    setenv("JOULE_SYSFS_ROOT", sys, 1);
    struct dm m;
    assert_int_equal(dm_start(&m, "[{\"model\": \"h100\", \"load\": 0.6}, "
                                  "{\"model\": \"p100\", \"load\": 0.3}]",
                              "devices = gpu+cpu\nscope.read = all\n"),
                     0);
    /* Every family's samples appear within a few sampler periods (the
     * approximate energy of the P100 after its first integration). */
    struct exported e;
    char *body = NULL;
    int ready = 0;
    for (double t0 = dm_now(); dm_now() - t0 < 10 && !ready; usleep(100000)) {
        free(body);
        body = NULL;
        assert_int_equal(dm_get(&m, "/metrics", &body), 200);
        read_metrics(body, &e);
        ready = e.families.n > 0 && strstr(body, "quality=\"approx\"") != NULL;
        for (int i = 0; i < e.families.n; i++)
            ready = ready && has(&e.samples, e.families.v[i]);
    }
    dm_stop(&m);
    unsetenv("JOULE_SYSFS_ROOT");
    ts_rmtree(sys);
    free(sys);
    if (!ready)
        fail_msg("jouled's /metrics lacks samples of a family:\n%s", body);
    free(body);
    assert_int_equal(e.families.n, 7);

    char msg[4096];
    if (check(&d, &e, msg, sizeof msg))
        fail_msg("%s", msg);
    /* Every family jouled exports is on the dashboard. */
    for (int i = 0; i < e.families.n; i++)
        if (!has(&d.metrics, e.families.v[i]))
            fail_msg("the dashboard shows nothing of %s", e.families.v[i]);
    /* The labels that tell series apart are used. */
    const char *used[] = {"instance", "gpu", "reason", "socket", "domain", "quality"};
    for (size_t i = 0; i < sizeof used / sizeof *used; i++)
        if (!has(&d.labels, used[i]))
            fail_msg("the dashboard never uses label %s", used[i]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner),
        cmocka_unit_test(test_check_catches_mistakes),
        cmocka_unit_test(test_dashboard_queries_what_jouled_exports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
