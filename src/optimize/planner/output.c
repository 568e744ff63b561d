/* Plan and frontier files: JSON (cJSON), CSV; reading a stage's plan. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "optimize/planner/planner.h"

static cJSON *plan_json(const pl_problem *pb, const pl_plan *p, int meta)
{
    const pl_config *c = &pb->cfg;
    const pl_dag *d = &pb->dag;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = 1;
    ok &= cJSON_AddNumberToObject(o, "plan_id", p->id) != NULL;
    ok &= cJSON_AddNumberToObject(o, "time_s", p->time_s) != NULL;
    ok &= cJSON_AddNumberToObject(o, "energy_j", p->energy_j) != NULL;
    if (meta) {
        ok &= cJSON_AddStringToObject(o, "schedule",
                                      pl_schedule_name(c->schedule)) != NULL;
        ok &= cJSON_AddNumberToObject(o, "num_stages", c->stages) != NULL;
        ok &= cJSON_AddNumberToObject(o, "num_microbatches",
                                      c->microbatches) != NULL;
        ok &= cJSON_AddNumberToObject(o, "quantum_s", c->quantum_s) != NULL;
        ok &= cJSON_AddNumberToObject(o, "blocking_power_w",
                                      c->blocking_power_w) != NULL;
    }
    ok &= cJSON_AddNumberToObject(o, "quantized_time_s",
                                  (double)p->quanta * c->quantum_s) != NULL;
    ok &= cJSON_AddNumberToObject(o, "model_energy_j", p->model_energy_j) !=
          NULL;
    if (isfinite(p->bound_j))
        ok &= cJSON_AddNumberToObject(o, "lower_bound_j", p->bound_j) != NULL;
    cJSON *stages = cJSON_AddArrayToObject(o, "stages");
    ok &= stages != NULL;
    for (int s = 0; ok && s < d->S; s++) {
        cJSON *row = cJSON_CreateArray();
        ok &= row != NULL && cJSON_AddItemToArray(stages, row);
        for (int k = 0; ok && k < 2 * d->M; k++) {
            int comp = d->stage_seq[s * 2 * d->M + k];
            const pl_option *opt = &pl_kind_of(pb, comp)->opt[p->choice[comp]];
            cJSON *e = cJSON_CreateObject();
            ok &= e != NULL && cJSON_AddItemToArray(row, e);
            if (!ok)
                break;
            ok &= cJSON_AddStringToObject(e, "instruction",
                                          pl_instr_name((comp / d->M) % 2)) !=
                  NULL;
            ok &= cJSON_AddNumberToObject(e, "microbatch", comp % d->M) != NULL;
            ok &= cJSON_AddNumberToObject(e, "frequency_mhz", opt->freq_mhz) !=
                  NULL;
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *pl_plan_to_json(const pl_problem *pb, const pl_plan *p)
{
    return plan_json(pb, p, 1);
}

static FILE *open_output(const char *path, int *rc)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f)
        *rc = pl_error(JOULE_EIO, "cannot write %s: %s", path, strerror(errno));
    return f;
}

static int write_json(cJSON *o, const char *path)
{
    char *text = cJSON_PrintUnformatted(o);
    if (!text)
        return pl_error(JOULE_ENOMEM, "out of memory writing %s", path);
    int rc = 0;
    FILE *f = open_output(path, &rc);
    if (f) {
        fputs(text, f);
        fputc('\n', f);
        rc = pl_close_output(f, path);
    }
    cJSON_free(text);
    return rc;
}

int pl_write_plan_json(const pl_problem *pb, const pl_plan *p,
                       const char *path)
{
    cJSON *o = plan_json(pb, p, 1);
    if (!o)
        return pl_error(JOULE_ENOMEM, "out of memory writing %s", path);
    int rc = write_json(o, path);
    cJSON_Delete(o);
    return rc;
}

int pl_write_frontier_json(const pl_problem *pb, const pl_frontier *f,
                           const char *path)
{
    const pl_config *c = &pb->cfg;
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "schedule",
                                       pl_schedule_name(c->schedule));
    ok = ok && cJSON_AddNumberToObject(o, "num_stages", c->stages);
    ok = ok && cJSON_AddNumberToObject(o, "num_microbatches", c->microbatches);
    ok = ok && cJSON_AddNumberToObject(o, "quantum_s", c->quantum_s);
    ok = ok && cJSON_AddNumberToObject(o, "blocking_power_w",
                                       c->blocking_power_w);
    ok = ok && cJSON_AddNumberToObject(o, "fastest_time_s", f->fastest_time_s);
    ok = ok && cJSON_AddNumberToObject(o, "fastest_energy_j",
                                       f->fastest_energy_j);
    cJSON *arr = ok ? cJSON_AddArrayToObject(o, "frontier") : NULL;
    ok = ok && arr;
    for (int i = 0; ok && i < f->n; i++) {
        cJSON *p = plan_json(pb, &f->pts[i], 0);
        ok = p && cJSON_AddItemToArray(arr, p);
    }
    if (!ok) {
        cJSON_Delete(o);
        return pl_error(JOULE_ENOMEM, "out of memory writing %s", path);
    }
    int rc = write_json(o, path);
    cJSON_Delete(o);
    return rc;
}

int pl_write_plans_dir(const pl_problem *pb, const pl_frontier *f,
                       const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return pl_error(JOULE_EIO, "cannot create directory %s: %s", dir,
                        strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return pl_error(JOULE_EIO, "%s is not a directory", dir);
    size_t n = strlen(dir) + 32;
    char *path = malloc(n);
    if (!path)
        return pl_error(JOULE_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        snprintf(path, n, "%s/plan_%04d.json", dir, f->pts[i].id);
        rc = pl_write_plan_json(pb, &f->pts[i], path);
    }
    free(path);
    return rc;
}

int pl_write_frontier_csv(const pl_problem *pb, const pl_frontier *f,
                          FILE *out)
{
    double q = pb->cfg.quantum_s;
    fprintf(out, "plan_id,time_s,energy_j,quantized_time_s,model_energy_j,"
                 "lower_bound_j\n");
    for (int i = 0; i < f->n; i++) {
        const pl_plan *p = &f->pts[i];
        fprintf(out, "%d,%.12g,%.12g,%.12g,%.12g,%.12g\n", p->id, p->time_s,
                p->energy_j, (double)p->quanta * q, p->model_energy_j,
                p->bound_j);
    }
    return ferror(out) ? pl_error(JOULE_EIO, "error writing the frontier CSV")
                       : 0;
}

int pl_write_frontier_csv_file(const pl_problem *pb, const pl_frontier *f,
                               const char *path)
{
    int rc = 0;
    FILE *out = open_output(path, &rc);
    if (!out)
        return rc;
    pl_write_frontier_csv(pb, f, out);
    return pl_close_output(out, path);
}

/* ---- reading a plan ------------------------------------------------------------ */

