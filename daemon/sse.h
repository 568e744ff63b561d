/* Server-Sent Events of power samples. One hub thread reads the sampler's
 * latest values and pushes an event into each subscriber's bounded ring
 * at the subscriber's rate; the connection drains the ring. When a client
 * reads too slowly the oldest events are dropped and the next thing it
 * reads is `event: missed` with the count, so memory never grows. */
#ifndef JOULED_SSE_H
#define JOULED_SSE_H

#include <stddef.h>
#include <sys/types.h>

#include "jd.h"

struct jd_sub;

int jd_hub_create(struct jd *d);
/* Wakes every reader with end-of-stream (before the server stops). */
void jd_hub_shutdown(struct jd *d);
/* Stops the thread and frees the hub. */
void jd_hub_destroy(struct jd *d);

/* NULL (with why) when there are too many subscribers. */
struct jd_sub *jd_sub_open(struct jd *d, const struct jd_stream_req *r, char *why, size_t whylen);
void jd_sub_close(struct jd *d, struct jd_sub *s);
/* Fills buf with whole events, waiting up to wait_ms for one. Returns the
 * byte count, 0 when nothing came (send a keep-alive), -1 at end. */
ssize_t jd_sub_read(struct jd *d, struct jd_sub *s, char *buf, size_t len, int wait_ms);
/* Events dropped for this subscriber so far. */
unsigned long long jd_sub_missed_total(struct jd_sub *s);

#endif
