#include "optimize/bso/bso_store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "optimize/store.h"

static const char bso_tables_sql[] =
    "CREATE TABLE IF NOT EXISTS bso_job ("
    " id INTEGER PRIMARY KEY,"
    " job TEXT NOT NULL UNIQUE,"
    " spec TEXT NOT NULL,"
    " created_unix_s REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bso_trial ("
    " job_id INTEGER NOT NULL REFERENCES bso_job(id) ON DELETE CASCADE,"
    " trial INTEGER NOT NULL CHECK (trial > 0),"
    " batch_size INTEGER NOT NULL CHECK (batch_size > 0),"
    " exploring INTEGER NOT NULL CHECK (exploring IN (0, 1)),"
    " status TEXT NOT NULL CHECK (status IN ('running', 'reached', 'stopped', 'abandoned')),"
    " verdict INTEGER NOT NULL DEFAULT 0,"
    " created_seq INTEGER NOT NULL,"
    " ended_seq INTEGER,"
    " epochs INTEGER NOT NULL DEFAULT 0 CHECK (epochs >= 0),"
    " time_s REAL NOT NULL DEFAULT 0 CHECK (time_s >= 0),"
    " energy_j REAL NOT NULL DEFAULT 0 CHECK (energy_j >= 0),"
    " cost REAL NOT NULL DEFAULT 0,"
    " metric REAL,"
    " host TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " pid_start INTEGER NOT NULL,"
    " updated_unix_s REAL NOT NULL,"
    " PRIMARY KEY (job_id, trial));";

static const struct jstore_schema bso_schema = {
    .name = "bso",
    .what = "batch-size database",
    .version = 1,
    .create_sql = bso_tables_sql,
};

struct bso_store {
    struct jstore *js;
    sqlite3 *db; /* jstore_db(js) */
    const char *host;
    long pid;
    long long pid_start;
};

static int db_error(struct bso_store *s, int rc, const char *what)
{
    return jstore_error(s->js, rc, what);
}

int bso_store_open(const char *path, int busy_timeout_ms, struct bso_store **out)
{
    *out = NULL;
    struct bso_store *s = calloc(1, sizeof(*s));
    if (!s)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = jstore_open(path, busy_timeout_ms, &bso_schema, &s->js);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->db = jstore_db(s->js);
    jstore_identity(s->js, &s->host, &s->pid, &s->pid_start);
    *out = s;
    return 0;
}

void bso_store_close(struct bso_store *s)
{
    if (!s)
        return;
    jstore_close(s->js);
    free(s);
}

static int job_row(struct bso_store *s, const char *job, sqlite3_int64 *id, char **spec_json)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id, spec FROM bso_job WHERE job = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, rc, "read the job");
    sqlite3_bind_text(st, 1, job, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    int out = 0;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 1);
        *spec_json = strdup(text ? text : "");
        out = 1;
    } else if (rc != SQLITE_DONE) {
        out = db_error(s, rc, "read the job");
    }
    sqlite3_finalize(st);
    return out;
}

