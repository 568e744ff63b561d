/* The batch-size optimizer as a service (/v1/bso/...): jobs on many nodes
 * share one database through jouled (docs/daemon.md). Each request opens
 * the job through the public API (joule/bso.h), which does one SQLite
 * transaction; nothing here keeps state between requests. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/bso.h>

#include "request.h"
#include "routes.h"

#define SPEC_KEYS                                                                                  \
    "job,batch_sizes,default_batch_size,eta,beta,max_power_w,target_metric,"                      \
    "higher_metric_is_better,max_epochs,num_pruning_rounds,mab_num_explorations,window_size,"     \
    "prune_factor,seed"

static const char *db_path(struct jd_call *c, char *buf, size_t len)
{
    const struct jd_config *cfg = &c->d->cfg;
    if (cfg->bso_db[0])
        return cfg->bso_db;
    snprintf(buf, len, "%s/joule.db", cfg->state_dir);
    return buf;
}

/* A library failure as a status with its message. */
static void reply_rc(struct jd_call *c, int rc)
{
    int status = rc == JOULE_ENOENT   ? 404
                 : rc == JOULE_EEXIST ? 409
                 : rc == JOULE_EBUSY  ? 503
                                      : req_http_status(rc);
    jd_reply_error(c->resp, status, "%s", joule_last_error());
}

/* The {id} segment, percent-decoded: the job's name. */
static int job_name(struct jd_call *c, char *out, size_t len)
{
    const char *s = c->gpu_id ? c->gpu_id : "";
    size_t o = 0;
    for (; *s && o + 1 < len; s++) {
        if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char hex[3] = {s[1], s[2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    if (!o || *s || memchr(out, '\0', o) != NULL) {
        jd_reply_error(c->resp, 400, "bad job name in the path (1..127 bytes, percent-encoded)");
        return -1;
    }
    return 0;
}

static joule_bso *attach(struct jd_call *c)
{
    char job[128], buf[512];
    if (job_name(c, job, sizeof(job)) < 0)
        return NULL;
    joule_bso *b = NULL;
    int rc = joule_bso_attach(job, db_path(c, buf, sizeof(buf)), &b);
    if (rc < 0)
        reply_rc(c, rc);
    return b;
}

/* Answers with the job as JSON and closes it. */
static void reply_state(struct jd_call *c, joule_bso *b)
{
    char *state = NULL;
    int rc = joule_bso_state_json(b, &state);
    joule_bso_close(b);
    if (rc < 0)
        reply_rc(c, rc);
    else
        jd_reply_json(c->resp, 200, cJSON_Parse(state));
    free(state);
}

void route_bso_job(struct jd_call *c)
{
    if (req_check_query(c, ""))
        return;
    cJSON *body = req_body(c, SPEC_KEYS, 0);
    if (!body)
        return;
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    joule_bso_spec *spec = NULL;
    int rc = text ? joule_bso_spec_from_json(text, &spec) : JOULE_ENOMEM;
    free(text);
    if (rc < 0) {
        jd_reply_error(c->resp, 400, "bad job spec: %s", joule_last_error());
        return;
    }
    char buf[512];
    joule_bso *b = NULL;
    rc = joule_bso_open(spec, db_path(c, buf, sizeof(buf)), &b);
    joule_bso_spec_destroy(spec);
    if (rc < 0) {
        reply_rc(c, rc);
        return;
    }
    reply_state(c, b);
}

void route_bso_state(struct jd_call *c)
{
    if (req_check_query(c, ""))
        return;
    joule_bso *b = attach(c);
    if (b)
        reply_state(c, b);
}

void route_bso_trial(struct jd_call *c)
{
    if (req_check_query(c, ""))
        return;
    cJSON *body = req_body(c, "", 1);
    if (!body)
        return;
    cJSON_Delete(body);
    joule_bso *b = attach(c);
    if (!b)
        return;
    int trial, bs;
    int rc = joule_bso_next(b, &trial, &bs);
    joule_bso_close(b);
    if (rc < 0) {
        reply_rc(c, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "trial", trial);
    cJSON_AddNumberToObject(o, "batch_size", bs);
    jd_reply_json(c->resp, 200, o);
}

void route_bso_epoch(struct jd_call *c)
{
    if (req_check_query(c, ""))
        return;
    cJSON *body = req_body(c, "trial,epoch,time_s,energy_j,metric", 0);
    if (!body)
        return;
    int trial = 0, epoch = 0;
    double time_s = 0, energy_j = 0, metric = 0;
    int bad = req_int(c, body, "trial", 1, 1, 1 << 30, "", &trial) ||
              req_int(c, body, "epoch", 1, 1, 1 << 30, "", &epoch) ||
              req_number(c, body, "time_s", 1, 0, 1e12, "s", &time_s) ||
              req_number(c, body, "energy_j", 1, 0, 1e18, "J", &energy_j) ||
              req_number(c, body, "metric", 1, -1e300, 1e300, "", &metric);
    cJSON_Delete(body);
    if (bad)
        return;
    joule_bso *b = attach(c);
    if (!b)
        return;
    int verdict = 0;
    int rc = joule_bso_epoch(b, trial, epoch, time_s, energy_j, metric, &verdict);
    joule_bso_close(b);
    if (rc < 0) {
        reply_rc(c, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "trial", trial);
    cJSON_AddStringToObject(o, "verdict", joule_bso_verdict_name(verdict));
    cJSON_AddBoolToObject(o, "stop", verdict != JOULE_BSO_CONTINUE);
    cJSON_AddBoolToObject(o, "converged", verdict == JOULE_BSO_CONVERGED);
    jd_reply_json(c->resp, 200, o);
}

void route_bso_end(struct jd_call *c)
{
    if (req_check_query(c, ""))
        return;
    cJSON *body = req_body(c, "trial,time_s,energy_j,converged", 0);
    if (!body)
        return;
    int trial = 0, converged = 0;
    double time_s = 0, energy_j = 0;
    int bad = req_int(c, body, "trial", 1, 1, 1 << 30, "", &trial) ||
              req_number(c, body, "time_s", 1, 0, 1e12, "s", &time_s) ||
              req_number(c, body, "energy_j", 1, 0, 1e18, "J", &energy_j) ||
              req_bool(c, body, "converged", 1, &converged);
    cJSON_Delete(body);
    if (bad)
        return;
    joule_bso *b = attach(c);
    if (!b)
        return;
    int rc = joule_bso_end(b, trial, time_s, energy_j, converged);
    joule_bso_close(b);
    if (rc < 0) {
        reply_rc(c, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "trial", trial);
    cJSON_AddBoolToObject(o, "ended", 1);
    jd_reply_json(c->resp, 200, o);
}
