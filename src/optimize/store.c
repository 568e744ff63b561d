/* The optimizers' SQLite file: opening, checking, locking, errors, schema
 * versions and claims. See store.h. */
#include "optimize/store.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"

/* The file's own layout (PRAGMA user_version): 1 since the first
 * power-limit profiles; table joule_schema was added in place, as readers
 * ignore tables they do not know. */
#define STORE_VERSION 1

struct jstore {
    sqlite3 *db;
    const char *what;
    char path[4096];
    /* This connection's identity in claims: a random owner token, and the
     * host (name and boot) and process (pid and start time) it runs as. */
    char owner[64], host[320];
    long long pid_start;
};

static const char store_sql[] =
    "CREATE TABLE IF NOT EXISTS joule_schema ("
    " name TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL CHECK (version > 0));";

static int sqlite_error(const char *what_file, const char *path, sqlite3 *db, int rc,
                        const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return joule_set_error(JOULE_EBUSY,
            "%s '%s' is locked by another process (%s: %s); wait for it to finish or set "
            "another database path (JOULE_DB)", what_file, path, what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return joule_set_error(JOULE_EIO,
            "%s '%s' is corrupt or not a joule database (%s: %s); it was left untouched: "
            "move it away or set another database path (JOULE_DB)", what_file, path, what,
            msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return joule_set_error(JOULE_EPERM,
            "cannot write %s '%s' (%s: %s); check its permissions or set another database "
            "path (JOULE_DB)", what_file, path, what, msg);
    case SQLITE_NOMEM:
        return joule_set_error(JOULE_ENOMEM, "out of memory (%s)", what);
    default:
        return joule_set_error(JOULE_EIO, "%s '%s': %s: %s", what_file, path, what, msg);
    }
}

int jstore_error(struct jstore *s, int rc, const char *what)
{
    return sqlite_error(s->what, s->path, s->db, rc, what);
}

int jstore_default_path(char *buf, size_t len, const char *what)
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
        return joule_set_error(JOULE_EINVAL, "no place for the %s: HOME is unset; set JOULE_DB",
                               what);
    if (n < 0 || (size_t)n >= len)
        return joule_set_error(JOULE_EINVAL, "database path is too long");
    return 0;
}

/* One folder; one that exists already is fine. */
static int make_dir(const char *dir, const char *what)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    return joule_set_error(JOULE_EIO, "cannot create folder '%s' for the %s: %s", dir, what,
                           strerror(errno == EEXIST ? ENOTDIR : errno));
}

/* The default data folder, $XDG_DATA_HOME/joule or ~/.local/share/joule,
 * is the only folder joule creates (with the missing .local and
 * .local/share under an existing home). */
static int make_default_dir(const char *what)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg == '/') {
        snprintf(dir, sizeof dir, "%s/joule", xdg);
        return make_dir(dir, what);
    }
    static const char *const parts[] = {"/.local", "/.local/share", "/.local/share/joule"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        snprintf(dir, sizeof dir, "%s%s", home, parts[i]);
        int rc = make_dir(dir, what);
        if (rc)
            return rc;
    }
    return 0;
}

/* Any other path's folder must exist: creating folders where a caller (or
 * a typo, or root) points is not the library's business. */
static int check_parent(const char *path, const char *what)
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
            "the folder '%s' of the %s '%s' cannot be used (%s); joule creates only its "
            "default folder ($XDG_DATA_HOME/joule or ~/.local/share/joule): create it or "
            "choose another path", dir, what, path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return joule_set_error(JOULE_EINVAL, "'%s' in the %s path '%s' is not a folder", dir,
                               what, path);
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
static void identify(struct jstore *s)
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

int jstore_exec(struct jstore *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : jstore_error(s, rc, what);
}

int jstore_begin(struct jstore *s, int write, const char *what)
{
    return jstore_exec(s, write ? "BEGIN IMMEDIATE" : "BEGIN", what);
}

