/* The batch-size optimizer on the Zeus NSDI'23 traces: the 12 rows of
 * docs/optimize.md (6 workloads x V100 and A40), seed 1 and the mean of
 * seeds 1..SEEDS, with joule's pruning and with Zeus's (prune factor 0)
 * measured in the same run; and the time one simulation takes in-process.
 * Usage: bso_simulate [TRACE_DIR [SEEDS]] (default ../shared/data/zeus-nsdi23,
 * 100). Side by side with Zeus itself: bench/peers/bso.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <joule/bso.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

struct outcome {
    double last10, cumulative;
};

static int simulate(joule_bso_sim *s, uint64_t seed, double prune, struct outcome *o)
{
    if (joule_bso_sim_set_seed(s, seed) < 0 || joule_bso_sim_set_prune_factor(s, prune) < 0 ||
        joule_bso_sim_run(s) < 0)
        return -1;
    return joule_bso_sim_savings(s, NULL, NULL, &o->last10, NULL, NULL, &o->cumulative);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/data/zeus-nsdi23";
    int seeds = argc > 2 ? atoi(argv[2]) : 100;
    if (seeds < 1)
        seeds = 1;
    const char *gpus[] = {"v100", "a40"};
    const double prunes[] = {1.5, 0};
    double sum[2][4] = {{0}};
    double sim_s = 0;
    long sims = 0;
    printf("energy saved against the default, %% (last 10 recurrences / cumulative)\n");
    printf("%-5s %-13s %-5s %8s | %-15s %-15s | %-15s %-15s\n", "gpu", "workload", "batch",
           "oracle", "joule seed 1", "joule mean", "zeus-walk s1", "zeus-walk mean");
    for (int g = 0; g < 2; g++)
        for (int w = 0; joule_bso_sim_workload(w); w++) {
            joule_bso_sim *s = NULL;
            if (joule_bso_sim_create(dir, joule_bso_sim_workload(w), gpus[g], &s) < 0) {
                fprintf(stderr, "bso_simulate: %s\n", joule_last_error());
                return 1;
            }
            struct outcome first[2], mean[2] = {{0}};
            for (int p = 0; p < 2; p++)
                for (int k = 1; k <= seeds; k++) {
                    struct outcome o;
                    double t0 = now_s();
                    if (simulate(s, (uint64_t)k, prunes[p], &o) < 0) {
                        fprintf(stderr, "bso_simulate: %s\n", joule_last_error());
                        return 1;
                    }
                    sim_s += now_s() - t0;
                    sims++;
                    if (k == 1)
                        first[p] = o;
                    mean[p].last10 += o.last10 / seeds;
                    mean[p].cumulative += o.cumulative / seeds;
                }
            int bs, obs;
            double def_eta, or_eta;
            joule_bso_sim_point(s, "default", &bs, NULL, &def_eta, NULL);
            joule_bso_sim_point(s, "oracle", &obs, NULL, &or_eta, NULL);
            printf("%-5s %-13s %5d %7.1f%% | %5.1f / %5.1f   %5.1f / %5.1f   | %5.1f / %5.1f   "
                   "%5.1f / %5.1f\n",
                   gpus[g], joule_bso_sim_workload(w), bs, 100.0 * (1.0 - or_eta / def_eta),
                   first[0].last10, first[0].cumulative, mean[0].last10, mean[0].cumulative,
                   first[1].last10, first[1].cumulative, mean[1].last10, mean[1].cumulative);
            for (int p = 0; p < 2; p++) {
                sum[p][0] += first[p].last10 / 12;
                sum[p][1] += first[p].cumulative / 12;
                sum[p][2] += mean[p].last10 / 12;
                sum[p][3] += mean[p].cumulative / 12;
            }
            joule_bso_sim_destroy(s);
        }
    printf("%-34s | %5.1f / %5.1f   %5.1f / %5.1f   | %5.1f / %5.1f   %5.1f / %5.1f\n",
           "mean of the 12 rows", sum[0][0], sum[0][1], sum[0][2], sum[0][3], sum[1][0], sum[1][1],
           sum[1][2], sum[1][3]);
    printf("\n%d seeds; one simulation (one workload, all its recurrences) takes %.0f us "
           "in-process\n",
           seeds, 1e6 * sim_s / (double)sims);
    return 0;
}
