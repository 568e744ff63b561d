/* libjoule_mpi: a window every rank opened, reduced to the job's totals
 * with each physical device counted once (include/joule/joule_mpi.h).
 *
 * Every rank ends its own window, then all ranks exchange fixed-size
 * records (one per rank, one per device) with two allgathers, and each
 * rank combines them the same way, so every rank gets the same result
 * without a second round. Built on libjoule's public API only. */
#include <joule/joule_mpi.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 96
#define HOST_LEN 80
#define ERR_LEN 256

/* What one rank sends about itself. */
struct rank_rec {
    char host[HOST_LEN];
    char error[ERR_LEN];
    int node_key; /* lowest rank in comm on the same (pretend) node */
    int status;   /* 0, or why this rank could not end its window */
    int ndev;
    double begin_unix_s, end_unix_s;
};

/* What one rank measured on one device. */
struct dev_rec {
    char key[KEY_LEN]; /* identity within a node: uuid, PCI id or kind:label */
    char label[32];
    char error[ERR_LEN];
    int kind, quality, status;
    double energy_j, uncertainty_j;
};

struct mpi_node {
    char host[HOST_LEN];
    int key, ranks;
    joule_result *result;
};

struct joule_mpi_nodes {
    int nnodes, ndev;
    struct mpi_node *node;
    int *dev_node; /* node of each device of the job result */
};

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return joule_error_set(code, msg);
}

static int mpi_fail(const char *what, int rc)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", rc);
    return fail(JOULE_EIO, "%s failed: %s", what, s);
}

/* The same code on every rank: the lowest failing one (most negative). */
static int agree(int rc, MPI_Comm comm)
{
    int all = rc;
    if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return rc ? rc : JOULE_EIO;
    return all;
}

int joule_mpi_window_begin(joule_ctx *ctx, const char *name, unsigned flags, MPI_Comm comm)
{
    int rc = MPI_Barrier(comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail("MPI_Barrier", rc);
    rc = joule_window_begin(ctx, name, flags);
    char msg[ERR_LEN];
    snprintf(msg, sizeof msg, "%s", rc ? joule_last_error() : "");
    int all = agree(rc, comm);
    if (all && !rc)
        return fail(all, "joule_mpi_window_begin: another rank failed (%s)", joule_strerror(all));
    return rc ? joule_error_set(rc, msg) : 0;
}

/* This rank's node key and host: the shared-memory node, split further
 * into K pretend nodes when JOULE_MPI_FAKE_NODES=K (tests only). */
static int node_identity(MPI_Comm comm, int rank, struct rank_rec *me)
{
    MPI_Comm node;
    int rc = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS)
        return mpi_fail("MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)", rc);
    char host[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS)
        snprintf(host, sizeof host, "unknown");
    snprintf(me->host, sizeof me->host, "%s", host);
    const char *fake = getenv("JOULE_MPI_FAKE_NODES");
    int k = fake && *fake ? atoi(fake) : 1;
    if (k > 1) {
        MPI_Comm sub;
        rc = MPI_Comm_split(node, rank % k, rank, &sub);
        if (rc != MPI_SUCCESS) {
            MPI_Comm_free(&node);
            return mpi_fail("MPI_Comm_split", rc);
        }
        MPI_Comm_free(&node);
        node = sub;
        snprintf(me->host, sizeof me->host, "%.70s#%d", host, rank % k);
    }
    rc = MPI_Allreduce(&rank, &me->node_key, 1, MPI_INT, MPI_MIN, node);
    MPI_Comm_free(&node);
    return rc == MPI_SUCCESS ? 0 : mpi_fail("MPI_Allreduce", rc);
}

/* This rank's device records from its own result (devices are in the
 * context's order). */
