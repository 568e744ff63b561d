/* Benchmark of the pipeline frequency planner (`joule plan`).
 *
 * Generates realistic profiles: forward/backward time
 *   t(f) = t0 * (alpha * f_max / f + 1 - alpha),
 * power P(f) = P_static + P_dyn * (f / f_max)^3, energy = P * t, at 29 SM
 * frequencies, the last stage 20% heavier. Solves the 1F1B frontier at
 * S x M = 4x8, 8x32 and 16x64 with a 1 ms quantum (parse + options + DAG +
 * solve, discrete improvement included; writing output is not timed) and
 * prints wall time, peak memory and frontier size against the targets
 * (50 ms, 1 s, 10 s on one core), and what the discrete improvement saved
 * (from a second, untimed solve without it).
 *
 * Usage: planner [--repeat N] [--csv DIR]   (--csv also writes the profiles)
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "optimize/planner/planner.h"

#define NFREQ 29
#define F_MAX 1980
#define F_STEP 45

static const double T0_FWD = 0.020;  /* s, forward of one microbatch */
static const double T0_BWD = 0.040;  /* s, backward */
static const double ALPHA = 0.85;    /* compute-bound fraction */
static const double P_STATIC = 90.0; /* W */
static const double P_DYN = 310.0;   /* W at f_max */

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static int sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return 0;
        }
        size_t ncap = b->cap * 2 + (size_t)n + 256;
        char *nb = realloc(b->buf, ncap);
        if (!nb)
            return -1;
        b->buf = nb;
        b->cap = ncap;
    }
}

