/* Window fidelity, side by side in one run: the plain counter difference
 * (what Zeus reports) against joule's edge-corrected estimate, both on the
 * same windows of 4 simulated H100s whose power jumps between 170 W and
 * 560 W every 0.35-0.55 s, each GPU's 100 ms counter at its own phase and
 * instant power refreshed every 20 ms (like the independent NVML stand-in
 * of issue 11). Error is against the simulator's exact integral of power.
 *   fidelity [SECONDS] [POWER_REFRESH_MS] [LEARN_S]
 * (defaults 40 s, 20 ms, and 1 s of timing learned before the first
 * window; 0 opens windows from the start). */
#include <stdio.h>
#include <stdlib.h>

#include <joule/joule.h>

#include "core/context.h"
#include "devices/sim/sim.h"
#include "fidelity.h"

static int sim_truth(void *user, int device, int64_t t_ns, double *joules)
{
    joule_ctx *ctx = user;
    return sim_device_true_energy_at_j(ctx->devs[device], t_ns, joules);
}

static void row(const char *method, const struct fid_stats *s, int plain)
{
    printf("    %-16s %6d %9.2f %% %9.2f %% %9.1f %%", method, s->n, s->median_pct, s->p95_pct,
           100 * s->coverage);
    if (!plain)
        printf("   %5d  %4d", s->exact, s->exact_off);
    printf("\n");
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 40, refresh_ms = argc > 2 ? atof(argv[2]) : 20;
    double learn_s = argc > 3 ? atof(argv[3]) : 1;
    char refresh[32];
    snprintf(refresh, sizeof refresh, "%g", refresh_ms);
    setenv("JOULE_SIM_LOAD", "square:170W,560W,0.35,0.55", 1);
    setenv("JOULE_SIM_POWER_PERIOD_MS", refresh, 1);
    joule_options *o;
    joule_ctx *ctx;
    joule_options_create(&o);
    joule_options_set_devices(o, "sim:4:h100");
    if (joule_open(o, &ctx)) {
        fprintf(stderr, "fidelity: %s\n", joule_last_error());
        return 1;
    }
    joule_options_destroy(o);
    joule_learn_timing(ctx, learn_s);

    struct fid_options fo = {.duration_s = seconds, .open_every_s = 0.05, .seed = 7};
    struct fid_record *r;
    int n = fid_run(ctx, &fo, sim_truth, ctx, &r);
    if (n < 0)
        return 1;
    printf("fidelity: 4 sim H100s, square 170/560 W (0.35-0.55 s levels), 100 ms counters at\n"
           "  per-GPU phases, instant power refreshed every %g ms; %d GPU-windows in %g s\n",
           refresh_ms, n, seconds);
    printf("    %-16s %6s %11s %11s %11s   %5s  %4s\n", "method", "n", "median err",
           "p95 err", "covered", "EXACT", ">1%");
    for (int b = 0; b < FID_BUCKETS; b++) {
        struct fid_stats plain, est;
        fid_stats(r, n, b, 1, &plain);
        fid_stats(r, n, b, 0, &est);
        printf("  windows %.2f-%.2f s\n", fid_bucket_lo[b], fid_bucket_hi[b]);
        row("counter diff", &plain, 1);
        row("joule", &est, 0);
        if (est.median_pct > 0)
            printf("    ratio plain/joule: median %.1fx, p95 %.1fx\n",
                   plain.median_pct / est.median_pct, plain.p95_pct / est.p95_pct);
    }
    free(r);
    joule_close(ctx);
    return 0;
}
