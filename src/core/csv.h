/* CSV output shared by the window log and the CLI's --csv reports, and
 * the line splitter of the CSV readers (profile logs, the Zeus traces). */
#ifndef JOULE_CORE_CSV_H
#define JOULE_CORE_CSV_H

#include <stdio.h>

/* Writes s as one field, quoted per RFC 4180 when it holds a comma, a
 * double quote or a line break. */
void csv_write_field(FILE *f, const char *s);
/* Splits one CSV line (RFC 4180 quotes) in place; returns the field count,
 * cap + 1 when there are more, or -1 on an unterminated quote. */
int csv_split_line(char *line, char **fields, int cap);

#endif
