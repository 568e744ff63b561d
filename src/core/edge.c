/* The edge estimator (edge.h).
 *
 * Power history: a ring of the distinct values the instant power reading
 * showed. Each value starts at an uncertain instant: the reading changed
 * somewhere in the bracket its timing gives, and a reading may be up to
 * one refresh period stale, so the true change lies in [lo, hi]. Between
 * changes power is taken as constant (p̂, a step function with each step
 * at the middle of its interval). Running sums make every integral of p̂
 * two lookups, so an edge costs the same however much history is kept.
 *
 * Counter periods pin jumps down: when a counter period that holds one
 * large jump has completed, its exact energy says where in the period the
 * jump happened (energy is linear in the jump's instant), which narrows
 * that step's [lo, hi] to the error of that solution.
 *
 * ∫_U^t p̂ then has five error terms, each a bound:
 *   phase  — U is known to ±(U_hi − U_lo)/2: p̂ there times that;
 *   jumps  — a step of Δ inside [U, t] whose instant is uncertain by w:
 *            Δ · min(w/2, overlap), for steps larger than the noise;
 *   noise  — a reading deviates from the true power by up to r_read
 *            (the 95th percentile learned against the counter's exact
 *            period averages; 5 % until learned): r_read · |∫p̂|;
 *   unknown — before the first reading kept, anything from nothing to
 *            the device's maximum;
 *   unseen — a jump after the last refresh the readings show cannot be
 *            seen at all: the largest recent jump over that stretch,
 *            counted when jumps are frequent enough to make it likely;
 * plus the counter's resolution. */
#include "core/edge.h"

#include <joule/joule.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_R_READ 0.05
#define MIN_R_READ 0.005
#define JUMP_FACTOR 3.0      /* beyond this many r_read a change is a jump:
                                two readings' noise rarely differ by more */
#define CALIBRATE_MAX_DEV 0.25
#define RATE_ONLY_ERROR 0.25 /* a counter rate held past its step */
#define PRECISE_SHARE 0.02   /* of a period: an update instant known this well */
#define UNSEEN_LIKELY 0.025  /* chance of an unseen jump worth bounding */
#define JUMP_MEMORY_NS 10000000000LL /* jumps older than 10 s are forgotten */
#define MERGE_NS 1000000LL   /* readings closer than this share a step */

void edge_init(struct edge_track *e, double counter_nominal_ns, double power_nominal_ns,
               double resolution_uj, double max_mw)
{
    memset(e, 0, sizeof *e);
    timing_init(&e->counter, counter_nominal_ns);
    timing_init(&e->power, power_nominal_ns);
    timing_init(&e->average, counter_nominal_ns);
    e->power_nominal_ns = power_nominal_ns;
    e->resolution_uj = resolution_uj;
    e->max_mw = max_mw;
    e->r_read = DEFAULT_R_READ;
}

/* Ring sizes are powers of two, so a mask finds a slot. */
static struct power_step *pw_at(const struct edge_track *e, int i)
{
    return (struct power_step *)&e->pw[(unsigned)(e->pw_head + i) & (EDGE_POWER_KEEP - 1)];
}

static const struct counter_step *cs_at(const struct edge_track *e, int i)
{
    return &e->cs[(e->cs_head + i) % EDGE_COUNTER_KEEP];
}

static double scale(const struct edge_track *e) { return 1.0 / (1.0 + e->bias); }

/* fmax/fmin without libm's NaN handling: nothing here is NaN. */
static double dmax(double a, double b) { return a > b ? a : b; }
static double dmin(double a, double b) { return a < b ? a : b; }

static int big_change(const struct edge_track *e, double a, double b)
{
    return fabs(a - b) > JUMP_FACTOR * e->r_read * dmax(a, b);
}

static int is_jump(const struct edge_track *e, int j)
{
    return j > 0 && big_change(e, pw_at(e, j - 1)->mw, pw_at(e, j)->mw);
}

/* How stale a value can be when first seen: one refresh of the source.
 * A source that changes at almost every read refreshes faster than the
 * reads come: at most the usual gap between them; one that changes
 * irregularly, about as often as it changes (and never more than the
 * nominal refresh). */
