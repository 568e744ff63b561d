/* The ROCm SMI backend against its test double (tests/fakes/
 * fake_rocm_smi.c), driven by the same simulated GPU model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "fakes/fake_harness.h"

static const char *two_gpus =
    "{\"record\": \"@REC@\", \"state\": \"@STATE@\", \"gpus\": ["
    " {\"model\": \"a100\", \"name\": \"AMD Instinct MI250X (simulated)\", \"load\": 0.5,"
    "  \"pci_bus_id\": \"0000:c1:00.0\"},"
    " {\"model\": \"a100\", \"name\": \"AMD Instinct MI250X (simulated)\", \"load\": 0.8}]}";

static void test_discovery_and_energy(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_ROCM, two_gpus);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, 20, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    for (int i = 0; i < 2; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        assert_string_equal(joule_device_backend(d), "rocm_smi");
        assert_string_equal(joule_device_name(d), "AMD Instinct MI250X (simulated)");
        uint32_t want = JOULE_CAP_ENERGY_COUNTER | JOULE_CAP_POWER_AVERAGE |
                        JOULE_CAP_TEMPERATURE | JOULE_CAP_POWER_LIMIT | JOULE_CAP_SET_POWER_LIMIT;
        assert_int_equal(joule_device_caps(d) & want, want);
        assert_false(joule_device_caps(d) & JOULE_CAP_LOCK_CLOCKS);
        assert_true(fabs(joule_device_energy_resolution_uj(d) - 15.259) < 1e-3);
        assert_string_equal(joule_device_note(d), "");
    }
    assert_string_equal(ctx->devs[0]->pci_bus_id, "0000:c1:00.0");
    assert_string_equal(joule_device_uuid(joule_device_at(ctx, 1)), "0x5a1e000000000002");

    double (*energy)(int) = (double (*)(int))fh_hook(&h, "fake_energy_j");
    assert_non_null(energy);
    double e0[2], e1[2];
    for (int i = 0; i < 2; i++)
        e0[i] = energy(i);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    usleep(250000);
    for (int i = 0; i < 2; i++)
        e1[i] = energy(i);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    for (int i = 0; i < 2; i++) {
        int q = -1;
        double e = joule_result_energy_j(r, i, &q, NULL);
        assert_int_equal(q, JOULE_QUALITY_EXACT);
        /* The model's true energy, read a few µs away from the edges. */
        double truth = e1[i] - e0[i];
        assert_true(fabs(e - truth) < 0.01 * truth + 0.05);
    }
    joule_result_free(r);

    int c = 0;
    assert_int_equal(joule_gpu_temperature_c(ctx, 1, &c), 0);
    assert_int_equal(c, 70); /* 32 + 48 × 0.8 = 70.4 */
    double w = 0;
    assert_int_equal(joule_device_power_w(ctx, 0, &w), 0);
    assert_true(w > 200 && w < 240); /* 55 + 0.5 × 345 = 227.5 W */
    joule_close(ctx);
    assert_int_equal(fh_calls(&h, "rsmi_init"), 1);
    assert_int_equal(fh_calls(&h, "rsmi_shut_down"), 1);
    fh_finish(&h);
}

/* A GPU that answers only rsmi_dev_power_get (no average, as on newer
 * parts) still reports power, and the counter check still runs on it. */
