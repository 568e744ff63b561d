/* Applying a plan while training: the joule_plan_runtime handle
 * (include/joule/planner.h), and joule_plan_load(),
 * joule_plan_instruction_begin(), joule_plan_unload() of joule.h on top
 * of it.
 *
 * The training thread only checks its instruction against the plan and
 * drops the planned clock into a single-slot mailbox; a control thread
 * takes it out and makes the (slow, possibly blocking) GPU call. When a
 * request is still waiting as the next computation begins, the new one
 * replaces it: the older computation has already started, so locking its
 * clock now would only delay the right one. The order of computations is
 * enforced where it matters, in the caller, synchronously.
 *
 * The plan's sequence is one iteration; after its last computation the
 * next call starts the next iteration from the beginning. Uses only the
 * public GPU control API. The context-keyed functions park their handle
 * in the context so that joule_close() stops the thread and resets the
 * clocks. create, begin and destroy (load, instruction_begin and unload)
 * must not be called concurrently on one handle (context). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joule/joule.h>
#include <joule/planner.h>

#include "core/context.h"
#include "base/error.h"
#include "base/export.h"
#include "optimize/planner/planner.h"

struct joule_plan_runtime {
    joule_ctx *ctx;
    int gpu, stage;
    char *file;
    pl_stage_plan plan;
    int next;                 /* caller thread only */
    unsigned long iteration;  /* caller thread only */
    int mismatch;             /* caller thread only: stuck after a mismatch */

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;              /* a request waits in the mailbox */
    int req_mhz;
    int stop;
    int err;                  /* first failure of the control thread */
    char errmsg[512];
    unsigned long requests, superseded, applied;
};
typedef struct joule_plan_runtime plan_rt;

