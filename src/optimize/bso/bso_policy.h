/* The batch-size choice across recurrences of one job (Zeus, NSDI'23):
 * pruning rounds walk down then up from the default batch size and keep
 * the sizes that converged; Gaussian Thompson sampling then chooses among
 * them, with each arm's reward precision learned from its own variance.
 * Pure and deterministic for a seed: the state is a function of the
 * ordered observations, so a stored trial log rebuilds it exactly. */
#ifndef JOULE_BSO_POLICY_H
#define JOULE_BSO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bso_policy_options {
    unsigned pruning_rounds;   /* Zeus: 2 */
    unsigned mab_explorations; /* observations an arm needs before sampling; Zeus: 2 */
    unsigned window;           /* keep only the latest N observations per arm; 0: all */
    uint64_t seed;
    /* A size that converges only at prune_factor x the round's best cost
     * ends its direction and leaves the set, like one that fails; 0: off
     * (Zeus). */
    double prune_factor;
};

void bso_policy_defaults(struct bso_policy_options *o);

enum bso_stage { BSO_STAGE_PRUNING, BSO_STAGE_SAMPLING };

struct bso_policy;

/* NULL when sizes is empty, has duplicates or non-positive values, or
 * default_bs is not one of them (reason in *why when why != NULL). */
struct bso_policy *bso_policy_create(const int *sizes, size_t n, int default_bs,
                                     const struct bso_policy_options *o, const char **why);
void bso_policy_free(struct bso_policy *p);

/* The batch size for the next run. While a pruning trial is out and
 * another run asks (a concurrent recurrence), it gets the best size
 * known so far and *exploring is false. */
int bso_policy_next(struct bso_policy *p, bool *exploring);

/* Learn from a finished run. -1 when bs is not one of the sizes. */
int bso_policy_observe(struct bso_policy *p, int bs, double cost, bool reached);

/* A trial of size bs will never report (its process died): a pruning walk
 * waiting for it offers bs again. */
void bso_policy_abandon(struct bso_policy *p, int bs);

enum bso_stage bso_policy_stage(const struct bso_policy *p);
/* The converged size of least cost seen so far (the default before any). */
int bso_policy_best(const struct bso_policy *p);
/* Sizes still in play (pruning survivors in the sampling stage). */
size_t bso_policy_arms(const struct bso_policy *p, const int **sizes);

#endif
