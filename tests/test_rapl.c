/* The RAPL backend over fake powercap trees: zone discovery and labels,
 * device selection, wrap-around correction (one and many wraps, with and
 * without the keeper thread), missing zones, permissions, malformed files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "test_support.h"

/* A typical Intel package range (2^32 × 61 µJ). */
#define BIG_RANGE 262143328850ULL

/* Opens a context on the fake tree with the keeper disabled (the tests
 * drive every read themselves). root NULL: use $JOULE_SYSFS_ROOT. The
 * fake counters change only when a test writes them, not every ~1 ms as
 * RAPL's do, so edges are not corrected: these tests check the counter
 * arithmetic itself (wraps, totals). */
static int open_ctx(const char *root, const char *spec, int keeper_ms, joule_ctx **ctx)
{
    joule_options *o = NULL;
    assert_int_equal(joule_options_create(&o), 0);
    assert_int_equal(joule_options_set_devices(o, spec), 0);
    assert_int_equal(joule_options_set_edge_correction(o, 0), 0);
    if (root)
        assert_int_equal(joule_options_set_sysfs_root(o, root), 0);
    assert_int_equal(joule_options_set_keeper_interval_ms(o, keeper_ms), 0);
    int rc = joule_open(o, ctx);
    joule_options_destroy(o);
    return rc;
}

static int find_label(const joule_ctx *ctx, const char *label)
{
    for (int i = 0; i < joule_device_count(ctx); i++)
        if (strcmp(joule_device_label(joule_device_at(ctx, i)), label) == 0)
            return i;
    return -1;
}

static int count_backend(const joule_ctx *ctx, const char *backend)
{
    int n = 0;
    for (int i = 0; i < joule_device_count(ctx); i++)
        n += strcmp(joule_device_backend(joule_device_at(ctx, i)), backend) == 0;
    return n;
}

static const char *rapl_reason(const joule_ctx *ctx, int *available)
{
    for (int b = 0; b < joule_backend_count(ctx); b++) {
        const char *reason = NULL;
        const char *name = joule_backend_at(ctx, b, available, &reason);
        if (name && strcmp(name, "rapl") == 0)
            return reason;
    }
    return NULL;
}

static void write_file(const char *root, const char *id, const char *file, const char *text)
{
    char rel[512];
    snprintf(rel, sizeof rel, "class/powercap/%s/%s", id, file);
    assert_int_equal(ts_write(root, rel, text), 0);
}

static char *zone_path(const char *root, const char *id, const char *file)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/class/powercap/%s/%s", root, id, file);
    return path;
}

/* Ends window "w" after at least the RAPL update period (1 ms) so the
 * result is the counter difference, not a below-resolution estimate. */
static joule_result *end_window(joule_ctx *ctx)
{
    ts_sleep_ms(3);
    joule_result *r = NULL;
    int rc = joule_window_end(ctx, "w", 0, &r);
    if (rc)
        fail_msg("joule_window_end: %s", joule_last_error());
    assert_non_null(r);
    return r;
}

static void assert_energy_uj(const joule_result *r, int dev, uint64_t want_uj)
{
    int q = -1, st = -1;
    double e = joule_result_energy_j(r, dev, &q, &st);
    if (st)
        fail_msg("device %d failed: %s", dev, joule_last_error());
    /* A plain difference is EXACT only when the counter's ~1 ms lag at
     * each edge is under 1 % of it; these short test windows need not be. */
    assert_true(q == JOULE_QUALITY_EXACT || q == JOULE_QUALITY_APPROX ||
                q == JOULE_QUALITY_BELOW_RESOLUTION);
    assert_true(joule_result_uncertainty_j(r, dev) >= 0);
    if (llround(e * 1e6) != (long long)want_uj)
        fail_msg("device %d: %.6f J, expected %.6f J", dev, e, want_uj / 1e6);
}

