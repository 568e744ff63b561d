/* Frontier and selectors (src/optimize/frontier.c) on the 12 real
 * power-limit profiles in ../shared/data/power-limit-profiles: every
 * selector's choice equals a second, independent implementation written
 * here (its own CSV reading, its own loops), and for two files the
 * choices worked out by hand. Plus the bad-input errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "optimize/frontier.h"
#include "test_support.h"

static const char *const files[] = {
    "A40+bert-base-uncased+gpu0.csv", "A40+resnet18+gpu0,1,2,3.csv",
    "A40+resnet18+gpu0.csv",          "A40+resnet50+gpu0,1,2,3.csv",
    "A40+resnet50+gpu0.csv",          "A40+shufflenetv2+gpu0.csv",
    "V100+bert-base-uncased+gpu0.csv", "V100+resnet18+gpu0,1.csv",
    "V100+resnet18+gpu0.csv",         "V100+resnet50+gpu0,1.csv",
    "V100+resnet50+gpu0.csv",         "V100+shufflenetv2+gpu0.csv",
};
#define NFILES (sizeof files / sizeof files[0])

static void path_of(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/power-limit-profiles/%s", JOULE_TEST_DATA_DIR, name);
}

/* ---- the second implementation ------------------------------------------ */

struct ref {
    double w[32], t[32], e[32];
    int n, ngpu;
};

/* Reads the file with sscanf: fixed layout start,name,time,e0[,e1...]. */
static void ref_read(const char *path, struct ref *r)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    memset(r, 0, sizeof *r);
    assert_non_null(fgets(line, sizeof line, f));
    for (char *p = line; (p = strstr(p, "_energy")); p++)
        r->ngpu++;
    while (fgets(line, sizeof line, f)) {
        double start, w, t;
        int off = 0;
        assert_int_equal(sscanf(line, "%lf,__GlobalPowerLimitOptimizer_%lf,%lf%n", &start, &w,
                                &t, &off), 3);
        double e = 0, v;
        const char *p = line + off;
        for (int g = 0; g < r->ngpu; g++) {
            int used = 0;
            assert_int_equal(sscanf(p, ",%lf%n", &v, &used), 1);
            e += v;
            p += used;
        }
        r->w[r->n] = w;
        r->t[r->n] = t;
        r->e[r->n] = e;
        r->n++;
    }
    fclose(f);
}

static double ref_energy(const struct ref *r)
{
    int b = 0;
    for (int i = 1; i < r->n; i++)
        if (r->e[i] < r->e[b])
            b = i;
    return r->w[b];
}

static double ref_time(const struct ref *r)
{
    int b = 0;
    for (int i = 1; i < r->n; i++)
        if (r->t[i] < r->t[b])
            b = i;
    return r->w[b];
}

static double ref_cost(const struct ref *r, double eta)
{
    double pmax = 0;
    for (int i = 0; i < r->n; i++)
        pmax = r->w[i] > pmax ? r->w[i] : pmax;
    int b = -1;
    double best = 0;
    for (int i = 0; i < r->n; i++) {
        double c = eta * r->e[i] + (1 - eta) * pmax * r->ngpu * r->t[i];
        if (b < 0 || c < best) {
            b = i;
            best = c;
        }
    }
    return r->w[b];
}

static double ref_slowdown(const struct ref *r, double f)
{
    int top = 0;
    for (int i = 1; i < r->n; i++)
        if (r->w[i] > r->w[top])
            top = i;
    int b = -1;
    for (int i = 0; i < r->n; i++)
        if (r->t[i] <= f * r->t[top] && (b < 0 || r->e[i] < r->e[b]))
            b = i;
    return r->w[b];
}

static int ref_on_frontier(const struct ref *r, int i)
{
    for (int j = 0; j < r->n; j++)
        if (j != i && r->t[j] <= r->t[i] && r->e[j] <= r->e[i] &&
            (r->t[j] < r->t[i] || r->e[j] < r->e[i]))
            return 0;
    return 1;
}

