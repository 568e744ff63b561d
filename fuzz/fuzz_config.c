/* libFuzzer target: jouled's config parser (daemon/config.c), through its
 * entry point jd_config_parse, then jd_config_validate on what parsed. The
 * input is the file's text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct jd_config c;
    char err[1024];
    jd_config_defaults(&c);
    if (jd_config_parse(&c, "fuzz.conf", text, err, sizeof err) == 0)
        jd_config_validate(&c, err, sizeof err);
    free(text);
    return 0;
}
