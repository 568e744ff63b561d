/* The simulation's JSON report. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <joule/bso.h>

#include "base/error.h"
#include "base/export.h"
#include "optimize/bso/bso_sim_api.h"

static cJSON *point(const struct bso_sim_point *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "batch_size", p->bs);
    cJSON_AddNumberToObject(o, "power_limit_w", p->pl_w);
    cJSON_AddNumberToObject(o, "eta_j", p->eta_j);
    cJSON_AddNumberToObject(o, "tta_s", p->tta_s);
    return o;
}

static cJSON *report(const joule_bso_sim *s)
{
    const struct bso_sim_result *r = &s->result;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "workload", s->w->name);
    cJSON_AddNumberToObject(root, "eta", s->params.eta);
    if (isfinite(s->params.beta))
        cJSON_AddNumberToObject(root, "beta", s->params.beta);
    else
        cJSON_AddStringToObject(root, "beta", "inf");
    cJSON_AddNumberToObject(root, "seed", (double)s->params.seed);
    cJSON_AddNumberToObject(root, "recurrences", r->recurrences);
    cJSON_AddNumberToObject(root, "max_power_w", s->trace.max_power_w);
    cJSON_AddItemToObject(root, "default", point(&r->def));
    cJSON_AddItemToObject(root, "oracle", point(&r->oracle));
    cJSON *l = cJSON_AddObjectToObject(root, "last10");
    cJSON_AddNumberToObject(l, "eta_j", r->last10_eta_j);
    cJSON_AddNumberToObject(l, "tta_s", r->last10_tta_s);
    cJSON_AddNumberToObject(l, "saved_pct", r->last10_saved_pct);
    cJSON *c = cJSON_AddObjectToObject(root, "cumulative");
    cJSON_AddNumberToObject(c, "energy_j", r->energy_j);
    cJSON_AddNumberToObject(c, "default_energy_j", r->default_energy_j);
    cJSON_AddNumberToObject(c, "saved_pct", r->cumulative_saved_pct);
    cJSON_AddNumberToObject(root, "unconverged_recurrences", r->gave_up);
    cJSON *runs = cJSON_AddArrayToObject(root, "runs");
    for (unsigned i = 0; i < r->nruns; i++) {
        const struct bso_sim_run *x = &r->runs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "recurrence", x->recurrence);
        cJSON_AddNumberToObject(o, "batch_size", x->bs);
        cJSON_AddNumberToObject(o, "power_limit_w", x->pl_w);
        cJSON_AddNumberToObject(o, "energy_j", x->energy_j);
        cJSON_AddNumberToObject(o, "time_s", x->time_s);
        cJSON_AddBoolToObject(o, "reached", x->reached);
        cJSON_AddBoolToObject(o, "profiled_power", x->profiled);
        cJSON_AddStringToObject(o, "stage", x->pruning ? "pruning" : "sampling");
        cJSON_AddItemToArray(runs, o);
    }
    return root;
}

JOULE_EXPORT int joule_bso_sim_write_json(const joule_bso_sim *s, FILE *f)
{
    if (!s || !f)
        return joule_set_error(JOULE_EINVAL, "joule_bso_sim_write_json: no simulation or file");
    if (!s->ran)
        return joule_set_error(JOULE_EINVAL, "the simulation has not run (joule_bso_sim_run)");
    cJSON *root = report(s);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return joule_set_error(JOULE_ENOMEM, "out of memory writing the report");
    errno = 0;
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0;
    free(text);
    return ok ? 0
              : joule_set_error(JOULE_EIO, "writing the report failed: %s",
                                strerror(errno ? errno : EIO));
}
