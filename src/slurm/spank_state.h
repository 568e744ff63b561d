/* The node's record of what a job changed on its GPUs, so the job epilog
 * can put them back when a step could not: a slurmstepd killed with
 * SIGKILL (or crashed) never reaches slurm_spank_exit. One JSON file per
 * job in the state folder (plugstack.conf state_dir=, default
 * /run/joule/spank: GPU settings do not outlive a reboot, nor need this):
 * each GPU the job changed, by UUID, with its setting from before the
 * job's first change. Steps of one job merge into the file under a lock,
 * so a nested or later step never replaces the first step's original. */
#ifndef JOULE_SPANK_STATE_H
#define JOULE_SPANK_STATE_H

#include <stddef.h>

#define SJ_STATE_MAX_GPUS 64
#define SJ_STATE_DEFAULT_DIR "/run/joule/spank"

struct sj_saved_gpu {
    char uuid[96];
    double power_limit_w;  /* before the job's first change; 0: not changed */
    int clocks_locked;     /* a step locked its SM clocks */
};

/* Adds the n GPUs to the job's record (creating dir and the file): a GPU
 * already there keeps its original limit, and gains one if it had none. */
int sj_state_record(const char *dir, const char *job, const struct sj_saved_gpu *g, int n,
                    char *err, size_t len);
/* The job's record: the count of GPUs read into g (up to cap), 0 when
 * there is no record, -1 with err when it cannot be read. */
int sj_state_load(const char *dir, const char *job, struct sj_saved_gpu *g, int cap, char *err,
                  size_t len);
/* Removes the job's record (done by the epilog). */
void sj_state_remove(const char *dir, const char *job);

#endif
