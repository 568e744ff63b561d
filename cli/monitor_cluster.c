/* `joule monitor --daemon tcp:HOST:PORT,...`: several jouleds' power
 * streams merged into one live table, a row per node and a total
 * (include/joule/cluster.h; docs/cluster.md, "A cluster view of power").
 * A node that is down or silent shows as such on its row, and the total
 * says it is partial and which nodes it lacks. */
#include "monitor_cluster.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <joule/cluster.h>

#include "common.h"
#include "child.h"

#define MAX_NODES 1024


/* Splits a comma list into at most MAX_NODES endpoints (in place). */
static int split_list(char *list, char **out)
{
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_NODES)
            return -1;
        out[n++] = tok;
    }
    return n;
}

/* Tokens, one a line ('#' comments and blank lines skipped): one for every
 * node, or one per node in the list's order. 0, or -1 with the message
 * printed. */
static int read_tokens(const char *path, int nodes, char ***out, int *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "joule monitor: --token-file '%s': %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "joule monitor: warning: '%s' is readable by others; its tokens "
                        "grant access to jouled (chmod 600)\n", path);
    char **tok = calloc((size_t)nodes + 1, sizeof *tok);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, rc = tok ? 0 : -1;
    while (!rc && getline(&line, &cap, f) > 0) {
        char *p = line + strspn(line, " \t");
        p[strcspn(p, " \t\r\n")] = '\0';
        if (!*p || *p == '#')
            continue;
        if (n == nodes) {
            n++;
            break;
        }
        if (!(tok[n++] = strdup(p)))
            rc = -1;
    }
    free(line);
    fclose(f);
    if (!rc && n != 1 && n != nodes) {
        fprintf(stderr, "joule monitor: --token-file '%s' has %s%d token%s: give one for every "
                        "node or one per node (%d), one a line\n",
                path, n > nodes ? "more than " : "", n > nodes ? nodes : n,
                n == 1 ? "" : "s", nodes);
        rc = -1;
    } else if (rc) {
        fprintf(stderr, "joule monitor: out of memory\n");
    }
    if (rc) {
        for (int i = 0; tok && i < nodes; i++)
            free(tok[i]);
        free(tok);
        return -1;
    }
    for (int i = 1; i < nodes && n == 1; i++) /* one for all */
        tok[i] = tok[0];
    *out = tok;
    *count = n;
    return 0;
}