static void *control_main(void *arg)
{
    plan_rt *rt = arg;
    int current = 0; /* clock locked by this thread, 0 = none yet */
    pthread_mutex_lock(&rt->mu);
    for (;;) {
        while (!rt->pending && !rt->stop)
            pthread_cond_wait(&rt->cv, &rt->mu);
        if (rt->stop)
            break;
        int mhz = rt->req_mhz;
        rt->pending = 0;
        pthread_mutex_unlock(&rt->mu);
        int rc = 0;
        if (mhz != current)
            rc = joule_gpu_lock_clocks_mhz(rt->ctx, rt->gpu, mhz, mhz);
        pthread_mutex_lock(&rt->mu);
        if (rc) {
            if (!rt->err) {
                rt->err = rc;
                snprintf(rt->errmsg, sizeof rt->errmsg,
                         "locking gpu%d at %d MHz failed: %s", rt->gpu, mhz,
                         joule_last_error());
            }
        } else {
            current = mhz;
            rt->applied++;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* Stops the control thread and resets the clocks; returns the reset's
 * status. */
static int rt_stop(plan_rt *rt)
{
    pthread_mutex_lock(&rt->mu);
    rt->stop = 1;
    pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->thread, NULL);
    return joule_gpu_reset_clocks(rt->ctx, rt->gpu);
}

static void rt_destroy(plan_rt *rt)
{
    pthread_mutex_destroy(&rt->mu);
    pthread_cond_destroy(&rt->cv);
    pl_stage_plan_free(&rt->plan);
    free(rt->file);
    free(rt);
}

/* Called by joule_close(). */
static void rt_free(void *p)
{
    plan_rt *rt = p;
    rt_stop(rt);
    rt_destroy(rt);
}

JOULE_EXPORT int joule_plan_runtime_create(joule_ctx *ctx, const char *plan_file, int stage,
                                          int gpu, joule_plan_runtime **out)
{
    if (!ctx || !plan_file || !out)
        return joule_set_error(JOULE_EINVAL,
                               "joule_plan_load: need a context and a plan "
                               "file");
    *out = NULL;
    plan_rt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return joule_set_error(JOULE_ENOMEM, "out of memory");
    rt->ctx = ctx;
    rt->gpu = gpu;
    rt->stage = stage;
    rt->file = strdup(plan_file);
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    int rc = rt->file ? 0 : joule_set_error(JOULE_ENOMEM, "out of memory");
    if (!rc)
        rc = pl_stage_plan_read(plan_file, stage, &rt->plan);
    /* every planned clock must be one the GPU supports */
    if (!rc) {
        int cap = 1024;
        int *clk = malloc(sizeof(int) * (size_t)cap);
        int n = clk ? joule_gpu_supported_clocks_mhz(ctx, gpu, clk, cap)
                    : joule_set_error(JOULE_ENOMEM, "out of memory");
        if (n == JOULE_ENOTSUP) {
            n = -1; /* cannot list them: the lock will tell */
        } else if (n < 0) {
            rc = n;
        }
        if (n > cap)
            n = cap;
        for (int k = 0; !rc && n >= 0 && k < rt->plan.n; k++) {
            const pl_step *st = &rt->plan.steps[k];
            int ok = 0;
            for (int j = 0; j < n && !ok; j++)
                ok = clk[j] == st->freq_mhz;
            if (!ok)
                rc = joule_set_error(JOULE_EINVAL,
                                     "%s: stage %d, computation %d (%s "
                                     "microbatch %d): %d MHz is not a "
                                     "supported SM clock of gpu%d (%d to %d "
                                     "MHz)",
                                     plan_file, stage, k,
                                     pl_instr_name(st->instr), st->mb,
                                     st->freq_mhz, gpu, n ? clk[n - 1] : 0,
                                     n ? clk[0] : 0);
        }
        free(clk);
    }
    if (!rc && pthread_create(&rt->thread, NULL, control_main, rt) != 0)
        rc = joule_set_error(JOULE_ENOMEM,
                             "joule_plan_load: cannot start the control "
                             "thread");
    if (rc) {
        if (rc == JOULE_EINVAL && !strstr(joule_last_error(), plan_file)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", joule_last_error());
            joule_set_error(rc, "%s: %s", plan_file, msg);
        }
        rt_destroy(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

JOULE_EXPORT int joule_plan_runtime_begin(joule_plan_runtime *rt, const char *instruction)
{
    if (!rt)
        return joule_set_error(JOULE_EINVAL,
                               "joule_plan_instruction_begin: no plan is "
                               "loaded (call joule_plan_load() first)");
    int instr = pl_instr_parse(instruction);
    if (instr < 0)
        return joule_set_error(JOULE_EINVAL,
                               "joule_plan_instruction_begin: instruction "
                               "'%s' is not \"forward\" or \"backward\"",
                               instruction ? instruction : "(null)");
    /* a failure of the control thread is reported once, here */
    pthread_mutex_lock(&rt->mu);
    int err = rt->err;
    char msg[512];
    if (err) {
        snprintf(msg, sizeof msg, "%s", rt->errmsg);
        rt->err = 0;
    }
    pthread_mutex_unlock(&rt->mu);
    if (err)
        return joule_set_error(err, "plan for stage %d: %s", rt->stage, msg);
    const pl_step *want = &rt->plan.steps[rt->next];
    if (want->instr != instr || rt->mismatch) {
        rt->mismatch = 1;
        return joule_set_error(JOULE_EINVAL,
                               "plan mismatch on stage %d, iteration %lu, "
                               "computation %d of %d: the plan (%s) expects "
                               "%s of microbatch %d but the program began a "
                               "%s; the schedule, stage or microbatch count "
                               "differs from the plan's (reload it with "
                               "joule_plan_load() once fixed)",
                               rt->stage, rt->iteration, rt->next, rt->plan.n,
                               rt->file, pl_instr_name(want->instr), want->mb,
                               pl_instr_name(instr));
    }
    pthread_mutex_lock(&rt->mu);
    if (rt->pending)
        rt->superseded++;
    rt->req_mhz = want->freq_mhz;
    rt->pending = 1;
    rt->requests++;
    pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    if (++rt->next == rt->plan.n) {
        rt->next = 0;
        rt->iteration++;
    }
    return 0;
}

JOULE_EXPORT int joule_plan_runtime_destroy(joule_plan_runtime *rt)
{
    if (!rt)
        return 0;
    int rc = rt_stop(rt);
    rt_destroy(rt);
    return rc;
}

JOULE_EXPORT int joule_plan_runtime_stats(const joule_plan_runtime *crt, unsigned long *requests,
                                          unsigned long *superseded, unsigned long *applied)
{
    if (!crt)
        return joule_set_error(JOULE_EINVAL, "no plan is loaded");
    plan_rt *rt = (plan_rt *)crt; /* the lock is the only thing written */
    pthread_mutex_lock(&rt->mu);
    if (requests)
        *requests = rt->requests;
    if (superseded)
        *superseded = rt->superseded;
    if (applied)
        *applied = rt->applied;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

/* ---- joule.h's context-keyed functions ----------------------------------- */

/* The key of the handle a context holds (core/attach.c). */
static const char attach_key;

/* The handle a context holds, NULL when none. */
static plan_rt *loaded(joule_ctx *ctx)
{
    return jctx_attached(ctx, &attach_key);
}

JOULE_EXPORT int joule_plan_load(joule_ctx *ctx, const char *plan_file, int stage, int gpu)
{
    if (loaded(ctx))
        return joule_set_error(JOULE_EEXIST,
                               "joule_plan_load: a plan is already loaded "
                               "on this context; call joule_plan_unload() "
                               "first");
    plan_rt *rt = NULL;
    int rc = joule_plan_runtime_create(ctx, plan_file, stage, gpu, &rt);
    if (rc)
        return rc;
    if ((rc = jctx_attach(ctx, &attach_key, rt, rt_free)) < 0)
        rt_free(rt);
    return rc;
}

JOULE_EXPORT int joule_plan_instruction_begin(joule_ctx *ctx, const char *instruction)
{
    return joule_plan_runtime_begin(loaded(ctx), instruction);
}

JOULE_EXPORT int joule_plan_unload(joule_ctx *ctx)
{
    plan_rt *rt = loaded(ctx);
    if (!rt)
        return joule_set_error(JOULE_EINVAL,
                               "joule_plan_unload: no plan is loaded");
    jctx_detach(ctx, &attach_key);
    return joule_plan_runtime_destroy(rt);
}

/* Counters for tests: requests posted, requests replaced in the mailbox
 * before the control thread took them, clocks applied. */
int pl_runtime_stats(joule_ctx *ctx, unsigned long *requests,
                     unsigned long *superseded, unsigned long *applied)
{
    return joule_plan_runtime_stats(loaded(ctx), requests, superseded, applied);
}
