/* The trace-driven batch-size simulation (joule/bso.h) and its command:
 * a small trace whose every run is worked out by hand below (profiling
 * epoch, thresholds, the pruning walk, sampling), early stopping, bad
 * input naming file and line, and the 12 published Zeus rows against a
 * second, independent computation of default and oracle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <joule/bso.h>

#include "test_support.h"

static const char train_csv[] =
    "dataset,network,batch_size,optimizer,learning_rate,run,target_metric,target_epoch\n"
    "squad,bert_base_uncased,32,adamw,4.9e-6,1,84.0,4\n"
    "squad,bert_base_uncased,32,adamw,4.9e-6,2,84.0,4\n"
    "squad,bert_base_uncased,32,adamw,4.9e-6,1,83.0,2\n" /* another target: ignored */
    "squad,bert_base_uncased,16,adamw,3.5e-6,1,84.0,3\n"
    "squad,bert_base_uncased,16,adamw,3.5e-6,2,84.0,3\n"
    "squad,bert_base_uncased,64,adamw,6.9e-6,1,84.0,6\n"
    "squad,bert_base_uncased,64,adamw,6.9e-6,2,84.0,6\n"
    "cifar100,shufflenetv2,1024,adadelta,1e-1,1,0.6,20\n";

#define POWER_HEADER "dataset,network,batch_size,optimizer,power_limit,time_per_epoch,average_power\n"
/* bs 32: 10 s x 180 W at 200 W, 14 s x 95 W at 100 W; the cifar row makes
 * the GPU's maximum limit (MaxPower of the cost) 300 W. */
#define POWER_16_32                                                                                \
    "squad,bert_base_uncased,32,adamw,200,10,180\n"                                                \
    "squad,bert_base_uncased,32,adamw,100,14,95\n"                                                 \
    "squad,bert_base_uncased,16,adamw,200,12,150\n"                                                \
    "squad,bert_base_uncased,16,adamw,100,15,90\n"                                                 \
    "cifar100,shufflenetv2,1024,adadelta,300,5,250\n"

static char *make_trace(const char *gpu, const char *power_64_rows)
{
    char *dir = ts_mkdtemp();
    char name[64], power[2048];
    snprintf(name, sizeof(name), "summary_power_%s.csv", gpu);
    snprintf(power, sizeof(power), "%s%s%s", POWER_HEADER, POWER_16_32, power_64_rows);
    assert_int_equal(ts_write(dir, "summary_train.csv", train_csv), 0);
    assert_int_equal(ts_write(dir, name, power), 0);
    return dir;
}

static joule_bso_sim *run_sim(const char *dir, const char *gpu)
{
    joule_bso_sim *s = NULL;
    assert_int_equal(joule_bso_sim_create(dir, "squad", gpu, &s), 0);
    assert_int_equal(joule_bso_sim_run(s), 0);
    return s;
}

struct run {
    int rec, bs, reached;
    double pl, e, t;
};

static struct run run_at(const joule_bso_sim *s, int i)
{
    struct run r;
    assert_int_equal(joule_bso_sim_run_at(s, i, &r.rec, &r.bs, &r.pl, &r.e, &r.t, &r.reached), 0);
    return r;
}

