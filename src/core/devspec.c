#include "core/devspec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static const struct {
    const char *word;
    enum joule_device_kind kind;
} kind_words[] = {
    {"gpu", JOULE_KIND_GPU},       {"cpu", JOULE_KIND_CPU_PACKAGE},
    {"dram", JOULE_KIND_DRAM},     {"psys", JOULE_KIND_PSYS},
    {"core", JOULE_KIND_CPU_CORE}, {"uncore", JOULE_KIND_CPU_UNCORE},
};

static int parse_indices(const char *spec, const char *item, const char *list,
                         size_t len, struct devspec_kind *k)
{
    const char *p = list, *end = list + len;
    while (p < end) {
        char *num_end;
        errno = 0;
        long v = strtol(p, &num_end, 10);
        if (num_end == p || !isdigit((unsigned char)*p) || errno || v > 1023 ||
            (num_end < end && *num_end != ','))
            return joule_set_error(JOULE_EINVAL,
                "device spec '%s': '%.*s' needs a list of indices like "
                "%.*s:0,1 (at character %d)", spec, (int)(end - item), item,
                (int)(list - item - 1), item, (int)(p - spec) + 1);
        if (k->n == DEVSPEC_MAX_INDICES)
            return joule_set_error(JOULE_EINVAL,
                "device spec '%s': more than %d indices", spec, DEVSPEC_MAX_INDICES);
        int dup = 0;
        for (int i = 0; i < k->n; i++)
            dup |= k->idx[i] == (int)v;
        if (!dup)
            k->idx[k->n++] = (int)v;
        p = num_end < end ? num_end + 1 : num_end;
        if (num_end < end && p == end)
            return joule_set_error(JOULE_EINVAL,
                "device spec '%s': trailing ',' in '%.*s'", spec,
                (int)(end - item), item);
    }
    return 0;
}

int devspec_parse(const char *spec, struct devspec *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        spec = "all";
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, '+');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return joule_set_error(JOULE_EINVAL,
                "device spec '%s': empty item at character %d (items are "
                "joined with '+', e.g. gpu:0+cpu)", spec, (int)(p - spec) + 1);
        size_t word = strcspn(p, ":+");
        if (word > len)
            word = len;
        int matched = 0;
        if (word == 3 && strncmp(p, "all", 3) == 0 && word == len) {
            out->all = matched = 1;
        } else if (word == 3 && strncmp(p, "sim", 3) == 0) {
            if (out->sim[0])
                return joule_set_error(JOULE_EINVAL,
                    "device spec '%s': give every simulated GPU in one 'sim' item, "
                    "e.g. sim:2:h100,a100 for an H100 and an A100", spec);
            if (word == len || len == word + 1 || len - word - 1 >= sizeof out->sim)
                return joule_set_error(JOULE_EINVAL,
                    "device spec '%s': '%.*s' needs a count and preset, like "
                    "sim:4:h100", spec, (int)len, p);
            memcpy(out->sim, p + word + 1, len - word - 1);
            out->sim[len - word - 1] = '\0';
            matched = 1;
        } else {
            for (size_t i = 0; i < sizeof kind_words / sizeof kind_words[0]; i++) {
                if (strlen(kind_words[i].word) != word ||
                    strncmp(p, kind_words[i].word, word) != 0)
                    continue;
                struct devspec_kind *k = &out->kinds[kind_words[i].kind];
                k->wanted = 1;
                if (word == len) {
                    k->all = 1;
                } else if (len == word + 1) {
                    return joule_set_error(JOULE_EINVAL,
                        "device spec '%s': '%.*s' needs indices after ':', "
                        "like %.*s0,1", spec, (int)len, p, (int)len, p);
                } else {
                    int rc = parse_indices(spec, p, p + word + 1, len - word - 1, k);
                    if (rc)
                        return rc;
                }
                matched = 1;
                break;
            }
        }
        if (!matched)
            return joule_set_error(JOULE_EINVAL,
                "device spec '%s': unknown item '%.*s' (use all, gpu[:I,J], "
                "cpu[:I], dram[:I], psys, core, uncore or sim:N:PRESET, "
                "joined with '+')", spec, (int)len, p);
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int kind_selects(const struct devspec_kind *k, int index)
{
    if (!k->wanted)
        return 0;
    if (k->all)
        return 1;
    for (int i = 0; i < k->n; i++)
        if (k->idx[i] == index)
            return 1;
    return 0;
}

int devspec_selects(const struct devspec *s, enum joule_device_kind kind,
                    int index)
{
    if (s->all && kind != JOULE_KIND_CPU_CORE && kind != JOULE_KIND_CPU_UNCORE)
        return 1;
    if (kind_selects(&s->kinds[kind], index))
        return 1;
    return kind == JOULE_KIND_DRAM &&
           kind_selects(&s->kinds[JOULE_KIND_CPU_PACKAGE], index);
}