static void fill_devices(joule_ctx *ctx, const joule_result *r, struct dev_rec *d, int n)
{
    for (int i = 0; i < n; i++) {
        const joule_device *dev = joule_device_at(ctx, i);
        const char *uuid = joule_device_uuid(dev), *pci = joule_device_pci_bus_id(dev);
        memset(&d[i], 0, sizeof d[i]);
        if (uuid && *uuid)
            snprintf(d[i].key, KEY_LEN, "uuid:%s", uuid);
        else if (pci && *pci)
            snprintf(d[i].key, KEY_LEN, "pci:%s", pci);
        else
            snprintf(d[i].key, KEY_LEN, "%s:%s", joule_kind_name(joule_device_kind(dev)),
                     joule_device_label(dev));
        snprintf(d[i].label, sizeof d[i].label, "%s", joule_device_label(dev));
        d[i].kind = joule_device_kind(dev);
        d[i].energy_j = joule_result_energy_j(r, i, &d[i].quality, &d[i].status);
        if (d[i].status)
            snprintf(d[i].error, ERR_LEN, "%s", joule_last_error());
        d[i].uncertainty_j = joule_result_uncertainty_j(r, i);
    }
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* A measurement of a device beats another when it succeeded and the
 * other did not, or its rank's window was longer (ties: earlier rank). */
static int better(const struct dev_rec *a, double a_span, const struct dev_rec *b, double b_span)
{
    if (!!a->status != !!b->status)
        return a->status == 0;
    return a_span > b_span;
}

struct pick {
    const struct dev_rec *rec;
    double span;
};

static int set_from(joule_result *r, int i, const struct dev_rec *d, const char *label)
{
    return joule_result_set_device(r, i, (enum joule_device_kind)d->kind, label, d->energy_j,
                                   d->uncertainty_j, d->status ? JOULE_QUALITY_ERROR : d->quality,
                                   d->status, d->error);
}

/* Combines every rank's records (ordered by rank) into the job result
 * and the per-node figures. */
static int combine(const char *name, int size, const struct rank_rec *ranks,
                   const struct dev_rec *devs, joule_result **out, joule_mpi_nodes **nodes_out)
{
    int rc = JOULE_ENOMEM, ntotal = 0;
    const struct dev_rec **drec = calloc((size_t)size, sizeof *drec);
    int *keys = malloc((size_t)size * sizeof *keys);
    joule_mpi_nodes *n = calloc(1, sizeof *n);
    struct pick *picks = NULL;
    if (!drec || !keys || !n)
        goto done;
    for (int r = 0, off = 0; r < size; r++) {
        drec[r] = devs + off;
        off += ranks[r].ndev;
        ntotal += ranks[r].ndev;
        keys[r] = ranks[r].node_key;
    }
    qsort(keys, (size_t)size, sizeof *keys, cmp_int);
    for (int r = 0; r < size; r++)
        if (r == 0 || keys[r] != keys[r - 1])
            keys[n->nnodes++] = keys[r];
    n->node = calloc((size_t)n->nnodes, sizeof *n->node);
    picks = calloc((size_t)(ntotal ? ntotal : 1), sizeof *picks);
    int *pick_node = calloc((size_t)(ntotal ? ntotal : 1), sizeof *pick_node);
    n->dev_node = pick_node;
    if (!n->node || !picks || !pick_node)
        goto done;

    double job_begin = INFINITY, job_end = -INFINITY;
    for (int k = 0; k < n->nnodes; k++) {
        struct mpi_node *nd = &n->node[k];
        int first = n->ndev;
        double begin = INFINITY, end = -INFINITY;
        nd->key = keys[k];
        for (int r = 0; r < size; r++) {
            if (ranks[r].node_key != nd->key)
                continue;
            if (!nd->ranks++)
                snprintf(nd->host, sizeof nd->host, "%s", ranks[r].host);
            begin = fmin(begin, ranks[r].begin_unix_s);
            end = fmax(end, ranks[r].end_unix_s);
            double span = ranks[r].end_unix_s - ranks[r].begin_unix_s;
            for (int i = 0; i < ranks[r].ndev; i++) {
                const struct dev_rec *d = &drec[r][i];
                int j = first;
                while (j < n->ndev && strcmp(picks[j].rec->key, d->key))
                    j++;
                if (j == n->ndev) {
                    picks[j].rec = d;
                    picks[j].span = span;
                    pick_node[j] = k;
                    n->ndev++;
                } else if (better(d, span, picks[j].rec, picks[j].span)) {
                    picks[j].rec = d;
                    picks[j].span = span;
                }
            }
        }
        job_begin = fmin(job_begin, begin);
        job_end = fmax(job_end, end);
        rc = joule_result_create(name, n->ndev - first, end - begin, begin, &nd->result);
        if (rc)
            goto done;
        for (int j = first; j < n->ndev; j++)
            if ((rc = set_from(nd->result, j - first, picks[j].rec, picks[j].rec->label)))
                goto done;
    }
    rc = joule_result_create(name, n->ndev, job_end - job_begin, job_begin, out);
    for (int j = 0; !rc && j < n->ndev; j++) {
        char label[32];
        snprintf(label, sizeof label, "n%d.%s", pick_node[j], picks[j].rec->label);
        rc = set_from(*out, j, picks[j].rec, label);
    }
    if (rc) {
        joule_result_free(*out);
        *out = NULL;
    }
done:
    if (rc == JOULE_ENOMEM)
        fail(rc, "out of memory combining the ranks' results");
    if (rc || !nodes_out)
        joule_mpi_nodes_free(n);
    else
        *nodes_out = n;
    free(picks);
    free(keys);
    free(drec);
    return rc;
}

int joule_mpi_window_end_nodes(joule_ctx *ctx, const char *name, unsigned flags, MPI_Comm comm,
                               joule_result **out, joule_mpi_nodes **nodes)
{
    if (!out)
        return fail(JOULE_EINVAL, "joule_mpi_window_end: out is NULL");
    *out = NULL;
    if (nodes)
        *nodes = NULL;
    int rank, size, rc;
    if ((rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS || (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS)
        return mpi_fail("MPI_Comm_rank", rc);
    if ((rc = MPI_Barrier(comm)) != MPI_SUCCESS)
        return mpi_fail("MPI_Barrier", rc);

    /* Everyone ends its own window first, and stays in the collectives
     * below even when that failed, so no rank waits forever. */
    joule_result *mine = NULL;
    struct rank_rec me;
    memset(&me, 0, sizeof me);
    me.status = joule_window_end(ctx, name, flags, &mine);
    if (me.status && mine)
        me.status = 0; /* a device in error: the result says which */
    if (me.status)
        snprintf(me.error, sizeof me.error, "%s", joule_last_error());
    int id_rc = node_identity(comm, rank, &me);
    if (id_rc && !me.status) {
        me.status = id_rc;
        snprintf(me.error, sizeof me.error, "%s", joule_last_error());
    }
    if (mine) {
        me.ndev = joule_result_device_count(mine);
        me.begin_unix_s = joule_result_start_unix_s(mine);
        me.end_unix_s = me.begin_unix_s + joule_result_time_s(mine);
    }
    struct dev_rec *my_devs = calloc((size_t)(me.ndev ? me.ndev : 1), sizeof *my_devs);
    struct rank_rec *ranks = calloc((size_t)size, sizeof *ranks);
    int *counts = calloc((size_t)size, sizeof *counts), *displs = calloc((size_t)size, sizeof *displs);
    struct dev_rec *devs = NULL;
    if (!my_devs || !ranks || !counts || !displs) {
        me.status = JOULE_ENOMEM;
        snprintf(me.error, sizeof me.error, "out of memory");
        me.ndev = 0;
    } else if (mine) {
        fill_devices(ctx, mine, my_devs, me.ndev);
    }
    joule_result_free(mine);
    /* Nobody may go on alone: agree on failure before any allgather. */
    int all = agree(me.status, comm);
    if (all) {
        int who = me.status ? rank : size, first = size;
        MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm);
        /* The failing rank's message reaches everyone. */
        char msg[ERR_LEN];
        memcpy(msg, me.error, sizeof msg);
        if (first < size)
            MPI_Bcast(msg, ERR_LEN, MPI_CHAR, first, comm);
        msg[ERR_LEN - 1] = '\0';
        rc = fail(all, "rank %d of %d could not end window '%s': %s", first, size, name, msg);
        goto done;
    }
    rc = MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, ranks, (int)sizeof me, MPI_BYTE, comm);
    if (rc != MPI_SUCCESS) {
        rc = mpi_fail("MPI_Allgather", rc);
        goto done;
    }
    int total = 0;
    for (int r = 0; r < size; r++) {
        counts[r] = ranks[r].ndev * (int)sizeof *devs;
        displs[r] = total * (int)sizeof *devs;
        total += ranks[r].ndev;
    }
    devs = calloc((size_t)(total ? total : 1), sizeof *devs);
    /* Every rank allocates the same size, so a failure is collective only
     * by agreement. */
    if (agree(devs ? 0 : JOULE_ENOMEM, comm)) {
        rc = fail(JOULE_ENOMEM, "out of memory gathering %d device records", total);
        goto done;
    }
    rc = MPI_Allgatherv(my_devs, me.ndev * (int)sizeof *devs, MPI_BYTE, devs, counts, displs,
                        MPI_BYTE, comm);
    if (rc != MPI_SUCCESS) {
        rc = mpi_fail("MPI_Allgatherv", rc);
        goto done;
    }
    rc = combine(name, size, ranks, devs, out, nodes);
done:
    free(devs);
    free(displs);
    free(counts);
    free(ranks);
    free(my_devs);
    return rc;
}

int joule_mpi_window_end(joule_ctx *ctx, const char *name, unsigned flags, MPI_Comm comm,
                         joule_result **out)
{
    return joule_mpi_window_end_nodes(ctx, name, flags, comm, out, NULL);
}

int joule_mpi_node_count(const joule_mpi_nodes *n) { return n ? n->nnodes : 0; }

const char *joule_mpi_node_host(const joule_mpi_nodes *n, int node)
{
    return n && node >= 0 && node < n->nnodes ? n->node[node].host : NULL;
}

int joule_mpi_node_ranks(const joule_mpi_nodes *n, int node)
{
    return n && node >= 0 && node < n->nnodes ? n->node[node].ranks : 0;
}

const joule_result *joule_mpi_node_result(const joule_mpi_nodes *n, int node)
{
    return n && node >= 0 && node < n->nnodes ? n->node[node].result : NULL;
}

int joule_mpi_device_node(const joule_mpi_nodes *n, int i)
{
    return n && i >= 0 && i < n->ndev ? n->dev_node[i] : -1;
}

void joule_mpi_nodes_free(joule_mpi_nodes *n)
{
    if (!n)
        return;
    for (int k = 0; n->node && k < n->nnodes; k++)
        joule_result_free(n->node[k].result);
    free(n->node);
    free(n->dev_node);
    free(n);
}
