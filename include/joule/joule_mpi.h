/* libjoule_mpi: job totals of a measurement window that every MPI rank
 * opened (docs/cluster.md, "MPI job totals"). Link with
 * `pkg-config --libs joule-mpi` (it brings libjoule and MPI).
 *
 * Several ranks on one node usually see the same GPUs and CPUs: each
 * physical device is counted once. Ranks share a node when
 * MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) puts them together; within a
 * node a device is known by its UUID (else its PCI bus id, else its
 * kind and label). Each device's energy is the measurement of the rank
 * whose window on it was the longest (ties: the lowest rank); its
 * uncertainty travels with it, so joule_result_total_uncertainty_j of a
 * job result is the sum of the per-device bounds. The job's time runs
 * from the earliest begin to the latest end, on the wall clock.
 *
 * Test-only: JOULE_MPI_FAKE_NODES=K splits each real node into K pretend
 * nodes by rank % K (hosts named "HOST#k"), to test the cross-node sum on
 * one machine. Never set it on a real job: devices would be counted once
 * per pretend node. */
#ifndef JOULE_JOULE_MPI_H
#define JOULE_JOULE_MPI_H

#include <mpi.h>

#include <joule/joule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_MPI_API_VERSION 1

/* Per-node figures of a job window. */
typedef struct joule_mpi_nodes joule_mpi_nodes;

/* Collective over comm: a barrier, then joule_window_begin on every rank,
 * so the ranks' windows start together. Plain joule_window_begin works
 * too (the job's time then starts at the earliest rank's begin). Every
 * rank returns the same code: a failure on one is named on all. */
int joule_mpi_window_begin(joule_ctx *ctx, const char *name, unsigned flags, MPI_Comm comm);

/* Collective over comm: a barrier, then ends the window on every rank and
 * gives every rank the job's result in *out (free with
 * joule_result_free): one entry per physical device of the job, labelled
 * "n<node>.<label>" ("n0.gpu1"), nodes numbered by their lowest rank in
 * comm. When a rank fails to end its window, every rank returns its code
 * with a message naming the rank, and *out is NULL. */
int joule_mpi_window_end(joule_ctx *ctx, const char *name, unsigned flags, MPI_Comm comm,
                         joule_result **out);

/* The same, and also the per-node figures in *nodes (free with
 * joule_mpi_nodes_free; nodes may be NULL). */
int joule_mpi_window_end_nodes(joule_ctx *ctx, const char *name, unsigned flags, MPI_Comm comm,
                               joule_result **out, joule_mpi_nodes **nodes);

int joule_mpi_node_count(const joule_mpi_nodes *n);
/* The node's host name (MPI_Get_processor_name), NULL out of range. */
const char *joule_mpi_node_host(const joule_mpi_nodes *n, int node);
/* How many ranks of comm ran on the node. */
int joule_mpi_node_ranks(const joule_mpi_nodes *n, int node);
/* The node's own result: its devices (labels without the node prefix),
 * time from its earliest begin to its latest end. Owned by n. */
const joule_result *joule_mpi_node_result(const joule_mpi_nodes *n, int node);
/* The node of device i of the job result, -1 out of range. */
int joule_mpi_device_node(const joule_mpi_nodes *n, int i);
void joule_mpi_nodes_free(joule_mpi_nodes *n);

#ifdef __cplusplus
}
#endif
#endif
