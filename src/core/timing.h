/* When does a reading change? Learned from the reads themselves, each
 * stamped with when it started and ended: an energy counter that steps
 * every 100 ms, an instant power value refreshed every 20 ms, a 1 s
 * average. A change seen between two reads brackets an update instant;
 * brackets from many periods give the period, the phase and how sure we
 * are of them (docs/measurement.md, "Counter timing"). Pure bookkeeping on
 * integers and doubles: no clock, no device, no lock (callers hold the
 * device's lock). */
#ifndef JOULE_CORE_TIMING_H
#define JOULE_CORE_TIMING_H

#include <stdint.h>

#define TIMING_KEEP 64    /* change brackets kept for the fit */
#define TIMING_RECENT 64  /* reads kept to tell "changes at every read" (<= 64) */
#define TIMING_VERTS 24   /* vertices of the (phase, period) polygon kept */

struct timing_bracket {
    int64_t lo, hi; /* an update happened in [lo, hi] (ns) */
};

struct timing_vertex {
    double phase, period;
};

struct timing {
    /* The fields every read and every edge touch come first, in few
     * cache lines; the polygon and the bracket ring follow. */
    int state;         /* a JOULE_TIMING_* value */
    int have_read;
    double nominal_ns; /* the backend's period, 0 when unknown */

    /* The last read, and where its value first appeared: [cur_lo,
     * cur_hi], cur_lo = INT64_MIN when the change was never seen;
     * cur_start is when the read that first showed it began. */
    int64_t read_start, read_end;
    uint64_t value;
    int64_t cur_lo, cur_hi, cur_start;

    /* The model. Update k happens at origin_ns + phase_ns + k·period_ns;
     * anchor_ns is update 0 and delta_ns its ± (all of it that the reads
     * allow, or the spread of a jittery source's updates, jitter_ns).
     * The (phase, period) pairs every bracket allows form a polygon,
     * nvert vertices (0: a jittery source's least-squares line, with
     * period_err_ns). */
    int nvert;
    int nrecent, recent_changes;
    int64_t origin_ns, anchor_ns;
    double phase_ns, period_ns, delta_ns, jitter_ns, period_err_ns;

    uint64_t recent_bits; /* 1 = that read saw a change, newest lowest */
    uint64_t changes, reads;
    int64_t first_change_ns, last_change_ns;
    int nbr, head, since_fit;  /* the bracket ring: count, oldest, refit clock */
    double typical_width_ns;   /* median bracket width, refreshed now and then */

    struct timing_vertex vert[TIMING_VERTS];
    /* Narrow change brackets, a ring, oldest at head. */
    struct timing_bracket br[TIMING_KEEP];
};

void timing_init(struct timing *t, double nominal_ns);

/* Records a read over [start, end] that returned value. Returns 1 when it
 * saw the value change. */
int timing_observe(struct timing *t, int64_t start, int64_t end, uint64_t value);

/* When the value of the last read appeared: the best estimate and the
 * interval [*lo, *hi] that holds it. */
void timing_last_change(const struct timing *t, int64_t *est, int64_t *lo, int64_t *hi);
/* The same for a change observed in the bracket [l, h] (l = INT64_MIN:
 * unknown), with what is known now: an edge's update instant can be
 * placed again once the timing is learned. The estimate is the middle of
 * the interval, so it errs by at most half its width. */
void timing_change_in(const struct timing *t, int64_t l, int64_t h, int64_t *est, int64_t *lo,
                      int64_t *hi);
/* Where an update lies: [lo, hi] holds it, est is the middle. */
struct timing_place {
    int64_t est, lo, hi;
};
/* The updates a value first seen in the bracket [l, h] can hold, by a
 * read that began at s: c[0] the latest the model allows at or before h,
 * as timing_change_in gives it; c[1] the one before, when the model
 * allows that one in [l, h] too and c[0] after s (the read may have
 * sampled the value before c[0]): then the reads alone cannot tell
 * which, the value's energy must. Returns how many (1 or 2). */
int timing_changes_in(const struct timing *t, int64_t l, int64_t s, int64_t h,
                      struct timing_place c[2]);
/* The bracket [*lo, *hi] in which the last read's value appeared, and
 * when the read that first showed it began (*start). */
void timing_last_bracket(const struct timing *t, int64_t *lo, int64_t *start, int64_t *hi);

/* The first predicted update after `after` and its ± (0 without a
 * periodic model). */
int timing_next_update(const struct timing *t, int64_t after, int64_t *at, double *delta);
/* The earliest instant the last update before x can have (periodic
 * models only). */
int64_t timing_update_before(const struct timing *t, int64_t x_ns);

/* The learned period when there is one, else the nominal one (ns). */
double timing_period_ns(const struct timing *t);
/* The mean time between the changes seen (ns), 0 before two. */
double timing_mean_gap_ns(const struct timing *t);

/* The median width of recent brackets: for a source that changes at
 * almost every read, a bound on how often it refreshes. */
double timing_typical_bracket_ns(const struct timing *t);

/* The longest a value can stay unchanged, as far as is known: a learned
 * or nominal period with margin, else the fallback. */
double timing_max_hold_ns(const struct timing *t, double fallback_ns);

#endif
