/* Run under mpirun by mpi_job.sh: every rank opens the same simulated
 * GPUs at a fixed load and measures one job window through libjoule_mpi.
 * argv[1] is how many (pretend) nodes to expect. Each rank checks that
 * the job result holds each GPU once per node, that its energy matches
 * the simulator's power model and this rank's own window, that every
 * rank got the same numbers, and that a window one rank lacks fails on
 * every rank with that rank named. Exit 0 when all hold. */
#include <joule/joule_mpi.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GPUS 2
#define LOAD 0.5
/* docs/sim.md: P = P_idle + L (P_tdp - P_idle); the h100 preset. */
#define H100_W (70 + LOAD * (700 - 70))

static int rank, failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "rank %d: FAILED %s: ", rank, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts))
        ;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int want_nodes = argc > 1 ? atoi(argv[1]) : 1;

    joule_options *o;
    joule_ctx *ctx;
    joule_options_create(&o);
    joule_options_set_devices(o, "sim:2:h100");
    if (joule_open(o, &ctx)) {
        fprintf(stderr, "rank %d: joule_open: %s\n", rank, joule_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    joule_options_destroy(o);
    for (int g = 0; g < GPUS; g++)
        joule_sim_set_load(ctx, g, LOAD);

    CHECK(joule_mpi_window_begin(ctx, "job", 0, MPI_COMM_WORLD) == 0, "%s", joule_last_error());
    joule_window_begin(ctx, "mine", 0);
    sleep_s(0.6 + 0.05 * rank); /* ranks end at different times */
    joule_result *job = NULL, *mine = NULL;
    joule_mpi_nodes *nodes = NULL;
    int rc = joule_mpi_window_end_nodes(ctx, "job", 0, MPI_COMM_WORLD, &job, &nodes);
    joule_window_end(ctx, "mine", 0, &mine);
    CHECK(rc == 0 && job && nodes, "%s", joule_last_error());
    if (rc == 0) {
        double e = joule_result_total_j(job, JOULE_KIND_GPU);
        double u = joule_result_total_uncertainty_j(job, JOULE_KIND_GPU);
        double t = joule_result_time_s(job);
        double truth = want_nodes * GPUS * H100_W * t;
        double own = joule_result_total_j(mine, JOULE_KIND_GPU);
        int ndev = joule_result_device_count(job);
        CHECK(ndev == want_nodes * GPUS, "%d devices in the job result", ndev);
        CHECK(joule_mpi_node_count(nodes) == want_nodes, "%d nodes", joule_mpi_node_count(nodes));
        /* The windows end after a barrier, within milliseconds of each
         * other: the job's energy is the model's within 3 %. */
        CHECK(fabs(e - truth) <= 0.03 * truth + u, "job %.2f J, model %.2f J (±%.2f)", e, truth, u);
        /* This rank's own window ends after the collective, later than
         * the job's (much later under the sanitizers): compare power. */
        double own_w = own / joule_result_time_s(mine), job_w = e / t;
        CHECK(fabs(job_w - want_nodes * own_w) <= 0.03 * job_w + u / t,
              "job %.2f W, this rank %.2f W x %d nodes", job_w, own_w, want_nodes);
        CHECK(t >= 0.6 + 0.05 * (size - 1) - 0.01, "job time %.3f s shorter than the longest rank", t);
        double sum_u = 0;
        for (int i = 0; i < ndev; i++)
            sum_u += joule_result_uncertainty_j(job, i);
        CHECK(u > 0 && isfinite(u) && fabs(u - sum_u) < 1e-9, "uncertainty %g, sum %g", u, sum_u);
        int ranks = 0;
        for (int k = 0; k < joule_mpi_node_count(nodes); k++) {
            const joule_result *nr = joule_mpi_node_result(nodes, k);
            ranks += joule_mpi_node_ranks(nodes, k);
            CHECK(joule_result_device_count(nr) == GPUS, "node %d: %d devices", k,
                  joule_result_device_count(nr));
            CHECK(joule_mpi_node_host(nodes, k)[0] != '\0', "node %d: no host", k);
        }
        CHECK(ranks == size, "ranks over nodes %d, world %d", ranks, size);
        CHECK(joule_mpi_device_node(nodes, ndev - 1) == want_nodes - 1, "last device on node %d",
              joule_mpi_device_node(nodes, ndev - 1));
        CHECK(strncmp(joule_result_device_label(job, 0), "n0.gpu", 6) == 0, "label %s",
              joule_result_device_label(job, 0));
        /* Every rank combined the same records the same way. */
        double lo, hi;
        MPI_Allreduce(&e, &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(&e, &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        CHECK(lo == hi, "ranks disagree: %.6f to %.6f J", lo, hi);
        if (rank == 0)
            printf("%d ranks, %d nodes, %d GPUs: job %.2f J ± %.2f over %.3f s; model %.2f J; "
                   "rank 0 alone %.2f J\n",
                   size, want_nodes, ndev, e, u, t, truth, own);
    }
    joule_result_free(job);
    joule_result_free(mine);
    joule_mpi_nodes_free(nodes);

    /* Rank 1 never opens this window: every rank fails, naming rank 1. */
    if (rank != 1)
        joule_window_begin(ctx, "partial", 0);
    job = NULL;
    rc = joule_mpi_window_end(ctx, "partial", 0, MPI_COMM_WORLD, &job);
    CHECK(rc == JOULE_ENOENT && !job, "rc %d", rc);
    CHECK(strstr(joule_last_error(), "rank 1 of") != NULL, "message: %s", joule_last_error());

    joule_close(ctx);
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    return all ? 1 : 0;
}
