/* The optimizers' SQLite file (src/optimize/store.c): a database written
 * by joule before the store existed still reads, optimizers keep their
 * own tables and versions side by side, and a newer version is refused
 * with the file untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>

#include "optimize/plo_store.h"
#include "optimize/store.h"
#include "test_support.h"

/* What joule 0.1's plo_store.c wrote (sqlite3 .dump of its file; the
 * claim's host and heartbeat made another's, years old): a complete
 * profile, and an incomplete one that a process on another host claimed
 * long ago. */
static const char v1_dump[] =
    "CREATE TABLE plo_claim ( profile_id INTEGER PRIMARY KEY REFERENCES plo_profile(id) "
    "ON DELETE CASCADE, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, "
    "pid_start INTEGER NOT NULL, heartbeat_unix_s REAL NOT NULL);"
    "INSERT INTO plo_claim VALUES(2,'30631-8be212907a17b13c','oldnode/c69218cb',30631,"
    "1385589,1.6e+09);"
    "CREATE TABLE plo_measurement ( profile_id INTEGER NOT NULL REFERENCES plo_profile(id) "
    "ON DELETE CASCADE, power_limit_w REAL NOT NULL CHECK (power_limit_w > 0), "
    "time_per_step_s REAL NOT NULL CHECK (time_per_step_s > 0), energy_per_step_j REAL NOT "
    "NULL CHECK (energy_per_step_j > 0), PRIMARY KEY (profile_id, power_limit_w));"
    "INSERT INTO plo_measurement VALUES(1,300.0,0.5,150.0);"
    "INSERT INTO plo_measurement VALUES(1,250.0,0.55,130.0);"
    "INSERT INTO plo_measurement VALUES(1,200.0,0.7,125.0);"
    "INSERT INTO plo_measurement VALUES(2,300.0,0.5,150.0);"
    "CREATE TABLE plo_profile ( id INTEGER PRIMARY KEY, gpu_model TEXT NOT NULL, gpu_count "
    "INTEGER NOT NULL CHECK (gpu_count > 0), job TEXT NOT NULL, complete INTEGER NOT NULL "
    "DEFAULT 0 CHECK (complete IN (0, 1)), optimal_power_limit_w REAL, selector TEXT, "
    "updated_unix_s REAL NOT NULL, UNIQUE (gpu_model, gpu_count, job));"
    "INSERT INTO plo_profile VALUES(1,'NVIDIA A100-SXM4-40GB',2,'bert',1,250.0,'energy',"
    "1796399420.0);"
    "INSERT INTO plo_profile VALUES(2,'NVIDIA A100-SXM4-40GB',1,'resnet',0,NULL,NULL,"
    "1796399420.0);"
    "PRAGMA user_version = 1;";

static void write_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void old_database_still_reads(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), db[512];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    write_sql(db, v1_dump);
    struct plo_store *s = NULL;
    assert_int_equal(plo_store_open(db, 1000, &s), 0);
    struct jopt_point pts[8];
    int complete = -1;
    struct plo_key bert = {"NVIDIA A100-SXM4-40GB", 2, "bert"};
    assert_int_equal(plo_store_load(s, &bert, pts, 8, &complete), 3);
    assert_int_equal(complete, 1);
    assert_true(pts[0].knob == 300 && pts[0].time_s == 0.5 && pts[0].energy_j == 150);
    assert_true(pts[2].knob == 200 && pts[2].energy_j == 125);
    struct plo_key resnet = {"NVIDIA A100-SXM4-40GB", 1, "resnet"};
    assert_int_equal(plo_store_load(s, &resnet, pts, 8, &complete), 1);
    assert_int_equal(complete, 0);
    char holder[128] = "";
    /* the old claim lapsed long ago: the key passes to us */
    assert_int_equal(plo_store_claim(s, &resnet, 600, holder, sizeof holder), PLO_CLAIM_OURS);
    assert_int_equal(plo_store_claim(s, &bert, 600, holder, sizeof holder), PLO_CLAIM_COMPLETE);
    struct jopt_point more = {250, 0.6, 140};
    assert_int_equal(plo_store_put(s, &resnet, &more), 0);
    assert_int_equal(plo_store_release(s, &resnet), 0);
    plo_store_close(s);
    /* still a version-1 file, now with the power-limit tables' version */
    assert_int_equal(query_int(db, "PRAGMA user_version"), 1);
    assert_int_equal(query_int(db, "SELECT version FROM joule_schema WHERE name = 'plo'"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plo_measurement"), 5);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plo_claim"), 0);
    ts_rmtree(dir);
    free(dir);
}

/* A second optimizer's tables, at version 2, with a migration from 1. */
static int migrated_from;

static int demo_migrate(struct jstore *s, int from)
{
    migrated_from = from;
    return jstore_exec(s, "ALTER TABLE demo_arm ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0",
                       "migrate");
}

