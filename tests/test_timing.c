/* Learning a reading's update timing (src/core/timing.c) from synthetic
 * sources read at dithered times: periodic ones are learned and every
 * update they make falls inside the range the model gives for it, with
 * jitter and with drift; sources that change irregularly or faster than
 * they are read are told apart. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <joule/joule.h>

#include "core/timing.h"

#define MS 1000000LL

/* A source that updates at its own instants: update k at at[k]. */
struct source {
    int64_t at[20000];
    int n;
};

static void periodic(struct source *s, int64_t phase, double period_ns, double jitter_ns,
                     double drift_ppm, unsigned *seed)
{
    s->n = 0;
    double p = period_ns;
    for (int k = 0; k < 20000; k++) {
        double j = jitter_ns * (2.0 * rand_r(seed) / RAND_MAX - 1.0);
        s->at[s->n++] = phase + (int64_t)(k * p + j);
        p *= 1 + drift_ppm * 1e-6 / 1000; /* the period creeps */
    }
}

/* The value a read at t sees: how many updates happened by then. */
static uint64_t value_at(const struct source *s, int64_t t)
{
    int lo = 0, hi = s->n;
    while (lo < hi) {
        int m = (lo + hi) / 2;
        if (s->at[m] <= t)
            lo = m + 1;
        else
            hi = m;
    }
    return (uint64_t)lo;
}

/* Reads every gap_ns ± 40 % for duration_ns (each read takes 2 µs and
 * samples in its middle) and checks, after learning, that the update
 * each read's value came from lies in the range the model gives. Returns
 * the share of reads whose update was inside. */
static double follow(struct timing *t, const struct source *s, double gap_ns,
                     int64_t duration_ns, unsigned *seed)
{
    int64_t now = s->at[0] + 3 * MS;
    int inside = 0, checked = 0;
    while (now < s->at[0] + duration_ns) {
        now += (int64_t)(gap_ns * (0.6 + 0.8 * rand_r(seed) / RAND_MAX));
        uint64_t v = value_at(s, now + 1000);
        timing_observe(t, now, now + 2000, v);
        if (t->state == JOULE_TIMING_PERIODIC && v > 0) {
            int64_t est, lo, hi, truth = s->at[v - 1];
            timing_last_change(t, &est, &lo, &hi);
            checked++;
            inside += truth >= lo && truth <= hi;
        }
    }
    return checked ? (double)inside / checked : 0;
}

static void learns_a_steady_counter(void **state)
{
    (void)state;
    static struct source s;
    unsigned seed = 1;
    periodic(&s, 1000 * MS + 37 * MS, 100e6, 0, 0, &seed);
    struct timing t;
    timing_init(&t, 100e6);
    double share = follow(&t, &s, 5e6, 20000 * MS, &seed);
    assert_int_equal(t.state, JOULE_TIMING_PERIODIC);
    assert_true(fabs(t.period_ns - 100e6) < 20e3);
    assert_true(t.delta_ns < 1 * MS); /* reads every 5 ms, dithered */
    assert_true(share == 1.0);
}

static void learns_a_slower_counter_than_nominal(void **state)
{
    (void)state;
    static struct source s;
    unsigned seed = 2;
    periodic(&s, 1000 * MS, 20e6, 0, 0, &seed); /* 20 ms, nominal says 100 */
    struct timing t;
    timing_init(&t, 100e6);
    double share = follow(&t, &s, 3e6, 5000 * MS, &seed);
    assert_int_equal(t.state, JOULE_TIMING_PERIODIC);
    assert_true(fabs(t.period_ns - 20e6) < 20e3);
    assert_true(share == 1.0);
}

static void jitter_widens_the_model(void **state)
{
    (void)state;
    static struct source s;
    unsigned seed = 3;
    periodic(&s, 1000 * MS, 100e6, 0.5 * MS, 0, &seed); /* ±0.5 ms */
    struct timing t;
    timing_init(&t, 100e6);
    double share = follow(&t, &s, 1e6, 20000 * MS, &seed);
    assert_int_equal(t.state, JOULE_TIMING_PERIODIC);
    assert_true(t.delta_ns >= 0.2 * MS); /* not narrower than the jitter allows */
    assert_true(share >= 0.99);
}

static void drift_is_followed(void **state)
{
    (void)state;
    static struct source s;
    unsigned seed = 4;
    periodic(&s, 1000 * MS, 100e6, 0, 200, &seed); /* the period grows 200 ppm/s */
    struct timing t;
    timing_init(&t, 100e6);
    double share = follow(&t, &s, 2e6, 60000 * MS, &seed);
    assert_int_equal(t.state, JOULE_TIMING_PERIODIC);
    assert_true(share >= 0.99);
}

static void irregular_changes_are_not_periodic(void **state)
{
    (void)state;
    static struct source s;
    unsigned seed = 5;
    s.n = 0;
    int64_t at = 1000 * MS;
    for (int k = 0; k < 20000; k++) {
        at += (int64_t)(30 * MS + 140.0 * MS * rand_r(&seed) / RAND_MAX);
        s.at[s.n++] = at;
    }
    struct timing t;
    timing_init(&t, 100e6);
    follow(&t, &s, 2e6, 20000 * MS, &seed);
    assert_int_equal(t.state, JOULE_TIMING_APERIODIC);
    /* Without a model, a change is placed where the reads bracket it. */
    int64_t est, lo, hi;
    timing_last_change(&t, &est, &lo, &hi);
    assert_true(hi - lo < 5 * MS);
    assert_true(timing_mean_gap_ns(&t) > 80e6 && timing_mean_gap_ns(&t) < 120e6);
}

static void changes_at_every_read_are_continuous(void **state)
{
    (void)state;
    static struct source s;
    unsigned seed = 6;
    periodic(&s, 1000 * MS, 1e6, 0, 0, &seed); /* every 1 ms, read every 5 */
    struct timing t;
    timing_init(&t, 100e6);
    follow(&t, &s, 5e6, 10000 * MS, &seed);
    assert_int_equal(t.state, JOULE_TIMING_CONTINUOUS);
    assert_true(timing_typical_bracket_ns(&t) > 2 * MS);
}

static void a_first_value_reaches_back_one_period(void **state)
{
    (void)state;
    struct timing t;
    timing_init(&t, 100e6);
    timing_observe(&t, 5000 * MS, 5000 * MS + 2000, 7);
    int64_t est, lo, hi;
    timing_last_change(&t, &est, &lo, &hi);
    /* Never seen changing: at most 1.5 nominal periods old. */
    assert_true(hi == 5000 * MS + 2000);
    assert_true(lo == hi - 150 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(learns_a_steady_counter),
        cmocka_unit_test(learns_a_slower_counter_than_nominal),
        cmocka_unit_test(jitter_widens_the_model),
        cmocka_unit_test(drift_is_followed),
        cmocka_unit_test(irregular_changes_are_not_periodic),
        cmocka_unit_test(changes_at_every_read_are_continuous),
        cmocka_unit_test(a_first_value_reaches_back_one_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
