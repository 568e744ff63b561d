/* Measurement windows: named, nested and overlapping without limit,
 * thread-safe. Counters are read outside the table lock; the lock only
 * guards the name → window map, so windows on different threads only
 * contend for a hash insert or remove. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/edge.h"
#include "base/error.h"
#include "base/export.h"
#include "core/window_result.h"

#define WINDOW_NAME_MAX 255

/* One allocation: the struct, then begin[ndev], begin_status[ndev] and
 * the name. */
struct window {
    struct window *next;
    uint64_t hash;
    int64_t begin_ns;
    double begin_unix_s;
    struct edge_value *begin;
    int *begin_status;
    char *name;
};

struct window_table {
    pthread_mutex_t lock;
    struct window **buckets;
    size_t nbuckets, count;
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int windows_create(struct window_table **out)
{
    struct window_table *w = calloc(1, sizeof *w);
    if (!w || !(w->buckets = calloc(64, sizeof *w->buckets))) {
        free(w);
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    }
    w->nbuckets = 64;
    pthread_mutex_init(&w->lock, NULL);
    *out = w;
    return 0;
}

static void window_free(struct window *win) { free(win); }

void windows_destroy(struct window_table *w)
{
    for (size_t b = 0; b < w->nbuckets; b++)
        for (struct window *win = w->buckets[b], *next; win; win = next) {
            next = win->next;
            window_free(win);
        }
    free(w->buckets);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Finds name; *link points at the pointer to it, for unlinking. */
static struct window *find(struct window_table *w, const char *name, uint64_t h,
                           struct window ***link)
{
    struct window **p = &w->buckets[h & (w->nbuckets - 1)];
    for (; *p; p = &(*p)->next)
        if ((*p)->hash == h && strcmp((*p)->name, name) == 0) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

static void grow(struct window_table *w)
{
    size_t n = w->nbuckets * 2;
    struct window **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the longer chains */
    for (size_t i = 0; i < w->nbuckets; i++)
        for (struct window *win = w->buckets[i], *next; win; win = next) {
            next = win->next;
            win->next = b[win->hash & (n - 1)];
            b[win->hash & (n - 1)] = win;
        }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = n;
}

/* name with control characters shown as \n, \t or \xNN, for messages. */
static const char *printable(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && o + 5 < len; c++) {
        if (*c == '\n' || *c == '\t')
            o += (size_t)snprintf(buf + o, len - o, "\\%c", *c == '\n' ? 'n' : 't');
        else if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *c);
        else
            buf[o++] = (char)*c;
    }
    buf[o] = '\0';
    return buf;
}

static int check_name(const char *name)
{
    char shown[4 * WINDOW_NAME_MAX + 8];
    if (!name || !*name)
        return joule_set_error(JOULE_EINVAL, "window name is empty");
    size_t len = strlen(name);
    if (len > WINDOW_NAME_MAX)
        return joule_set_error(JOULE_EINVAL, "window name '%.40s...' is %zu bytes; the limit is %d",
                               name, len, WINDOW_NAME_MAX);
    for (const char *c = name; *c; c++)
        if (*c == ',' || *c == '"' || (unsigned char)*c < 0x20 || *c == 0x7f)
            return joule_set_error(JOULE_EINVAL,
                "window name '%s' contains %s at position %d; names may not "
                "hold commas, double quotes or control characters (they "
                "would break the CSV log)", printable(name, shown, sizeof shown),
                *c == ',' ? "a comma" : *c == '"' ? "a double quote"
                : *c == '\n' ? "a newline" : "a control character",
                (int)(c - name) + 1);
    return 0;
}

static void run_sync(struct joule_ctx *ctx, unsigned flags)
{
    if (flags & JOULE_WINDOW_NO_SYNC)
        return;
    if (ctx->sync_fn)
        ctx->sync_fn(ctx->sync_user);
    if (ctx->cuda)
        cuda_sync_run(ctx->cuda);
}

static double unix_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

JOULE_EXPORT int joule_window_begin(joule_ctx *ctx, const char *name, unsigned flags)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    int rc = check_name(name);
    if (rc)
        return rc;
    struct window_table *w = ctx->windows;
    uint64_t h = hash_name(name);
    size_t len = strlen(name);

    if (!(flags & JOULE_WINDOW_RESTART)) {
        pthread_mutex_lock(&w->lock);
        int exists = find(w, name, h, NULL) != NULL;
        pthread_mutex_unlock(&w->lock);
        if (exists)
            return joule_set_error(JOULE_EEXIST,
                "window '%s' is already open; end or cancel it first, or pass "
                "JOULE_WINDOW_RESTART to start it again", name);
    }

    size_t n = (size_t)ctx->ndev;
    struct window *win =
        malloc(sizeof *win + n * (sizeof(struct edge_value) + sizeof(int)) + len + 1);
    if (!win)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    win->next = NULL;
    win->begin = (struct edge_value *)(win + 1);
    win->begin_status = (int *)(win->begin + n);
    win->name = (char *)(win->begin_status + n);
    memcpy(win->name, name, len + 1);
    win->hash = h;

