#include "optimize/bso/bso_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bso_rng_seed(struct bso_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t bso_rng_next(struct bso_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double bso_rng_uniform(struct bso_rng *r)
{
    return (double)(bso_rng_next(r) >> 11) * 0x1.0p-53;
}

uint32_t bso_rng_below(struct bso_rng *r, uint32_t n)
{
    /* Rejection keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = bso_rng_next(r);
    while (x >= limit);
    return (uint32_t)(x % n);
}

double bso_rng_normal(struct bso_rng *r)
{
    /* Box-Muller; 1 - u keeps the logarithm finite. */
    double u = 1.0 - bso_rng_uniform(r);
    double v = bso_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}
