/* spank_joule.so: a Slurm SPANK plugin that sets each step's GPUs (power
 * limit, locked SM clocks) at step start and restores them when the step
 * ends, measures the step's GPU energy on each node and writes it to a
 * report (docs/cluster.md, "Slurm: the SPANK plugin").
 *
 * Where it runs (see <slurm/spank.h>): in srun/sbatch only the options are
 * registered and checked; in slurmstepd (remote context)
 *   init_post_opt  as root, once per step, before any task forks: open the
 *                  GPUs, check the values, set them, begin the window;
 *   task_exit      records the tasks' exit status;
 *   exit           after every task has exited or was killed (also on
 *                  scancel and on failure): end the window, restore,
 *                  write the report, log one line.
 * and in the job epilog (slurmd's epilog, as root, once per job and node)
 *   job_epilog     puts back what the job's record (spank_state.h) says it
 *                  changed, for a step whose slurmstepd died unrestored.
 * Failures return -1: Slurm stops a step only on a negative code (and
 * only for a plugin listed as "required" in plugstack.conf).
 * It never uses joule_options_set_restore_on_exit: that installs SIGINT
 * and SIGTERM handlers, and those signals belong to slurmstepd. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include <joule/joule.h>

#include "spank_policy.h"
#include "spank_report.h"
#include "spank_state.h"

SPANK_PLUGIN(joule, 1);

#define SJ_MAX_GPUS 64

static struct sj_site site;
static struct sj_policy user;  /* this step's --joule-* options */
static char opt_err[512];      /* an option value the callback refused */

/* The step's state in slurmstepd between init_post_opt and exit. */
static struct {
    joule_ctx *ctx;
    struct sj_policy pol;
    int use[SJ_MAX_GPUS * 4];  /* device i of ctx belongs to the step */
    int ngpu, gpus[SJ_MAX_GPUS];
    double begin_unix_s;
    int exit_status;
    char job[32], step[32], node[256];
    uid_t uid;
    gid_t gid;
} step;

enum { OPT_POWER_LIMIT = 1, OPT_GPU_CLOCKS, OPT_REPORT };

static int option_cb(int val, const char *optarg, int remote)
{
    char err[400];
    int rc = 0;
    switch (val) {
    case OPT_POWER_LIMIT:
        rc = sj_parse_watts(optarg, &user.power_limit_w, err, sizeof err);
        break;
    case OPT_GPU_CLOCKS:
        rc = sj_parse_clocks(optarg, &user.clock_min_mhz, &user.clock_max_mhz, err, sizeof err);
        break;
    case OPT_REPORT:
        if (!optarg || !*optarg || strlen(optarg) >= sizeof user.report) {
            snprintf(err, sizeof err, "--joule-report needs a file name");
            rc = -1;
        } else {
            snprintf(user.report, sizeof user.report, "%s", optarg);
        }
        break;
    }
    if (rc) {
        snprintf(opt_err, sizeof opt_err, "%s", err);
        slurm_error("joule: %s", err);
    }
    return rc ? -1 : ESPANK_SUCCESS;
}

static struct spank_option options[] = {
    {"joule-power-limit", "W",
     "Set the power limit of the step's GPUs to W watts while it runs (joule; restored after)",
     1, OPT_POWER_LIMIT, option_cb},
    {"joule-gpu-clocks", "MIN,MAX",
     "Lock the SM clocks of the step's GPUs to MIN..MAX MHz while it runs (joule; restored after)",
     1, OPT_GPU_CLOCKS, option_cb},
    {"joule-report", "PATH",
     "Write each node's GPU energy of the step as JSON to PATH (%j job id, %s step, %n node)",
     1, OPT_REPORT, option_cb},
    SPANK_OPTIONS_TABLE_END};

/* The plugstack.conf arguments into site; env=NAME=VALUE is set in this
 * process where libjoule runs (slurmstepd and the job epilog do not
 * inherit slurmd's environment: this is how libjoule finds e.g. a vendor
 * library elsewhere, and the test finds the NVML test double). */
