/* Planner solver tests: brute force on tiny pipelines (the hull model, and
 * the reported frontier against every assignment of real options), the
 * discrete improvement, the 1-stage chain closed form, frontier invariants
 * with an independent simulator. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "optimize/planner/planner.h"

#define Q 0.001 /* quantum used by the generated profiles */

/* ---- helpers --------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static double rndu(void) { return rnd() / 2147483648.0; }

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 64;
        b->buf = realloc(b->buf, b->cap);
        assert_non_null(b->buf);
    }
}

/* Random tiny profile: per (stage, instruction) `nopt` options with distinct
 * quantized times drawn from 1..maxq and energies that fall with time (not
 * necessarily convexly). Times are exact multiples of Q. */
static char *tiny_profile(int S, int nopt_min, int nopt_max, int maxq,
                          int convex)
{
    sbuf b = {0};
    sb_printf(&b, "stage,instruction,frequency,time,energy\n");
    for (int s = 0; s < S; s++) {
        for (int ins = 0; ins < 2; ins++) {
            int n = nopt_min + (int)(rnd() % (unsigned)(nopt_max - nopt_min + 1));
            int used[64] = {0}, qs[16], k = 0;
            if (convex) { /* consecutive quanta, convex energies */
                int start = 1 + (int)(rnd() % (unsigned)(maxq - n + 1));
                for (int i = 0; i < n; i++)
                    qs[k++] = start + i;
            } else {
                while (k < n) {
                    int q = 1 + (int)(rnd() % (unsigned)maxq);
                    if (!used[q]) {
                        used[q] = 1;
                        qs[k++] = q;
                    }
                }
                for (int i = 0; i < n; i++) /* sort */
                    for (int j = i + 1; j < n; j++)
                        if (qs[j] < qs[i]) {
                            int t = qs[i];
                            qs[i] = qs[j];
                            qs[j] = t;
                        }
            }
            double e = 0.6 + rndu();
            double step = 0.25 + 0.2 * rndu();
            for (int i = 0; i < n; i++) {
                int freq = 2000 - 100 * i;
                sb_printf(&b, "%d,%s,%d,%.6f,%.9f\n", s,
                          ins ? "backward" : "forward", freq, qs[i] * Q, e);
                if (convex)
                    step *= 0.3 + 0.5 * rndu();
                else
                    step = 0.01 + 0.3 * rndu();
                e -= step * (i + 1 < n ? qs[i + 1] - qs[i] : 1) * 0.5;
                if (e < 0.01)
                    e = 0.01 + 0.001 * (n - i);
            }
        }
    }
    return b.buf;
}

static void setup_problem_q(const char *csv, int S, int M, int sched,
                            double pblock, double quantum, pl_problem *pb)
{
    pl_profile *prof = NULL;
    int rc = pl_profile_parse(csv, strlen(csv), "tiny.csv", &prof);
    if (rc)
        fail_msg("parse: %s", joule_last_error());
    pl_config cfg;
    pl_config_default(&cfg);
    cfg.stages = S;
    cfg.microbatches = M;
    cfg.schedule = sched;
    cfg.quantum_s = quantum;
    cfg.blocking_power_w = pblock;
    rc = pl_problem_init(pb, prof, &cfg);
    if (rc)
        fail_msg("init: %s", joule_last_error());
    pl_profile_free(prof);
}

static void setup_problem(const char *csv, int S, int M, int sched,
                          double pblock, pl_problem *pb)
{
    setup_problem_q(csv, S, M, sched, pblock, Q, pb);
}

/* Brute force over integer hull durations (model costs) or over the real
 * quantized options. best[T - base] = min over assignments with makespan
 * exactly T; callers take the prefix minimum. */
typedef struct {
    const pl_problem *pb;
    int mode; /* 0: hull durations, 1: quantized options */
    int N;
    int32_t *dur;
    int64_t *fin;
    double *best_e;   /* mode 1: min model energy part sum(e - P q d) */
    int64_t *best_c;  /* mode 0: min model cost */
    int maxT;
} bf_ctx;

static void bf_rec(bf_ctx *b, int k, int64_t cost, double ecost, int64_t mk)
{
    const pl_dag *d = &b->pb->dag;
    if (k == b->N) {
        if (b->mode == 0) {
            if (cost < b->best_c[mk])
                b->best_c[mk] = cost;
        } else {
            /* model energy: the plan is charged blocking power up to its
             * own iteration time */
            double e = ecost + b->pb->cfg.blocking_power_w * Q *
                                   b->pb->cfg.stages * (double)mk;
            if (e < b->best_e[mk])
                b->best_e[mk] = e;
        }
        return;
    }
    int c = d->topo[k];
    int64_t st = 0;
    for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++)
        if (b->fin[d->pred[e]] > st)
            st = b->fin[d->pred[e]];
    const pl_kind *kd = pl_kind_of(b->pb, c);
    double pq = b->pb->cfg.blocking_power_w * Q;
    if (b->mode == 0 && k == b->N - 1) { /* last one inline (speed) */
        for (int32_t x = kd->tmin; x <= kd->tmax; x++) {
            int64_t m = st + x > mk ? st + x : mk;
            int64_t cc = cost + kd->cost[x - kd->tmin];
            if (cc < b->best_c[m])
                b->best_c[m] = cc;
        }
    } else if (b->mode == 0) {
        for (int32_t x = kd->tmin; x <= kd->tmax; x++) {
            b->fin[c] = st + x;
            bf_rec(b, k + 1, cost + kd->cost[x - kd->tmin], ecost,
                   b->fin[c] > mk ? b->fin[c] : mk);
        }
    } else {
        for (int j = 0; j < kd->nq; j++) {
            const pl_option *o = &kd->opt[kd->qopt[j]];
            b->fin[c] = st + o->quanta;
            bf_rec(b, k + 1, cost, ecost + o->energy_j - pq * o->quanta,
                   b->fin[c] > mk ? b->fin[c] : mk);
        }
    }
}

