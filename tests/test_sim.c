/* The simulated GPU model on a synthetic clock: counter vs. integral of
 * power, the cap invariant, DVFS, counter update period, trace replay. */
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

#include "devices/sim/sim_model.h"
#include "test_support.h"

#define MS 1000000LL
#define S 1000000000LL

static void counter_matches_integral_over_10s(void **state)
{
    (void)state;
    const char *keys[] = {"v100", "a100", "h100"};
    for (int k = 0; k < 3; k++) {
        struct sim_gpu g;
        sim_gpu_init(&g, sim_preset_find(keys[k]), NULL, 7 + k, 0);
        sim_gpu_set_load(&g, 0, 0.7);
        uint64_t c0 = sim_gpu_counter_mj(&g, 0);
        double integral = 0;
        for (int64_t t = 0; t < 10 * S; t += MS) {
            if (t == 4 * S)
                sim_gpu_set_load(&g, t, 0.2);
            if (t == 7 * S + 300 * MS)
                sim_gpu_set_power_limit(&g, t, g.p.pl_min_w);
            /* instant power is constant over each 1 ms tick */
            integral += sim_gpu_instant_power_w(&g, t + MS / 2) * 1e-3;
        }
        double counted = (double)(sim_gpu_counter_mj(&g, 10 * S) - c0) / 1000.0;
        assert_true(integral > 100.0);
        assert_true(fabs(counted - integral) / integral < 0.001);
        /* And the exact energy is the integral to rounding. */
        assert_true(fabs(sim_gpu_energy_j(&g, 10 * S) - integral) < 1e-6 * integral);
    }
}

static void average_power_never_exceeds_cap(void **state)
{
    (void)state;
    for (int p = 0; p < sim_preset_count(); p++) {
        const struct sim_preset *pre = sim_preset_at(p);
        double caps[] = {pre->pl_min_w, (pre->pl_min_w + pre->pl_max_w) / 2, pre->pl_max_w};
        double loads[] = {0.3, 0.6, 1.0};
        for (int c = 0; c < 3; c++)
            for (int l = 0; l < 3; l++) {
                struct sim_gpu g;
                sim_gpu_init(&g, pre, NULL, 1000 + p, 0);
                sim_gpu_set_power_limit(&g, 0, caps[c]);
                sim_gpu_set_load(&g, 0, loads[l]);
                double worst = 0;
                for (int64_t t = 1 * S; t < 4 * S; t += MS / 3)
                    worst = fmax(worst, sim_gpu_average_power_w(&g, t));
                assert_true(worst <= caps[c]);
            }
    }
}

static void lower_cap_cuts_power_and_speed(void **state)
{
    (void)state;
    const struct sim_preset *pre = sim_preset_find("h100");
    double last_power = 1e9, last_speed = 1e9;
    for (double cap = pre->pl_max_w; cap >= pre->pl_min_w; cap -= 50) {
        struct sim_gpu g;
        sim_gpu_init(&g, pre, NULL, 3, 0);
        sim_gpu_set_load(&g, 0, 1.0);
        sim_gpu_set_power_limit(&g, 0, cap);
        double power = sim_gpu_average_power_w(&g, 2 * S);
        double speed = sim_gpu_work(&g, 2 * S) / 2.0;
        assert_true(power <= cap);
        assert_true(power < last_power + 1e-9);
        assert_true(speed < last_speed + 1e-12);
        if (cap < pre->tdp_w) { /* capped: DVFS lands just under the cap */
            assert_true(power > cap * 0.98);
            assert_true(sim_gpu_throttle(&g, 2 * S) & (1ull << 2));
        }
        last_power = power;
        last_speed = speed;
    }
    assert_true(last_speed < 0.9); /* 200 W of 700 W is clearly slower */
}

static void counter_updates_every_100ms(void **state)
{
    (void)state;
    struct sim_gpu g;
    sim_gpu_init(&g, sim_preset_find("a100"), NULL, 5, 0);
    sim_gpu_set_load(&g, 0, 1.0);
    uint64_t a = sim_gpu_counter_mj(&g, 1 * S + 1 * MS);
    uint64_t b = sim_gpu_counter_mj(&g, 1 * S + 99 * MS);
    uint64_t c = sim_gpu_counter_mj(&g, 1 * S + 100 * MS);
    assert_int_equal(a, b);
    assert_true(c > b);
    /* one update of a 400 W GPU is about 40 J */
    assert_true(fabs((double)(c - b) / 1000.0 - 40.0) < 1.0);
}

static void idle_draws_idle_power(void **state)
{
    (void)state;
    struct sim_gpu g;
    sim_gpu_init(&g, sim_preset_find("v100"), NULL, 9, 0);
    assert_true(fabs(sim_gpu_average_power_w(&g, 3 * S) - g.p.idle_w) < 0.01);
    assert_true(sim_gpu_throttle(&g, 3 * S) & 1ull);
    assert_true(fabs(sim_gpu_work(&g, 3 * S)) < 1e-12);
}

