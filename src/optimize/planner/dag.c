/* Computation DAG of a pipeline schedule. */
#include <stdlib.h>
#include <string.h>

#include "optimize/planner/planner.h"

void pl_dag_free(pl_dag *d)
{
    if (!d)
        return;
    pl_free(d->stage_seq);
    pl_free(d->pred_start);
    pl_free(d->pred);
    pl_free(d->succ_start);
    pl_free(d->succ);
    pl_free(d->topo);
    memset(d, 0, sizeof *d);
}

/* Order of computations on stage s. */
static void stage_order(int S, int M, int schedule, int s, int *seq)
{
    int k = 0;
    if (schedule == PL_SCHED_GPIPE) {
        for (int m = 0; m < M; m++)
            seq[k++] = pl_comp_id(M, s, PL_FORWARD, m);
        for (int m = 0; m < M; m++)
            seq[k++] = pl_comp_id(M, s, PL_BACKWARD, m);
        return;
    }
    /* synchronous 1F1B: min(S - s, M) forwards, then backward and forward
     * alternate until the forwards run out, then the remaining backwards */
    int warm = S - s < M ? S - s : M;
    int nf = 0, nb = 0;
    while (nf < warm)
        seq[k++] = pl_comp_id(M, s, PL_FORWARD, nf++);
    while (nf < M) {
        seq[k++] = pl_comp_id(M, s, PL_BACKWARD, nb++);
        seq[k++] = pl_comp_id(M, s, PL_FORWARD, nf++);
    }
    while (nb < M)
        seq[k++] = pl_comp_id(M, s, PL_BACKWARD, nb++);
}

int pl_dag_build(int S, int M, int schedule, pl_dag *out)
{
    memset(out, 0, sizeof *out);
    if (S < 1 || M < 1 || S > PL_MAX_STAGES ||
        (long long)S * M * 2 > PL_MAX_COMPUTATIONS)
        return joule_set_error(JOULE_EINVAL,
                        "pipeline of %d stages x %d microbatches is out of "
                        "range (at least 1 x 1, at most %d computations)",
                        S, M, PL_MAX_COMPUTATIONS);
    if (schedule != PL_SCHED_1F1B && schedule != PL_SCHED_GPIPE)
        return joule_set_error(JOULE_EINVAL, "unknown schedule %d", schedule);
    int N = 2 * S * M;
    out->S = S;
    out->M = M;
    out->N = N;
    /* at most 2 predecessors each: the pipeline neighbour and the previous
     * computation on the same stage */
    out->stage_seq = pl_malloc((size_t)N * sizeof(int));
    out->pred_start = pl_calloc((size_t)N + 1, sizeof(int));
    out->pred = pl_malloc((size_t)N * 2 * sizeof(int));
    out->succ_start = pl_calloc((size_t)N + 1, sizeof(int));
    out->succ = pl_malloc((size_t)N * 2 * sizeof(int));
    out->topo = pl_malloc((size_t)N * sizeof(int));
    int *prev_in_stage = pl_malloc((size_t)N * sizeof(int));
    int *indeg = pl_malloc((size_t)N * sizeof(int));
    if (!out->stage_seq || !out->pred_start || !out->pred ||
        !out->succ_start || !out->succ || !out->topo || !prev_in_stage ||
        !indeg) {
        pl_free(prev_in_stage);
        pl_free(indeg);
        pl_dag_free(out);
        return joule_set_error(JOULE_ENOMEM, "out of memory building the DAG");
    }
    for (int s = 0; s < S; s++) {
        int *seq = out->stage_seq + (size_t)s * 2 * M;
        stage_order(S, M, schedule, s, seq);
        prev_in_stage[seq[0]] = -1;
        for (int k = 1; k < 2 * M; k++)
            prev_in_stage[seq[k]] = seq[k - 1];
    }
    /* predecessors, CSR by computation id */
    int np = 0;
    for (int c = 0; c < N; c++) {
        int s = c / (2 * M), instr = (c / M) % 2, m = c % M;
        out->pred_start[c] = np;
        int p1 = -1;
        if (instr == PL_FORWARD && s > 0)
            p1 = pl_comp_id(M, s - 1, PL_FORWARD, m);
        else if (instr == PL_BACKWARD && s < S - 1)
            p1 = pl_comp_id(M, s + 1, PL_BACKWARD, m);
        else if (instr == PL_BACKWARD)
            p1 = pl_comp_id(M, s, PL_FORWARD, m);
        int p2 = prev_in_stage[c];
        if (p1 >= 0)
            out->pred[np++] = p1;
        if (p2 >= 0 && p2 != p1)
            out->pred[np++] = p2;
    }
    out->pred_start[N] = np;
    /* successors */
    for (int e = 0; e < np; e++)
        out->succ_start[out->pred[e] + 1]++;
    for (int c = 0; c < N; c++)
        out->succ_start[c + 1] += out->succ_start[c];
    {
        int *fill = indeg; /* reuse as cursor */
        for (int c = 0; c < N; c++)
            fill[c] = out->succ_start[c];
        for (int c = 0; c < N; c++)
            for (int e = out->pred_start[c]; e < out->pred_start[c + 1]; e++)
                out->succ[fill[out->pred[e]]++] = c;
    }
    /* topological order (Kahn) */
    int head = 0, tail = 0;
    for (int c = 0; c < N; c++) {
        indeg[c] = out->pred_start[c + 1] - out->pred_start[c];
        if (indeg[c] == 0)
            out->topo[tail++] = c;
    }
    while (head < tail) {
        int c = out->topo[head++];
        for (int e = out->succ_start[c]; e < out->succ_start[c + 1]; e++) {
            int d = out->succ[e];
            if (--indeg[d] == 0)
                out->topo[tail++] = d;
        }
    }
    pl_free(prev_in_stage);
    pl_free(indeg);
    if (tail != N) {
        pl_dag_free(out);
        return joule_set_error(JOULE_EINVAL,
                        "the %s schedule of %d stages x %d microbatches has "
                        "a dependency cycle",
                        pl_schedule_name(schedule), S, M);
    }
    return 0;
}