static void test_every_run_as_worked_out_by_hand(void **state)
{
    (void)state;
    char *dir = make_trace("t1", "squad,bert_base_uncased,64,adamw,200,8,195\n"
                                 "squad,bert_base_uncased,64,adamw,100,13,99\n");
    joule_bso_sim *s = run_sim(dir, "t1");
    int bs;
    double pl, eta, tta;
    /* Default: 32 at its highest limit, 4 epochs of 10 s at 180 W. */
    assert_int_equal(joule_bso_sim_point(s, "default", &bs, &pl, &eta, &tta), 0);
    assert_int_equal(bs, 32);
    assert_float_equal(pl, 200, 1e-9);
    assert_float_equal(eta, 7200, 1e-9);
    assert_float_equal(tta, 40, 1e-9);
    /* Oracle by cost = E/2 + 300 W x T/2: 16 at 200 W (8100) beats 16 at
     * 100 W (8775) and 32 at 200 W (9600). */
    assert_int_equal(joule_bso_sim_point(s, "oracle", &bs, &pl, &eta, &tta), 0);
    assert_int_equal(bs, 16);
    assert_float_equal(pl, 200, 1e-9);
    assert_float_equal(eta, 5400, 1e-9);
    assert_float_equal(tta, 36, 1e-9);
    /* 2 x 3 sizes x 2 limits recurrences, one run each (nothing fails). */
    assert_int_equal(joule_bso_sim_recurrences(s), 12);
    assert_int_equal(joule_bso_sim_run_count(s), 12);
    /* The first run at a size profiles: its first epoch is the mean of an
     * epoch at each limit, then the chosen limit (least epoch cost). */
    struct run r = run_at(s, 0);
    assert_int_equal(r.bs, 32);
    assert_float_equal(r.pl, 200, 1e-9);
    assert_float_equal(r.e, (1800 + 1330) / 2.0 + 3 * 1800, 1e-9);
    assert_float_equal(r.t, 12 + 30, 1e-9);
    /* Walk down from 32: 16; nothing below, so up: 64. */
    r = run_at(s, 1);
    assert_int_equal(r.bs, 16);
    assert_float_equal(r.e, (1800 + 1350) / 2.0 + 2 * 1800, 1e-9);
    r = run_at(s, 2);
    assert_int_equal(r.bs, 64);
    assert_float_equal(r.e, (1560 + 1287) / 2.0 + 5 * 1560, 1e-9);
    /* Round 2 from the cheapest, 16: then up 32 and 64, profiled already. */
    int want[] = {16, 32, 64};
    double want_e[] = {5400, 7200, 9360};
    for (int i = 0; i < 3; i++) {
        r = run_at(s, 3 + i);
        assert_int_equal(r.bs, want[i]);
        assert_float_equal(r.e, want_e[i], 1e-9);
        assert_true(r.reached);
    }
    /* Sampling: 16 is far cheaper than the others' spread. */
    for (int i = 6; i < 12; i++) {
        r = run_at(s, i);
        assert_int_equal(r.rec, i + 1);
        assert_int_equal(r.bs, 16);
    }
    double l_eta, l_tta, l_pct, e, de, c_pct;
    assert_int_equal(joule_bso_sim_savings(s, &l_eta, &l_tta, &l_pct, &e, &de, &c_pct), 0);
    assert_float_equal(l_eta, (1423.5 + 7800 + 5400 + 7200 + 9360 + 6 * 5400) / 10.0, 1e-6);
    assert_float_equal(l_tta, (50.5 + 36 + 40 + 48 + 6 * 36) / 10.0, 1e-9);
    assert_float_equal(l_pct, 100.0 * (1.0 - l_eta / 7200), 1e-9);
    assert_float_equal(e, 6965 + 5175 + l_eta * 10, 1e-6);
    assert_float_equal(de, 12 * 7200, 1e-9);
    assert_float_equal(c_pct, 100.0 * (1.0 - e / de), 1e-9);
    joule_bso_sim_destroy(s);
    ts_rmtree(dir);
    free(dir);
}

static void test_runs_stop_before_the_threshold(void **state)
{
    (void)state;
    /* 64 takes 41 s per epoch at 100 W, its least epoch cost: 6129.5 per
     * epoch against 2 x 8212.5 (the least converged cost, 16's first run)
     * fits 2 epochs, short of 6. */
    char *dir = make_trace("t2", "squad,bert_base_uncased,64,adamw,200,40,195\n"
                                 "squad,bert_base_uncased,64,adamw,100,41,99\n");
    joule_bso_sim *s = run_sim(dir, "t2");
    struct run r = run_at(s, 2);
    assert_int_equal(r.bs, 64);
    assert_false(r.reached);
    assert_float_equal(r.pl, 100, 1e-9);
    assert_float_equal(r.e, (40 * 195 + 41 * 99) / 2.0 + 41 * 99, 1e-9);
    /* The recurrence goes on: its next run converges. */
    struct run next = run_at(s, 3);
    assert_int_equal(next.rec, 3);
    assert_true(next.reached);
    /* 64 failed: pruned, never run again. */
    int n = joule_bso_sim_run_count(s);
    for (int i = 3; i < n; i++)
        assert_int_not_equal(run_at(s, i).bs, 64);
    joule_bso_sim_destroy(s);
    ts_rmtree(dir);
    free(dir);

    /* 64 so slow that not one epoch fits: it never runs at all. */
    dir = make_trace("t3", "squad,bert_base_uncased,64,adamw,200,200,195\n"
                           "squad,bert_base_uncased,64,adamw,100,210,99\n");
    s = run_sim(dir, "t3");
    n = joule_bso_sim_run_count(s);
    assert_int_equal(n, 12);
    for (int i = 0; i < n; i++) {
        r = run_at(s, i);
        assert_int_not_equal(r.bs, 64);
        assert_true(r.reached);
    }
    joule_bso_sim_destroy(s);
    ts_rmtree(dir);
    free(dir);
}

