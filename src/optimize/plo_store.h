/* Persistence of power-limit profiles in SQLite (docs/optimize.md).
 *
 * A profile is keyed by (GPU model, GPU count, job name) and holds one
 * measurement per power limit (time and energy per training step) and a
 * complete flag. Every write is one transaction: a measurement lands whole
 * or not at all, and a profile is marked complete in the same transaction
 * that writes its full set of measurements, so a crash (even kill -9) never
 * leaves a half-written profile. */
#ifndef JOULE_OPTIMIZE_PLO_STORE_H
#define JOULE_OPTIMIZE_PLO_STORE_H

#include "optimize/frontier.h"

struct plo_store;

struct plo_key {
    const char *gpu_model;
    int gpu_count;
    const char *job;
};

/* Opens (creating the file and the schema) the database at path; NULL
 * path: $JOULE_DB, else the default (plo_store_default_path), whose folder
 * is the only one created. Another path's folder must exist (JOULE_ENOENT
 * otherwise).
 * busy_timeout_ms: how long to wait for a lock held by another process.
 * A locked database gives JOULE_EBUSY, a corrupt one JOULE_EIO; the file is
 * never modified then. */
int plo_store_open(const char *path, int busy_timeout_ms, struct plo_store **out);
void plo_store_close(struct plo_store *s);
const char *plo_store_path(const struct plo_store *s);

/* $JOULE_DB, else $XDG_DATA_HOME/joule/joule.db, else
 * $HOME/.local/share/joule/joule.db. */
int plo_store_default_path(char *buf, size_t len);

/* Loads the profile of key: fills up to cap points (per step), sets
 * *complete. Returns the number of points (0 when there is none). */
int plo_store_load(struct plo_store *s, const struct plo_key *key, struct jopt_point *pts,
                   int cap, int *complete);
/* Adds or replaces one measurement (one transaction). */
int plo_store_put(struct plo_store *s, const struct plo_key *key, const struct jopt_point *pt);
/* Writes every measurement and marks the profile complete with the chosen
 * limit, in one transaction. */
int plo_store_complete(struct plo_store *s, const struct plo_key *key,
                       const struct jopt_point *pts, int n, double optimal_w,
                       const char *selector);
/* Deletes the profile of key (one transaction). */
int plo_store_forget(struct plo_store *s, const struct plo_key *key);

/* Coordination of processes that profile one key at the same time: one
 * claims it and profiles, the others wait for its complete profile. A
 * claim holds while its holder renews it (calls this again) within ttl_s,
 * and on the holder's host while its process lives; a lapsed claim passes
 * to the next caller, which profiles the limits left. Returns
 * PLO_CLAIM_OURS (claimed or renewed), PLO_CLAIM_HELD (by another: holder
 * says who), PLO_CLAIM_COMPLETE (nothing left to profile), or < 0. */
enum { PLO_CLAIM_HELD = 0, PLO_CLAIM_OURS = 1, PLO_CLAIM_COMPLETE = 2 };
int plo_store_claim(struct plo_store *s, const struct plo_key *key, double ttl_s,
                    char *holder, size_t holder_len);
/* Gives up this connection's claim on key, if it holds it. */
int plo_store_release(struct plo_store *s, const struct plo_key *key);

/* This process as claims name it: host (name/boot id), pid and the pid's
 * start time; and whether such a process on this host still runs. Shared
 * with the batch-size store. */
void plo_store_identity(char *host, size_t len, long *pid, long long *pid_start);
int plo_store_process_alive(long pid, long long pid_start);

#endif
