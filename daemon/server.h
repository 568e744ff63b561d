/* libmicrohttpd glue: listeners (unix socket, optional TCP), request
 * bodies with a size cap, peer credentials, streams. */
#ifndef JOULED_SERVER_H
#define JOULED_SERVER_H

#include "jd.h"

struct jd_server;

/* Binds the listeners and starts serving. 0 or -1 with err. */
int jd_server_start(struct jd *d, struct jd_server **out, char *err, size_t errlen);
void jd_server_stop(struct jd_server *s);

#endif
