/* The CLI's output conventions (docs/cli.md "Conventions"): machine output
 * on stdout, the progress line only on a terminal, durations with units
 * everywhere through one parser, `joule help CMD`, the one-line hint for a
 * mistyped option, and the "no devices" error on short lines. */
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

#include "progress.h"
#include "test_support.h"

static int cli(char *const env[], char **out, char **err, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)JOULE_TEST_CLI;
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 63 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = ts_run(argv, env, &o, &e);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' not found in: %s", needle, hay ? hay : "(null)");
}

/* ---- progress line ------------------------------------------------------ */

static void test_progress_format(void **state)
{
    (void)state;
    char b[128];
    cli_progress_format(b, sizeof b, "setting 250 W", 2, 12, 65.4);
    /* 2 runs in 65 s: 32.7 s each, 10 left: 327 s */
    assert_string_equal(b, "setting 250 W  run 3/12  elapsed 1m05s  ETA 5m27s");
    cli_progress_format(b, sizeof b, "setting 250 W", 0, 12, 3);
    assert_string_equal(b, "setting 250 W  run 1/12  elapsed 3s  ETA ?");
    cli_progress_format(b, sizeof b, NULL, 12, 12, 7322);
    assert_string_equal(b, "run 12/12  elapsed 2h02m  ETA 0s");
    cli_progress_hms(59.99, b, sizeof b);
    assert_string_equal(b, "59s");
    cli_progress_hms(3600, b, sizeof b);
    assert_string_equal(b, "1h00m");
    cli_progress_hms(NAN, b, sizeof b);
    assert_string_equal(b, "?");
    cli_progress_hms(-1, b, sizeof b);
    assert_string_equal(b, "?");
}

/* The tests' stderr is a pipe: no progress unless forced, none with -q. */
static void test_sweep_progress_only_on_tty(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(cli(NULL, &out, &err, "sweep", "-d", "sim:1:h100", "--power-limits",
                         "600,400", "--json", "--", "true", NULL), 0);
    assert_null(strchr(err, '\r'));
    assert_null(strstr(err, "ETA"));
    /* --json on stdout, alone */
    assert_contains(out, "\"settings\"");
    free(out);
    free(err);

    char *const force[] = {"JOULE_PROGRESS=1", NULL};
    assert_int_equal(cli(force, NULL, &err, "sweep", "-d", "sim:1:h100", "--power-limits",
                         "600,400", "--json", "--", "true", NULL), 0);
    assert_contains(err, "\rsetting 600 W  run 1/2  elapsed ");
    assert_contains(err, "setting 400 W  run 2/2");
    /* cleared at the end: the last thing written is a '\r' after blanks */
    size_t n = strlen(err);
    assert_true(n > 0 && err[n - 1] == '\r');
    free(err);

    assert_int_equal(cli(force, NULL, &err, "sweep", "-q", "-d", "sim:1:h100",
                         "--power-limits", "600,400", "--json", "--", "true", NULL), 0);
    assert_null(strchr(err, '\r'));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_format),
        cmocka_unit_test(test_sweep_progress_only_on_tty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