/* One tick: a row per node and the total. */
static void print_tick(int fmt, joule_cluster *c, double elapsed)
{
    int n = joule_cluster_node_count(c), up = 0;
    double total = NAN;
    char stamp[64];
    cli_wall_timestamp(stamp, sizeof stamp);
    cJSON *root = NULL, *arr = NULL;
    if (fmt == MON_JSONL) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "timestamp", stamp);
        cJSON_AddNumberToObject(root, "elapsed_s", round(elapsed * 1e3) / 1e3);
        arr = cJSON_AddArrayToObject(root, "nodes");
    }
    char missing[512] = "";
    for (int i = 0; i < n; i++) {
        joule_cluster_node s;
        joule_cluster_node_status(c, i, &s);
        const char *ep = joule_cluster_node_endpoint(c, i);
        int is_up = s.state == JOULE_NODE_UP;
        double p = is_up ? s.power_w : NAN;
        if (is_up) {
            up++;
            if (!isnan(p))
                total = isnan(total) ? p : total + p;
        } else {
            size_t l = strlen(missing);
            if (l < sizeof missing - 1)
                snprintf(missing + l, sizeof missing - l, "%s%s %s", l ? ", " : "", ep,
                         joule_node_state_name(s.state));
        }
        if (fmt == MON_TABLE || fmt == MON_CSV) {
            char sp[32] = "", sd[16] = "", sa[32] = "";
            if (!isnan(p))
                snprintf(sp, sizeof sp, "%.2f", p);
            if (is_up)
                snprintf(sd, sizeof sd, "%d", s.ndevices);
            if (!isnan(s.age_s))
                snprintf(sa, sizeof sa, "%.2f", s.age_s);
            if (fmt == MON_TABLE) {
                printf("%9.2f  %-24s %-10s %9s %7s %7s  %s\n", elapsed, ep,
                       joule_node_state_name(s.state), sp[0] ? sp : "-", sd[0] ? sd : "-",
                       sa[0] ? sa : "-", s.error);
            } else {
                printf("%s,%.3f,%s,%s,%s,%s,%s,", stamp, elapsed, ep,
                       joule_node_state_name(s.state), sp, sd, sa);
                joule_csv_write_field(stdout, s.error);
                putchar('\n');
            }
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, o);
            cJSON_AddStringToObject(o, "node", ep);
            cJSON_AddStringToObject(o, "state", joule_node_state_name(s.state));
            cli_json_number(o, "power_w", p);
            cli_json_number(o, "age_s", s.age_s);
            cJSON *d = cJSON_AddObjectToObject(o, "devices");
            for (int k = 0; is_up && k < s.ndevices; k++) {
                char label[32];
                double w;
                if (joule_cluster_node_device(c, i, k, label, sizeof label, &w) == 0)
                    cli_json_number(d, label, w);
            }
            if (s.error[0])
                cJSON_AddStringToObject(o, "error", s.error);
            else
                cJSON_AddNullToObject(o, "error");
        }
    }
    char state[32], note[600];
    snprintf(state, sizeof state, "%d/%d up", up, n);
    snprintf(note, sizeof note, "%s%s", up < n ? "partial, without: " : "", missing);
    if (fmt == MON_TABLE) {
        char sp[32];
        snprintf(sp, sizeof sp, isnan(total) ? "-" : "%.2f", total);
        printf("%9.2f  %-24s %-10s %9s %7s %7s  %s\n", elapsed, "total", state, sp, "", "", note);
    } else if (fmt == MON_CSV) {
        printf("%s,%.3f,total,%s,", stamp, elapsed, state);
        if (!isnan(total))
            printf("%.2f", total);
        printf(",,,");
        joule_csv_write_field(stdout, note);
        putchar('\n');
    } else {
        cli_json_number(root, "total_power_w", total);
        cJSON_AddNumberToObject(root, "nodes_up", up);
        cJSON_AddNumberToObject(root, "nodes_total", n);
        cJSON_AddBoolToObject(root, "partial", up < n);
        char *text = cJSON_PrintUnformatted(root);
        if (text)
            printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    }
}

/* Returns how many events the nodes sent in all. */
static unsigned long long print_totals(FILE *out, joule_cluster *c, double elapsed,
                                       double interval_s)
{
    int n = joule_cluster_node_count(c), gaps = 0;
    double energy = 0;
    unsigned long long events = 0;
    fprintf(out, "\n# totals over %.3f s (energy from the events each node sent)\n"
                 "# %-24s %12s %12s %12s %10s %9s\n",
            elapsed, "node", "energy_j", "avg_power_w", "peak_power_w", "covered_s", "connects");
    for (int i = 0; i < n; i++) {
        joule_cluster_node s;
        joule_cluster_node_status(c, i, &s);
        energy += s.energy_j;
        events += s.events;
        /* the first event opens the account; allow a few intervals */
        int gap = s.up_s < elapsed - 3 * interval_s - 0.5;
        gaps += gap;
        char peak[32];
        snprintf(peak, sizeof peak, isnan(s.peak_power_w) ? "-" : "%.2f", s.peak_power_w);
        fprintf(out, "# %-24s %12.3f %12.2f %12s %10.2f %9llu%s\n",
                joule_cluster_node_endpoint(c, i), s.energy_j,
                s.up_s > 0 ? s.energy_j / s.up_s : 0.0, peak, s.up_s, s.connects,
                gap ? "  *" : "");
    }
    fprintf(out, "# %-24s %12.3f\n", "total", energy);
    if (gaps)
        fprintf(out, "# *: down or silent for part of the watch; its energy covers only the "
                     "time it reported\n");
    return events;
}