static void brute(const pl_problem *pb, int mode, int64_t **best_c,
                  double **best_e, int *maxT)
{
    bf_ctx b = {.pb = pb, .mode = mode, .N = pb->dag.N};
    int mt = 0;
    for (int c = 0; c < b.N; c++)
        mt += pl_kind_of(pb, c)->tmax;
    b.maxT = mt;
    assert_true(mt > 0 && mt < 100000);
    size_t nt = (size_t)mt + 1;
    b.fin = calloc((size_t)b.N, sizeof(int64_t));
    b.best_c = malloc(nt * sizeof(int64_t));
    b.best_e = malloc(nt * sizeof(double));
    assert_non_null(b.fin);
    assert_non_null(b.best_c);
    assert_non_null(b.best_e);
    for (int t = 0; t <= mt; t++) {
        b.best_c[t] = INT64_MAX;
        b.best_e[t] = INFINITY;
    }
    bf_rec(&b, 0, 0, 0, 0);
    /* prefix minimum: makespan <= T */
    for (int t = 1; t <= mt; t++) {
        if (b.best_c[t - 1] < b.best_c[t])
            b.best_c[t] = b.best_c[t - 1];
        if (b.best_e[t - 1] < b.best_e[t])
            b.best_e[t] = b.best_e[t - 1];
    }
    free(b.fin);
    *best_c = b.best_c;
    *best_e = b.best_e;
    *maxT = mt;
}

/* ---- brute force ------------------------------------------------------------- */

static void check_brute(int S, int M, int sched, int nmin, int nmax, int maxq,
                        int convex, uint64_t seed)
{
    rng_state = seed;
    char *csv = tiny_profile(S, nmin, nmax, maxq, convex);
    double pblock = (seed % 3 == 0) ? 0.0 : 70.0 + 40.0 * rndu();
    pl_problem pb;
    setup_problem(csv, S, M, sched, pblock, &pb);
    pl_frontier f;
    int rc = pl_solve(&pb, &f);
    if (rc)
        fail_msg("solve: %s", joule_last_error());
    assert_int_equal(f.cold_starts, 0); /* the carried flow stays feasible */

    int64_t *bc;
    double *be, *be2;
    int maxT;
    brute(&pb, 0, &bc, &be, &maxT);
    free(be);
    int64_t *bc2;
    brute(&pb, 1, &bc2, &be2, &maxT);
    free(bc2);

    /* the hull model: equal at every quantized time */
    int64_t first = -1;
    for (int t = 0; t <= maxT; t++)
        if (bc[t] != INT64_MAX) {
            first = t;
            break;
        }
    assert_int_equal(first, f.hull_tmin);
    for (int64_t t = f.hull_tmin; t <= f.hull_tmax; t++) {
        if (bc[t] != f.hull_cost[t - f.hull_tmin])
            fail_msg("seed %llu S%d M%d %s T=%lld: hull solver %lld, brute "
                     "force %lld",
                     (unsigned long long)seed, S, M, pl_schedule_name(sched),
                     (long long)t, (long long)f.hull_cost[t - f.hull_tmin],
                     (long long)bc[t]);
    }
    /* beyond the slowest schedule nothing changes */
    assert_true(bc[maxT] == f.hull_cost[f.hull_tmax - f.hull_tmin]);

    /* discrete options: hull bound <= discrete optimum <= rounded plan */
    double hull_e = INFINITY;
    for (int64_t t = f.hull_tmin; t <= f.hull_tmax; t++) {
        /* lower bound for plans with iteration time <= t: the minimum of
         * the hull energy over times <= t */
        double he = (f.hull_cost[t - f.hull_tmin] + pb.lambda_nj * t) * 1e-9;
        if (he < hull_e)
            hull_e = he;
        double disc_e = be2[t];
        double round_e = f.round_energy_j[t - f.hull_tmin];
        assert_true(f.round_quanta[t - f.hull_tmin] <= t);
        if (!(hull_e <= disc_e + 1e-6))
            fail_msg("T=%lld hull %.9f > discrete %.9f", (long long)t, hull_e,
                     disc_e);
        if (getenv("PL_TEST_VERBOSE") && t <= f.hull_tstar)
            fprintf(stderr, "gap %.6f %.6f\n", (round_e - disc_e) / disc_e,
                    (disc_e - hull_e) / disc_e);
        if (!(disc_e <= round_e + 1e-6))
            fail_msg("T=%lld discrete %.9f > rounded %.9f", (long long)t,
                     disc_e, round_e);
        if (convex && t <= f.hull_tstar) {
            /* every hull duration is a real option: exact up to T* */
            if (fabs(disc_e - round_e) > 1e-6 || fabs(hull_e - disc_e) > 1e-6)
                fail_msg("convex T=%lld hull %.9f discrete %.9f rounded %.9f",
                         (long long)t, hull_e, disc_e, round_e);
        }
    }
    free(bc);
    free(be2);
    pl_frontier_free(&f);
    pl_problem_free(&pb);
    free(csv);
}

static void test_brute_2x2(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        check_brute(2, 2, PL_SCHED_1F1B, 3, 4, 6, 0, seed);
        check_brute(2, 2, PL_SCHED_GPIPE, 3, 4, 6, 0, seed + 1000);
    }
}

static void test_brute_3x2(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        check_brute(3, 2, PL_SCHED_1F1B, 3, 3, 4, 0, seed + 2000);
        check_brute(3, 2, PL_SCHED_GPIPE, 3, 3, 4, 0, seed + 3000);
    }
    check_brute(3, 2, PL_SCHED_1F1B, 4, 4, 4, 0, 4242);
}

static void test_brute_convex_exact(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        check_brute(2, 2, PL_SCHED_1F1B, 3, 4, 6, 1, seed + 5000);
        check_brute(3, 2, PL_SCHED_1F1B, 3, 3, 4, 1, seed + 6000);
    }
}

/* ---- real options: the frontier against the brute-force envelope -------- */

/* (time, energy) of a plan with the profile's times. */
typedef struct {
    double t, e;
} te_pair;

/* Every assignment of real (Pareto) options, timed with the profile's times
 * and charged E = sum e + P_block * (S * T - sum t), summed in the same
 * order as the planner's evaluation. */
typedef struct {
    const pl_problem *pb;
    double *fin;
    te_pair *all;
    size_t n;
} rb_ctx;

static void rb_rec(rb_ctx *b, int k, double sum_t, double sum_e, double T)
{
    const pl_dag *d = &b->pb->dag;
    if (k == d->N) {
        double P = b->pb->cfg.blocking_power_w;
        b->all[b->n].t = T;
        b->all[b->n].e = sum_e + P * (b->pb->cfg.stages * T - sum_t);
        b->n++;
        return;
    }
    int c = d->topo[k];
    double st = 0;
    for (int e = d->pred_start[c]; e < d->pred_start[c + 1]; e++)
        st = fmax(st, b->fin[d->pred[e]]);
    const pl_kind *kd = pl_kind_of(b->pb, c);
    for (int j = 0; j < kd->nopt; j++) {
        const pl_option *o = &kd->opt[j];
        b->fin[c] = st + o->time_s;
        rb_rec(b, k + 1, sum_t + o->time_s, sum_e + o->energy_j,
               fmax(T, b->fin[c]));
    }
}

