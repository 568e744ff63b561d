/* Energy at a window edge, exact to the instant. A counter read at time t
 * shows the energy at its last update U, not at t; the edge adds the
 * energy since then, ∫_U^t p, estimated from the freshest power
 * information (the instant power read at the edge, the keeper's and the
 * sampler's reads, the rate of the last counter step), with a bound on
 * the error. The estimator and its error model are in docs/measurement.md
 * ("Window edges"). One edge_track per device, fed by every read the core
 * makes; pure bookkeeping (callers hold the device's lock). */
#ifndef JOULE_CORE_EDGE_H
#define JOULE_CORE_EDGE_H

#include <stdint.h>

#include "core/timing.h"

#define EDGE_POWER_KEEP 1024 /* power values kept (seconds of history) */
#define EDGE_COUNTER_KEEP 64 /* counter updates kept (6.4 s at 100 ms) */
#define EDGE_DEV_KEEP 64     /* reading deviations kept for calibration */
#define EDGE_JUMP_KEEP 32    /* large power jumps remembered */
#define EDGE_CALIBRATED 8    /* counter periods before the noise is trusted */
/* Counters that update at least this often (RAPL, ~1 ms) are read as
 * they are: their edges are corrected from the counter's own rate. Slower
 * ones (GPUs, 100 ms) also get instant power at each edge and the keeper's
 * timing reads. */
#define EDGE_TRACK_MIN_PERIOD_US 2000.0

/* The power reading showed mw (the mean of n readings less than 1 ms
 * apart) from a true change of power in [lo, hi] until at least
 * last_seen (ns). In the power estimate p̂ the value holds from start
 * (inside [lo, hi] where the order of steps allows); cum_uj is ∫p̂ from
 * the first step kept to start, so any integral is two lookups. */
struct power_step {
    int64_t lo, hi, last_seen, start;
    double cum_uj;
    float mw;
    uint32_t n;
};

/* The counter showed total_uj (wrap-corrected) from an update in [lo, hi]. */
struct counter_step {
    int64_t est, lo, hi;
    uint64_t total_uj;
};

/* The last edge's placement of the counter's update: edges in a row see
 * one counter value through one model, and placing it costs more than the
 * rest of an edge. It holds while nothing it was made from moved. */
struct edge_place_memo {
    uint64_t changes, pw_seq, version; /* the counter's, the power steps' */
    int state, cs_head, cs_n, valid;
    int64_t u_est, u_lo, u_hi;
};

struct edge_track {
    /* Hot fields first, the rings last: an edge touches few cache lines. */
    double power_nominal_ns;  /* how stale a reading may be, until learned */
    double resolution_uj;
    double max_mw;            /* the device's maximum power, 0 unknown */
    int pw_head, pw_n;
    uint64_t pw_seq;          /* steps ever added */
    uint64_t version;         /* bumps when a kept step moves */
    int cs_head, cs_n;
    int64_t refined_until;    /* counter periods up to here placed their jump */
    int jump_head, jump_n;
    uint64_t jumps;           /* large jumps ever seen */
    int64_t first_read_ns;
    int dev_head, dev_n, span_head, span_n;
    double bias;      /* median relative deviation of a reading */
    double r_read;    /* 95th percentile of |deviation - bias| */
    double r_span;    /* the same for p̂'s integral over a counter period */
    struct edge_place_memo memo;

    struct timing counter, power, average;

    struct counter_step cs[EDGE_COUNTER_KEEP];
    /* Large jumps of power: their steps' sequence numbers, oldest first. */
    uint64_t jump_seq[EDGE_JUMP_KEEP];
    /* Single readings, and whole-period integrals, against the counter's
     * exact period energy. */
    float dev[EDGE_DEV_KEEP], span_dev[EDGE_DEV_KEEP];
    struct power_step pw[EDGE_POWER_KEEP];
};

/* When instant power was last read (0: never). */
int64_t edge_power_seen_ns(const struct edge_track *e);

/* What an edge knows about the energy at its instant. */
struct edge_value {
    uint64_t total_uj;  /* the counter's wrap-corrected total at the read */
    double corr_uj;     /* energy from the counter's update to the edge */
    double bound_uj;    /* |error of corr_uj| (95 %) */
    double lag_uj;      /* bound on |corr_uj| itself: a plain counter
                           difference errs by up to this much */
    double unseen_uj;   /* a jump after the last power refresh before the
                           edge could not be seen: its worst case (in
                           bound_uj only when such a jump is likely) */
    int unseen_counted; /* whether bound_uj holds unseen_uj */
    double placement_uj; /* the part of bound_uj from placing U and jumps */
    int64_t t_ns;       /* the edge's instant */
    int64_t u_est, u_lo, u_hi; /* when the counter took total_uj */
    int64_t seen_lo, seen_hi;  /* the reads that bracket that change */
    int64_t seen_start;        /* when the read that first showed it began */
    uint64_t version, jumps;   /* the tracker's, when estimated */
};

/* A window whose edges saw one counter value: the energy between them
 * from power alone, where the counter's update instant cancels out. */
struct edge_span {
    int same_step;
    double uj, bound_uj;
    double unseen_uj; /* a jump at the end no reading could show yet */
};

void edge_init(struct edge_track *e, double counter_nominal_ns, double power_nominal_ns,
               double resolution_uj, double max_mw);

/* Every counter read [start, end] and its raw and total value. */
void edge_counter_read(struct edge_track *e, int64_t start, int64_t end, uint64_t raw,
                       uint64_t total_uj);
/* Every instant power read. */
void edge_power_read(struct edge_track *e, int64_t start, int64_t end, uint32_t mw);
/* Every average power read (for its timing only). */
void edge_average_read(struct edge_track *e, int64_t start, int64_t end, uint32_t mw);

/* The correction for an edge at t_e given the last counter read;
 * fallback_mw is a last resort when no power history exists (0: none). */
void edge_estimate(struct edge_track *e, int64_t t_e, double fallback_mw,
                   struct edge_value *out);
/* The same from the latest power alone, held since the update: cheap,
 * for an edge that will be estimated again (a window's begin edge, in
 * full at its end while the history still reaches back to it). */
void edge_estimate_provisional(struct edge_track *e, int64_t t_e, double fallback_mw,
                               struct edge_value *out);
/* An earlier edge estimated again with what was read since: power
 * readings after the edge show what was stale at it, and counter periods
 * completed since pin down jumps. Keeps the old estimate when the history
 * no longer reaches back far enough. */
void edge_reestimate(const struct edge_track *e, struct edge_value *v);
/* ∫_a^b p̂ and its bound: the energy of a window whose edges saw the same
 * counter value. */
void edge_between(const struct edge_track *e, int64_t a, int64_t b, struct edge_span *out);

#endif
