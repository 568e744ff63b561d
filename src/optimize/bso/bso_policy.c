#include "optimize/bso/bso_policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/bso/bso_rng.h"

struct observation {
    int bs;
    double cost;
    bool reached;
};

struct bso_policy {
    struct bso_policy_options opt;
    struct bso_rng rng;
    int *sizes; /* every size, ascending */
    size_t n;
    /* Pruning: the set of this round, the walk's place and what it awaits. */
    int *set;
    size_t nset;
    int *good;
    double *good_cost;
    size_t ngood;
    unsigned round;
    int dir; /* 0: down from the default, 1: up */
    size_t pos;
    int default_bs;
    int round_start; /* the default the round's walk started from */
    int expecting;   /* size of the pruning trial out, 0 if none */
    double round_best_cost;
    enum bso_stage stage;
    /* Every observation in order (the sampling stage reads windows of it). */
    struct observation *obs;
    size_t nobs, cap;
    int best_bs;
    double best_cost;
    uint64_t decisions; /* next() calls so far */
};

void bso_policy_defaults(struct bso_policy_options *o)
{
    memset(o, 0, sizeof(*o));
    o->pruning_rounds = 2;
    o->mab_explorations = 2;
    o->window = 0;
    o->seed = 1;
    o->prune_factor = 1.5;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static size_t index_of(const int *v, size_t n, int x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return i;
    return n;
}

struct bso_policy *bso_policy_create(const int *sizes, size_t n, int default_bs,
                                     const struct bso_policy_options *o, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!sizes || n == 0) {
        *why = "no batch sizes given";
        return NULL;
    }
    struct bso_policy *p = calloc(1, sizeof(*p));
    if (!p) {
        *why = "out of memory";
        return NULL;
    }
    if (o)
        p->opt = *o;
    else
        bso_policy_defaults(&p->opt);
    if (p->opt.pruning_rounds == 0)
        p->opt.pruning_rounds = 1;
    p->sizes = malloc(n * sizeof(int));
    p->set = malloc(n * sizeof(int));
    p->good = malloc(n * sizeof(int));
    p->good_cost = malloc(n * sizeof(double));
    if (!p->sizes || !p->set || !p->good || !p->good_cost) {
        *why = "out of memory";
        bso_policy_free(p);
        return NULL;
    }
    memcpy(p->sizes, sizes, n * sizeof(int));
    qsort(p->sizes, n, sizeof(int), cmp_int);
    for (size_t i = 0; i < n; i++) {
        if (p->sizes[i] <= 0 || (i > 0 && p->sizes[i] == p->sizes[i - 1])) {
            *why =
                p->sizes[i] <= 0 ? "batch sizes must be positive" : "batch sizes must be distinct";
            bso_policy_free(p);
            return NULL;
        }
    }
    if (index_of(p->sizes, n, default_bs) == n) {
        *why = "the default batch size is not one of the batch sizes";
        bso_policy_free(p);
        return NULL;
    }
    p->n = n;
    memcpy(p->set, p->sizes, n * sizeof(int));
    p->nset = n;
    p->default_bs = default_bs;
    p->round_start = default_bs;
    p->best_bs = default_bs;
    p->best_cost = INFINITY;
    p->round_best_cost = INFINITY;
    bso_rng_seed(&p->rng, p->opt.seed);
    return p;
}

void bso_policy_free(struct bso_policy *p)
{
    if (!p)
        return;
    free(p->sizes);
    free(p->set);
    free(p->good);
    free(p->good_cost);
    free(p->obs);
    free(p);
}

/* Close a pruning round: the converged sizes are the next set. A round in
 * which nothing converged keeps the default alone (the user's size is
 * assumed to work; the alternative is an optimizer with no arm at all). */
static void end_round(struct bso_policy *p)
{
    if (p->ngood == 0) {
        p->good[0] = p->default_bs;
        p->ngood = 1;
    }
    /* Sizes that converged only at many times the round's best cost leave
     * too: a second round would re-run them for nothing. */
    p->nset = 0;
    for (size_t i = 0; i < p->ngood; i++)
        if (!(p->opt.prune_factor > 0) ||
            p->good_cost[i] <= p->opt.prune_factor * p->round_best_cost ||
            p->good[i] == p->default_bs)
            p->set[p->nset++] = p->good[i];
    qsort(p->set, p->nset, sizeof(int), cmp_int);
    p->ngood = 0;
    p->round++;
    p->round_start = p->default_bs;
    p->dir = 0;
    p->pos = 0;
    p->round_best_cost = INFINITY;
}

/* The size the pruning walk tries next, 0 once every round is done. */
static int pruning_peek(struct bso_policy *p)
{
    while (p->round < p->opt.pruning_rounds) {
        size_t idx = index_of(p->set, p->nset, p->round_start);
        if (p->dir == 0) {
            if (p->pos <= idx)
                return p->set[idx - p->pos];
            p->dir = 1;
            p->pos = 0;
        } else {
            if (idx + 1 + p->pos < p->nset)
                return p->set[idx + 1 + p->pos];
            end_round(p);
        }
    }
    return 0;
}