static int te_cmp(const void *a, const void *b)
{
    const te_pair *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

/* The real-option Pareto set, time ascending and energy strictly
 * descending; returns its size. *out is malloc'd. */
static int brute_envelope(const pl_problem *pb, te_pair **out)
{
    size_t count = 1;
    for (int c = 0; c < pb->dag.N; c++)
        count *= (size_t)pl_kind_of(pb, c)->nopt;
    assert_true(count <= 4000000);
    rb_ctx b = {.pb = pb};
    b.fin = calloc((size_t)pb->dag.N, sizeof(double));
    b.all = malloc(count * sizeof *b.all);
    assert_true(b.fin && b.all);
    rb_rec(&b, 0, 0, 0, 0);
    assert_true(b.n == count);
    qsort(b.all, count, sizeof *b.all, te_cmp);
    int n = 0;
    for (size_t i = 0; i < count; i++)
        if (n == 0 || b.all[i].e < b.all[n - 1].e)
            b.all[n++] = b.all[i];
    free(b.fin);
    *out = b.all;
    return n;
}

/* The relative slack on deadlines, for sums of times like 0.001 + 0.002;
 * the planner's quantized deadlines use the same. */
#define DEADLINE_SLACK 1e-9

/* Least energy of a brute-force plan within the deadline; INFINITY if
 * none. */
static double env_cheapest(const te_pair *env, int n, double deadline)
{
    double best = INFINITY;
    for (int i = 0; i < n && env[i].t <= deadline * (1 + DEADLINE_SLACK); i++)
        best = env[i].e;
    return best;
}

/* Least energy of a frontier plan within the deadline; INFINITY if none. */
static double frontier_cheapest(const pl_frontier *f, double deadline)
{
    double best = INFINITY;
    for (int i = 0; i < f->n; i++)
        if (f->pts[i].time_s <= deadline * (1 + DEADLINE_SLACK))
            best = fmin(best, f->pts[i].energy_j);
    return best;
}

/* Largest relative excess of the frontier's energy over the brute-force
 * envelope at every quantized deadline k * quantum, from the minimum time
 * to one quantum past the least-energy plan; *worst_k is where. */
static double real_gap(const pl_problem *pb, const pl_frontier *f,
                       const te_pair *env, int n, long *worst_k)
{
    double q = pb->cfg.quantum_s;
    long k0 = (long)floor(env[0].t / q), k1 = (long)ceil(env[n - 1].t / q) + 1;
    double gap = 0;
    *worst_k = -1;
    for (long k = k0; k <= k1; k++) {
        double D = (double)k * q;
        double want = env_cheapest(env, n, D);
        double got = frontier_cheapest(f, D);
        if (isinf(want)) {
            assert_true(isinf(got));
            continue;
        }
        if (!(got >= want * (1 - 1e-12)))
            fail_msg("deadline %.9g s: frontier %.12g J is below the brute "
                     "force %.12g J", D, got, want);
        double g = (got - want) / want;
        if (g > gap) {
            gap = g;
            *worst_k = k;
        }
    }
    return gap;
}

/* Solves and compares with the real-option brute force: the frontier must
 * be the envelope at every quantized deadline, within tol. */
static void check_real(const char *what, const char *csv, int S, int M,
                       int sched, double pblock, double quantum, double tol)
{
    pl_problem pb;
    setup_problem_q(csv, S, M, sched, pblock, quantum, &pb);
    pl_frontier f;
    if (pl_solve(&pb, &f))
        fail_msg("solve: %s", joule_last_error());
    te_pair *env;
    int n = brute_envelope(&pb, &env);
    long worst_k;
    double gap = real_gap(&pb, &f, env, n, &worst_k);
    if (getenv("PL_TEST_VERBOSE"))
        fprintf(stderr, "%s: %d frontier points, %d true; worst gap %.4f%% "
                "at %.4g s; least energy %.6g J (true %.6g J); searched %d "
                "plans, %lld neighbours (%lld computations)%s\n",
                what, f.n, n, 100 * gap, worst_k * quantum,
                f.pts[f.n - 1].energy_j, env[n - 1].e, f.improve_searched,
                f.improve_evals, f.improve_evals * pb.dag.N,
                f.improve_cut ? ", cut by the budget" : "");
    if (gap > tol)
        fail_msg("%s: frontier %.4f%% above the brute-force envelope at "
                 "deadline %.6g s (tolerance %.2g%%)",
                 what, 100 * gap, worst_k * quantum, 100 * tol);
    /* both ends: the all-fastest critical path, and the least energy */
    assert_true(fabs(f.pts[0].time_s - env[0].t) <= 1e-12 * env[0].t);
    assert_true(fabs(f.pts[f.n - 1].energy_j - env[n - 1].e) <=
                tol * env[n - 1].e);
    /* the result does not hang on the budget: the search finished */
    assert_int_equal(f.improve_cut, 0);
    free(env);
    pl_frontier_free(&f);
    pl_problem_free(&pb);
}

/* The benchmark's profile (bench/planner_speed.c: t(f), P(f), the last stage 20%
 * heavier) at nfreq frequencies from 1980 to 720 MHz. */
static char *bench_profile(int S, int nfreq)
{
    sbuf b = {0};
    sb_printf(&b, "stage,instruction,frequency,time,energy\n");
    for (int s = 0; s < S; s++) {
        double heavy = s == S - 1 ? 1.2 : 1.0;
        for (int ins = 0; ins < 2; ins++) {
            double t0 = (ins ? 0.040 : 0.020) * heavy;
            for (int k = 0; k < nfreq; k++) {
                int fq = 1980 - k * (1260 / (nfreq - 1));
                double x = fq / 1980.0;
                double t = t0 * (0.85 / x + 0.15);
                double p = 90 + 310 * x * x * x;
                sb_printf(&b, "%d,%s,%d,%.9f,%.9f\n", s,
                          ins ? "backward" : "forward", fq, t, p * t);
            }
        }
    }
    return b.buf;
}

/* Three convex options per computation, times whole quanta of 1 ms. */
static char *convex3_profile(int S)
{
    sbuf b = {0};
    sb_printf(&b, "stage,instruction,frequency,time,energy\n");
    for (int s = 0; s < S; s++) {
        for (int ins = 0; ins < 2; ins++) {
            int t = (ins ? 30 : 15) + (int)(rnd() % 8);
            double e = (ins ? 6.0 : 3.0) * (0.9 + 0.2 * rndu());
            double drop = e * (0.08 + 0.06 * rndu());
            for (int i = 0; i < 3; i++) {
                sb_printf(&b, "%d,%s,%d,%.6f,%.9f\n", s,
                          ins ? "backward" : "forward", 1980 - 400 * i,
                          t * 0.001, e);
                t += 2 + (int)(rnd() % 6) + 3 * i;
                e -= drop;
                drop *= 0.3 + 0.4 * rndu();
            }
        }
    }
    return b.buf;
}

/* Exact up to the rounding of sums (docs/planner.md, "What is exact"). */
#define REAL_TOL 1e-9

/* 2 stages x 3 microbatches, 3 convex options each, 1 ms quantum: the kind
 * of profile where the rounded hull plans alone were up to 1.4% above the
 * optimum, and the least energy up to 1.2% above. */
static void test_real_profile_a(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        rng_state = seed * 104729;
        char *csv = convex3_profile(2);
        char what[64];
        snprintf(what, sizeof what, "convex3 2x3 seed %llu",
                 (unsigned long long)seed);
        check_real(what, csv, 2, 3, PL_SCHED_1F1B, 70, 0.001, REAL_TOL);
        free(csv);
    }
}

