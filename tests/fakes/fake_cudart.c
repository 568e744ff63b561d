/* A stand-in for libcudart with just what joule's CUDA sync calls. Each
 * call is appended to the file named in $JOULE_FAKE_CUDART_RECORD as one
 * line ("get 3", "set 0", "sync 0"), so tests can check the order. */
#include <stdio.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

static int current = 3; /* the caller's device before joule touches it */

static void record(const char *what, int dev)
{
    const char *path = getenv("JOULE_FAKE_CUDART_RECORD");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s %d\n", what, dev);
        fclose(f);
    }
}

EXPORT int cudaGetDevice(int *dev)
{
    *dev = current;
    record("get", current);
    return 0;
}

EXPORT int cudaSetDevice(int dev)
{
    current = dev;
    record("set", dev);
    return 0;
}

EXPORT int cudaDeviceSynchronize(void)
{
    record("sync", current);
    return 0;
}
