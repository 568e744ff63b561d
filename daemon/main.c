/* jouled: command line, config, signals, and `jouled token ...`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

#include "auth.h"
#include "jd.h"
#include "server.h"
#include "sse.h"

/* SYSCONFDIR/joule/jouled.conf, set by the build (daemon/CMakeLists.txt). */
#ifdef JOULED_DEFAULT_CONFIG
#define DEFAULT_CONFIG JOULED_DEFAULT_CONFIG
#else
#define DEFAULT_CONFIG "/etc/joule/jouled.conf"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jouled [--config FILE] [--socket PATH] [--state-dir DIR] [--tcp HOST:PORT]\n"
            "              [--devices SPEC] [--foreground] [--check-config]\n"
            "       jouled token issue --user NAME --scope read[,control] --expires T\n"
            "              [--config FILE | --secret-file FILE]\n"
            "       jouled token secret FILE\n"
            "\n"
            "The privileged daemon of joule: GPU control and RAPL reads for ordinary users,\n"
            "live power streams and a Prometheus /metrics endpoint. See docs/daemon.md.\n"
            "  --config FILE     configuration (default " DEFAULT_CONFIG "; missing default = "
            "built-in defaults)\n"
            "  --socket PATH     unix socket (overrides `socket`)\n"
            "  --state-dir DIR   where originals are recorded (overrides `state_dir`)\n"
            "  --tcp HOST:PORT   also listen on TCP (overrides `tcp`; 'off' disables)\n"
            "  --devices SPEC    devices to serve (overrides `devices`)\n"
            "  --foreground      stay attached, log to stderr\n"
            "  --check-config    validate the configuration and exit (0 = valid)\n"
            "  --help            this help\n"
            "token issue --expires T: the token's lifetime with its unit, s, m, h or d\n"
            "(e.g. 7d, 12h, 30m; at most 3650d). A bare number is refused.\n");
}

