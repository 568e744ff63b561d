/* Symbols of the public API are exported; everything else stays hidden. */
#ifndef JOULE_BASE_EXPORT_H
#define JOULE_BASE_EXPORT_H
#define JOULE_EXPORT __attribute__((visibility("default")))
#endif