/* One socket: package-0 with core, uncore and dram subzones. */
static void make_socket(const char *root, int zone, int package)
{
    char id[64], name[64];
    snprintf(id, sizeof id, "intel-rapl:%d", zone);
    snprintf(name, sizeof name, "package-%d", package);
    assert_int_equal(ts_rapl_zone(root, id, name, 1000000, BIG_RANGE), 0);
    snprintf(id, sizeof id, "intel-rapl:%d:0", zone);
    assert_int_equal(ts_rapl_zone(root, id, "core", 2000000, BIG_RANGE), 0);
    snprintf(id, sizeof id, "intel-rapl:%d:1", zone);
    assert_int_equal(ts_rapl_zone(root, id, "uncore", 3000000, BIG_RANGE), 0);
    snprintf(id, sizeof id, "intel-rapl:%d:2", zone);
    assert_int_equal(ts_rapl_zone(root, id, "dram", 4000000, 65712999613ULL), 0);
}

/* ---- discovery and selection ------------------------------------------- */

static void test_single_socket_kinds_labels(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    make_socket(root, 0, 0);
    /* The control-type directory sysfs also has: not a zone. */
    write_file(root, "intel-rapl", "enabled", "1\n");

    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu+core+uncore", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 4);
    static const struct {
        const char *label, *name, *note;
        enum joule_device_kind kind;
    } want[] = {
        {"cpu0", "package-0", "intel-rapl:0", JOULE_KIND_CPU_PACKAGE},
        {"core0", "core", "intel-rapl:0:0", JOULE_KIND_CPU_CORE},
        {"uncore0", "uncore", "intel-rapl:0:1", JOULE_KIND_CPU_UNCORE},
        {"dram0", "dram", "intel-rapl:0:2", JOULE_KIND_DRAM},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int i = find_label(ctx, want[k].label);
        if (i < 0)
            fail_msg("no device %s", want[k].label);
        const joule_device *d = joule_device_at(ctx, i);
        assert_int_equal(joule_device_kind(d), want[k].kind);
        assert_int_equal(joule_device_index(d), 0);
        assert_string_equal(joule_device_name(d), want[k].name);
        assert_string_equal(joule_device_backend(d), "rapl");
        assert_string_equal(joule_device_note(d), want[k].note);
        assert_true(joule_device_caps(d) & JOULE_CAP_ENERGY_COUNTER);
        assert_true(joule_device_update_period_us(d) > 0);
    }
    int avail = 0;
    const char *reason = rapl_reason(ctx, &avail);
    assert_non_null(reason);
    assert_int_equal(avail, 1);
    joule_close(ctx);

    /* "cpu": package and its dram, never core or uncore. */
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    assert_true(find_label(ctx, "cpu0") >= 0);
    assert_true(find_label(ctx, "dram0") >= 0);
    joule_close(ctx);

    /* "all": every RAPL zone but the core/uncore parts of the package. */
    assert_int_equal(open_ctx(root, "all", -1, &ctx), 0);
    assert_int_equal(count_backend(ctx, "rapl"), 2);
    assert_true(find_label(ctx, "cpu0") >= 0);
    assert_true(find_label(ctx, "dram0") >= 0);
    assert_int_equal(find_label(ctx, "core0"), -1);
    assert_int_equal(find_label(ctx, "uncore0"), -1);
    joule_close(ctx);

    /* "core": the core subzone alone. */
    assert_int_equal(open_ctx(root, "core", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "core0");
    assert_int_equal(joule_device_kind(joule_device_at(ctx, 0)), JOULE_KIND_CPU_CORE);
    joule_close(ctx);

    /* "dram": dram only. */
    assert_int_equal(open_ctx(root, "dram", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "dram0");
    joule_close(ctx);

    /* An index that does not exist is named in the error. */
    assert_int_equal(open_ctx(root, "cpu:1", -1, &ctx), JOULE_ENODEV);
    assert_null(ctx);
    assert_non_null(strstr(joule_last_error(), "cpu1"));

    /* Window energy of each zone is its own counter's difference. */
    assert_int_equal(open_ctx(root, "cpu+core+uncore", -1, &ctx), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000000 + 4500000), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0:0", 2000000 + 3000000), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0:1", 3000000 + 250000), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0:2", 4000000 + 1234567), 0);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, find_label(ctx, "cpu0"), 4500000);
    assert_energy_uj(r, find_label(ctx, "core0"), 3000000);
    assert_energy_uj(r, find_label(ctx, "uncore0"), 250000);
    assert_energy_uj(r, find_label(ctx, "dram0"), 1234567);
    /* Totals: package + dram; core/uncore are parts of the package. */
    assert_true(fabs(joule_result_total_all_j(r) - (4.5 + 1.234567)) < 1e-9);
    assert_true(fabs(joule_result_total_j(r, JOULE_KIND_CPU_CORE) - 3.0) < 1e-9);
    joule_result_free(r);

    /* Cumulative energy since open. */
    double j = 0;
    int q = -1;
    assert_int_equal(joule_device_energy_j(ctx, find_label(ctx, "cpu0"), &j, &q), 0);
    assert_int_equal(q, JOULE_QUALITY_EXACT);
    assert_true(fabs(j - 4.5) < 1e-9);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static void test_sysfs_root_from_env(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 5, BIG_RANGE), 0);
    setenv("JOULE_SYSFS_ROOT", root, 1);
    joule_ctx *ctx = NULL;
    int rc = open_ctx(NULL, "cpu", -1, &ctx);
    unsetenv("JOULE_SYSFS_ROOT");
    if (rc)
        fail_msg("open with JOULE_SYSFS_ROOT: %s", joule_last_error());
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "cpu0");
    joule_close(ctx);

    /* The API option wins over the environment. */
    char *empty = ts_mkdtemp();
    setenv("JOULE_SYSFS_ROOT", empty, 1);
    rc = open_ctx(root, "cpu", -1, &ctx);
    unsetenv("JOULE_SYSFS_ROOT");
    assert_int_equal(rc, 0);
    assert_int_equal(joule_device_count(ctx), 1);
    joule_close(ctx);

    /* An empty root: no powercap directory, said so with the fix. */
    rc = open_ctx(empty, "cpu", -1, &ctx);
    assert_int_equal(rc, JOULE_ENODEV);
    assert_non_null(strstr(joule_last_error(), "powercap"));
    assert_non_null(strstr(joule_last_error(), empty));
    assert_non_null(strstr(joule_last_error(), "intel_rapl_msr"));
    ts_rmtree(empty);
    free(empty);
    ts_rmtree(root);
    free(root);
}

