/* One function per `joule` subcommand; main.c dispatches to them. Each
 * takes argv starting at the subcommand's name and returns the exit code. */
#ifndef JOULE_CLI_COMMANDS_H
#define JOULE_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_gpu(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_optimize(int, char**);
int cmd_sweep(int, char**);
int cmd_bench(int argc, char **argv);
int cmd_govern(int argc, char **argv);
int cmd_bso_simulate(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
