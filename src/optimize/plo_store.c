/* The power-limit optimizer's tables in the optimizers' SQLite file
 * (store.c does the file, its locking, versions and claims). See
 * plo_store.h. */
#include "optimize/plo_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "optimize/store.h"

static const struct jstore_schema plo_schema = {
    .name = "plo",
    .what = "power-limit database",
    .version = 1,
    .create_sql =
        "CREATE TABLE IF NOT EXISTS plo_profile ("
        " id INTEGER PRIMARY KEY,"
        " gpu_model TEXT NOT NULL,"
        " gpu_count INTEGER NOT NULL CHECK (gpu_count > 0),"
        " job TEXT NOT NULL,"
        " complete INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),"
        " optimal_power_limit_w REAL,"
        " selector TEXT,"
        " updated_unix_s REAL NOT NULL,"
        " UNIQUE (gpu_model, gpu_count, job));"
        "CREATE TABLE IF NOT EXISTS plo_measurement ("
        " profile_id INTEGER NOT NULL REFERENCES plo_profile(id) ON DELETE CASCADE,"
        " power_limit_w REAL NOT NULL CHECK (power_limit_w > 0),"
        " time_per_step_s REAL NOT NULL CHECK (time_per_step_s > 0),"
        " energy_per_step_j REAL NOT NULL CHECK (energy_per_step_j > 0),"
        " PRIMARY KEY (profile_id, power_limit_w));"
        /* Who profiles a key now (store.h, claims). */
        "CREATE TABLE IF NOT EXISTS plo_claim ("
        " profile_id INTEGER PRIMARY KEY REFERENCES plo_profile(id) ON DELETE CASCADE,"
        " owner TEXT NOT NULL,"
        " host TEXT NOT NULL,"
        " pid INTEGER NOT NULL,"
        " pid_start INTEGER NOT NULL,"
        " heartbeat_unix_s REAL NOT NULL);",
};

static const struct jstore_claims plo_claims = {"plo_claim", "profile_id"};

struct plo_store {
    struct jstore *s;
};

int plo_store_default_path(char *buf, size_t len)
{
    return jstore_default_path(buf, len, plo_schema.what);
}

int plo_store_open(const char *path, int busy_timeout_ms, struct plo_store **out)
{
    *out = NULL;
    struct plo_store *p = calloc(1, sizeof *p);
    if (!p)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = jstore_open(path, busy_timeout_ms, &plo_schema, &p->s);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void plo_store_close(struct plo_store *p)
{
    if (!p)
        return;
    jstore_close(p->s);
    free(p);
}

const char *plo_store_path(const struct plo_store *p) { return jstore_path(p->s); }

static int check_key(const struct plo_key *key)
{
    if (!key || !key->gpu_model || !key->job || key->gpu_count < 1)
        return joule_set_error(JOULE_EINVAL, "profile key needs a GPU model, a GPU count >= 1 "
                                             "and a job name");
    return 0;
}

/* Runs one statement with the key bound as ?1-?3 (and ?4 = now when
 * with_time); *id gets the first column of a row, if any. */
static int run_keyed(struct jstore *s, const char *sql, const struct plo_key *key,
                     int with_time, sqlite3_int64 *id, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(jstore_db(s), sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return jstore_error(s, rc, "prepare");
    sqlite3_bind_text(st, 1, key->gpu_model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, key->gpu_count);
    sqlite3_bind_text(st, 3, key->job, -1, SQLITE_TRANSIENT);
    if (with_time)
        sqlite3_bind_double(st, 4, (double)time(NULL));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && id)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : jstore_error(s, rc, what);
}

/* Profile id of key, creating the row when create is set; 0 when absent. */
static int profile_id(struct jstore *s, const struct plo_key *key, int create,
                      sqlite3_int64 *id)
{
    *id = 0;
    int rc = 0;
    if (create)
        rc = run_keyed(s, "INSERT INTO plo_profile (gpu_model, gpu_count, job, updated_unix_s) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (gpu_model, gpu_count, job) "
                          "DO UPDATE SET updated_unix_s = excluded.updated_unix_s",
                       key, 1, NULL, "write the profile");
    if (!rc)
        rc = run_keyed(s, "SELECT id FROM plo_profile WHERE gpu_model = ?1 AND gpu_count = ?2 "
                          "AND job = ?3", key, 0, id, "read the profile");
    return rc;
}

int plo_store_load(struct plo_store *p, const struct plo_key *key, struct jopt_point *pts,
                   int cap, int *complete)
{
    struct jstore *s = p->s;
    int rc = check_key(key);
    if (rc)
        return rc;
    *complete = 0;
    /* One read transaction: the flag and the rows are seen together. */
    if ((rc = jstore_begin(s, 0, "begin a read")))
        return rc;
    sqlite3_int64 id;
    if ((rc = profile_id(s, key, 0, &id)) || id == 0)
        return jstore_end(s, rc, "end a read");
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(jstore_db(s),
        "SELECT p.complete, m.power_limit_w, m.time_per_step_s, m.energy_per_step_j "
        "FROM plo_profile p JOIN plo_measurement m ON m.profile_id = p.id "
        "WHERE p.id = ?1 ORDER BY m.power_limit_w DESC", -1, &st, NULL);
    if (src != SQLITE_OK)
        return jstore_end(s, jstore_error(s, src, "prepare"), "end a read");
    sqlite3_bind_int64(st, 1, id);
    int n = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        *complete = sqlite3_column_int(st, 0);
        if (n < cap)
            pts[n] = (struct jopt_point){sqlite3_column_double(st, 1),
                                         sqlite3_column_double(st, 2),
                                         sqlite3_column_double(st, 3)};
        n++;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return jstore_end(s, jstore_error(s, src, "read the measurements"), "end a read");
    if ((rc = jstore_end(s, 0, "end a read")))
        return rc;
    return n < cap ? n : cap;
}

static int put_locked(struct jstore *s, sqlite3_int64 id, const struct jopt_point *pt)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(jstore_db(s),
        "INSERT OR REPLACE INTO plo_measurement (profile_id, power_limit_w, time_per_step_s, "
        "energy_per_step_j) VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return jstore_error(s, rc, "prepare");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_double(st, 2, pt->knob);
    sqlite3_bind_double(st, 3, pt->time_s);
    sqlite3_bind_double(st, 4, pt->energy_j);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : jstore_error(s, rc, "write a measurement");
}

int plo_store_put(struct plo_store *p, const struct plo_key *key, const struct jopt_point *pt)
{
    struct jstore *s = p->s;
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = jstore_begin(s, 1, "lock for writing")))
        return rc;
    sqlite3_int64 id;
    if (!(rc = profile_id(s, key, 1, &id)))
        rc = put_locked(s, id, pt);
    return jstore_end(s, rc, "commit a measurement");
}

