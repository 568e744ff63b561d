/* The step's energy report: one JSON file per node, in the format of
 * `joule run --job-report` node files, so `joule report DIR` merges them. */
#ifndef JOULE_SPANK_REPORT_H
#define JOULE_SPANK_REPORT_H

#include <stddef.h>
#include <sys/types.h>

#include <joule/joule.h>

struct sj_step_info {
    const char *node, *job, *step;
    double begin_unix_s, end_unix_s;
    int exit_status;
    double power_limit_w;             /* 0: none set */
    int clock_min_mhz, clock_max_mhz; /* 0: none set */
};

/* The report's JSON text (free with free()) for the devices of ctx whose
 * use[i] is set; NULL when out of memory. */
char *sj_report_json(joule_ctx *ctx, const joule_result *r, const int *use,
                     const struct sj_step_info *info);
/* Writes text to path atomically (a temporary file, then a rename),
 * creating missing folders. With as_user, a child process does it as
 * uid/gid, so a user's --joule-report can only write where the user may. */
int sj_write_report(const char *path, const char *text, int as_user, uid_t uid, gid_t gid,
                    char *err, size_t len);

#endif
