/* Learning a reading's update timing from stamped reads (timing.h).
 *
 * A read over [start, end] samples the source at some unknown instant
 * inside it. When read n shows a new value and read n-1 the old one, an
 * update happened in [start(n-1), end(n)]: a bracket. Update k happens at
 * phase + k·period, so each bracket is two linear constraints on the
 * pair (phase, period); together they cut out a convex polygon of every
 * (phase, period) the reads allow. The polygon's vertices give, for any
 * update, the range of instants it can have: the model is as sure as the
 * reads make it, no more. Brackets narrower than a third of the period are
 * kept (the last TIMING_KEEP); each new one clips the polygon, and every
 * REFIT_EVERY brackets it is rebuilt from the kept ones, so slow drift
 * leaves it. When no (phase, period) fits every bracket (the updates
 * jitter more than the reads' precision), a least-squares line with the
 * spread of its residuals takes its place. */
#include "core/timing.h"

#include <joule/joule.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BRACKETS 6         /* before a model is trusted */
#define CONSISTENT_SHARE 0.8   /* of brackets that must fit a jittery model */
#define CONTINUOUS_SHARE 0.9   /* of recent reads that changed */
#define REFIT_EVERY 16         /* brackets a periodic model absorbs between fits */
#define PERIOD_SLACK 0.02      /* the polygon starts at ±2 % of the rough period */
#define MAX_BOX_GROWTH 5       /* times it grows toward where the reads allow */
#define VERTEX_MERGE_NS 1.0    /* polygon vertices closer than this are one */
#define MAX_CLIP 192           /* vertices while clipping (2 per constraint) */

/* fmax/fmin without libm's NaN handling: nothing here is NaN. */
static double dmax(double a, double b) { return a > b ? a : b; }

/* The median (upper, for even n) of v[0..n), reordering v: Hoare's
 * selection, linear on average; n > 0. */
static double median_of(double *v, int n)
{
    int lo = 0, hi = n - 1, want = n / 2;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double x = v[i];
                v[i++] = v[j];
                v[j--] = x;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            break;
    }
    return v[want];
}
static double dmin(double a, double b) { return a < b ? a : b; }

void timing_init(struct timing *t, double nominal_ns)
{
    memset(t, 0, sizeof *t);
    t->nominal_ns = nominal_ns > 0 ? nominal_ns : 0;
    t->cur_lo = INT64_MIN;
    t->state = JOULE_TIMING_UNKNOWN;
}

double timing_period_ns(const struct timing *t)
{
    return t->state == JOULE_TIMING_PERIODIC ? t->period_ns : t->nominal_ns;
}

double timing_mean_gap_ns(const struct timing *t)
{
    return t->changes >= 2 ? (double)(t->last_change_ns - t->first_change_ns) /
                                 (double)(t->changes - 1)
                           : 0;
}

double timing_max_hold_ns(const struct timing *t, double fallback_ns)
{
    if (t->state == JOULE_TIMING_PERIODIC)
        return t->period_ns + 2 * t->delta_ns;
    return t->nominal_ns > 0 ? 1.5 * t->nominal_ns : fallback_ns;
}

static const struct timing_bracket *bracket(const struct timing *t, int i)
{
    return &t->br[(t->head + i) % TIMING_KEEP];
}

static double mid(const struct timing_bracket *b, int64_t origin)
{
    return (double)(b->lo - origin) + (double)(b->hi - b->lo) / 2.0;
}

/* ---- the model: a polygon of (phase, period) ---------------------------- */

/* The range of instants update k (counted from the model's origin) can
 * have, relative to the origin. */
