/* The error table (JOULE_ERROR_LIST in joule.h): the constants, their
 * names with and without the prefix, and their texts agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <joule/joule.h>

static void names_and_values(void **state)
{
    (void)state;
    assert_int_equal(JOULE_OK, 0);
    assert_int_equal(JOULE_EINVAL, -1);
    assert_int_equal(JOULE_EPERM, -4);
    assert_int_equal(JOULE_EBUSY, -12);
    assert_string_equal(joule_strerror(JOULE_EPERM), "JOULE_EPERM");
    assert_string_equal(joule_error_name(JOULE_EPERM), "EPERM");
    assert_string_equal(joule_error_name(JOULE_OK), "OK");
    assert_string_equal(joule_error_text(JOULE_EPERM), "permission denied");
}

static void every_code_is_named_the_same_three_ways(void **state)
{
    (void)state;
    int known = 0;
    for (int code = 0; code > -64; code--) {
        const char *name = joule_error_name(code);
        if (!name) {
            assert_null(joule_error_text(code));
            assert_string_equal(joule_strerror(code), "JOULE_E?");
            continue;
        }
        known++;
        char prefixed[64];
        snprintf(prefixed, sizeof prefixed, "JOULE_%s", name);
        assert_string_equal(joule_strerror(code), prefixed);
        assert_non_null(joule_error_text(code));
        assert_true(strlen(joule_error_text(code)) > 0);
    }
    assert_int_equal(known, 13); /* JOULE_OK .. JOULE_EBUSY, no gap */
    assert_null(joule_error_name(1));
    assert_string_equal(joule_strerror(1), "JOULE_E?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_values),
        cmocka_unit_test(every_code_is_named_the_same_three_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
