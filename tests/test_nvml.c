/* The NVML backend, loaded through the real dlopen path against the NVML
 * test double (tests/fakes/fake_nvml.c), which answers from the simulated
 * GPU model. */
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
#include "core/result.h"
#include "devices/sim/sim_model.h"
#include "fakes/fake_harness.h"

#define UUID0 "GPU-11111111-aaaa-4000-8000-000000000000"
#define UUID1 "GPU-22222222-bbbb-4000-8000-000000000001"
#define UUID2 "GPU-33333333-cccc-4000-8000-000000000002"

static const char *three_gpus =
    "{\"record\": \"@REC@\", \"state\": \"@STATE@\", \"gpus\": ["
    " {\"model\": \"h100\", \"uuid\": \"" UUID0 "\", \"load\": 0.6},"
    " {\"model\": \"a100\", \"uuid\": \"" UUID1 "\"},"
    " {\"model\": \"p100\", \"uuid\": \"" UUID2 "\", \"load\": 0.5}],"
    " \"mig\": [{\"uuid\": \"MIG-9f0e1d2c-0000-5000-9000-000000000001\", \"parent\": 1}]}";

static struct joule_device *dev(joule_ctx *ctx, int i) { return ctx->devs[i]; }

static void test_discovery(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, three_gpus);
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 3);
    const char *uuids[] = {UUID0, UUID1, UUID2};
    const char *arch[] = {"Hopper", "Ampere", "Pascal"};
    for (int i = 0; i < 3; i++) {
        const joule_device *d = joule_device_at(ctx, i);
        assert_int_equal(joule_device_kind(d), JOULE_KIND_GPU);
        assert_string_equal(joule_device_backend(d), "nvml");
        assert_string_equal(joule_device_uuid(d), uuids[i]);
        assert_int_equal(joule_device_index(d), i);
        assert_string_equal(dev(ctx, i)->arch, arch[i]);
        assert_int_equal(dev(ctx, i)->backend_index, i);
        assert_true(dev(ctx, i)->pci_bus_id[0] != '\0');
    }
    assert_string_equal(joule_device_name(joule_device_at(ctx, 0)),
                        "NVIDIA H100 80GB HBM3 (simulated)");
    assert_string_equal(dev(ctx, 0)->pci_bus_id, "00000000:10:00.0");
    uint32_t h100 = joule_device_caps(joule_device_at(ctx, 0));
    uint32_t p100 = joule_device_caps(joule_device_at(ctx, 2));
    uint32_t want = JOULE_CAP_ENERGY_COUNTER | JOULE_CAP_POWER_INSTANT | JOULE_CAP_POWER_AVERAGE |
                    JOULE_CAP_POWER_MEMORY | JOULE_CAP_TEMPERATURE | JOULE_CAP_CLOCKS |
                    JOULE_CAP_THROTTLE | JOULE_CAP_POWER_LIMIT | JOULE_CAP_SET_POWER_LIMIT |
                    JOULE_CAP_LOCK_CLOCKS | JOULE_CAP_PERSISTENCE;
    assert_int_equal(h100 & want, want);
    assert_false(h100 & JOULE_CAP_SIMULATED);
    assert_false(joule_device_caps(joule_device_at(ctx, 1)) & JOULE_CAP_POWER_MEMORY);
    /* Pre-Volta: no counter, no locked clocks, and the note says so. */
    assert_false(p100 & JOULE_CAP_ENERGY_COUNTER);
    assert_false(p100 & JOULE_CAP_LOCK_CLOCKS);
    assert_true(p100 & JOULE_CAP_POWER_INSTANT);
    assert_non_null(strstr(joule_device_note(joule_device_at(ctx, 2)), "no energy counter"));
    assert_null(dev(ctx, 2)->ops->read_energy_uj);
    assert_non_null(dev(ctx, 0)->ops->read_energy_uj);
    assert_true(joule_device_energy_resolution_uj(joule_device_at(ctx, 0)) == 1000.0);
    assert_int_equal(dev(ctx, 0)->counter_range_uj, 0);
    assert_int_equal(dev(ctx, 0)->max_power_mw, 700000);
    joule_close(ctx);

    /* The newest symbol versions were used, and NVML was shut down. */
    assert_int_equal(fh_calls(&h, "nvmlInit_v2 -> 0"), 1);
    assert_int_equal(fh_calls(&h, "nvmlInit -> "), 0);
    assert_true(fh_calls(&h, "nvmlDeviceGetCount_v2") >= 1);
    assert_int_equal(fh_calls(&h, "nvmlDeviceGetCount "), 0);
    assert_true(fh_calls(&h, "nvmlDeviceGetHandleByIndex_v2") >= 3);
    assert_true(fh_calls(&h, "nvmlDeviceGetPciInfo_v3") >= 3);
    /* Power came from field values in GPU scope; memory from MEMORY scope. */
    assert_true(fh_calls(&h, "nvmlDeviceGetFieldValues gpu=0 field=186 scope=0:0") >= 1);
    assert_true(fh_calls(&h, "nvmlDeviceGetFieldValues gpu=0 field=186 scope=2:0") >= 1);
    assert_int_equal(fh_calls(&h, "nvmlShutdown"), 1);
    fh_finish(&h);
}