static void update_range(const struct timing *t, double k, double *lo, double *hi)
{
    if (t->nvert) {
        double l = INFINITY, h = -INFINITY;
        for (int v = 0; v < t->nvert; v++) {
            double u = t->vert[v].phase + k * t->vert[v].period;
            l = dmin(l, u);
            h = dmax(h, u);
        }
        *lo = l;
        *hi = h;
    } else { /* a jittery line: its spread, and the period's error over k */
        double u = t->phase_ns + k * t->period_ns;
        double d = t->delta_ns + fabs(k) * t->period_err_ns;
        *lo = u - d;
        *hi = u + d;
    }
}

/* Keeps the part of polygon (ph, pe, *n) where s·(phase + k·period) >= s·c;
 * s is +1 or -1. */
static void clip(double *ph, double *pe, int *n, double k, double c, double s)
{
    double oph[MAX_CLIP], ope[MAX_CLIP];
    int m = 0, cnt = *n;
    for (int i = 0; i < cnt && m < MAX_CLIP - 1; i++) {
        int j = (i + 1) % cnt;
        double fi = s * (ph[i] + k * pe[i] - c), fj = s * (ph[j] + k * pe[j] - c);
        if (fi >= 0) {
            oph[m] = ph[i];
            ope[m++] = pe[i];
        }
        if ((fi >= 0) != (fj >= 0)) { /* the edge crosses the line */
            double a = fi / (fi - fj);
            oph[m] = ph[i] + a * (ph[j] - ph[i]);
            ope[m++] = pe[i] + a * (pe[j] - pe[i]);
        }
    }
    /* Brackets that sit alike in their periods make constraint lines
     * that meet in one point: merge the vertices they leave there (within
     * a nanosecond of phase), or the polygon outgrows TIMING_VERTS. */
    int kept = 0;
    for (int i = 0; i < m; i++) {
        const int last = kept - 1;
        if (kept && fabs(oph[i] - ph[last]) <= VERTEX_MERGE_NS &&
            fabs(ope[i] - pe[last]) * (fabs(k) + 1) <= VERTEX_MERGE_NS)
            continue;
        ph[kept] = oph[i];
        pe[kept++] = ope[i];
    }
    while (kept > 1 && fabs(ph[kept - 1] - ph[0]) <= VERTEX_MERGE_NS &&
           fabs(pe[kept - 1] - pe[0]) * (fabs(k) + 1) <= VERTEX_MERGE_NS)
        kept--;
    *n = kept;
}

/* Adopts polygon (ph, pe, n) as the model, or returns 0 when it is empty
 * or has more vertices than the model keeps. */
static int adopt(struct timing *t, const double *ph, const double *pe, int n)
{
    if (n < 1 || n > TIMING_VERTS)
        return 0;
    double plo = INFINITY, phi = -INFINITY;
    for (int v = 0; v < n; v++) {
        t->vert[v].phase = ph[v];
        t->vert[v].period = pe[v];
        plo = dmin(plo, pe[v]);
        phi = dmax(phi, pe[v]);
    }
    t->nvert = n;
    t->period_ns = (plo + phi) / 2;
    t->period_err_ns = (phi - plo) / 2;
    double lo, hi;
    update_range(t, 0, &lo, &hi);
    t->phase_ns = (lo + hi) / 2;
    t->delta_ns = (hi - lo) / 2;
    t->anchor_ns = t->origin_ns + (int64_t)llround(t->phase_ns);
    t->jitter_ns = 0;
    return 1;
}

/* ---- fitting -------------------------------------------------------------- */

/* A first period from the gaps between brackets: the shortest gap is at
 * most one period when reads are dense; each gap is then a whole number
 * of periods, and the median of gap / periods is robust to stragglers. */
static double rough_period(const struct timing *t, int64_t origin)
{
    int n = t->nbr;
    double gaps[TIMING_KEEP], shortest = INFINITY;
    for (int i = 1; i < n; i++) {
        gaps[i - 1] = mid(bracket(t, i), origin) - mid(bracket(t, i - 1), origin);
        if (gaps[i - 1] > 0 && gaps[i - 1] < shortest)
            shortest = gaps[i - 1];
    }
    if (!isfinite(shortest))
        return 0;
    double per[TIMING_KEEP];
    int m = 0;
    for (int i = 0; i < n - 1; i++) {
        double k = round(gaps[i] / shortest);
        if (k >= 1)
            per[m++] = gaps[i] / k;
    }
    return m ? median_of(per, m) : 0;
}

