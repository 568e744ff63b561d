/* The batch-size optimizer served by jouled (/v1/bso): jobs run through
 * the library's remote mode ($JOULE_DAEMON), concurrent processes on one
 * job, the scope, and bad requests answered 4xx with a reason while
 * nothing stored is lost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <joule/bso.h>

#include "test_daemon_harness.h"

static const char *gpu = "[{\"model\": \"h100\"}]";

static joule_bso_spec *spec(const char *job, int max_epochs)
{
    joule_bso_spec *s = NULL;
    assert_int_equal(joule_bso_spec_create(job, &s), 0);
    int sizes[] = {16, 32, 64};
    joule_bso_spec_set_batch_sizes(s, sizes, 3, 32);
    joule_bso_spec_set_target_metric(s, 0.9, 1);
    joule_bso_spec_set_max_power_w(s, 700);
    joule_bso_spec_set_max_epochs(s, max_epochs);
    return s;
}

static void use_daemon(const struct dm *m)
{
    char where[600];
    snprintf(where, sizeof(where), "unix:%s", m->sock);
    setenv("JOULE_DAEMON", where, 1);
}

/* One recurrence through jouled: 32 converges at epoch 3, 16 at 2, 64
 * never. Returns the runs it took. */
static int recurrence(joule_bso *b)
{
    for (int runs = 1;; runs++) {
        int trial, bs;
        if (joule_bso_next(b, &trial, &bs) != 0)
            return -1;
        int need = bs == 16 ? 2 : bs == 32 ? 3 : 1000;
        for (int e = 1;; e++) {
            int v;
            if (joule_bso_epoch(b, trial, e, 10.0 * e, 3000.0 * e, e >= need ? 0.95 : 0.2, &v))
                return -1;
            if (v == JOULE_BSO_CONVERGED)
                return runs;
            if (v != JOULE_BSO_CONTINUE)
                break;
        }
    }
}

static void test_jobs_through_jouled(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, gpu, "scope.bso = all\n"), 0);
    use_daemon(&m);
    joule_bso_spec *s = spec("remote-job", 6);
    joule_bso *b = NULL;
    assert_int_equal(joule_bso_open(s, NULL, &b), 0);
    assert_int_equal(recurrence(b), 1); /* the default, 32 */
    assert_int_equal(recurrence(b), 1); /* down to 16 */
    assert_int_equal(recurrence(b), 2); /* up to 64: stopped; then 16 */
    int best;
    assert_int_equal(joule_bso_best(b, &best), 0);
    assert_int_equal(best, 16);
    int n = joule_bso_trial_count(b);
    assert_int_equal(n, 4);
    const char *status;
    int bs;
    assert_int_equal(joule_bso_trial(b, 2, NULL, &bs, &status, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bs, 64);
    assert_string_equal(status, "stopped");
    joule_bso_close(b);

    /* Processes on other nodes would do the same: three at once here. */
    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        if ((pids[i] = fork()) == 0) {
            joule_bso *c = NULL;
            if (joule_bso_open(s, NULL, &c) != 0)
                _exit(1);
            for (int r = 0; r < 4; r++)
                if (recurrence(c) < 0)
                    _exit(2);
            joule_bso_close(c);
            _exit(0);
        }
    for (int i = 0; i < 3; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    /* The jobs live in the daemon's database: read it directly. */
    unsetenv("JOULE_DAEMON");
    char db[600];
    snprintf(db, sizeof(db), "%s/joule.db", m.state_dir);
    joule_bso *local = NULL;
    assert_int_equal(joule_bso_attach("remote-job", db, &local), 0);
    n = joule_bso_trial_count(local);
    int reached = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(joule_bso_trial(local, i, NULL, NULL, &status, NULL, NULL, NULL, NULL), 0);
        assert_string_not_equal(status, "running");
        reached += !strcmp(status, "reached");
    }
    assert_int_equal(reached, 3 + 12);
    joule_bso_close(local);
    joule_bso_spec_destroy(s);
    dm_stop(&m);
}

