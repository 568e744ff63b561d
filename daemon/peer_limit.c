/* Connections per peer (see peer_limit.h). The peers with connections
 * are few (at most the connections there are): a small array scanned
 * under one mutex is enough. */
#include "peer_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct jd_peer_key key;
    int count;
};

struct jd_peer_limits {
    pthread_mutex_t lock;
    int limit, cap, n;
    struct entry *e;
};

int jd_peer_key_of(int fd, const struct sockaddr *sa, socklen_t salen, struct jd_peer_key *k)
{
    memset(k, 0, sizeof *k);
    k->family = sa->sa_family;
    if (sa->sa_family == AF_UNIX) {
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
            return -1;
        memcpy(k->id, &cr.uid, sizeof cr.uid);
        return 0;
    }
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        memcpy(k->id, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            k->family = AF_INET;
            memcpy(k->id, a->s6_addr + 12, 4);
        } else {
            memcpy(k->id, a->s6_addr, 8);
        }
        return 0;
    }
    return -1;
}

void jd_peer_key_name(const struct jd_peer_key *k, char *buf, size_t len)
{
    if (k->family == AF_UNIX) {
        uid_t uid;
        memcpy(&uid, k->id, sizeof uid);
        snprintf(buf, len, "uid %u", (unsigned)uid);
    } else if (k->family == AF_INET) {
        inet_ntop(AF_INET, k->id, buf, (socklen_t)len);
    } else {
        unsigned char a[16] = {0};
        char s[INET6_ADDRSTRLEN];
        memcpy(a, k->id, 8);
        inet_ntop(AF_INET6, a, s, sizeof s);
        snprintf(buf, len, "%s/64", s);
    }
}

struct jd_peer_limits *jd_peer_limits_create(int limit, int cap)
{
    struct jd_peer_limits *pl = calloc(1, sizeof *pl);
    if (!pl || !(pl->e = calloc((size_t)cap, sizeof *pl->e))) {
        free(pl);
        return NULL;
    }
    pthread_mutex_init(&pl->lock, NULL);
    pl->limit = limit;
    pl->cap = cap;
    return pl;
}

void jd_peer_limits_destroy(struct jd_peer_limits *pl)
{
    if (!pl)
        return;
    pthread_mutex_destroy(&pl->lock);
    free(pl->e);
    free(pl);
}

static struct entry *find(struct jd_peer_limits *pl, const struct jd_peer_key *k)
{
    for (int i = 0; i < pl->n; i++)
        if (pl->e[i].key.family == k->family && !memcmp(pl->e[i].key.id, k->id, sizeof k->id))
            return &pl->e[i];
    return NULL;
}

int jd_peer_enter(struct jd_peer_limits *pl, const struct jd_peer_key *k)
{
    pthread_mutex_lock(&pl->lock);
    struct entry *e = find(pl, k);
    if (!e && pl->n < pl->cap) {
        e = &pl->e[pl->n++];
        e->key = *k;
        e->count = 0;
    }
    int ok = e && e->count < pl->limit;
    if (ok)
        e->count++;
    pthread_mutex_unlock(&pl->lock);
    return ok ? 0 : -1;
}

void jd_peer_leave(struct jd_peer_limits *pl, const struct jd_peer_key *k)
{
    pthread_mutex_lock(&pl->lock);
    struct entry *e = find(pl, k);
    if (e && --e->count <= 0)
        *e = pl->e[--pl->n]; /* the last entry takes its place */
    pthread_mutex_unlock(&pl->lock);
}