static int load_site(int ac, char **av, int set_env)
{
    char err[600];
    memset(&site, 0, sizeof site);
    for (int i = 0; i < ac; i++) {
        if (sj_parse_site_arg(&site, av[i], err, sizeof err)) {
            slurm_error("spank_joule: %s", err);
            return -1;
        }
    }
    for (int i = 0; set_env && i < site.nenv; i++) {
        char *eq = strchr(site.env[i], '=');
        *eq = '\0';
        setenv(site.env[i], eq + 1, 1);
        *eq = '=';
    }
    return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    if (load_site(ac, av, spank_remote(sp) == 1))
        return -1;
    for (struct spank_option *o = options; o->name; o++)
        if (spank_option_register(sp, o) != ESPANK_SUCCESS) {
            slurm_error("spank_joule: cannot register --%s", o->name);
            return -1;
        }
    return ESPANK_SUCCESS;
}

/* A step refused on this node: why, for each of its tasks to say. */
static char refused[1200];

/* Logs err and refuses the step: every task then fails before it execs,
 * saying err on its stderr (slurmstepd has no channel to srun before the
 * tasks start; a task's stderr reaches srun or the batch job's output).
 * Nothing has been changed on the GPUs. Returns 0 so the step goes on to
 * the tasks that say why. */
static int refuse(const char *err)
{
    slurm_error("joule: job %s step %s: %s", step.job, step.step, err);
    snprintf(refused, sizeof refused, "%s", err);
    return ESPANK_SUCCESS;
}

static void step_name(spank_t sp)
{
    uint32_t job = 0, id = 0;
    spank_get_item(sp, S_JOB_ID, &job);
    spank_get_item(sp, S_JOB_STEPID, &id);
    snprintf(step.job, sizeof step.job, "%u", (unsigned)job);
    if (id == SLURM_BATCH_SCRIPT)
        snprintf(step.step, sizeof step.step, "batch");
    else if (id == SLURM_INTERACTIVE_STEP)
        snprintf(step.step, sizeof step.step, "interactive");
    else if (id == SLURM_EXTERN_CONT)
        snprintf(step.step, sizeof step.step, "extern");
    else
        snprintf(step.step, sizeof step.step, "%u", (unsigned)id);
    if (gethostname(step.node, sizeof step.node) != 0)
        snprintf(step.node, sizeof step.node, "unknown");
    step.node[sizeof step.node - 1] = '\0';
    /* The short host name, as Slurm's own %N in file names. */
    char *dot = strchr(step.node, '.');
    if (dot && dot != step.node)
        *dot = '\0';
    spank_get_item(sp, S_JOB_UID, &step.uid);
    spank_get_item(sp, S_JOB_GID, &step.gid);
}

/* The step's GPUs: its allocation (SLURM_STEP_GPUS, SLURM_JOB_GPUS, then
 * CUDA_VISIBLE_DEVICES from the job's environment), or every GPU. */
static int select_gpus(spank_t sp, char *err, size_t len)
{
    static const char *const vars[] = {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"};
    char list[1024] = "all";
    const char *from = "no GPU allocation: every GPU";
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        char v[1024];
        if (spank_getenv(sp, vars[i], v, sizeof v) == ESPANK_SUCCESS && v[0]) {
            snprintf(list, sizeof list, "%s", v);
            from = vars[i];
            break;
        }
    }
    memset(step.use, 0, sizeof step.use);
    step.ngpu = 0;
    int has_gpu = 0;
    for (int i = 0; i < joule_device_count(step.ctx); i++)
        has_gpu |= joule_device_kind(joule_device_at(step.ctx, i)) == JOULE_KIND_GPU;
    if (!has_gpu)
        return 0;
    int n = joule_parse_gpu_list(step.ctx, list, step.gpus, SJ_MAX_GPUS);
    if (n < 0) {
        snprintf(err, len, "the step's GPUs (%s=%s) are not this node's: %s", from, list,
                 joule_last_error());
        return -1;
    }
    step.ngpu = n;
    for (int i = 0; i < joule_device_count(step.ctx) && i < (int)(sizeof step.use / sizeof *step.use); i++) {
        const joule_device *d = joule_device_at(step.ctx, i);
        if (joule_device_kind(d) != JOULE_KIND_GPU)
            continue;
        for (int k = 0; k < n; k++)
            step.use[i] |= joule_device_index(d) == step.gpus[k];
    }
    slurm_debug("joule: job %s step %s: GPUs %s (%s)", step.job, step.step, list, from);
    return 0;
}

