/* The NVML backend against a double of an old driver's library: only the
 * first version of each symbol (nvmlInit, nvmlDeviceGetCount, ...), no
 * field values, no architecture query, no memory locked clocks, no MIG. */
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
#include "devices/sim/sim_model.h"
#include "fakes/fake_harness.h"

static void test_loads_with_old_symbols(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML_OLD,
             "{\"clock\": \"manual\", \"record\": \"@REC@\", \"gpus\": ["
             " {\"model\": \"v100\", \"load\": 0.5, \"counter_phase_ms\": 0},"
             " {\"model\": \"p100\", \"load\": 0.5}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open_manual_clock(&ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    const joule_device *v100 = joule_device_at(ctx, 0);
    assert_string_equal(joule_device_name(v100), "Tesla V100-SXM2-32GB (simulated)");
    assert_string_equal(ctx->devs[0]->pci_bus_id, "0000:10:00.0"); /* v1 busId */
    assert_string_equal(ctx->devs[0]->arch, "");                   /* no query */
    uint32_t caps = joule_device_caps(v100);
    assert_true(caps & JOULE_CAP_ENERGY_COUNTER);
    assert_true(caps & JOULE_CAP_POWER_INSTANT);
    assert_false(caps & JOULE_CAP_POWER_MEMORY);
    assert_true(caps & JOULE_CAP_THROTTLE);
    assert_non_null(strstr(joule_device_note(v100), "nvmlDeviceGetPowerUsage"));

    /* Windows are still the counter's plain difference. */
    fh_set_time(&h, 0.25);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    usleep(110000);
    fh_set_time(&h, 1.75);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    struct sim_gpu g;
    sim_gpu_init(&g, sim_preset_find("v100"), NULL, 42, 0);
    sim_gpu_set_load(&g, 0, 0.5);
    uint64_t c0 = sim_gpu_counter_mj(&g, 250000000LL), c1 = sim_gpu_counter_mj(&g, 1750000000LL);
    int q = -1;
    assert_true(joule_result_energy_j(r, 0, &q, NULL) == (double)((c1 - c0) * 1000ull) / 1e6);
    assert_true(q == JOULE_QUALITY_EXACT || q == JOULE_QUALITY_APPROX);
    assert_int_equal(joule_result_energy_j(r, 1, &q, NULL) >= 0, 1);
    assert_int_equal(q, JOULE_QUALITY_APPROX); /* p100: integrated power */
    joule_result_free(r);

    double w = 0;
    assert_int_equal(joule_device_power_w(ctx, 1, &w), 0);
    assert_true(w > 100 && w < 180); /* 140 W mean */
    uint64_t mask = 1;
    assert_int_equal(joule_gpu_throttle_reasons(ctx, 0, &mask), 0);
    /* Memory locked clocks need a newer driver. */
    assert_int_equal(joule_gpu_lock_memory_clocks_mhz(ctx, 0, 400, 877), JOULE_ENOTSUP);
    assert_non_null(strstr(joule_last_error(), "nvmlDeviceSetMemoryLockedClocks"));
    joule_close(ctx);

    assert_int_equal(fh_calls(&h, "nvmlInit -> 0"), 1);
    assert_true(fh_calls(&h, "nvmlDeviceGetCount gpu") == 0);
    assert_true(fh_calls(&h, "nvmlDeviceGetCount ") >= 1);
    assert_true(fh_calls(&h, "nvmlDeviceGetHandleByIndex gpu=1") >= 1);
    assert_true(fh_calls(&h, "nvmlDeviceGetPciInfo gpu=0") >= 1);
    assert_true(fh_calls(&h, "nvmlDeviceGetCurrentClocksThrottleReasons gpu=0") >= 1);
    assert_true(fh_calls(&h, "nvmlDeviceGetPowerUsage gpu=1") >= 1);
    assert_int_equal(fh_calls(&h, "_v2"), 0);
    fh_finish(&h);
}

/* Without the MIG functions a MIG entry is a clear "not supported". */
static void test_mig_unsupported(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML_OLD, "{\"gpus\": [{\"model\": \"a100\"}]}");
    setenv("CUDA_VISIBLE_DEVICES", "MIG-4a1b2c3d-0000-5000-9000-000000000000", 1);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), JOULE_ENODEV);
    assert_non_null(strstr(joule_last_error(), "MIG instance"));
    assert_non_null(strstr(joule_last_error(), "parent GPU"));
    /* The old CUDA 11.0 form names its parent and needs no lookup. */
    setenv("CUDA_VISIBLE_DEVICES", "MIG-GPU-fa4e0000/1/0", 1);
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_non_null(strstr(joule_device_note(joule_device_at(ctx, 0)), "whole GPU"));
    joule_close(ctx);
    unsetenv("CUDA_VISIBLE_DEVICES");
    fh_finish(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_with_old_symbols),
        cmocka_unit_test(test_mig_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
