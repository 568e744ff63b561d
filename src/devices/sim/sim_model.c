#include "devices/sim/sim_model.h"

#include <joule/joule.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- noise: deterministic, zero-sum over every aligned pair of ticks ----
 * Tick k carries noise sign(k)·A·r(k/2) with sign + for even k and − for
 * odd k, so any stretch of whole pairs has exactly the mean energy. A 1-s
 * average therefore differs from the mean by at most two ticks' noise
 * (2·A/1000 = 0.006 %), which is why DVFS aiming 0.5 % under a cap keeps
 * the 1-s average under it. */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double pair_noise(const struct sim_gpu *g, int64_t pair)
{
    uint64_t h = splitmix64(g->seed ^ splitmix64((uint64_t)pair));
    return ((double)(h >> 11) / (double)(1ull << 53)) * 2.0 - 1.0;
}

static double tick_noise(const struct sim_gpu *g, int64_t tick)
{
    double r = SIM_NOISE_FRACTION * pair_noise(g, tick >> 1);
    return (tick & 1) ? -r : r;
}

/* ∫0^t (1 + noise) dt in seconds, for the unit mean. */
static double unit_integral_s(const struct sim_gpu *g, int64_t t_ns)
{
    if (t_ns <= 0)
        return 0.0;
    int64_t k = t_ns / SIM_TICK_NS, frac = t_ns % SIM_TICK_NS;
    double noise_ns = 0.0;
    if (k & 1) /* the unpaired even tick k-1 */
        noise_ns += tick_noise(g, k - 1) * (double)SIM_TICK_NS;
    noise_ns += tick_noise(g, k) * (double)frac;
    return ((double)t_ns + noise_ns) / 1e9;
}

/* ---- derived state ---- */

static double relative_speed(double f, double f_max)
{
    if (f <= 0)
        return 0.0;
    return 1.0 / (SIM_COMPUTE_FRACTION * f_max / f + (1.0 - SIM_COMPUTE_FRACTION));
}

static void recompute(struct sim_gpu *g, struct sim_segment *s)
{
    const struct sim_preset *p = &g->p;
    double fmax = p->sm_max_mhz, f = fmax;
    if (g->lock_max_mhz > 0 && g->lock_max_mhz < f)
        f = g->lock_max_mhz;
    double full_w = p->tdp_w, tpe = 1.0;
    if (g->trace)
        sim_trace_at(g->trace, g->pl_w, &full_w, &tpe);
    double dyn = full_w - p->idle_w;
    if (dyn < 0)
        dyn = 0;
    double scale = (f / fmax) * (f / fmax) * (f / fmax);
    double mean = p->idle_w + g->load * dyn * scale;
    double cap = g->pl_w * SIM_CAP_MARGIN;
    g->capped = 0;
    if (!g->trace && g->load > 0 && mean > cap) {
        /* DVFS: dynamic power ∝ f³, so the clock that meets the cap is
         * f_max·∛((cap − idle)/(load·dyn)). */
        double ratio = (cap - p->idle_w) / (g->load * dyn);
        double fc = fmax * cbrt(ratio > 0 ? ratio : 0);
        if (fc < p->sm_min_mhz)
            fc = p->sm_min_mhz;
        if (fc < f)
            f = fc;
        scale = (f / fmax) * (f / fmax) * (f / fmax);
        mean = p->idle_w + g->load * dyn * scale;
        g->capped = 1;
    }
    if (g->trace && g->load > 0 && full_w >= 0.97 * g->pl_w)
        g->capped = 1;
    g->sm_mhz = g->load > 0 ? f : p->sm_min_mhz;
    g->speed = g->load * relative_speed(f, fmax) / tpe;
    s->mean_w = mean;
}

static struct sim_segment *current(struct sim_gpu *g) { return &g->seg[g->cur]; }

/* The retained segment in force at t (relative ns); *t is clamped to the
 * oldest one kept. */
static const struct sim_segment *segment_at(const struct sim_gpu *g, int64_t *t)
{
    int idx = g->cur;
    for (int n = 0; n < g->nseg; n++) {
        const struct sim_segment *s = &g->seg[idx];
        if (*t >= s->start_ns || n == g->nseg - 1) {
            if (*t < s->start_ns) /* older than the history: clamp */
                *t = s->start_ns;
            return s;
        }
        idx = (idx + SIM_HISTORY - 1) % SIM_HISTORY;
    }
    return &g->seg[g->cur];
}

