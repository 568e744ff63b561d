/* The gate in front of libmicrohttpd: one thread accepts every connection
 * and holds it, without a worker thread, until its request head (request
 * line and headers) has arrived whole and checked (http_head.h); only
 * then is it handed to libmicrohttpd. So
 * - a slow or stalled head costs a file descriptor, not one of
 *   max_connections worker threads, and gets 408 at request_timeout_s;
 * - bytes that cannot be HTTP, and bad framing (Content-Length), get a
 *   JSON 4xx at once;
 * - a peer (peer_limit.h) holding max_per_peer connections, waiting or
 *   served, gets 503 for the next one, so one peer's slow clients cannot
 *   starve the others.
 * Every refusal is `{"error": "...", "status": N}` with Connection: close. */
#ifndef JOULED_GATE_H
#define JOULED_GATE_H

#include <stddef.h>
#include <sys/socket.h>

struct jd_gate;
struct jd_gate_conn;

struct jd_gate_listener {
    int fd;                     /* listening socket; stays the caller's */
    /* Takes a connection whose head is complete (libmicrohttpd's
     * MHD_add_connection): 0, or -1 when it refused it (fd closed). */
    int (*handoff)(void *cls, int fd, const struct sockaddr *sa, socklen_t salen);
    void *cls;
};

struct jd_gate_config {
    double timeout_s;           /* request_timeout_s */
    size_t max_head;            /* bytes of request line + headers */
    unsigned long long max_body;
    int max_connections;        /* per listener: waiting, and handed off */
    int max_per_peer;           /* per peer over both */
};

/* The gate for up to nlisteners (2) listeners, before libmicrohttpd
 * starts (its threads call jd_gate_claim and jd_gate_done). 0 or -1. */
int jd_gate_create(const struct jd_gate_config *c, int nlisteners, struct jd_gate **out);
/* Starts the gate thread over the listeners. 0 or -1. */
int jd_gate_run(struct jd_gate *g, const struct jd_gate_listener *ls, int n);
/* Stops accepting and closes the connections still waiting. */
void jd_gate_stop(struct jd_gate *g);
/* Frees the gate, after every handed-off connection was done. */
void jd_gate_free(struct jd_gate *g);

/* libmicrohttpd's side, when a handed-off connection starts: the gate's
 * record of fd (NULL if none) and when it was accepted (monotonic s). */
struct jd_gate_conn *jd_gate_claim(struct jd_gate *g, int fd, double *accepted_s);
/* The connection closed: its peer and listener slots are free again. */
void jd_gate_done(struct jd_gate *g, struct jd_gate_conn *c);

#endif
