/* CSV output shared by the window log and the CLI's --csv reports. */
#ifndef JOULE_CORE_CSV_H
#define JOULE_CORE_CSV_H

#include <stdio.h>

/* Writes s as one field, quoted per RFC 4180 when it holds a comma, a
 * double quote or a line break. */
void csv_write_field(FILE *f, const char *s);

#endif