int bso_store_join(struct bso_store *s, const struct bso_spec *spec)
{
    int rc = bso_spec_check(spec);
    if (rc < 0)
        return rc;
    if ((rc = jstore_begin(s->js, 1, "lock")) < 0)
        return rc;
    sqlite3_int64 id;
    char *stored = NULL;
    rc = job_row(s, spec->job, &id, &stored);
    if (rc == 1) {
        struct bso_spec old;
        rc = bso_spec_parse(stored, &old);
        const char *diff = rc == 0 ? bso_spec_diff(&old, spec) : NULL;
        if (rc < 0)
            joule_wrap_error(rc, "the stored spec of job '%s' in '%s'", spec->job,
                             jstore_path(s->js));
        else if (diff)
            rc = joule_set_error(JOULE_EEXIST,
                                 "job '%s' already exists in '%s' with another %s; its trials "
                                 "belong to that spec: use another job name",
                                 spec->job, jstore_path(s->js), diff);
    } else if (rc == 0) {
        char *json = bso_spec_json(spec);
        sqlite3_stmt *st = NULL;
        int src = json ? sqlite3_prepare_v2(s->db,
                                            "INSERT INTO bso_job (job, spec, created_unix_s) "
                                            "VALUES (?, ?, ?)",
                                            -1, &st, NULL)
                       : SQLITE_NOMEM;
        if (src == SQLITE_OK) {
            sqlite3_bind_text(st, 1, spec->job, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, json, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(st, 3, joule_unix_s());
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        free(json);
        rc = src == SQLITE_DONE ? 0 : db_error(s, src, "create the job");
    }
    free(stored);
    return jstore_end(s->js, rc, "commit");
}

static int load_trials(struct bso_store *s, sqlite3_int64 id, struct bso_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT trial, batch_size, exploring, status, verdict, created_seq,"
                                " ended_seq, epochs, time_s, energy_j, cost, metric"
                                " FROM bso_trial WHERE job_id = ? ORDER BY trial",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, rc, "read the trials");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (j->n == j->cap) {
            size_t cap = j->cap ? 2 * j->cap : 16;
            struct bso_trial *t = realloc(j->t, cap * sizeof(*t));
            if (!t) {
                sqlite3_finalize(st);
                return joule_set_error(JOULE_ENOMEM, "out of memory");
            }
            j->t = t;
            j->cap = cap;
        }
        struct bso_trial *t = &j->t[j->n];
        memset(t, 0, sizeof(*t));
        t->trial = sqlite3_column_int(st, 0);
        t->bs = sqlite3_column_int(st, 1);
        t->exploring = sqlite3_column_int(st, 2) != 0;
        int status = bso_status_parse((const char *)sqlite3_column_text(st, 3));
        t->verdict = sqlite3_column_int(st, 4);
        t->created_seq = sqlite3_column_int64(st, 5);
        t->ended_seq = sqlite3_column_int64(st, 6);
        t->epochs = sqlite3_column_int(st, 7);
        t->time_s = sqlite3_column_double(st, 8);
        t->energy_j = sqlite3_column_double(st, 9);
        t->cost = sqlite3_column_double(st, 10);
        t->metric = sqlite3_column_double(st, 11);
        if (status < 0 || t->verdict < 0 || t->verdict > BSO_STOP_EPOCHS) {
            sqlite3_finalize(st);
            return joule_set_error(JOULE_EIO, "batch-size database '%s': trial %d is damaged",
                                   jstore_path(s->js), t->trial);
        }
        t->status = (enum bso_status)status;
        j->n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, rc, "read the trials");
}

/* Locks the database and loads the job; the caller commits or rolls back. */
static int begin_load(struct bso_store *s, const char *job, int write, struct bso_job *j,
                      sqlite3_int64 *id)
{
    memset(j, 0, sizeof(*j));
    int rc = jstore_begin(s->js, write, "lock");
    if (rc < 0)
        return rc;
    char *spec = NULL;
    rc = job_row(s, job, id, &spec);
    if (rc == 0)
        rc = joule_set_error(JOULE_ENOENT, "no batch-size job '%s' in '%s'", job,
                             jstore_path(s->js));
    else if (rc == 1)
        rc = bso_spec_parse(spec, &j->spec);
    free(spec);
    if (rc == 0)
        rc = load_trials(s, *id, j);
    if (rc == 0)
        rc = bso_job_rebuild(j);
    if (rc < 0) {
        jstore_end(s->js, rc, "read");
        bso_job_free(j);
    }
    return rc;
}

