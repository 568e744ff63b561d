#include "core/stream.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define BLOCK_BYTES 4096
#define MAX_SAMPLE_BYTES 20 /* two 10-byte varints */

struct stream_block {
    int64_t first_t_us, first_v; /* the first sample, stored whole */
    int64_t last_t_us, last_v;   /* the newest sample */
    int64_t last_dt_us;          /* encoder state for delta-of-delta */
    uint32_t n, used;
    uint8_t data[BLOCK_BYTES - 6 * 8];
};

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static int put_varint(uint8_t *p, uint64_t v)
{
    int n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    int shift = 0, n = 0;
    while (p + n < end && shift < 64) {
        uint8_t b = p[n++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return n;
        }
        shift += 7;
    }
    return -1;
}

int stream_init(struct stream *s, double history_s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->history_us = (int64_t)(history_s * 1e6);
    return 0;
}

void stream_destroy(struct stream *s)
{
    for (int i = 0; i < s->count; i++)
        free(s->blocks[(s->head + i) % s->cap]);
    free(s->blocks);
    pthread_mutex_destroy(&s->lock);
}

static struct stream_block *block_at(const struct stream *s, int i)
{
    return s->blocks[(s->head + i) % s->cap];
}

static int push_block(struct stream *s, struct stream_block *b)
{
    if (s->count == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        struct stream_block **nb = malloc(sizeof *nb * (size_t)cap);
        if (!nb)
            return -1;
        for (int i = 0; i < s->count; i++)
            nb[i] = block_at(s, i);
        free(s->blocks);
        s->blocks = nb;
        s->cap = cap;
        s->head = 0;
    }
    s->blocks[(s->head + s->count) % s->cap] = b;
    s->count++;
    s->bytes += sizeof *b;
    return 0;
}

/* Drops whole blocks that lie before the history, keeping the one whose
 * last step is still in force at the boundary. */
static void retire(struct stream *s, int64_t now_us)
{
    int64_t boundary = now_us - s->history_us;
    while (s->count > 1 && block_at(s, 1)->first_t_us <= boundary) {
        struct stream_block *b = block_at(s, 0);
        s->dropped += b->n;
        s->bytes -= sizeof *b;
        s->encoded -= offsetof(struct stream_block, data) + b->used;
        free(b);
        s->head = (s->head + 1) % s->cap;
        s->count--;
        s->first_seq++;
    }
}

