/* joule_parse_gpu_list: indices, labels, UUIDs and "all"; unknown,
 * repeated, empty and too many entries are refused with a message that
 * names them. And joule_device_energy_at's read instant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <joule/joule.h>

static joule_ctx *open_sim(const char *spec)
{
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, spec), 0);
    assert_int_equal(joule_options_set_keeper_interval_ms(o, -1), 0);
    assert_int_equal(joule_open(o, &ctx), 0);
    joule_options_destroy(o);
    return ctx;
}

static void lists(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim("sim:3:h100");
    int g[8];
    assert_int_equal(joule_parse_gpu_list(ctx, "all", g, 8), 3);
    assert_int_equal(g[0], 0);
    assert_int_equal(g[2], 2);
    assert_int_equal(joule_parse_gpu_list(ctx, "2,0", g, 8), 2);
    assert_int_equal(g[0], 2);
    assert_int_equal(g[1], 0);
    assert_int_equal(joule_parse_gpu_list(ctx, "gpu1", g, 8), 1);
    assert_int_equal(g[0], 1);
    const char *uuid = joule_device_uuid(joule_device_at(ctx, 2));
    assert_true(uuid && uuid[0]);
    char both[160];
    snprintf(both, sizeof both, "%s,gpu0", uuid);
    assert_int_equal(joule_parse_gpu_list(ctx, both, g, 8), 2);
    assert_int_equal(g[0], 2);
    assert_int_equal(g[1], 0);

    assert_int_equal(joule_parse_gpu_list(ctx, "3", g, 8), JOULE_ENODEV);
    assert_non_null(strstr(joule_last_error(), "no GPU '3'"));
    assert_non_null(strstr(joule_last_error(), "gpu0, gpu1, gpu2"));
    assert_int_equal(joule_parse_gpu_list(ctx, "0,gpu0", g, 8), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "twice"));
    assert_int_equal(joule_parse_gpu_list(ctx, "0,,1", g, 8), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "empty entry at character 3"));
    assert_int_equal(joule_parse_gpu_list(ctx, "", g, 8), JOULE_EINVAL);
    assert_int_equal(joule_parse_gpu_list(ctx, "1x", g, 8), JOULE_ENODEV);
    assert_int_equal(joule_parse_gpu_list(ctx, "-1", g, 8), JOULE_ENODEV);
    assert_int_equal(joule_parse_gpu_list(ctx, "0,1,2", g, 2), JOULE_EINVAL);
    assert_int_equal(joule_parse_gpu_list(ctx, "all", g, 2), JOULE_EINVAL);
    assert_int_equal(joule_parse_gpu_list(NULL, "0", g, 2), JOULE_EINVAL);
    joule_close(ctx);
}

static void energy_with_its_instant(void **state)
{
    (void)state;
    joule_ctx *ctx = open_sim("sim:1:h100");
    double j0, t0, j1, t1;
    double before = joule_now_s();
    assert_int_equal(joule_device_energy_at(ctx, 0, &j0, &t0), 0);
    assert_true(t0 >= before && t0 <= joule_now_s());
    assert_int_equal(joule_device_energy_at(ctx, 0, &j1, &t1), 0);
    assert_true(t1 >= t0 && j1 >= j0);
    assert_int_equal(joule_device_energy_at(ctx, 1, &j1, &t1), JOULE_EINVAL);
    joule_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lists),
        cmocka_unit_test(energy_with_its_instant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
