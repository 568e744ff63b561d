/* The plugin's policy: what a step asks for (--joule-* options) and what
 * the site sets in plugstack.conf, parsed without Slurm so the parsers can
 * be tested on their own. Every parser returns 0, or -1 with a sentence
 * in err that names the bad value. */
#ifndef JOULE_SPANK_POLICY_H
#define JOULE_SPANK_POLICY_H

#include <stddef.h>

#define SJ_MAX_ENV 16
#define SJ_PATH_MAX 4096

struct sj_policy {
    double power_limit_w;      /* 0: none */
    int clock_min_mhz, clock_max_mhz; /* 0: none */
    char report[SJ_PATH_MAX];  /* --joule-report pattern, "" none */
};

struct sj_site {
    struct sj_policy dflt;     /* default_power_limit, default_gpu_clocks */
    char report_dir[SJ_PATH_MAX]; /* report_dir: default report folder */
    char state_dir[SJ_PATH_MAX];  /* state_dir: the jobs' records for the
                                   * epilog ("": SJ_STATE_DEFAULT_DIR) */
    int nenv;
    char env[SJ_MAX_ENV][512]; /* env=NAME=VALUE, set in slurmstepd */
};

/* "300" or "300W": a power limit in watts, > 0 and finite. */
int sj_parse_watts(const char *s, double *w, char *err, size_t len);
/* "MIN,MAX" SM clocks in MHz, 0 < MIN <= MAX. */
int sj_parse_clocks(const char *s, int *min_mhz, int *max_mhz, char *err, size_t len);
/* One plugstack.conf argument (default_power_limit=W,
 * default_gpu_clocks=MIN,MAX, report_dir=DIR, state_dir=DIR,
 * env=NAME=VALUE). */
int sj_parse_site_arg(struct sj_site *site, const char *arg, char *err, size_t len);
/* The step's effective policy: its own options over the site's defaults;
 * a step that names no report gets report_dir/%j/%n.step%s.json. */
void sj_effective(const struct sj_site *site, const struct sj_policy *user,
                  struct sj_policy *out);
/* Expands %j (job id), %s (step: a number, "batch" or "interactive"),
 * %n (node name) and %% in pattern. */
int sj_expand_path(const char *pattern, const char *job, const char *step, const char *node,
                   char *out, size_t cap, char *err, size_t len);

#endif
