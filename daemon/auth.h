/* Authorization: unix-socket peers map to scopes through the config's
 * uid/gid rules; TCP peers present HMAC-SHA256 signed bearer tokens. */
#ifndef JOULED_AUTH_H
#define JOULED_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "jd.h"

/* Scopes from "read,control" (0 on an unknown word). */
int jd_scopes_parse(const char *s, unsigned *scopes);
/* "read,control" */
void jd_scopes_format(unsigned scopes, char *buf, size_t len);
/* Scopes the rules grant a uid with these gids. */
unsigned jd_unix_scopes(const struct jd_config *c, uid_t uid, gid_t gid, const gid_t *groups,
                        int ngroups);

/* Token: "jt1.<base64url payload>.<base64url HMAC-SHA256>", the payload a
 * JSON object {"sub","scope","iat","exp"}. Returns a malloc'd string. */
char *jd_token_issue(const unsigned char *secret, size_t secret_len, const char *subject,
                     unsigned scopes, int64_t issued_unix, int64_t expires_unix);
/* Verifies signature (constant-time), then expiry. */
enum jd_token_state jd_token_verify(const unsigned char *secret, size_t secret_len,
                                    const char *token, int64_t now_unix, char *subject,
                                    size_t sublen, unsigned *scopes, char *why, size_t whylen);
/* Reads the secret file (at least 32 bytes, not readable by others). */
int jd_secret_load(const char *path, unsigned char *buf, size_t cap, size_t *len, char *err,
                   size_t errlen);
/* "7d", "12h", "30m", "45s" (a unit is required; joule_parse_duration's
 * units) -> whole seconds from 1 s to 3650 days, or -1. */
int64_t jd_parse_duration(const char *s);

#endif
