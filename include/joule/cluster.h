/* A live view of several jouleds' power (`joule monitor --daemon
 * tcp:HOST:PORT,...`; docs/cluster.md, "A cluster view of power"): one
 * reader thread per node follows its `GET /v1/stream`, keeps the latest
 * event and the energy it implies, and reconnects when the node drops out.
 * A node that stops answering is reported as such, never silently left
 * out of a total.
 *
 * Functions return 0 or a negative JOULE_E* code and leave a message for
 * joule_last_error(). */
#ifndef JOULE_CLUSTER_H
#define JOULE_CLUSTER_H

#include <joule/joule.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_CLUSTER_API_VERSION 1

typedef struct joule_cluster joule_cluster;

enum joule_node_state {
    JOULE_NODE_CONNECTING = 0, /* no event yet */
    JOULE_NODE_UP = 1,         /* events arrive */
    JOULE_NODE_STALE = 2,      /* connected, but no event for stale_s */
    JOULE_NODE_DOWN = 3,       /* unreachable or refused: see error */
};

/* Layout fixed for JOULE_CLUSTER_API_VERSION 1. */
typedef struct joule_cluster_node {
    int state;               /* enum joule_node_state */
    int ndevices;            /* in the latest event */
    double power_w;          /* sum of the latest event's devices; NAN: none yet */
    double event_unix_s;     /* the node's clock at its latest event; 0: none */
    double age_s;            /* since that event arrived here */
    double energy_j;         /* integrated over the events received */
    double up_s;             /* time those events cover */
    double peak_power_w;     /* highest power_w seen; NAN: none */
    unsigned long long events, missed, connects;
    char error[256];         /* why it is down or stale ("" when up) */
} joule_cluster_node;

/* Starts following n endpoints ("tcp:HOST:PORT" or "unix:PATH"), each with
 * its bearer token (tokens NULL or tokens[i] NULL: none), asking for an
 * event every interval_ms (jouled's sampler period at least). A node is
 * STALE once no event came for stale_s (<= 0: max(3 intervals, 2 s)).
 * Bad endpoints are refused here; unreachable ones only show as DOWN. */
int joule_cluster_open(const char *const *endpoints, const char *const *tokens, int n,
                       int interval_ms, double stale_s, joule_cluster **out);
void joule_cluster_close(joule_cluster *c);

int joule_cluster_node_count(const joule_cluster *c);
const char *joule_cluster_node_endpoint(const joule_cluster *c, int i);
/* A consistent snapshot of node i. */
int joule_cluster_node_status(joule_cluster *c, int i, joule_cluster_node *out);
/* Device k (0 .. ndevices-1) of node i's latest event; label gets its
 * label there ("gpu0"), *power_w its power (NAN: no reading). */
int joule_cluster_node_device(joule_cluster *c, int i, int k, char *label, size_t len,
                              double *power_w);
/* "connecting", "up", "stale", "down". */
const char *joule_node_state_name(int state);

#ifdef __cplusplus
}
#endif
#endif
