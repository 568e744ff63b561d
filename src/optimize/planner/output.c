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
        *rc = joule_set_error(JOULE_EIO, "cannot write %s: %s", path, strerror(errno));
    return f;
}

static int write_json(cJSON *o, const char *path)
{
    char *text = cJSON_PrintUnformatted(o);
    if (!text)
        return joule_set_error(JOULE_ENOMEM, "out of memory writing %s", path);
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
        return joule_set_error(JOULE_ENOMEM, "out of memory writing %s", path);
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
        return joule_set_error(JOULE_ENOMEM, "out of memory writing %s", path);
    }
    int rc = write_json(o, path);
    cJSON_Delete(o);
    return rc;
}

int pl_write_plans_dir(const pl_problem *pb, const pl_frontier *f,
                       const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return joule_set_error(JOULE_EIO, "cannot create directory %s: %s", dir,
                        strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return joule_set_error(JOULE_EIO, "%s is not a directory", dir);
    size_t n = strlen(dir) + 32;
    char *path = malloc(n);
    if (!path)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
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
    return ferror(out) ? joule_set_error(JOULE_EIO, "error writing the frontier CSV")
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

static char *slurp(const char *path, size_t *len_out, int *rc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
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
        *rc = joule_set_error(JOULE_ENOMEM, "out of memory reading %s", path);
        return NULL;
    }
    if (err) {
        free(buf);
        *rc = joule_set_error(JOULE_EIO, "error reading plan %s", path);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* Line and column (1-based) of position `at` in text. */
static void position(const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* The whole file is one JSON value: a parse error, or anything but
 * whitespace after the value, names the line and column. */
static cJSON *parse_plan(const char *path, const char *text, size_t len, int *rc)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    const char *bad = root ? end + strspn(end, " \t\r\n") : cJSON_GetErrorPtr();
    if (root && bad == text + len)
        return root;
    int line, col;
    position(text, bad && bad >= text && bad <= text + len ? bad : text + len, &line, &col);
    *rc = joule_set_error(JOULE_EINVAL, "%s, line %d, column %d: %s", path, line, col,
                   root ? "text after the plan's JSON value" : "not valid JSON");
    cJSON_Delete(root);
    return NULL;
}

/* A JSON number that is a whole number in [lo, hi]. */
static int whole_in(const cJSON *x, double lo, double hi)
{
    return cJSON_IsNumber(x) && x->valuedouble >= lo && x->valuedouble <= hi &&
           x->valuedouble == floor(x->valuedouble);
}

void pl_stage_plan_free(pl_stage_plan *sp)
{
    if (!sp)
        return;
    free(sp->steps);
    memset(sp, 0, sizeof *sp);
}

/* Reads one stage's sequence in one pass over its array (indexing a cJSON
 * array walks it from the start: 100k steps took a minute). */
static int read_steps(const char *path, int stage, const cJSON *seq, pl_stage_plan *out)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, seq)
        n++;
    if (n == 0)
        return joule_set_error(JOULE_EINVAL, "%s: stage %d has no computations", path, stage);
    out->steps = calloc((size_t)n, sizeof *out->steps);
    if (!out->steps)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading %s", path);
    out->n = n;
    int k = 0;
    cJSON_ArrayForEach(e, seq) {
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(e, "instruction");
        const cJSON *mb = cJSON_GetObjectItemCaseSensitive(e, "microbatch");
        const cJSON *fq = cJSON_GetObjectItemCaseSensitive(e, "frequency_mhz");
        int instr = cJSON_IsString(ins) ? pl_instr_parse(ins->valuestring) : -1;
        if (instr < 0 || !mb || !fq)
            return joule_set_error(JOULE_EINVAL,
                            "%s: stages[%d][%d]: expected {\"instruction\": "
                            "\"forward\"|\"backward\", \"microbatch\": N, "
                            "\"frequency_mhz\": MHz}", path, stage, k);
        if (!whole_in(mb, 0, PL_MAX_COMPUTATIONS - 1))
            return joule_set_error(JOULE_EINVAL,
                            "%s: stages[%d][%d].microbatch %.17g is not a whole number "
                            "from 0 to %d", path, stage, k,
                            cJSON_IsNumber(mb) ? mb->valuedouble : NAN,
                            PL_MAX_COMPUTATIONS - 1);
        if (!whole_in(fq, 1, 1e6))
            return joule_set_error(JOULE_EINVAL,
                            "%s: stages[%d][%d].frequency_mhz %.17g is not a whole "
                            "number of MHz from 1 to 1000000", path, stage, k,
                            cJSON_IsNumber(fq) ? fq->valuedouble : NAN);
        out->steps[k].instr = instr;
        out->steps[k].mb = (int)mb->valuedouble;
        out->steps[k].freq_mhz = (int)fq->valuedouble;
        k++;
    }
    return 0;
}

int pl_stage_plan_read(const char *path, int stage, pl_stage_plan *out)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    size_t len = 0;
    char *text = slurp(path, &len, &rc);
    if (!text)
        return rc;
    cJSON *root = parse_plan(path, text, len, &rc);
    free(text);
    if (!root)
        return rc;
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (!cJSON_IsArray(stages)) {
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(root, "frontier");
        if (cJSON_IsArray(fr))
            rc = joule_set_error(JOULE_EINVAL,
                          "%s holds a whole frontier (%d plans), not one "
                          "plan: pick one with `joule plan --at "
                          "min-energy-no-slowdown` or `--deadline S`, or use "
                          "a file written by --plans",
                          path, cJSON_GetArraySize(fr));
        else
            rc = joule_set_error(JOULE_EINVAL,
                          "%s: no \"stages\" array (not a plan written by "
                          "`joule plan --json`)",
                          path);
        goto done;
    }
    int ns = 0;
    const cJSON *seq = NULL, *s;
    cJSON_ArrayForEach(s, stages) {
        if (ns == stage)
            seq = s;
        ns++;
    }
    if (!seq) {
        rc = joule_set_error(JOULE_EINVAL, "%s: stage %d is out of range; the plan "
                      "has %d stages (0..%d)", path, stage, ns, ns - 1);
        goto done;
    }
    if (!cJSON_IsArray(seq)) {
        rc = joule_set_error(JOULE_EINVAL, "%s: stages[%d] is not an array of computations", path,
                      stage);
        goto done;
    }
    out->num_stages = ns;
    rc = read_steps(path, stage, seq, out);
    if (rc)
        pl_stage_plan_free(out);
done:
    cJSON_Delete(root);
    return rc;
}