static double choose(const struct jopt_profile *p, const char *spec)
{
    struct jopt_selector s;
    assert_int_equal(jopt_selector_parse(spec, &s), 0);
    int k = jopt_select(&s, p->points, p->n, 0, p->n_gpus);
    assert_true(k >= 0);
    return p->points[k].knob;
}

static void test_real_profiles_match_second_implementation(void **state)
{
    (void)state;
    static const double etas[] = {0, 0.1, 0.25, 0.5, 0.75, 0.9, 1};
    static const double factors[] = {1.0, 1.02, 1.05, 1.1, 1.2, 1.5, 3};
    for (size_t fi = 0; fi < NFILES; fi++) {
        char path[1024];
        path_of(files[fi], path, sizeof path);
        struct ref r;
        ref_read(path, &r);
        struct jopt_profile p;
        assert_int_equal(jopt_profile_read(path, &p), 0);
        assert_int_equal(p.n, r.n);
        assert_int_equal(p.n_gpus, r.ngpu);
        for (int i = 0; i < p.n; i++) {
            /* highest first, as in the files */
            assert_true(p.points[i].knob == r.w[i]);
            assert_true(fabs(p.points[i].time_s - r.t[i]) <= 1e-12 * r.t[i]);
            assert_true(fabs(p.points[i].energy_j - r.e[i]) <= 1e-9 * r.e[i]);
        }
        assert_true(choose(&p, "energy") == ref_energy(&r));
        assert_true(choose(&p, "time") == ref_time(&r));
        for (size_t k = 0; k < sizeof etas / sizeof etas[0]; k++) {
            char spec[32];
            snprintf(spec, sizeof spec, "cost:%g", etas[k]);
            if (choose(&p, spec) != ref_cost(&r, etas[k]))
                fail_msg("%s %s: %g vs %g", files[fi], spec, choose(&p, spec),
                         ref_cost(&r, etas[k]));
        }
        for (size_t k = 0; k < sizeof factors / sizeof factors[0]; k++) {
            char spec[32];
            snprintf(spec, sizeof spec, "slowdown:%g", factors[k]);
            if (choose(&p, spec) != ref_slowdown(&r, factors[k]))
                fail_msg("%s %s: %g vs %g", files[fi], spec, choose(&p, spec),
                         ref_slowdown(&r, factors[k]));
        }
        /* frontier: exactly the undominated points, time ascending */
        int idx[32];
        int nf = jopt_frontier(p.points, p.n, idx);
        int expect = 0;
        for (int i = 0; i < r.n; i++)
            expect += ref_on_frontier(&r, i);
        assert_int_equal(nf, expect);
        for (int j = 0; j < nf; j++) {
            assert_true(ref_on_frontier(&r, idx[j]));
            if (j > 0) {
                assert_true(p.points[idx[j]].time_s > p.points[idx[j - 1]].time_s);
                assert_true(p.points[idx[j]].energy_j < p.points[idx[j - 1]].energy_j);
            }
        }
        /* every selector's choice lies on the frontier */
        static const char *const sels[] = {"energy", "time", "cost:0.5", "slowdown:1.1"};
        for (size_t s = 0; s < 4; s++) {
            double w = choose(&p, sels[s]);
            int on = 0;
            for (int j = 0; j < nf; j++)
                on |= p.points[idx[j]].knob == w;
            if (!on)
                fail_msg("%s: %s chose %g W, not on the frontier", files[fi], sels[s], w);
        }
        jopt_profile_free(&p);
    }
}