    run_sync(ctx, flags);
    win->begin_unix_s = unix_now_s();
    win->begin_ns = joule_now_ns();
    jctx_read_edges(ctx, win->begin_ns, win->begin, win->begin_status, NULL, NULL, NULL);

    struct window *old = NULL;
    pthread_mutex_lock(&w->lock);
    struct window **link;
    if ((old = find(w, name, h, &link))) {
        if (!(flags & JOULE_WINDOW_RESTART)) { /* lost a race with another begin */
            pthread_mutex_unlock(&w->lock);
            window_free(win);
            return joule_set_error(JOULE_EEXIST, "window '%s' is already open", name);
        }
        *link = old->next;
        w->count--;
    }
    if (w->count >= w->nbuckets)
        grow(w);
    struct window **bucket = &w->buckets[h & (w->nbuckets - 1)];
    win->next = *bucket;
    *bucket = win;
    w->count++;
    pthread_mutex_unlock(&w->lock);
    window_free(old);
    return 0;
}

static struct window *take(struct joule_ctx *ctx, const char *name)
{
    struct window_table *w = ctx->windows;
    uint64_t h = hash_name(name);
    struct window **link, *win;
    pthread_mutex_lock(&w->lock);
    if ((win = find(w, name, h, &link))) {
        *link = win->next;
        w->count--;
    }
    size_t open = w->count;
    pthread_mutex_unlock(&w->lock);
    if (!win)
        joule_set_error(JOULE_ENOENT, "no window named '%s' is open (%zu window%s open)",
                        name, open, open == 1 ? "" : "s");
    return win;
}

JOULE_EXPORT int joule_window_end(joule_ctx *ctx, const char *name, unsigned flags,
                                  joule_result **out)
{
    if (out)
        *out = NULL;
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    if (!name)
        return joule_set_error(JOULE_EINVAL, "window name is NULL");
    struct window *win = take(ctx, name);
    if (!win)
        return JOULE_ENOENT;
    run_sync(ctx, flags);
    joule_result *r = window_measure(ctx, name, win->begin_ns, win->begin_unix_s, win->begin,
                                     win->begin_status, joule_now_ns());
    window_free(win);
    if (!r)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int rc = 0;
    if (ctx->log)
        rc = window_log_write(ctx, r);
    if (out)
        *out = r;
    else
        joule_result_free(r);
    return rc;
}

JOULE_EXPORT int joule_window_peek(joule_ctx *ctx, const char *name, unsigned flags,
                                   joule_result **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !out)
        return joule_set_error(JOULE_EINVAL, "joule_window_peek: NULL argument");
    if (!name)
        return joule_set_error(JOULE_EINVAL, "window name is NULL");
    /* A copy of the begin edges: the window stays open, and another
     * thread may end it meanwhile. */
    size_t n = (size_t)ctx->ndev;
    struct edge_value *begin = malloc((n ? n : 1) * (sizeof *begin + sizeof(int)));
    if (!begin)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    int *status = (int *)(begin + n);
    struct window_table *w = ctx->windows;
    pthread_mutex_lock(&w->lock);
    struct window *win = find(w, name, hash_name(name), NULL);
    int64_t begin_ns = 0;
    double begin_unix_s = 0;
    if (win) {
        memcpy(begin, win->begin, n * sizeof *begin);
        memcpy(status, win->begin_status, n * sizeof *status);
        begin_ns = win->begin_ns;
        begin_unix_s = win->begin_unix_s;
    }
    size_t open = w->count;
    pthread_mutex_unlock(&w->lock);
    if (!win) {
        free(begin);
        return joule_set_error(JOULE_ENOENT, "no window named '%s' is open (%zu window%s open)",
                               name, open, open == 1 ? "" : "s");
    }
    run_sync(ctx, flags);
    *out = window_measure(ctx, name, begin_ns, begin_unix_s, begin, status, joule_now_ns());
    free(begin);
    return *out ? 0 : joule_set_error(JOULE_ENOMEM, "out of memory");
}

JOULE_EXPORT int joule_window_cancel(joule_ctx *ctx, const char *name)
{
    if (!ctx)
        return joule_set_error(JOULE_EINVAL, "context is NULL");
    if (!name)
        return joule_set_error(JOULE_EINVAL, "window name is NULL");
    struct window *win = take(ctx, name);
    if (!win)
        return JOULE_ENOENT;
    window_free(win);
    return 0;
}

JOULE_EXPORT int joule_window_open_count(joule_ctx *ctx)
{
    if (!ctx)
        return 0;
    pthread_mutex_lock(&ctx->windows->lock);
    int n = (int)ctx->windows->count;
    pthread_mutex_unlock(&ctx->windows->lock);
    return n;
}