static int load_config(struct jd_config *cfg, const char *path, int explicit_path)
{
    char err[1024];
    jd_config_defaults(cfg);
    if (!explicit_path && access(path, F_OK) != 0)
        return 0;
    if (jd_config_load(cfg, path, err, sizeof err)) {
        fprintf(stderr, "jouled: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_token(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "secret")) {
        unsigned char key[32];
        if (RAND_bytes(key, sizeof key) != 1) {
            fprintf(stderr, "jouled token secret: no randomness\n");
            return 1;
        }
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "jouled token secret: %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        char hex[65];
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", key[i]);
        int ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
        close(fd);
        if (!ok) {
            fprintf(stderr, "jouled token secret: cannot write %s\n", argv[2]);
            return 1;
        }
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "issue") != 0) {
        if (argc < 2)
            fprintf(stderr, "jouled token: give 'issue' or 'secret FILE'\n");
        else if (!strcmp(argv[1], "secret"))
            fprintf(stderr, "jouled token secret: give the FILE to create\n");
        else
            fprintf(stderr, "jouled token: unknown subcommand '%s' (issue or secret FILE)\n",
                    argv[1]);
        fprintf(stderr, "Try 'jouled --help'.\n");
        return 2;
    }
    const char *user = NULL, *scope = NULL, *expires = NULL, *config = NULL, *secret = NULL;
    static const struct option opts[] = {
        {"user", required_argument, 0, 'u'},        {"scope", required_argument, 0, 's'},
        {"expires", required_argument, 0, 'e'},     {"config", required_argument, 0, 'c'},
        {"secret-file", required_argument, 0, 'k'}, {0, 0, 0, 0},
    };
    optind = 2;
    int ch;
    char name[] = "jouled token issue"; /* getopt's messages name it */
    argv[0] = name;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'u': user = optarg; break;
        case 's': scope = optarg; break;
        case 'e': expires = optarg; break;
        case 'c': config = optarg; break;
        case 'k': secret = optarg; break;
        default: fprintf(stderr, "Try 'jouled --help'.\n"); return 2;
        }
    }
    unsigned scopes = 0;
    int64_t secs = expires ? jd_parse_duration(expires) : -1;
    if (!user || !*user || strlen(user) > 64) {
        fprintf(stderr, "jouled token issue: --user NAME is required (at most 64 characters)\n");
        return 2;
    }
    if (!scope || jd_scopes_parse(scope, &scopes) || !scopes) {
        fprintf(stderr, "jouled token issue: --scope must list read and/or control\n");
        return 2;
    }
    if (secs <= 0) {
        double bare;
        if (!expires)
            fprintf(stderr, "jouled token issue: --expires is required, with a unit: 7d, 12h, "
                            "30m, 45s\n");
        else if (!joule_parse_duration(expires, 1, &bare) && joule_parse_duration(expires, 0, &bare))
            fprintf(stderr, "jouled token issue: --expires '%s' needs a unit: s, m, h or d "
                            "(e.g. %sd for days)\n", expires, expires);
        else
            fprintf(stderr, "jouled token issue: --expires '%s': give a duration from 1s to "
                            "3650d with its unit, e.g. 7d, 12h, 30m, 45s\n", expires);
        return 2;
    }
    struct jd_config cfg;
    if (!secret) {
        if (load_config(&cfg, config ? config : DEFAULT_CONFIG, config != NULL))
            return 2;
        secret = cfg.token_secret_file;
    }
    if (!secret || !*secret) {
        fprintf(stderr, "jouled token issue: no token_secret_file in the config; give "
                        "--secret-file FILE\n");
        return 2;
    }
    unsigned char key[256];
    size_t klen;
    char err[512];
    if (jd_secret_load(secret, key, sizeof key, &klen, err, sizeof err)) {
        fprintf(stderr, "jouled token issue: %s\n", err);
        return 1;
    }
    int64_t now = (int64_t)time(NULL);
    char *tok = jd_token_issue(key, klen, user, scopes, now, now + secs);
    if (!tok)
        return 1;
    printf("%s\n", tok);
    free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "token"))
        return cmd_token(argc - 1, argv + 1);
    const char *config = NULL, *sock = NULL, *state = NULL, *tcp = NULL, *devices = NULL;
    int foreground = 0, check = 0;
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},    {"socket", required_argument, 0, 's'},
        {"state-dir", required_argument, 0, 'd'}, {"tcp", required_argument, 0, 't'},
        {"devices", required_argument, 0, 'D'},   {"foreground", no_argument, 0, 'f'},
        {"check-config", no_argument, 0, 'C'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    char name[] = "jouled"; /* getopt's messages: "jouled: ...", not the path */
    argv[0] = name;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 's': sock = optarg; break;
        case 'd': state = optarg; break;
        case 't': tcp = optarg; break;
        case 'D': devices = optarg; break;
        case 'f': foreground = 1; break;
        case 'C': check = 1; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try 'jouled --help'.\n"); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "jouled: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct jd_config cfg;
    if (load_config(&cfg, config ? config : DEFAULT_CONFIG, config != NULL))
        return 2;
    char err[1024];
#define OVERRIDE(field, val)                                                        \
    do {                                                                            \
        if (val) {                                                                  \
            if (strlen(val) >= sizeof cfg.field) {                                  \
                fprintf(stderr, "jouled: %s is too long\n", val);                   \
                return 2;                                                           \
            }                                                                       \
            snprintf(cfg.field, sizeof cfg.field, "%s", strcmp(val, "off") ? val : ""); \
        }                                                                           \
    } while (0)
    OVERRIDE(socket, sock);
    OVERRIDE(state_dir, state);
    OVERRIDE(tcp, tcp);
    OVERRIDE(devices, devices);
    if (jd_config_validate(&cfg, err, sizeof err)) {
        fprintf(stderr, "jouled: %s\n", err);
        return 2;
    }
    if (cfg.token_secret_file[0]) {
        unsigned char key[256];
        size_t klen;
        if (jd_secret_load(cfg.token_secret_file, key, sizeof key, &klen, err, sizeof err)) {
            fprintf(stderr, "jouled: %s\n", err);
            return 2;
        }
    }
    if (check) {
        /* The devices are opened (and closed) the way the daemon opens
         * them: a spec it would refuse is refused here. */
        joule_ctx *ctx = NULL;
        if (jd_open_devices(cfg.devices, &ctx, err, sizeof err)) {
            fprintf(stderr, "jouled: %s: %s\n", config ? config : "(defaults)", err);
            return 2;
        }
        joule_close(ctx);
        printf("jouled: configuration %s is valid\n", config ? config : "(defaults)");
        return 0;
    }

    if (!foreground) {
        if (daemon(0, 0) != 0) {
            perror("jouled: daemon");
            return 1;
        }
        jd_log_use_syslog(1);
    }
    /* Signals are taken by sigwait in this thread only. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct jd *d = NULL;
    if (jd_create(&cfg, &d, err, sizeof err)) {
        jd_log_error("cannot start: %s", err);
        return 1;
    }
    struct jd_server *srv = NULL;
    if (jd_server_start(d, &srv, err, sizeof err)) {
        jd_log_error("cannot start: %s", err);
        jd_destroy(d);
        return 1;
    }
    jd_log("serving %d device%s on %s%s%s (pid %d)", joule_device_count(d->ctx),
           joule_device_count(d->ctx) == 1 ? "" : "s", cfg.socket[0] ? cfg.socket : "",
           cfg.socket[0] && cfg.tcp[0] ? " and " : "", cfg.tcp, (int)getpid());
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP)
            continue; /* nothing to reload: restart to apply a new config */
        jd_log("signal %d: restoring leased settings and stopping", sig);
        break;
    }
    jd_hub_shutdown(d);
    jd_server_stop(srv);
    jd_destroy(d);
    return 0;
}
