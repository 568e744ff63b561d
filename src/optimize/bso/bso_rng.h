/* A small seeded generator (xoshiro256**) for the batch-size optimizer:
 * the same seed gives the same choices on every machine, which keeps
 * simulations reproducible and a restarted optimizer on the same path. */
#ifndef JOULE_BSO_RNG_H
#define JOULE_BSO_RNG_H

#include <stdint.h>

struct bso_rng {
    uint64_t s[4];
};

void bso_rng_seed(struct bso_rng *r, uint64_t seed);
uint64_t bso_rng_next(struct bso_rng *r);
/* Uniform in [0, 1). */
double bso_rng_uniform(struct bso_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint32_t bso_rng_below(struct bso_rng *r, uint32_t n);
/* Standard normal. */
double bso_rng_normal(struct bso_rng *r);

#endif