/* Energy at t (relative ns), looked up in the retained segments. */
static double energy_at(const struct sim_gpu *g, int64_t t)
{
    if (t <= 0) /* the GPU idled before the model started (energy < 0) */
        return g->mean_before_w * (double)t / 1e9;
    const struct sim_segment *s = segment_at(g, &t);
    return s->energy_j_at_start +
           s->mean_w * (unit_integral_s(g, t) - unit_integral_s(g, s->start_ns));
}

/* The last instant at or before t of phase + k * period. */
static int64_t last_update(int64_t t, int64_t phase, int64_t period)
{
    int64_t d = t - phase, k = d / period;
    if (d % period < 0)
        k--;
    return phase + k * period;
}

/* Seconds one level of the square wave lasts: seeded, in [min, max]. */
static double square_hold_s(const struct sim_gpu *g, uint64_t n)
{
    double u = (double)(splitmix64(g->seed * 31 + n + 0x5151) >> 11) / (double)(1ull << 53);
    return g->sq_min_s + u * (g->sq_max_s - g->sq_min_s);
}

static void new_segment(struct sim_gpu *g, int64_t at)
{
    struct sim_segment *old = current(g);
    if (at < old->start_ns)
        at = old->start_ns;
    double e = energy_at(g, at);
    g->work_at_seg_start += g->speed * (double)(at - old->start_ns) / 1e9;
    g->cur = (g->cur + 1) % SIM_HISTORY;
    if (g->nseg < SIM_HISTORY)
        g->nseg++;
    struct sim_segment *s = current(g);
    s->start_ns = at;
    s->energy_j_at_start = e;
    recompute(g, s);
}

static int64_t advance(struct sim_gpu *g, int64_t now_ns)
{
    int64_t rel = now_ns - g->t0_ns;
    if (rel < 0)
        rel = 0;
    while (g->square && g->sq_next_ns <= rel) {
        int64_t at = g->sq_next_ns;
        g->sq_level ^= 1;
        g->load = g->sq_load[g->sq_level];
        g->sq_next_ns += (int64_t)(square_hold_s(g, ++g->sq_count) * 1e9);
        new_segment(g, at);
    }
    while (g->next_schedule < g->schedule_n) {
        int64_t at = (int64_t)(g->schedule_t_s[g->next_schedule] * 1e9);
        if (at > rel)
            break;
        g->load = g->schedule_load[g->next_schedule++];
        new_segment(g, at);
    }
    return rel;
}

/* ---- public model ---- */

void sim_gpu_init(struct sim_gpu *g, const struct sim_preset *p,
                  const struct sim_trace *trace, uint64_t seed, int64_t now_ns)
{
    memset(g, 0, sizeof *g);
    g->p = *p;
    g->trace = trace;
    g->seed = seed;
    g->t0_ns = now_ns;
    g->pl_w = p->pl_default_w;
    g->nseg = 1;
    g->counter_period_ns = SIM_COUNTER_PERIOD_NS;
    recompute(g, current(g));
    g->mean_before_w = current(g)->mean_w;
}

void sim_gpu_set_counter_jitter(struct sim_gpu *g, int64_t jitter_ns)
{
    int64_t most = g->counter_period_ns / 2 - 1;
    g->counter_jitter_ns = jitter_ns < 0 ? 0 : jitter_ns > most ? most : jitter_ns;
}

void sim_gpu_set_timing(struct sim_gpu *g, int64_t counter_phase_ns, int64_t power_period_ns,
                        int64_t power_phase_ns)
{
    g->counter_phase_ns = counter_phase_ns;
    g->power_period_ns = power_period_ns > 0 ? power_period_ns : 0;
    g->power_phase_ns = power_phase_ns;
}

int64_t sim_seeded_phase_ns(uint64_t seed, int64_t period_ns)
{
    if (period_ns <= 0)
        return 0;
    return (int64_t)(splitmix64(seed ^ 0x9a5e) % (uint64_t)period_ns);
}

