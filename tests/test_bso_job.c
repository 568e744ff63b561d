/* The batch-size optimizer across runs (joule_bso_*): a job's trials and
 * verdicts worked out by hand, idempotent reports, joining, persistence,
 * a process killed with a trial out or in the middle of a write, many
 * processes on one job, and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <joule/bso.h>

#include "test_support.h"

static char *dir;
static char db[512];

static int setup(void **state)
{
    (void)state;
    dir = ts_mkdtemp();
    snprintf(db, sizeof(db), "%s/joule.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_rmtree(dir);
    free(dir);
    return 0;
}

/* Sizes 16, 32, 64 (default 32); accuracy >= 0.9 converges; 300 W. */
static joule_bso_spec *spec(const char *job)
{
    joule_bso_spec *s = NULL;
    assert_int_equal(joule_bso_spec_create(job, &s), 0);
    int sizes[] = {64, 16, 32};
    assert_int_equal(joule_bso_spec_set_batch_sizes(s, sizes, 3, 32), 0);
    assert_int_equal(joule_bso_spec_set_target_metric(s, 0.9, 1), 0);
    assert_int_equal(joule_bso_spec_set_max_power_w(s, 300), 0);
    assert_int_equal(joule_bso_spec_set_max_epochs(s, 5), 0);
    return s;
}

static joule_bso *open_job(const char *job)
{
    joule_bso_spec *s = spec(job);
    joule_bso *b = NULL;
    assert_int_equal(joule_bso_open(s, db, &b), 0);
    joule_bso_spec_destroy(s);
    return b;
}

static int epoch(joule_bso *b, int trial, int e, double t, double j, double metric)
{
    int v = -1;
    assert_int_equal(joule_bso_epoch(b, trial, e, t, j, metric, &v), 0);
    return v;
}

static void test_trials_and_verdicts_by_hand(void **state)
{
    (void)state;
    joule_bso *b = open_job("by-hand");
    int trial, bs;
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(trial, 1);
    assert_int_equal(bs, 32);
    /* 100 s and 20 kJ per epoch: cost = 0.5 E + 0.5 x 300 W x T. */
    assert_int_equal(epoch(b, 1, 1, 100, 20000, 0.5), JOULE_BSO_CONTINUE);
    assert_int_equal(epoch(b, 1, 2, 200, 40000, 0.91), JOULE_BSO_CONVERGED);
    /* min_cost = 0.5 x 40000 + 150 x 200 = 50000; the threshold 100000. */
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(trial, 2);
    assert_int_equal(bs, 16);
    /* 16: 50 s and 30 kJ per epoch, cost 22500 per epoch. After epoch 3
     * (67500) the next would make 90000: go on; after 4 (90000) the next
     * would make 112500 > 100000: stop. */
    assert_int_equal(epoch(b, 2, 1, 50, 30000, 0.2), JOULE_BSO_CONTINUE);
    assert_int_equal(epoch(b, 2, 2, 100, 60000, 0.3), JOULE_BSO_CONTINUE);
    assert_int_equal(epoch(b, 2, 3, 150, 90000, 0.4), JOULE_BSO_CONTINUE);
    assert_int_equal(epoch(b, 2, 4, 200, 120000, 0.4), JOULE_BSO_STOP_COST);
    /* 16 failed: the walk turns up to 64, which hits max_epochs (5). */
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(bs, 64);
    for (int e = 1; e <= 4; e++)
        assert_int_equal(epoch(b, trial, e, 10.0 * e, 1000.0 * e, 0.1), JOULE_BSO_CONTINUE);
    assert_int_equal(epoch(b, trial, 5, 50, 5000, 0.1), JOULE_BSO_STOP_EPOCHS);
    /* Round 2 from the best (32) alone. */
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(bs, 32);
    int best;
    assert_int_equal(joule_bso_best(b, &best), 0);
    assert_int_equal(best, 32);

    /* Said again, answered the same, nothing changes. */
    assert_int_equal(epoch(b, 1, 2, 200, 40000, 0.91), JOULE_BSO_CONVERGED);
    assert_int_equal(epoch(b, 2, 4, 200, 120000, 0.4), JOULE_BSO_STOP_COST);
    assert_int_equal(epoch(b, 1, 1, 999, 999, 0.1), JOULE_BSO_CONVERGED);
    assert_int_equal(joule_bso_end(b, 1, 200, 40000, 1), 0);
    assert_int_equal(joule_bso_end(b, 1, 200, 40000, 0), JOULE_EEXIST);

    assert_int_equal(joule_bso_trial_count(b), 4);
    int t, e;
    const char *status;
    double time_s, energy_j, cost;
    assert_int_equal(joule_bso_trial(b, 1, &t, &bs, &status, &e, &time_s, &energy_j, &cost), 0);
    assert_int_equal(t, 2);
    assert_string_equal(status, "stopped");
    assert_int_equal(e, 4);
    assert_float_equal(cost, 0.5 * 120000 + 150 * 200, 1e-9);
    assert_int_equal(joule_bso_trial(b, 3, &t, NULL, &status, NULL, NULL, NULL, NULL), 0);
    assert_string_equal(status, "running");
    assert_int_equal(joule_bso_trial(b, 4, NULL, NULL, NULL, NULL, NULL, NULL, NULL), JOULE_ERANGE);
    joule_bso_close(b);

    /* Closed and opened again (another process would see the same). */
    b = open_job("by-hand");
    assert_int_equal(joule_bso_trial_count(b), 4);
    assert_int_equal(joule_bso_best(b, &best), 0);
    assert_int_equal(best, 32);
    /* The running trial 4 (this process lives) finishes normally. */
    assert_int_equal(epoch(b, 4, 1, 100, 19000, 0.95), JOULE_BSO_CONVERGED);
    joule_bso_close(b);
}

