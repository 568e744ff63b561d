/* `joule run --job-report DIR` under a launcher (mpirun, srun): the
 * node-local rank 0 measures the node and writes DIR/<node>.json; every
 * other rank only runs the command. joule itself never calls MPI, so the
 * command keeps its own (docs/cluster.md). */
#ifndef JOULE_CLI_JOB_REPORT_H
#define JOULE_CLI_JOB_REPORT_H

#include <stddef.h>

#include <joule/joule.h>

#include "run_report.h"

/* This process's node-local rank from the launcher's environment
 * (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID), 0 when
 * none is set (one process: it measures). -1 after printing why when a
 * variable is not a rank. */
int job_local_rank(void);
/* What `joule run --job-report DIR` does on this rank: JOB_MEASURE,
 * JOB_EXEC_ONLY, or an exit code (2: bad input, 1: DIR unusable) after
 * printing why. With --trace (*trace not NULL), *trace is pointed at
 * DIR/NODE-BASENAME in buf and *trace_name at that file's name in DIR. */
#define JOB_MEASURE (-1)
#define JOB_EXEC_ONLY (-2)
int job_setup(const char *dir, int repeat, const char **trace, char *buf, size_t len,
              char **trace_name);
/* Replaces this process with cmd (a rank that does not measure), so its
 * exit status is the command's. Returns only on failure: 127 or 126
 * after printing why. */
int job_exec_only(char **cmd);
/* The node's name for its files: $JOULE_NODE_NAME, else the host name,
 * with '/' and leading dots made safe. */
void job_node_name(char *buf, size_t len);
/* Creates DIR (one level) if it is missing. Prints why and returns -1 when
 * it cannot be made or is not a directory. */
int job_report_dir(const char *dir);
/* Writes DIR/<node>.json atomically (a temporary file, then rename): the
 * node, the launcher's rank variables, each device with uuid, energy and
 * uncertainty, the window's wall-clock begin and end, the command's exit
 * status, and the trace file's name (NULL: none). Prints why and returns
 * -1 on failure. */
int job_report_write(const char *dir, joule_ctx *ctx, const struct run_stats *st, double begin_unix_s,
                     double end_unix_s, char **cmd, int exit_status, const char *trace_name);

#endif
