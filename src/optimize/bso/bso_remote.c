#include "optimize/bso/bso_remote.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "client/daemon_client.h"
#include "optimize/bso/bso_state.h"

bool bso_remote_configured(void)
{
    /* Named explicitly only: a job does not move to the default socket's
     * daemon just because one runs on the machine. */
    const char *env = getenv("JOULE_DAEMON");
    return env && (!strncmp(env, "unix:", 5) || !strncmp(env, "tcp:", 4));
}

/* /v1/bso/jobs/{job}/tail with the job name percent-encoded. */
static void job_path(char *buf, size_t len, const char *job, const char *tail)
{
    size_t o = (size_t)snprintf(buf, len, "/v1/bso/jobs/");
    for (const unsigned char *p = (const unsigned char *)job; *p && o + 4 < len; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            buf[o++] = (char)*p;
        else
            o += (size_t)snprintf(buf + o, len - o, "%%%02X", *p);
    }
    snprintf(buf + o, len - o, "%s", tail);
}

/* One request; *out gets the parsed 2xx body (may be NULL). */
static int call(const char *method, const char *path, cJSON *body, const char *what, cJSON **out)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    char *resp = NULL;
    int status = daemon_client_request(method, path, text, &resp);
    free(text);
    if (status < 0) {
        free(resp);
        return joule_wrap_error(status, "batch-size optimizer via jouled (%s)", what);
    }
    int rc = daemon_client_error(status, resp, what);
    if (rc == 0 && out) {
        *out = cJSON_Parse(resp ? resp : "");
        if (!*out)
            rc = joule_set_error(JOULE_EIO, "jouled answered %s with something not JSON", what);
    }
    free(resp);
    return rc;
}

int bso_remote_join(const struct bso_spec *spec)
{
    char *json = bso_spec_json(spec);
    cJSON *body = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!body)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    return call("POST", "/v1/bso/jobs", body, "create or join the job", NULL);
}

int bso_remote_state(const char *job, char **json)
{
    char path[512];
    job_path(path, sizeof(path), job, "");
    cJSON *o = NULL;
    int rc = call("GET", path, NULL, "read the job", &o);
    if (rc == 0) {
        *json = cJSON_PrintUnformatted(o);
        if (!*json)
            rc = joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    cJSON_Delete(o);
    return rc;
}

int bso_remote_spec(const char *job, struct bso_spec *out)
{
    char *json = NULL;
    int rc = bso_remote_state(job, &json);
    struct bso_job j;
    if (rc == 0 && (rc = bso_state_parse(json, &j, NULL)) == 0) {
        *out = j.spec;
        bso_job_free(&j);
    }
    free(json);
    return rc;
}

static int get_int(const cJSON *o, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return joule_set_error(JOULE_EIO, "jouled's answer has no number '%s'", key);
    *out = (int)v->valuedouble;
    return 0;
}

int bso_remote_next(const char *job, int *trial, int *bs)
{
    char path[512];
    job_path(path, sizeof(path), job, "/trials");
    cJSON *o = NULL;
    int rc = call("POST", path, cJSON_CreateObject(), "start a trial", &o);
    if (rc == 0 && (rc = get_int(o, "trial", trial)) == 0)
        rc = get_int(o, "batch_size", bs);
    cJSON_Delete(o);
    return rc;
}

int bso_remote_epoch(const char *job, int trial, int epoch, double time_s, double energy_j,
                     double metric, enum bso_verdict *verdict)
{
    char path[512];
    job_path(path, sizeof(path), job, "/epochs");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "trial", trial);
    cJSON_AddNumberToObject(b, "epoch", epoch);
    cJSON_AddNumberToObject(b, "time_s", time_s);
    cJSON_AddNumberToObject(b, "energy_j", energy_j);
    cJSON_AddNumberToObject(b, "metric", metric);
    cJSON *o = NULL;
    int rc = call("POST", path, b, "report an epoch", &o);
    if (rc == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "verdict");
        int k = -1;
        for (int i = 0; cJSON_IsString(v) && i < 4; i++)
            if (strcmp(v->valuestring, bso_verdict_name((enum bso_verdict)i)) == 0)
                k = i;
        if (k < 0)
            rc = joule_set_error(JOULE_EIO, "jouled's answer has no known verdict");
        else
            *verdict = (enum bso_verdict)k;
    }
    cJSON_Delete(o);
    return rc;
}

int bso_remote_end(const char *job, int trial, double time_s, double energy_j, bool converged)
{
    char path[512];
    job_path(path, sizeof(path), job, "/end");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "trial", trial);
    cJSON_AddNumberToObject(b, "time_s", time_s);
    cJSON_AddNumberToObject(b, "energy_j", energy_j);
    cJSON_AddBoolToObject(b, "converged", converged);
    return call("POST", path, b, "end a trial", NULL);
}