static double staleness_ns(const struct edge_track *e)
{
    switch (e->power.state) {
    case JOULE_TIMING_PERIODIC: return e->power.period_ns;
    case JOULE_TIMING_CONTINUOUS: return timing_typical_bracket_ns(&e->power);
    case JOULE_TIMING_APERIODIC: {
        double gap = 1.5 * timing_mean_gap_ns(&e->power);
        return gap > 0 && gap < e->power_nominal_ns ? gap : e->power_nominal_ns;
    }
    default: return e->power_nominal_ns;
    }
}

/* ---- p̂ and its running sum ---------------------------------------------- */

/* Places step j in p̂ (inside its interval, after step j-1, before step
 * j+1) and updates the running sums from j on. */
static void place(struct edge_track *e, int j)
{
    for (int i = j; i < e->pw_n; i++) {
        struct power_step *s = pw_at(e, i);
        if (i == j) {
            int64_t at = s->lo + (s->hi - s->lo) / 2;
            if (i > 0 && at < pw_at(e, i - 1)->start)
                at = pw_at(e, i - 1)->start;
            if (i + 1 < e->pw_n && at > pw_at(e, i + 1)->start)
                at = pw_at(e, i + 1)->start;
            s->start = at;
        }
        if (i == 0) {
            s->cum_uj = 0;
        } else {
            const struct power_step *p = pw_at(e, i - 1);
            s->cum_uj = p->cum_uj + (double)p->mw * (double)(s->start - p->start) / 1e6;
        }
    }
}

/* The last step starting at or before t, -1 if t is before them all.
 * Edges ask about recent instants: gallop back from the newest step, so
 * the search touches the recent, cache-warm end of the ring. */
static int find_step(const struct edge_track *e, int64_t t)
{
    int hi = e->pw_n - 1;
    if (hi < 0 || t < pw_at(e, 0)->start)
        return -1;
    if (t >= pw_at(e, hi)->start)
        return hi;
    int lo = hi, stride = 1; /* start[hi] > t */
    for (;;) {
        lo = hi - stride > 0 ? hi - stride : 0;
        if (pw_at(e, lo)->start <= t)
            break;
        hi = lo - 1;
        stride *= 2;
    }
    while (lo < hi) { /* start[lo] <= t < start[hi + 1] */
        int m = lo + (hi - lo + 1) / 2;
        if (pw_at(e, m)->start <= t)
            lo = m;
        else
            hi = m - 1;
    }
    return lo;
}

/* ∫p̂ from the first kept step's start to t, given t's step j (µJ,
 * before calibration); before the first step its value is held back. */
static double cumulative_in(const struct edge_track *e, int j, int64_t t)
{
    const struct power_step *s = pw_at(e, j < 0 ? 0 : j);
    return s->cum_uj + (double)s->mw * (double)(t - s->start) / 1e6;
}

static double cumulative(const struct edge_track *e, int64_t t)
{
    return cumulative_in(e, find_step(e, t), t);
}

/* p̂ at t, mW (before calibration). */
static double power_at(const struct edge_track *e, int64_t t)
{
    int j = find_step(e, t);
    return pw_at(e, j < 0 ? 0 : j)->mw;
}

/* p̂ at t, mW (before calibration), starting the search at step j. */
static double power_near(const struct edge_track *e, int j, int64_t t)
{
    while (j > 0 && pw_at(e, j)->start > t)
        j--;
    while (j + 1 < e->pw_n && pw_at(e, j + 1)->start <= t)
        j++;
    return pw_at(e, j < 0 ? 0 : j)->mw;
}

struct integral {
    double energy_uj, jumps_uj, unknown_uj;
};

static void integrate_errors(const struct edge_track *e, int64_t A, int64_t B,
                             struct integral *out);

/* ∫_A^B p̂ (A < B) and its jump and unknown-history error terms, before
 * calibration. */
static void integrate(const struct edge_track *e, int64_t A, int64_t B, struct integral *out)
{
    out->energy_uj = cumulative(e, B) - cumulative(e, A);
    integrate_errors(e, A, B, out);
}