/* "square:LOW,HIGH,MIN_S,MAX_S"; a level is a load or watts ("170W"). */
static int parse_square(struct sim_gpu *g, const char *text, int *err_pos)
{
    const char *p = text + 7;
    double v[4];
    for (int i = 0; i < 4; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p) {
            *err_pos = (int)(p - text);
            return -1;
        }
        if (i < 2 && *end == 'W') { /* watts at the maximum clock */
            double dyn = g->p.tdp_w - g->p.idle_w;
            v[i] = dyn > 0 ? (v[i] - g->p.idle_w) / dyn : -1;
            end++;
        }
        int bad = i < 2 ? !(v[i] >= 0 && v[i] <= 1) : !(v[i] > 0 && v[i] <= 3600);
        if (bad || (i < 3 && *end != ',') || (i == 3 && *end)) {
            *err_pos = (int)(p - text);
            return -1;
        }
        p = end + (i < 3);
    }
    if (v[3] < v[2]) {
        *err_pos = (int)(p - text);
        return -1;
    }
    g->schedule_n = g->next_schedule = 0;
    g->square = 1;
    g->sq_load[0] = v[0];
    g->sq_load[1] = v[1];
    g->sq_min_s = v[2];
    g->sq_max_s = v[3];
    /* Start at a seeded point inside a seeded level. */
    g->sq_count = 0;
    g->sq_level = (int)(splitmix64(g->seed ^ 0x1e7e1) & 1);
    g->load = g->sq_load[g->sq_level];
    double u = (double)(splitmix64(g->seed ^ 0x57a27) >> 11) / (double)(1ull << 53);
    g->sq_next_ns = (int64_t)(u * square_hold_s(g, 0) * 1e9);
    new_segment(g, current(g)->start_ns);
    return 0;
}

int sim_gpu_set_schedule(struct sim_gpu *g, const char *text, int *err_pos)
{
    if (strncmp(text, "square:", 7) == 0)
        return parse_square(g, text, err_pos);
    const char *p = text;
    char *end;
    double v = strtod(p, &end);
    if (end != p && *end == '\0') { /* a constant load */
        if (!(v >= 0 && v <= 1)) {
            *err_pos = 0;
            return -1;
        }
        g->schedule_n = 0;
        g->next_schedule = 0;
        g->schedule_t_s[0] = 0;
        g->schedule_load[0] = v;
        g->schedule_n = 1;
        return 0;
    }
    int n = 0;
    double last_t = -1;
    while (*p) {
        double t = strtod(p, &end);
        if (end == p || *end != ':' || !(t >= 0 && t <= 1e9) || t < last_t ||
            n == SIM_SCHEDULE_MAX) {
            *err_pos = (int)(p - text);
            return -1;
        }
        p = end + 1;
        double load = strtod(p, &end);
        if (end == p || !(load >= 0 && load <= 1) || (*end && *end != ',')) {
            *err_pos = (int)(p - text);
            return -1;
        }
        g->schedule_t_s[n] = t;
        g->schedule_load[n++] = load;
        last_t = t;
        p = *end ? end + 1 : end;
    }
    if (n == 0) {
        *err_pos = 0;
        return -1;
    }
    g->schedule_n = n;
    g->next_schedule = 0;
    return 0;
}

void sim_gpu_set_load(struct sim_gpu *g, int64_t now_ns, double load)
{
    int64_t rel = advance(g, now_ns);
    g->load = load < 0 ? 0 : load > 1 ? 1 : load;
    g->next_schedule = g->schedule_n; /* an explicit load ends the schedule */
    g->square = 0;
    new_segment(g, rel);
}

void sim_gpu_set_power_limit(struct sim_gpu *g, int64_t now_ns, double w)
{
    int64_t rel = advance(g, now_ns);
    g->pl_w = w;
    new_segment(g, rel);
}

void sim_gpu_lock_clocks(struct sim_gpu *g, int64_t now_ns, int min_mhz,
                         int max_mhz)
{
    int64_t rel = advance(g, now_ns);
    g->lock_min_mhz = min_mhz;
    g->lock_max_mhz = max_mhz;
    new_segment(g, rel);
}

