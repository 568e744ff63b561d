/* Results put together by a layer above libjoule (libjoule_mpi's job
 * totals): joule_result_create / joule_result_set_device, the label and
 * kind accessors, and joule_error_set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include <joule/joule.h>

static void test_create_set_read(void **state)
{
    joule_result *r;
    assert_int_equal(joule_result_create("job", 3, 2.5, 1000.0, &r), 0);
    assert_string_equal(joule_result_name(r), "job");
    assert_true(joule_result_time_s(r) == 2.5);
    assert_true(joule_result_start_unix_s(r) == 1000.0);
    /* Unset devices read as errors, not as 0 J. */
    int q, st;
    assert_true(isnan(joule_result_energy_j(r, 2, &q, &st)));
    assert_int_equal(st, JOULE_ENOENT);
    assert_int_equal(q, JOULE_QUALITY_ERROR);

    assert_int_equal(joule_result_set_device(r, 0, JOULE_KIND_GPU, "n0.gpu0", 100, 1.5,
                                             JOULE_QUALITY_EXACT, 0, NULL), 0);
    assert_int_equal(joule_result_set_device(r, 1, JOULE_KIND_GPU, "n1.gpu0", 50, 0.5,
                                             JOULE_QUALITY_APPROX, 0, NULL), 0);
    assert_int_equal(joule_result_set_device(r, 2, JOULE_KIND_CPU_PACKAGE, "n1.cpu0", 7, 1,
                                             JOULE_QUALITY_EXACT, JOULE_EIO, "n1: cpu0 lost"),
                     0);
    assert_true(joule_result_total_j(r, JOULE_KIND_GPU) == 150);
    assert_true(joule_result_total_uncertainty_j(r, JOULE_KIND_GPU) == 2.0);
    assert_true(joule_result_total_all_j(r) == 150); /* the failed CPU is skipped */
    assert_string_equal(joule_result_device_label(r, 1), "n1.gpu0");
    assert_int_equal(joule_result_device_kind(r, 2), JOULE_KIND_CPU_PACKAGE);
    assert_true(isnan(joule_result_energy_j(r, 2, &q, &st)));
    assert_int_equal(st, JOULE_EIO);
    assert_string_equal(joule_last_error(), "n1: cpu0 lost");
    joule_result_energy_j(r, 1, &q, NULL);
    assert_int_equal(q, JOULE_QUALITY_APPROX);

    /* Out of range and bad values. */
    assert_null(joule_result_device_label(r, 3));
    assert_int_equal(joule_result_device_kind(r, -1), -1);
    assert_int_equal(joule_result_set_device(r, 3, JOULE_KIND_GPU, "x", 1, 0, 0, 0, NULL),
                     JOULE_EINVAL);
    assert_int_equal(joule_result_set_device(r, 0, JOULE_KIND_COUNT, "x", 1, 0, 0, 0, NULL),
                     JOULE_EINVAL);
    /* A label longer than the result keeps is cut, not overrun. */
    assert_int_equal(joule_result_set_device(r, 0, JOULE_KIND_GPU,
                                             "a-very-long-label-of-more-than-32-characters", 1, 0,
                                             0, 0, NULL), 0);
    assert_int_equal(strlen(joule_result_device_label(r, 0)), 31);
    joule_result_free(r);
    assert_int_equal(joule_result_create("x", -1, 0, 0, &r), JOULE_EINVAL);
    assert_int_equal(joule_result_create("empty", 0, 0, 0, &r), 0);
    assert_int_equal(joule_result_device_count(r), 0);
    joule_result_free(r);
}

static void test_error_set(void **state)
{
    assert_int_equal(joule_error_set(JOULE_EBUSY, "rank 3 of 4: busy"), JOULE_EBUSY);
    assert_string_equal(joule_last_error(), "rank 3 of 4: busy");
}

static void test_trace_merge_errors(void **state)
{
    const char *paths[] = {"/nonexistent/a.csv"}, *prefixes[] = {"n0"}, *nodes[] = {"a"};
    assert_int_equal(joule_trace_merge(paths, prefixes, nodes, 0, "/dev/null"), JOULE_EINVAL);
    assert_int_not_equal(joule_trace_merge(paths, prefixes, nodes, 1, "/dev/null"), 0);
    assert_non_null(strstr(joule_last_error(), "/nonexistent/a.csv"));
    const char *long_prefix[] = {"a-prefix-of-more-than-15"};
    assert_int_equal(joule_trace_merge(paths, long_prefix, nodes, 1, "/dev/null"), JOULE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_set_read),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_trace_merge_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