static char *slurp(const char *path, int *rc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = pl_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
                       "cannot open plan %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) {
        *rc = pl_error(JOULE_ENOMEM, "out of memory reading %s", path);
        return NULL;
    }
    if (err) {
        free(buf);
        *rc = pl_error(JOULE_EIO, "error reading plan %s", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

void pl_stage_plan_free(pl_stage_plan *sp)
{
    if (!sp)
        return;
    free(sp->steps);
    memset(sp, 0, sizeof *sp);
}

int pl_stage_plan_read(const char *path, int stage, pl_stage_plan *out)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    char *text = slurp(path, &rc);
    if (!text)
        return rc;
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        if (at)
            for (const char *p = text; p < at && *p; p++)
                line += *p == '\n';
        free(text);
        return pl_error(JOULE_EINVAL, "%s, line %d: not valid JSON", path,
                        line);
    }
    free(text);
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (!cJSON_IsArray(stages)) {
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(root, "frontier");
        if (cJSON_IsArray(fr))
            rc = pl_error(JOULE_EINVAL,
                          "%s holds a whole frontier (%d plans), not one "
                          "plan: pick one with `joule plan --at "
                          "min-energy-no-slowdown` or `--deadline S`, or use "
                          "a file written by --plans",
                          path, cJSON_GetArraySize(fr));
        else
            rc = pl_error(JOULE_EINVAL,
                          "%s: no \"stages\" array (not a plan written by "
                          "`joule plan --json`)",
                          path);
        goto done;
    }
    int ns = cJSON_GetArraySize(stages);
    if (stage < 0 || stage >= ns) {
        rc = pl_error(JOULE_EINVAL, "%s: stage %d is out of range; the plan "
                      "has %d stages (0..%d)", path, stage, ns, ns - 1);
        goto done;
    }
    const cJSON *seq = cJSON_GetArrayItem(stages, stage);
    int n = cJSON_IsArray(seq) ? cJSON_GetArraySize(seq) : -1;
    if (n <= 0) {
        rc = pl_error(JOULE_EINVAL, "%s: stage %d has no computations", path,
                      stage);
        goto done;
    }
    out->steps = calloc((size_t)n, sizeof *out->steps);
    if (!out->steps) {
        rc = pl_error(JOULE_ENOMEM, "out of memory reading %s", path);
        goto done;
    }
    out->n = n;
    out->num_stages = ns;
    for (int k = 0; k < n; k++) {
        const cJSON *e = cJSON_GetArrayItem(seq, k);
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(e, "instruction");
        const cJSON *mb = cJSON_GetObjectItemCaseSensitive(e, "microbatch");
        const cJSON *fq = cJSON_GetObjectItemCaseSensitive(e, "frequency_mhz");
        int instr = cJSON_IsString(ins) ? pl_instr_parse(ins->valuestring) : -1;
        if (instr < 0 || !cJSON_IsNumber(mb) || !cJSON_IsNumber(fq) ||
            fq->valuedouble < 1 || fq->valuedouble > 1e6 ||
            fq->valuedouble != floor(fq->valuedouble) || mb->valuedouble < 0) {
            rc = pl_error(JOULE_EINVAL,
                          "%s: stage %d, computation %d: expected "
                          "{\"instruction\": \"forward\"|\"backward\", "
                          "\"microbatch\": N, \"frequency_mhz\": MHz}",
                          path, stage, k);
            pl_stage_plan_free(out);
            goto done;
        }
        out->steps[k].instr = instr;
        out->steps[k].mb = (int)mb->valuedouble;
        out->steps[k].freq_mhz = (int)fq->valuedouble;
    }
done:
    cJSON_Delete(root);
    return rc;
}
