/* Running the measured command (joule run, joule sweep): SIGINT and
 * SIGTERM sent to joule are passed on to it, and joule learns it was
 * interrupted. */
#ifndef JOULE_CLI_CHILD_H
#define JOULE_CLI_CHILD_H

#include <signal.h>

/* The signal that interrupted joule, 0 if none. */
extern volatile sig_atomic_t cli_interrupted;

/* Installs the forwarding handlers; cli_signals_restore puts back what
 * was there. */
void cli_signals_forward(void);
void cli_signals_restore(void);

/* Runs argv (with NAME=VALUE env_set in its environment when not NULL);
 * returns its wait status, or -1 with *exec_errno when it could not run. */
int cli_run_child(char **argv, const char *env_name, const char *env_value, int *exec_errno);

#endif