int jstore_end(struct jstore *s, int rc, const char *what)
{
    if (!rc)
        rc = jstore_exec(s, "COMMIT", what);
    if (rc && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* One integer from a query with at most one text parameter; 0 when there
 * is no row. */
static int query_int(struct jstore *s, const char *sql, const char *arg, int *out,
                     const char *what)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (arg)
            sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : jstore_error(s, rc, what);
}

/* quick_check reads the whole (small) file: a corrupt database is
 * reported before anything is written to it. */
static int check_file(struct jstore *s)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *res = (const char *)sqlite3_column_text(st, 0);
            if (!res || strcmp(res, "ok") != 0) {
                joule_set_error(JOULE_EIO,
                    "%s '%s' is corrupt (%s); it was left untouched: move it away or set "
                    "another database path (JOULE_DB)", s->what, s->path,
                    res ? res : "quick_check failed");
                sqlite3_finalize(st);
                return JOULE_EIO;
            }
            src = SQLITE_OK;
        } else if (src == SQLITE_DONE) {
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? 0 : jstore_error(s, src, "check");
}

/* Creates or upgrades the store's and the schema's tables; inside the
 * schema transaction. */
static int set_up_schema(struct jstore *s, const struct jstore_schema *sc)
{
    int file_version, rc;
    if ((rc = query_int(s, "PRAGMA user_version", NULL, &file_version, "read the version")))
        return rc;
    if (file_version > STORE_VERSION)
        return joule_set_error(JOULE_EINVAL,
            "%s '%s' has schema version %d, newer than this joule's %d; upgrade joule or set "
            "another database path (JOULE_DB)", s->what, s->path, file_version, STORE_VERSION);
    if ((rc = jstore_exec(s, store_sql, "create the schema")))
        return rc;
    int recorded, have;
    if ((rc = query_int(s, "SELECT version FROM joule_schema WHERE name = ?1", sc->name,
                        &recorded, "read the schema version")))
        return rc;
    have = recorded;
    if (!have) {
        /* Written before joule_schema: version 1 if its tables exist. */
        char pattern[80];
        snprintf(pattern, sizeof pattern, "%s\\_%%", sc->name);
        if ((rc = query_int(s, "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' "
                               "AND name LIKE ?1 ESCAPE '\\'", pattern, &have,
                            "read the schema")))
            return rc;
    }
    if (have > sc->version)
        return joule_set_error(JOULE_EINVAL,
            "%s '%s' has version %d of its '%s' tables, newer than this joule's %d; upgrade "
            "joule or set another database path (JOULE_DB)", s->what, s->path, have,
            sc->name, sc->version);
    if (have && have < sc->version) {
        if (!sc->migrate)
            return joule_set_error(JOULE_EINVAL, "%s '%s': no way from version %d of its '%s' "
                                   "tables to %d", s->what, s->path, have, sc->name,
                                   sc->version);
        if ((rc = sc->migrate(s, have)))
            return rc;
    }
    if ((rc = jstore_exec(s, sc->create_sql, "create the schema")))
        return rc;
    if (recorded != sc->version) {
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO joule_schema (name, version) "
                 "VALUES ('%s', %d)", sc->name, sc->version);
        if ((rc = jstore_exec(s, sql, "set the schema version")))
            return rc;
    }
    if (file_version < STORE_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_VERSION);
        if ((rc = jstore_exec(s, sql, "set the schema version")))
            return rc;
    }
    return 0;
}

