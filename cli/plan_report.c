/* `joule plan`'s summary of a solved frontier. */
#include <stdio.h>
#include <string.h>

#include <joule/planner.h>

#include "plan_report.h"

void plan_print_summary(FILE *out, const joule_planner *pl, const joule_planner_options *cfg,
                        const joule_planner_report *rep, double solve_s, int chosen,
                        const char *chosen_by)
{
    double first_t, first_e, last_t, last_e;
    joule_planner_plan(pl, 0, &first_t, &first_e, NULL);
    joule_planner_plan(pl, rep->plans - 1, &last_t, &last_e, NULL);
    fprintf(out, "joule plan: %s, %d stages x %d microbatches, quantum "
            "%g ms, blocking power %g W\n",
            joule_schedule_name(cfg->schedule), cfg->stages, cfg->microbatches,
            cfg->quantum_s * 1e3, cfg->blocking_power_w);
    fprintf(out, "  all fastest:        %.6g s  %.6g J\n",
            rep->fastest_time_s, rep->fastest_energy_j);
    fprintf(out, "  no energy bloat:    %.6g s  %.6g J  (%.2f%% less, "
            "same time)\n",
            first_t, first_e,
            100.0 * (rep->fastest_energy_j - first_e) / rep->fastest_energy_j);
    fprintf(out, "  least energy:       %.6g s  %.6g J  (%.2f%% less, "
            "%.2f%% slower)\n",
            last_t, last_e,
            100.0 * (rep->fastest_energy_j - last_e) / rep->fastest_energy_j,
            100.0 * (last_t - rep->fastest_time_s) / rep->fastest_time_s);
    fprintf(out, "  frontier:           %d plans (%d quanta, %d max-flows, "
            "%.1f ms)\n",
            rep->plans, rep->steps, rep->max_flows, solve_s * 1e3);
    if (cfg->improve_budget >= 0)
        fprintf(out, "  discrete search:    %d plans searched, %lld neighbours "
                "tried%s\n", rep->improve_searched, rep->improve_evals,
                rep->improve_cut ? " (stopped at its budget)" : " (converged)");
    else
        fprintf(out, "  discrete search:    off (--no-search)\n");
    if (chosen >= 0) {
        double ct, ce;
        int cid;
        joule_planner_plan(pl, chosen, &ct, &ce, &cid);
        fprintf(out, "  chosen (%s):%*s plan %d: %.6g s  %.6g J\n", chosen_by,
                strcmp(chosen_by, "deadline") ? 0 : 2, "", cid, ct, ce);
    }
}