static void expect_error(const char *dir, const char *workload, const char *gpu, int code,
                         const char *needle)
{
    joule_bso_sim *s = (joule_bso_sim *)1;
    assert_int_equal(joule_bso_sim_create(dir, workload, gpu, &s), code);
    assert_null(s);
    if (!strstr(joule_last_error(), needle))
        fail_msg("error '%s' lacks '%s'", joule_last_error(), needle);
}

static void test_bad_input_is_named(void **state)
{
    (void)state;
    char *dir = make_trace("t1", "");
    expect_error(dir, "mnist", "t1", JOULE_EINVAL, "unknown workload 'mnist'");
    expect_error(dir, "squad", "h100", JOULE_ENOENT, "no power trace for GPU 'h100'");
    expect_error(dir, "squad", "../t1", JOULE_EINVAL, "GPU");
    ts_write(dir, "summary_power_bad.csv", POWER_HEADER "squad,bert_base_uncased,32,adamw,200,10\n");
    expect_error(dir, "squad", "bad", JOULE_EINVAL, "summary_power_bad.csv:2: malformed row");
    ts_write(dir, "summary_power_nan.csv",
             POWER_HEADER POWER_16_32 "squad,bert_base_uncased,64,adamw,200,fast,195\n");
    expect_error(dir, "squad", "nan", JOULE_EINVAL, "summary_power_nan.csv:7: column 'time_per_epoch'");
    ts_write(dir, "summary_power_hdr.csv", "dataset,network,batch_size\nsquad,x,1\n");
    expect_error(dir, "squad", "hdr", JOULE_EINVAL, "header has no column 'optimizer'");
    ts_write(dir, "summary_power_nodef.csv", POWER_HEADER "squad,bert_base_uncased,16,adamw,200,12,150\n");
    expect_error(dir, "squad", "nodef", JOULE_EINVAL, "default batch size 32");
    ts_write(dir, "summary_power_none.csv", POWER_HEADER "cifar100,shufflenetv2,1024,adadelta,300,5,250\n");
    expect_error(dir, "squad", "none", JOULE_EINVAL, "no run of squad");
    char *empty = ts_mkdtemp();
    ts_write(empty, "summary_power_t1.csv", POWER_HEADER POWER_16_32);
    expect_error(empty, "squad", "t1", JOULE_ENOENT, "summary_train.csv");
    ts_write(empty, "summary_train.csv",
             "dataset,network,batch_size,optimizer,learning_rate,run,target_metric,target_epoch\n"
             "squad,bert_base_uncased,32,adamw,1e-6,1,84.0,-3\n");
    expect_error(empty, "squad", "t1", JOULE_EINVAL, "summary_train.csv:2: column 'target_epoch'");

    joule_bso_sim *s = run_sim(dir, "t1");
    assert_int_equal(joule_bso_sim_set_eta(s, 1.5), JOULE_EINVAL);
    assert_int_equal(joule_bso_sim_set_beta(s, 0.5), JOULE_EINVAL);
    assert_int_equal(joule_bso_sim_set_beta(s, NAN), JOULE_EINVAL);
    assert_int_equal(joule_bso_sim_set_recurrences(s, -1), JOULE_EINVAL);
    assert_int_equal(joule_bso_sim_set_prune_factor(s, 0.5), JOULE_EINVAL);
    assert_int_equal(joule_bso_sim_point(s, "best", NULL, NULL, NULL, NULL), JOULE_EINVAL);
    assert_int_equal(joule_bso_sim_run_at(s, 99, NULL, NULL, NULL, NULL, NULL, NULL), JOULE_ERANGE);
    assert_int_equal(joule_bso_sim_set_beta(s, INFINITY), 0);
    assert_int_equal(joule_bso_sim_run(s), 0);
    joule_bso_sim_destroy(s);
    ts_rmtree(empty);
    free(empty);
    ts_rmtree(dir);
    free(dir);
}

/* ---- the published traces, checked against a second computation ---- */

struct row {
    int bs;
    double pl, t, p;
};