struct cluster_tick {
    int fmt;
    joule_cluster *c;
};

/* One table row per node and the total; 1 when stdout is lost. */
static int cluster_tick(void *arg, double t)
{
    const struct cluster_tick *ct = arg;
    print_tick(ct->fmt, ct->c, t);
    return cli_close_output("monitor", stdout, "-") ? 1 : 0;
}

int monitor_cluster(const char *list, const char *token_file, double interval_ms,
                    double duration, int fmt)
{
    char *copy = strdup(list);
    char **eps = calloc(MAX_NODES, sizeof *eps);
    if (!copy || !eps) {
        fprintf(stderr, "joule monitor: out of memory\n");
        free(copy);
        free(eps);
        return 1;
    }
    int n = split_list(copy, eps);
    if (n <= 0) {
        fprintf(stderr, "joule monitor: --daemon '%s': give tcp:HOST:PORT[,tcp:HOST:PORT...]%s\n",
                list, n < 0 ? " (at most 1024)" : "");
        free(copy);
        free(eps);
        return 2;
    }
    char **tokens = NULL;
    int ntok = 0;
    if (token_file && read_tokens(token_file, n, &tokens, &ntok)) {
        free(copy);
        free(eps);
        return 2;
    }
    const char *env_tok = getenv("JOULE_DAEMON_TOKEN");
    const char **tok = calloc((size_t)n, sizeof *tok);
    for (int i = 0; tok && i < n; i++)
        tok[i] = tokens ? tokens[i] : env_tok && *env_tok ? env_tok : NULL;
    joule_cluster *c = NULL;
    int rc = tok ? joule_cluster_open((const char *const *)eps, tok, n, (int)interval_ms, 0, &c)
                 : JOULE_ENOMEM;
    for (int i = 0; tokens && i < (ntok == 1 ? 1 : n); i++)
        free(tokens[i]);
    free(tokens);
    free(tok);
    if (rc) {
        fprintf(stderr, "joule monitor: --daemon: %s\n", joule_last_error());
        free(copy);
        free(eps);
        return rc == JOULE_EINVAL ? 2 : 1;
    }
    cli_signals_forward(); /* no child: Ctrl-C only sets cli_interrupted */
    if (fmt == MON_TABLE)
        printf("# joule monitor: %d jouled%s every %g ms (Ctrl-C to stop)\n# %7s  %-24s %-10s "
               "%9s %7s %7s  %s\n", n, n == 1 ? "" : "s", interval_ms, "time_s", "node", "state",
               "power_w", "devices", "age_s", "note");
    else if (fmt == MON_CSV)
        printf("timestamp,elapsed_s,node,state,power_w,devices,age_s,note\n");
    fflush(stdout);

    struct timespec origin;
    clock_gettime(CLOCK_MONOTONIC, &origin);
    struct cluster_tick ct = {fmt, c};
    int write_failed = cli_every(&origin, interval_ms, duration, &cli_interrupted, cluster_tick,
                                 &ct);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double elapsed = (end.tv_sec - origin.tv_sec) + (end.tv_nsec - origin.tv_nsec) / 1e9;
    FILE *out = fmt == MON_TABLE ? stdout : stderr;
    unsigned long long events = 0;
    if (!(write_failed && out == stdout))
        events = print_totals(out, c, elapsed, interval_ms / 1e3);
    fflush(out);
    if (!events && !write_failed && !cli_interrupted) {
        fprintf(stderr, "joule monitor: no jouled sent any power (the rows say why)\n");
        write_failed = 1;
    }
    joule_cluster_close(c);
    free(copy);
    free(eps);
    return write_failed;
}