/* Shared library state is reference-counted across contexts. */
static void test_two_contexts_share_init(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, three_gpus);
    joule_ctx *a = NULL, *b = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &a), 0);
    assert_int_equal(fh_open("gpu:1", -1, 0, &b), 0);
    assert_int_equal(joule_device_count(b), 1);
    joule_close(a);
    double w = 0;
    assert_int_equal(joule_device_power_w(b, 0, &w), 0);
    assert_true(w > 10);
    joule_close(b);
    assert_int_equal(fh_calls(&h, "nvmlInit_v2 -> 0"), 1);
    assert_int_equal(fh_calls(&h, "nvmlShutdown"), 1);
    fh_finish(&h);
}

/* With the double's manual clock and no edge correction, a window is
 * exactly the difference of the model's 100 ms mJ counter at its edges. */
static void test_window_exact(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"clock\": \"manual\", \"gpus\": [{\"model\": \"h100\", \"load\": 0.6,"
             " \"counter_phase_ms\": 0}, {\"model\": \"v100\", \"load\": 0.3,"
             " \"counter_phase_ms\": 0}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open_manual_clock(&ctx), 0);

    fh_set_time(&h, 1.05);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    usleep(120000); /* longer than the counter period in real time too */
    fh_set_time(&h, 3.37);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);

    const char *presets[] = {"h100", "v100"};
    const double loads[] = {0.6, 0.3};
    for (int i = 0; i < 2; i++) {
        struct sim_gpu g;
        sim_gpu_init(&g, sim_preset_find(presets[i]), NULL, 42 + (uint64_t)i, 0);
        sim_gpu_set_load(&g, 0, loads[i]);
        uint64_t c0 = sim_gpu_counter_mj(&g, 1050000000LL);
        uint64_t c1 = sim_gpu_counter_mj(&g, 3370000000LL);
        int quality = -1, status = -1;
        double e = joule_result_energy_j(r, i, &quality, &status);
        assert_int_equal(status, 0);
        assert_true(quality == JOULE_QUALITY_EXACT || quality == JOULE_QUALITY_APPROX);
        assert_true(e == (double)((c1 - c0) * 1000ull) / 1e6);
        assert_true(e > 100); /* 2.3 s of several hundred watts */
    }
    joule_result_free(r);
    joule_close(ctx);
    fh_finish(&h);
}

/* A pre-Volta GPU has no counter: the core integrates power (APPROX). */
static void test_pre_volta_integrates_power(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, "{\"gpus\": [{\"model\": \"p100\", \"load\": 0.5}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, 20, 0, &ctx), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    usleep(400000);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);
    int quality = -1;
    double e = joule_result_energy_j(r, 0, &quality, NULL);
    assert_int_equal(quality, JOULE_QUALITY_APPROX);
    /* p100: 30 W idle + 0.5 × 220 W = 140 W mean. */
    double expect = 140.0 * joule_result_time_s(r);
    assert_true(fabs(e - expect) < 0.1 * expect);
    joule_result_free(r);
    joule_close(ctx);
    fh_finish(&h);
}