static char *make_profile(int S, size_t *len)
{
    sbuf b = {0};
    sb_printf(&b, "stage,instruction,frequency,time,energy\n");
    for (int s = 0; s < S; s++) {
        double heavy = s == S - 1 ? 1.2 : 1.0;
        for (int ins = 0; ins < 2; ins++) {
            double t0 = (ins ? T0_BWD : T0_FWD) * heavy;
            for (int k = 0; k < NFREQ; k++) {
                int f = F_MAX - k * F_STEP;
                double x = (double)f / F_MAX;
                double t = t0 * (ALPHA / x + 1 - ALPHA);
                double p = P_STATIC + P_DYN * x * x * x;
                if (sb_printf(&b, "%d,%s,%d,%.9f,%.9f\n", s,
                              ins ? "backward" : "forward", f, t, p * t)) {
                    free(b.buf);
                    return NULL;
                }
            }
        }
    }
    *len = b.len;
    return b.buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Least energy of a plan within the deadline (plans sorted by time,
 * energy falling); INFINITY if none. */
static double cheapest_within(const double *t, const double *e, int n,
                              double deadline)
{
    double best = INFINITY;
    for (int i = 0; i < n && t[i] <= deadline * (1 + 1e-9); i++)
        best = e[i];
    return best;
}

/* The most energy the discrete improvement saved at a quantized deadline:
 * the frontier fr (freed here first, so the two are never in memory
 * together) against the same solve without it. Not timed. */
static double improvement_saved(pl_problem *pb, pl_frontier *fr)
{
    int n = fr->n;
    double *t = malloc(2 * (size_t)n * sizeof *t), *e = t + n;
    if (!t)
        return NAN;
    for (int i = 0; i < n; i++) {
        t[i] = fr->pts[i].time_s;
        e[i] = fr->pts[i].energy_j;
    }
    pl_frontier_free(fr);
    pl_frontier off;
    long long budget = pb->cfg.improve_budget;
    pb->cfg.improve_budget = -1;
    int rc = pl_solve(pb, &off);
    pb->cfg.improve_budget = budget;
    double q = pb->cfg.quantum_s, saved = rc ? NAN : 0;
    for (int64_t k = (int64_t)(t[0] / q); !rc && (double)k * q <= t[n - 1] + q;
         k++) {
        double a = INFINITY; /* the cheapest plan within k * q without it */
        for (int i = 0; i < off.n; i++)
            if (off.pts[i].time_s <= (double)k * q * (1 + 1e-9))
                a = off.pts[i].energy_j;
        double b = cheapest_within(t, e, n, (double)k * q);
        if (isfinite(a) && (a - b) / a > saved)
            saved = (a - b) / a;
    }
    if (!rc)
        pl_frontier_free(&off);
    free(t);
    return saved;
}

int main(int argc, char **argv)
{
    int repeat = 1;
    const char *csvdir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
            csvdir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--repeat N] [--csv DIR]\n", argv[0]);
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    static const struct {
        int S, M;
        double target_s;
    } cases[] = {{4, 8, 0.050}, {8, 32, 1.0}, {16, 64, 10.0}};
    printf("joule plan benchmark: 1f1b, %d frequencies, 1 ms quantum, "
           "70 W blocking power, best of %d\n",
           NFREQ, repeat);
    printf("%-7s %6s %10s %8s %10s %10s %8s %8s %9s %9s %9s %9s %9s %9s\n",
           "SxM", "comps", "wall_ms", "target", "ratio", "peak_heap", "maxrss",
           "points", "steps", "maxflows", "bloat_%", "gap_%", "searched",
           "saved_%");
    int fails = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int S = cases[c].S, M = cases[c].M;
        size_t len = 0;
        char *csv = make_profile(S, &len);
        if (!csv) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        if (csvdir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/profile_%dx%d.csv", csvdir, S, M);
            FILE *f = fopen(path, "w");
            if (f) {
                fwrite(csv, 1, len, f);
                fclose(f);
            }
        }
        double best = 1e30;
        size_t peak = 0;
        int points = 0, steps = 0, iters = 0, searched = 0;
        double bloat = 0, gap = 0, saved = 0;
        long rss_before = maxrss_kb();
        for (int r = 0; r < repeat; r++) {
            pl_mem_reset_peak();
            size_t base = pl_mem_current();
            double t0 = now_s();
            pl_profile *prof = NULL;
            pl_problem pb;
            pl_frontier fr;
            pl_config cfg;
            pl_config_default(&cfg);
            cfg.stages = S;
            cfg.microbatches = M;
            int rc = pl_profile_parse(csv, len, "generated", &prof);
            if (!rc)
                rc = pl_problem_init(&pb, prof, &cfg);
            if (!rc) {
                rc = pl_solve(&pb, &fr);
                if (rc)
                    pl_problem_free(&pb);
            }
            double dt = now_s() - t0;
            if (rc) {
                fprintf(stderr, "%dx%d: %s\n", S, M, joule_last_error());
                pl_profile_free(prof);
                free(csv);
                return 1;
            }
            if (dt < best)
                best = dt;
            size_t pk = pl_mem_peak() - base;
            if (pk > peak)
                peak = pk;
            points = fr.n;
            steps = fr.steps;
            iters = fr.iterations;
            bloat = fr.n ? 100.0 * (fr.fastest_energy_j - fr.pts[0].energy_j) /
                               fr.fastest_energy_j
                         : 0;
            gap = 0;
            for (int i = 0; i < fr.n; i++) {
                double g = (fr.pts[i].model_energy_j - fr.pts[i].bound_j) /
                           fr.pts[i].bound_j;
                if (g > gap)
                    gap = g;
            }
            searched = fr.improve_searched;
            if (r == repeat - 1)
                saved = improvement_saved(&pb, &fr);
            else
                pl_frontier_free(&fr);
            pl_problem_free(&pb);
            pl_profile_free(prof);
        }
        long rss = maxrss_kb();
        char sm[32];
        snprintf(sm, sizeof sm, "%dx%d", S, M);
        printf("%-7s %6d %10.2f %7.0fms %9.3fx %8.2fMB %7.1fMB %8d %9d %9d "
               "%8.2f%% %8.3f%% %9d %8.3f%%\n",
               sm, 2 * S * M, best * 1e3, cases[c].target_s * 1e3,
               best / cases[c].target_s, peak / 1048576.0,
               (rss > rss_before ? rss : rss_before) / 1024.0, points, steps,
               iters, bloat, 100 * gap, searched, 100 * saved);
        if (best > cases[c].target_s)
            fails++;
        free(csv);
    }
    printf("ratio = wall time / target (< 1 meets the target); peak_heap = "
           "planner heap high-water mark; maxrss = process peak RSS so far; "
           "steps = quanta compressed; bloat_%% = energy saved at the minimum "
           "time vs. all-fastest; gap_%% = largest excess of a plan's "
           "quantized-model energy over the convex-hull lower bound; "
           "searched = plans the discrete improvement searched; saved_%% = "
           "the most energy it saves at a quantized deadline\n");
    return fails ? 1 : 0;
}
