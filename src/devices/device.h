/* What a backend is: every backend (nvml, rocm_smi, rapl, sim; remote in
 * client/) discovers devices and gives each one a table of function
 * pointers and capability bits. devices/registry.c lists them in the order
 * they run; the core never knows which vendor it talks to. Units at this layer are integers:
 * microjoules, milliwatts, MHz, degrees C, nanoseconds. */
#ifndef JOULE_DEVICES_DEVICE_H
#define JOULE_DEVICES_DEVICE_H

#include <joule/joule.h>
#include <pthread.h>
#include <stdint.h>

struct joule_device;

enum jdev_power_kind {
    JDEV_POWER_INSTANT = 0,
    JDEV_POWER_AVERAGE = 1, /* the device's own ~1 s average */
    JDEV_POWER_MEMORY = 2,
};

struct jdev_power_limits {
    uint32_t current_mw, min_mw, max_mw, default_mw, enforced_mw;
};

/* Any entry may be NULL when the device cannot do that; the capability
 * bits say the same thing to users. Functions return 0 or a JOULE_E* code
 * with joule_set_error() called. They may be called from several threads,
 * but never concurrently for the same device (the core holds dev->lock). */
struct jdev_ops {
    void (*close)(struct joule_device *d);
    /* Raw counter in microjoules. Wraps at d->counter_range_uj when that
     * is non-zero; the core turns it into a monotonic 64-bit value. */
    int (*read_energy_uj)(struct joule_device *d, uint64_t *uj);
    int (*read_power_mw)(struct joule_device *d, enum jdev_power_kind k,
                         uint32_t *mw);
    int (*read_temperature_c)(struct joule_device *d, int *celsius);
    int (*read_clocks_mhz)(struct joule_device *d, int *sm, int *mem);
    int (*read_throttle)(struct joule_device *d, uint64_t *mask);
    int (*get_power_limits)(struct joule_device *d,
                            struct jdev_power_limits *out);
    int (*set_power_limit_mw)(struct joule_device *d, uint32_t mw);
    int (*lock_clocks_mhz)(struct joule_device *d, int min, int max);
    int (*reset_clocks)(struct joule_device *d);
    int (*lock_mem_clocks_mhz)(struct joule_device *d, int min, int max);
    int (*reset_mem_clocks)(struct joule_device *d);
    /* Fills up to cap SM clocks in MHz, descending; returns the count. */
    int (*supported_clocks_mhz)(struct joule_device *d, int *mhz, int cap);
    int (*get_persistence)(struct joule_device *d, int *on);
    int (*set_persistence)(struct joule_device *d, int on);
};

/* What only a simulated device can do, with the same conventions as
 * jdev_ops (the core holds dev->lock). */
struct jdev_sim_ops {
    /* The load level in [0, 1] the workload puts on the GPU. */
    int (*set_load)(struct joule_device *d, double load);
    /* Work done so far: full-speed seconds, or epochs in trace mode. */
    int (*work_done)(struct joule_device *d, double *work);
};

/* One device. Everything here is filled by its backend at discovery and
 * only read by the layers above, except the identity fields marked "core",
 * which the core assigns once at open (before any read). The core keeps
 * its own per-device state (running totals, learned timing) in its own
 * array (core/counter.h). */
struct joule_device {
    /* Filled by the backend. */
    enum joule_device_kind kind;
    int backend_index;          /* the backend's own numbering */
    char name[96];              /* "NVIDIA H100 80GB HBM3", "package-0" */
    char uuid[96];              /* "GPU-…" or "" */
    char pci_bus_id[32];
    char arch[32];
    int power_scope;            /* what power readings cover: 0 unknown,
                                   1 GPU, 2 module (JOULE_POWER_SCOPE_*) */
    char note[512];             /* shown by `joule info` */
    const char *backend;        /* static string: "nvml", "rapl", ... */
    const struct jdev_ops *ops;
    const struct jdev_sim_ops *sim_ops; /* simulated devices only, else NULL */
    void *priv;
    uint32_t caps;              /* JOULE_CAP_* */
    uint64_t counter_range_uj;  /* wrap modulus of read_energy_uj, 0 = none */
    uint32_t max_power_mw;      /* upper bound used to size the keeper */
    double resolution_uj;
    double update_period_us;    /* nominal: energy counter (or power if none) */
    double power_period_us;     /* nominal: power reading, 0 = unknown */
    int socket;                 /* CPU package number for RAPL zones */

    /* Index within its kind: set by RAPL for its zones (package number
     * order); core, for GPUs (CUDA-visible order, sim GPUs last). */
    int index;
    char label[32];             /* core: "gpu0", "cpu1", "dram0" */
    /* core: the core's own state for this device (the public accessors
     * reach the learned periods through it); devices/ never reads it. */
    void *core;

    /* Serialises calls into ops for this device: every layer holds it
     * around a call, and the core's per-device state is guarded by it. */
    pthread_mutex_t lock;
};

/* Allocates a zeroed device with its lock initialised. */
struct joule_device *jdev_new(enum joule_device_kind kind, const char *backend,
                              const struct jdev_ops *ops);
/* Calls ops->close, destroys the lock and frees. */
void jdev_free(struct joule_device *d);

/* A growable list of devices, filled by a backend's discover(). */
struct jdev_list {
    struct joule_device **items;
    int count, cap;
};
int jdev_list_push(struct jdev_list *l, struct joule_device *d);
void jdev_list_free_all(struct jdev_list *l);

/* What a backend is asked for at discovery. */
struct jdev_discover_args {
    const char *sysfs_root;   /* RAPL: where class/powercap lives */
    const char *sim_spec;     /* sim: "4:h100" or "2:v100,a100" or
                                 "1:trace=v100/imagenet/resnet50/256" */
};

/* A backend: discover() appends its devices to out. When the backend is
 * absent it returns JOULE_ENODEV (or EPERM/ELIB) and writes why and what to
 * do into reason. It may also succeed and leave a note in reason (e.g. one
 * zone unreadable). */
struct jdev_backend {
    const char *name;
    int (*discover)(const struct jdev_discover_args *args,
                    struct jdev_list *out, char *reason, size_t reason_len);
};

extern const struct jdev_backend jdev_backend_nvml;
extern const struct jdev_backend jdev_backend_rocm_smi;
extern const struct jdev_backend jdev_backend_rapl;
extern const struct jdev_backend jdev_backend_sim;
extern const struct jdev_backend jdev_backend_remote; /* client/remote.c */

/* Maps CUDA_VISIBLE_DEVICES onto a backend's physical GPUs. cvd is the
 * variable's value (NULL = unset: identity). uuids[i] is physical GPU i's
 * UUID ("GPU-…"). On success map[k] is the physical index of visible GPU k
 * and *count the number visible. Entries are integers or UUID prefixes, as
 * CUDA accepts (a UUID may omit "GPU-"). A negative index ends the list,
 * as in CUDA ("-1" hides every GPU). Unlike CUDA, any other invalid entry
 * (out of range, unknown UUID, duplicate) is an error so users notice. A "MIG-"
 * entry gives JOULE_ENOTSUP; a backend that can resolve MIG parents handles
 * those entries before calling this. */
int jdev_cuda_visible_map(const char *cvd, const char *const *uuids, int n,
                          int *map, int *count);

#endif