/* The benchmark's formula with a few far-apart frequencies: the rounded
 * hull plans alone were up to 2.7% above the optimum (4.3% with GPipe). */
static void test_real_profile_b(void **state)
{
    (void)state;
    char *csv = bench_profile(2, 5);
    check_real("bench 5 freqs 2x2 0.1 ms", csv, 2, 2, PL_SCHED_1F1B, 70,
               0.0001, REAL_TOL);
    check_real("bench 5 freqs 2x2 1 ms", csv, 2, 2, PL_SCHED_1F1B, 70, 0.001,
               REAL_TOL);
    check_real("bench 5 freqs 2x2 gpipe", csv, 2, 2, PL_SCHED_GPIPE, 70,
               0.0001, REAL_TOL);
    free(csv);
    csv = bench_profile(3, 4);
    check_real("bench 4 freqs 3x2 0.1 ms", csv, 3, 2, PL_SCHED_1F1B, 70,
               0.0001, REAL_TOL);
    free(csv);
}

/* Random non-convex 3-4-option profiles (up to 7.2% before). */
static void test_real_tiny_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        rng_state = seed;
        char *csv = tiny_profile(2, 3, 4, 6, 0);
        double pblock = (seed % 3 == 0) ? 0.0 : 70.0 + 40.0 * rndu();
        char what[64];
        snprintf(what, sizeof what, "tiny 2x2 seed %llu",
                 (unsigned long long)seed);
        check_real(what, csv, 2, 2, seed % 2 ? PL_SCHED_1F1B : PL_SCHED_GPIPE,
                   pblock, Q, REAL_TOL);
        free(csv);
    }
    for (uint64_t seed = 1; seed <= 6; seed++) {
        rng_state = seed + 2000;
        char *csv = tiny_profile(3, 3, 3, 4, 0);
        char what[64];
        snprintf(what, sizeof what, "tiny 3x2 seed %llu",
                 (unsigned long long)seed);
        check_real(what, csv, 3, 2, PL_SCHED_1F1B, 70, Q, REAL_TOL);
        free(csv);
    }
}

/* The improvement only ever lowers the energy at a deadline, whatever its
 * budget, and keeps the minimum time. */
static void check_improve_monotone(int S, int M, int nfreq, long long budget)
{
    char *csv = bench_profile(S, nfreq);
    pl_problem pb;
    setup_problem_q(csv, S, M, PL_SCHED_1F1B, 70, 0.001, &pb);
    free(csv);
    pl_frontier off, on;
    pb.cfg.improve_budget = -1;
    if (pl_solve(&pb, &off))
        fail_msg("solve: %s", joule_last_error());
    assert_int_equal(off.improve_searched, 0);
    pb.cfg.improve_budget = budget;
    if (pl_solve(&pb, &on))
        fail_msg("solve: %s", joule_last_error());
    assert_true(on.improve_searched > 0);
    assert_true(fabs(on.pts[0].time_s - off.pts[0].time_s) <=
                1e-12 * off.pts[0].time_s);
    assert_true(on.pts[0].energy_j <= off.pts[0].energy_j);
    double q = pb.cfg.quantum_s, saved = 0;
    double last = fmax(on.pts[on.n - 1].time_s, off.pts[off.n - 1].time_s);
    for (long k = (long)floor(off.pts[0].time_s / q); k * q <= last + q; k++) {
        double a = frontier_cheapest(&off, k * q);
        double b = frontier_cheapest(&on, k * q);
        assert_true(isinf(a) == isinf(b));
        if (isinf(a))
            continue;
        if (!(b <= a * (1 + 1e-12)))
            fail_msg("%dx%d budget %lld: deadline %g s: %.12g J with the "
                     "improvement, %.12g J without",
                     S, M, budget, k * q, b, a);
        saved = fmax(saved, (a - b) / a);
    }
    if (getenv("PL_TEST_VERBOSE"))
        fprintf(stderr, "%dx%d, %d frequencies, budget %lld: %d plans "
                "searched%s; at most %.3f%% less energy at a deadline\n",
                S, M, nfreq, budget, on.improve_searched,
                on.improve_cut ? " (cut)" : "", 100 * saved);
    assert_true(saved > 0);
    pl_frontier_free(&off);
    pl_frontier_free(&on);
    pl_problem_free(&pb);
}

static void test_improve_monotone(void **state)
{
    (void)state;
    check_improve_monotone(3, 4, 8, 0);      /* default budget */
    check_improve_monotone(4, 8, 29, 0);     /* cut by the budget */
    check_improve_monotone(4, 8, 29, 20000); /* cut early */
}