static void test_missing_dram(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 100, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0:0", "core", 100, BIG_RANGE), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "cpu0");
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 100 + 777), 0);
    joule_result *r = end_window(ctx);
    assert_int_equal(joule_result_device_count(r), 1);
    assert_energy_uj(r, 0, 777);
    assert_true(fabs(joule_result_total_j(r, JOULE_KIND_DRAM)) < 1e-12);
    joule_result_free(r);
    joule_close(ctx);

    /* Asking for dram explicitly fails and says which kind is missing. */
    assert_int_equal(open_ctx(root, "dram", -1, &ctx), JOULE_ENODEV);
    assert_null(ctx);
    assert_non_null(strstr(joule_last_error(), "dram"));
    ts_rmtree(root);
    free(root);
}

static void test_two_sockets(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    make_socket(root, 0, 0);
    /* Socket 1's dram is subzone 0 (no core/uncore), as on many servers. */
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:1", "package-1", 10, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:1:0", "dram", 20, BIG_RANGE), 0);

    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 4);
    int c0 = find_label(ctx, "cpu0"), c1 = find_label(ctx, "cpu1");
    int d0 = find_label(ctx, "dram0"), d1 = find_label(ctx, "dram1");
    assert_true(c0 >= 0 && c1 >= 0 && d0 >= 0 && d1 >= 0);
    assert_string_equal(joule_device_name(joule_device_at(ctx, c1)), "package-1");
    assert_string_equal(joule_device_note(joule_device_at(ctx, c0)), "intel-rapl:0");
    assert_string_equal(joule_device_note(joule_device_at(ctx, c1)), "intel-rapl:1");
    assert_string_equal(joule_device_note(joule_device_at(ctx, d0)), "intel-rapl:0:2");
    assert_string_equal(joule_device_note(joule_device_at(ctx, d1)), "intel-rapl:1:0");
    assert_int_equal(joule_device_index(joule_device_at(ctx, d1)), 1);

    /* Distinct deltas show each label reads its own zone. */
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000000 + 11), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0:2", 4000000 + 22), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:1", 10 + 33), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:1:0", 20 + 44), 0);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, c0, 11);
    assert_energy_uj(r, d0, 22);
    assert_energy_uj(r, c1, 33);
    assert_energy_uj(r, d1, 44);
    assert_true(fabs(joule_result_total_j(r, JOULE_KIND_CPU_PACKAGE) - 44e-6) < 1e-12);
    assert_true(fabs(joule_result_total_j(r, JOULE_KIND_DRAM) - 66e-6) < 1e-12);
    joule_result_free(r);
    joule_close(ctx);

    /* cpu:1 selects socket 1 and its dram only. */
    assert_int_equal(open_ctx(root, "cpu:1", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    assert_true(find_label(ctx, "cpu1") >= 0);
    assert_true(find_label(ctx, "dram1") >= 0);
    joule_close(ctx);
    assert_int_equal(open_ctx(root, "dram:0", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_note(joule_device_at(ctx, 0)), "intel-rapl:0:2");
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static void test_die_zones(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    /* Listed out of order on purpose: indices follow (package, die). */
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0-die-1", 0, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:1", "package-0-die-0", 0, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:1:0", "dram", 0, BIG_RANGE), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 3);
    int c0 = find_label(ctx, "cpu0"), c1 = find_label(ctx, "cpu1"), d0 = find_label(ctx, "dram0");
    assert_true(c0 >= 0 && c1 >= 0 && d0 >= 0);
    assert_int_equal(joule_device_kind(joule_device_at(ctx, c0)), JOULE_KIND_CPU_PACKAGE);
    assert_int_equal(joule_device_kind(joule_device_at(ctx, c1)), JOULE_KIND_CPU_PACKAGE);
    assert_string_equal(joule_device_name(joule_device_at(ctx, c0)), "package-0-die-0");
    assert_string_equal(joule_device_name(joule_device_at(ctx, c1)), "package-0-die-1");
    assert_string_equal(joule_device_note(joule_device_at(ctx, d0)), "intel-rapl:1:0");
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 5), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:1", 7), 0);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, c0, 7);
    assert_energy_uj(r, c1, 5);
    joule_result_free(r);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static void test_psys(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 0, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:1", "psys", 0, BIG_RANGE), 0);
    joule_ctx *ctx = NULL;

    assert_int_equal(open_ctx(root, "all", -1, &ctx), 0);
    assert_int_equal(count_backend(ctx, "rapl"), 2);
    int p = find_label(ctx, "psys0");
    assert_true(p >= 0);
    assert_int_equal(joule_device_kind(joule_device_at(ctx, p)), JOULE_KIND_PSYS);
    assert_string_equal(joule_device_name(joule_device_at(ctx, p)), "psys");
    assert_int_equal(find_label(ctx, "cpu1"), -1);
    /* psys overlaps the package: it is not part of the total. */
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:1", 3000), 0);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, p, 3000);
    assert_true(fabs(joule_result_total_j(r, JOULE_KIND_PSYS) - 3000e-6) < 1e-12);
    assert_true(fabs(joule_result_total_all_j(r) - 1000e-6) < 1e-12);
    joule_result_free(r);
    joule_close(ctx);

    /* "cpu" never picks psys; "psys" picks psys only. */
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "cpu0");
    joule_close(ctx);
    assert_int_equal(open_ctx(root, "psys", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "psys0");
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static void test_mmio_duplicate_skipped(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 0, BIG_RANGE), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl-mmio:0", "package-0", 0, BIG_RANGE), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "cpu0");
    assert_string_equal(joule_device_note(joule_device_at(ctx, 0)), "intel-rapl:0");
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

/* AMD Zen: the same intel-rapl type, a package zone and a core subzone. */
static void test_amd_tree(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 50, 65532610987ULL), 0);
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0:0", "core", 60, 65532610987ULL), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu+core", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 2);
    int c = find_label(ctx, "cpu0"), k = find_label(ctx, "core0");
    assert_true(c >= 0 && k >= 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 50 + 9000), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0:0", 60 + 8000), 0);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, c, 9000);
    assert_energy_uj(r, k, 8000);
    joule_result_free(r);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

/* ---- wrap-around --------------------------------------------------------- */

static void test_single_wrap(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", BIG_RANGE - 1000, BIG_RANGE), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    /* 1000 µJ to the top of the range, then 500 past zero. */
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 500), 0);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, 0, 1500);
    joule_result_free(r);

    /* The cumulative counter keeps going up across the wrap. */
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 2500), 0);
    double j = 0;
    assert_int_equal(joule_device_energy_j(ctx, 0, &j, NULL), 0);
    assert_true(fabs(j - 3500e-6) < 1e-12);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static void test_multiple_wraps_with_updates(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    const uint64_t range = 1000000;
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 900000, range), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    /* Each step is less than the range; the net change is not. */
    static const uint64_t seq[] = {300000, 800000, 100000, 600000, 50000};
    uint64_t last = 900000, want = 0;
    int wraps = 0;
    for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) {
        assert_int_equal(ts_rapl_set(root, "intel-rapl:0", seq[k]), 0);
        want += seq[k] >= last ? seq[k] - last : range - last + seq[k];
        wraps += seq[k] < last;
        last = seq[k];
        if (k + 1 < sizeof seq / sizeof seq[0])
            assert_int_equal(joule_update(ctx), 0);
    }
    assert_int_equal(wraps, 3);
    assert_int_equal(want, 2150000);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, 0, want);
    joule_result_free(r);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

