/* Leases and the state file: never leave a GPU misconfigured.
 *
 * Before jouled changes a GPU setting it writes the setting's original
 * value to <state_dir>/state.json (write, fsync, rename, fsync of the
 * directory). The change is then held by a lease: a unix-socket client's
 * process (watched with a pidfd, or by polling where pidfd_open is
 * missing), or a TTL for TCP clients. When the process exits or the TTL
 * lapses, the lease ends (see the stack below); with the last one the
 * original is put back and the entry leaves the state file.
 * A `persist` request drops the lease and the entry (and is logged). On
 * start, every entry a crashed predecessor left is restored. */
#ifndef JOULED_LEASE_H
#define JOULED_LEASE_H

#include <cjson/cJSON.h>

#include "jd.h"

enum jd_setting {
    JD_SET_POWER_LIMIT = 0,
    JD_SET_CLOCKS = 1,
    JD_SET_MEM_CLOCKS = 2,
    JD_SET_PERSISTENCE = 3,
    JD_SET_COUNT = 4,
};
const char *jd_setting_name(int setting);

enum jd_owner_kind { JD_OWNER_PID = 0, JD_OWNER_TTL = 1 };

struct jd_owner {
    enum jd_owner_kind kind;
    pid_t pid;                 /* JD_OWNER_PID */
    int ttl_s;                 /* JD_OWNER_TTL */
    char subject[96];          /* "uid:1000 pid:42" or a token's subject */
};

/* What a control request sets. Kept with its lease: when the leases above
 * it end, it is put back. */
struct jd_value {
    int reset;                 /* DELETE: default limit, unlocked clocks */
    double watts;              /* power_limit */
    int min_mhz, max_mhz;      /* clocks, memory_clocks */
    int enabled;               /* persistence */
};

/* Loads the state file and restores what it holds; starts the watcher. */
int jd_leases_create(struct jd *d, char *err, size_t errlen);
/* Stops the watcher; with restore, puts back every leased setting. */
void jd_leases_destroy(struct jd *d, int restore);

/* The steps of a change, all under d->ctl_lock: prepare records the
 * original (durably) unless the setting already has one; jd_lease_apply
 * makes the change; then commit puts the owner's lease on top of the
 * setting's stack (persist instead ends every lease on it and drops the
 * record), or abort forgets a record prepare made.
 *
 * The leases on one setting form a stack, the top one in force: when it
 * ends, the value of the latest lease still alive below it is put back; a
 * lease below the top just leaves; the original returns when the last one
 * ends. An owner holds one place: its next change moves it on top. */
int jd_lease_prepare(struct jd *d, int gpu, int setting, int *created, char *why, size_t whylen);
/* A device call; also keeps the cache's locked clocks. 0 or a JOULE_E code. */
int jd_lease_apply(struct jd *d, int gpu, int setting, const struct jd_value *v);
int jd_lease_commit(struct jd *d, int gpu, int setting, const struct jd_owner *o,
                    const struct jd_value *v, int persist, char *why, size_t whylen);
void jd_lease_abort(struct jd *d, int gpu, int setting);
/* Ends this owner's leases (gpu -1: on every GPU) now, as if it had
 * exited; returns how many. ctl_lock held. */
int jd_lease_release(struct jd *d, const struct jd_owner *o, int gpu);
/* Every lease as JSON, the one in force first for each setting
 * (ctl_lock held). */
cJSON *jd_leases_json(struct jd *d);

#endif
