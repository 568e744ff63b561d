/* `joule plan`'s summary: the fastest and cheapest plans, the frontier
 * and the search, and the chosen plan. */
#ifndef JOULE_CLI_PLAN_REPORT_H
#define JOULE_CLI_PLAN_REPORT_H

#include <stdio.h>

#include <joule/planner.h>

/* chosen: a plan index or -1; chosen_by: "deadline", "min-energy", ...
 * (what picked it; NULL when chosen is -1). */
void plan_print_summary(FILE *out, const joule_planner *pl, const joule_planner_options *cfg,
                        const joule_planner_report *rep, double solve_s, int chosen,
                        const char *chosen_by);

#endif