/* Atomic counter update, so a concurrent reader never sees a half-written
 * file. */
static void set_atomic(const char *root, const char *id, uint64_t v)
{
    char tmp[1024], dst[1024];
    snprintf(tmp, sizeof tmp, "%s/class/powercap/%s/.energy_uj.tmp", root, id);
    snprintf(dst, sizeof dst, "%s/class/powercap/%s/energy_uj", root, id);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%llu\n", (unsigned long long)v);
    fclose(f);
    rename(tmp, dst);
}

struct writer {
    const char *root;
    uint64_t range, step, value;
    int steps, period_ms;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int k = 0; k < w->steps; k++) {
        ts_sleep_ms(w->period_ms);
        w->value = (w->value + w->step) % w->range;
        set_atomic(w->root, "intel-rapl:0", w->value);
    }
    return NULL;
}

/* The keeper thread alone catches wraps: 1 J range at up to 40 W wraps
 * every 25 ms, so the keeper reads every 6.25 ms. The writer advances the
 * counter by 0.3 J every 20 ms for 40 steps: 12 J, 12 wraps, and back to
 * the starting value, so a window read only at its edges would see 0. */
static void test_keeper_catches_wraps(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    struct writer w = {root, 1000000, 300000, 400000, 40, 20};
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", w.value, w.range), 0);
    write_file(root, "intel-rapl:0", "constraint_0_max_power_uw", "40000000\n");
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", 0, &ctx), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.value, 400000);
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, 0, (uint64_t)w.steps * w.step);
    joule_result_free(r);
    joule_close(ctx);

    /* Without the keeper and without joule_update the wraps are lost:
     * the check above really depends on the keeper. */
    w.value = 400000;
    set_atomic(root, "intel-rapl:0", w.value);
    w.steps = 10; /* 3 J, 3 wraps: ends at 0.4 J + 0 */
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    writer_main(&w);
    r = end_window(ctx);
    double e = joule_result_energy_j(r, 0, NULL, NULL);
    assert_true(e < 1.0);
    joule_result_free(r);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

