#include "core/csv.h"

#include <string.h>

#include <joule/trace.h>

#include "base/export.h"

void csv_write_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

JOULE_EXPORT void joule_csv_write_field(FILE *f, const char *s)
{
    csv_write_field(f, s);
}