/* Worked out by hand from the rows (see comments). */
static void test_hand_computed(void **state)
{
    (void)state;
    char path[1024];
    struct jopt_profile p;
    /* V100 resnet18, one GPU. Energy: 125 W (1449.188 J) just under 150 W
     * (1449.710 J). Time: 250 W (9.991 s). Cost eta 0.5, P_max 250 W:
     * 0.5 E + 125 T = 2199.0 (250), 2071.0 (175), 1997.9 (150), 2194.9 (125)
     * -> 150 W. Slowdown 1.1: T <= 10.990 s admits 250..150 W (125 W takes
     * 11.76 s) -> lowest energy 150 W. Slowdown 1.2 (T <= 11.989): 125 W. */
    path_of("V100+resnet18+gpu0.csv", path, sizeof path);
    assert_int_equal(jopt_profile_read(path, &p), 0);
    assert_int_equal(p.n, 7);
    assert_true(choose(&p, "energy") == 125);
    assert_true(choose(&p, "time") == 250);
    assert_true(choose(&p, "cost:0.5") == 150);
    assert_true(choose(&p, "slowdown:1.1") == 150);
    assert_true(choose(&p, "slowdown:1.2") == 125);
    int idx[16];
    int nf = jopt_frontier(p.points, p.n, idx);
    assert_int_equal(nf, 3); /* 250 (fastest), 150, 125 */
    assert_true(p.points[idx[0]].knob == 250 && p.points[idx[1]].knob == 150 &&
                p.points[idx[2]].knob == 125);
    jopt_profile_free(&p);

    /* A40 resnet50 on four GPUs (energies summed): 100 W uses 3392.4 J, the
     * least; 150 W is the fastest (7.946 s). Cost eta 0.5 with P_max 300 W x
     * 4: 0.5 E + 600 T: 150 W 6636.8, 125 W 6700.1, 100 W 6660.8 -> 150 W.
     * Slowdown 1.1 (T <= 9.049 s, every limit qualifies) -> 100 W. */
    path_of("A40+resnet50+gpu0,1,2,3.csv", path, sizeof path);
    assert_int_equal(jopt_profile_read(path, &p), 0);
    assert_int_equal(p.n, 9);
    assert_int_equal(p.n_gpus, 4);
    assert_true(fabs(p.points[8].energy_j - (839.1720000058413 + 870.1389999985695 +
                                              845.6410000026226 + 837.4890000075102)) < 1e-9);
    assert_true(choose(&p, "energy") == 100);
    assert_true(choose(&p, "time") == 150);
    assert_true(choose(&p, "cost:0.5") == 150);
    assert_true(choose(&p, "cost:1") == 100);
    assert_true(choose(&p, "slowdown:1.1") == 100);
    jopt_profile_free(&p);
}

static void test_ties(void **state)
{
    (void)state;
    /* equal energy: lower time wins; equal energy and time: higher knob */
    struct jopt_point p[] = {{300, 2.0, 100}, {250, 1.5, 100}, {200, 1.5, 100}, {150, 3, 120}};
    struct jopt_selector s = {JOPT_SELECT_ENERGY, 0};
    assert_int_equal(jopt_select(&s, p, 4, 0, 1), 1);
    s.kind = JOPT_SELECT_TIME;
    assert_int_equal(jopt_select(&s, p, 4, 0, 1), 1);
    /* frontier keeps one of two equal points: the higher knob */
    int idx[4];
    assert_int_equal(jopt_frontier(p, 4, idx), 1);
    assert_int_equal(idx[0], 1);
    /* slowdown: F = 1 admits only points no slower than the highest */
    struct jopt_point q[] = {{300, 2.0, 100}, {250, 2.0, 90}, {200, 2.01, 50}};
    s = (struct jopt_selector){JOPT_SELECT_SLOWDOWN, 1.0};
    assert_int_equal(jopt_select(&s, q, 3, 0, 1), 1);
    /* public wrapper */
    double w[] = {300, 250, 200}, t[] = {2.0, 2.0, 2.01}, e[] = {100, 90, 50};
    assert_int_equal(joule_select("slowdown:1.0", w, t, e, 3, 0, 1), 1);
    assert_int_equal(joule_select("energy", w, t, e, 3, 0, 1), 2);
    assert_int_equal(joule_select("cost:0", w, t, e, 3, 0, 1), 1);
}