/* Power of a counter-only device: the rate between the last two reads. */
static void test_power_from_counter(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    assert_int_equal(ts_rapl_zone(root, "intel-rapl:0", "package-0", 1000, BIG_RANGE), 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(joule_update(ctx), 0);
    ts_sleep_ms(20);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000 + 2000000), 0); /* 2 J */
    assert_int_equal(joule_update(ctx), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double span = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    double w = 0;
    assert_int_equal(joule_device_power_w(ctx, 0, &w), 0);
    /* 2 J over at least 20 ms and at most the measured span. */
    if (!(w <= 2.0 / 0.020 + 1e-3 && w >= 2.0 / span - 1e-3))
        fail_msg("power %.3f W, expected between %.3f and 100 W", w, 2.0 / span);

    /* A counter that steps back one microjoule reads as a full wrap: a
     * huge delta in a few ms. The power must saturate, not overflow into
     * a small or arbitrary number. */
    assert_int_equal(joule_update(ctx), 0);
    ts_sleep_ms(2);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000 + 2000000 - 1), 0);
    assert_int_equal(joule_update(ctx), 0);
    assert_int_equal(joule_device_power_w(ctx, 0, &w), 0);
    if (!(w >= 4.0e6))
        fail_msg("power after a full-range step is %.3f W, expected it to saturate", w);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

