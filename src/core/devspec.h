/* Device selection specs: "all", "gpu:0,1", "cpu", "sim:4:h100", joined
 * with '+'. Parsing is separate from discovery so it is testable alone. */
#ifndef JOULE_CORE_DEVSPEC_H
#define JOULE_CORE_DEVSPEC_H

#include <joule/joule.h>

#define DEVSPEC_MAX_INDICES 64

struct devspec_kind {
    int wanted;     /* the kind was named */
    int all;        /* every device of the kind */
    int n;          /* otherwise these indices */
    int idx[DEVSPEC_MAX_INDICES];
};

struct devspec {
    int all;                          /* "all": every real device */
    struct devspec_kind kinds[JOULE_KIND_COUNT];
    char sim[256];                    /* text after "sim:", "" if none */
};

/* Parses spec; on error names the item and the position. */
int devspec_parse(const char *spec, struct devspec *out);
/* Whether a device of this kind and index is selected. "cpu" also
 * selects the DRAM zones of the selected packages (a DRAM zone has its
 * parent package's index). */
int devspec_selects(const struct devspec *s, enum joule_device_kind kind,
                    int index);

#endif
