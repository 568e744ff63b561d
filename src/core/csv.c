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

/* Splits one CSV line (RFC 4180 quotes) in place; returns the field count,
 * cap + 1 when there are more, or -1 on an unterminated quote. */
int csv_split_line(char *line, char **fields, int cap)
{
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        if (n == cap)
            return n + 1;
        fields[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r)
                    return -1;
                if (*r == '"') {
                    if (r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
        }
        while (*r && *r != ',')
            *w++ = *r++;
        if (*r == ',') {
            r++;
            *w++ = '\0';
            continue;
        }
        *w = '\0';
        return n;
    }
}