/* GPU 1 is lost mid-window: it reports an error, GPU 0 its exact value. */
static void test_gpu_lost_mid_window(void **state)
{
    (void)state;
    struct fh h;
    /* Energy reads of gpu1 without a keeper: discovery probe, open, begin,
     * then the window end fails. */
    fh_start(&h, FH_NVML,
             "{\"clock\": \"manual\", \"record\": \"@REC@\", \"gpus\": ["
             " {\"model\": \"h100\", \"load\": 1.0, \"counter_phase_ms\": 0},"
             " {\"model\": \"h100\", \"load\": 1.0, \"counter_phase_ms\": 0}],"
             " \"errors\": [{\"function\": \"nvmlDeviceGetTotalEnergyConsumption\","
             " \"gpu\": 1, \"error\": \"GPU_IS_LOST\", \"after\": 3}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open_manual_clock(&ctx), 0);
    fh_set_time(&h, 0.5);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    usleep(110000);
    fh_set_time(&h, 2.5);
    joule_result *r = NULL;
    assert_int_equal(joule_window_end(ctx, "w", 0, &r), 0);

    int q = -1, st = -1;
    double e1 = joule_result_energy_j(r, 1, &q, &st);
    assert_int_equal(q, JOULE_QUALITY_ERROR);
    assert_int_equal(st, JOULE_EGPULOST);
    assert_true(isnan(e1));
    assert_non_null(strstr(r->dev[1].error, "GPU is lost"));
    assert_non_null(strstr(r->dev[1].error, "nvmlDeviceGetTotalEnergyConsumption"));

    struct sim_gpu g;
    sim_gpu_init(&g, sim_preset_find("h100"), NULL, 42, 0);
    sim_gpu_set_load(&g, 0, 1.0);
    uint64_t c0 = sim_gpu_counter_mj(&g, 500000000LL), c1 = sim_gpu_counter_mj(&g, 2500000000LL);
    double e0 = joule_result_energy_j(r, 0, &q, &st);
    assert_int_equal(st, 0);
    assert_true(q == JOULE_QUALITY_EXACT || q == JOULE_QUALITY_APPROX);
    assert_true(e0 == (double)((c1 - c0) * 1000ull) / 1e6);
    assert_true(joule_result_total_j(r, JOULE_KIND_GPU) == e0);
    joule_result_free(r);

    /* The lost GPU keeps failing, every call; the other keeps working. */
    int c;
    assert_int_equal(joule_gpu_temperature_c(ctx, 1, &c), JOULE_EGPULOST);
    assert_non_null(strstr(joule_last_error(), "fell off the bus"));
    assert_int_equal(joule_gpu_temperature_c(ctx, 0, &c), 0);
    joule_close(ctx);
    fh_finish(&h);
}

static void test_cuda_visible_devices(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, three_gpus);
    joule_ctx *ctx = NULL;

    /* Indices, in the order given. The models differ and CUDA_DEVICE_ORDER
     * is not PCI_BUS_ID, so CUDA may number them otherwise: a note says so. */
    static const char *order_note = "CUDA_DEVICE_ORDER is not PCI_BUS_ID";
    unsetenv("CUDA_DEVICE_ORDER");
    setenv("CUDA_VISIBLE_DEVICES", "2,0", 1);
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    assert_string_equal(joule_device_uuid(joule_device_at(ctx, 0)), UUID2);
    assert_int_equal(dev(ctx, 0)->backend_index, 2);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "gpu0");
    assert_string_equal(joule_device_uuid(joule_device_at(ctx, 1)), UUID0);
    assert_non_null(strstr(joule_device_note(joule_device_at(ctx, 0)), order_note));
    assert_non_null(strstr(joule_device_note(joule_device_at(ctx, 0)), "no energy counter"));
    joule_close(ctx);
    setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_null(strstr(joule_device_note(joule_device_at(ctx, 1)), order_note));
    joule_close(ctx);
    unsetenv("CUDA_DEVICE_ORDER");

    /* UUIDs, whole or as a unique prefix (with or without GPU-): no
     * ambiguity, no note. */
    setenv("CUDA_VISIBLE_DEVICES", UUID1 ",GPU-3333", 1);
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    assert_string_equal(joule_device_uuid(joule_device_at(ctx, 0)), UUID1);
    assert_string_equal(joule_device_uuid(joule_device_at(ctx, 1)), UUID2);
    assert_null(strstr(joule_device_note(joule_device_at(ctx, 0)), order_note));
    joule_close(ctx);

    /* A MIG instance maps to its parent's counters, with a note. */
    setenv("CUDA_VISIBLE_DEVICES", "MIG-9f0e1d2c-0000-5000-9000-000000000001", 1);
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_uuid(joule_device_at(ctx, 0)), UUID1);
    assert_non_null(strstr(joule_device_note(joule_device_at(ctx, 0)), "whole GPU"));
    joule_close(ctx);

    /* Bad values are clear errors. */
    setenv("CUDA_VISIBLE_DEVICES", "banana", 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "CUDA_VISIBLE_DEVICES"));
    assert_non_null(strstr(joule_last_error(), "banana"));
    setenv("CUDA_VISIBLE_DEVICES", "7", 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "CUDA_VISIBLE_DEVICES entry 7"));
    setenv("CUDA_VISIBLE_DEVICES", "GPU-deadbeef", 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "matches no GPU UUID"));
    setenv("CUDA_VISIBLE_DEVICES", "MIG-00000000-dead-beef-0000-000000000000", 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "MIG-00000000"));
    unsetenv("CUDA_VISIBLE_DEVICES");
    fh_finish(&h);
}

