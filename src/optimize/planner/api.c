/* The public face of the planner (include/joule/planner.h): a profile
 * handle and a planner handle that owns the problem and its frontier. */
#include <stdlib.h>

#include <joule/planner.h>

#include "base/error.h"
#include "base/export.h"
#include "optimize/planner/planner.h"

_Static_assert((int)JOULE_SCHEDULE_1F1B == (int)PL_SCHED_1F1B &&
                   (int)JOULE_SCHEDULE_GPIPE == (int)PL_SCHED_GPIPE,
               "one list of schedules");
_Static_assert(JOULE_PLANNER_MAX_STAGES == PL_MAX_STAGES &&
                   JOULE_PLANNER_MAX_COMPUTATIONS == PL_MAX_COMPUTATIONS,
               "one set of limits");

struct joule_planner_profile {
    pl_profile *p;
};

struct joule_planner {
    pl_problem pb;
    pl_frontier fr;
    int solved;
};

JOULE_EXPORT int joule_schedule_parse(const char *name) { return pl_schedule_parse(name); }
JOULE_EXPORT const char *joule_schedule_name(int schedule) { return pl_schedule_name(schedule); }

JOULE_EXPORT void joule_planner_options_default(joule_planner_options *o)
{
    pl_config c;
    pl_config_default(&c);
    *o = (joule_planner_options){c.stages,    c.microbatches,     c.schedule,
                                 c.quantum_s, c.blocking_power_w, c.improve_budget};
}

JOULE_EXPORT int joule_planner_profile_load(const char *path, joule_planner_profile **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_planner_profile_load: NULL argument");
    *out = NULL;
    joule_planner_profile *h = calloc(1, sizeof *h);
    if (!h)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading %s", path);
    int rc = pl_profile_load(path, &h->p);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

JOULE_EXPORT void joule_planner_profile_free(joule_planner_profile *p)
{
    if (!p)
        return;
    pl_profile_free(p->p);
    free(p);
}

JOULE_EXPORT int joule_planner_profile_check_clocks(const joule_planner_profile *p,
                                                    const int *mhz, int n, const char *gpu_label)
{
    return pl_profile_check_freqs(p->p, mhz, n, gpu_label);
}

JOULE_EXPORT int joule_planner_create(const joule_planner_profile *profile,
                                      const joule_planner_options *o, joule_planner **out)
{
    if (!profile || !o || !out)
        return joule_set_error(JOULE_EINVAL, "joule_planner_create: NULL argument");
    *out = NULL;
    joule_planner *p = calloc(1, sizeof *p);
    if (!p)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    pl_config c = {o->stages,    o->microbatches,     o->schedule,
                   o->quantum_s, o->blocking_power_w, o->improve_budget};
    int rc = pl_problem_init(&p->pb, profile->p, &c);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

JOULE_EXPORT void joule_planner_destroy(joule_planner *p)
{
    if (!p)
        return;
    if (p->solved)
        pl_frontier_free(&p->fr);
    pl_problem_free(&p->pb);
    free(p);
}

JOULE_EXPORT int joule_planner_solve(joule_planner *p)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "joule_planner_solve: NULL planner");
    if (p->solved)
        return 0;
    int rc = pl_solve(&p->pb, &p->fr);
    if (rc)
        return rc;
    p->solved = 1;
    return 0;
}

static int unsolved(const joule_planner *p, const char *what)
{
    if (!p)
        return joule_set_error(JOULE_EINVAL, "%s: NULL planner", what);
    if (!p->solved)
        return joule_set_error(JOULE_EINVAL, "%s: call joule_planner_solve first", what);
    return 0;
}

static int bad_plan(const joule_planner *p, int i, const char *what)
{
    int rc = unsolved(p, what);
    if (!rc && (i < 0 || i >= p->fr.n))
        rc = joule_set_error(JOULE_ENOENT, "%s: no plan %d (the frontier has %d)", what, i,
                             p->fr.n);
    return rc;
}

JOULE_EXPORT int joule_planner_plan_count(const joule_planner *p)
{
    int rc = unsolved(p, "joule_planner_plan_count");
    return rc ? rc : p->fr.n;
}

JOULE_EXPORT int joule_planner_plan(const joule_planner *p, int i, double *time_s,
                                    double *energy_j, int *id)
{
    int rc = bad_plan(p, i, "joule_planner_plan");
    if (rc)
        return rc;
    if (time_s)
        *time_s = p->fr.pts[i].time_s;
    if (energy_j)
        *energy_j = p->fr.pts[i].energy_j;
    if (id)
        *id = p->fr.pts[i].id;
    return 0;
}

JOULE_EXPORT int joule_planner_pick_deadline(const joule_planner *p, double deadline_s)
{
    int rc = unsolved(p, "joule_planner_pick_deadline");
    if (rc)
        return rc;
    int i = pl_frontier_pick_deadline(&p->fr, deadline_s);
    if (i < 0)
        return joule_set_error(JOULE_ENOENT,
                               "no plan meets the deadline %g s; the minimum iteration time "
                               "is %.6g s", deadline_s, p->fr.n ? p->fr.pts[0].time_s : 0.0);
    return i;
}

JOULE_EXPORT int joule_planner_get_report(const joule_planner *p, joule_planner_report *out)
{
    int rc = unsolved(p, "joule_planner_get_report");
    if (rc)
        return rc;
    *out = (joule_planner_report){
        .fastest_time_s = p->fr.fastest_time_s,
        .fastest_energy_j = p->fr.fastest_energy_j,
        .plans = p->fr.n,
        .steps = p->fr.steps,
        .max_flows = p->fr.iterations,
        .improve_searched = p->fr.improve_searched,
        .improve_evals = p->fr.improve_evals,
        .improve_cut = p->fr.improve_cut,
    };
    return 0;
}

JOULE_EXPORT int joule_planner_write_frontier_csv(const joule_planner *p, const char *path)
{
    int rc = unsolved(p, "joule_planner_write_frontier_csv");
    return rc ? rc : pl_write_frontier_csv_file(&p->pb, &p->fr, path);
}

JOULE_EXPORT int joule_planner_write_frontier_json(const joule_planner *p, const char *path)
{
    int rc = unsolved(p, "joule_planner_write_frontier_json");
    return rc ? rc : pl_write_frontier_json(&p->pb, &p->fr, path);
}

JOULE_EXPORT int joule_planner_write_plan_json(const joule_planner *p, int i, const char *path)
{
    int rc = bad_plan(p, i, "joule_planner_write_plan_json");
    return rc ? rc : pl_write_plan_json(&p->pb, &p->fr.pts[i], path);
}

JOULE_EXPORT int joule_planner_write_plans_dir(const joule_planner *p, const char *dir)
{
    int rc = unsolved(p, "joule_planner_write_plans_dir");
    return rc ? rc : pl_write_plans_dir(&p->pb, &p->fr, dir);
}

JOULE_EXPORT int joule_planner_write_gantt_svg(const joule_planner *p, int i, const char *path)
{
    int rc = bad_plan(p, i, "joule_planner_write_gantt_svg");
    return rc ? rc : pl_write_gantt_svg(&p->pb, &p->fr.pts[i], path);
}

JOULE_EXPORT int joule_planner_write_frontier_svg(const joule_planner *p, int highlight,
                                                  const char *path)
{
    int rc = unsolved(p, "joule_planner_write_frontier_svg");
    return rc ? rc : pl_write_frontier_svg(&p->fr, highlight, path);
}
