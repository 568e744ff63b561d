/* Prompts for the inference benchmark: JSONL, one
 * {"prompt": "...", "max_tokens": N} per line. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/export.h"
#include "joule/inference.h"

struct prompt {
    char *text;
    int max_tokens, line;
};

struct joule_prompts {
    struct prompt *v;
    int n, cap;
};

JOULE_EXPORT void joule_prompts_free(joule_prompts *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        free(p->v[i].text);
    free(p->v);
    free(p);
}

static int add(joule_prompts *p, const char *text, int max_tokens, int line)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        struct prompt *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v)
            return joule_set_error(JOULE_ENOMEM, "out of memory reading prompts");
        p->v = v;
        p->cap = cap;
    }
    char *t = strdup(text);
    if (!t)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading prompts");
    p->v[p->n++] = (struct prompt){t, max_tokens, line};
    return 0;
}

/* One line: 0, or JOULE_EINVAL naming path and line. */
static int parse_line(joule_prompts *p, const char *path, int lineno, const char *line)
{
    cJSON *j = cJSON_Parse(line);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return joule_set_error(JOULE_EINVAL,
                               "%s line %d: not a JSON object; each line must be "
                               "{\"prompt\": \"...\", \"max_tokens\": N}", path, lineno);
    }
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "max_tokens");
    int rc = 0;
    if (!cJSON_IsString(pr) || !pr->valuestring[0])
        rc = joule_set_error(JOULE_EINVAL, "%s line %d: \"prompt\" must be a non-empty string",
                             path, lineno);
    else if (!cJSON_IsNumber(mt) || !isfinite(mt->valuedouble) || mt->valuedouble < 1 ||
             mt->valuedouble > 1e7 || mt->valuedouble != floor(mt->valuedouble))
        rc = joule_set_error(JOULE_EINVAL,
                             "%s line %d: \"max_tokens\" must be a whole number from 1 to "
                             "10000000", path, lineno);
    else
        rc = add(p, pr->valuestring, (int)mt->valuedouble, lineno);
    cJSON_Delete(j);
    return rc;
}

JOULE_EXPORT int joule_prompts_load(const char *path, joule_prompts **out)
{
    if (!path || !out)
        return joule_set_error(JOULE_EINVAL, "joule_prompts_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return joule_set_error(errno == ENOENT ? JOULE_ENOENT : JOULE_EIO,
                               "cannot open prompts file '%s': %s", path, strerror(errno));
    joule_prompts *p = calloc(1, sizeof *p);
    if (!p) {
        fclose(f);
        return joule_set_error(JOULE_ENOMEM, "out of memory reading prompts");
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = joule_set_error(JOULE_EINVAL, "%s line %d: contains a NUL byte", path, lineno);
            break;
        }
        if (!line[strspn(line, " \t\r\n")])
            continue;
        if ((rc = parse_line(p, path, lineno, line)))
            break;
    }
    if (!rc && ferror(f))
        rc = joule_set_error(JOULE_EIO, "cannot read prompts file '%s'", path);
    free(line);
    fclose(f);
    if (!rc && p->n == 0)
        rc = joule_set_error(JOULE_EINVAL,
                             "prompts file '%s' has no prompts; give one "
                             "{\"prompt\": \"...\", \"max_tokens\": N} per line", path);
    if (rc) {
        joule_prompts_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

JOULE_EXPORT int joule_prompts_count(const joule_prompts *p)
{
    return p ? p->n : 0;
}

JOULE_EXPORT const char *joule_prompts_get(const joule_prompts *p, int i, int *max_tokens,
                                           int *line)
{
    if (!p || i < 0 || i >= p->n)
        return NULL;
    if (max_tokens)
        *max_tokens = p->v[i].max_tokens;
    if (line)
        *line = p->v[i].line;
    return p->v[i].text;
}
