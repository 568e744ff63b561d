/* The built-in CUDA sync: at each window edge every monitored NVIDIA GPU is
 * synchronized, in CUDA-visible order, and the caller's current device is
 * put back. libcudart is a stand-in that records its calls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "fakes/fake_harness.h"

static const char *two_gpus =
    "{\"record\": \"@REC@\", \"state\": \"@STATE@\", \"gpus\": ["
    " {\"model\": \"h100\"}, {\"model\": \"a100\"}]}";

static joule_ctx *open_with_cuda_sync(const char *spec)
{
    joule_options *o;
    joule_ctx *ctx = NULL;
    joule_options_create(&o);
    joule_options_set_devices(o, spec);
    joule_options_set_cuda_sync(o, 1);
    int rc = joule_open(o, &ctx);
    joule_options_destroy(o);
    if (rc)
        fail_msg("joule_open(%s): %s", spec, joule_last_error());
    return ctx;
}

static void syncs_each_gpu_and_restores_the_device(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, two_gpus);
    char lib[512], rec[600];
    snprintf(lib, sizeof lib, "%s/tests/fakes/cudart/libcudart.so", JOULE_TEST_BUILD_DIR);
    snprintf(rec, sizeof rec, "%s/cudart.log", h.dir);
    setenv("JOULE_CUDART_LIBRARY", lib, 1);
    setenv("JOULE_FAKE_CUDART_RECORD", rec, 1);
    setenv("CUDA_VISIBLE_DEVICES", "1,0", 1); /* visible order differs */

    joule_ctx *ctx = open_with_cuda_sync("gpu");
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(joule_window_end(ctx, "w", 0, NULL), 0);
    char *log = ts_read(rec);
    assert_non_null(log);
    /* Visible GPUs 0 and 1 in CUDA's numbering, then back to device 3. */
    const char *edge = "get 3\nset 0\nsync 0\nset 1\nsync 1\nset 3\n";
    char both[256];
    snprintf(both, sizeof both, "%s%s", edge, edge);
    assert_string_equal(log, both);
    free(log);

    /* No sync at an edge that asks for none. */
    remove(rec);
    assert_int_equal(joule_window_begin(ctx, "w", JOULE_WINDOW_NO_SYNC), 0);
    assert_int_equal(joule_window_end(ctx, "w", JOULE_WINDOW_NO_SYNC, NULL), 0);
    assert_null(ts_read(rec));
    joule_close(ctx);

    /* Only the selected GPU is synchronized. */
    ctx = open_with_cuda_sync("gpu:1");
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    log = ts_read(rec);
    assert_string_equal(log, "get 3\nset 1\nsync 1\nset 3\n");
    free(log);
    joule_close(ctx);

    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("JOULE_FAKE_CUDART_RECORD");
    fh_finish(&h);
}

static void missing_cudart_is_a_clear_error(void **state)
{
    (void)state;
    struct fh h;
    fh_start(&h, FH_NVML, two_gpus);
    setenv("JOULE_CUDART_LIBRARY", "/nonexistent/libcudart.so", 1);
    joule_options *o;
    joule_ctx *ctx = NULL;
    joule_options_create(&o);
    joule_options_set_devices(o, "gpu");
    joule_options_set_cuda_sync(o, 1);
    assert_int_equal(joule_open(o, &ctx), JOULE_ELIB);
    assert_non_null(strstr(joule_last_error(), "libcudart"));
    joule_options_destroy(o);
    /* Simulated GPUs are not CUDA devices: nothing to load, no error. */
    joule_options_create(&o);
    joule_options_set_devices(o, "sim:1:h100");
    joule_options_set_cuda_sync(o, 1);
    assert_int_equal(joule_open(o, &ctx), 0);
    joule_close(ctx);
    joule_options_destroy(o);
    unsetenv("JOULE_CUDART_LIBRARY");
    fh_finish(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syncs_each_gpu_and_restores_the_device),
        cmocka_unit_test(missing_cudart_is_a_clear_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
