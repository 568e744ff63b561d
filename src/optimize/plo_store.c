/* SQLite persistence of power-limit profiles. See plo_store.h.
 *
 * The database keeps SQLite's rollback journal (journal_mode DELETE, which
 * also works on network home folders where WAL does not) with
 * synchronous=FULL: a transaction is either entirely in the file or rolled
 * back from the journal by the next opener. Writers take the lock up front
 * (BEGIN IMMEDIATE) and wait busy_timeout_ms for another process. */
#include "optimize/plo_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

#define SCHEMA_VERSION 1

struct plo_store {
    sqlite3 *db;
    char path[4096];
    /* This connection's identity in claims: a random owner token, and the
     * host (name and boot) and process (pid and start time) it runs as. */
    char owner[64], host[320];
    long long pid_start;
};

static const char schema_sql[] =
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
    /* Who profiles a key now (see plo_store_claim); added in place, as old
     * readers ignore a table they do not know. */
    "CREATE TABLE IF NOT EXISTS plo_claim ("
    " profile_id INTEGER PRIMARY KEY REFERENCES plo_profile(id) ON DELETE CASCADE,"
    " owner TEXT NOT NULL,"
    " host TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " pid_start INTEGER NOT NULL,"
    " heartbeat_unix_s REAL NOT NULL);";

/* Maps an SQLite failure to a JOULE_E* code with a message naming the
 * database and the fix. */
static int store_error(const char *path, sqlite3 *db, int rc, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return joule_set_error(JOULE_EBUSY,
            "power-limit database '%s' is locked by another process (%s: %s); wait for it "
            "to finish or set another database path (JOULE_DB)", path, what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return joule_set_error(JOULE_EIO,
            "power-limit database '%s' is corrupt or not a joule database (%s: %s); it was "
            "left untouched: move it away or set another database path (JOULE_DB)",
            path, what, msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return joule_set_error(JOULE_EPERM,
            "cannot write power-limit database '%s' (%s: %s); check its permissions or set "
            "another database path (JOULE_DB)", path, what, msg);
    case SQLITE_NOMEM:
        return joule_set_error(JOULE_ENOMEM, "out of memory (%s)", what);
    default:
        return joule_set_error(JOULE_EIO, "power-limit database '%s': %s: %s", path, what,
                               msg);
    }
}

int plo_store_default_path(char *buf, size_t len)
{
    const char *env = getenv("JOULE_DB");
    if (env && *env) {
        if ((size_t)snprintf(buf, len, "%s", env) >= len)
            return joule_set_error(JOULE_EINVAL, "JOULE_DB path is too long");
        return 0;
    }
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg == '/')
        n = snprintf(buf, len, "%s/joule/joule.db", xdg);
    else if (home && *home)
        n = snprintf(buf, len, "%s/.local/share/joule/joule.db", home);
    else
        return joule_set_error(JOULE_EINVAL,
            "no place for the power-limit database: HOME is unset; set JOULE_DB");
    if (n < 0 || (size_t)n >= len)
        return joule_set_error(JOULE_EINVAL, "database path is too long");
    return 0;
}

/* One folder; one that exists already is fine. */
static int make_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    return joule_set_error(JOULE_EIO, "cannot create folder '%s' for the power-limit "
                           "database: %s", dir, strerror(errno == EEXIST ? ENOTDIR : errno));
}

/* The default data folder, $XDG_DATA_HOME/joule or ~/.local/share/joule,
 * is the only folder joule creates (with the missing .local and
 * .local/share under an existing home). */
static int make_default_dir(void)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg == '/') {
        snprintf(dir, sizeof dir, "%s/joule", xdg);
        return make_dir(dir);
    }
    static const char *const parts[] = {"/.local", "/.local/share", "/.local/share/joule"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        snprintf(dir, sizeof dir, "%s%s", home, parts[i]);
        int rc = make_dir(dir);
        if (rc)
            return rc;
    }
    return 0;
}

/* Any other path's folder must exist: creating folders where a caller (or
 * a typo, or root) points is not the library's business. */
static int check_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0)
        return joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
            "the folder '%s' of the power-limit database '%s' cannot be used (%s); joule "
            "creates only its default folder ($XDG_DATA_HOME/joule or ~/.local/share/joule): "
            "create it or choose another path", dir, path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return joule_set_error(JOULE_EINVAL, "'%s' in the power-limit database path '%s' is "
                               "not a folder", dir, path);
    return 0;
}

/* Field 22 of /proc/PID/stat, the process's start in clock ticks since
 * boot; 0 when the process is gone or a zombie. A pid with another start
 * is another process. */