double timing_typical_bracket_ns(const struct timing *t)
{
    return t->typical_width_ns;
}

static double median_width(const struct timing *t)
{
    double w[TIMING_KEEP];
    int n = t->nbr;
    for (int i = 0; i < n; i++)
        w[i] = (double)(t->br[i].hi - t->br[i].lo); /* order does not matter */
    return n ? median_of(w, n) : 0;
}

/* Updates jitter more than the reads are precise: a least-squares line,
 * widened by the spread of its residuals, if most brackets still fit. */
static int fit_line(struct timing *t, const double *k, const double *m, int n, double p)
{
    double sk = 0, sm = 0, skk = 0, skm = 0, var = 0, w2 = 0;
    for (int i = 0; i < n; i++) {
        sk += k[i];
        sm += m[i];
    }
    double kbar = sk / n, mbar = sm / n;
    for (int i = 0; i < n; i++) {
        skk += (k[i] - kbar) * (k[i] - kbar);
        skm += (k[i] - kbar) * (m[i] - mbar);
    }
    if (skk > 0)
        p = skm / skk;
    double a = mbar - kbar * p;
    for (int i = 0; i < n; i++) {
        const struct timing_bracket *b = bracket(t, i);
        double res = m[i] - (a + k[i] * p);
        var += res * res;
        w2 += (double)(b->hi - b->lo) * (double)(b->hi - b->lo);
    }
    double jitter = sqrt(dmax(0.0, var / n - w2 / n / 12.0));
    if (jitter > p / 8)
        return 0; /* spread over the period: no period */
    double tol = dmax(3 * jitter, 20000.0), worst = 0;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const struct timing_bracket *b = bracket(t, i);
        double pred = a + k[i] * p;
        double blo = (double)(b->lo - t->origin_ns), bhi = (double)(b->hi - t->origin_ns);
        double out = pred < blo ? blo - pred : pred > bhi ? pred - bhi : 0;
        ok += out <= tol;
        worst = dmax(worst, out);
    }
    if (ok < CONSISTENT_SHARE * n)
        return 0;
    t->nvert = 0;
    t->period_ns = p;
    t->period_err_ns = skk > 0 ? 2 * sqrt(var / n / skk) : 0;
    t->phase_ns = a;
    t->delta_ns = worst + 2 * jitter;
    t->jitter_ns = jitter;
    t->anchor_ns = t->origin_ns + (int64_t)llround(a);
    return 1;
}

/* Every (phase, period) the brackets allow when numbered with the
 * period in the middle of [plo, phi] (k[i], 0 = newest), inside a box
 * around the newest bracket and that range: the polygon (ph, pe), its
 * vertex count returned. *touch gets 1 when it reaches the box's lowest
 * period, 2 its highest, 3 both: there the box bounds it, not the reads,
 * and the true period may lie beyond. */
static int clip_box(const struct timing *t, int64_t origin, double plo, double phi, double *k,
                    double *m, double *ph, double *pe, int *touch)
{
    int n = t->nbr;
    double p = (plo + phi) / 2, newest = mid(bracket(t, n - 1), origin);
    for (int i = 0; i < n; i++) {
        m[i] = mid(bracket(t, i), origin);
        k[i] = round((m[i] - newest) / p);
    }
    ph[0] = ph[3] = newest - p;
    ph[1] = ph[2] = newest + p;
    pe[0] = pe[1] = plo;
    pe[2] = pe[3] = phi;
    int nv = 4;
    for (int i = 0; i < n && nv > 0; i++) {
        const struct timing_bracket *b = bracket(t, i);
        clip(ph, pe, &nv, k[i], (double)(b->lo - origin), 1.0);
        clip(ph, pe, &nv, k[i], (double)(b->hi - origin), -1.0);
    }
    double eps = p * 1e-9;
    *touch = 0;
    for (int v = 0; v < nv; v++)
        *touch |= (pe[v] <= plo + eps ? 1 : 0) | (pe[v] >= phi - eps ? 2 : 0);
    return nv;
}