/* ---- bad values ---------------------------------------------------------- */

static void test_malformed_at_discovery(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    make_socket(root, 0, 0);
    write_file(root, "intel-rapl:0:2", "energy_uj", "abc\n");
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    assert_int_equal(joule_device_count(ctx), 1);
    assert_string_equal(joule_device_label(joule_device_at(ctx, 0)), "cpu0");
    int avail = 0;
    const char *reason = rapl_reason(ctx, &avail);
    assert_non_null(reason);
    assert_int_equal(avail, 1);
    assert_non_null(strstr(reason, "intel-rapl:0:2"));
    assert_non_null(strstr(reason, "energy_uj"));
    assert_non_null(strstr(reason, "'abc'"));
    joule_close(ctx);

    /* Asking for the skipped zone by kind says why it is missing. */
    assert_int_equal(open_ctx(root, "dram", -1, &ctx), JOULE_ENODEV);

    /* A malformed range is named too. */
    write_file(root, "intel-rapl:0:2", "energy_uj", "5\n");
    write_file(root, "intel-rapl:0:2", "max_energy_range_uj", "12x\n");
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    reason = rapl_reason(ctx, &avail);
    assert_non_null(strstr(reason, "intel-rapl:0:2"));
    assert_non_null(strstr(reason, "max_energy_range_uj"));
    assert_non_null(strstr(reason, "12x"));
    assert_int_equal(find_label(ctx, "dram0"), -1);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static void check_error_device(const joule_result *r, int dev, const char *path,
                               const char *what)
{
    int q = -1, st = 0;
    double e = joule_result_energy_j(r, dev, &q, &st);
    assert_true(isnan(e));
    assert_int_equal(q, JOULE_QUALITY_ERROR);
    assert_int_equal(st, JOULE_EIO);
    const char *msg = joule_last_error();
    if (!strstr(msg, path) || !strstr(msg, what))
        fail_msg("error '%s' should name %s and %s", msg, path, what);
}

static void test_malformed_at_read(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    make_socket(root, 0, 0);
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    int c = find_label(ctx, "cpu0"), d = find_label(ctx, "dram0");

    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    write_file(root, "intel-rapl:0", "energy_uj", "abc\n");
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0:2", 4000000 + 4242), 0);
    joule_result *r = end_window(ctx);
    check_error_device(r, c, zone_path(root, "intel-rapl:0", "energy_uj"), "abc");
    assert_energy_uj(r, d, 4242);
    /* Devices in error are left out of totals. */
    assert_true(fabs(joule_result_total_all_j(r) - 4242e-6) < 1e-12);
    joule_result_free(r);

    /* joule_update reports it too; the good device is still read. */
    assert_int_equal(joule_update(ctx), JOULE_EIO);
    assert_non_null(strstr(joule_last_error(), "abc"));

    /* Back to a number: measuring resumes, with no jump. */
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000000 + 10), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000000 + 60), 0);
    r = end_window(ctx);
    assert_energy_uj(r, c, 50);
    joule_result_free(r);

    /* A value above max_energy_range_uj is an error, not a huge delta. */
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    char text[64];
    snprintf(text, sizeof text, "%llu\n", BIG_RANGE + 5);
    write_file(root, "intel-rapl:0", "energy_uj", text);
    r = end_window(ctx);
    check_error_device(r, c, zone_path(root, "intel-rapl:0", "energy_uj"),
                       "max_energy_range_uj");
    assert_energy_uj(r, d, 0);
    joule_result_free(r);

    /* A counter file that vanished. */
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000000 + 60), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(unlink(zone_path(root, "intel-rapl:0", "energy_uj")), 0);
    r = end_window(ctx);
    check_error_device(r, c, zone_path(root, "intel-rapl:0", "energy_uj"), "cannot read");
    joule_result_free(r);
    joule_close(ctx);
    ts_rmtree(root);
    free(root);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* energy_uj is kept open between reads; however a tree's writer changes
 * it (in place, by rename, removed and made again), a read sees the file
 * now at the path, and closing the context closes it. */