/* Grace Hopper: no GPU-scope power, MODULE scope instead. */
static void test_module_scope(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"record\": \"@REC@\", \"gpus\": [{\"model\": \"h100\", \"name\": \"NVIDIA GH200 "
             "480GB (simulated)\", \"power_scope\": \"module\", \"module_extra_w\": 150}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_device_note(joule_device_at(ctx, 0)), "cover the module"));
    double w = 0;
    assert_int_equal(joule_device_power_w(ctx, 0, &w), 0);
    /* Idle H100 (70 W ± 3 %) plus the CPU's 150 W. */
    assert_true(w > 210 && w < 230);
    assert_true(fh_calls(&h, "field=186 scope=0:3") >= 1); /* GPU scope: not supported */
    assert_true(fh_calls(&h, "field=186 scope=1:0") >= 2);
    assert_int_equal(joule_device_power_scope(joule_device_at(ctx, 0)), JOULE_POWER_SCOPE_MODULE);
    joule_close(ctx);

    /* A window shorter than the counter period is estimated in the
     * counter's domain (the GPU's 70 W), not from module power (220 W). */
    assert_int_equal(fh_open(NULL, 20, 0, &ctx), 0);
    ts_sleep_ms(400); /* the keeper sees a few counter updates */
    joule_result *r = NULL;
    assert_int_equal(joule_window_begin(ctx, "short", 0), 0);
    ts_sleep_ms(30);
    assert_int_equal(joule_window_end(ctx, "short", 0, &r), 0);
    int q = 0;
    double e = joule_result_energy_j(r, 0, &q, NULL), t = joule_result_time_s(r);
    assert_int_equal(q, JOULE_QUALITY_BELOW_RESOLUTION);
    if (e / t < 60 || e / t > 80)
        fail_msg("short window on a module-scope GPU: %.1f W, want the GPU's ~70 W", e / t);
    joule_result_free(r);
    joule_close(ctx);
    fh_finish(&h);
}

/* Memory power: the INSTANT field, else the AVERAGE one; a GPU that
 * answers success with 0 mW has none. */
static void test_memory_power_fields(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"gpus\": [{\"model\": \"h100\", \"memory_power_field\": \"instant\"},"
             " {\"model\": \"h100\", \"memory_power_field\": \"average\"},"
             " {\"model\": \"h100\", \"memory_power_field\": \"zero\"}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    for (int i = 0; i < 3; i++) {
        uint32_t caps = joule_device_caps(joule_device_at(ctx, i));
        if (i == 2) {
            assert_false(caps & JOULE_CAP_POWER_MEMORY);
            continue;
        }
        assert_true(caps & JOULE_CAP_POWER_MEMORY);
        uint32_t mw = 0;
        struct joule_device *d = dev(ctx, i);
        pthread_mutex_lock(&d->lock);
        int rc = d->ops->read_power_mw(d, JDEV_POWER_MEMORY, &mw);
        pthread_mutex_unlock(&d->lock);
        assert_int_equal(rc, 0);
        assert_true(mw > 1000);
    }
    joule_close(ctx);
    fh_finish(&h);
}

static void test_library_and_init_errors(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, "{\"init_error\": \"x\", \"gpus\": [{\"model\": \"h100\"}]}");
    joule_ctx *ctx = NULL;
    setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "JOULE_NVML_LIBRARY=/nonexistent"));

    fh_config(&h, "{\"init_error\": 9, \"gpus\": [{\"model\": \"h100\"}]}");
    setenv("JOULE_NVML_LIBRARY", h.lib, 1);
    assert_int_not_equal(fh_open(NULL, -1, 0, &ctx), 0);
    assert_non_null(strstr(joule_last_error(), "nvmlInit_v2 failed: Driver Not Loaded"));

    fh_finish(&h);
}

