/* jouled.conf: `key = value` lines, `#` comments, blank lines ignored.
 * Every error names the file and line. Format: docs/daemon.md. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "jd.h"

void jd_config_defaults(struct jd_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->devices, sizeof c->devices, "all");
    snprintf(c->socket, sizeof c->socket, "/run/joule/jouled.sock");
    c->socket_mode = 0660;
    snprintf(c->state_dir, sizeof c->state_dir, "/var/lib/joule");
    c->sample_interval_ms = 100;
    c->request_timeout_s = 10;
    c->max_body_bytes = 65536;
    c->max_connections = 256;
    c->max_connections_per_peer = 32;
    c->stream_buffer_events = 256;
    c->stream_max_clients = 64;
    c->lease_default_ttl_s = 300;
    c->lease_max_ttl_s = 7 * 24 * 3600;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* "uid:1000, gid:100, user:alice, group:video, all". v is modified (the
 * caller's own copy of the line), so the list has no length limit. */
static int parse_rules(char *v, struct jd_rule *rules, int *n, char *why, size_t whylen)
{
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!*tok)
            continue;
        if (*n >= JD_MAX_RULES) {
            snprintf(why, whylen, "more than %d entries", JD_MAX_RULES);
            return -1;
        }
        struct jd_rule *r = &rules[(*n)++];
        long id;
        if (strcmp(tok, "all") == 0) {
            r->kind = JD_RULE_ALL;
        } else if (strncmp(tok, "uid:", 4) == 0 && parse_int(tok + 4, 0, UINT_MAX - 1, &id) == 0) {
            r->kind = JD_RULE_UID;
            r->id = (unsigned)id;
        } else if (strncmp(tok, "gid:", 4) == 0 && parse_int(tok + 4, 0, UINT_MAX - 1, &id) == 0) {
            r->kind = JD_RULE_GID;
            r->id = (unsigned)id;
        } else if (strncmp(tok, "user:", 5) == 0) {
            struct passwd *pw = getpwnam(tok + 5);
            if (!pw) {
                snprintf(why, whylen, "no such user '%.64s'", tok + 5);
                return -1;
            }
            r->kind = JD_RULE_UID;
            r->id = pw->pw_uid;
        } else if (strncmp(tok, "group:", 6) == 0) {
            struct group *gr = getgrnam(tok + 6);
            if (!gr) {
                snprintf(why, whylen, "no such group '%.64s'", tok + 6);
                return -1;
            }
            r->kind = JD_RULE_GID;
            r->id = gr->gr_gid;
        } else {
            snprintf(why, whylen,
                     "'%.64s' is not a rule; use uid:N, gid:N, user:NAME, group:NAME or all", tok);
            return -1;
        }
    }
    return 0;
}

#define SETSTR(field)                                                                  \
    do {                                                                               \
        if (strlen(val) >= sizeof c->field) {                                          \
            snprintf(why, whylen, "value is longer than %zu characters",               \
                     sizeof c->field - 1);                                             \
            return -1;                                                                 \
        }                                                                              \
        snprintf(c->field, sizeof c->field, "%s", val);                                \
    } while (0)
#define SETINT(field, lo, hi)                                                          \
    do {                                                                               \
        long x_;                                                                       \
        if (parse_int(val, lo, hi, &x_)) {                                             \
            snprintf(why, whylen, "'%.64s' is not an integer in %ld..%ld", val,        \
                     (long)(lo), (long)(hi));                                          \
            return -1;                                                                 \
        }                                                                              \
        c->field = (int)x_;                                                            \
    } while (0)