/* The n log n frontier equals the definition, checked pair by pair, on
 * random points from a small grid (so ties in time, energy and both are
 * common); duplicate knobs are found wherever they are. */
static void test_frontier_matches_brute_force(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 300; round++) {
        int n = 1 + rand() % 40;
        struct jopt_point p[40];
        for (int i = 0; i < n; i++)
            p[i] = (struct jopt_point){100 + i, 1 + rand() % 6, 1 + rand() % 6};
        int want[40], m = 0;
        for (int i = 0; i < n; i++) {
            int dominated = 0;
            for (int j = 0; j < n && !dominated; j++)
                dominated = j != i && p[j].time_s <= p[i].time_s &&
                            p[j].energy_j <= p[i].energy_j &&
                            (p[j].time_s < p[i].time_s || p[j].energy_j < p[i].energy_j ||
                             p[j].knob > p[i].knob);
            if (!dominated)
                want[m++] = i;
        }
        int idx[40];
        int nf = jopt_frontier(p, n, idx);
        assert_int_equal(nf, m);
        for (int j = 0; j < nf; j++) {
            int found = 0;
            for (int k = 0; k < m; k++)
                found |= want[k] == idx[j];
            assert_true(found);
            if (j > 0)
                assert_true(p[idx[j]].time_s > p[idx[j - 1]].time_s);
        }
        if (n >= 2) {
            p[rand() % n].knob = p[rand() % n].knob; /* may or may not repeat one */
            int dup = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < i; j++)
                    dup |= p[i].knob == p[j].knob;
            int rc = jopt_points_check(p, n, "t");
            assert_int_equal(rc, dup ? JOULE_EINVAL : 0);
            if (dup)
                assert_non_null(strstr(joule_last_error(), "appears twice"));
        }
    }
}

static void test_bad_selectors(void **state)
{
    (void)state;
    struct jopt_selector s;
    assert_int_equal(jopt_selector_parse("fastest", &s), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "unknown selector 'fastest'"));
    assert_int_equal(jopt_selector_parse("cost:1.5", &s), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "outside [0, 1]"));
    assert_int_equal(jopt_selector_parse("cost:-0.1", &s), JOULE_ERANGE);
    assert_int_equal(jopt_selector_parse("slowdown:0.9", &s), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), ">= 1"));
    assert_int_equal(jopt_selector_parse("cost:abc", &s), JOULE_EINVAL);
    assert_int_equal(jopt_selector_parse("energy:2", &s), JOULE_EINVAL);
    assert_int_equal(jopt_selector_parse("", &s), JOULE_EINVAL);
    assert_int_equal(jopt_selector_parse("cost", &s), 0);
    assert_true(s.kind == JOPT_SELECT_COST && s.param == 0.5);
    assert_int_equal(jopt_selector_parse("slowdown", &s), 0);
    assert_true(s.kind == JOPT_SELECT_SLOWDOWN && s.param == 1.1);
    double w[] = {300, 250}, t[] = {1, 2}, e[] = {2, 1};
    assert_int_equal(joule_select("nope", w, t, e, 2, 0, 1), JOULE_EINVAL);
    assert_int_equal(joule_select("energy", w, t, e, 1, 0, 1), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "only one"));
    assert_int_equal(joule_select("energy", w, t, e, 0, 0, 1), JOULE_EINVAL);
    double tz[] = {1, 0};
    assert_int_equal(joule_select("energy", w, tz, e, 2, 0, 1), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "time 0"));
    double ez[] = {0, 1};
    assert_int_equal(joule_select("energy", w, t, ez, 2, 0, 1), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "energy 0"));
    /* an objective that overflows is an error, not a tie among infinities */
    assert_int_equal(joule_select("cost:0.5", w, t, e, 2, 1e308, 4), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "not a finite number"));
}

