/* jouled's shared types: configuration, peer identity, requests and
 * responses of the router, and the daemon state every route works on.
 * Nothing here knows about sockets or libmicrohttpd (server.c does). */
#ifndef JOULED_JD_H
#define JOULED_JD_H

#include <joule/joule.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JD_SCOPE_READ 1u
#define JD_SCOPE_CONTROL 2u
#define JD_SCOPE_BSO 4u /* the batch-size optimizer service (/v1/bso) */

#define JD_MAX_RULES 64
#define JD_MAX_QUERY 16

/* One entry of a scope list: everyone, a uid or a gid. */
struct jd_rule {
    enum { JD_RULE_ALL, JD_RULE_UID, JD_RULE_GID } kind;
    unsigned id;
};

struct jd_config {
    char devices[256];          /* device spec for joule_open ("all") */
    char socket[256];           /* unix socket path ("" = none) */
    unsigned socket_mode;       /* 0660 */
    char socket_group[64];      /* group owning the socket ("" = daemon's) */
    char tcp[128];              /* "HOST:PORT" ("" = no TCP listener) */
    char token_secret_file[256];
    struct jd_rule read_rules[JD_MAX_RULES];
    int nread;
    struct jd_rule control_rules[JD_MAX_RULES];
    int ncontrol;
    struct jd_rule bso_rules[JD_MAX_RULES];
    int nbso;
    char state_dir[256];
    char bso_db[256];           /* batch-size jobs ("" = state_dir/joule.db) */
    int sample_interval_ms;     /* sampler period */
    int request_timeout_s;      /* head and body due this long after the accept */
    int max_body_bytes;
    int max_connections;        /* per listener */
    int max_connections_per_peer; /* per uid (unix socket), address or /64 (TCP) */
    int stream_buffer_events;   /* per-client SSE ring */
    int stream_max_clients;
    int lease_default_ttl_s;    /* TCP control requests without ttl_s */
    int lease_max_ttl_s;
};

/* Fills the defaults (documented in docs/daemon.md). */
void jd_config_defaults(struct jd_config *c);
/* Parses a config file over the current values. Returns 0, or -1 with a
 * message "FILE:LINE: what is wrong" in err. A missing file is an error. */
int jd_config_load(struct jd_config *c, const char *path, char *err, size_t errlen);
/* Parses the text of a config (name is used in messages). */
int jd_config_parse(struct jd_config *c, const char *name, const char *text, char *err,
                    size_t errlen);
/* Checks the combination (TCP on a non-loopback address needs tokens...). */
int jd_config_validate(const struct jd_config *c, char *err, size_t errlen);
/* Parses "HOST:PORT"; returns 0 and whether HOST is a loopback address. */
int jd_parse_hostport(const char *s, char *host, size_t hostlen, int *port, int *loopback);

/* Who is asking. */
enum jd_transport { JD_UNIX = 0, JD_TCP = 1 };
enum jd_token_state {
    JD_TOKEN_NONE = 0,
    JD_TOKEN_VALID = 1,
    JD_TOKEN_BAD = 2,      /* malformed or forged */
    JD_TOKEN_EXPIRED = 3,
};

struct jd_peer {
    enum jd_transport transport;
    /* Unix socket: SO_PEERCRED and SO_PEERGROUPS. */
    int has_cred;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;        /* supplementary groups, all of them */
    int ngroups;
    /* TCP: the bearer token as given ("" = none). */
    const char *token;
};

struct jd_kv {
    const char *key, *value;
};

struct jd_req {
    const char *method;
    const char *path;           /* without the query string */
    const struct jd_kv *query;
    int nquery;
    const char *body;           /* may hold NULs; not terminated */
    size_t body_len;
    struct jd_peer peer;
};

/* A Server-Sent Events subscription the glue turns into a stream. */
struct jd_stream_req {
    int devices[64];
    int ndev;
    int interval_ms;
};

struct jd_resp {
    int status;
    char *body;                 /* malloc'd; NUL-terminated */
    size_t body_len;
    const char *content_type;   /* static */
    const char *allow;          /* static, for 405 */
    int auth_challenge;         /* 401: send WWW-Authenticate */
    int is_stream;
    struct jd_stream_req stream;
};

struct jd_leases; /* lease.c */
struct jd_hub;    /* sse.c */

/* What jouled knows about a GPU without asking it (for /metrics). */
struct jd_gpu_cache {
    int dev;                    /* index in ctx */
    int gpu;                    /* GPU index */
    int have_limit;
    double limit_w, min_w, max_w, default_w;
    int persistence;            /* -1 unknown */
    int lock_min_mhz, lock_max_mhz;         /* set through jouled, 0 = none */
    int mem_lock_min_mhz, mem_lock_max_mhz;
    /* GPUs without an energy counter: sampled power integrated since
     * start (approx_t: monotonic s integrated up to; have_approx once
     * there were samples). */
    int no_counter, have_approx;
    double approx_j, approx_t;
};

struct jd {
    struct jd_config cfg;
    joule_ctx *ctx;
    joule_sampler *sampler;
    unsigned char secret[256];
    size_t secret_len;          /* 0: no tokens accepted */
    double mono_to_unix;        /* unix time = monotonic + this */

    /* Serializes control requests, lease changes and the state file. */
    pthread_mutex_t ctl_lock;
    struct jd_leases *leases;

    /* Guarded by cache_lock. */
    pthread_mutex_t cache_lock;
    struct jd_gpu_cache *gpus;
    int ngpu;

    struct jd_hub *hub;
};

/* Opens the devices of a spec as the daemon does (jd_create and
 * --check-config share it, so both judge a spec alike). 0 or -1 with err. */
int jd_open_devices(const char *spec, joule_ctx **ctx, char *err, size_t errlen);
/* Opens devices, starts the sampler, recovers the state file, starts the
 * lease and stream threads. Returns 0 or -1 with err filled. */
int jd_create(const struct jd_config *cfg, struct jd **out, char *err, size_t errlen);
/* Restores every lease that is not persistent, then stops everything. */
void jd_destroy(struct jd *d);
/* Re-reads the power limits into the cache (device calls; not for scrapes). */
void jd_refresh_cache(struct jd *d);
/* Adds the sampler's power since the last call to the energy of GPUs
 * without a counter (no device calls; at least every second, well within
 * the sampler's history). */
void jd_integrate_energy(struct jd *d);

/* Logging: stderr in the foreground, syslog otherwise; one line per call,
 * control characters escaped. jd_log_error logs at LOG_ERR and prefixes
 * "error: " on stderr. */
void jd_log_use_syslog(int on);
void jd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void jd_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The router: request in, response out. Pure apart from the device and
 * lease work the routes do. resp->body is malloc'd (free with
 * jd_resp_free). */
void jd_route(struct jd *d, const struct jd_req *req, struct jd_resp *resp);
void jd_resp_free(struct jd_resp *r);
/* Scopes a request's peer holds (and, for TCP, the token's subject). */
unsigned jd_peer_scopes(const struct jd *d, const struct jd_peer *p, char *subject,
                        size_t sublen, enum jd_token_state *ts, char *why, size_t whylen);

/* Splits "a=1&b=x%20y" into kv pairs (decoded, in buf). Returns the count
 * or -1 when there are too many or buf is too small. */
int jd_parse_query(const char *raw, char *buf, size_t buflen, struct jd_kv *kv, int cap);

#endif
