/* `joule sweep`: CMD once per setting, measured by libjoule's sweep
 * (include/joule/sweep.h); then the means, spreads and frontier. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "common.h"
#include "progress.h"
#include "sweep.h"

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (!cli_interrupted && nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* Sum of the "joule:work N" lines CMD wrote; -1 if none. A line whose N
 * is not a finite number >= 0, or a sum past the largest double, is -2
 * with a message in err naming the line. */
static double read_progress(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    double total = 0;
    int seen = 0, lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (strncmp(p, "joule:work", 10))
            continue; /* other lines are CMD's own */
        char *end;
        double v = strtod(p + 10, &end);
        if (end == p + 10 || end[strspn(end, " \t\r\n")] || !isfinite(v) || v < 0 ||
            !isfinite(total + v)) {
            snprintf(err, errlen, "$JOULE_PROGRESS_FD line %d: '%.*s' is not 'joule:work N' "
                     "with N a finite number >= 0 (or the total overflows)", lineno,
                     (int)strcspn(p, "\r\n"), p);
            free(line);
            fclose(f);
            return -2;
        }
        total += v;
        seen = 1;
    }
    free(line);
    fclose(f);
    return seen ? total : -1;
}

/* One run of CMD: the sweep's step. */
struct cmd_step {
    char **cmd;
    const char *progress;
    int status, exec_errno;
};

static int run_cmd(void *user)
{
    struct cmd_step *c = user;
    c->status = cli_run_child(c->cmd, "JOULE_PROGRESS_FD", c->progress, &c->exec_errno);
    return c->status != 0 || cli_interrupted;
}

/* One setting's window: CMD once, or as many times as it takes to know
 * its energy to ±1 % (per run: *t, *e, *units). Returns the last wait
 * status, or -1 when CMD could not start. */
static int measure(joule_sweep *sw, int *warned, struct cli_progress *pg, char **cmd,
                   const char *progress, double *t, double *e, double *units, int *runs,
                   char *err, size_t errlen)
{
    FILE *pf = fopen(progress, "w");
    if (pf)
        fclose(pf);
    struct cmd_step step = {cmd, progress, 0, 0};
    joule_sweep_measurement m;
    if (joule_sweep_measure(sw, run_cmd, &step, &m)) {
        snprintf(err, errlen, "%s", joule_last_error());
        return -1;
    }
    *runs = m.runs;
    if (m.runs > 1 && !*warned) {
        joule_sweep_options d; /* the caps the CLI's sweep runs with */
        joule_sweep_options_default(&d);
        cli_progress_clear(pg);
        fprintf(stderr,
                "joule sweep: one run of %.3g s measures only to ±%.2g %% of its energy; "
                "each setting runs CMD again in the same window (up to %d runs or %g s) "
                "to reach ±%g %%, and reports per run\n",
                m.single_run_time_s, 100 * m.single_run_relative_uncertainty,
                d.max_runs_per_window, d.max_window_s, 100 * d.target);
        *warned = 1;
    }
    if (step.status < 0) {
        snprintf(err, errlen, "cannot run '%s': %s", cmd[0], strerror(step.exec_errno));
        return -1;
    }
    *t = m.time_s;
    *e = m.energy_j;
    if (isnan(m.energy_j))
        snprintf(err, errlen, "%s", m.error);
    double u = read_progress(progress, err, errlen);
    if (u == -1 && m.sim_work >= 0)
        u = m.sim_work;
    if (u > 0 && !(isfinite(*t / u) && isfinite(*e / u))) {
        snprintf(err, errlen, "%g units of work give a time or energy per unit that is not a "
                 "finite number", u);
        u = -2;
    }
    *units = u == -2 ? NAN : u < 0 ? u : u / m.runs; /* per run, like *t and *e */
    return step.status;
}

