/* Request deadlines: a request whose body has not fully arrived within
 * the timeout of the accept (the gate sees to the head) gets "408 Request
 * Timeout" and the connection is shut down. libmicrohttpd only has an
 * inactivity timeout, which a client dribbling one byte a second never
 * trips, and it closes without a status; this watchdog gives every slow
 * request a real 4xx at a fixed deadline. */
#ifndef JOULED_DEADLINE_H
#define JOULED_DEADLINE_H

struct jd_deadlines;
struct jd_deadline;

/* Starts the watchdog thread. Returns 0 or -1. */
int jd_deadlines_start(double timeout_s, struct jd_deadlines **out);
/* Stops the thread. Every connection must have been closed first. */
void jd_deadlines_stop(struct jd_deadlines *dl);

/* A connection on fd, accepted at start (monotonic s): its request must
 * be in by start + the timeout. */
struct jd_deadline *jd_deadline_open(struct jd_deadlines *dl, int fd, double start);
/* The connection is about to close (fd still open); frees the entry. */
void jd_deadline_close(struct jd_deadlines *dl, struct jd_deadline *e);
/* The server is about to answer the request: returns 0 when it may, or -1
 * when the watchdog already answered 408 (the caller drops the request). */
int jd_deadline_claim(struct jd_deadlines *dl, struct jd_deadline *e);

#endif