/* Default and oracle straight from the CSV text, by other loops. */
static void independent(const char *dir, const char *ds, const char *net, const char *opt,
                        double target, int max_epochs, int def_bs, const char *gpu,
                        double *def_eta, int *or_bs, double *or_pl)
{
    char path[512], line[512];
    static struct row rows[600];
    int nrows = 0;
    double max_pl = 0;
    snprintf(path, sizeof(path), "%s/summary_power_%s.csv", dir, gpu);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    while (fgets(line, sizeof(line), f)) {
        char d[64], n[64], o[64];
        struct row r;
        if (sscanf(line, "%63[^,],%63[^,],%d,%63[^,],%lf,%lf,%lf", d, n, &r.bs, o, &r.pl, &r.t,
                   &r.p) != 7)
            continue;
        max_pl = fmax(max_pl, r.pl);
        if (!strcmp(d, ds) && !strcmp(n, net) && !strcmp(o, opt))
            rows[nrows++] = r;
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/summary_train.csv", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    double best = INFINITY;
    /* Per batch size: mean epochs over runs, and whether all reach. */
    int sizes[64], nsz = 0, cnt[64] = {0}, late[64] = {0};
    double sum[64] = {0};
    while (fgets(line, sizeof(line), f)) {
        char d[64], n[64], o[64], lr[32];
        int bs, run, ep;
        double m;
        if (sscanf(line, "%63[^,],%63[^,],%d,%63[^,],%31[^,],%d,%lf,%d", d, n, &bs, o, lr, &run, &m,
                   &ep) != 8)
            continue;
        if (strcmp(d, ds) || strcmp(n, net) || strcmp(o, opt) || fabs(m - target) > 1e-9)
            continue;
        int k = 0;
        while (k < nsz && sizes[k] != bs)
            k++;
        if (k == nsz)
            sizes[nsz++] = bs;
        cnt[k]++;
        sum[k] += ep;
        late[k] += ep > max_epochs;
    }
    fclose(f);
    for (int k = 0; k < nsz; k++) {
        double top = 0;
        for (int i = 0; i < nrows; i++)
            if (rows[i].bs == sizes[k])
                top = fmax(top, rows[i].pl);
        for (int i = 0; i < nrows; i++) {
            if (rows[i].bs != sizes[k])
                continue;
            double tta = sum[k] / cnt[k] * rows[i].t, eta = tta * rows[i].p;
            if (sizes[k] == def_bs && rows[i].pl == top)
                *def_eta = eta;
            double cost = 0.5 * eta + 0.5 * max_pl * tta;
            if (!late[k] && cost < best) {
                best = cost;
                *or_bs = sizes[k];
                *or_pl = rows[i].pl;
            }
        }
    }
}

static void test_published_traces(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/zeus-nsdi23", JOULE_TEST_DATA_DIR);
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("skip: %s is absent (the published Zeus traces)\n", dir);
        skip();
    }
    static const struct {
        const char *w, *ds, *net, *opt;
        double target;
        int max_epochs, def;
    } wl[] = {
        {"cifar100", "cifar100", "shufflenetv2", "adadelta", 0.6, 100, 1024},
        {"imagenet", "imagenet", "resnet50", "adadelta", 0.65, 100, 256},
        {"squad", "squad", "bert_base_uncased", "adamw", 84.0, 6, 32},
        {"librispeech", "librispeech", "deepspeech2", "adamw", 40.0, 16, 192},
        {"movielens-1m", "movielens-1m", "ncf", "adam", 0.41, 100, 1024},
        {"sentiment140", "sentiment140", "bert_base_uncased", "adamw", 0.84, 10, 128},
    };
    const char *gpus[] = {"v100", "a40", "p100", "rtx6000"};
    double last10_sum = 0;
    int rows = 0;
    for (size_t g = 0; g < 4; g++)
        for (size_t i = 0; i < sizeof(wl) / sizeof(wl[0]); i++) {
            joule_bso_sim *s = NULL;
            int rc = joule_bso_sim_create(dir, wl[i].w, gpus[g], &s);
            if (rc < 0) {
                /* The smaller GPUs lack some workloads: said so, by name. */
                assert_true(g >= 2);
                assert_non_null(strstr(joule_last_error(), wl[i].w));
                continue;
            }
            assert_int_equal(joule_bso_sim_run(s), 0);
            double def_eta = NAN, or_pl = NAN;
            int or_bs = 0, bs;
            double pl, eta;
            independent(dir, wl[i].ds, wl[i].net, wl[i].opt, wl[i].target, wl[i].max_epochs,
                        wl[i].def, gpus[g], &def_eta, &or_bs, &or_pl);
            joule_bso_sim_point(s, "default", &bs, NULL, &eta, NULL);
            assert_int_equal(bs, wl[i].def);
            assert_float_equal(eta, def_eta, 1e-9 * def_eta);
            joule_bso_sim_point(s, "oracle", &bs, &pl, NULL, NULL);
            assert_int_equal(bs, or_bs);
            assert_float_equal(pl, or_pl, 1e-9);
            /* Every recurrence ends with exactly one converged run, and the
             * energy adds up. */
            int n = joule_bso_sim_run_count(s), rec = joule_bso_sim_recurrences(s);
            int reached = 0, last_rec = 0;
            double sum = 0;
            for (int k = 0; k < n; k++) {
                struct run r = run_at(s, k);
                assert_true(r.rec >= last_rec && r.rec <= rec);
                last_rec = r.rec;
                reached += r.reached;
                sum += r.e;
            }
            assert_int_equal(reached, rec);
            double l_pct, e, c_pct;
            joule_bso_sim_savings(s, NULL, NULL, &l_pct, &e, NULL, &c_pct);
            assert_float_equal(sum, e, 1e-9 * e);
            if (g < 2) {
                last10_sum += l_pct;
                rows++;
            }
            joule_bso_sim_destroy(s);
        }
    assert_int_equal(rows, 12);
    /* Well clear of nothing (the paper: 15-76 % per row); the exact
     * figures are the benchmark's (bench/bso_simulate). */
    assert_true(last10_sum / rows > 30);
}