static const char *const keys[] = {
    "devices", "socket", "socket_mode", "socket_group", "tcp", "token_secret_file",
    "scope.read", "scope.control", "scope.bso", "bso_db", "state_dir", "sample_interval_ms", "request_timeout_s",
    "max_body_bytes", "max_connections", "max_connections_per_peer", "stream_buffer_events",
    "stream_max_clients", "lease_default_ttl_s", "lease_max_ttl_s",
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The value of one known key; val may be modified. */
static int parse_value(struct jd_config *c, const char *key, char *val, char *why,
                       size_t whylen)
{
    if (!strcmp(key, "devices")) {
        SETSTR(devices);
    } else if (!strcmp(key, "socket")) {
        SETSTR(socket);
    } else if (!strcmp(key, "socket_mode")) {
        char *end;
        errno = 0;
        unsigned long m = strtoul(val, &end, 8);
        if (errno || end == val || *end || m > 0777) {
            snprintf(why, whylen, "'%.64s' is not an octal mode like 0660", val);
            return -1;
        }
        c->socket_mode = (unsigned)m;
    } else if (!strcmp(key, "socket_group")) {
        SETSTR(socket_group);
        if (val[0] && !getgrnam(val)) {
            snprintf(why, whylen, "no such group '%s'", val);
            return -1;
        }
    } else if (!strcmp(key, "tcp")) {
        char host[64];
        int port, lo;
        if (val[0] && strcmp(val, "off") != 0 &&
            jd_parse_hostport(val, host, sizeof host, &port, &lo)) {
            snprintf(why, whylen, "'%.64s' is not HOST:PORT (e.g. 127.0.0.1:9464)", val);
            return -1;
        }
        if (strcmp(val, "off") == 0)
            val = "";
        SETSTR(tcp);
    } else if (!strcmp(key, "token_secret_file")) {
        SETSTR(token_secret_file);
    } else if (!strcmp(key, "scope.read")) {
        return parse_rules(val, c->read_rules, &c->nread, why, whylen);
    } else if (!strcmp(key, "scope.control")) {
        return parse_rules(val, c->control_rules, &c->ncontrol, why, whylen);
    } else if (!strcmp(key, "scope.bso")) {
        return parse_rules(val, c->bso_rules, &c->nbso, why, whylen);
    } else if (!strcmp(key, "bso_db")) {
        SETSTR(bso_db);
    } else if (!strcmp(key, "state_dir")) {
        SETSTR(state_dir);
    } else if (!strcmp(key, "sample_interval_ms")) {
        SETINT(sample_interval_ms, 1, 1000);
    } else if (!strcmp(key, "request_timeout_s")) {
        SETINT(request_timeout_s, 1, 3600);
    } else if (!strcmp(key, "max_body_bytes")) {
        SETINT(max_body_bytes, 256, 16 << 20);
    } else if (!strcmp(key, "max_connections")) {
        SETINT(max_connections, 1, 65536);
    } else if (!strcmp(key, "max_connections_per_peer")) {
        SETINT(max_connections_per_peer, 1, 65536);
    } else if (!strcmp(key, "stream_buffer_events")) {
        SETINT(stream_buffer_events, 1, 100000);
    } else if (!strcmp(key, "stream_max_clients")) {
        SETINT(stream_max_clients, 1, 10000);
    } else if (!strcmp(key, "lease_default_ttl_s")) {
        SETINT(lease_default_ttl_s, 1, 365 * 24 * 3600);
    } else if (!strcmp(key, "lease_max_ttl_s")) {
        SETINT(lease_max_ttl_s, 1, 365 * 24 * 3600);
    }
    return 0;
}

int jd_config_parse(struct jd_config *c, const char *name, const char *text, char *err,
                    size_t errlen)
{
    /* Lines are cut in place in a copy: no line or value length limit
     * here, so nothing is ever split or truncated. */
    char *copy = strdup(text);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    int seen[NKEYS] = {0};
    int lineno = 0, rc = 0;
    char why[512];
    for (char *line = copy, *next; line && !rc; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value', got '%.64s%s'", name, lineno,
                     s, strlen(s) > 64 ? "..." : "");
            rc = -1;
            break;
        }
        *eq = '\0';
        const char *key = trim(s);
        char *val = trim(eq + 1);
        size_t k = 0;
        while (k < NKEYS && strcmp(key, keys[k]))
            k++;
        if (k == NKEYS) {
            char known[512] = "";
            for (size_t i = 0; i < NKEYS; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         i ? ", " : "", keys[i]);
            snprintf(err, errlen, "%s:%d: unknown key '%.64s' (known: %s)", name, lineno, key,
                     known);
            rc = -1;
        } else if (seen[k]) {
            /* A second line would silently replace the first (a scope
             * list appended at the end would drop the earlier one). */
            snprintf(err, errlen, "%s:%d: %s is already set on line %d; give each key once",
                     name, lineno, key, seen[k]);
            rc = -1;
        } else if (parse_value(c, key, val, why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: %s: %s", name, lineno, key, why);
            rc = -1;
        } else {
            seen[k] = lineno;
        }
    }
    free(copy);
    return rc;
}

int jd_config_load(struct jd_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap + 1);
    if (!text) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = fread(text, 1, cap, f);
    int big = !feof(f);
    fclose(f);
    if (big) {
        free(text);
        snprintf(err, errlen, "%s: larger than 64 KiB", path);
        return -1;
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        free(text);
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return -1;
    }
    int rc = jd_config_parse(c, path, text, err, errlen);
    free(text);
    return rc;
}

int jd_parse_hostport(const char *s, char *host, size_t hostlen, int *port, int *loopback)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        *loopback = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    } else if (strcmp(host, "localhost") == 0) {
        snprintf(host, hostlen, "127.0.0.1");
        *loopback = 1;
    } else {
        return -1; /* numeric addresses only: no resolver surprises */
    }
    return 0;
}

int jd_config_validate(const struct jd_config *c, char *err, size_t errlen)
{
    if (!c->socket[0] && !c->tcp[0]) {
        snprintf(err, errlen, "no listener: set socket or tcp");
        return -1;
    }
    struct sockaddr_un sa;
    if (strlen(c->socket) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket = %s: longer than the %zu characters a unix socket path "
                 "may have", c->socket, sizeof sa.sun_path - 1);
        return -1;
    }
    if (c->tcp[0]) {
        char host[64];
        int port, lo;
        if (jd_parse_hostport(c->tcp, host, sizeof host, &port, &lo)) {
            snprintf(err, errlen, "tcp = %s: not HOST:PORT", c->tcp);
            return -1;
        }
        if (!lo && !c->token_secret_file[0]) {
            snprintf(err, errlen,
                     "tcp = %s is not a loopback address and token_secret_file is not set: "
                     "refusing to serve the network without token authentication",
                     c->tcp);
            return -1;
        }
    }
    if (c->max_connections_per_peer > c->max_connections) {
        snprintf(err, errlen, "max_connections_per_peer (%d) exceeds max_connections (%d)",
                 c->max_connections_per_peer, c->max_connections);
        return -1;
    }
    if (c->lease_default_ttl_s > c->lease_max_ttl_s) {
        snprintf(err, errlen, "lease_default_ttl_s (%d) exceeds lease_max_ttl_s (%d)",
                 c->lease_default_ttl_s, c->lease_max_ttl_s);
        return -1;
    }
    if (!c->state_dir[0]) {
        snprintf(err, errlen, "state_dir is empty");
        return -1;
    }
    return 0;
}
