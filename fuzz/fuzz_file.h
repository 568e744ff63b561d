/* Feeding a fuzz input to a parser that takes a path. */
#ifndef JOULE_FUZZ_FILE_H
#define JOULE_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Puts data into an anonymous in-memory file (one memfd, made once and
 * rewritten for every input, so nothing is left on disk) and returns a
 * path to it, "/proc/self/fd/N". Aborts if it cannot. */
const char *fuzz_file(const uint8_t *data, size_t size);

#endif
