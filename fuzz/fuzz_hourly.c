/* libFuzzer target: the hourly carbon-intensity and price readers
 * (src/core/hourly.c). The first byte picks the reader: Electricity Maps
 * CSV, price CSV or WattTime JSON. What reads has finite values >= 0 on
 * whole, ascending UTC hours; what does not has a message naming the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <joule/hourly.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = fuzz_file(data + 1, size - 1);
    joule_hourly *s = NULL;
    int rc;
    switch (data[0] % 3) {
    case 0: rc = joule_hourly_read_electricity_maps_csv(path, data[0] & 4 ? "lca" : NULL, &s); break;
    case 1: rc = joule_hourly_read_price_csv(path, &s); break;
    default: rc = joule_hourly_read_watttime_json(path, &s); break;
    }
    if (rc) {
        if (s || !strstr(joule_last_error(), "/proc/self/fd/"))
            abort();
        return 0;
    }
    double prev = -INFINITY;
    for (int i = 0; i < joule_hourly_count(s); i++) {
        double h, v, w;
        if (joule_hourly_at(s, i, &h, &v) || !(h > prev) || h != joule_hour_of(h) ||
            !isfinite(v) || v < 0 || joule_hourly_value(s, h + 1, &w) || w != v)
            abort();
        prev = h;
    }
    joule_hourly_free(s);
    return 0;
}
