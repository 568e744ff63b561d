/* Planner errors and allocation accounting. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "optimize/planner/planner.h"

#include "base/error.h"

int pl_close_output(FILE *f, const char *path)
{
    /* glibc drops a buffer it could not write: the flush's errno is the
     * reason when data was still pending, else EIO stands for it */
    int err = fflush(f) ? errno : ferror(f) ? EIO : 0;
    if (f != stdout && fclose(f) && !err)
        err = errno;
    if (!err)
        return 0;
    if (f == stdout)
        clearerr(f); /* reported here */
    return joule_set_error(JOULE_EIO, "cannot write %s: %s", f == stdout ? "to stdout" : path,
                    strerror(err));
}

/* Every block carries its size in a 16-byte header so the live and peak
 * byte counts are exact. */
#define PL_HDR 16

static atomic_size_t mem_cur;
static atomic_size_t mem_peak;

static void mem_add(size_t n)
{
    size_t cur = atomic_fetch_add(&mem_cur, n) + n;
    size_t peak = atomic_load(&mem_peak);
    while (cur > peak && !atomic_compare_exchange_weak(&mem_peak, &peak, cur))
        ;
}

void *pl_malloc(size_t n)
{
    if (n > SIZE_MAX - PL_HDR)
        return NULL;
    unsigned char *b = malloc(n + PL_HDR);
    if (!b)
        return NULL;
    memcpy(b, &n, sizeof n);
    mem_add(n);
    return b + PL_HDR;
}

void *pl_calloc(size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - PL_HDR) / size)
        return NULL;
    void *p = pl_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void pl_free(void *p)
{
    if (!p)
        return;
    unsigned char *b = (unsigned char *)p - PL_HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    atomic_fetch_sub(&mem_cur, n);
    free(b);
}

void *pl_realloc(void *p, size_t n)
{
    if (!p)
        return pl_malloc(n);
    if (n > SIZE_MAX - PL_HDR)
        return NULL;
    unsigned char *b = (unsigned char *)p - PL_HDR;
    size_t old;
    memcpy(&old, b, sizeof old);
    unsigned char *nb = realloc(b, n + PL_HDR);
    if (!nb)
        return NULL;
    memcpy(nb, &n, sizeof n);
    atomic_fetch_sub(&mem_cur, old);
    mem_add(n);
    return nb + PL_HDR;
}

size_t pl_mem_current(void)
{
    return atomic_load(&mem_cur);
}

size_t pl_mem_peak(void)
{
    return atomic_load(&mem_peak);
}

void pl_mem_reset_peak(void)
{
    atomic_store(&mem_peak, atomic_load(&mem_cur));
}

const char *pl_instr_name(int instr)
{
    return instr == PL_FORWARD ? "forward" : instr == PL_BACKWARD ? "backward"
                                                                  : "?";
}

int pl_instr_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcasecmp(s, "forward"))
        return PL_FORWARD;
    if (!strcasecmp(s, "backward"))
        return PL_BACKWARD;
    return -1;
}

const char *pl_schedule_name(int sched)
{
    return sched == PL_SCHED_1F1B ? "1f1b" : sched == PL_SCHED_GPIPE ? "gpipe"
                                                                     : "?";
}

int pl_schedule_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcasecmp(s, "1f1b"))
        return PL_SCHED_1F1B;
    if (!strcasecmp(s, "gpipe"))
        return PL_SCHED_GPIPE;
    return -1;
}

void pl_config_default(pl_config *c)
{
    c->stages = 0;
    c->microbatches = 0;
    c->schedule = PL_SCHED_1F1B;
    c->quantum_s = 1e-3;
    c->blocking_power_w = 70.0;
    c->improve_budget = 0;
}
