/* One jouled's `GET /v1/stream` as a sequence of power events
 * (client/power_stream.c), for the cluster view (client/cluster.c). */
#ifndef JOULE_CLIENT_POWER_STREAM_H
#define JOULE_CLIENT_POWER_STREAM_H

#include <stdatomic.h>
#include <stddef.h>

#define PSTREAM_MAX_DEVICES 64

struct pstream_event {
    double t_unix_s; /* the node's clock */
    int ndev;
    char label[PSTREAM_MAX_DEVICES][32];
    double power_w[PSTREAM_MAX_DEVICES]; /* NAN: the node has no reading */
};

struct pstream {
    int fd;
    int chunked;
    /* raw bytes from the socket, then the de-chunked body */
    char *raw, *body;
    size_t raw_len, body_len, chunk_left;
    int want_crlf; /* a chunk's data ended; its CRLF is next */
    unsigned long long missed;
};

/* Connects to where, asks for the stream every interval_ms with token
 * (NULL: none) and reads the answer's head (giving up within 200 ms once
 * *cancel is set, when cancel is not NULL). 0 when the stream is open;
 * else a negative JOULE_E* code with the error set: the daemon's own
 * message for a refusal ("HTTP 401: token expired"). */
int pstream_open(struct pstream *s, const char *where, const char *token, int interval_ms,
                 atomic_int *cancel);
/* The next power event within wait_ms: 1 with *ev filled, 0 when none came
 * in that time, a negative JOULE_E* code when the stream ended or broke. */
int pstream_next(struct pstream *s, struct pstream_event *ev, int wait_ms);
void pstream_close(struct pstream *s);

/* Parses one event's data line ({"t":..,"power_w":{"gpu0":W,..}}); 0 or -1. */
int pstream_parse_power(const char *json, struct pstream_event *ev);

#endif
