/* The window result behind joule_result: a copy of what each device
 * measured, independent of the context so it outlives it. */
#ifndef JOULE_CORE_RESULT_H
#define JOULE_CORE_RESULT_H

#include <joule/joule.h>

struct result_device {
    enum joule_device_kind kind;
    char label[32];
    double energy_j;   /* NAN when status != 0 */
    double uncertainty_j; /* bound on |error| (95 %), NAN when status != 0 */
    double plain_j;       /* the plain counter difference and its bound, */
    double plain_bound_j; /* for bench/fidelity (= energy_j without a counter) */
    int quality;
    int status;
    char error[256];
};

/* One allocation: the struct, dev[ndev], then the name. */
struct joule_result {
    const char *name;
    double time_s;
    double start_unix_s;
    int ndev;
    struct result_device dev[];
};

joule_result *result_new(int ndev, const char *name);

#endif
