/* The window log: one row per ended window, flushed per row. The CSV is
 * Zeus's format (start_time,window_name,elapsed_time,gpu{i}_energy, then
 * cpu{i}_energy and dram{i}_energy), so existing readers keep working,
 * followed by each value's uncertainty ({label}_energy_uncertainty_j). An
 * existing file is appended to, never truncated, and only when its header
 * matches the devices being measured; a file in plain Zeus format (no
 * uncertainty columns) is continued in that format. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/csv.h"
#include "base/error.h"
#include "core/result.h"

static const char *const column_prefix[JOULE_KIND_COUNT] = {
    "gpu", "cpu", "dram", "psys", "core", "uncore",
};

/* Calls fn for each device in column order: by kind, then context order. */
#define FOR_EACH_COLUMN(ctx_ndev, kind_of, body)                       \
    for (int k_ = 0; k_ < JOULE_KIND_COUNT; k_++)                      \
        for (int i = 0; i < (ctx_ndev); i++)                           \
            if ((int)(kind_of) == k_) { body; }

/* The header, with the uncertainty columns or (Zeus's format) without. */
static int build_header(const struct joule_ctx *ctx, int uncertainty, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "start_time,window_name,elapsed_time");
    for (int pass = 0; pass < 1 + uncertainty; pass++)
        FOR_EACH_COLUMN(ctx->ndev, ctx->devs[i]->kind, {
            const struct joule_device *d = ctx->devs[i];
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, ",%s%d_energy%s",
                                  column_prefix[d->kind], d->index,
                                  pass ? "_uncertainty_j" : "");
        });
    return n < len ? 0 : -1;
}

int window_log_open(struct joule_ctx *ctx, const char *path, enum joule_log_format fmt)
{
    FILE *f = fopen(path, "a+");
    if (!f)
        return joule_set_error(JOULE_EIO, "cannot open window log '%s' for appending: %s",
                               path, strerror(errno));
    ctx->log_format = fmt;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    ctx->log_uncertainty = 1;
    if (fmt == JOULE_LOG_CSV) {
        char header[16384], zeus[8192];
        if (build_header(ctx, 1, header, sizeof header) ||
            build_header(ctx, 0, zeus, sizeof zeus)) {
            fclose(f);
            return joule_set_error(JOULE_EINVAL, "too many devices for a CSV log header");
        }
        if (size > 0) {
            char first[16384] = "";
            rewind(f);
            if (!fgets(first, sizeof first, f))
                first[0] = '\0';
            first[strcspn(first, "\r\n")] = '\0';
            if (strcmp(first, zeus) == 0)
                ctx->log_uncertainty = 0; /* continue a plain Zeus log as it is */
            else if (strcmp(first, header) != 0) {
                fclose(f);
                return joule_set_error(JOULE_EINVAL,
                    "window log '%s' already holds rows for other devices "
                    "(its header is '%s', this run's is '%s'); use another file",
                    path, first, header);
            }
            fseek(f, 0, SEEK_END);
        } else if (fprintf(f, "%s\n", header) < 0 || fflush(f)) {
            int e = errno;
            fclose(f);
            return joule_set_error(JOULE_EIO, "cannot write window log '%s': %s", path,
                                   strerror(e));
        }
    }
    /* A last line cut short (a crash mid-row, an editor) must not swallow
     * the next row: end it first. */
    if (size > 0) {
        int last = EOF;
        if (fseek(f, -1, SEEK_END) == 0)
            last = fgetc(f);
        fseek(f, 0, SEEK_END);
        if (last != '\n' && (fputc('\n', f) == EOF || fflush(f))) {
            int e = errno;
            fclose(f);
            return joule_set_error(JOULE_EIO, "cannot write window log '%s': %s", path,
                                   strerror(e));
        }
    }
    ctx->log = f;
    return 0;
}

static int write_csv(FILE *f, const struct joule_ctx *ctx, const joule_result *r)
{
    fprintf(f, "%.6f,", r->start_unix_s);
    csv_write_field(f, r->name);
    fprintf(f, ",%.9g", r->time_s);
    FOR_EACH_COLUMN(ctx->ndev, ctx->devs[i]->kind, {
        if (r->dev[i].status)
            fputs(",nan", f);
        else
            fprintf(f, ",%.6f", r->dev[i].energy_j);
    });
    if (ctx->log_uncertainty)
        FOR_EACH_COLUMN(ctx->ndev, ctx->devs[i]->kind, {
            if (r->dev[i].status)
                fputs(",nan", f);
            else
                fprintf(f, ",%.6f", r->dev[i].uncertainty_j);
        });
    fputc('\n', f);
    return 0;
}

static int write_jsonl(FILE *f, const joule_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    cJSON_AddNumberToObject(o, "start_time_unix_s", r->start_unix_s);
    cJSON_AddStringToObject(o, "window_name", r->name);
    cJSON_AddNumberToObject(o, "elapsed_time_s", r->time_s);
    cJSON *devs = cJSON_AddObjectToObject(o, "devices");
    for (int i = 0; i < r->ndev; i++) {
        cJSON *d = cJSON_AddObjectToObject(devs, r->dev[i].label);
        if (r->dev[i].status) {
            cJSON_AddNullToObject(d, "energy_j");
            cJSON_AddNullToObject(d, "energy_uncertainty_j");
        } else {
            cJSON_AddNumberToObject(d, "energy_j", r->dev[i].energy_j);
            cJSON_AddNumberToObject(d, "energy_uncertainty_j", r->dev[i].uncertainty_j);
        }
        cJSON_AddStringToObject(d, "quality", joule_quality_name(r->dev[i].quality));
        if (r->dev[i].status)
            cJSON_AddStringToObject(d, "error", r->dev[i].error);
    }
    cJSON_AddNumberToObject(o, "total_energy_j", joule_result_total_all_j(r));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return -1;
    fprintf(f, "%s\n", text);
    cJSON_free(text);
    return 0;
}

int window_log_write(struct joule_ctx *ctx, const joule_result *r)
{
    pthread_mutex_lock(&ctx->log_lock);
    int rc = ctx->log_format == JOULE_LOG_CSV ? write_csv(ctx->log, ctx, r)
                                              : write_jsonl(ctx->log, r);
    if (rc == 0 && (ferror(ctx->log) || fflush(ctx->log)))
        rc = -1;
    pthread_mutex_unlock(&ctx->log_lock);
    if (rc)
        return joule_set_error(JOULE_EIO, "cannot write the row for window '%s' to the "
                               "window log: %s", r->name, strerror(errno));
    return 0;
}

void window_log_close(struct joule_ctx *ctx)
{
    if (ctx->log)
        fclose(ctx->log);
    ctx->log = NULL;
}
