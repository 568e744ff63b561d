#include "optimize/bso/bso_state.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

char *bso_state_json(const struct bso_job *j)
{
    char *spec = bso_spec_json(&j->spec);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", j->spec.job);
    cJSON_AddItemToObject(o, "spec", spec ? cJSON_Parse(spec) : cJSON_CreateNull());
    free(spec);
    cJSON_AddNumberToObject(o, "best_batch_size", j->policy ? bso_policy_best(j->policy) : 0);
    cJSON *arr = cJSON_AddArrayToObject(o, "trials");
    for (size_t i = 0; i < j->n; i++) {
        const struct bso_trial *t = &j->t[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "trial", t->trial);
        cJSON_AddNumberToObject(e, "batch_size", t->bs);
        cJSON_AddStringToObject(e, "status", bso_status_name(t->status));
        cJSON_AddStringToObject(e, "verdict", bso_verdict_name((enum bso_verdict)t->verdict));
        cJSON_AddNumberToObject(e, "epochs", t->epochs);
        cJSON_AddNumberToObject(e, "time_s", t->time_s);
        cJSON_AddNumberToObject(e, "energy_j", t->energy_j);
        cJSON_AddNumberToObject(e, "cost", t->cost);
        cJSON_AddItemToArray(arr, e);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int bso_state_parse(const char *json, struct bso_job *j, int *best_bs)
{
    memset(j, 0, sizeof(*j));
    cJSON *o = cJSON_Parse(json);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
    const cJSON *trials = cJSON_GetObjectItemCaseSensitive(o, "trials");
    int rc = 0;
    if (!cJSON_IsObject(spec) || !cJSON_IsArray(trials)) {
        rc = joule_set_error(JOULE_EIO, "jouled's batch-size job is not the expected JSON");
    } else {
        char *text = cJSON_PrintUnformatted(spec);
        rc = text ? bso_spec_parse(text, &j->spec) : joule_set_error(JOULE_ENOMEM, "out of memory");
        free(text);
    }
    int n = rc == 0 ? cJSON_GetArraySize(trials) : 0;
    if (n > 0 && !(j->t = calloc((size_t)n, sizeof(*j->t))))
        rc = joule_set_error(JOULE_ENOMEM, "out of memory");
    const cJSON *e;
    if (rc == 0)
        cJSON_ArrayForEach(e, trials)
        {
            struct bso_trial *t = &j->t[j->n];
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "status");
            int status = cJSON_IsString(st) ? bso_status_parse(st->valuestring) : -1;
            t->trial = (int)num(e, "trial");
            t->bs = (int)num(e, "batch_size");
            t->epochs = (int)num(e, "epochs");
            t->time_s = num(e, "time_s");
            t->energy_j = num(e, "energy_j");
            t->cost = num(e, "cost");
            if (status < 0 || t->trial < 1 || t->bs < 1) {
                rc = joule_set_error(JOULE_EIO, "jouled's batch-size job has a malformed trial");
                break;
            }
            t->status = (enum bso_status)status;
            j->n++;
        }
    j->cap = j->n;
    if (best_bs)
        *best_bs = (int)num(o, "best_batch_size");
    cJSON_Delete(o);
    if (rc < 0) {
        free(j->t);
        memset(j, 0, sizeof(*j));
    }
    return rc;
}