static int write_trial(struct bso_store *s, sqlite3_int64 id, const struct bso_trial *t,
                       bool insert)
{
    static const char insert_sql[] =
        "INSERT INTO bso_trial (job_id, trial, batch_size, exploring, status, verdict, "
        "created_seq, ended_seq, epochs, time_s, energy_j, cost, metric, host, pid, pid_start, "
        "updated_unix_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17)";
    static const char update_sql[] =
        "UPDATE bso_trial SET status = ?5, verdict = ?6, ended_seq = ?8, epochs = ?9, "
        "time_s = ?10, energy_j = ?11, cost = ?12, metric = ?13, updated_unix_s = ?17 "
        "WHERE job_id = ?1 AND trial = ?2";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, insert ? insert_sql : update_sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, rc, "write the trial");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, t->trial);
    if (insert) {
        sqlite3_bind_int(st, 3, t->bs);
        sqlite3_bind_int(st, 4, t->exploring);
        sqlite3_bind_int64(st, 7, t->created_seq);
        sqlite3_bind_text(st, 14, s->host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 15, s->pid);
        sqlite3_bind_int64(st, 16, s->pid_start);
    }
    sqlite3_bind_text(st, 5, bso_status_name(t->status), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, t->verdict);
    if (t->status == BSO_RUNNING)
        sqlite3_bind_null(st, 8);
    else
        sqlite3_bind_int64(st, 8, t->ended_seq);
    sqlite3_bind_int(st, 9, t->epochs);
    sqlite3_bind_double(st, 10, t->time_s);
    sqlite3_bind_double(st, 11, t->energy_j);
    sqlite3_bind_double(st, 12, t->cost);
    if (isfinite(t->metric) && t->epochs > 0)
        sqlite3_bind_double(st, 13, t->metric);
    else
        sqlite3_bind_null(st, 13);
    sqlite3_bind_double(st, 17, joule_unix_s());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, rc, "write the trial");
}

/* Running trials whose process on this host is gone will never report. */
static int reap(struct bso_store *s, sqlite3_int64 id, struct bso_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT trial, pid, pid_start FROM bso_trial WHERE job_id = ? AND "
                                "status = 'running' AND host = ?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, rc, "read the running trials");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, s->host, -1, SQLITE_TRANSIENT);
    int dead[256], n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 256)
        if (jstore_process_gone(s->js, s->host, (long)sqlite3_column_int64(st, 1),
                                sqlite3_column_int64(st, 2)))
            dead[n++] = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {
        bso_job_abandon(j, dead[i]);
        if ((rc = write_trial(s, id, bso_job_trial(j, dead[i]), false)) < 0)
            return rc;
    }
    return 0;
}

static int commit(struct bso_store *s, int rc)
{
    return jstore_end(s->js, rc, "commit");
}

int bso_store_next(struct bso_store *s, const char *job, struct bso_trial *out)
{
    struct bso_job j;
    sqlite3_int64 id;
    int rc = begin_load(s, job, 1, &j, &id);
    if (rc < 0)
        return rc;
    struct bso_trial *t = NULL;
    if ((rc = reap(s, id, &j)) == 0 && (rc = bso_job_next(&j, &t)) == 0 &&
        (rc = write_trial(s, id, t, true)) == 0)
        *out = *t;
    rc = commit(s, rc);
    bso_job_free(&j);
    return rc;
}

int bso_store_epoch(struct bso_store *s, const char *job, int trial, int epoch, double time_s,
                    double energy_j, double metric, enum bso_verdict *verdict)
{
    struct bso_job j;
    sqlite3_int64 id;
    int rc = begin_load(s, job, 1, &j, &id);
    if (rc < 0)
        return rc;
    if ((rc = bso_job_epoch(&j, trial, epoch, time_s, energy_j, metric, verdict)) == 0)
        rc = write_trial(s, id, bso_job_trial(&j, trial), false);
    rc = commit(s, rc);
    bso_job_free(&j);
    return rc;
}

int bso_store_end(struct bso_store *s, const char *job, int trial, double time_s,
                  double energy_j, bool converged)
{
    struct bso_job j;
    sqlite3_int64 id;
    int rc = begin_load(s, job, 1, &j, &id);
    if (rc < 0)
        return rc;
    if ((rc = bso_job_end(&j, trial, time_s, energy_j, converged)) == 0)
        rc = write_trial(s, id, bso_job_trial(&j, trial), false);
    rc = commit(s, rc);
    bso_job_free(&j);
    return rc;
}

int bso_store_load(struct bso_store *s, const char *job, struct bso_job *out)
{
    sqlite3_int64 id;
    int rc = begin_load(s, job, 0, out, &id);
    if (rc < 0)
        return rc;
    return jstore_end(s->js, 0, "read");
}