int jstore_open(const char *path, int busy_timeout_ms, const struct jstore_schema *schema,
                struct jstore **out)
{
    *out = NULL;
    struct jstore *s = calloc(1, sizeof *s);
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    s->what = schema->what;
    int rc = 0;
    const char *env = getenv("JOULE_DB");
    int is_default = !path && !(env && *env);
    if (path) {
        if (strlen(path) >= sizeof s->path) {
            free(s);
            return joule_set_error(JOULE_EINVAL, "database path is too long");
        }
        snprintf(s->path, sizeof s->path, "%s", path);
    } else if ((rc = jstore_default_path(s->path, sizeof s->path, s->what))) {
        free(s);
        return rc;
    }
    if ((rc = is_default ? make_default_dir(s->what) : check_parent(s->path, s->what))) {
        free(s);
        return rc;
    }
    identify(s);
    int src = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              NULL);
    if (src != SQLITE_OK) {
        rc = jstore_error(s, src, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, busy_timeout_ms < 0 ? 0 : busy_timeout_ms);
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = check_file(s)))
        goto fail;
    if ((rc = jstore_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL",
                          "configure")))
        goto fail;
    /* Schema: created or upgraded in one transaction. */
    if ((rc = jstore_begin(s, 1, "lock for the schema")))
        goto fail;
    rc = jstore_end(s, set_up_schema(s, schema), "commit the schema");
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s);
    return rc;
}

void jstore_close(struct jstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

const char *jstore_path(const struct jstore *s) { return s->path; }

sqlite3 *jstore_db(struct jstore *s) { return s->db; }

/* ---- who works on a key ------------------------------------------------------ */

/* Whether a claim no longer holds: its heartbeat is older than ttl_s, or
 * (on this host) its process is gone, a zombie, or its pid another's. */
static int lapsed(const struct jstore *s, sqlite3_stmt *row, double now, double ttl_s)
{
    const char *host = (const char *)sqlite3_column_text(row, 1);
    long pid = (long)sqlite3_column_int64(row, 2);
    long long start = sqlite3_column_int64(row, 3);
    double beat = sqlite3_column_double(row, 4);
    if (now - beat > ttl_s)
        return 1;
    return host && !strcmp(host, s->host) && process_start(pid) != start;
}

int jstore_claim(struct jstore *s, const struct jstore_claims *c, sqlite3_int64 key,
                 double ttl_s, char *holder, size_t holder_len)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int result = JSTORE_CLAIM_OURS;
    double now = joule_unix_s();
    snprintf(sql, sizeof sql, "SELECT owner, host, pid, pid_start, heartbeat_unix_s FROM %s "
             "WHERE %s = ?1", c->table, c->key_column);
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, key);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            if (owner && strcmp(owner, s->owner) && !lapsed(s, st, now, ttl_s)) {
                const char *host = (const char *)sqlite3_column_text(st, 1);
                snprintf(holder, holder_len, "process %lld on %.*s (heartbeat %.0f s ago)",
                         (long long)sqlite3_column_int64(st, 2),
                         host ? (int)strcspn(host, "/") : 0, host ? host : "",
                         now - sqlite3_column_double(st, 4));
                result = JSTORE_CLAIM_HELD;
            }
            src = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return jstore_error(s, src, "read the claim");
    if (result == JSTORE_CLAIM_HELD)
        return result;
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s (%s, owner, host, pid, pid_start, "
             "heartbeat_unix_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", c->table, c->key_column);
    src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_text(st, 2, s->owner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, s->host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)getpid());
        sqlite3_bind_int64(st, 5, s->pid_start);
        sqlite3_bind_double(st, 6, now);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? result : jstore_error(s, src, "write the claim");
}

int jstore_unclaim(struct jstore *s, const struct jstore_claims *c, sqlite3_int64 key, int mine)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = ?1%s", c->table, c->key_column,
             mine ? " AND owner = ?2" : "");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, key);
        if (mine)
            sqlite3_bind_text(st, 2, s->owner, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : jstore_error(s, rc, "end the claim");
}

void jstore_identity(const struct jstore *s, const char **host, long *pid, long long *pid_start)
{
    *host = s->host;
    *pid = (long)getpid();
    *pid_start = s->pid_start;
}

int jstore_process_gone(const struct jstore *s, const char *host, long pid, long long pid_start)
{
    return host && strcmp(host, s->host) == 0 && process_start(pid) != pid_start;
}
