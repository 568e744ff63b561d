/* C side of bench/peers/windows.sh: the cost of one measurement window
 * (begin + end) through libjoule's public C API on the GPUs of
 * $JOULE_DEVICES (the NVML test double), and the floor under it: the same
 * number of raw nvmlDeviceGetTotalEnergyConsumption calls (2 per GPU),
 * made straight into the library joule loaded.
 *
 * Usage: window_c PAIRS ROUNDS   prints one JSON line (ns per pair, the
 * median of ROUNDS). Built by windows.sh with cc against build/src. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <joule/joule.h>

typedef int (*get_handle_fn)(unsigned, void **);
typedef int (*get_energy_fn)(void *, unsigned long long *);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int pairs = argc > 1 ? atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (pairs < 1 || rounds < 1 || rounds > 100)
        return 2;
    joule_options *o;
    joule_ctx *ctx;
    joule_options_create(&o);
    joule_options_set_devices(o, getenv("JOULE_DEVICES") ? getenv("JOULE_DEVICES") : "gpu");
    if (joule_open(o, &ctx)) {
        fprintf(stderr, "window_c: %s\n", joule_last_error());
        return 1;
    }
    joule_options_destroy(o);
    int ndev = joule_device_count(ctx);

    const char *path = getenv("JOULE_NVML_LIBRARY");
    void *lib = path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL;
    get_handle_fn get_handle = lib ? (get_handle_fn)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2") : NULL;
    get_energy_fn get_energy = lib ? (get_energy_fn)dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption") : NULL;
    if (!get_handle || !get_energy) {
        fprintf(stderr, "window_c: cannot reach the NVML library joule loaded (%s)\n",
                path ? path : "JOULE_NVML_LIBRARY unset");
        return 1;
    }
    void *h[64];
    for (int i = 0; i < ndev && i < 64; i++)
        if (get_handle((unsigned)i, &h[i]))
            return 1;

    double raw[100], win[100];
    unsigned long long sink = 0;
    int qual[4] = {0};
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (int k = 0; k < pairs; k++)
            for (int side = 0; side < 2; side++)
                for (int i = 0; i < ndev; i++) {
                    unsigned long long mj;
                    get_energy(h[i], &mj);
                    sink += mj;
                }
        raw[r] = (now_s() - t0) / pairs * 1e9;
        t0 = now_s();
        for (int k = 0; k < pairs; k++) {
            joule_result *res;
            joule_window_begin(ctx, "step", JOULE_WINDOW_NO_SYNC);
            if (joule_window_end(ctx, "step", JOULE_WINDOW_NO_SYNC, &res)) {
                fprintf(stderr, "window_c: %s\n", joule_last_error());
                return 1;
            }
            int q;
            joule_result_energy_j(res, 0, &q, NULL);
            if (q >= 0 && q < 4)
                qual[q]++;
            joule_result_free(res);
        }
        win[r] = (now_s() - t0) / pairs * 1e9;
    }
    qsort(raw, (size_t)rounds, sizeof raw[0], cmp);
    qsort(win, (size_t)rounds, sizeof win[0], cmp);
    printf("{\"devices\": %d, \"raw_reads_ns\": %.1f, \"window_ns\": %.1f, "
           "\"quality\": {\"exact\": %d, \"approx\": %d, \"below_resolution\": %d, \"error\": %d}, "
           "\"sink\": %llu}\n",
           ndev, raw[rounds / 2], win[rounds / 2], qual[0], qual[1], qual[2], qual[3],
           sink % 10);
    joule_close(ctx);
    return 0;
}