/* NVML's own message text is kept; codes map to JOULE_E*. */
static void test_error_mapping(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML,
             "{\"gpus\": [{\"model\": \"a100\"}], \"errors\": ["
             " {\"function\": \"nvmlDeviceGetTemperature\", \"error\": \"UNKNOWN\", \"after\": 1, \"times\": 1},"
             " {\"function\": \"nvmlDeviceGetClockInfo\", \"error\": \"NOT_SUPPORTED\", \"after\": 2},"
             " {\"function\": \"nvmlDeviceGetCurrentClocksEventReasons\", \"error\": 19, \"after\": 1}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    int c = 0;
    assert_int_equal(joule_gpu_temperature_c(ctx, 0, &c), JOULE_EIO);
    assert_non_null(strstr(joule_last_error(), "Unknown Error"));
    assert_non_null(strstr(joule_last_error(), "NVML_ERROR_UNKNOWN"));
    assert_non_null(strstr(joule_last_error(), "gpu0"));
    assert_int_equal(joule_gpu_temperature_c(ctx, 0, &c), 0); /* times: 1 */
    assert_true(c >= 30 && c <= 90);
    int sm, mem;
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &sm, &mem), JOULE_ENOTSUP);
    assert_non_null(strstr(joule_last_error(), "Not Supported"));
    uint64_t m;
    assert_int_equal(joule_gpu_throttle_reasons(ctx, 0, &m), JOULE_EBUSY);
    assert_non_null(strstr(joule_last_error(), "In use by another client"));
    joule_close(ctx);
    fh_finish(&h);
}

static void test_readings(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, "{\"gpus\": [{\"model\": \"h100\", \"load\": 0.9}]}");
    joule_ctx *ctx = NULL;
    assert_int_equal(fh_open(NULL, -1, 0, &ctx), 0);
    int sm = 0, mem = 0, c = 0;
    assert_int_equal(joule_gpu_clocks_mhz(ctx, 0, &sm, &mem), 0);
    assert_int_equal(sm, 1980);
    assert_int_equal(mem, 2619);
    assert_int_equal(joule_gpu_temperature_c(ctx, 0, &c), 0);
    assert_int_equal(c, 75); /* 32 + 48 × 0.9 */
    uint64_t mask = 0;
    assert_int_equal(joule_gpu_throttle_reasons(ctx, 0, &mask), 0);
    assert_false(mask & JOULE_THROTTLE_GPU_IDLE);
    double cur, mn, mx, def, enf;
    assert_int_equal(joule_gpu_get_power_limit_w(ctx, 0, &cur, &mn, &mx, &def, &enf), 0);
    assert_true(cur == 700 && mn == 200 && mx == 700 && def == 700 && enf == 700);
    struct joule_device *d = dev(ctx, 0);
    uint32_t mw = 0;
    pthread_mutex_lock(&d->lock);
    assert_int_equal(d->ops->read_power_mw(d, JDEV_POWER_MEMORY, &mw), 0);
    assert_true(mw > 8000);
    assert_int_equal(d->ops->read_power_mw(d, JDEV_POWER_AVERAGE, &mw), 0);
    assert_true(mw > 600000 && mw < 720000);
    pthread_mutex_unlock(&d->lock);
    int clk[256];
    int n = joule_gpu_supported_clocks_mhz(ctx, 0, clk, 256);
    assert_int_equal(n, (1980 - 345) / 15 + 1);
    assert_int_equal(clk[0], 1980);
    assert_true(clk[n - 1] >= 345 && clk[n - 1] < 360);
    joule_close(ctx);
    fh_finish(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_two_contexts_share_init),
        cmocka_unit_test(test_window_exact),
        cmocka_unit_test(test_pre_volta_integrates_power),
        cmocka_unit_test(test_gpu_lost_mid_window),
        cmocka_unit_test(test_cuda_visible_devices),
        cmocka_unit_test(test_module_scope),
        cmocka_unit_test(test_memory_power_fields),
        cmocka_unit_test(test_library_and_init_errors),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_readings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