static void pruning_result(struct bso_policy *p, int bs, double cost, bool reached)
{
    if (reached) {
        p->good_cost[p->ngood] = cost;
        p->good[p->ngood++] = bs;
        if (cost < p->round_best_cost) {
            p->round_best_cost = cost;
            p->default_bs = bs;
        }
        p->pos++;
        if (p->opt.prune_factor > 0 && cost > p->opt.prune_factor * p->round_best_cost) {
            /* Well past the optimum of a cost that rises away from it: the
             * sizes further on would cost more still. */
            if (p->dir == 0) {
                p->dir = 1;
                p->pos = 0;
            } else {
                end_round(p);
            }
        }
    } else if (p->dir == 0) {
        /* The first size that fails ends this direction. */
        p->dir = 1;
        p->pos = 0;
    } else {
        end_round(p);
    }
    if (pruning_peek(p) == 0)
        p->stage = BSO_STAGE_SAMPLING;
}

/* Mean and population variance of an arm's latest observations. */
static size_t arm_stats(const struct bso_policy *p, int bs, double *mean, double *var)
{
    size_t k = 0;
    double sum = 0, sum2 = 0;
    for (size_t i = p->nobs; i-- > 0;) {
        if (p->obs[i].bs != bs)
            continue;
        double c = p->obs[i].cost;
        sum += c;
        sum2 += c * c;
        if (++k == p->opt.window && p->opt.window)
            break;
    }
    if (k == 0)
        return 0;
    *mean = sum / (double)k;
    double v = sum2 / (double)k - *mean * *mean;
    *var = v > 0 ? v : 0;
    return k;
}

static int sample_arm(struct bso_policy *p)
{
    /* Arms short of observations first, in seeded random order so that
     * concurrent recurrences spread over them. */
    size_t order[p->nset];
    for (size_t i = 0; i < p->nset; i++)
        order[i] = i;
    for (size_t i = p->nset; i > 1; i--) {
        size_t j = bso_rng_below(&p->rng, (uint32_t)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < p->nset; i++) {
        double m, v;
        if (arm_stats(p, p->set[order[i]], &m, &v) < p->opt.mab_explorations)
            return p->set[order[i]];
    }
    /* Thompson sampling on the cost (the negated reward): flat prior, the
     * posterior of the mean is N(mean, var / k). */
    int pick = p->set[0];
    double pick_cost = INFINITY;
    for (size_t i = 0; i < p->nset; i++) {
        double m = 0, v = 0;
        size_t k = arm_stats(p, p->set[i], &m, &v);
        double draw = m + sqrt(v / (double)k) * bso_rng_normal(&p->rng);
        if (draw < pick_cost) {
            pick_cost = draw;
            pick = p->set[i];
        }
    }
    return pick;
}

int bso_policy_next(struct bso_policy *p, bool *exploring)
{
    /* Each decision draws from its own stream (seed, decision number), so
     * replaying the same calls in the same order rebuilds the same
     * choices, whatever came before. */
    bso_rng_seed(&p->rng, p->opt.seed ^ (0x9e3779b97f4a7c15ULL * ++p->decisions));
    bool dummy;
    if (!exploring)
        exploring = &dummy;
    *exploring = false;
    if (p->stage == BSO_STAGE_PRUNING) {
        if (p->expecting)
            return p->best_bs;
        int bs = pruning_peek(p);
        if (bs) {
            p->expecting = bs;
            *exploring = true;
            return bs;
        }
        p->stage = BSO_STAGE_SAMPLING;
    }
    *exploring = true;
    return sample_arm(p);
}

int bso_policy_observe(struct bso_policy *p, int bs, double cost, bool reached)
{
    if (index_of(p->sizes, p->n, bs) == p->n || !(cost >= 0) || !isfinite(cost))
        return -1;
    if (p->nobs == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        struct observation *o = realloc(p->obs, cap * sizeof(*o));
        if (!o)
            return -1;
        p->obs = o;
        p->cap = cap;
    }
    p->obs[p->nobs++] = (struct observation){bs, cost, reached};
    if (reached && cost < p->best_cost) {
        p->best_cost = cost;
        p->best_bs = bs;
    }
    /* A concurrent run's result teaches the arms but not the walk, which
     * awaits its own trial. */
    if (p->stage == BSO_STAGE_PRUNING && p->expecting == bs) {
        p->expecting = 0;
        pruning_result(p, bs, cost, reached);
    }
    return 0;
}

enum bso_stage bso_policy_stage(const struct bso_policy *p)
{
    return p->stage;
}

int bso_policy_best(const struct bso_policy *p)
{
    return p->best_bs;
}

size_t bso_policy_arms(const struct bso_policy *p, const int **sizes)
{
    *sizes = p->set;
    return p->nset;
}

void bso_policy_abandon(struct bso_policy *p, int bs)
{
    if (p->stage == BSO_STAGE_PRUNING && p->expecting == bs)
        p->expecting = 0;
}
