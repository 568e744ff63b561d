/* Connections per peer: a uid on the unix socket (SO_PEERCRED), an IPv4
 * address or an IPv6 /64 on TCP (one host usually holds a whole /64). A
 * peer at its limit gets no more connections, so slow or stalled clients
 * of one peer cannot take the service from the others. Thread-safe. */
#ifndef JOULED_PEER_LIMIT_H
#define JOULED_PEER_LIMIT_H

#include <sys/socket.h>

struct jd_peer_key {
    int family;                 /* AF_UNIX (uid), AF_INET or AF_INET6 (/64) */
    unsigned char id[8];
};

/* The key of a connected socket and the address accept() gave. 0 or -1
 * (no credentials). */
int jd_peer_key_of(int fd, const struct sockaddr *sa, socklen_t salen, struct jd_peer_key *k);
/* "uid 1000", "127.0.0.1", "2001:db8:1:2::/64" */
void jd_peer_key_name(const struct jd_peer_key *k, char *buf, size_t len);

struct jd_peer_limits;
/* limit connections per peer, for at most cap peers at once. */
struct jd_peer_limits *jd_peer_limits_create(int limit, int cap);
void jd_peer_limits_destroy(struct jd_peer_limits *pl);
/* Counts a connection of the peer: 0, or -1 when it holds limit already
 * (or cap peers are known). */
int jd_peer_enter(struct jd_peer_limits *pl, const struct jd_peer_key *k);
/* The connection closed. */
void jd_peer_leave(struct jd_peer_limits *pl, const struct jd_peer_key *k);

#endif
