/* Window fidelity: opens overlapping windows of random lengths at random
 * phases on a context whose devices know their exact energy (simulated
 * GPUs, the NVML double), and compares each result with the truth. Used
 * by tests/test_fidelity.c (asserts) and bench/fidelity.c (prints). */
#ifndef JOULE_TEST_FIDELITY_H
#define JOULE_TEST_FIDELITY_H

#include <stdint.h>

#include <joule/joule.h>

/* Exact energy of device i at monotonic time t_ns, joules. */
typedef int (*fid_truth_fn)(void *user, int device, int64_t t_ns, double *joules);

struct fid_options {
    double duration_s;   /* how long windows keep being opened */
    double open_every_s; /* mean gap between window opens */
    unsigned seed;
};

/* One device in one window. */
struct fid_record {
    int device;
    double begin_s; /* monotonic */
    double len_s, truth_j;
    double energy_j, bound_j;       /* joule's estimate and its bound */
    double plain_j, plain_bound_j;  /* the plain counter difference */
    int quality;
};

/* The three window-length buckets of issue 11: [0.12, 0.3), [0.3, 1),
 * [1, 2] s. */
#define FID_BUCKETS 3
extern const double fid_bucket_lo[FID_BUCKETS], fid_bucket_hi[FID_BUCKETS];

/* Runs the windows; *out (free it) gets one record per window and
 * counter device. Returns the record count or a negative code. */
int fid_run(joule_ctx *ctx, const struct fid_options *o, fid_truth_fn truth, void *user,
            struct fid_record **out);

struct fid_stats {
    int n;
    double median_pct, p95_pct; /* |error| / truth */
    double coverage;            /* share with |error| <= bound */
    int exact, exact_off;       /* EXACT labels, and those > 1 % off */
};

/* Statistics of the records in bucket b for joule's estimate (plain = 0)
 * or the plain counter difference (plain = 1). */
void fid_stats(const struct fid_record *r, int n, int bucket, int plain, struct fid_stats *out);

#endif
