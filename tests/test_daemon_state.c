/* jouled's state file at start: a file it cannot trust is never
 * overwritten or ignored. It is kept aside (state.json.corrupt-<time>),
 * reported at error level (stderr in the foreground), and every entry
 * that is valid is still restored. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>

#include "test_daemon_harness.h"

static const char *two_gpus = "[{\"model\": \"h100\"}, {\"model\": \"a100\"}]";

/* A daemon killed with -9 after leasing gpu0's power limit (333 W) and
 * gpu1's memory clocks (1215 MHz): its state file holds both originals. */
static char *leave_state(struct dm *m)
{
    assert_int_equal(dm_start(m, two_gpus, "scope.read = all\nscope.control = all\n"), 0);
    char *ctl = dm_token(m, "ci", "control", "1h");
    assert_int_equal(dm_tcp(m, ctl, "POST", "/v1/gpus/0/power_limit",
                            "{\"watts\": 333, \"ttl_s\": 3600}", NULL),
                     200);
    assert_int_equal(dm_tcp(m, ctl, "POST", "/v1/gpus/1/memory_clocks",
                            "{\"min_mhz\": 1215, \"max_mhz\": 1215, \"ttl_s\": 3600}", NULL),
                     200);
    free(ctl);
    dm_kill(m, SIGKILL);
    char path[600];
    snprintf(path, sizeof path, "%s/state.json", m->state_dir);
    char *text = ts_read(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"orig_mw\":\t700000"));
    return text;
}

static void write_state(const struct dm *m, const char *text)
{
    ts_write(m->state_dir, "state.json", text);
}

/* Names of the files set aside, joined by '\n' (malloc'd). */
static char *corrupt_files(const struct dm *m, int *count)
{
    DIR *dir = opendir(m->state_dir);
    assert_non_null(dir);
    char *names = calloc(1, 4096);
    *count = 0;
    for (struct dirent *e; (e = readdir(dir));)
        if (!strncmp(e->d_name, "state.json.corrupt-", 19)) {
            strncat(names, e->d_name, 4096 - strlen(names) - 2);
            strcat(names, "\n");
            (*count)++;
        }
    closedir(dir);
    return names;
}

/* Restarts on the crafted file; checks the report and the copy kept. */
static void restart_expect(struct dm *m, const char *text, const char *problem,
                           const char *restored)
{
    write_state(m, text);
    int before;
    free(corrupt_files(m, &before));
    assert_int_equal(dm_spawn(m), 0);
    char *log = ts_read(m->log);
    if (!strstr(log, "jouled: error: state file ") || !strstr(log, problem) ||
        !strstr(log, restored) || !strstr(log, "kept as "))
        fail_msg("log lacks the report '%s' / '%s':\n%s", problem, restored, log);
    free(log);
    int n;
    char *names = corrupt_files(m, &n);
    assert_int_equal(n, before + 1);
    /* one of the copies holds the file byte for byte */
    char path[800];
    int found = 0;
    for (char *name = strtok(names, "\n"); name; name = strtok(NULL, "\n")) {
        snprintf(path, sizeof path, "%s/%s", m->state_dir, name);
        char *kept = ts_read(path);
        found |= kept && !strcmp(kept, text);
        free(kept);
    }
    assert_true(found);
    free(names);
    /* and the new state file is a valid one */
    snprintf(path, sizeof path, "%s/state.json", m->state_dir);
    char *now = ts_read(path);
    cJSON *o = cJSON_Parse(now);
    assert_non_null(o);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "version")->valueint, 1);
    cJSON_Delete(o);
    free(now);
}

/* Not JSON: nothing can be restored, but the file is kept. */
static void test_state_not_json(void **state)
{
    (void)state;
    struct dm m;
    char *text = leave_state(&m);
    text[40] = '\0';
    restart_expect(&m, text, "not valid JSON (error near byte", "restored 0 of 0 entries");
    assert_true(fh_state(&m.h, 0, "pl_w") == 333); /* unknown original: left alone */
    dm_stop(&m);
    free(text);
    /* valid JSON with more after it is not what jouled writes either */
    text = leave_state(&m);
    text = realloc(text, strlen(text) + 16);
    strcat(text, "\n{\"version\": 1}");
    restart_expect(&m, text, "not valid JSON (error near byte", "restored 0 of 0 entries");
    assert_true(fh_state(&m.h, 0, "pl_w") == 333); /* unknown original: left alone */
    free(text);
    dm_stop(&m);
}

