#include "devices/note.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices/device.h"

void jdev_note_add(struct joule_device *d, const char *fmt, ...)
{
    size_t len = strlen(d->note);
    if (len + 1 >= sizeof d->note)
        return;
    if (len)
        len += (size_t)snprintf(d->note + len, sizeof d->note - len, "; ");
    if (len >= sizeof d->note)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->note + len, sizeof d->note - len, fmt, ap);
    va_end(ap);
}
