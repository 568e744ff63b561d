/* Device selection specs and CUDA_VISIBLE_DEVICES mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "core/devspec.h"
#include "test_support.h"
#include "devices/device.h"

static void parses_valid_specs(void **state)
{
    (void)state;
    struct devspec s;
    assert_int_equal(devspec_parse("gpu:0,1", &s), 0);
    assert_true(s.kinds[JOULE_KIND_GPU].wanted);
    assert_int_equal(s.kinds[JOULE_KIND_GPU].n, 2);
    assert_true(devspec_selects(&s, JOULE_KIND_GPU, 1));
    assert_false(devspec_selects(&s, JOULE_KIND_GPU, 2));
    assert_false(devspec_selects(&s, JOULE_KIND_CPU_PACKAGE, 0));

    assert_int_equal(devspec_parse("cpu", &s), 0);
    assert_true(devspec_selects(&s, JOULE_KIND_CPU_PACKAGE, 3));
    assert_true(devspec_selects(&s, JOULE_KIND_DRAM, 3)); /* cpu brings its DRAM */
    assert_false(devspec_selects(&s, JOULE_KIND_CPU_CORE, 0));
    assert_false(devspec_selects(&s, JOULE_KIND_PSYS, 0));

    assert_int_equal(devspec_parse("cpu:1", &s), 0);
    assert_true(devspec_selects(&s, JOULE_KIND_DRAM, 1));
    assert_false(devspec_selects(&s, JOULE_KIND_DRAM, 0));

    assert_int_equal(devspec_parse("all", &s), 0);
    assert_true(devspec_selects(&s, JOULE_KIND_PSYS, 0));
    assert_false(devspec_selects(&s, JOULE_KIND_CPU_UNCORE, 0)); /* overlaps package */

    assert_int_equal(devspec_parse(NULL, &s), 0);
    assert_true(s.all);

    assert_int_equal(devspec_parse("gpu:0+cpu+sim:4:h100", &s), 0);
    assert_string_equal(s.sim, "4:h100");
    assert_true(s.kinds[JOULE_KIND_CPU_PACKAGE].all);
}

static void refuses_bad_specs(void **state)
{
    (void)state;
    const char *bad[] = {"gpu:", "gpu:a", "foo", "gpu:0,", "+cpu", "cpu+", "sim",
                         "gpu:-1", "gpu:0:1", "sim:1:h100+sim:1:a100", "GPU", "sim:",
                         "cpu+sim:"};
    struct devspec s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(devspec_parse(bad[i], &s), JOULE_EINVAL);
        assert_non_null(strstr(joule_last_error(), bad[i]));
    }
    /* Two sim items: the message says how to mix presets. */
    assert_int_equal(devspec_parse("sim:1:h100+sim:1:a100", &s), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "sim:2:h100,a100"));
}

static int open_err(const char *spec)
{
    joule_options *o;
    joule_ctx *ctx = NULL;
    joule_options_create(&o);
    joule_options_set_devices(o, spec);
    int rc = joule_open(o, &ctx);
    joule_options_destroy(o);
    joule_close(ctx);
    return rc;
}

static void open_names_the_problem(void **state)
{
    (void)state;
    assert_int_equal(open_err("gpus"), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "'gpus'"));
    assert_int_equal(open_err("sim:2:zz"), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "zz"));
    assert_non_null(strstr(joule_last_error(), "h100"));
    assert_int_equal(open_err("sim:0:h100"), JOULE_EINVAL);
    /* "sim:" opened nothing and joule exited 0 */
    assert_int_equal(open_err("sim:"), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "'sim:' needs a count and preset"));
    char *argv[] = {(char *)JOULE_TEST_CLI, "run", "--devices", "sim:", "--", "true", NULL};
    char *err = NULL;
    assert_int_equal(ts_run(argv, NULL, NULL, &err), 1);
    assert_non_null(strstr(err, "device spec 'sim:'"));
    free(err);
    assert_int_equal(open_err("sim:2:h100+gpu:5"), JOULE_ENODEV);
    assert_non_null(strstr(joule_last_error(), "gpu5 not found"));
    assert_int_equal(open_err("sim:1:trace=v100/imagenet/resnet50/9999"), JOULE_ENOENT);
    assert_non_null(strstr(joule_last_error(), "no rows"));
}

