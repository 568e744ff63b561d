/* How reading grows with the input: a power-limit log (read + frontier),
 * a plan JSON stage and a trace with one window per sample, each at n and
 * 4n items. Prints the time per item at both sizes and their ratio: about
 * 1 for linear (or n log n) work, about 4 for quadratic. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/trace.h"
#include "optimize/frontier.h"
#include "optimize/planner/planner.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void write_log(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    fprintf(f, "start_time,window_name,elapsed_time,gpu0_energy\n");
    for (int w = 1; w <= n; w++)
        fprintf(f, "%d,__GlobalPowerLimitOptimizer_%d,%.17g,%.17g\n", w, w, 1 + 1e5 / w,
                1000 + 0.01 * w);
    fclose(f);
}

static void write_plan(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"stages\": [[");
    for (int k = 0; k < n; k++)
        fprintf(f, "%s{\"instruction\":\"%s\",\"microbatch\":%d,\"frequency_mhz\":1980}",
                k ? "," : "", k % 2 ? "backward" : "forward", k / 2);
    fprintf(f, "]]}\n");
    fclose(f);
}

static void write_trace(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    fprintf(f, "# joule-trace 1\n# start_unix_s=1 duration_s=%d interval_s=0.1\n"
               "# device label=gpu0 kind=gpu name=G\n", n);
    for (int i = 0; i < n; i++)
        fprintf(f, "# window start_s=%d end_s=%d.5 name=step %d\n", i, i, i);
    fprintf(f, "time_s,device,domain,value\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,gpu0,power_w,%d\n", i, 100 + i % 2);
    fclose(f);
}

/* Seconds to read the file of n items (best of 3). */
static double time_read(int which, const char *path)
{
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        if (which == 0) {
            struct jopt_profile p;
            if (jopt_profile_read(path, &p) == 0) {
                int *idx = malloc(sizeof *idx * (size_t)p.n);
                jopt_frontier(p.points, p.n, idx);
                free(idx);
                jopt_profile_free(&p);
            }
        } else if (which == 1) {
            pl_stage_plan sp;
            if (pl_stage_plan_read(path, 0, &sp) == 0)
                pl_stage_plan_free(&sp);
        } else {
            struct trace t;
            if (trace_read(path, &t) == 0)
                trace_free(&t);
        }
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    return best;
}

int main(void)
{
    static const struct {
        const char *what;
        int n;
        void (*write)(const char *, int);
    } cases[] = {
        {"optimize-select log, limits", 50000, write_log},
        {"plan JSON, steps", 25000, write_plan},
        {"trace, windows + rows", 12500, write_trace},
    };
    char path[] = "/tmp/joule-bench-input-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    printf("%-30s %10s %14s %10s %14s %8s\n", "input", "n", "us/item", "4n", "us/item",
           "ratio");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double per[2];
        for (int k = 0; k < 2; k++) {
            int n = cases[c].n * (k ? 4 : 1);
            cases[c].write(path, n);
            per[k] = time_read((int)c, path) / n;
        }
        printf("%-30s %10d %14.3f %10d %14.3f %8.2f\n", cases[c].what, cases[c].n,
               per[0] * 1e6, cases[c].n * 4, per[1] * 1e6, per[1] / per[0]);
    }
    unlink(path);
    printf("\nratio: time per item at 4n over that at n; ~1 is linear, ~4 quadratic.\n");
    return 0;
}