static void schedule_changes_load_over_time(void **state)
{
    (void)state;
    struct sim_gpu g;
    int pos = -1;
    sim_gpu_init(&g, sim_preset_find("h100"), NULL, 1, 0);
    assert_int_equal(sim_gpu_set_schedule(&g, "0:0.1,2:0.9,8:0.1", &pos), 0);
    double e2 = sim_gpu_energy_j(&g, 2 * S), e8 = sim_gpu_energy_j(&g, 8 * S);
    assert_true(fabs(e2 - 2 * (70 + 0.1 * 630)) < 0.1);
    assert_true(fabs((e8 - e2) - 6 * (70 + 0.9 * 630)) < 0.1);
    assert_int_equal(sim_gpu_set_schedule(&g, "0:0.1,2", &pos), -1);
    assert_int_equal(sim_gpu_set_schedule(&g, "1.5", &pos), -1);
    assert_int_equal(sim_gpu_set_schedule(&g, "3:0.5,1:0.2", &pos), -1);
    assert_int_equal(sim_gpu_set_schedule(&g, "0.25", &pos), 0);
    /* times are finite seconds (nan passed every comparison) */
    assert_int_equal(sim_gpu_set_schedule(&g, "nan:0.5", &pos), -1);
    assert_int_equal(sim_gpu_set_schedule(&g, "0:0.1,inf:0.5", &pos), -1);
}

static void trace_mode_replays_measurements(void **state)
{
    (void)state;
    struct sim_trace t;
    assert_int_equal(sim_trace_load(JOULE_TEST_DATA_DIR, "v100/imagenet/resnet50/256", &t), 0);
    assert_true(t.n >= 5);
    struct sim_preset pre = *sim_preset_find("v100");
    pre.pl_min_w = t.pl_w[0];
    pre.pl_max_w = pre.pl_default_w = pre.tdp_w = t.pl_w[t.n - 1];
    for (int i = 0; i < t.n; i++) {
        struct sim_gpu g;
        sim_gpu_init(&g, &pre, &t, 11, 0);
        sim_gpu_set_power_limit(&g, 0, t.pl_w[i]);
        sim_gpu_set_load(&g, 0, 1.0);
        double e = sim_gpu_energy_j(&g, 10 * S), epochs = sim_gpu_work(&g, 10 * S);
        assert_true(fabs(e / 10.0 - t.avg_power_w[i]) / t.avg_power_w[i] < 1e-3);
        assert_true(fabs(epochs - 10.0 / t.time_per_epoch_s[i]) * t.time_per_epoch_s[i] / 10.0 < 1e-9);
    }
    /* Bad specs name the problem. */
    assert_int_not_equal(sim_trace_load(JOULE_TEST_DATA_DIR, "v100/imagenet/resnet50", &t), 0);
    assert_int_not_equal(sim_trace_load(JOULE_TEST_DATA_DIR, "v100/imagenet/resnet50/7", &t), 0);
    assert_int_not_equal(sim_trace_load(JOULE_TEST_DATA_DIR, "h100/imagenet/resnet50/256", &t), 0);
    /* Two rows for one limit (interpolating between them divided by 0)
     * and non-finite numbers are errors naming the line. */
    char *dir = ts_mkdtemp();
    const char *head = "dataset,network,batch_size,optimizer,power_limit,time_per_epoch,"
                       "average_power\n";
    char text[1024];
    snprintf(text, sizeof text, "%sd,n,8,adam,100,10,90\nd,n,8,adam,150,8,130\n"
                                "d,n,8,adam,100,11,95\n", head);
    ts_write(dir, "zeus-nsdi23/summary_power_v100.csv", text);
    assert_int_equal(sim_trace_load(dir, "v100/d/n/8", &t), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "line 4: a second row for d/n/8/adam at 100 W"));
    snprintf(text, sizeof text, "%sd,n,8,adam,100,inf,90\n", head);
    ts_write(dir, "zeus-nsdi23/summary_power_v100.csv", text);
    assert_int_equal(sim_trace_load(dir, "v100/d/n/8", &t), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "line 2: power limit, time per epoch"));
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_matches_integral_over_10s),
        cmocka_unit_test(average_power_never_exceeds_cap),
        cmocka_unit_test(lower_cap_cuts_power_and_speed),
        cmocka_unit_test(counter_updates_every_100ms),
        cmocka_unit_test(idle_draws_idle_power),
        cmocka_unit_test(schedule_changes_load_over_time),
        cmocka_unit_test(trace_mode_replays_measurements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
