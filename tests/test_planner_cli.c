/* `joule plan` end to end: outputs, exit codes, and plan files read back by
 * the library's plan reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "optimize/planner/planner.h"
#include "test_support.h"

static char dir[256];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = 0;
    fclose(f);
    return b;
}

/* Runs `joule plan ARGS` in dir with stdout/stderr to files; returns the
 * exit status. */
static int run_plan(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' plan %s >out.txt 2>err.txt",
             dir, JOULE_TEST_CLI, args);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    return WEXITSTATUS(st);
}

static char *file_in_dir(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return slurp(p);
}

static void write_file(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* 2 stages, 11 frequencies, the last stage heavier. */
static void write_profile(void)
{
    char buf[16384];
    ts_pipeline_profile_csv(buf, sizeof buf, 11, 120, 1.2);
    write_file("profile.csv", buf);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/joule_plan_cli_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    write_profile();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run_plan("--help"), 0);
    char *out = file_in_dir("out.txt");
    assert_non_null(out);
    static const char *const opts[] = {
        "--profile", "--stages", "--microbatches", "--schedule", "--quantum",
        "--blocking-power-w", "--at", "min-energy-no-slowdown", "--deadline",
        "--output", "--plans", "--json", "--svg", "--frontier-svg", "--gpu",
        "--devices", "--quiet", "--help"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strstr(out, opts[i]))
            fail_msg("--help does not mention %s", opts[i]);
    free(out);
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run_plan("profile.csv --stages 2"), 2);
    char *err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "--microbatches"));
    free(err);
    assert_int_equal(run_plan("--stages 2 --microbatches 4"), 2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --bogus"), 2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --quantum 1parsec"), 2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --schedule zigzag"), 2);
    assert_int_equal(run_plan("profile.csv -s 0 -m 4"), 2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --at fastest"), 2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --deadline -1"), 2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --at min-energy "
                              "--deadline 1"),
                     2);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --quantum"), 2);
}

static void test_runtime_errors(void **state)
{
    (void)state;
    assert_int_equal(run_plan("missing.csv -s 2 -m 4"), 1);
    char *err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "missing.csv"));
    free(err);
    write_file("dup.csv", "stage,instruction,frequency,time,energy\n"
                          "0,forward,1980,0.01,3\n0,backward,1980,0.02,6\n"
                          "0,forward,1980,0.01,3\n");
    assert_int_equal(run_plan("dup.csv -s 1 -m 2"), 1);
    err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "line 4: duplicate row"));
    free(err);
    /* the profile has 2 stages: asking for 3 names the missing stage */
    assert_int_equal(run_plan("profile.csv -s 3 -m 4"), 1);
    err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "no forward rows for stage 2"));
    free(err);
    /* a frequency the target GPU (a simulated H100: 1980 MHz down in
     * 15 MHz steps) does not support */
    write_file("odd.csv", "stage,instruction,frequency,time,energy\n"
                          "0,forward,1980,0.01,3\n0,backward,1980,0.02,6\n"
                          "0,forward,1746,0.012,2.5\n");
    assert_int_equal(run_plan("odd.csv -s 1 -m 2 --gpu 0 --devices "
                              "sim:1:h100"),
                     1);
    err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "odd.csv, line 4: 1746 MHz is not a "
                                "supported SM clock of gpu0"));
    free(err);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --gpu 0 --devices "
                              "sim:1:h100 -q"),
                     0);
    /* a quantum whose blocking energy overflows the planner's integer
     * nanojoules (it printed garbage with exit 0) */
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --quantum 1e20"), 1);
    err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "time quantum 1e+20 s at blocking power 70 W"));
    free(err);
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --quantum 1e9 "
                              "--blocking-power-w 1e6"), 1);
    /* a deadline below the minimum time */
    assert_int_equal(run_plan("profile.csv -s 2 -m 4 --deadline 0.001"), 1);
    err = file_in_dir("err.txt");
    assert_non_null(strstr(err, "no plan meets the deadline"));
    free(err);
}