static const char *state_dir(void)
{
    return site.state_dir[0] ? site.state_dir : SJ_STATE_DEFAULT_DIR;
}

/* GPU index g's device in ctx, or NULL. */
static const joule_device *gpu_device(joule_ctx *ctx, int g)
{
    for (int i = 0; i < joule_device_count(ctx); i++) {
        const joule_device *d = joule_device_at(ctx, i);
        if (joule_device_kind(d) == JOULE_KIND_GPU && joule_device_index(d) == g)
            return d;
    }
    return NULL;
}

/* Before the first change: what the step's GPUs are set to now, added to
 * the job's record for the epilog. Without a record the step still runs
 * (the step's own exit restores); only the safety net is missing. */
static void record_for_epilog(void)
{
    const struct sj_policy *p = &step.pol;
    struct sj_saved_gpu saved[SJ_MAX_GPUS];
    int n = 0;
    if (p->power_limit_w <= 0 && p->clock_min_mhz <= 0)
        return;
    for (int k = 0; k < step.ngpu; k++) {
        const joule_device *d = gpu_device(step.ctx, step.gpus[k]);
        double cur = 0, lo, hi, def, enf;
        if (!d || !joule_device_uuid(d)[0])
            continue;
        memset(&saved[n], 0, sizeof saved[n]);
        snprintf(saved[n].uuid, sizeof saved[n].uuid, "%s", joule_device_uuid(d));
        if (p->power_limit_w > 0 &&
            !joule_gpu_get_power_limit_w(step.ctx, step.gpus[k], &cur, &lo, &hi, &def, &enf))
            saved[n].power_limit_w = cur;
        saved[n].clocks_locked = p->clock_min_mhz > 0;
        n++;
    }
    char err[600];
    if (n && sj_state_record(state_dir(), step.job, saved, n, err, sizeof err))
        slurm_error("joule: job %s step %s: no record for the job epilog (%s); the step's own "
                    "end still restores the GPUs", step.job, step.step, err);
}

/* Checks every value against every GPU first, then sets them; a failure
 * part way puts back what was set. GPUs are left as they were on error. */
static int apply(char *err, size_t len)
{
    const struct sj_policy *p = &step.pol;
    if ((p->power_limit_w > 0 || p->clock_min_mhz > 0) && !step.ngpu) {
        snprintf(err, len, "%s requested, but node %s has no GPUs joule can reach (%s)",
                 p->power_limit_w > 0 ? "a power limit" : "GPU clocks", step.node,
                 joule_device_count(step.ctx) ? "none selected" : "no GPU backend found");
        return -1;
    }
    for (int k = 0; k < step.ngpu && p->power_limit_w > 0; k++) {
        double cur, lo, hi, def, enf;
        if (joule_gpu_get_power_limit_w(step.ctx, step.gpus[k], &cur, &lo, &hi, &def, &enf)) {
            snprintf(err, len, "cannot read gpu%d's power limit range: %s", step.gpus[k],
                     joule_last_error());
            return -1;
        }
        if (p->power_limit_w < lo || p->power_limit_w > hi) {
            snprintf(err, len, "power limit %g W is out of range for gpu%d (%g to %g W)",
                     p->power_limit_w, step.gpus[k], lo, hi);
            return -1;
        }
    }
    record_for_epilog();
    int rc = 0;
    for (int k = 0; k < step.ngpu && !rc; k++) {
        int g = step.gpus[k];
        if (p->power_limit_w > 0 && (rc = joule_gpu_set_power_limit_w(step.ctx, g, p->power_limit_w)))
            snprintf(err, len, "cannot set gpu%d's power limit to %g W: %s", g, p->power_limit_w,
                     joule_last_error());
        else if (p->clock_min_mhz > 0 &&
                 (rc = joule_gpu_lock_clocks_mhz(step.ctx, g, p->clock_min_mhz, p->clock_max_mhz)))
            snprintf(err, len, "cannot lock gpu%d's SM clocks to %d,%d MHz: %s", g,
                     p->clock_min_mhz, p->clock_max_mhz, joule_last_error());
    }
    if (rc && joule_restore(step.ctx))
        slurm_error("joule: putting the GPUs back after a failed change: %s", joule_last_error());
    return rc ? -1 : 0;
}