static void expect(const struct dm *m, const char *method, const char *path, const char *body,
                   int status, const char *needle)
{
    char *out = NULL;
    int got = dm_send(m, method, path, body, &out);
    if (got != status || !out || !strstr(out, needle))
        fail_msg("%s %s %s: %d %s, wanted %d with '%s'", method, path, body ? body : "", got,
                 out ? out : "(none)", status, needle);
    free(out);
}

static void test_bad_requests_lose_nothing(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, gpu, "scope.bso = all\n"), 0);
    use_daemon(&m);
    joule_bso_spec *s = spec("guarded", 6);
    joule_bso *b = NULL;
    assert_int_equal(joule_bso_open(s, NULL, &b), 0);
    int trial, bs, v;
    assert_int_equal(joule_bso_next(b, &trial, &bs), 0);
    assert_int_equal(joule_bso_epoch(b, trial, 1, 10, 3000, 0.2, &v), 0);
    char *before = NULL;
    assert_int_equal(joule_bso_state_json(b, &before), 0);

    expect(&m, "POST", "/v1/bso/jobs", "{\"job\": \"x\"", 400, "not valid JSON");
    expect(&m, "POST", "/v1/bso/jobs", "{\"job\": \"x\", \"color\": 1}", 400, "color");
    expect(&m, "POST", "/v1/bso/jobs", "{\"job\": \"x\", \"batch_sizes\": [8]}", 400,
           "bad job spec");
    char *other = NULL;
    joule_bso_spec *s2 = spec("guarded", 9);
    joule_bso_spec_to_json(s2, &other);
    expect(&m, "POST", "/v1/bso/jobs", other, 409, "max_epochs");
    free(other);
    joule_bso_spec_destroy(s2);
    expect(&m, "GET", "/v1/bso/jobs/nosuch", NULL, 404, "no batch-size job 'nosuch'");
    expect(&m, "POST", "/v1/bso/jobs/guarded/epochs", "{\"trial\": 1, \"epoch\": 2}", 400,
           "time_s");
    expect(&m, "POST", "/v1/bso/jobs/guarded/epochs",
           "{\"trial\": 99, \"epoch\": 2, \"time_s\": 1, \"energy_j\": 1, \"metric\": 0}", 404,
           "no trial 99");
    expect(&m, "POST", "/v1/bso/jobs/guarded/epochs",
           "{\"trial\": 1, \"epoch\": 2, \"time_s\": 5, \"energy_j\": 1, \"metric\": 0}", 400,
           "cannot shrink");
    expect(&m, "POST", "/v1/bso/jobs/guarded/end",
           "{\"trial\": 1, \"time_s\": 20, \"energy_j\": 6000, \"converged\": \"yes\"}", 400,
           "converged");
    expect(&m, "POST", "/v1/bso/jobs/guarded/trials?x=1", NULL, 400, "x");
    expect(&m, "DELETE", "/v1/bso/jobs/guarded", NULL, 405, "allowed: GET");
    expect(&m, "GET", "/v1/bso/jobs/%ZZ", NULL, 404, "no batch-size job");

    char *after = NULL;
    assert_int_equal(joule_bso_state_json(b, &after), 0);
    assert_string_equal(before, after);
    free(before);
    free(after);
    joule_bso_close(b);
    joule_bso_spec_destroy(s);
    dm_stop(&m);
}

static void test_needs_the_bso_scope(void **state)
{
    (void)state;
    struct dm m;
    assert_int_equal(dm_start(&m, gpu, "scope.read = all\n"), 0);
    expect(&m, "POST", "/v1/bso/jobs", "{}", 403, "needs scope 'bso'");
    /* Over TCP a token with the scope works, one without does not. */
    char *tok = dm_token(&m, "ci", "bso", "1h");
    char *ro = dm_token(&m, "ci", "read", "1h");
    assert_non_null(tok);
    assert_non_null(ro);
    char *out = NULL;
    assert_int_equal(dm_tcp(&m, ro, "GET", "/v1/bso/jobs/j", NULL, &out), 403);
    free(out);
    assert_int_equal(dm_tcp(&m, tok, "GET", "/v1/bso/jobs/j", NULL, &out), 404);
    free(out);
    free(tok);
    free(ro);
    dm_stop(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_through_jouled),
        cmocka_unit_test(test_bad_requests_lose_nothing),
        cmocka_unit_test(test_needs_the_bso_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