static void environment_sets_default_spec(void **state)
{
    (void)state;
    setenv("JOULE_DEVICES", "sim:3:a100", 1);
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_open(NULL, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 3);
    joule_close(ctx);
    unsetenv("JOULE_DEVICES");
}

static void sim_load_environment(void **state)
{
    (void)state;
    setenv("JOULE_SIM_LOAD", "0:1.5", 1);
    assert_int_equal(open_err("sim:1:h100"), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "JOULE_SIM_LOAD"));
    unsetenv("JOULE_SIM_LOAD");
}

static const char *const uuids[] = {
    "GPU-aaaa1111-0000-0000-0000-000000000000",
    "GPU-bbbb2222-0000-0000-0000-000000000000",
    "GPU-bbbb3333-0000-0000-0000-000000000000",
    "GPU-cccc4444-0000-0000-0000-000000000000",
};

static void cuda_visible_devices_mapping(void **state)
{
    (void)state;
    int map[8], n;
    assert_int_equal(jdev_cuda_visible_map(NULL, uuids, 4, map, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(map[3], 3);

    assert_int_equal(jdev_cuda_visible_map("2,0", uuids, 4, map, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(map[0], 2);
    assert_int_equal(map[1], 0);

    assert_int_equal(jdev_cuda_visible_map("GPU-cccc4444,GPU-aaaa", uuids, 4, map, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(map[0], 3);
    assert_int_equal(map[1], 0);

    assert_int_equal(jdev_cuda_visible_map(uuids[1], uuids, 4, map, &n), 0);
    assert_int_equal(map[0], 1);

    assert_int_equal(jdev_cuda_visible_map("", uuids, 4, map, &n), 0);
    assert_int_equal(n, 0); /* CUDA: empty hides every GPU */

    /* A negative index ends the list, as in CUDA. */
    assert_int_equal(jdev_cuda_visible_map("-1", uuids, 4, map, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(jdev_cuda_visible_map("2,-1,0", uuids, 4, map, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(map[0], 2);
    /* A UUID without "GPU-" may start with a digit. */
    static const char *const digit_uuids[] = {"GPU-0aaa1111-0000", "GPU-1bbb2222-0000"};
    assert_int_equal(jdev_cuda_visible_map("1bbb2222", digit_uuids, 2, map, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(map[0], 1);

    assert_int_equal(jdev_cuda_visible_map("GPU-bbbb", uuids, 4, map, &n), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "more than one"));
    assert_int_equal(jdev_cuda_visible_map("7", uuids, 4, map, &n), JOULE_ENODEV);
    assert_non_null(strstr(joule_last_error(), "4 GPUs"));
    assert_int_equal(jdev_cuda_visible_map("GPU-ffff", uuids, 4, map, &n), JOULE_ENODEV);
    assert_int_equal(jdev_cuda_visible_map("1x", uuids, 4, map, &n), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "1x"));
    assert_int_equal(jdev_cuda_visible_map("0,0", uuids, 4, map, &n), JOULE_EINVAL);
    assert_int_equal(jdev_cuda_visible_map("MIG-1234", uuids, 4, map, &n), JOULE_ENOTSUP);
    assert_non_null(strstr(joule_last_error(), "MIG"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_valid_specs),
        cmocka_unit_test(refuses_bad_specs),
        cmocka_unit_test(open_names_the_problem),
        cmocka_unit_test(environment_sets_default_spec),
        cmocka_unit_test(sim_load_environment),
        cmocka_unit_test(cuda_visible_devices_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