/* ---- chain: 1 stage ------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_chain_closed_form(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        rng_state = seed * 7919;
        int M = 2 + (int)(seed % 4);
        /* wide option ranges: 6-8 options over 5..40 quanta */
        sbuf b = {0};
        sb_printf(&b, "stage,instruction,frequency,time,energy\n");
        for (int ins = 0; ins < 2; ins++) {
            int n = 6 + (int)(rnd() % 3);
            double t = (5 + rnd() % 5) * Q, e = 3 + rndu();
            for (int i = 0; i < n; i++) {
                sb_printf(&b, "0,%s,%d,%.6f,%.9f\n", ins ? "backward" : "forward",
                          1980 - 60 * i, t, e);
                t += (1 + rnd() % 5) * Q + 0.0003 * rndu();
                e -= 0.02 + 0.3 * rndu();
            }
        }
        pl_problem pb;
        setup_problem(b.buf, 1, M, seed % 2 ? PL_SCHED_1F1B : PL_SCHED_GPIPE,
                      70.0, &pb);
        free(b.buf);
        pl_frontier f;
        if (pl_solve(&pb, &f))
            fail_msg("solve: %s", joule_last_error());
        assert_int_equal(f.cold_starts, 0);
        /* the DAG is a chain: T = sum of durations, and the cheapest way to
         * compress by j quanta takes the j smallest unit slopes */
        int64_t tmin = 0, tmax = 0, c0 = 0;
        size_t ns = 0;
        int64_t *sl = malloc(sizeof(int64_t) * 4096);
        assert_non_null(sl);
        for (int c = 0; c < pb.dag.N; c++) {
            const pl_kind *kd = pl_kind_of(&pb, c);
            tmin += kd->tmin;
            tmax += kd->tmax;
            c0 += kd->cost[kd->tmax - kd->tmin];
            for (int x = 0; x < kd->tmax - kd->tmin; x++)
                sl[ns++] = kd->slope[x];
        }
        qsort(sl, ns, sizeof *sl, cmp_i64);
        assert_int_equal(f.hull_tmin, tmin);
        assert_int_equal(f.hull_tmax, tmax);
        int64_t cost = c0;
        for (int64_t t = tmax, j = 0; t >= tmin; t--, j++) {
            if (j > 0)
                cost += sl[j - 1];
            assert_int_equal(f.hull_cost[t - tmin], cost);
        }
        free(sl);
        /* real plans: the minimum time is the sum of the fastest times and
         * a chain has no slack, so no energy bloat either */
        double tfast = 0, efast = 0;
        for (int c = 0; c < pb.dag.N; c++) {
            tfast += pl_kind_of(&pb, c)->opt[0].time_s;
            efast += pl_kind_of(&pb, c)->opt[0].energy_j;
        }
        assert_true(fabs(f.pts[0].time_s - tfast) <= 1e-12 * tfast);
        assert_true(fabs(f.pts[0].energy_j - efast) <= 1e-9 * efast);
        assert_true(fabs(f.fastest_energy_j - efast) <= 1e-9 * efast);
        pl_frontier_free(&f);
        pl_problem_free(&pb);
    }
}

/* ---- invariants with an independent simulator ------------------------------- */

/* Realistic profile like bench/planner_speed.c (fewer frequencies). */
static char *real_profile(int S, int nfreq)
{
    sbuf b = {0};
    sb_printf(&b, "stage,instruction,frequency,time,energy\n");
    for (int s = 0; s < S; s++) {
        double heavy = s == S - 1 ? 1.2 : 1.0 + 0.03 * (s % 3);
        for (int ins = 0; ins < 2; ins++) {
            double t0 = (ins ? 0.012 : 0.006) * heavy;
            for (int k = 0; k < nfreq; k++) {
                int fq = 1980 - k * (1260 / (nfreq - 1));
                double x = fq / 1980.0;
                double t = t0 * (0.85 / x + 0.15);
                double p = 90 + 310 * x * x * x;
                sb_printf(&b, "%d,%s,%d,%.9f,%.9f\n", s,
                          ins ? "backward" : "forward", fq, t, p * t);
            }
        }
    }
    return b.buf;
}

typedef struct {
    int instr, mb, freq;
} tstep;

/* Independent schedule: the order of stage s (1f1b rules from the issue). */
static int t_order(int S, int M, int sched, int s, tstep *out)
{
    int k = 0;
    if (sched == PL_SCHED_GPIPE) {
        for (int m = 0; m < M; m++)
            out[k++] = (tstep){0, m, 0};
        for (int m = 0; m < M; m++)
            out[k++] = (tstep){1, m, 0};
        return k;
    }
    int nf = 0, nb = 0, warm = S - s < M ? S - s : M;
    for (; nf < warm; nf++)
        out[k++] = (tstep){0, nf, 0};
    while (nf < M) {
        out[k++] = (tstep){1, nb++, 0};
        out[k++] = (tstep){0, nf++, 0};
    }
    while (nb < M)
        out[k++] = (tstep){1, nb++, 0};
    return k;
}

/* Simulates a plan given as per-stage sequences with profile rows looked up
 * by (stage, instr, freq); returns time and energy. Event-driven: a stage
 * runs its next computation once its pipeline dependency is done. */
static void t_simulate(const pl_profile *prof, int S, int M, double pblock,
                       tstep **seq, double *T_out, double *E_out)
{
    double *fin = malloc(sizeof(double) * (size_t)S * 2 * (size_t)M);
    char *done = calloc((size_t)S * 2 * (size_t)M, 1);
    int *pos = calloc((size_t)S, sizeof(int));
    double *free_at = calloc((size_t)S, sizeof(double));
    assert_true(fin && done && pos && free_at);
#define ID(s, i, m) (((s) * 2 + (i)) * M + (m))
    int left = 2 * S * M;
    double sum_t = 0, sum_e = 0, T = 0;
    while (left > 0) {
        int progress = 0;
        for (int s = 0; s < S; s++) {
            if (pos[s] == 2 * M)
                continue;
            tstep st = seq[s][pos[s]];
            int dep = -1;
            if (st.instr == 0 && s > 0)
                dep = ID(s - 1, 0, st.mb);
            else if (st.instr == 1 && s < S - 1)
                dep = ID(s + 1, 1, st.mb);
            else if (st.instr == 1)
                dep = ID(s, 0, st.mb);
            if (dep >= 0 && !done[dep])
                continue;
            const pl_row *r = pl_profile_find(prof, s, st.instr, st.freq);
            assert_non_null(r);
            double start = free_at[s];
            if (dep >= 0 && fin[dep] > start)
                start = fin[dep];
            fin[ID(s, st.instr, st.mb)] = start + r->time_s;
            done[ID(s, st.instr, st.mb)] = 1;
            free_at[s] = start + r->time_s;
            if (free_at[s] > T)
                T = free_at[s];
            sum_t += r->time_s;
            sum_e += r->energy_j;
            pos[s]++;
            left--;
            progress = 1;
        }
        assert_true(progress); /* a deadlock would be a schedule bug */
    }
#undef ID
    *T_out = T;
    *E_out = sum_e + pblock * (S * T - sum_t);
    free(fin);
    free(done);
    free(pos);
    free(free_at);
}