/* ---- the command ---- */

static void test_command(void **state)
{
    (void)state;
    char *dir = make_trace("t1", "squad,bert_base_uncased,64,adamw,200,8,195\n"
                                 "squad,bert_base_uncased,64,adamw,100,13,99\n");
    char *out = NULL, *err = NULL;
    char *ok[] = {JOULE_TEST_CLI, "optimize", "bso-simulate", "--trace", dir, "--workload", "squad",
                  "--gpu", "t1", "--json", "-", NULL};
    assert_int_equal(ts_run(ok, NULL, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const char *keys[] = {"default", "oracle", "last10", "cumulative", "runs"};
    for (int i = 0; i < 5; i++)
        assert_non_null(cJSON_GetObjectItem(j, keys[i]));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "runs")), 12);
    cJSON *d = cJSON_GetObjectItem(j, "default");
    assert_float_equal(cJSON_GetObjectItem(d, "eta_j")->valuedouble, 7200, 1e-9);
    assert_float_equal(cJSON_GetObjectItem(d, "power_limit_w")->valuedouble, 200, 1e-9);
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0);
    const char *rkeys[] = {"recurrence", "batch_size", "power_limit_w", "energy_j", "time_s",
                           "reached"};
    for (int i = 0; i < 6; i++)
        assert_non_null(cJSON_GetObjectItem(r0, rkeys[i]));
    cJSON_Delete(j);
    /* The table went to stderr, so stdout is JSON alone. */
    assert_non_null(strstr(err, "oracle"));
    free(out);
    free(err);

    char *table[] = {JOULE_TEST_CLI, "optimize", "bso-simulate", "-t", dir, "-w", "squad", "-g",
                     "t1", "--recurrences", "20", NULL};
    assert_int_equal(ts_run(table, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "20 recurrences"));
    assert_non_null(strstr(out, "last 10"));
    free(out);
    free(err);

    char *missing[] = {JOULE_TEST_CLI, "optimize", "bso-simulate", "--workload", "squad", NULL};
    assert_int_equal(ts_run(missing, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--trace"));
    free(out);
    free(err);
    char *badnum[] = {JOULE_TEST_CLI, "optimize", "bso-simulate", "-t", dir, "-w", "squad", "-g",
                      "t1", "--eta", "half", NULL};
    assert_int_equal(ts_run(badnum, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "--eta: 'half' is not a number"));
    free(out);
    free(err);
    char *badwl[] = {JOULE_TEST_CLI, "optimize", "bso-simulate", "-t", dir, "-w", "mnist", "-g",
                     "t1", NULL};
    assert_int_equal(ts_run(badwl, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "unknown workload 'mnist'"));
    free(out);
    free(err);
    char *help[] = {JOULE_TEST_CLI, "optimize", "bso-simulate", "--help", NULL};
    assert_int_equal(ts_run(help, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "librispeech"));
    free(out);
    free(err);
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_run_as_worked_out_by_hand),
        cmocka_unit_test(test_runs_stop_before_the_threshold),
        cmocka_unit_test(test_bad_input_is_named),
        cmocka_unit_test(test_published_traces),
        cmocka_unit_test(test_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