static void fit(struct timing *t)
{
    int n = t->nbr;
    if (n < MIN_BRACKETS) {
        t->state = JOULE_TIMING_LEARNING;
        return;
    }
    int64_t origin = bracket(t, n - 1)->lo; /* newest: keeps numbers small */
    double p = t->state == JOULE_TIMING_PERIODIC ? t->period_ns : rough_period(t, origin);
    if (!(p > 0)) {
        t->state = JOULE_TIMING_APERIODIC;
        return;
    }
    t->origin_ns = origin;
    /* The polygon, from a box around the rough (or the last) period. A
     * rough period from a few wide brackets can be off by more than the
     * box allows: a polygon that reaches the box's edge was cut by the
     * box, not by the reads, and need not hold the true period (a model
     * sure of a wrong period places updates where they are not). The
     * box grows that way, and the brackets are numbered again, until
     * the reads alone bound the polygon. */
    double k[TIMING_KEEP], m[TIMING_KEEP], ph[MAX_CLIP], pe[MAX_CLIP];
    double plo = p * (1 - PERIOD_SLACK), phi = p * (1 + PERIOD_SLACK);
    int touch = 0, nv = clip_box(t, origin, plo, phi, k, m, ph, pe, &touch);
    for (int grow = 0; grow < MAX_BOX_GROWTH && nv > 0 && (touch == 1 || touch == 2); grow++) {
        if (touch == 1)
            plo -= p * PERIOD_SLACK;
        else
            phi += p * PERIOD_SLACK;
        nv = clip_box(t, origin, plo, phi, k, m, ph, pe, &touch);
    }
    p = (plo + phi) / 2; /* the brackets' numbering */
    if (nv > 0 && touch) {
        /* The reads do not pin the period down yet. */
        t->state = n >= 2 * MIN_BRACKETS ? JOULE_TIMING_APERIODIC : JOULE_TIMING_LEARNING;
        return;
    }
    if (!adopt(t, ph, pe, nv)) {
        /* No (phase, period) fits every bracket: a jittery source, or a
         * few brackets numbered wrongly by a rough period (which a line
         * through them would hide). A line only from more of them. */
        if (n < 2 * MIN_BRACKETS) {
            t->state = JOULE_TIMING_LEARNING;
            return;
        }
        if (!fit_line(t, k, m, n, p)) {
            t->state = JOULE_TIMING_APERIODIC;
            return;
        }
    }
    /* Brackets as wide as the period place nothing (a value read more
     * slowly than it changes). */
    if (t->typical_width_ns > t->period_ns / 3) {
        t->state = JOULE_TIMING_APERIODIC;
        return;
    }
    /* A model this loose after many brackets is no period at all. */
    if (t->delta_ns < t->period_ns / 4)
        t->state = JOULE_TIMING_PERIODIC;
    else
        t->state = n >= 2 * MIN_BRACKETS ? JOULE_TIMING_APERIODIC : JOULE_TIMING_LEARNING;
}

/* The update index (from the model's origin) nearest to instant x. */
static double index_near(const struct timing *t, double x)
{
    return round((x - t->phase_ns) / t->period_ns);
}

/* A bracket the periodic model can absorb without a refit: it clips the
 * polygon. Returns 0 when the model cannot (line model, or the bracket
 * misses it). */