static long long process_start(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2; /* field 3, the state */
    for (int field = 3; field < 22 && p; field++)
        if ((p = strchr(p, ' ')))
            p++;
    long long start = 0;
    return p && sscanf(p, "%lld", &start) == 1 ? start : 0;
}

/* Host (name and boot id: a reboot ends every claim made before it),
 * process, and a random token that tells two optimizers of one process
 * apart. */
static void identify(struct plo_store *s)
{
    char name[256] = "", boot[64] = "";
    gethostname(name, sizeof name - 1);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof boot, f))
            boot[0] = '\0';
        fclose(f);
        boot[strcspn(boot, "\n")] = '\0';
    }
    snprintf(s->host, sizeof s->host, "%s/%s", name, boot);
    s->pid_start = process_start(getpid());
    unsigned long long token = 0;
    if (getrandom(&token, sizeof token, 0) != (ssize_t)sizeof token)
        token = (unsigned long long)time(NULL) ^ (unsigned long long)(uintptr_t)s;
    snprintf(s->owner, sizeof s->owner, "%ld-%016llx", (long)getpid(), token);
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int exec(struct plo_store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_error(s->path, s->db, rc, what);
}

static void rollback(struct plo_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int plo_store_open(const char *path, int busy_timeout_ms, struct plo_store **out)
{
    *out = NULL;
    struct plo_store *s = calloc(1, sizeof *s);
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = 0;
    const char *env = getenv("JOULE_DB");
    int is_default = !path && !(env && *env);
    if (path) {
        if (strlen(path) >= sizeof s->path) {
            free(s);
            return joule_set_error(JOULE_EINVAL, "database path is too long");
        }
        snprintf(s->path, sizeof s->path, "%s", path);
    } else if ((rc = plo_store_default_path(s->path, sizeof s->path))) {
        free(s);
        return rc;
    }
    if ((rc = is_default ? make_default_dir() : check_parent(s->path))) {
        free(s);
        return rc;
    }
    identify(s);
    int src = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              NULL);
    if (src != SQLITE_OK) {
        rc = store_error(s->path, s->db, src, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, busy_timeout_ms < 0 ? 0 : busy_timeout_ms);
    sqlite3_extended_result_codes(s->db, 1);
    /* quick_check reads the whole (small) file: a corrupt database is
     * reported before anything is written to it. */
    sqlite3_stmt *st = NULL;
    src = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *res = (const char *)sqlite3_column_text(st, 0);
            if (!res || strcmp(res, "ok") != 0) {
                joule_set_error(JOULE_EIO,
                    "power-limit database '%s' is corrupt (%s); it was left untouched: move it "
                    "away or set another database path (JOULE_DB)", s->path,
                    res ? res : "quick_check failed");
                sqlite3_finalize(st);
                rc = JOULE_EIO;
                goto fail;
            }
            src = SQLITE_OK;
        } else if (src == SQLITE_DONE) {
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK) {
        rc = store_error(s->path, s->db, src, "check");
        goto fail;
    }
    if ((rc = exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "configure")))
        goto fail;
    /* Schema: created once, in one transaction. */
    if ((rc = exec(s, "BEGIN IMMEDIATE", "lock for the schema")))
        goto fail;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        rollback(s);
        rc = joule_set_error(JOULE_EINVAL,
            "power-limit database '%s' has schema version %d, newer than this joule's %d; "
            "upgrade joule or set another database path (JOULE_DB)", s->path, version,
            SCHEMA_VERSION);
        goto fail;
    }
    if ((rc = exec(s, schema_sql, "create the schema"))) {
        rollback(s);
        goto fail;
    }
    if (version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        if ((rc = exec(s, sql, "set the schema version"))) {
            rollback(s);
            goto fail;
        }
    }
    if ((rc = exec(s, "COMMIT", "commit the schema"))) {
        rollback(s);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s);
    return rc;
}