int plo_store_complete(struct plo_store *p, const struct plo_key *key,
                       const struct jopt_point *pts, int n, double optimal_w,
                       const char *selector)
{
    struct jstore *s = p->s;
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = jstore_begin(s, 1, "lock for writing")))
        return rc;
    sqlite3_int64 id;
    rc = profile_id(s, key, 1, &id);
    for (int i = 0; !rc && i < n; i++)
        rc = put_locked(s, id, &pts[i]);
    if (!rc) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(jstore_db(s),
            "UPDATE plo_profile SET complete = 1, optimal_power_limit_w = ?2, selector = ?3 "
            "WHERE id = ?1", -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_double(st, 2, optimal_w);
            sqlite3_bind_text(st, 3, selector ? selector : "", -1, SQLITE_TRANSIENT);
            src = sqlite3_step(st);
            if (src == SQLITE_DONE)
                src = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (src != SQLITE_OK)
            rc = jstore_error(s, src, "mark the profile complete");
    }
    if (!rc) /* complete: nobody profiles it any more */
        rc = jstore_unclaim(s, &plo_claims, id, 0);
    return jstore_end(s, rc, "commit the profile");
}

int plo_store_forget(struct plo_store *p, const struct plo_key *key)
{
    struct jstore *s = p->s;
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = jstore_begin(s, 1, "lock for writing")))
        return rc;
    rc = run_keyed(s, "DELETE FROM plo_profile WHERE gpu_model = ?1 AND gpu_count = ?2 AND "
                      "job = ?3", key, 0, NULL, "delete the profile");
    return jstore_end(s, rc, "commit");
}

int plo_store_claim(struct plo_store *p, const struct plo_key *key, double ttl_s,
                    char *holder, size_t holder_len)
{
    struct jstore *s = p->s;
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = jstore_begin(s, 1, "lock for a claim")))
        return rc;
    sqlite3_int64 id;
    int complete = 0, result = PLO_CLAIM_OURS;
    if (!(rc = profile_id(s, key, 1, &id))) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(jstore_db(s), "SELECT complete FROM plo_profile WHERE "
                                     "id = ?1", -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            if ((src = sqlite3_step(st)) == SQLITE_ROW)
                complete = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_ROW)
            rc = jstore_error(s, src, "read the profile");
    }
    if (!rc && complete) {
        result = PLO_CLAIM_COMPLETE;
    } else if (!rc) {
        int c = jstore_claim(s, &plo_claims, id, ttl_s, holder, holder_len);
        if (c < 0)
            rc = c;
        else
            result = c == JSTORE_CLAIM_OURS ? PLO_CLAIM_OURS : PLO_CLAIM_HELD;
    }
    rc = jstore_end(s, rc, "commit the claim");
    return rc ? rc : result;
}

int plo_store_release(struct plo_store *p, const struct plo_key *key)
{
    struct jstore *s = p->s;
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = jstore_begin(s, 1, "lock to end a claim")))
        return rc;
    sqlite3_int64 id;
    if (!(rc = profile_id(s, key, 0, &id)) && id)
        rc = jstore_unclaim(s, &plo_claims, id, 1);
    return jstore_end(s, rc, "commit");
}