static const struct jstore_schema demo_v1 = {
    .name = "demo", .what = "demo database", .version = 1,
    .create_sql = "CREATE TABLE IF NOT EXISTS demo_arm (id INTEGER PRIMARY KEY, "
                  "batch_size INTEGER NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS demo_claim (arm_id INTEGER PRIMARY KEY "
                  "REFERENCES demo_arm(id) ON DELETE CASCADE, owner TEXT NOT NULL, host TEXT "
                  "NOT NULL, pid INTEGER NOT NULL, pid_start INTEGER NOT NULL, "
                  "heartbeat_unix_s REAL NOT NULL);",
};
static const struct jstore_schema demo_v2 = {
    .name = "demo", .what = "demo database", .version = 2,
    .create_sql = "CREATE TABLE IF NOT EXISTS demo_arm (id INTEGER PRIMARY KEY, "
                  "batch_size INTEGER NOT NULL, pulls INTEGER NOT NULL DEFAULT 0);",
    .migrate = demo_migrate,
};

static void optimizers_share_the_file(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), db[512];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    struct plo_store *p = NULL;
    assert_int_equal(plo_store_open(db, 1000, &p), 0);
    struct plo_key key = {"GPU", 1, "job"};
    struct jopt_point pt = {300, 1, 100};
    assert_int_equal(plo_store_put(p, &key, &pt), 0);

    struct jstore *a = NULL, *b = NULL;
    assert_int_equal(jstore_open(db, 1000, &demo_v1, &a), 0);
    assert_int_equal(jstore_exec(a, "INSERT INTO demo_arm VALUES (1, 32)", "insert"), 0);
    /* claims on the demo's own table: one holder at a time */
    const struct jstore_claims claims = {"demo_claim", "arm_id"};
    assert_int_equal(jstore_open(db, 1000, &demo_v1, &b), 0);
    char holder[128] = "";
    assert_int_equal(jstore_begin(a, 1, "claim"), 0);
    assert_int_equal(jstore_claim(a, &claims, 1, 600, holder, sizeof holder), JSTORE_CLAIM_OURS);
    assert_int_equal(jstore_end(a, 0, "claim"), 0);
    assert_int_equal(jstore_begin(b, 1, "claim"), 0);
    assert_int_equal(jstore_claim(b, &claims, 1, 600, holder, sizeof holder), JSTORE_CLAIM_HELD);
    assert_int_equal(jstore_end(b, 0, "claim"), 0);
    assert_non_null(strstr(holder, "process "));
    assert_int_equal(jstore_begin(a, 1, "unclaim"), 0);
    assert_int_equal(jstore_unclaim(a, &claims, 1, 1), 0);
    assert_int_equal(jstore_end(a, 0, "unclaim"), 0);
    assert_int_equal(jstore_begin(b, 1, "claim"), 0);
    assert_int_equal(jstore_claim(b, &claims, 1, 600, holder, sizeof holder), JSTORE_CLAIM_OURS);
    assert_int_equal(jstore_end(b, 0, "claim"), 0);
    jstore_close(a);
    jstore_close(b);

    /* version 2 migrates once; the power-limit tables are left alone */
    assert_int_equal(jstore_open(db, 1000, &demo_v2, &a), 0);
    assert_int_equal(migrated_from, 1);
    jstore_close(a);
    assert_int_equal(query_int(db, "SELECT pulls FROM demo_arm WHERE id = 1"), 0);
    assert_int_equal(query_int(db, "SELECT version FROM joule_schema WHERE name = 'demo'"), 2);
    migrated_from = 0;
    assert_int_equal(jstore_open(db, 1000, &demo_v2, &a), 0);
    assert_int_equal(migrated_from, 0);
    jstore_close(a);

    /* a joule that knows only version 1 refuses the file, untouched */
    assert_int_equal(jstore_open(db, 1000, &demo_v1, &a), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "version 2 of its 'demo' tables"));
    assert_int_equal(query_int(db, "SELECT version FROM joule_schema WHERE name = 'demo'"), 2);

    struct jopt_point pts[4];
    int complete = 0;
    assert_int_equal(plo_store_load(p, &key, pts, 4, &complete), 1);
    plo_store_close(p);
    ts_rmtree(dir);
    free(dir);
}

static void newer_file_is_refused(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp(), db[512];
    snprintf(db, sizeof db, "%s/joule.db", dir);
    write_sql(db, "CREATE TABLE x (a); PRAGMA user_version = 7;");
    struct plo_store *p = NULL;
    assert_int_equal(plo_store_open(db, 1000, &p), JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "schema version 7, newer than this joule's 1"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'plo%'"),
                     0);
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_database_still_reads),
        cmocka_unit_test(optimizers_share_the_file),
        cmocka_unit_test(newer_file_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