/* The jump and unknown-history terms of ∫_A^B p̂. */
static void integrate_errors(const struct edge_track *e, int64_t A, int64_t B,
                             struct integral *out)
{
    out->jumps_uj = out->unknown_uj = 0;
    uint64_t first_seq = e->pw_seq - (uint64_t)e->pw_n;
    for (int k = e->jump_n - 1; k >= 0; k--) {
        uint64_t seq = e->jump_seq[(e->jump_head + k) % EDGE_JUMP_KEEP];
        if (seq <= first_seq)
            break; /* no longer kept (or no step before it) */
        int j = (int)(seq - first_seq);
        const struct power_step *s = pw_at(e, j);
        if (s->last_seen < A && s->hi < A)
            break;
        int64_t lo = s->lo > A ? s->lo : A, hi = s->hi < B ? s->hi : B;
        if (hi > lo) {
            double d = fabs((double)s->mw - pw_at(e, j - 1)->mw);
            out->jumps_uj += d * dmin((double)(hi - lo), (double)(s->hi - s->lo) / 2) / 1e6;
        }
    }
    /* Before the first reading kept, power could have been anything from
     * nothing to the device's maximum. */
    const struct power_step *oldest = pw_at(e, 0);
    if (A < oldest->hi) {
        int64_t b = oldest->hi < B ? oldest->hi : B;
        double held = oldest->mw, worst = e->max_mw > held ? dmax(held, e->max_mw - held) : held;
        out->unknown_uj = worst * (double)(b - A) / 1e6;
    }
}

/* ---- learning from the counter ----------------------------------------- */

/* Counter period [a, b] completed: where in it did its one large jump
 * happen? Energy over the period is linear in the jump's instant J, with
 * slope (p_before − p_after); solving for the counted energy places J to
 * within the readings' noise over the period divided by the step. */