static void test_join_needs_the_same_spec(void **state)
{
    (void)state;
    joule_bso *a = open_job("join");
    joule_bso *b = open_job("join");
    int trial, bs;
    assert_int_equal(joule_bso_next(a, &trial, &bs), 0);
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(trial, 2);
    joule_bso_close(a);
    joule_bso_close(b);
    joule_bso_spec *s = spec("join");
    assert_int_equal(joule_bso_spec_set_eta(s, 0.7), 0);
    assert_int_equal(joule_bso_open(s, db, &a), JOULE_EEXIST);
    assert_null(a);
    assert_non_null(strstr(joule_last_error(), "another eta"));
    joule_bso_spec_destroy(s);
    /* Sizes in another order are the same spec. */
    s = spec("join");
    int sizes[] = {32, 64, 16};
    joule_bso_spec_set_batch_sizes(s, sizes, 3, 32);
    assert_int_equal(joule_bso_open(s, db, &a), 0);
    joule_bso_close(a);
    joule_bso_spec_destroy(s);
}

static void test_a_killed_run_gives_its_size_back(void **state)
{
    (void)state;
    joule_bso *b = open_job("killed");
    int trial, bs;
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(epoch(b, trial, 1, 100, 20000, 0.95), JOULE_BSO_CONVERGED);
    pid_t pid = fork();
    if (pid == 0) {
        joule_bso *c = open_job("killed");
        int t2, bs2;
        if (joule_bso_next(c, &t2, &bs2) != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    /* The child's trial (16, the walk's next) never reports: the next
     * request sees its process gone and offers 16 again. */
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(trial, 3);
    assert_int_equal(bs, 16);
    const char *status;
    assert_int_equal(joule_bso_trial_count(b), 3);
    assert_int_equal(joule_bso_trial(b, 1, NULL, NULL, &status, NULL, NULL, NULL, NULL), 0);
    assert_string_equal(status, "abandoned");
    int v;
    assert_int_equal(joule_bso_epoch(b, 2, 1, 1, 1, 0.1, &v), JOULE_ENOENT);
    joule_bso_close(b);
}

static void test_kill_mid_write_leaves_whole_rows(void **state)
{
    (void)state;
    joule_bso_spec *s = spec("midwrite");
    joule_bso_spec_set_max_epochs(s, 1000000);
    joule_bso_spec_set_beta(s, INFINITY);
    joule_bso *b = NULL;
    assert_int_equal(joule_bso_open(s, db, &b), 0);
    int trial, bs;
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    joule_bso_close(b);
    pid_t pid = fork();
    if (pid == 0) {
        joule_bso *c = NULL;
        if (joule_bso_open(s, db, &c) != 0)
            _exit(1);
        for (int e = 1;; e++) {
            int v;
            if (joule_bso_epoch(c, trial, e, e, 10.0 * e, 0.0, &v) != 0)
                _exit(2);
        }
    }
    ts_sleep_ms(300);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(joule_bso_open(s, db, &b), 0);
    int epochs;
    double t, e;
    const char *status;
    assert_int_equal(joule_bso_trial_count(b), 1);
    assert_int_equal(joule_bso_trial(b, 0, NULL, NULL, &status, &epochs, &t, &e, NULL), 0);
    /* Some epochs landed, each whole: time and energy of the same epoch. */
    assert_true(epochs >= 1);
    assert_float_equal(t, epochs, 1e-9);
    assert_float_equal(e, 10.0 * epochs, 1e-9);
    joule_bso_close(b);
    joule_bso_spec_destroy(s);
}

/* One process's work: `runs` recurrences, each running trials until one
 * converges; 32 converges in 3 epochs, the others never (stopped). */
static int recurrences(int runs)
{
    joule_bso *b = open_job("crowd");
    int made = 0;
    for (int r = 0; r < runs; r++)
        for (int done = 0; !done;) {
            int trial, bs;
            if (joule_bso_next(b, &trial, &bs) != 0)
                return -1;
            made++;
            for (int e = 1;; e++) {
                int v;
                double metric = bs == 32 && e >= 3 ? 0.95 : 0.1;
                if (joule_bso_epoch(b, trial, e, 10.0 * e, 2000.0 * e, metric, &v) != 0)
                    return -1;
                if (v == JOULE_BSO_CONVERGED)
                    done = 1;
                if (v != JOULE_BSO_CONTINUE)
                    break;
            }
        }
    joule_bso_close(b);
    return made;
}

static void test_many_processes_lose_nothing(void **state)
{
    (void)state;
    enum { PROCS = 4, RUNS = 6 };
    joule_bso_close(open_job("crowd"));
    int fds[PROCS][2];
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            int made = recurrences(RUNS);
            if (write(fds[i][1], &made, sizeof(made)) != sizeof(made))
                _exit(3);
            _exit(made < 0 ? 1 : 0);
        }
        close(fds[i][1]);
    }
    int total = 0;
    for (int i = 0; i < PROCS; i++) {
        int st, made = 0;
        assert_int_equal(read(fds[i][0], &made, sizeof(made)), (ssize_t)sizeof(made));
        close(fds[i][0]);
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_true(made >= RUNS);
        total += made;
    }
    joule_bso *b = open_job("crowd");
    assert_int_equal(joule_bso_trial_count(b), total);
    int reached = 0;
    for (int i = 0; i < total; i++) {
        int t;
        const char *status;
        assert_int_equal(joule_bso_trial(b, i, &t, NULL, &status, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(t, i + 1); /* numbers unique and dense */
        assert_string_not_equal(status, "running");
        reached += !strcmp(status, "reached");
    }
    assert_int_equal(reached, PROCS * RUNS);
    joule_bso_close(b);
}

static void test_bad_input(void **state)
{
    (void)state;
    joule_bso_spec *s = NULL;
    joule_bso *b = NULL;
    assert_int_equal(joule_bso_spec_create("", &s), JOULE_EINVAL);
    assert_int_equal(joule_bso_spec_create("bad", &s), 0);
    assert_int_equal(joule_bso_open(s, db, &b), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "batch_sizes"));
    int sizes[] = {8, 16};
    assert_int_equal(joule_bso_spec_set_batch_sizes(s, sizes, 2, 32), 0);
    assert_int_equal(joule_bso_open(s, db, &b), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "default_batch_size: 32"));
    joule_bso_spec_set_batch_sizes(s, sizes, 2, 16);
    assert_int_equal(joule_bso_open(s, db, &b), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "max_power_w"));
    joule_bso_spec_set_max_power_w(s, 250);
    assert_int_equal(joule_bso_open(s, db, &b), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "target_metric"));
    assert_int_equal(joule_bso_spec_set_eta(s, -0.1), JOULE_EINVAL);
    assert_int_equal(joule_bso_spec_set_beta(s, 0.5), JOULE_EINVAL);
    assert_int_equal(joule_bso_spec_set_max_epochs(s, 0), JOULE_EINVAL);
    assert_int_equal(joule_bso_spec_set_prune_factor(s, 1.0), JOULE_EINVAL);
    assert_int_equal(joule_bso_spec_set_target_metric(s, NAN, 1), JOULE_EINVAL);
    joule_bso_spec_set_target_metric(s, 40.0, 0); /* a word error rate: lower is better */
    assert_int_equal(joule_bso_open(s, db, &b), 0);
    int trial, bs, v;
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(joule_bso_epoch(b, trial, 0, 1, 1, 50, &v), JOULE_EINVAL);
    assert_int_equal(joule_bso_epoch(b, trial, 1, -1, 1, 50, &v), JOULE_EINVAL);
    assert_int_equal(joule_bso_epoch(b, trial, 1, 1, 1, NAN, &v), JOULE_EINVAL);
    assert_int_equal(joule_bso_epoch(b, 99, 1, 1, 1, 50, &v), JOULE_ENOENT);
    assert_int_equal(joule_bso_epoch(b, trial, 1, 10, 100, 50, &v), 0);
    assert_int_equal(v, JOULE_BSO_CONTINUE);
    assert_int_equal(joule_bso_epoch(b, trial, 2, 5, 200, 45, &v), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "cannot shrink"));
    /* Nothing stored was lost to the bad reports. */
    assert_int_equal(joule_bso_epoch(b, trial, 2, 20, 200, 39, &v), 0);
    assert_int_equal(v, JOULE_BSO_CONVERGED);
    joule_bso_close(b);

    /* A corrupt database is named and left as it was. */
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/corrupt.db", dir);
    char junk[4096];
    memset(junk, 'x', sizeof(junk));
    memcpy(junk, "SQLite format 3", 16);
    FILE *f = fopen(bad, "w");
    fwrite(junk, 1, sizeof(junk), f);
    fclose(f);
    assert_int_equal(joule_bso_open(s, bad, &b), JOULE_EIO);
    char *after = ts_read(bad);
    assert_memory_equal(after, junk, sizeof(junk));
    free(after);
    joule_bso_spec_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trials_and_verdicts_by_hand),
        cmocka_unit_test(test_join_needs_the_same_spec),
        cmocka_unit_test(test_a_killed_run_gives_its_size_back),
        cmocka_unit_test(test_kill_mid_write_leaves_whole_rows),
        cmocka_unit_test(test_many_processes_lose_nothing),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