int stream_append(struct stream *s, int64_t t_us, int64_t v)
{
    pthread_mutex_lock(&s->lock);
    if (s->have_last && t_us < s->last_read_us)
        t_us = s->last_read_us;
    s->last_read_us = t_us;
    if (s->have_last && v == s->last_v) { /* the step goes on */
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    struct stream_block *b = s->count ? block_at(s, s->count - 1) : NULL;
    if (b && b->used + MAX_SAMPLE_BYTES <= sizeof b->data) {
        int64_t dt = t_us - b->last_t_us;
        uint32_t before = b->used;
        b->used += (uint32_t)put_varint(b->data + b->used, zigzag(dt - b->last_dt_us));
        b->used += (uint32_t)put_varint(b->data + b->used, zigzag(v - b->last_v));
        b->last_dt_us = dt;
        s->encoded += b->used - before;
    } else {
        b = malloc(sizeof *b);
        if (!b || push_block(s, b)) {
            free(b);
            pthread_mutex_unlock(&s->lock);
            return joule_set_error(JOULE_ENOMEM, "out of memory storing samples");
        }
        s->encoded += offsetof(struct stream_block, data);
        b->first_t_us = t_us;
        b->first_v = v;
        b->last_dt_us = 0;
        b->n = 0;
        b->used = 0;
    }
    b->last_t_us = t_us;
    b->last_v = v;
    b->n++;
    s->stored++;
    s->have_last = 1;
    s->last_t_us = t_us;
    s->last_v = v;
    retire(s, t_us);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

struct sample_vec {
    struct sample *v;
    int n, cap;
};

static int vec_push(struct sample_vec *vec, int64_t t, int64_t v)
{
    if (vec->n == vec->cap) {
        int cap = vec->cap ? vec->cap * 2 : 256;
        struct sample *nv = realloc(vec->v, sizeof *nv * (size_t)cap);
        if (!nv)
            return -1;
        vec->v = nv;
        vec->cap = cap;
    }
    vec->v[vec->n++] = (struct sample){t, v};
    return 0;
}

/* Decodes one block, keeping samples in [t0, t1]; *before tracks the
 * newest sample earlier than t0. */
static int decode(const struct stream_block *b, int64_t t0, int64_t t1, struct sample_vec *out,
                  struct sample *before, int *have_before)
{
    int64_t t = b->first_t_us, v = b->first_v, dt = 0;
    const uint8_t *p = b->data, *end = b->data + b->used;
    for (uint32_t k = 0; k < b->n; k++) {
        if (k > 0) {
            uint64_t dod, dv;
            int a = get_varint(p, end, &dod);
            int c = a > 0 ? get_varint(p + a, end, &dv) : -1;
            if (c <= 0)
                return -1;
            p += a + c;
            dt += unzigzag(dod);
            t += dt;
            v += unzigzag(dv);
        }
        if (t < t0) {
            *before = (struct sample){t, v};
            *have_before = 1;
        } else if (t <= t1) {
            if (vec_push(out, t, v))
                return -1;
        } else {
            break;
        }
    }
    return 0;
}

int stream_read(struct stream *s, int64_t t0_us, int64_t t1_us, struct sample **out,
                int64_t *last_read_us)
{
    struct sample_vec in_range = {0};
    struct sample before = {0, 0};
    int have_before = 0;
    struct stream_block *copy = malloc(sizeof *copy);
    if (!copy)
        return joule_set_error(JOULE_ENOMEM, "out of memory reading samples");
    uint64_t seq = 0;
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (seq < s->first_seq)
            seq = s->first_seq; /* retired while we decoded */
        if (last_read_us)
            *last_read_us = s->last_read_us;
        int idx = (int)(seq - s->first_seq);
        if (idx >= s->count) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        struct stream_block *b = block_at(s, idx);
        int skip = b->last_t_us < t0_us, done = b->first_t_us > t1_us;
        if (skip) {
            before = (struct sample){b->last_t_us, b->last_v};
            have_before = 1;
        } else if (!done) {
            memcpy(copy, b, offsetof(struct stream_block, data) + b->used);
        }
        pthread_mutex_unlock(&s->lock);
        if (done)
            break;
        if (!skip && decode(copy, t0_us, t1_us, &in_range, &before, &have_before)) {
            rc = joule_set_error(JOULE_ENOMEM, "out of memory reading samples");
            break;
        }
        seq++;
    }
    free(copy);
    if (rc) {
        free(in_range.v);
        return rc;
    }
    struct sample *res = malloc(sizeof *res * (size_t)(in_range.n + 1));
    if (!res) {
        free(in_range.v);
        return joule_set_error(JOULE_ENOMEM, "out of memory reading samples");
    }
    int n = 0;
    if (have_before)
        res[n++] = before;
    if (in_range.n)
        memcpy(res + n, in_range.v, sizeof *res * (size_t)in_range.n);
    n += in_range.n;
    free(in_range.v);
    *out = res;
    return n;
}

uint64_t stream_dropped(struct stream *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t d = s->dropped;
    pthread_mutex_unlock(&s->lock);
    return d;
}

size_t stream_bytes(struct stream *s)
{
    pthread_mutex_lock(&s->lock);
    size_t b = s->bytes;
    pthread_mutex_unlock(&s->lock);
    return b;
}

size_t stream_encoded_bytes(struct stream *s)
{
    pthread_mutex_lock(&s->lock);
    size_t b = s->encoded;
    pthread_mutex_unlock(&s->lock);
    return b;
}