static void refine_jump(struct edge_track *e, const struct counter_step *a,
                        const struct counter_step *b)
{
    double period = (double)(b->est - a->est);
    if (!(period > 0) || a->hi - a->lo > PRECISE_SHARE * period ||
        b->hi - b->lo > PRECISE_SHARE * period)
        return;
    int found = -1;
    for (int j = e->pw_n - 1; j > 0; j--) {
        const struct power_step *s = pw_at(e, j);
        if (s->last_seen < a->est)
            break;
        if (s->hi < a->est || s->lo > b->est || !is_jump(e, j))
            continue;
        if (found >= 0)
            return; /* two jumps: one equation cannot place both */
        found = j;
    }
    if (found < 0)
        return;
    struct power_step *s = pw_at(e, found);
    double k = scale(e), before = pw_at(e, found - 1)->mw;
    double slope = (before - s->mw) * k / 1e6; /* µJ per ns of later jump */
    struct integral in;
    integrate(e, a->est, b->est, &in);
    /* Energy with the jump at the period's start, then solve. */
    double j0 = dmin(dmax((double)(s->start - a->est), 0), period);
    double at_start = in.energy_uj * k - slope * j0;
    double counted = (double)(b->total_uj - a->total_uj);
    double j = (counted - at_start) / slope;
    double eps = (e->r_read * counted + 2 * e->resolution_uj +
                  dmax(s->mw, before) * k / 1e6 * (double)(a->hi - a->lo + b->hi - b->lo) / 2) /
                 fabs(slope);
    /* The period's energy sees the jump only inside the period: a
     * solution within eps of its start says the jump came at or before
     * it, one within eps of its end at or after it, not where (a jump
     * just after the period's end once came out pinned to it, 15 ms
     * early). */
    double jc = dmin(dmax(j, 0), period);
    int64_t lo = jc - eps <= 0 ? INT64_MIN : a->est + (int64_t)(jc - eps);
    int64_t hi = jc + eps >= period ? INT64_MAX : a->est + (int64_t)(jc + eps);
    lo = lo > s->lo ? lo : s->lo;
    hi = hi < s->hi ? hi : s->hi;
    if (lo < hi && (lo != s->lo || hi != s->hi)) {
        s->lo = lo;
        s->hi = hi;
        place(e, found);
        e->version++;
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void update_noise_model(struct edge_track *e)
{
    if (e->dev_n < 2 * EDGE_CALIBRATED)
        return;
    float v[EDGE_DEV_KEEP];
    memcpy(v, e->dev, sizeof v);
    qsort(v, (size_t)e->dev_n, sizeof v[0], cmp_float);
    e->bias = v[e->dev_n / 2];
    for (int i = 0; i < e->dev_n; i++)
        v[i] = fabsf(v[i] - (float)e->bias);
    qsort(v, (size_t)e->dev_n, sizeof v[0], cmp_float);
    double r = v[(e->dev_n * 95 + 99) / 100 - 1];
    e->r_read = r > MIN_R_READ ? r : MIN_R_READ;
}

/* A counter period [a, b] just completed: compare every value the reading
 * showed inside it with its exact average power. Periods with a jump say
 * nothing about reading noise and are skipped. */
static void calibrate(struct edge_track *e, const struct counter_step *a,
                      const struct counter_step *b)
{
    double dt = (double)(b->est - a->est);
    if (!(dt > 0) || a->hi - a->lo > PRECISE_SHARE * dt || b->hi - b->lo > PRECISE_SHARE * dt)
        return;
    double avg_mw = (double)(b->total_uj - a->total_uj) / dt * 1e6;
    if (!(avg_mw > 0))
        return;
    float found[EDGE_DEV_KEEP];
    int n = 0;
    for (int j = e->pw_n - 1; j >= 0 && n < EDGE_DEV_KEEP; j--) {
        const struct power_step *s = pw_at(e, j);
        if (s->last_seen < a->hi)
            break;
        if (s->hi > b->lo)
            continue;
        double d = s->mw / avg_mw - 1.0;
        if (fabs(d) > CALIBRATE_MAX_DEV)
            return;
        found[n++] = (float)d;
    }
    for (int i = 0; i < n; i++) {
        int slot = (e->dev_head + e->dev_n) % EDGE_DEV_KEEP;
        if (e->dev_n == EDGE_DEV_KEEP)
            e->dev_head = (e->dev_head + 1) % EDGE_DEV_KEEP;
        else
            e->dev_n++;
        e->dev[slot] = found[i];
    }
    if (n)
        update_noise_model(e);
    /* And p̂'s integral over the whole period against the counter: how far
     * off an integral of many readings is. */
    if (n >= 3) {
        struct integral in;
        integrate(e, a->est, b->est, &in);
        double d = in.energy_uj * scale(e) / (double)(b->total_uj - a->total_uj) - 1.0;
        int slot = (e->span_head + e->span_n) % EDGE_DEV_KEEP;
        if (e->span_n == EDGE_DEV_KEEP)
            e->span_head = (e->span_head + 1) % EDGE_DEV_KEEP;
        else
            e->span_n++;
        e->span_dev[slot] = (float)fabs(d);
        if (e->span_n >= EDGE_CALIBRATED) {
            float v[EDGE_DEV_KEEP];
            memcpy(v, e->span_dev, sizeof v);
            qsort(v, (size_t)e->span_n, sizeof v[0], cmp_float);
            e->r_span = dmax(v[(e->span_n * 95 + 99) / 100 - 1], MIN_R_READ);
        }
    }
}

/* How far off ∫p̂ over n steps can be, relative: one reading's noise when
 * it rests on one reading; averaging over several readings shrinks it as
 * 1/√n (the 1.5: a 95th percentile of a mean of n readings is up to that
 * much more than the 95th percentile of one, over √n, for the noise
 * shapes seen), but never below what whole counter periods show. */
static double integral_noise(const struct edge_track *e, int steps)
{
    if (steps <= 1 || !(e->r_span > 0))
        return e->r_read;
    return dmax(e->r_span, dmin(e->r_read, 1.5 * e->r_read / sqrt((double)steps)));
}

/* Once a completed counter period's every jump must have shown in the
 * readings (a refresh after its end), place its jump. */
static void maybe_refine(struct edge_track *e, int64_t now)
{
    if (e->cs_n < 2)
        return;
    const struct counter_step *b = cs_at(e, e->cs_n - 1);
    if (b->est <= e->refined_until || (double)(now - b->hi) <= staleness_ns(e))
        return;
    e->refined_until = b->est;
    refine_jump(e, cs_at(e, e->cs_n - 2), b);
}

/* ---- reads ------------------------------------------------------------- */

/* How far ∫p̂ over [a, b] can be off (µJ, calibrated): the readings'
 * noise, jumps placed inside it, history before the first reading. */
static double integral_error(const struct edge_track *e, int64_t a, int64_t b, double energy_uj)
{
    struct integral in;
    integrate_errors(e, a < b ? a : b, a < b ? b : a, &in);
    return e->r_read * fabs(energy_uj) + (in.jumps_uj + in.unknown_uj) * scale(e);
}

/* The counter's last update in [l, h], as the timing model places it,
 * checked against the energy the counter gained since the step before.
 * A read's bracket can span more than one period (the keeper reads a slow
 * counter every few updates), a driver samples the counter somewhere
 * inside its call, and a loose model allows an update over a stretch
 * longer than a read: the model can allow both the latest update before
 * h and the one before it, and only one is in the value. Each candidate's
 * ∫p̂ since the step before is set against the counted energy (they
 * differ by a whole period's energy); when exactly one agrees within
 * what places and power readings allow, it wins. When both or neither
 * agree, or nothing can tell (no step before, no power), the update is
 * placed over both: bad or missing timing knowledge widens the bound, it
 * never hides it. */
static void place_update(const struct edge_track *e, const struct counter_step *prev,
                         uint64_t total_uj, int64_t l, int64_t start, int64_t h, int64_t *est,
                         int64_t *lo, int64_t *hi)
{
    struct timing_place c[2];
    int n = timing_changes_in(&e->counter, l, start, h, c);
    *est = c[0].est;
    *lo = c[0].lo;
    *hi = c[0].hi;
    if (n < 2)
        return;
    int64_t period = (int64_t)e->counter.period_ns;
    /* The earlier one may be the update of the step before, which a
     * changed value cannot hold again: when that step is placed on one
     * update, the same one; else one before all it spans. */
    if (prev && (prev->hi - prev->lo < period / 2 ? c[1].est <= prev->est + period / 2
                                                   : c[1].hi < prev->lo))
        return;
    int pick = -1;
    if (prev && e->pw_n && total_uj > prev->total_uj) {
        double k = scale(e), counted = (double)(total_uj - prev->total_uj);
        double from = cumulative(e, prev->est);
        double prev_half = (double)(prev->hi - prev->lo) / 2 * power_at(e, prev->est) * k / 1e6;
        int agree = 0;
        for (int i = 0; i < 2; i++) {
            double at = (cumulative(e, c[i].est) - from) * k;
            double tol = prev_half +
                         (double)(c[i].hi - c[i].lo) / 2 * power_at(e, c[i].est) * k / 1e6 +
                         integral_error(e, prev->est, c[i].est, at) + 2 * e->resolution_uj;
            if (fabs(counted - at) <= tol) {
                agree++;
                pick = i;
            }
        }
        if (agree != 1)
            pick = -1;
    }
    if (pick >= 0) {
        *est = c[pick].est;
        *lo = c[pick].lo;
        *hi = c[pick].hi;
        return;
    }
    *lo = c[1].lo;
    *hi = c[0].hi;
    *est = *lo + (*hi - *lo) / 2;
}

void edge_counter_read(struct edge_track *e, int64_t start, int64_t end, uint64_t raw,
                       uint64_t total_uj)
{
    int changed = timing_observe(&e->counter, start, end, raw);
    if (!changed && e->cs_n)
        return;
    struct counter_step s;
    int64_t l, seen, h; /* the bracket, and when the read that saw the change began */
    timing_last_bracket(&e->counter, &l, &seen, &h);
    place_update(e, e->cs_n ? cs_at(e, e->cs_n - 1) : NULL, total_uj, l, seen, h, &s.est, &s.lo,
                 &s.hi);
    s.total_uj = total_uj;
    if (e->cs_n == EDGE_COUNTER_KEEP)
        e->cs_head = (e->cs_head + 1) % EDGE_COUNTER_KEEP;
    else
        e->cs_n++;
    e->cs[(e->cs_head + e->cs_n - 1) % EDGE_COUNTER_KEEP] = s;
    if (changed && e->cs_n >= 2)
        calibrate(e, cs_at(e, e->cs_n - 2), cs_at(e, e->cs_n - 1));
}

static void remember_jump(struct edge_track *e)
{
    int slot = (e->jump_head + e->jump_n) % EDGE_JUMP_KEEP;
    if (e->jump_n == EDGE_JUMP_KEEP)
        e->jump_head = (e->jump_head + 1) % EDGE_JUMP_KEEP;
    else
        e->jump_n++;
    e->jump_seq[slot] = e->pw_seq - 1;
    e->jumps++;
}

int64_t edge_power_seen_ns(const struct edge_track *e)
{
    return e->pw_n ? pw_at(e, e->pw_n - 1)->last_seen : 0;
}

void edge_power_read(struct edge_track *e, int64_t start, int64_t end, uint32_t mw)
{
    int changed = timing_observe(&e->power, start, end, mw);
    if (!e->first_read_ns)
        e->first_read_ns = start;
    struct power_step *last = e->pw_n ? pw_at(e, e->pw_n - 1) : NULL;
    if (last && (!changed || (end - last->hi < MERGE_NS && !big_change(e, last->mw, mw)))) {
        if (changed) { /* a nearby reading: average it in */
            last->mw = (float)(((double)last->mw * last->n + mw) / (last->n + 1));
            last->n++;
        }
        last->last_seen = end;
        maybe_refine(e, end);
        return;
    }
    struct power_step s = {0};
    int64_t est;
    timing_last_change(&e->power, &est, &s.lo, &s.hi);
    s.lo -= (int64_t)staleness_ns(e);
    s.last_seen = end;
    s.mw = (float)mw;
    s.n = 1;
    if (e->pw_n == EDGE_POWER_KEEP) {
        e->pw_head = (e->pw_head + 1) % EDGE_POWER_KEEP;
    } else {
        e->pw_n++;
    }
    *pw_at(e, e->pw_n - 1) = s;
    e->pw_seq++;
    place(e, e->pw_n - 1);
    if (is_jump(e, e->pw_n - 1))
        remember_jump(e);
    maybe_refine(e, end);
}

void edge_average_read(struct edge_track *e, int64_t start, int64_t end, uint32_t mw)
{
    timing_observe(&e->average, start, end, mw);
}

/* ---- estimates --------------------------------------------------------- */

/* Average power of the last counter step, mW; 0 when unknown. */
static double counter_rate_mw(const struct edge_track *e)
{
    if (e->cs_n < 2)
        return 0;
    const struct counter_step *a = cs_at(e, e->cs_n - 2), *b = cs_at(e, e->cs_n - 1);
    double dt = (double)(b->est - a->est);
    return dt > 0 ? (double)(b->total_uj - a->total_uj) / dt * 1e6 : 0;
}

/* The newest instant the power readings are known to reflect. */
static int64_t reflected_until(const struct edge_track *e)
{
    const struct power_step *s = pw_at(e, e->pw_n - 1);
    const struct timing *t = &e->power;
    if (t->state == JOULE_TIMING_PERIODIC) /* the refresh before the last read */
        return timing_update_before(t, s->last_seen);
    return s->last_seen - (int64_t)staleness_ns(e);
}

/* A jump between the last refresh the readings show and the edge at t
 * is invisible: its worst case (the largest recent jump over that
 * stretch), and whether it is likely enough to bound (jumps seen per
 * second times the stretch). */
static double unseen_jump_uj(const struct edge_track *e, int64_t t, int *likely)
{
    *likely = 0;
    if (!e->jump_n)
        return 0;
    int64_t gap = t - reflected_until(e);
    if (gap <= 0)
        return 0;
    uint64_t first_seq = e->pw_seq - (uint64_t)e->pw_n;
    int n = 0;
    double worst = 0;
    for (int k = e->jump_n - 1; k >= 0; k--) {
        uint64_t seq = e->jump_seq[(e->jump_head + k) % EDGE_JUMP_KEEP];
        if (seq <= first_seq)
            break;
        int j = (int)(seq - first_seq);
        const struct power_step *s = pw_at(e, j);
        if (t - s->last_seen > JUMP_MEMORY_NS)
            break;
        n++;
        worst = dmax(worst, fabs((double)s->mw - pw_at(e, j - 1)->mw));
    }
    double span = dmin((double)(t - e->first_read_ns), (double)JUMP_MEMORY_NS);
    *likely = span > 0 && n / span * (double)gap >= UNSEEN_LIKELY;
    return worst * scale(e) * (double)gap / 1e6;
}

/* corr, bound and lag of v from one power, mW, held since the update. */
static void rate_estimate(const struct edge_track *e, double mw, struct edge_value *v)
{
    int64_t u = v->u_est, t = v->t_ns;
    double energy = mw * (double)(u < t ? t - u : u - t) / 1e6;
    double bound = mw * (double)(v->u_hi - v->u_lo) / 2 / 1e6 + RATE_ONLY_ERROR * energy;
    v->placement_uj = bound;
    v->corr_uj = u <= t ? energy : -energy;
    v->bound_uj = bound + e->resolution_uj;
    v->lag_uj = energy + v->bound_uj;
    v->version = e->version;
    v->jumps = e->jumps;
}

/* corr, bound and lag of v from its t_ns and update instant. */
static void estimate(const struct edge_track *e, double fallback_mw, struct edge_value *v)
{
    int64_t u = v->u_est, t = v->t_ns;
    int64_t A = u < t ? u : t, B = u < t ? t : u;
    double sign = u <= t ? 1.0 : -1.0, half = (double)(v->u_hi - v->u_lo) / 2;
    double energy, bound;
    v->unseen_uj = 0;
    v->unseen_counted = 0;
    if (e->pw_n) {
        double k = scale(e);
        struct integral in;
        int ju = find_step(e, u), jt = find_step(e, t); /* one search each */
        double cu = cumulative_in(e, ju, u), ct = cumulative_in(e, jt, t);
        in.energy_uj = u <= t ? ct - cu : cu - ct;
        integrate_errors(e, A, B, &in);
        energy = in.energy_uj * k;
        double edge_mw = dmax(power_near(e, ju, v->u_lo), power_near(e, ju, v->u_hi)) * k;
        v->placement_uj = edge_mw * half / 1e6 + (in.jumps_uj + in.unknown_uj) * k;
        bound = v->placement_uj + integral_noise(e, abs(jt - ju) + 1) * energy;
        v->unseen_uj = unseen_jump_uj(e, t, &v->unseen_counted);
        if (v->unseen_counted)
            bound += v->unseen_uj;
    } else {
        double mw = counter_rate_mw(e);
        rate_estimate(e, mw > 0 ? mw : fallback_mw, v);
        return;
    }
    v->corr_uj = sign * energy;
    v->bound_uj = bound + e->resolution_uj;
    v->lag_uj = energy + v->bound_uj;
    v->version = e->version;
    v->jumps = e->jumps;
}

/* The edge's counter value and when the counter took it. */
static int place_edge(struct edge_track *e, int64_t t_e, struct edge_value *out)
{
    memset(out, 0, sizeof *out);
    out->t_ns = t_e;
    if (!e->cs_n)
        return 0;
    out->total_uj = cs_at(e, e->cs_n - 1)->total_uj;
    timing_last_bracket(&e->counter, &out->seen_lo, &out->seen_start, &out->seen_hi);
    /* The placement depends on the model (it moves only when the counter
     * changes), the counter steps and the power steps. */
    struct edge_place_memo key = {e->counter.changes, e->pw_seq, e->version, e->counter.state,
                                  e->cs_head, e->cs_n, 1, 0, 0, 0};
    struct edge_place_memo *m = &e->memo;
    if (m->valid && m->changes == key.changes && m->pw_seq == key.pw_seq &&
        m->version == key.version && m->state == key.state && m->cs_head == key.cs_head &&
        m->cs_n == key.cs_n) {
        out->u_est = m->u_est;
        out->u_lo = m->u_lo;
        out->u_hi = m->u_hi;
        return 1;
    }
    place_update(e, e->cs_n >= 2 ? cs_at(e, e->cs_n - 2) : NULL, out->total_uj, out->seen_lo,
                 out->seen_start, out->seen_hi, &out->u_est, &out->u_lo, &out->u_hi);
    key.u_est = out->u_est;
    key.u_lo = out->u_lo;
    key.u_hi = out->u_hi;
    *m = key;
    return 1;
}

void edge_estimate(struct edge_track *e, int64_t t_e, double fallback_mw,
                   struct edge_value *out)
{
    if (place_edge(e, t_e, out))
        estimate(e, fallback_mw, out);
}

void edge_estimate_provisional(struct edge_track *e, int64_t t_e, double fallback_mw,
                               struct edge_value *out)
{
    if (!place_edge(e, t_e, out))
        return;
    double mw = e->pw_n ? pw_at(e, e->pw_n - 1)->mw * scale(e) : counter_rate_mw(e);
    rate_estimate(e, mw > 0 ? mw : fallback_mw, out);
}

/* The counter step after the one an edge saw, if it is known well
 * enough to lean on; NULL otherwise. */
static const struct counter_step *next_step(const struct edge_track *e, uint64_t total_uj)
{
    for (int i = e->cs_n - 1; i > 0; i--)
        if (cs_at(e, i - 1)->total_uj <= total_uj) /* i is the first one above */
            return cs_at(e, i)->total_uj > total_uj ? cs_at(e, i) : NULL;
    return NULL;
}

/* The counter step before the one that holds total_uj, if still kept. */
static const struct counter_step *step_before(const struct edge_track *e, uint64_t total_uj)
{
    for (int i = e->cs_n - 1; i > 0; i--)
        if (cs_at(e, i)->total_uj == total_uj)
            return cs_at(e, i - 1);
    return NULL;
}

/* An earlier edge from the other side: the counter's next update N after
 * it is often known far better than the update before it (right after
 * open, or before the phase is learned), and E(t) = C(N) − ∫_t^N p̂. */
static void estimate_forward(const struct edge_track *e, struct edge_value *v)
{
    const struct counter_step *n = next_step(e, v->total_uj);
    if (!n || !e->pw_n || n->est < v->t_ns)
        return;
    double k = scale(e);
    struct integral in;
    integrate(e, v->t_ns, n->est, &in);
    double energy = in.energy_uj * k, half = (double)(n->hi - n->lo) / 2;
    int64_t lo = n->lo > v->t_ns ? n->lo : v->t_ns;
    double edge_mw = dmax(power_at(e, lo), power_at(e, n->hi)) * k;
    int steps = abs(find_step(e, n->est) - find_step(e, v->t_ns)) + 1;
    double bound = edge_mw * half / 1e6 + (in.jumps_uj + in.unknown_uj) * k +
                   integral_noise(e, steps) * energy + e->resolution_uj;
    if (bound < v->bound_uj) {
        double counted = (double)(n->total_uj - v->total_uj);
        v->corr_uj = counted - energy;
        v->bound_uj = bound;
        v->lag_uj = fabs(v->corr_uj) + bound;
        v->unseen_uj = 0;
        v->unseen_counted = 0;
    }
}

void edge_reestimate(const struct edge_track *e, struct edge_value *v)
{
    if (!e->cs_n)
        return;
    /* The update instant, placed again with what the timing knows now
     * (an edge right after open is made before the phase is learned),
     * checked against the energy since the step before as at the edge. */
    int64_t est, lo, hi;
    place_update(e, step_before(e, v->total_uj), v->total_uj, v->seen_lo, v->seen_start,
                 v->seen_hi, &est, &lo, &hi);
    /* Only a sharper placement of the same update: never another one
     * (the first placement was checked against the counted energy), and
     * inside the first one where that spans two updates. */
    int64_t half_period = (int64_t)(timing_period_ns(&e->counter) / 2);
    int same = v->u_hi - v->u_lo < half_period ? llabs(est - v->u_est) < half_period
                                               : est >= v->u_lo && est <= v->u_hi;
    if (hi - lo < v->u_hi - v->u_lo && same) {
        v->u_est = est;
        v->u_lo = lo;
        v->u_hi = hi;
    }
    /* Both edges of a window must see the same p̂, so the earlier one is
     * estimated again whenever the history still reaches back to it. */
    int64_t from = v->u_lo < v->t_ns ? v->u_lo : v->t_ns;
    if (e->pw_n && e->pw_seq > (uint64_t)e->pw_n && pw_at(e, 0)->start > from)
        return; /* the history no longer reaches back to the edge */
    if (!e->pw_n && !(counter_rate_mw(e) > 0))
        return; /* nothing better than the power it was estimated with */
    estimate(e, 0, v);
    /* From the other side only when placing U or a jump is what limits
     * the backward estimate (right after open, a jump near the edge). */
    if (v->placement_uj > 0.25 * v->bound_uj)
        estimate_forward(e, v);
}

void edge_between(const struct edge_track *e, int64_t a, int64_t b, struct edge_span *out)
{
    out->same_step = 1;
    out->uj = out->bound_uj = out->unseen_uj = 0;
    if (!e->pw_n || b <= a)
        return;
    double k = scale(e);
    struct integral in;
    int ja = find_step(e, a), jb = find_step(e, b);
    in.energy_uj = cumulative_in(e, jb, b) - cumulative_in(e, ja, a);
    integrate_errors(e, a, b, &in);
    int likely;
    out->unseen_uj = unseen_jump_uj(e, b, &likely);
    out->uj = in.energy_uj * k;
    out->bound_uj = (in.jumps_uj + in.unknown_uj) * k + integral_noise(e, jb - ja + 1) * out->uj +
                    (likely ? out->unseen_uj : 0);
}