static void expect_read_error(const char *dir, const char *text, const char *msg)
{
    ts_write(dir, "p.csv", text);
    char path[1024];
    snprintf(path, sizeof path, "%s/p.csv", dir);
    struct jopt_profile p;
    int rc = jopt_profile_read(path, &p);
    if (rc == 0)
        fail_msg("no error for:\n%s", text);
    if (!strstr(joule_last_error(), msg))
        fail_msg("error '%s' lacks '%s'", joule_last_error(), msg);
    assert_null(p.points);
}

static void test_bad_profiles(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp();
    const char *h = "start_time,window_name,elapsed_time,gpu0_energy\n";
    char buf[2048];
    expect_read_error(dir, "", "empty");
    expect_read_error(dir, h, "no __GlobalPowerLimitOptimizer_{W} rows");
    snprintf(buf, sizeof buf, "%s1,__GlobalPowerLimitOptimizer_300,1.0,100\n", h);
    expect_read_error(dir, buf, "one power limit");
    snprintf(buf, sizeof buf, "%s1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
                              "2,__GlobalPowerLimitOptimizer_250,0,90\n", h);
    expect_read_error(dir, buf, "line 3, column 3 (250 W): elapsed_time is 0 s");
    snprintf(buf, sizeof buf, "%s1,__GlobalPowerLimitOptimizer_300,1.0,100\n"
                              "2,__GlobalPowerLimitOptimizer_250,1.1,0\n", h);
    expect_read_error(dir, buf, "line 3 (250 W): GPU energy is 0 J");
    snprintf(buf, sizeof buf, "%s1,__GlobalPowerLimitOptimizer_300,1.0,nan\n"
                              "2,__GlobalPowerLimitOptimizer_250,1.1,5\n", h);
    expect_read_error(dir, buf, "line 2, column 4 (300 W): energy 'nan'");
    snprintf(buf, sizeof buf, "%s1,__GlobalPowerLimitOptimizer_300,1.0\n", h);
    expect_read_error(dir, buf, "line 2: 3 fields, the header has 4");
    snprintf(buf, sizeof buf, "%s1,__GlobalPowerLimitOptimizer_abc,1.0,3\n", h);
    expect_read_error(dir, buf, "does not end in a power limit");
    expect_read_error(dir, "a,b,c\n1,2,3\n", "not a window log");
    ts_rmtree(dir);
    free(dir);
}

static void test_log_with_other_rows(void **state)
{
    (void)state;
    /* joule's own window log: other windows, a CPU column (not summed),
     * a quoted name, a retried limit (the last row counts). */
    char *dir = ts_mkdtemp();
    ts_write(dir, "log.csv",
             "start_time,window_name,elapsed_time,gpu0_energy,gpu1_energy,cpu0_energy\n"
             "1.0,step,0.5,10,10,99\n"
             "2.0,__GlobalPowerLimitOptimizer_300,2.0,100,110,99\n"
             "3.0,\"epoch,1\",9,9,9,9\n"
             "4.0,__GlobalPowerLimitOptimizer_250,2.5,50,60,99\n"
             "5.0,__GlobalPowerLimitOptimizer_250,2.2,80,80,99\n");
    char path[1024];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    struct jopt_profile p;
    assert_int_equal(jopt_profile_read(path, &p), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.n_gpus, 2);
    assert_int_equal(p.skipped_rows, 2);
    assert_true(p.points[0].knob == 300 && p.points[0].energy_j == 210);
    assert_true(p.points[1].knob == 250 && p.points[1].energy_j == 160 &&
                p.points[1].time_s == 2.2);
    jopt_profile_free(&p);
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_profiles_match_second_implementation),
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_frontier_matches_brute_force),
        cmocka_unit_test(test_bad_selectors),
        cmocka_unit_test(test_bad_profiles),
        cmocka_unit_test(test_log_with_other_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