static void check_invariants(int S, int M, int sched, int nfreq)
{
    char *csv = real_profile(S, nfreq);
    pl_profile *prof = NULL;
    assert_int_equal(pl_profile_parse(csv, strlen(csv), "real.csv", &prof), 0);
    free(csv);
    pl_config cfg;
    pl_config_default(&cfg);
    cfg.stages = S;
    cfg.microbatches = M;
    cfg.schedule = sched;
    pl_problem pb;
    if (pl_problem_init(&pb, prof, &cfg))
        fail_msg("%s", joule_last_error());
    pl_frontier f;
    if (pl_solve(&pb, &f))
        fail_msg("%s", joule_last_error());
    assert_int_equal(f.cold_starts, 0);
    assert_true(f.n >= 2);

    tstep **seq = malloc(sizeof(tstep *) * (size_t)S);
    for (int s = 0; s < S; s++) {
        seq[s] = malloc(sizeof(tstep) * 2 * (size_t)M);
        assert_int_equal(t_order(S, M, sched, s, seq[s]), 2 * M);
    }
    /* minimum time: every computation at its fastest time (real, and
     * quantized for the hull model) */
    double tf = 0, ef = 0;
    {
        for (int s = 0; s < S; s++)
            for (int k = 0; k < 2 * M; k++) {
                int best = -1;
                double bt = 1e30;
                for (int i = 0; i < prof->nrows; i++) {
                    const pl_row *r = &prof->rows[i];
                    if (r->stage == s && r->instr == seq[s][k].instr &&
                        r->time_s < bt) {
                        bt = r->time_s;
                        best = r->freq_mhz;
                    }
                }
                seq[s][k].freq = best;
            }
        t_simulate(prof, S, M, cfg.blocking_power_w, seq, &tf, &ef);
        pl_profile fake = *prof;
        pl_row *rows = malloc(sizeof(pl_row) * (size_t)prof->nrows);
        for (int i = 0; i < prof->nrows; i++) {
            rows[i] = prof->rows[i];
            rows[i].time_s = fmax(1, nearbyint(rows[i].time_s / Q));
        }
        fake.rows = rows;
        double tq, eq;
        t_simulate(&fake, S, M, 0, seq, &tq, &eq);
        assert_int_equal((int64_t)tq, f.hull_tmin);
        free(rows);
    }
    assert_true(fabs(f.fastest_time_s - tf) <= 1e-12 * tf);
    assert_true(fabs(f.fastest_energy_j - ef) <= 1e-9 * ef);
    assert_true(fabs(f.pts[0].time_s - tf) <= 1e-12 * tf);
    /* energy bloat removed (a single stage is a chain: no slack) */
    assert_true(S == 1 ? f.pts[0].energy_j <= ef * (1 + 1e-12)
                       : f.pts[0].energy_j < ef);

    /* hull model: cost never rises as time grows, energy convex */
    for (int64_t t = f.hull_tmin + 1; t <= f.hull_tmax; t++)
        assert_true(f.hull_cost[t - f.hull_tmin] <=
                    f.hull_cost[t - 1 - f.hull_tmin]);
    for (int64_t t = f.hull_tmin + 1; t < f.hull_tmax; t++) {
        int64_t a = f.hull_cost[t - 1 - f.hull_tmin],
                b = f.hull_cost[t - f.hull_tmin],
                c = f.hull_cost[t + 1 - f.hull_tmin];
        assert_true(a - b >= b - c);
    }
    /* frontier: time up, energy down, bound below the model energy */
    for (int i = 0; i < f.n; i++) {
        assert_int_equal(f.pts[i].id, i);
        assert_true(f.pts[i].bound_j <= f.pts[i].model_energy_j + 1e-6);
        if (i > 0) {
            assert_true(f.pts[i].time_s > f.pts[i - 1].time_s);
            assert_true(f.pts[i].energy_j < f.pts[i - 1].energy_j);
        }
    }
    /* every plan, written as JSON and read back, recomputes to the frontier
     * values with the independent simulator */
    char path[] = "/tmp/joule_test_planner_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pl_write_frontier_json(&pb, &f, path), 0);
    FILE *jf = fopen(path, "r");
    assert_non_null(jf);
    fseek(jf, 0, SEEK_END);
    long jl = ftell(jf);
    fseek(jf, 0, SEEK_SET);
    char *text = malloc((size_t)jl + 1);
    assert_int_equal(fread(text, 1, (size_t)jl, jf), (size_t)jl);
    text[jl] = 0;
    fclose(jf);
    unlink(path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    cJSON *arr = cJSON_GetObjectItem(root, "frontier");
    assert_int_equal(cJSON_GetArraySize(arr), f.n);
    int i = 0;
    cJSON *plan;
    cJSON_ArrayForEach(plan, arr)
    {
        cJSON *stages = cJSON_GetObjectItem(plan, "stages");
        assert_int_equal(cJSON_GetArraySize(stages), S);
        for (int s = 0; s < S; s++) {
            cJSON *row = cJSON_GetArrayItem(stages, s);
            assert_int_equal(cJSON_GetArraySize(row), 2 * M);
            tstep want[4096];
            t_order(S, M, sched, s, want);
            for (int k = 0; k < 2 * M; k++) {
                cJSON *e = cJSON_GetArrayItem(row, k);
                const char *ins =
                    cJSON_GetObjectItem(e, "instruction")->valuestring;
                int instr = !strcmp(ins, "backward");
                assert_int_equal(instr, want[k].instr);
                assert_int_equal(
                    (int)cJSON_GetObjectItem(e, "microbatch")->valuedouble,
                    want[k].mb);
                seq[s][k] = want[k];
                seq[s][k].freq =
                    (int)cJSON_GetObjectItem(e, "frequency_mhz")->valuedouble;
            }
        }
        double T, E;
        t_simulate(prof, S, M, cfg.blocking_power_w, seq, &T, &E);
        double jt = cJSON_GetObjectItem(plan, "time_s")->valuedouble;
        double je = cJSON_GetObjectItem(plan, "energy_j")->valuedouble;
        if (fabs(T - jt) > 1e-9 * T || fabs(E - je) > 1e-9 * E)
            fail_msg("plan %d: simulated %.12g s %.12g J, frontier says "
                     "%.12g s %.12g J", i, T, E, jt, je);
        assert_true(fabs(jt - f.pts[i].time_s) <= 1e-12 * jt);
        i++;
    }
    cJSON_Delete(root);

    /* --deadline: the cheapest plan within the deadline */
    for (int k = 0; k + 1 < f.n; k += f.n / 7 + 1) {
        double dl = 0.5 * (f.pts[k].time_s + f.pts[k + 1].time_s);
        assert_int_equal(pl_frontier_pick_deadline(&f, dl), k);
    }
    assert_int_equal(pl_frontier_pick_deadline(&f, f.pts[0].time_s * 0.99), -1);
    assert_int_equal(pl_frontier_pick_deadline(&f, 1e9), f.n - 1);

    for (int s = 0; s < S; s++)
        free(seq[s]);
    free(seq);
    pl_frontier_free(&f);
    pl_problem_free(&pb);
    pl_profile_free(prof);
}

static void test_invariants_1f1b(void **state)
{
    (void)state;
    check_invariants(4, 8, PL_SCHED_1F1B, 12);
    check_invariants(3, 2, PL_SCHED_1F1B, 6);  /* M < S */
    check_invariants(5, 3, PL_SCHED_1F1B, 9);
}

static void test_invariants_gpipe(void **state)
{
    (void)state;
    check_invariants(3, 5, PL_SCHED_GPIPE, 10);
    check_invariants(1, 4, PL_SCHED_GPIPE, 5);
}

/* ---- DAG --------------------------------------------------------------------- */

static void test_dag_1f1b_order(void **state)
{
    (void)state;
    pl_dag d;
    assert_int_equal(pl_dag_build(4, 6, PL_SCHED_1F1B, &d), 0);
    /* stage 0: F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5 */
    static const char *want0 = "F0F1F2F3B0F4B1F5B2B3B4B5";
    static const char *want3 = "F0B0F1B1F2B2F3B3F4B4F5B5";
    char got[64] = "";
    for (int k = 0; k < 12; k++) {
        int c = d.stage_seq[k];
        char t[8];
        snprintf(t, sizeof t, "%c%d", (c / 6) % 2 ? 'B' : 'F', c % 6);
        strcat(got, t);
    }
    assert_string_equal(got, want0);
    got[0] = 0;
    for (int k = 0; k < 12; k++) {
        int c = d.stage_seq[3 * 12 + k];
        char t[8];
        snprintf(t, sizeof t, "%c%d", (c / 6) % 2 ? 'B' : 'F', c % 6);
        strcat(got, t);
    }
    assert_string_equal(got, want3);
    /* F(1,2) depends on F(0,2) and on its stage predecessor F(1,1) */
    int c = pl_comp_id(6, 1, PL_FORWARD, 2);
    assert_int_equal(d.pred_start[c + 1] - d.pred_start[c], 2);
    /* B(3,0) depends only on F(3,0) (also its stage predecessor) */
    c = pl_comp_id(6, 3, PL_BACKWARD, 0);
    assert_int_equal(d.pred_start[c + 1] - d.pred_start[c], 1);
    assert_int_equal(d.pred[d.pred_start[c]], pl_comp_id(6, 3, PL_FORWARD, 0));
    pl_dag_free(&d);
    assert_int_equal(pl_dag_build(0, 3, PL_SCHED_1F1B, &d), JOULE_EINVAL);
}

/* ---- bad input ------------------------------------------------------------------ */

static void expect_error(const char *csv, int S, int code, const char *needle)
{
    pl_profile *prof = NULL;
    int rc = pl_profile_parse(csv, strlen(csv), "bad.csv", &prof);
    if (rc == 0) {
        pl_config cfg;
        pl_config_default(&cfg);
        cfg.stages = S;
        cfg.microbatches = 2;
        pl_problem pb;
        rc = pl_problem_init(&pb, prof, &cfg);
        if (rc == 0)
            pl_problem_free(&pb);
        pl_profile_free(prof);
    } else {
        assert_null(prof);
    }
    if (rc != code)
        fail_msg("expected %d, got %d (%s) for:\n%s", code, rc,
                 joule_last_error(), csv);
    if (!strstr(joule_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", joule_last_error(), needle);
    /* the library-wide message is the same */
    if (!strstr(joule_last_error(), needle))
        fail_msg("joule_last_error '%s' lacks '%s'", joule_last_error(),
                 needle);
}

#define H "stage,instruction,frequency,time,energy\n"
#define OK0 "0,forward,1980,0.010,3.0\n0,backward,1980,0.020,6.0\n"

static void test_bad_input(void **state)
{
    (void)state;
    expect_error(H OK0, 2, JOULE_EINVAL, "no forward rows for stage 1");
    expect_error(H "0,forward,1980,0.010,3.0\n", 1, JOULE_EINVAL,
                 "no backward rows for stage 0");
    expect_error(H OK0 "0,forward,1500,-0.01,2.0\n", 1, JOULE_EINVAL,
                 "line 4: time -0.01 s must be positive");
    expect_error(H OK0 "0,forward,1500,0,2.0\n", 1, JOULE_EINVAL,
                 "line 4: time 0 s must be positive");
    expect_error(H "0,forward,1980,abc,3.0\n", 1, JOULE_EINVAL,
                 "line 2: time 'abc' is not a number");
    expect_error(H OK0 "0,backward,1500,0.03,x\n", 1, JOULE_EINVAL,
                 "line 4: energy 'x' is not a number");
    expect_error(H "zero,forward,1980,0.01,3.0\n", 1, JOULE_EINVAL,
                 "line 2: stage 'zero'");
    expect_error(H OK0 "0,forward,17x0,0.01,3.0\n", 1, JOULE_EINVAL,
                 "line 4: frequency '17x0'");
    expect_error(H OK0 "0,forward,1500,0.012,2.0\n0,forward,1500,0.013,2.1\n",
                 1, JOULE_EINVAL,
                 "line 5: duplicate row for stage 0 forward at 1500 MHz "
                 "(first given at line 4)");
    expect_error(H OK0 "0,sideways,1500,0.012,2.0\n", 1, JOULE_EINVAL,
                 "line 4: instruction 'sideways'");
    expect_error(H OK0 "0,forward,1500,0.012\n", 1, JOULE_EINVAL,
                 "line 4: 4 fields, but the header has 5");
    expect_error("stage,instruction,frequency,time\n", 1, JOULE_EINVAL,
                 "line 1: header has no 'energy' column");
    expect_error("stage,instruction,frequency,time,energy,Time\n", 1, JOULE_EINVAL,
                 "line 1, column 6: column 'time' appears twice in the header "
                 "(first as column 4)");
    expect_error(H OK0 "# comment\n\n3,forward,1500,0.012,2.0\n", 2,
                 JOULE_EINVAL, "line 6: stage 3 is outside the pipeline");
    expect_error(H OK0 "0,forward,1500,0.012,-1\n", 1, JOULE_EINVAL,
                 "line 4: energy -1 J must not be negative");
    expect_error("", 1, JOULE_EINVAL, "empty profile");
    expect_error(H, 1, JOULE_EINVAL, "no rows");
    expect_error(H "0,forward,1980,nan,3.0\n", 1, JOULE_EINVAL,
                 "line 2: time 'nan' is not a number");

    /* A quantum (or blocking power) whose nanojoule sums overflow int64 is
     * refused: 1e20 s overflowed llround and printed garbage. */
    pl_profile *prof = NULL;
    const char *big = H "0,forward,1980,0.010,1e7\n0,backward,1980,0.020,1e7\n";
    assert_int_equal(pl_profile_parse(big, strlen(big), "big.csv", &prof), 0);
    pl_config cfg;
    pl_config_default(&cfg);
    cfg.stages = 1;
    cfg.microbatches = 2;
    cfg.quantum_s = 1e20;
    pl_problem pb;
    assert_int_equal(pl_problem_init(&pb, prof, &cfg), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "time quantum 1e+20 s at blocking power 70 W"));
    cfg.quantum_s = 1;
    cfg.blocking_power_w = 1e6;
    cfg.microbatches = 1 << 21;
    assert_int_equal(pl_problem_init(&pb, prof, &cfg), JOULE_ERANGE);
    assert_non_null(strstr(joule_last_error(), "the model's energies reach"));
    cfg.microbatches = 2; /* the same settings on a small pipeline fit */
    assert_int_equal(pl_problem_init(&pb, prof, &cfg), 0);
    pl_problem_free(&pb);
    pl_profile_free(prof);

    /* a frequency the target GPU does not support */
    const char *csv = H OK0 "0,forward,1745,0.012,2.0\n";
    assert_int_equal(pl_profile_parse(csv, strlen(csv), "p.csv", &prof), 0);
    int clocks[] = {1980, 1965, 1500};
    assert_int_equal(pl_profile_check_freqs(prof, clocks, 3, "gpu0"),
                     JOULE_EINVAL);
    assert_non_null(strstr(joule_last_error(), "p.csv, line 4: 1745 MHz is not "
                                            "a supported SM clock of gpu0"));
    int clocks2[] = {1980, 1745};
    assert_int_equal(pl_profile_check_freqs(prof, clocks2, 2, "gpu0"), 0);
    pl_profile_free(prof);

    /* quoting, CRLF, columns in another order, extra columns */
    const char *ok = "energy,time,\"instruction\",stage,frequency,note\r\n"
                     "3.0,0.010,forward,0,1980,x\r\n6.0,0.020,backward,0,1980,y\r\n";
    assert_int_equal(pl_profile_parse(ok, strlen(ok), "ok.csv", &prof), 0);
    assert_int_equal(prof->nrows, 2);
    assert_int_equal(prof->rows[1].instr, PL_BACKWARD);
    assert_true(prof->rows[1].energy_j == 6.0);
    pl_profile_free(prof);
}

/* ---- options ---------------------------------------------------------------------- */

static void test_options_pruning(void **state)
{
    (void)state;
    /* forward: 1500 is dominated (slower and more energy than 1700);
     * 1600 and 1650 share quantum 12 -> the lower energy (1600) wins;
     * backward: a non-convex middle option is off the hull */
    const char *csv = H
        "0,forward,1980,0.0101,3.0\n"
        "0,forward,1700,0.0110,2.5\n"
        "0,forward,1650,0.0118,2.45\n"
        "0,forward,1600,0.0121,2.4\n"
        "0,forward,1500,0.0130,2.6\n"
        "0,backward,1980,0.020,6.0\n"
        "0,backward,1500,0.022,5.9\n"
        "0,backward,1000,0.024,5.0\n";
    pl_profile *prof = NULL;
    assert_int_equal(pl_profile_parse(csv, strlen(csv), "o.csv", &prof), 0);
    pl_config cfg;
    pl_config_default(&cfg);
    cfg.stages = 1;
    cfg.microbatches = 1;
    cfg.blocking_power_w = 0;
    pl_problem pb;
    assert_int_equal(pl_problem_init(&pb, prof, &cfg), 0);
    const pl_kind *fw = &pb.kinds[0], *bw = &pb.kinds[1];
    assert_int_equal(fw->nopt, 4); /* 1500 dropped */
    assert_int_equal(fw->opt[0].freq_mhz, 1980);
    assert_int_equal(fw->opt[3].freq_mhz, 1600);
    assert_int_equal(fw->nq, 3);   /* quanta 10, 11, 12 */
    assert_int_equal(fw->opt[fw->qopt[2]].freq_mhz, 1600);
    assert_int_equal(fw->tmin, 10);
    assert_int_equal(fw->tmax, 12);
    assert_int_equal(bw->nopt, 3);
    assert_int_equal(bw->nhull, 2); /* 1500 MHz is above the hull */
    assert_int_equal(bw->tmin, 20);
    assert_int_equal(bw->tmax, 24);
    /* hull durations round down to the slowest real option */
    assert_int_equal(bw->opt[bw->down[22 - 20]].freq_mhz, 1500);
    assert_int_equal(bw->opt[bw->down[23 - 20]].freq_mhz, 1500);
    assert_int_equal(bw->opt[bw->down[24 - 20]].freq_mhz, 1000);
    /* slope: (6.0 - 5.0) J over 4 quanta = 0.25 J per quantum */
    assert_int_equal(bw->slope[0], 250000000);
    assert_int_equal(bw->cost[4], 5000000000LL);
    pl_problem_free(&pb);
    pl_profile_free(prof);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brute_2x2),
        cmocka_unit_test(test_brute_3x2),
        cmocka_unit_test(test_brute_convex_exact),
        cmocka_unit_test(test_real_profile_a),
        cmocka_unit_test(test_real_profile_b),
        cmocka_unit_test(test_real_tiny_random),
        cmocka_unit_test(test_improve_monotone),
        cmocka_unit_test(test_chain_closed_form),
        cmocka_unit_test(test_invariants_1f1b),
        cmocka_unit_test(test_invariants_gpipe),
        cmocka_unit_test(test_dag_1f1b_order),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_options_pruning),
    };
    if (getenv("PL_TEST_FILTER"))
        cmocka_set_test_filter(getenv("PL_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