static int absorb(struct timing *t, int64_t lo, int64_t hi)
{
    if (!t->nvert)
        return 0;
    double l = (double)(lo - t->origin_ns), h = (double)(hi - t->origin_ns);
    double k = index_near(t, (l + h) / 2), rl, rh;
    /* Which update it brackets must be plain: one the model allows next
     * to it as well would make the clip a guess. */
    for (int d = -1; d <= 1; d += 2) {
        update_range(t, k + d, &rl, &rh);
        if (rh >= l && rl <= h)
            return 0;
    }
    double ph[MAX_CLIP], pe[MAX_CLIP];
    int nv = t->nvert;
    for (int v = 0; v < nv; v++) {
        ph[v] = t->vert[v].phase;
        pe[v] = t->vert[v].period;
    }
    clip(ph, pe, &nv, k, l, 1.0);
    clip(ph, pe, &nv, k, h, -1.0);
    return adopt(t, ph, pe, nv);
}

static void add_bracket(struct timing *t, int64_t lo, int64_t hi)
{
    double limit = timing_period_ns(t);
    if (limit > 0 && (double)(hi - lo) > limit / 3)
        return; /* too wide to place an update */
    if (t->nbr == TIMING_KEEP)
        t->head = (t->head + 1) % TIMING_KEEP;
    else
        t->nbr++;
    struct timing_bracket *b = &t->br[(t->head + t->nbr - 1) % TIMING_KEEP];
    b->lo = lo;
    b->hi = hi;
    /* The median width, now and then (it selects over every bracket),
     * and always before a fit, which relies on it. */
    int every = t->nbr < TIMING_KEEP ? 8 : 32;
    if (t->changes % every == 1 || !t->typical_width_ns)
        t->typical_width_ns = median_width(t);
    if (t->state == JOULE_TIMING_CONTINUOUS)
        return; /* no period to fit */
    t->since_fit++;
    if (t->state == JOULE_TIMING_PERIODIC && t->since_fit < REFIT_EVERY && absorb(t, lo, hi))
        return;
    if (t->state != JOULE_TIMING_PERIODIC && t->nbr > 2 * MIN_BRACKETS &&
        t->since_fit < REFIT_EVERY)
        return; /* no model yet: try again after a few more brackets */
    t->since_fit = 0;
    t->typical_width_ns = median_width(t);
    fit(t);
}

int timing_observe(struct timing *t, int64_t start, int64_t end, uint64_t value)
{
    if (end < start)
        end = start;
    int changed = t->have_read && value != t->value;
    if (changed) {
        t->cur_lo = t->read_start;
        t->cur_start = start;
        t->cur_hi = end;
        t->last_change_ns = t->cur_lo + (t->cur_hi - t->cur_lo) / 2;
        if (!t->changes)
            t->first_change_ns = t->last_change_ns;
        t->changes++;
        add_bracket(t, t->cur_lo, t->cur_hi);
    } else if (!t->have_read) {
        t->cur_lo = INT64_MIN;
        t->cur_start = start;
        t->cur_hi = end;
    }
    if (t->have_read) {
        /* A running count of the changes among the last TIMING_RECENT
         * reads (the bit shifted out leaves the count). */
        if (t->nrecent == TIMING_RECENT)
            t->recent_changes -= (int)(t->recent_bits >> (TIMING_RECENT - 1));
        else
            t->nrecent++;
        t->recent_bits = (t->recent_bits << 1) | (uint64_t)changed;
        t->recent_changes += changed;
        /* A value that changes at almost every read changes faster than
         * we read: no period can be learned, only "finer than the reads". */
        if (t->nrecent >= 16 && t->recent_changes >= CONTINUOUS_SHARE * t->nrecent)
            t->state = JOULE_TIMING_CONTINUOUS;
        else if (t->state == JOULE_TIMING_CONTINUOUS)
            t->state = JOULE_TIMING_LEARNING; /* the next brackets refit */
    }
    t->have_read = 1;
    t->reads++;
    t->read_start = start;
    t->read_end = end;
    t->value = value;
    return changed;
}

/* ---- questions ------------------------------------------------------------ */