static void test_counter_file_replaced(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    make_socket(root, 0, 0);
    int fds = open_fds();
    joule_ctx *ctx = NULL;
    assert_int_equal(open_ctx(root, "cpu", -1, &ctx), 0);
    int c = find_label(ctx, "cpu0");
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1000), 0);
    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 1500), 0); /* in place */
    joule_result *r = end_window(ctx);
    assert_energy_uj(r, c, 500);
    joule_result_free(r);

    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    set_atomic(root, "intel-rapl:0", 1700); /* a new file renamed over it */
    r = end_window(ctx);
    assert_energy_uj(r, c, 200);
    joule_result_free(r);

    assert_int_equal(joule_window_begin(ctx, "w", 0), 0);
    assert_int_equal(unlink(zone_path(root, "intel-rapl:0", "energy_uj")), 0);
    assert_int_equal(ts_rapl_set(root, "intel-rapl:0", 2000), 0); /* made again */
    r = end_window(ctx);
    assert_energy_uj(r, c, 300);
    joule_result_free(r);
    joule_close(ctx);
    assert_int_equal(open_fds(), fds);
    ts_rmtree(root);
    free(root);
}

/* ---- permissions ------------------------------------------------------- */

/* Runs fn as an unprivileged user in a child (as root, mode bits do not
 * stop reads); returns the child's exit status and its message. */
#define CHILD_CHECK(cond, ...)                                             \
    do {                                                                   \
        if (!(cond)) {                                                     \
            dprintf(fd, "line %d: ", __LINE__);                            \
            dprintf(fd, __VA_ARGS__);                                      \
            _exit(1);                                                      \
        }                                                                  \
    } while (0)

static int run_unprivileged(void (*fn)(const char *root, int fd), const char *root,
                            char *msg, size_t msglen)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) || setgid(65534) || setuid(65534))) {
            dprintf(p[1], "cannot drop privileges: %s", strerror(errno));
            _exit(2);
        }
        fn(root, p[1]);
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < msglen && (k = read(p[0], msg + n, msglen - n - 1)) > 0)
        n += (size_t)k;
    msg[n] = '\0';
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void child_one_denied(const char *root, int fd)
{
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    joule_options_create(&o);
    joule_options_set_devices(o, "all");
    joule_options_set_sysfs_root(o, root);
    joule_options_set_keeper_interval_ms(o, -1);
    joule_options_set_edge_correction(o, 0);
    int rc = joule_open(o, &ctx);
    joule_options_destroy(o);
    CHILD_CHECK(rc == 0, "open failed: %s", joule_last_error());
    int c = find_label(ctx, "cpu0");
    CHILD_CHECK(c >= 0, "cpu0 missing");
    CHILD_CHECK(find_label(ctx, "dram0") < 0, "dram0 should be absent");
    int avail = 0;
    const char *reason = rapl_reason(ctx, &avail);
    CHILD_CHECK(reason && avail == 1, "rapl should be available");
    CHILD_CHECK(strstr(reason, "root only since Linux 5.10"), "reason '%s' lacks the cause", reason);
    CHILD_CHECK(strstr(reason, "intel-rapl:0:2"), "reason '%s' lacks the zone", reason);
    CHILD_CHECK(strstr(reason, "jouled") && strstr(reason, "grant read access"),
                "reason '%s' lacks the fix", reason);
    CHILD_CHECK(joule_window_begin(ctx, "w", 0) == 0, "begin: %s", joule_last_error());
    CHILD_CHECK(ts_rapl_set(root, "intel-rapl:0", 1000000 + 321) == 0, "cannot write counter");
    ts_sleep_ms(3);
    joule_result *r = NULL;
    CHILD_CHECK(joule_window_end(ctx, "w", 0, &r) == 0, "end: %s", joule_last_error());
    int q = -1, st = -1;
    double e = joule_result_energy_j(r, c, &q, &st);
    CHILD_CHECK(st == 0 && q != JOULE_QUALITY_ERROR && llround(e * 1e6) == 321,
                "cpu0: %g J quality %d status %d", e, q, st);
    joule_result_free(r);
    joule_close(ctx);
}

