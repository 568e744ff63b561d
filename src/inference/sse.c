/* Server-sent events of an OpenAI-compatible stream (sse.h). */
#include "inference/sse.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

void sse_init(struct sse_parser *p, int (*on_token)(void *user), void *user)
{
    memset(p, 0, sizeof *p);
    p->on_token = on_token;
    p->user = user;
}

void sse_fail(struct sse_parser *p, const char *fmt, const char *detail)
{
    if (p->failed)
        return;
    p->failed = 1;
    snprintf(p->err, sizeof p->err, fmt, detail);
}

/* One "data:" payload. */
static void sse_data(struct sse_parser *s, const char *p)
{
    p += strspn(p, " ");
    if (!strcmp(p, "[DONE]")) {
        s->saw_done = 1;
        return;
    }
    if (s->saw_done) {
        sse_fail(s, "malformed SSE: data after 'data: [DONE]': '%.80s'", p);
        return;
    }
    cJSON *j = cJSON_Parse(p);
    if (!j || !cJSON_IsObject(j)) {
        sse_fail(s, "malformed SSE: a 'data:' event is not a JSON object: '%.80s'", p);
        cJSON_Delete(j);
        return;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (err) {
        const cJSON *m = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message")
                                             : err;
        sse_fail(s, "the server sent an error event: %.200s",
                 cJSON_IsString(m) ? m->valuestring : "(no message)");
        cJSON_Delete(j);
        return;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    if (!cJSON_IsArray(ch)) {
        sse_fail(s, "malformed SSE: a 'data:' event has no \"choices\" array: '%.80s'", p);
        cJSON_Delete(j);
        return;
    }
    const cJSON *c0 = cJSON_GetArrayItem(ch, 0);
    if (c0) { /* an empty array is a usage-only chunk */
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c0, "text");
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
        const cJSON *content = delta ? cJSON_GetObjectItemCaseSensitive(delta, "content") : NULL;
        /* A token is an event with text; an empty one (a chat stream's
         * opening role event, a held-back partial character) is not. */
        if (cJSON_IsString(text) || cJSON_IsString(content)) {
            const char *v = cJSON_IsString(text) ? text->valuestring : content->valuestring;
            if (v[0] && s->on_token && s->on_token(s->user))
                sse_fail(s, "%s", "the token could not be recorded");
        } else if (!cJSON_IsNull(content) && !cJSON_GetObjectItemCaseSensitive(c0, "finish_reason"))
            sse_fail(s, "malformed SSE: a choice has neither \"text\" nor \"delta\".\"content\": "
                     "'%.80s'", p);
    }
    cJSON_Delete(j);
}

static void sse_line(struct sse_parser *s, char *line)
{
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
        line[--n] = 0;
    if (!n || line[0] == ':')
        return; /* event separator, comment */
    if (!strncmp(line, "data:", 5))
        sse_data(s, line + 5);
    else if (strncmp(line, "event:", 6) && strncmp(line, "id:", 3) && strncmp(line, "retry:", 6))
        sse_fail(s, "malformed SSE: a line is not 'data: ...': '%.80s'", line);
}

int sse_feed(struct sse_parser *s, const char *data, size_t len)
{
    for (size_t i = 0; i < len && !s->failed; i++) {
        char ch = data[i];
        if (ch == '\n') {
            s->line[s->linelen] = 0;
            if (s->line_overflow)
                sse_fail(s, "%s", "malformed SSE: a line longer than 8 KiB");
            else
                sse_line(s, s->line);
            s->linelen = 0;
            s->line_overflow = 0;
        } else if (s->linelen < sizeof s->line - 1) {
            s->line[s->linelen++] = ch;
        } else {
            s->line_overflow = 1;
        }
    }
    return s->failed ? -1 : 0;
}