/* The range of instants of update k (from the model's origin) inside
 * [l, h]: its middle (the estimate that errs least whatever the truth in
 * it) and its ends. Returns 0 when the model puts update k outside. */
static int update_in(const struct timing *t, double k, int64_t l, int64_t h,
                     struct timing_place *c)
{
    double rl, rh;
    update_range(t, k, &rl, &rh);
    int64_t ulo = t->origin_ns + (int64_t)floor(rl), uhi = t->origin_ns + (int64_t)ceil(rh);
    int64_t a = l > ulo ? l : ulo, b = h < uhi ? h : uhi;
    if (a > b)
        return 0;
    c->lo = a;
    c->hi = b;
    c->est = a + (b - a) / 2;
    return 1;
}

int timing_changes_in(const struct timing *t, int64_t l, int64_t s, int64_t h,
                      struct timing_place c[2])
{
    if (t->state == JOULE_TIMING_PERIODIC) {
        /* The latest update the model allows at or before h. */
        double rl, rh, x = (double)(h - t->origin_ns);
        double k = index_near(t, x) + 1;
        update_range(t, k, &rl, &rh);
        /* Nearest + 1 may be two updates after h (h late in a period):
         * step back until the update can be at or before h. */
        for (int back = 0; rl > x && back < 2; back++) {
            k -= 1;
            update_range(t, k, &rl, &rh);
        }
        if (update_in(t, k, l, h, &c[0])) {
            /* The one before when the model allows it in [l, h] too and
             * this one after the read began: a driver samples the value
             * somewhere inside its call, and a loose model allows an
             * update over a stretch longer than the read. */
            return c[0].hi > s && update_in(t, k - 1, l, h, &c[1]) ? 2 : 1;
        }
        /* The model misses the bracket: the bracket is the harder fact. */
    }
    /* No model: the bracket, cut to how long a value can last. */
    int64_t hold = (int64_t)timing_max_hold_ns(t, 1e9);
    if (l == INT64_MIN || (t->state != JOULE_TIMING_CONTINUOUS && h - l > hold))
        l = h - hold;
    c[0].lo = l;
    c[0].hi = h;
    c[0].est = l + (h - l) / 2;
    return 1;
}

void timing_change_in(const struct timing *t, int64_t l, int64_t h, int64_t *est, int64_t *lo,
                      int64_t *hi)
{
    struct timing_place c[2];
    timing_changes_in(t, l, h, h, c);
    *est = c[0].est;
    *lo = c[0].lo;
    *hi = c[0].hi;
}

void timing_last_change(const struct timing *t, int64_t *est, int64_t *lo, int64_t *hi)
{
    timing_change_in(t, t->cur_lo, t->cur_hi, est, lo, hi);
}

void timing_last_bracket(const struct timing *t, int64_t *lo, int64_t *start, int64_t *hi)
{
    *lo = t->cur_lo;
    *start = t->cur_start;
    *hi = t->cur_hi;
}

int timing_next_update(const struct timing *t, int64_t after, int64_t *at, double *delta)
{
    if (t->state != JOULE_TIMING_PERIODIC)
        return 0;
    double rl, rh, x = (double)(after - t->origin_ns);
    double k = index_near(t, x);
    update_range(t, k, &rl, &rh);
    if ((rl + rh) / 2 <= x) {
        k += 1;
        update_range(t, k, &rl, &rh);
    }
    *at = t->origin_ns + (int64_t)llround((rl + rh) / 2);
    *delta = (rh - rl) / 2;
    return 1;
}

int64_t timing_update_before(const struct timing *t, int64_t x_ns)
{
    double rl, rh, x = (double)(x_ns - t->origin_ns);
    double k = index_near(t, x);
    update_range(t, k, &rl, &rh);
    if (rh > x) {
        k -= 1;
        update_range(t, k, &rl, &rh);
    }
    return t->origin_ns + (int64_t)floor(rl);
}