static void child_all_denied(const char *root, int fd)
{
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    joule_options_create(&o);
    joule_options_set_devices(o, "cpu");
    joule_options_set_sysfs_root(o, root);
    joule_options_set_keeper_interval_ms(o, -1);
    int rc = joule_open(o, &ctx);
    joule_options_destroy(o);
    CHILD_CHECK(rc == JOULE_EPERM || rc == JOULE_ENODEV, "open gave %d (%s)", rc,
                joule_last_error());
    CHILD_CHECK(ctx == NULL, "no context on failure");
    const char *msg = joule_last_error();
    CHILD_CHECK(strstr(msg, "root only since Linux 5.10"), "message '%s' lacks the cause", msg);
    CHILD_CHECK(strstr(msg, "grant read access"), "message '%s' lacks the fix", msg);
}

static void make_readable_tree(const char *root)
{
    /* mkdtemp makes the root 0700: let the unprivileged child in. */
    assert_int_equal(chmod(root, 0755), 0);
    make_socket(root, 0, 0);
    assert_int_equal(chmod(zone_path(root, "intel-rapl:0", "energy_uj"), 0666), 0);
}

static void test_eacces(void **state)
{
    (void)state;
    char *root = ts_mkdtemp();
    make_readable_tree(root);
    assert_int_equal(chmod(zone_path(root, "intel-rapl:0:2", "energy_uj"), geteuid() ? 0 : 0400), 0);
    char msg[2048];
    int rc = run_unprivileged(child_one_denied, root, msg, sizeof msg);
    if (rc)
        fail_msg("one zone denied: child exit %d: %s", rc, msg);

    assert_int_equal(chmod(zone_path(root, "intel-rapl:0", "energy_uj"), geteuid() ? 0 : 0400), 0);
    assert_int_equal(chmod(zone_path(root, "intel-rapl:0:0", "energy_uj"), geteuid() ? 0 : 0400), 0);
    assert_int_equal(chmod(zone_path(root, "intel-rapl:0:1", "energy_uj"), geteuid() ? 0 : 0400), 0);
    rc = run_unprivileged(child_all_denied, root, msg, sizeof msg);
    if (rc)
        fail_msg("every zone denied: child exit %d: %s", rc, msg);
    ts_rmtree(root);
    free(root);
}

int main(void)
{
    /* Keep real GPUs (if any) out of "all". */
    setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    setenv("JOULE_ROCM_SMI_LIBRARY", "/nonexistent/librocm_smi64.so", 1);
    unsetenv("JOULE_SYSFS_ROOT");
    unsetenv("JOULE_DEVICES");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_socket_kinds_labels),
        cmocka_unit_test(test_sysfs_root_from_env),
        cmocka_unit_test(test_missing_dram),
        cmocka_unit_test(test_two_sockets),
        cmocka_unit_test(test_die_zones),
        cmocka_unit_test(test_psys),
        cmocka_unit_test(test_mmio_duplicate_skipped),
        cmocka_unit_test(test_amd_tree),
        cmocka_unit_test(test_single_wrap),
        cmocka_unit_test(test_multiple_wraps_with_updates),
        cmocka_unit_test(test_keeper_catches_wraps),
        cmocka_unit_test(test_power_from_counter),
        cmocka_unit_test(test_malformed_at_discovery),
        cmocka_unit_test(test_malformed_at_read),
        cmocka_unit_test(test_counter_file_replaced),
        cmocka_unit_test(test_eacces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
