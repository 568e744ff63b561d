/* standin_server: the stand-in LLM server (support/standin_server.h) as a
 * program, for bench/serve_load and for trying `joule bench serve` by
 * hand. Prints its URL on stdout and serves until SIGINT/SIGTERM.
 *
 *   standin_server [--ttft S] [--itl S] [--itl-per-request S] [--model NAME]
 *
 * Without a GPU context its clock is always the top clock (slow = 1). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "standin_server.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    stop = sig;
}

int main(int argc, char **argv)
{
    struct standin_options o = {.ttft_s = 0.05, .itl_s = 0.02, .model = "standin"};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "standin_server: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--ttft"))
            o.ttft_s = atof(v);
        else if (!strcmp(argv[i], "--itl"))
            o.itl_s = atof(v);
        else if (!strcmp(argv[i], "--itl-per-request"))
            o.itl_per_request_s = atof(v);
        else if (!strcmp(argv[i], "--model"))
            o.model = v;
        else {
            fprintf(stderr, "usage: standin_server [--ttft S] [--itl S] [--itl-per-request S] "
                            "[--model NAME]\n");
            return 2;
        }
        i++;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct standin *s = standin_start(&o);
    if (!s) {
        fprintf(stderr, "standin_server: cannot start\n");
        return 1;
    }
    printf("%s\n", standin_url(s));
    fflush(stdout);
    while (!stop)
        pause();
    standin_stop(s);
    return 0;
}
