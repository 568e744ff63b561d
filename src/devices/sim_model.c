#include "devices/sim_model.h"

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

/* Energy at t (relative ns), looked up in the retained segments. */
static double energy_at(const struct sim_gpu *g, int64_t t)
{
    int idx = g->cur;
    for (int n = 0; n < g->nseg; n++) {
        const struct sim_segment *s = &g->seg[idx];
        if (t >= s->start_ns || n == g->nseg - 1) {
            if (t < s->start_ns) /* older than the history: clamp */
                t = s->start_ns;
            return s->energy_j_at_start +
                   s->mean_w * (unit_integral_s(g, t) -
                                unit_integral_s(g, s->start_ns));
        }
        idx = (idx + SIM_HISTORY - 1) % SIM_HISTORY;
    }
    return 0.0;
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
    recompute(g, current(g));
}

int sim_gpu_set_schedule(struct sim_gpu *g, const char *text, int *err_pos)
{
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

uint64_t sim_gpu_counter_mj(struct sim_gpu *g, int64_t now_ns)
{
    int64_t rel = advance(g, now_ns);
    int64_t upd = rel - rel % SIM_COUNTER_PERIOD_NS;
    return (uint64_t)floor(energy_at(g, upd) * 1000.0);
}

double sim_gpu_instant_power_w(struct sim_gpu *g, int64_t now_ns)
{
    int64_t rel = advance(g, now_ns);
    return current(g)->mean_w * (1.0 + tick_noise(g, rel / SIM_TICK_NS));
}

double sim_gpu_average_power_w(struct sim_gpu *g, int64_t now_ns)
{
    /* Like the counter, the average is refreshed every 100 ms. */
    int64_t rel = advance(g, now_ns);
    rel -= rel % SIM_COUNTER_PERIOD_NS;
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