static void test_power_get_only(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_ROCM,
             "{\"record\": \"@REC@\", \"gpus\": [{\"model\": \"a100\", \"load\": 0.5,"
             " \"power_ave\": false},"
             " {\"model\": \"a100\", \"load\": 0.5, \"power_ave\": false,"
             " \"counter_scale\": 1000}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, 20, 0, &ctx), 0);
    const joule_device *good = joule_device_at(ctx, 0), *bad = joule_device_at(ctx, 1);
    assert_true(joule_device_caps(good) & JOULE_CAP_POWER_INSTANT);
    assert_true(joule_device_caps(good) & JOULE_CAP_ENERGY_COUNTER);
    assert_false(joule_device_caps(bad) & JOULE_CAP_ENERGY_COUNTER);
    assert_non_null(strstr(joule_device_note(bad), "disagrees"));
    double w = 0;
    assert_int_equal(joule_device_power_w(ctx, 0, &w), 0);
    /* A100 at half load: 56 W idle + 0.5 x (400 - 56) W, +-3 % noise. */
    if (w < 200 || w > 250)
        fail_msg("power from rsmi_dev_power_get: %.1f W", w);
    assert_true(fh_calls(&h, "rsmi_dev_power_get") >= 1);
    joule_close(ctx);
    fh_finish(&h);
}

/* A counter that disagrees with average power by more than 10x is not
 * trusted: the backend integrates power and says why. */
static void test_broken_counter(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_ROCM,
             "{\"gpus\": [{\"model\": \"a100\", \"load\": 0.5, \"counter_scale\": 1000},"
             " {\"model\": \"a100\", \"load\": 0.5, \"counter_scale\": 0.001},"
             " {\"model\": \"a100\", \"load\": 0.5, \"counter_scale\": 3}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, 20, 0, &ctx), 0);
    for (int i = 0; i < 2; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        assert_false(joule_device_caps(d) & JOULE_CAP_ENERGY_COUNTER);
        assert_non_null(strstr(joule_device_note(d), "disagrees with average power"));
        assert_non_null(strstr(joule_device_note(d), "integrating power"));
    }
    /* 3x off is within the 10x tolerance: still trusted. */
    assert_true(joule_device_caps(joule_device_at(ctx, 2)) & JOULE_CAP_ENERGY_COUNTER);

    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    usleep(300000);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    int q = -1;
    double e = joule_result_energy_j(r, 0, &q, NULL);
    assert_int_equal(q, JOULE_QUALITY_APPROX);
    double expect = 227.5 * joule_result_time_s(r);
    assert_true(fabs(e - expect) < 0.1 * expect);
    joule_result_free(r);
    joule_close(ctx);
    fh_finish(&h);
}

static void test_power_cap(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_ROCM, two_gpus);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    double cur, mn, mx, def, enf;
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, 0, &cur, &mn, &mx, &def, &enf), 0);
    assert_true(cur == 400 && mn == 100 && mx == 400 && def == 400);
    /* Outside the range: the error lists it. */
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 50), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "100.0-400.0 W"));
    /* Not privileged. */
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 250), JOULE_EPERM);
    assert_non_null(strstr(joule_last_error(), "RSMI_STATUS_PERMISSION"));
    assert_non_null(strstr(joule_last_error(), "root"));
    joule_close(ctx);

    fh_config(&h, "{\"privileged\": true, \"state\": \"@STATE@\", \"gpus\": [{\"model\": \"a100\"}]}");
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_gpu_set_power_limit_w(ctx, 0, 250), 0);
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, 0, &cur, NULL, NULL, NULL, NULL), 0);
    assert_true(cur == 250);
    assert_true(fh_state(&h, 0, "pl_w") == 250);
    assert_int_equal(joule_restore(ctx), 0);
    assert_true(fh_state(&h, 0, "pl_w") == 400);
    joule_close(ctx);
    fh_finish(&h);
}

static void test_visible_devices(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_ROCM, two_gpus);
    setenv("HIP_VISIBLE_DEVICES", "1", 1);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_int_equal(ctx->devs[0]->backend_index, 1);
    joule_close(ctx);
    setenv("HIP_VISIBLE_DEVICES", "x", 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "HIP_VISIBLE_DEVICES"));
    unsetenv("HIP_VISIBLE_DEVICES");
    fh_finish(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery_and_energy),
        cmocka_unit_test(test_broken_counter),
        cmocka_unit_test(test_power_get_only),
        cmocka_unit_test(test_power_cap),
        cmocka_unit_test(test_visible_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