void plo_store_close(struct plo_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

const char *plo_store_path(const struct plo_store *s) { return s->path; }

static int check_key(const struct plo_key *key)
{
    if (!key || !key->gpu_model || !key->job || key->gpu_count < 1)
        return joule_set_error(JOULE_EINVAL, "profile key needs a GPU model, a GPU count >= 1 "
                                             "and a job name");
    return 0;
}

/* Profile id of key, creating the row when create is set; 0 when absent. */
static int profile_id(struct plo_store *s, const struct plo_key *key, int create,
                      sqlite3_int64 *id)
{
    sqlite3_stmt *st = NULL;
    int rc;
    *id = 0;
    if (create) {
        rc = sqlite3_prepare_v2(s->db,
            "INSERT INTO plo_profile (gpu_model, gpu_count, job, updated_unix_s) "
            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (gpu_model, gpu_count, job) "
            "DO UPDATE SET updated_unix_s = excluded.updated_unix_s", -1, &st, NULL);
        if (rc != SQLITE_OK)
            return store_error(s->path, s->db, rc, "prepare");
        sqlite3_bind_text(st, 1, key->gpu_model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, key->gpu_count);
        sqlite3_bind_text(st, 3, key->job, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 4, (double)time(NULL));
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return store_error(s->path, s->db, rc, "write the profile");
    }
    rc = sqlite3_prepare_v2(s->db,
        "SELECT id FROM plo_profile WHERE gpu_model = ?1 AND gpu_count = ?2 AND job = ?3",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(s->path, s->db, rc, "prepare");
    sqlite3_bind_text(st, 1, key->gpu_model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, key->gpu_count);
    sqlite3_bind_text(st, 3, key->job, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(s->path, s->db, rc, "read the profile");
    return 0;
}

int plo_store_load(struct plo_store *s, const struct plo_key *key, struct jopt_point *pts,
                   int cap, int *complete)
{
    int rc = check_key(key);
    if (rc)
        return rc;
    *complete = 0;
    /* One read transaction: the flag and the rows are seen together. */
    if ((rc = exec(s, "BEGIN", "begin a read")))
        return rc;
    sqlite3_int64 id;
    if ((rc = profile_id(s, key, 0, &id)) || id == 0) {
        rollback(s);
        return rc;
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db,
        "SELECT p.complete, m.power_limit_w, m.time_per_step_s, m.energy_per_step_j "
        "FROM plo_profile p JOIN plo_measurement m ON m.profile_id = p.id "
        "WHERE p.id = ?1 ORDER BY m.power_limit_w DESC", -1, &st, NULL);
    if (src != SQLITE_OK) {
        rollback(s);
        return store_error(s->path, s->db, src, "prepare");
    }
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
    if (src != SQLITE_DONE) {
        rollback(s);
        return store_error(s->path, s->db, src, "read the measurements");
    }
    if ((rc = exec(s, "COMMIT", "end a read")))
        return rc;
    return n < cap ? n : cap;
}

static int put_locked(struct plo_store *s, sqlite3_int64 id, const struct jopt_point *pt)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
        "INSERT OR REPLACE INTO plo_measurement (profile_id, power_limit_w, time_per_step_s, "
        "energy_per_step_j) VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(s->path, s->db, rc, "prepare");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_double(st, 2, pt->knob);
    sqlite3_bind_double(st, 3, pt->time_s);
    sqlite3_bind_double(st, 4, pt->energy_j);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_error(s->path, s->db, rc, "write a measurement");
    return 0;
}

int plo_store_put(struct plo_store *s, const struct plo_key *key, const struct jopt_point *pt)
{
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE", "lock for writing")))
        return rc;
    sqlite3_int64 id;
    if (!(rc = profile_id(s, key, 1, &id)))
        rc = put_locked(s, id, pt);
    if (!rc)
        rc = exec(s, "COMMIT", "commit a measurement");
    if (rc)
        rollback(s);
    return rc;
}

/* Runs one statement with ?1 = profile id and ?2 = owner (when given). */
static int run_on(struct plo_store *s, const char *sql, sqlite3_int64 id, const char *owner,
                  const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (owner)
            sqlite3_bind_text(st, 2, owner, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_error(s->path, s->db, rc, what);
}

int plo_store_complete(struct plo_store *s, const struct plo_key *key,
                       const struct jopt_point *pts, int n, double optimal_w,
                       const char *selector)
{
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE", "lock for writing")))
        return rc;
    sqlite3_int64 id;
    rc = profile_id(s, key, 1, &id);
    for (int i = 0; !rc && i < n; i++)
        rc = put_locked(s, id, &pts[i]);
    if (!rc) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(s->db,
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
            rc = store_error(s->path, s->db, src, "mark the profile complete");
    }
    if (!rc) /* complete: nobody profiles it any more */
        rc = run_on(s, "DELETE FROM plo_claim WHERE profile_id = ?1", id, NULL, "end the claim");
    if (!rc)
        rc = exec(s, "COMMIT", "commit the profile");
    if (rc)
        rollback(s);
    return rc;
}

int plo_store_forget(struct plo_store *s, const struct plo_key *key)
{
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE", "lock for writing")))
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db,
        "DELETE FROM plo_profile WHERE gpu_model = ?1 AND gpu_count = ?2 AND job = ?3", -1,
        &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key->gpu_model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, key->gpu_count);
        sqlite3_bind_text(st, 3, key->job, -1, SQLITE_TRANSIENT);
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK)
        rc = store_error(s->path, s->db, src, "delete the profile");
    if (!rc)
        rc = exec(s, "COMMIT", "commit");
    if (rc)
        rollback(s);
    return rc;
}

/* ---- who profiles a key ------------------------------------------------------ */

/* Whether a claim no longer holds: its heartbeat is older than ttl_s, or
 * (on this host) its process is gone, a zombie, or its pid another's. */
static int lapsed(const struct plo_store *s, sqlite3_stmt *row, double now, double ttl_s)
{
    const char *host = (const char *)sqlite3_column_text(row, 1);
    long pid = (long)sqlite3_column_int64(row, 2);
    long long start = sqlite3_column_int64(row, 3);
    double beat = sqlite3_column_double(row, 4);
    if (now - beat > ttl_s)
        return 1;
    return host && !strcmp(host, s->host) && process_start(pid) != start;
}

int plo_store_claim(struct plo_store *s, const struct plo_key *key, double ttl_s,
                    char *holder, size_t holder_len)
{
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE", "lock for a claim")))
        return rc;
    sqlite3_int64 id;
    sqlite3_stmt *st = NULL;
    int result = PLO_CLAIM_OURS, src;
    if ((rc = profile_id(s, key, 1, &id)))
        goto out;
    src = sqlite3_prepare_v2(s->db, "SELECT complete FROM plo_profile WHERE id = ?1", -1, &st,
                             NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((src = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_int(st, 0))
            result = PLO_CLAIM_COMPLETE;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW) {
        rc = store_error(s->path, s->db, src, "read the profile");
        goto out;
    }
    if (result == PLO_CLAIM_COMPLETE)
        goto out;
    double now = wall_s();
    src = sqlite3_prepare_v2(s->db,
        "SELECT owner, host, pid, pid_start, heartbeat_unix_s FROM plo_claim "
        "WHERE profile_id = ?1", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            if (owner && strcmp(owner, s->owner) && !lapsed(s, st, now, ttl_s)) {
                const char *host = (const char *)sqlite3_column_text(st, 1);
                snprintf(holder, holder_len, "process %lld on %.*s (heartbeat %.0f s ago)",
                         (long long)sqlite3_column_int64(st, 2),
                         host ? (int)strcspn(host, "/") : 0, host ? host : "",
                         now - sqlite3_column_double(st, 4));
                result = PLO_CLAIM_HELD;
            }
            src = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) {
        rc = store_error(s->path, s->db, src, "read the claim");
        goto out;
    }
    if (result == PLO_CLAIM_OURS) {
        src = sqlite3_prepare_v2(s->db,
            "INSERT OR REPLACE INTO plo_claim (profile_id, owner, host, pid, pid_start, "
            "heartbeat_unix_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_text(st, 2, s->owner, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, s->host, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 4, (sqlite3_int64)getpid());
            sqlite3_bind_int64(st, 5, s->pid_start);
            sqlite3_bind_double(st, 6, now);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            rc = store_error(s->path, s->db, src, "write the claim");
    }
out:
    if (!rc)
        rc = exec(s, "COMMIT", "commit the claim");
    if (rc)
        rollback(s);
    return rc ? rc : result;
}

int plo_store_release(struct plo_store *s, const struct plo_key *key)
{
    int rc = check_key(key);
    if (rc)
        return rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE", "lock to end a claim")))
        return rc;
    sqlite3_int64 id;
    if (!(rc = profile_id(s, key, 0, &id)) && id)
        rc = run_on(s, "DELETE FROM plo_claim WHERE profile_id = ?1 AND owner = ?2", id,
                    s->owner, "end the claim");
    if (!rc)
        rc = exec(s, "COMMIT", "commit");
    if (rc)
        rollback(s);
    return rc;
}

void plo_store_identity(char *host, size_t len, long *pid, long long *pid_start)
{
    struct plo_store s;
    memset(&s, 0, sizeof s);
    identify(&s);
    snprintf(host, len, "%s", s.host);
    *pid = (long)getpid();
    *pid_start = s.pid_start;
}

int plo_store_process_alive(long pid, long long pid_start)
{
    return pid > 0 && process_start(pid) == pid_start;
}
