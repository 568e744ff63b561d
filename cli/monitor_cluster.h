/* `joule monitor --daemon LIST` (cli/monitor_cluster.c). */
#ifndef JOULE_CLI_MONITOR_CLUSTER_H
#define JOULE_CLI_MONITOR_CLUSTER_H

enum { MON_TABLE, MON_CSV, MON_JSONL };

/* list: comma-separated tcp:HOST:PORT (or unix:PATH) endpoints; token_file:
 * NULL for $JOULE_DAEMON_TOKEN. Returns the exit code. */
int monitor_cluster(const char *list, const char *token_file, double interval_ms,
                    double duration, int fmt);

#endif
