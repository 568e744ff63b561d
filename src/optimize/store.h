/* The optimizers' SQLite file (docs/optimize.md, "Persistence").
 *
 * One file holds every optimizer's tables; this module owns what they
 * share: finding and opening the file (only the default folder is ever
 * created), checking it before anything is written, locking (each write
 * is one BEGIN IMMEDIATE transaction that waits busy_timeout_ms for
 * another process), errors that name the file and the fix, schema
 * versions, and claims (which process works on a key now). An optimizer
 * describes its tables in a struct jstore_schema and keeps its own SQL
 * (plo_store.c is the power-limit optimizer's).
 *
 * The rollback journal (journal_mode DELETE, which also works on network
 * home folders where WAL does not) with synchronous=FULL makes every
 * transaction all or nothing, even across kill -9. */
#ifndef JOULE_OPTIMIZE_STORE_H
#define JOULE_OPTIMIZE_STORE_H

#include <sqlite3.h>
#include <stddef.h>

struct jstore;

/* One optimizer's tables. The file records each optimizer's version in
 * table joule_schema; a file written before that table existed has no row,
 * which reads as version 1 when the tables are there (as they were then). */
struct jstore_schema {
    const char *name;       /* "plo": the optimizer, its tables' prefix */
    const char *what;       /* "power-limit database": how errors name the file */
    int version;            /* of these tables, from 1 */
    const char *create_sql; /* CREATE TABLE IF NOT EXISTS ... of this version */
    /* Brings the tables from version `from` (>= 1) to `version`, inside
     * the schema transaction; NULL while there is only version 1. */
    int (*migrate)(struct jstore *s, int from);
};

/* Opens (creating the file and the schema's tables) the database at path;
 * NULL path: $JOULE_DB, else the default (jstore_default_path), whose
 * folder is the only one created. Another path's folder must exist
 * (JOULE_ENOENT otherwise). A locked database gives JOULE_EBUSY, a corrupt
 * one JOULE_EIO, a newer version JOULE_EINVAL; the file is never modified
 * then. */
int jstore_open(const char *path, int busy_timeout_ms, const struct jstore_schema *schema,
                struct jstore **out);
void jstore_close(struct jstore *s);
const char *jstore_path(const struct jstore *s);
sqlite3 *jstore_db(struct jstore *s);

/* $JOULE_DB, else $XDG_DATA_HOME/joule/joule.db, else
 * $HOME/.local/share/joule/joule.db; what names the file in errors. */
int jstore_default_path(char *buf, size_t len, const char *what);

/* An SQLite failure (rc) while doing `what` as a JOULE_E* code with a
 * message naming the file and the fix. */
int jstore_error(struct jstore *s, int rc, const char *what);
/* Runs SQL without results. */
int jstore_exec(struct jstore *s, const char *sql, const char *what);
/* Transactions: a read (BEGIN) sees one state; a write (BEGIN IMMEDIATE)
 * takes the lock up front. jstore_end commits when rc is 0 and rolls back
 * otherwise, returning the first error. */
int jstore_begin(struct jstore *s, int write, const char *what);
int jstore_end(struct jstore *s, int rc, const char *what);

/* Claims: which process works on a key (one optimizer's row) now, so
 * that processes sharing a key do the work once. Each optimizer keeps
 * them in a table of its own with these columns:
 *   <key_column> INTEGER PRIMARY KEY REFERENCES ... ON DELETE CASCADE,
 *   owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
 *   pid_start INTEGER NOT NULL, heartbeat_unix_s REAL NOT NULL
 * A claim holds while its holder renews it within ttl_s and, on the
 * holder's host (name and boot id), while its process lives. Called inside
 * a write transaction. */
struct jstore_claims {
    const char *table;      /* "plo_claim" */
    const char *key_column; /* "profile_id" */
};
enum { JSTORE_CLAIM_HELD = 0, JSTORE_CLAIM_OURS = 1 };
/* Claims or renews key for this connection: JSTORE_CLAIM_OURS, or
 * JSTORE_CLAIM_HELD with holder saying who ("process 42 on node7
 * (heartbeat 3 s ago)"), or < 0. */
int jstore_claim(struct jstore *s, const struct jstore_claims *c, sqlite3_int64 key,
                 double ttl_s, char *holder, size_t holder_len);
/* Ends the claim on key: this connection's only (mine), or anyone's. */
int jstore_unclaim(struct jstore *s, const struct jstore_claims *c, sqlite3_int64 key,
                   int mine);

/* This connection's process as claims and other records name it: host
 * (name and boot id), pid and the pid's start time. */
void jstore_identity(const struct jstore *s, const char **host, long *pid, long long *pid_start);
/* 1 when the process recorded as (host, pid, pid_start) is known to be
 * gone: it ran on this host (this boot) and that pid no longer runs, or
 * runs another process. 0 when it lives, or ran on another host (which no
 * one here can tell). */
int jstore_process_gone(const struct jstore *s, const char *host, long pid, long long pid_start);

#endif