static void test_outputs(void **state)
{
    (void)state;
    assert_int_equal(run_plan("profile.csv --stages 2 --microbatches 4 "
                              "--quantum 0.5ms -o frontier.csv --plans plans "
                              "--json plan.json --at min-energy-no-slowdown "
                              "--svg timeline.svg --frontier-svg front.svg"),
                     0);
    char *out = file_in_dir("out.txt");
    assert_non_null(strstr(out, "no energy bloat"));
    assert_non_null(strstr(out, "discrete search:    "));
    assert_non_null(strstr(out, "plans searched"));
    free(out);
    /* --no-search: the hull solve alone; its least energy is never lower */
    assert_int_equal(run_plan("profile.csv --stages 2 --microbatches 4 --quantum 0.5ms "
                              "--at min-energy --json least.json -q"), 0);
    assert_int_equal(run_plan("profile.csv --stages 2 --microbatches 4 --quantum 0.5ms "
                              "--at min-energy --json least_hull.json --no-search"), 0);
    char *said = file_in_dir("out.txt");
    assert_non_null(strstr(said, "discrete search:    off (--no-search)"));
    free(said);
    char *with = file_in_dir("least.json"), *hull = file_in_dir("least_hull.json");
    const char *a = strstr(with, "\"energy_j\""), *b = strstr(hull, "\"energy_j\"");
    double ew = 0, eh = 0;
    assert_true(a && b);
    assert_int_equal(sscanf(strchr(a, ':') + 1, "%lf", &ew), 1);
    assert_int_equal(sscanf(strchr(b, ':') + 1, "%lf", &eh), 1);
    assert_true(ew <= eh + 1e-9);
    free(with);
    free(hull);
    /* frontier CSV: header, strictly increasing time, decreasing energy */
    char *csv = file_in_dir("frontier.csv");
    assert_non_null(csv);
    assert_true(!strncmp(csv, "plan_id,time_s,energy_j,", 24));
    int rows = 0;
    double pt = -1, pe = 1e300, t0 = 0, e0 = 0;
    for (char *line = strchr(csv, '\n') + 1; *line;
         line = strchr(line, '\n') + 1) {
        int id;
        double t, e;
        assert_int_equal(sscanf(line, "%d,%lf,%lf", &id, &t, &e), 3);
        assert_int_equal(id, rows);
        assert_true(t > pt && e < pe);
        if (rows == 0) {
            t0 = t;
            e0 = e;
        }
        pt = t;
        pe = e;
        rows++;
    }
    assert_true(rows >= 2);
    free(csv);
    /* one plan file per point */
    for (int i = 0; i < rows; i++) {
        char name[64];
        snprintf(name, sizeof name, "plans/plan_%04d.json", i);
        char *p = file_in_dir(name);
        if (!p)
            fail_msg("missing %s", name);
        free(p);
    }
    /* the chosen plan (minimum time) as JSON */
    char *js = file_in_dir("plan.json");
    cJSON *root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    assert_true(fabs(cJSON_GetObjectItem(root, "time_s")->valuedouble - t0) <=
                1e-9 * t0);
    assert_true(fabs(cJSON_GetObjectItem(root, "energy_j")->valuedouble - e0) <=
                1e-9 * e0);
    cJSON *stages = cJSON_GetObjectItem(root, "stages");
    assert_int_equal(cJSON_GetArraySize(stages), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(stages, 1)), 8);
    cJSON_Delete(root);
    /* the library's plan reader gets the stage's sequence */
    char path[512];
    snprintf(path, sizeof path, "%s/plan.json", dir);
    pl_stage_plan sp;
    assert_int_equal(pl_stage_plan_read(path, 1, &sp), 0);
    assert_int_equal(sp.n, 8);
    assert_int_equal(sp.num_stages, 2);
    /* stage 1 of 2 runs F0 B0 F1 B1 F2 B2 F3 B3 */
    for (int k = 0; k < 8; k++) {
        assert_int_equal(sp.steps[k].instr, k % 2);
        assert_int_equal(sp.steps[k].mb, k / 2);
        assert_true(sp.steps[k].freq_mhz >= 780 && sp.steps[k].freq_mhz <= 1980);
    }
    pl_stage_plan_free(&sp);
    assert_int_equal(pl_stage_plan_read(path, 2, &sp), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "stage 2 is out of range"));
    /* SVGs */
    char *svg = file_in_dir("timeline.svg");
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, ">F1<")); /* blocks are numbered from 1 */
    assert_non_null(strstr(svg, ">B4<"));
    assert_null(strstr(svg, ">F0<"));
    assert_non_null(strstr(svg, "time (s)"));
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    svg = file_in_dir("front.svg");
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<polyline"));
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
}

static void test_json_frontier_and_deadline(void **state)
{
    (void)state;
    /* without a choice, --json - writes the whole frontier to stdout */
    assert_int_equal(run_plan("profile.csv -s 2 -m 3 --schedule gpipe "
                              "--json -"),
                     0);
    char *js = file_in_dir("out.txt");
    cJSON *root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "schedule")->valuestring,
                        "gpipe");
    cJSON *fr = cJSON_GetObjectItem(root, "frontier");
    int n = cJSON_GetArraySize(fr);
    assert_true(n >= 2);
    double t_first = cJSON_GetObjectItem(cJSON_GetArrayItem(fr, 0), "time_s")
                         ->valuedouble;
    double t_last = cJSON_GetObjectItem(cJSON_GetArrayItem(fr, n - 1),
                                        "time_s")->valuedouble;
    double deadline = 0.5 * (t_first + t_last);
    /* the cheapest plan within the deadline */
    double best_e = 1e300, best_t = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, fr)
    {
        double t = cJSON_GetObjectItem(p, "time_s")->valuedouble;
        double e = cJSON_GetObjectItem(p, "energy_j")->valuedouble;
        if (t <= deadline && e < best_e) {
            best_e = e;
            best_t = t;
        }
    }
    cJSON_Delete(root);
    /* a frontier file is not a plan */
    write_file("frontier.json", "{\"frontier\": [{}, {}]}");
    char path[512];
    snprintf(path, sizeof path, "%s/frontier.json", dir);
    pl_stage_plan sp;
    assert_int_equal(pl_stage_plan_read(path, 0, &sp), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "whole frontier"));

    char args[512];
    snprintf(args, sizeof args, "profile.csv -s 2 -m 3 --schedule gpipe "
             "--deadline %.9f --json chosen.json -q", deadline);
    assert_int_equal(run_plan(args), 0);
    char *out = file_in_dir("out.txt");
    assert_string_equal(out, ""); /* --quiet */
    free(out);
    js = file_in_dir("chosen.json");
    root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    double t = cJSON_GetObjectItem(root, "time_s")->valuedouble;
    double e = cJSON_GetObjectItem(root, "energy_j")->valuedouble;
    assert_true(t <= deadline);
    assert_true(fabs(e - best_e) <= 1e-9 * best_e);
    assert_true(fabs(t - best_t) <= 1e-9 * best_t);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_json_frontier_and_deadline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