static double unix_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void close_step(void)
{
    joule_close(step.ctx);
    step.ctx = NULL;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    if (spank_context() != S_CTX_REMOTE)
        return opt_err[0] ? -1 : ESPANK_SUCCESS;
    step_name(sp);
    if (opt_err[0])
        return refuse(opt_err);
    sj_effective(&site, &user, &step.pol);
    step.exit_status = 0;
    /* The extern step holds no work; a step that asks for nothing costs
     * nothing. */
    if (!strcmp(step.step, "extern") ||
        (step.pol.power_limit_w <= 0 && step.pol.clock_min_mhz <= 0 && !step.pol.report[0]))
        return ESPANK_SUCCESS;

    char err[1024];
    joule_options *o = NULL;
    int rc = joule_options_create(&o);
    if (!rc)
        rc = joule_options_set_devices(o, "gpu");
    if (!rc)
        joule_options_allow_empty(o);
    if (!rc)
        rc = joule_open(o, &step.ctx);
    joule_options_destroy(o);
    if (rc) {
        snprintf(err, sizeof err, "cannot open the GPUs of node %s: %s", step.node, joule_last_error());
        step.ctx = NULL;
        return refuse(err);
    }
    if (select_gpus(sp, err, sizeof err) || apply(err, sizeof err)) {
        close_step();
        return refuse(err);
    }
    step.begin_unix_s = unix_now();
    if (joule_window_begin(step.ctx, "slurm step", 0))
        slurm_error("joule: job %s step %s: cannot begin the energy window: %s", step.job, step.step,
                    joule_last_error());
    char what[160] = "";
    if (step.pol.power_limit_w > 0)
        snprintf(what, sizeof what, " power limit %g W", step.pol.power_limit_w);
    if (step.pol.clock_min_mhz > 0)
        snprintf(what + strlen(what), sizeof what - strlen(what), " SM clocks %d-%d MHz",
                 step.pol.clock_min_mhz, step.pol.clock_max_mhz);
    slurm_info("joule: job %s step %s on %s: %d GPU(s) set:%s", step.job, step.step, step.node,
               step.ngpu, what[0] ? what : " nothing (measuring only)");
    return ESPANK_SUCCESS;
}

/* In each task's process, as root, before it execs. */
int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
    if (!refused[0])
        return ESPANK_SUCCESS;
    fprintf(stderr, "joule: %s; the step does not run (GPUs unchanged)\n", refused);
    fflush(stderr);
    return -1;
}

int slurm_spank_task_exit(spank_t sp, int ac, char **av)
{
    int st = 0;
    if (spank_get_item(sp, S_TASK_EXIT_STATUS, &st) != ESPANK_SUCCESS)
        return ESPANK_SUCCESS;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 0;
    if (code && !step.exit_status)
        step.exit_status = code;
    return ESPANK_SUCCESS;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    if (spank_context() != S_CTX_REMOTE || !step.ctx)
        return ESPANK_SUCCESS;
    joule_result *r = NULL;
    if (joule_window_end(step.ctx, "slurm step", 0, &r))
        slurm_error("joule: job %s step %s: cannot end the energy window: %s", step.job, step.step,
                    joule_last_error());
    int failed = 0;
    if (joule_restore(step.ctx)) {
        slurm_error("joule: job %s step %s: restoring the GPUs failed: %s", step.job, step.step,
                    joule_last_error());
        failed = 1;
    }
    double total = 0;
    for (int i = 0; r && i < joule_device_count(step.ctx); i++)
        if (step.use[i]) {
            int status = 0;
            double e = joule_result_energy_j(r, i, NULL, &status);
            if (!status && !isnan(e))
                total += e;
        }
    char path[SJ_PATH_MAX] = "", err[SJ_PATH_MAX + 256];
    if (step.pol.report[0]) {
        struct sj_step_info info = {
            .node = step.node, .job = step.job, .step = step.step,
            .begin_unix_s = step.begin_unix_s, .end_unix_s = unix_now(),
            .exit_status = step.exit_status, .power_limit_w = step.pol.power_limit_w,
            .clock_min_mhz = step.pol.clock_min_mhz, .clock_max_mhz = step.pol.clock_max_mhz};
        char *text = sj_report_json(step.ctx, r, step.use, &info);
        /* The user's own path is written as the user; the site's
         * report_dir as root. */
        int as_user = user.report[0] != '\0';
        if (!text)
            slurm_error("joule: out of memory writing the energy report");
        else if (sj_expand_path(step.pol.report, step.job, step.step, step.node, path, sizeof path,
                                err, sizeof err) ||
                 sj_write_report(path, text, as_user, step.uid, step.gid, err, sizeof err)) {
            slurm_error("joule: job %s step %s: %s", step.job, step.step, err);
            path[0] = '\0';
        }
        free(text);
    }
    slurm_info("joule: job %s step %s on %s: %d GPU(s), %.1f J over %.2f s%s%s%s", step.job,
               step.step, step.node, step.ngpu, total, r ? joule_result_time_s(r) : 0.0,
               failed ? ", restore FAILED" : ", restored", path[0] ? ", report " : "", path);
    joule_result_free(r);
    close_step();
    return ESPANK_SUCCESS;
}