/* Another version: not interpreted, nothing restored, kept. */
static void test_state_unknown_version(void **state)
{
    (void)state;
    struct dm m;
    char *text = leave_state(&m);
    char *v = strstr(text, "\"version\":\t1");
    assert_non_null(v);
    v[strlen("\"version\":\t")] = '2';
    restart_expect(&m, text, "unknown version 2 (this jouled reads version 1)",
                   "restored 0 of 0 entries");
    assert_true(fh_state(&m.h, 0, "pl_w") == 333);
    assert_true(fh_state(&m.h, 1, "mem_lock_max_mhz") == 1215);
    free(text);
    dm_stop(&m);
}

/* Out-of-range numbers are refused before any conversion (orig_mw 1e20
 * was undefined behaviour); the other entry is still restored. */
static void test_state_bad_entries(void **state)
{
    (void)state;
    struct dm m;
    char *good = leave_state(&m);
    const struct {
        const char *from, *to, *problem;
    } cases[] = {
        {"\"orig_mw\":\t700000", "\"orig_mw\":\t1e20",
         "entry 1: \"orig_mw\" = 1e+20 is not an integer in 1..1000000000"},
        {"\"orig_mw\":\t700000", "\"orig_mw\":\t-5", "\"orig_mw\" = -5 is not an integer"},
        {"\"orig_mw\":\t700000", "\"orig_mw\":\t700000.5", "\"orig_mw\" = 700000.5 is not"},
        {"\"orig_mw\":\t700000", "\"orig_mw\":\t\"700000\"", "\"orig_mw\" = nan is not"},
        {"\"gpu\":\t0", "\"gpu\":\t-1", "entry 1: \"gpu\" is not an index 0-1023"},
        {"\"power_limit\"", "\"voltage\"", "entry 1: no known \"setting\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *text = malloc(strlen(good) + 64);
        const char *at = strstr(good, cases[i].from);
        assert_non_null(at);
        sprintf(text, "%.*s%s%s", (int)(at - good), good, cases[i].to,
                at + strlen(cases[i].from));
        restart_expect(&m, text, cases[i].problem, "restored 1 of 2 entries (1 bad)");
        assert_true(fh_state(&m.h, 0, "pl_w") == 333);
        assert_true(fh_state(&m.h, 1, "mem_lock_max_mhz") == 0); /* the good entry */
        free(text);
        /* lock the memory clocks again for the next case */
        char *ctl = dm_token(&m, "ci", "control", "1h");
        assert_int_equal(dm_tcp(&m, ctl, "POST", "/v1/gpus/1/memory_clocks",
                                "{\"min_mhz\": 1215, \"max_mhz\": 1215, \"ttl_s\": 3600}",
                                NULL),
                         200);
        free(ctl);
        dm_kill(&m, SIGKILL);
    }
    free(good);
    dm_stop(&m);
}

/* A state file that cannot be read is not taken as "none": jouled refuses
 * to start rather than write a new one over it. */
static void test_state_unreadable(void **state)
{
    (void)state;
    struct dm m;
    char *text = leave_state(&m);
    char path[600];
    snprintf(path, sizeof path, "%s/state.json", m.state_dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0); /* read() fails with EISDIR */
    assert_int_equal(dm_spawn(&m), -1);
    char *log = ts_read(m.log);
    assert_non_null(strstr(log, "jouled: error: cannot start: cannot read the state file"));
    free(log);
    rmdir(path);
    free(text);
    dm_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_not_json),
        cmocka_unit_test(test_state_unknown_version),
        cmocka_unit_test(test_state_bad_entries),
        cmocka_unit_test(test_state_unreadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
