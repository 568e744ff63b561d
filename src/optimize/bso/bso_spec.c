/* A batch-size job's spec: defaults, checks, canonical JSON, comparison. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "optimize/bso/bso_job.h"

void bso_spec_defaults(struct bso_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->eta = 0.5;
    s->beta = 2.0;
    s->max_epochs = 100;
    s->higher_is_better = true;
    s->target_metric = NAN;
    bso_policy_defaults(&s->policy);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int bso_spec_check(const struct bso_spec *s)
{
    size_t len = strnlen(s->job, sizeof(s->job));
    if (len == 0 || len >= sizeof(s->job))
        return joule_set_error(JOULE_EINVAL, "job: a name of 1..%d bytes is needed",
                               BSO_JOB_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s->job[i] < 0x20 || s->job[i] == 0x7f)
            return joule_set_error(JOULE_EINVAL, "job: control characters are not allowed");
    if (s->nsizes < 1 || s->nsizes > BSO_MAX_SIZES)
        return joule_set_error(JOULE_EINVAL, "batch_sizes: 1..%d sizes are needed, not %d",
                               BSO_MAX_SIZES, s->nsizes);
    int sorted[BSO_MAX_SIZES];
    memcpy(sorted, s->sizes, (size_t)s->nsizes * sizeof(int));
    qsort(sorted, (size_t)s->nsizes, sizeof(int), cmp_int);
    bool has_default = false;
    for (int i = 0; i < s->nsizes; i++) {
        if (sorted[i] <= 0)
            return joule_set_error(JOULE_EINVAL, "batch_sizes: %d is not a positive size",
                                   sorted[i]);
        if (i && sorted[i] == sorted[i - 1])
            return joule_set_error(JOULE_EINVAL, "batch_sizes: %d appears twice", sorted[i]);
        has_default |= sorted[i] == s->default_bs;
    }
    if (!has_default)
        return joule_set_error(JOULE_EINVAL,
                               "default_batch_size: %d is not one of the batch sizes",
                               s->default_bs);
    if (!(s->eta >= 0 && s->eta <= 1))
        return joule_set_error(JOULE_EINVAL, "eta: must be within [0, 1], not %g", s->eta);
    if (!(s->beta >= 1))
        return joule_set_error(JOULE_EINVAL, "beta: must be >= 1 (inf: never stop early), not %g",
                               s->beta);
    if (!(s->max_power_w > 0) || !isfinite(s->max_power_w))
        return joule_set_error(JOULE_EINVAL,
                               "max_power_w: the highest power limit x GPUs, > 0 W, not %g",
                               s->max_power_w);
    if (!isfinite(s->target_metric))
        return joule_set_error(JOULE_EINVAL, "target_metric: a finite number is needed");
    if (s->max_epochs < 1)
        return joule_set_error(JOULE_EINVAL, "max_epochs: must be >= 1, not %d", s->max_epochs);
    if (s->policy.pruning_rounds < 1 || s->policy.pruning_rounds > 16)
        return joule_set_error(JOULE_EINVAL, "num_pruning_rounds: 1..16, not %u",
                               s->policy.pruning_rounds);
    if (s->policy.mab_explorations < 1 || s->policy.mab_explorations > 100)
        return joule_set_error(JOULE_EINVAL, "mab_num_explorations: 1..100, not %u",
                               s->policy.mab_explorations);
    if (s->policy.window > 1000000)
        return joule_set_error(JOULE_EINVAL, "window_size: 0..1000000, not %u", s->policy.window);
    if (!(s->policy.prune_factor == 0 || s->policy.prune_factor > 1) ||
        !isfinite(s->policy.prune_factor))
        return joule_set_error(JOULE_EINVAL, "prune_factor: > 1 or 0 (off), not %g",
                               s->policy.prune_factor);
    return 0;
}

char *bso_spec_json(const struct bso_spec *s)
{
    int sorted[BSO_MAX_SIZES];
    memcpy(sorted, s->sizes, (size_t)s->nsizes * sizeof(int));
    qsort(sorted, (size_t)s->nsizes, sizeof(int), cmp_int);
    char seed[32];
    snprintf(seed, sizeof(seed), "%" PRIu64, s->policy.seed);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", s->job);
    cJSON_AddItemToObject(o, "batch_sizes", cJSON_CreateIntArray(sorted, s->nsizes));
    cJSON_AddNumberToObject(o, "default_batch_size", s->default_bs);
    cJSON_AddNumberToObject(o, "eta", s->eta);
    if (isfinite(s->beta))
        cJSON_AddNumberToObject(o, "beta", s->beta);
    else
        cJSON_AddStringToObject(o, "beta", "inf");
    cJSON_AddNumberToObject(o, "max_power_w", s->max_power_w);
    cJSON_AddNumberToObject(o, "target_metric", s->target_metric);
    cJSON_AddBoolToObject(o, "higher_metric_is_better", s->higher_is_better);
    cJSON_AddNumberToObject(o, "max_epochs", s->max_epochs);
    cJSON_AddNumberToObject(o, "num_pruning_rounds", s->policy.pruning_rounds);
    cJSON_AddNumberToObject(o, "mab_num_explorations", s->policy.mab_explorations);
    cJSON_AddNumberToObject(o, "window_size", s->policy.window);
    cJSON_AddNumberToObject(o, "prune_factor", s->policy.prune_factor);
    cJSON_AddStringToObject(o, "seed", seed);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static int num(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v) && strcmp(v->valuestring, "inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (!cJSON_IsNumber(v))
        return joule_set_error(JOULE_EINVAL, "%s: a number is needed", key);
    *out = v->valuedouble;
    return 0;
}

static int whole(const cJSON *o, const char *key, double lo, double hi, double *out)
{
    int rc = num(o, key, out);
    if (rc == 0 && (*out != floor(*out) || *out < lo || *out > hi))
        rc = joule_set_error(JOULE_EINVAL, "%s: a whole number in %g..%g is needed", key, lo, hi);
    return rc;
}

int bso_spec_parse(const char *json, struct bso_spec *s)
{
    bso_spec_defaults(s);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return joule_set_error(JOULE_EINVAL, "the job spec is not a JSON object");
    }
    int rc = 0;
    double v;
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(o, "job");
    const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(o, "batch_sizes");
    if (!cJSON_IsString(job))
        rc = joule_set_error(JOULE_EINVAL, "job: a string is needed");
    else
        snprintf(s->job, sizeof(s->job), "%s", job->valuestring);
    if (rc == 0 && (!cJSON_IsArray(sizes) || cJSON_GetArraySize(sizes) > BSO_MAX_SIZES))
        rc = joule_set_error(JOULE_EINVAL, "batch_sizes: an array of at most %d sizes is needed",
                             BSO_MAX_SIZES);
    const cJSON *e;
    if (rc == 0)
        cJSON_ArrayForEach(e, sizes)
        {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                e->valuedouble < 1 || e->valuedouble > 1e9) {
                rc = joule_set_error(JOULE_EINVAL, "batch_sizes: whole sizes 1..1e9 are needed");
                break;
            }
            s->sizes[s->nsizes++] = (int)e->valuedouble;
        }
    if (rc == 0 && (rc = whole(o, "default_batch_size", 1, 1e9, &v)) == 0)
        s->default_bs = (int)v;
    if (rc == 0)
        rc = num(o, "eta", &s->eta);
    if (rc == 0)
        rc = num(o, "beta", &s->beta);
    if (rc == 0)
        rc = num(o, "max_power_w", &s->max_power_w);
    if (rc == 0)
        rc = num(o, "target_metric", &s->target_metric);
    const cJSON *hib = cJSON_GetObjectItemCaseSensitive(o, "higher_metric_is_better");
    if (rc == 0 && hib && !cJSON_IsBool(hib))
        rc = joule_set_error(JOULE_EINVAL, "higher_metric_is_better: true or false is needed");
    if (rc == 0 && hib)
        s->higher_is_better = cJSON_IsTrue(hib);
    if (rc == 0 && (rc = whole(o, "max_epochs", 1, 1e9, &v)) == 0)
        s->max_epochs = (int)v;
    if (rc == 0 && (rc = whole(o, "num_pruning_rounds", 1, 16, &v)) == 0)
        s->policy.pruning_rounds = (unsigned)v;
    if (rc == 0 && (rc = whole(o, "mab_num_explorations", 1, 100, &v)) == 0)
        s->policy.mab_explorations = (unsigned)v;
    if (rc == 0 && (rc = whole(o, "window_size", 0, 1e6, &v)) == 0)
        s->policy.window = (unsigned)v;
    if (rc == 0)
        rc = num(o, "prune_factor", &s->policy.prune_factor);
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (rc == 0) {
        char *end = NULL;
        if (cJSON_IsString(seed))
            s->policy.seed = strtoull(seed->valuestring, &end, 10);
        if (!end || *end || !*seed->valuestring)
            rc = joule_set_error(JOULE_EINVAL, "seed: a whole number (as a string) is needed");
    }
    cJSON_Delete(o);
    return rc < 0 ? rc : bso_spec_check(s);
}

const char *bso_spec_diff(const struct bso_spec *a, const struct bso_spec *b)
{
    static const char *const fields[] = {"job",           "batch_sizes",
                                         "default_batch_size", "eta",
                                         "beta",          "max_power_w",
                                         "target_metric", "higher_metric_is_better",
                                         "max_epochs",    "num_pruning_rounds",
                                         "mab_num_explorations", "window_size",
                                         "prune_factor",  "seed"};
    char *ja = bso_spec_json(a), *jb = bso_spec_json(b);
    cJSON *oa = cJSON_Parse(ja), *ob = cJSON_Parse(jb);
    free(ja);
    free(jb);
    const char *diff = NULL;
    for (size_t i = 0; !diff && i < sizeof(fields) / sizeof(fields[0]); i++)
        if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(oa, fields[i]),
                           cJSON_GetObjectItemCaseSensitive(ob, fields[i]), true))
            diff = fields[i];
    cJSON_Delete(oa);
    cJSON_Delete(ob);
    return diff;
}