/* The job epilog, as root, after every step of the job on this node has
 * ended: each step restores its own changes, so normally this finds the
 * GPUs as the record says and only removes it. A step whose slurmstepd
 * was killed (SIGKILL, a crash) left its limit or clocks behind: put
 * back the settings from before the job's first change. */
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    uint32_t job_id = 0;
    char job[32], err[800];
    /* Slurm calls no init() before the job epilog. */
    if (load_site(ac, av, 1))
        return ESPANK_SUCCESS;
    if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS)
        return ESPANK_SUCCESS;
    snprintf(job, sizeof job, "%u", (unsigned)job_id);
    struct sj_saved_gpu saved[SJ_STATE_MAX_GPUS];
    int n = sj_state_load(state_dir(), job, saved, SJ_STATE_MAX_GPUS, err, sizeof err);
    if (n < 0) {
        slurm_error("joule: job %s epilog: %s", job, err);
        sj_state_remove(state_dir(), job);
        return ESPANK_SUCCESS;
    }
    if (n == 0)
        return ESPANK_SUCCESS;
    joule_options *o = NULL;
    joule_ctx *ctx = NULL;
    int rc = joule_options_create(&o);
    if (!rc)
        rc = joule_options_set_devices(o, "gpu");
    if (!rc)
        rc = joule_open(o, &ctx);
    joule_options_destroy(o);
    if (rc) {
        /* Keep the record: an operator can see what to put back. */
        slurm_error("joule: job %s epilog: cannot open the GPUs to check them (%s); their "
                    "settings from before the job are in %s/job-%s.json",
                    job, joule_last_error(), state_dir(), job);
        return ESPANK_SUCCESS;
    }
    char done[1024] = "";
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int g = -1;
        size_t used = strlen(done);
        if (joule_parse_gpu_list(ctx, saved[i].uuid, &g, 1) != 1) {
            slurm_error("joule: job %s epilog: GPU %s is gone: %s", job, saved[i].uuid,
                        joule_last_error());
            failed = 1;
            continue;
        }
        double cur = 0, lo, hi, def, enf;
        if (saved[i].power_limit_w > 0 &&
            !joule_gpu_get_power_limit_w(ctx, g, &cur, &lo, &hi, &def, &enf) &&
            fabs(cur - saved[i].power_limit_w) >= 0.5) {
            if (joule_gpu_set_power_limit_w(ctx, g, saved[i].power_limit_w)) {
                slurm_error("joule: job %s epilog: cannot put gpu%d's power limit back to %g W: %s",
                            job, g, saved[i].power_limit_w, joule_last_error());
                failed = 1;
            } else {
                snprintf(done + used, sizeof done - used, " gpu%d %g->%g W", g, cur,
                         saved[i].power_limit_w);
            }
        }
        /* NVML cannot read a locked range back: unlock whatever a step
         * locked (a no-op when the step already did). */
        if (saved[i].clocks_locked && joule_gpu_reset_clocks(ctx, g)) {
            slurm_error("joule: job %s epilog: cannot unlock gpu%d's SM clocks: %s", job, g,
                        joule_last_error());
            failed = 1;
        }
    }
    joule_close(ctx);
    if (done[0])
        slurm_info("joule: job %s epilog: a step ended without restoring (slurmstepd killed?); "
                   "put back:%s", job, done);
    else
        slurm_debug("joule: job %s epilog: the GPUs are as before the job", job);
    if (!failed)
        sj_state_remove(state_dir(), job);
    return ESPANK_SUCCESS;
}