int sweep_run(joule_ctx *ctx, joule_sweep *sw, const struct sweep_args *a,
              struct sweep_summary *sum, int *restore_rc)
{
    char tmpdir[] = "/tmp/joule-sweep-XXXXXX", progress[64];
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "joule sweep: cannot create a temporary folder: %s\n", strerror(errno));
        return 1;
    }
    snprintf(progress, sizeof progress, "%s/progress", tmpdir);
    /* Settings are compared to ±1 %: learn the counters' timing first
     * (about a second) so the first setting's window needs no extra runs. */
    joule_learn_timing(ctx, 2.0);

    int nset = a->nset, repeat = a->repeat, warned = 0;
    struct setting *st = sum->st = calloc((size_t)nset, sizeof *st);
    if (!st) {
        fprintf(stderr, "joule sweep: out of memory\n");
        rmdir(tmpdir);
        return 1;
    }
    for (int k = 0; k < nset; k++) {
        st[k].knob = a->knobs[k];
        st[k].time_s = calloc((size_t)repeat, sizeof(double));
        st[k].energy_j = calloc((size_t)repeat, sizeof(double));
        st[k].units = calloc((size_t)repeat, sizeof(double));
    }
    const char *unit = a->clocks ? "MHz" : "W";

    cli_signals_forward();

    struct cli_progress pg;
    cli_progress_start(&pg, a->quiet);
    int done = 0, total = nset * repeat;
    for (int k = 0; k < nset && !cli_interrupted; k++) {
        char what[64];
        snprintf(what, sizeof what, "setting %g %s", a->knobs[k], unit);
        if (k > 0 && a->cooldown > 0) {
            cli_progress_update(&pg, what, k * repeat, total);
            sleep_s(a->cooldown);
        }
        if (cli_interrupted)
            break;
        if (joule_sweep_apply(sw, a->knobs[k])) {
            st[k].failed = 1;
            snprintf(st[k].error, sizeof st[k].error, "%s", joule_last_error());
            cli_progress_clear(&pg);
            fprintf(stderr, "joule sweep: %s\n", st[k].error);
            done = k + 1;
            continue;
        }
        for (int r = 0; r < repeat && !cli_interrupted; r++) {
            double t = 0, e = 0, u = -1;
            char rerr[256] = "";
            cli_progress_update(&pg, what, k * repeat + r, total);
            int status = measure(sw, &warned, &pg, a->cmd, progress, &t, &e, &u,
                                 &st[k].window_runs, rerr, sizeof rerr);
            if (status < 0) {
                st[k].failed = 1;
                snprintf(st[k].error, sizeof st[k].error, "%s", rerr);
                cli_progress_clear(&pg);
                fprintf(stderr, "joule sweep: %g %s: %s\n", a->knobs[k], unit, rerr);
                break;
            }
            int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
            if (cli_interrupted)
                break; /* a run cut short is not a measurement */
            if (code != 0 || isnan(e) || isnan(u)) {
                st[k].failed = 1;
                if (code != 0)
                    snprintf(st[k].error, sizeof st[k].error, "command exited with status %d",
                             code);
                else
                    snprintf(st[k].error, sizeof st[k].error, "%s", rerr);
                cli_progress_clear(&pg);
                fprintf(stderr, "joule sweep: %g %s: %s; going on with the next setting\n",
                        a->knobs[k], unit, st[k].error);
                break;
            }
            st[k].time_s[st[k].runs] = t;
            st[k].energy_j[st[k].runs] = e;
            st[k].units[st[k].runs] = u;
            st[k].runs++;
        }
        if (!cli_interrupted)
            done = k + 1;
        /* A failed command may have left the GPU in any state: restore now
         * so nothing lingers if the sweep stops here. */
        if (st[k].failed)
            joule_restore(ctx);
    }
    cli_progress_clear(&pg);
    sum->done = done;
    *restore_rc = joule_restore(ctx);
    cli_signals_restore();
    if (*restore_rc)
        fprintf(stderr, "joule sweep: restoring the GPUs' settings failed: %s\n",
                joule_last_error());
    unlink(progress);
    rmdir(tmpdir);
    return 0;
}

void sweep_summarize(const struct sweep_args *a, double p_max_w, struct sweep_summary *sum)
{
    int nset = a->nset;
    struct setting *st = sum->st;
    /* A setting is measured when it has runs and did not fail. */
    sum->per_unit = 1;
    sum->nok = 0;
    for (int k = 0; k < nset; k++) {
        struct setting *s = &st[k];
        if (s->failed)
            s->runs = 0; /* partial repeats of a failed setting are not reported */
        if (!s->runs)
            continue;
        sum->nok++;
        joule_sweep_mean_sd(s->time_s, s->runs, 1, &s->t, &s->t_sd);
        joule_sweep_mean_sd(s->energy_j, s->runs, 1, &s->e, &s->e_sd);
        joule_sweep_mean_sd(s->units, s->runs, 1, &s->u, NULL);
        for (int r = 0; r < s->runs; r++)
            if (!(s->units[r] > 0))
                sum->per_unit = 0;
    }
    if (sum->nok == 0)
        sum->per_unit = 0;
    /* Points: per unit (mean of per-run rates) or per run. */
    sum->pts = calloc((size_t)nset, sizeof *sum->pts);
    sum->pidx = calloc((size_t)nset, sizeof *sum->pidx);
    sum->front = calloc((size_t)nset, sizeof *sum->front);
    sum->np = 0;
    for (int k = 0; k < nset && sum->pts && sum->pidx; k++) {
        struct setting *s = &st[k];
        if (!s->runs)
            continue;
        double t = s->t, e = s->e;
        if (sum->per_unit) {
            double ts[10000], es[10000];
            for (int r = 0; r < s->runs; r++) {
                ts[r] = s->time_s[r] / s->units[r];
                es[r] = s->energy_j[r] / s->units[r];
            }
            joule_sweep_mean_sd(ts, s->runs, 1, &t, NULL);
            joule_sweep_mean_sd(es, s->runs, 1, &e, NULL);
        }
        sum->pts[sum->np] = (joule_setting_point){s->knob, t, e};
        sum->pidx[sum->np++] = k;
    }
    sum->base = sum->np > 0 ? 0 : -1; /* highest measured setting */
    sum->selerr[0] = '\0';
    if (!sum->front ||
        joule_sweep_choose(sum->pts, sum->np, a->eta, a->fmax, p_max_w, sum->ngpus, sum->front,
                           &sum->ch))
        snprintf(sum->selerr, sizeof sum->selerr, "%s",
                 sum->front ? joule_last_error() : "out of memory");
}

void sweep_summary_free(const struct sweep_args *a, struct sweep_summary *sum)
{
    for (int k = 0; sum->st && k < a->nset; k++) {
        free(sum->st[k].time_s);
        free(sum->st[k].energy_j);
        free(sum->st[k].units);
    }
    free(sum->st);
    free(sum->pts);
    free(sum->pidx);
    free(sum->front);
}
