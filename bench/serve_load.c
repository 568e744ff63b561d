/* serve_load: can joule bench serve's load generator keep up? It streams
 * from the stand-in LLM server (build/tests/standin_server, a separate
 * process, so only the client's CPU time is counted here) through
 * joule_serve_run and prints the streamed tokens/s and the CPU time the
 * client used, as % of one core. The target (issue 18): >= 2000 streamed
 * tokens/s with <= 25 % of a core. Printed, not asserted.
 *
 *   serve_load [STANDIN_SERVER] [CONCURRENCY] [ITL_S]   (16, 0.004) */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <joule/inference.h>

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    char server[PATH_MAX];
    if (argc > 1) {
        snprintf(server, sizeof server, "%s", argv[1]);
    } else { /* build/bench/serve_load -> build/tests/standin_server */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = 0;
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = 0;
        snprintf(server, sizeof server, "%s/../tests/standin_server", self);
    }
    int conc = argc > 2 ? atoi(argv[2]) : 16;
    const char *itl = argc > 3 ? argv[3] : "0.004";
    if (access(server, X_OK)) {
        fprintf(stderr, "serve_load: no stand-in server at %s (build the tests)\n", server);
        return 1;
    }
    int pipefd[2];
    if (pipe(pipefd))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execl(server, server, "--ttft", "0.02", "--itl", itl, "--model", "m", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char url[128] = "";
    FILE *in = fdopen(pipefd[0], "r");
    if (!in || !fgets(url, sizeof url, in)) {
        fprintf(stderr, "serve_load: the stand-in did not start\n");
        return 1;
    }
    url[strcspn(url, "\n")] = 0;

    char dir[] = "/tmp/serve-load-XXXXXX", path[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/p.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 64; i++)
        fprintf(f, "{\"prompt\": \"prompt %d\", \"max_tokens\": 128}\n", i);
    fclose(f);
    joule_prompts *p = NULL;
    joule_ctx *ctx = NULL;
    joule_options *o = NULL;
    if (joule_prompts_load(path, &p) || joule_options_create(&o) ||
        joule_options_set_devices(o, "sim:1:h100") || joule_open(o, &ctx)) {
        fprintf(stderr, "serve_load: %s\n", joule_last_error());
        return 1;
    }
    joule_options_destroy(o);

    printf("serve_load: joule_serve_run against the stand-in (ITL %s s, TTFT 0.02 s, 128 "
           "tokens per request)\n", itl);
    printf("%6s %9s %8s %12s %14s %14s\n", "conc", "requests", "time_s", "tokens_per_s",
           "cpu_core_pct", "cpu_thread_pct");
    int concs[] = {conc / 4 > 0 ? conc / 4 : 1, conc / 2 > 0 ? conc / 2 : 1, conc};
    int rc = 0;
    for (int k = 0; k < 3; k++) {
        joule_serve_options so;
        joule_serve_options_default(&so);
        so.url = url;
        so.model = "m";
        so.concurrency = concs[k];
        so.requests = 8 * concs[k] + 2;
        so.min_steady_s = 0;
        double c0 = cpu_s(RUSAGE_SELF), t0c = cpu_s(RUSAGE_THREAD), t0 = joule_now_s();
        joule_serve_result *r = NULL;
        if (joule_serve_run(ctx, p, &so, &r)) {
            fprintf(stderr, "serve_load: %s\n", joule_last_error());
            rc = 1;
            break;
        }
        double wall = joule_now_s() - t0;
        double cpu = cpu_s(RUSAGE_SELF) - c0, cput = cpu_s(RUSAGE_THREAD) - t0c;
        const joule_serve_stats *st = joule_serve_result_stats(r);
        printf("%6d %9d %8.2f %12.0f %13.1f%% %13.1f%%\n", concs[k], st->requests, wall,
               st->output_tokens / wall, 100 * cpu / wall, 100 * cput / wall);
        joule_serve_result_free(r);
    }
    printf("target: >= 2000 tokens/s at <= 25 %% of one core (cpu_core_pct: the whole client "
           "process, joule's keeper thread included; cpu_thread_pct: the load generator's "
           "thread)\n");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    joule_close(ctx);
    joule_prompts_free(p);
    unlink(path);
    rmdir(dir);
    return rc;
}
