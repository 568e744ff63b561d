/* The stand-in LLM server (standin_server.h) on libmicrohttpd, one thread
 * per connection so a stream may sleep between its tokens. */
#include "standin_server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 12
static const double buckets_s[NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04,
                                           0.06, 0.08, 0.1, 0.25, 0.5, 1.0};

struct hist {
    long count[NBUCKETS + 1];
    double sum;
    long n;
};

struct standin {
    struct standin_options o;
    char model[128];
    struct MHD_Daemon *d;
    int port;
    char url[64];
    double f_max;
    atomic_int requests, running, stopping;
    atomic_long tokens;
    pthread_mutex_t mu; /* histograms */
    struct hist ttft, itl;
};

struct upload {
    char *buf;
    size_t len;
};

struct stream {
    struct standin *s;
    int id, max_tokens, k, done, counted;
    int chat, role_sent;
    double t_arrival, t_last;
};

double standin_slow(double alpha, double f_mhz, double f_max_mhz)
{
    if (!(f_mhz > 0) || !(f_max_mhz > 0))
        return 1;
    return alpha * f_max_mhz / f_mhz + 1 - alpha;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_until(double t)
{
    struct timespec ts = {(time_t)t, (long)((t - floor(t)) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void hist_add(struct standin *s, struct hist *h, double v)
{
    pthread_mutex_lock(&s->mu);
    int b = 0;
    while (b < NBUCKETS && v > buckets_s[b])
        b++;
    h->count[b]++;
    h->sum += v;
    h->n++;
    pthread_mutex_unlock(&s->mu);
}

static double slow_now(struct standin *s)
{
    if (s->o.clock_mhz)
        return standin_slow(s->o.alpha, s->o.clock_mhz(s->o.clock_user), s->f_max);
    if (!s->o.ctx)
        return 1;
    int sm = 0;
    if (joule_gpu_clocks_mhz(s->o.ctx, s->o.gpu, &sm, NULL) || sm <= 0)
        return 1;
    return standin_slow(s->o.alpha, sm, s->f_max);
}

static void set_load(struct standin *s, int running)
{
    if (s->o.ctx && s->o.load_per_request > 0) {
        double l = running * s->o.load_per_request;
        joule_sim_set_load(s->o.ctx, s->o.gpu, l > 1 ? 1 : l);
    }
}

static int faulty(const struct stream *st)
{
    const struct standin *s = st->s;
    return s->o.fault && (s->o.fault_request == 0 || s->o.fault_request == st->id);
}

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    struct standin *s = st->s;
    (void)pos;
    if (st->done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (!st->counted) {
        st->counted = 1;
        set_load(s, atomic_fetch_add(&s->running, 1) + 1);
    }
    if (st->k == st->max_tokens) {
        st->done = 1;
        /* finished: it no longer runs (as vLLM counts), whenever MHD frees it */
        st->counted = 0;
        set_load(s, atomic_fetch_sub(&s->running, 1) - 1);
        return snprintf(buf, max, "data: [DONE]\n\n");
    }
    if (st->chat && !st->role_sent) { /* vLLM opens a chat stream with the role */
        st->role_sent = 1;
        return snprintf(buf, max,
                        "data: {\"id\":\"chatcmpl-%d\",\"object\":\"chat.completion.chunk\","
                        "\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                        "\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
                        st->id, s->model);
    }
    if (faulty(st) && st->k == s->o.fault_after) {
        if (s->o.fault == STANDIN_DROP)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->o.fault == STANDIN_MALFORMED) {
            st->done = 1;
            return snprintf(buf, max, "data: {\"choices\": [{\"text\": \"oops\"\n\n");
        }
    }
    double slow = slow_now(s), t;
    if (st->k == 0)
        t = st->t_arrival + s->o.ttft_s * slow;
    else
        t = st->t_last + (s->o.itl_s + s->o.itl_per_request_s * (atomic_load(&s->running) - 1)) *
                             slow;
    sleep_until(t);
    if (atomic_load(&s->stopping))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    double now = now_s();
    if (st->k == 0)
        hist_add(s, &s->ttft, now - st->t_arrival);
    else
        hist_add(s, &s->itl, now - st->t_last);
    st->t_last = t; /* the schedule, so a late wake-up does not drift */
    st->k++;
    atomic_fetch_add(&s->tokens, 1);
    if (st->chat)
        return snprintf(buf, max,
                        "data: {\"id\":\"chatcmpl-%d\",\"object\":\"chat.completion.chunk\","
                        "\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                        "\" tok%d\"},\"finish_reason\":%s}]}\n\n",
                        st->id, s->model, st->k, st->k == st->max_tokens ? "\"length\"" : "null");
    return snprintf(buf, max,
                    "data: {\"id\":\"cmpl-%d\",\"object\":\"text_completion\",\"created\":0,"
                    "\"model\":\"%s\",\"choices\":[{\"index\":0,\"text\":\" tok%d\","
                    "\"logprobs\":null,\"finish_reason\":%s}]}\n\n",
                    st->id, s->model, st->k, st->k == st->max_tokens ? "\"length\"" : "null");
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    if (st->counted)
        set_load(st->s, atomic_fetch_sub(&st->s->running, 1) - 1);
    free(st);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result error_reply(struct MHD_Connection *c, unsigned status, const char *msg)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"object\":\"error\",\"message\":\"%s\",\"type\":\"%s\",\"param\":null,"
             "\"code\":%u}", msg, status == 404 ? "NotFoundError" : status < 500 ?
             "BadRequestError" : "InternalServerError", status);
    return reply(c, status, "application/json", body);
}

static enum MHD_Result metrics(struct standin *s, struct MHD_Connection *c)
{
    size_t cap = 8192, len = 0;
    char *b = malloc(cap);
    if (!b)
        return MHD_NO;
#define OUT(...) len += (size_t)snprintf(b + len, cap - len, __VA_ARGS__)
    OUT("# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{model_name=\"%s\"} %d\n", s->model, atomic_load(&s->running));
    OUT("# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        "vllm:num_requests_waiting{model_name=\"%s\"} 0\n", s->model);
    OUT("# TYPE vllm:generation_tokens_total counter\n"
        "vllm:generation_tokens_total{model_name=\"%s\"} %ld\n", s->model,
        atomic_load(&s->tokens));
    pthread_mutex_lock(&s->mu);
    const struct {
        const char *name;
        struct hist *h;
    } hs[2] = {{"vllm:time_to_first_token_seconds", &s->ttft},
               {"vllm:time_per_output_token_seconds", &s->itl}};
    for (int k = 0; k < 2; k++) {
        OUT("# TYPE %s histogram\n", hs[k].name);
        long cum = 0;
        for (int i = 0; i < NBUCKETS; i++) {
            cum += hs[k].h->count[i];
            OUT("%s_bucket{le=\"%g\",model_name=\"%s\"} %ld\n", hs[k].name, buckets_s[i],
                s->model, cum);
        }
        cum += hs[k].h->count[NBUCKETS];
        OUT("%s_bucket{le=\"+Inf\",model_name=\"%s\"} %ld\n", hs[k].name, s->model, cum);
        OUT("%s_count{model_name=\"%s\"} %ld\n", hs[k].name, s->model, hs[k].h->n);
        OUT("%s_sum{model_name=\"%s\"} %.9g\n", hs[k].name, s->model, hs[k].h->sum);
    }
    pthread_mutex_unlock(&s->mu);
#undef OUT
    enum MHD_Result rc = reply(c, 200, "text/plain; version=0.0.4", b);
    free(b);
    return rc;
}

static enum MHD_Result completion(struct standin *s, struct MHD_Connection *c, const char *body,
                                  int chat)
{
    int id = atomic_fetch_add(&s->requests, 1) + 1;
    double t_arrival = now_s();
    cJSON *j = cJSON_Parse(body);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "max_tokens");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    if (chat) { /* the last message's content */
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
        int n = cJSON_GetArraySize(msgs);
        prompt = n > 0 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, n - 1),
                                                          "content")
                       : NULL;
    }
    enum MHD_Result rc;
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(mt) || mt->valueint < 1 || !cJSON_IsString(prompt))
        rc = error_reply(c, 400, "the body must hold a prompt and max_tokens >= 1");
    else if (!cJSON_IsString(model) || strcmp(model->valuestring, s->model))
        rc = error_reply(c, 404, "The model does not exist.");
    else if (!cJSON_IsTrue(stream))
        rc = error_reply(c, 400, "the stand-in only streams");
    else if (s->o.fault == STANDIN_HTTP_STATUS &&
             (s->o.fault_request == 0 || s->o.fault_request == id))
        rc = error_reply(c, (unsigned)s->o.http_status, "stand-in fault");
    else {
        struct stream *st = calloc(1, sizeof *st);
        if (!st) {
            cJSON_Delete(j);
            return MHD_NO;
        }
        st->s = s;
        st->id = id;
        st->max_tokens = mt->valueint;
        st->chat = chat;
        st->t_arrival = t_arrival;
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_cb, st, stream_free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        rc = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
    }
    cJSON_Delete(j);
    return rc;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    struct standin *s = cls;
    (void)version;
    if (!strcmp(method, "GET")) {
        if (!strcmp(url, "/metrics"))
            return metrics(s, c);
        return error_reply(c, 404, "no such path");
    }
    if (strcmp(method, "POST"))
        return error_reply(c, 405, "method not allowed");
    struct upload *u = *con_cls;
    if (!u) {
        if (!(u = calloc(1, sizeof *u)))
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*size) {
        char *nb = realloc(u->buf, u->len + *size + 1);
        if (!nb)
            return MHD_NO;
        memcpy(nb + u->len, data, *size);
        u->buf = nb;
        u->len += *size;
        u->buf[u->len] = 0;
        *size = 0;
        return MHD_YES;
    }
    int chat = !strcmp(url, "/v1/chat/completions");
    if (!chat && strcmp(url, "/v1/completions"))
        return error_reply(c, 404, "no such path");
    return completion(s, c, u->buf ? u->buf : "", chat);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

struct standin *standin_start(const struct standin_options *o)
{
    struct standin *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->o = *o;
    if (!(s->o.alpha > 0))
        s->o.alpha = 0.8;
    snprintf(s->model, sizeof s->model, "%s", o->model ? o->model : "standin");
    pthread_mutex_init(&s->mu, NULL);
    s->f_max = o->f_max_mhz > 0 ? o->f_max_mhz : 1;
    if (o->ctx) {
        int mhz[512];
        int n = joule_gpu_supported_clocks_mhz(o->ctx, o->gpu, mhz, 512);
        for (int i = 0; i < n; i++)
            if (mhz[i] > s->f_max)
                s->f_max = mhz[i];
    }
    set_load(s, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &addr,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, 1024, MHD_OPTION_END);
    if (!s->d) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return s;
}

void standin_stop(struct standin *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int standin_port(const struct standin *s)
{
    return s->port;
}

const char *standin_url(const struct standin *s)
{
    return s->url;
}

int standin_requests(struct standin *s)
{
    return atomic_load(&s->requests);
}

long standin_tokens(struct standin *s)
{
    return atomic_load(&s->tokens);
}