double sim_gpu_energy_j(struct sim_gpu *g, int64_t now_ns)
{
    return energy_at(g, advance(g, now_ns));
}

/* The last counter update at or before t: update k comes at
 * phase + k * period, moved by its own seeded jitter. */
static int64_t last_counter_update(const struct sim_gpu *g, int64_t t)
{
    int64_t base = last_update(t, g->counter_phase_ns, g->counter_period_ns);
    if (!g->counter_jitter_ns)
        return base;
    for (int back = -1; back <= 1; back++) { /* the latest of k+1, k, k-1 at or before t */
        int64_t b = base - (int64_t)back * g->counter_period_ns;
        uint64_t k = (uint64_t)((b - g->counter_phase_ns) / g->counter_period_ns);
        double u = (double)(splitmix64(g->seed * 131 + k + 0x7177) >> 11) / (double)(1ull << 53);
        int64_t at = b + (int64_t)((2 * u - 1) * (double)g->counter_jitter_ns);
        if (at <= t)
            return at;
    }
    return base - g->counter_period_ns;
}

uint64_t sim_gpu_counter_mj(struct sim_gpu *g, int64_t now_ns)
{
    int64_t rel = advance(g, now_ns);
    int64_t upd = last_counter_update(g, rel);
    return (uint64_t)floor((SIM_COUNTER_BASE_J + energy_at(g, upd)) * 1000.0);
}

double sim_gpu_instant_power_w(struct sim_gpu *g, int64_t now_ns)
{
    int64_t rel = advance(g, now_ns);
    if (g->power_period_ns > 0) { /* sample-and-hold at the last refresh */
        rel = last_update(rel, g->power_phase_ns, g->power_period_ns);
        if (rel < 0)
            rel = 0;
    }
    int64_t t = rel;
    const struct sim_segment *s = segment_at(g, &t);
    return s->mean_w * (1.0 + tick_noise(g, rel / SIM_TICK_NS));
}

double sim_gpu_average_power_w(struct sim_gpu *g, int64_t now_ns)
{
    /* Like the counter, the average is refreshed at each counter update. */
    int64_t rel = advance(g, now_ns);
    rel = last_update(rel, g->counter_phase_ns, g->counter_period_ns);
    int64_t w = rel < 1000000000LL ? rel : 1000000000LL;
    if (w < SIM_TICK_NS)
        return current(g)->mean_w;
    return (energy_at(g, rel) - energy_at(g, rel - w)) / ((double)w / 1e9);
}

double sim_gpu_memory_power_w(struct sim_gpu *g, int64_t now_ns)
{
    advance(g, now_ns);
    /* HBM draws a fixed share: 8 W idle plus 10 % of the dynamic part. */
    return 8.0 + 0.10 * (current(g)->mean_w - g->p.idle_w);
}

int sim_gpu_temperature_c(struct sim_gpu *g, int64_t now_ns)
{
    advance(g, now_ns);
    double span = g->p.tdp_w - g->p.idle_w;
    double frac = span > 0 ? (current(g)->mean_w - g->p.idle_w) / span : 0;
    return (int)lround(32.0 + 48.0 * (frac < 0 ? 0 : frac));
}

int sim_gpu_sm_clock_mhz(struct sim_gpu *g, int64_t now_ns)
{
    advance(g, now_ns);
    return (int)lround(g->sm_mhz);
}

uint64_t sim_gpu_throttle(struct sim_gpu *g, int64_t now_ns)
{
    advance(g, now_ns);
    uint64_t m = 0;
    if (g->load <= 0)
        m |= JOULE_THROTTLE_GPU_IDLE;
    if (g->capped)
        m |= JOULE_THROTTLE_SW_POWER_CAP;
    if (g->lock_max_mhz > 0 && g->lock_max_mhz < g->p.sm_max_mhz)
        m |= JOULE_THROTTLE_APP_CLOCKS;
    return m;
}

double sim_gpu_work(struct sim_gpu *g, int64_t now_ns)
{
    int64_t rel = advance(g, now_ns);
    return g->work_at_seg_start +
           g->speed * (double)(rel - current(g)->start_ns) / 1e9;
}
