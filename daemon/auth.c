/* Scopes and tokens (see auth.h). HMAC-SHA256 and the constant-time
 * comparison come from OpenSSL's libcrypto. */
#include "auth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <joule/joule.h>

int jd_scopes_parse(const char *s, unsigned *scopes)
{
    /* Words separated by commas and spaces, read in place (no copy, so
     * no length limit). */
    *scopes = 0;
    for (;;) {
        s += strspn(s, ", ");
        size_t n = strcspn(s, ", ");
        if (!n)
            return 0;
        if (n == 4 && !strncmp(s, "read", 4))
            *scopes |= JD_SCOPE_READ;
        else if (n == 7 && !strncmp(s, "control", 7))
            *scopes |= JD_SCOPE_CONTROL;
        else if (n == 3 && !strncmp(s, "bso", 3))
            *scopes |= JD_SCOPE_BSO;
        else
            return -1;
        s += n;
    }
}

void jd_scopes_format(unsigned scopes, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s%s", scopes & JD_SCOPE_READ ? "read" : "",
             (scopes & JD_SCOPE_READ) && (scopes & ~JD_SCOPE_READ) ? "," : "",
             scopes & JD_SCOPE_CONTROL ? "control" : "",
             (scopes & JD_SCOPE_CONTROL) && (scopes & JD_SCOPE_BSO) ? "," : "",
             scopes & JD_SCOPE_BSO ? "bso" : "");
}

static int rules_match(const struct jd_rule *r, int n, uid_t uid, gid_t gid, const gid_t *groups,
                       int ngroups)
{
    for (int i = 0; i < n; i++) {
        if (r[i].kind == JD_RULE_ALL)
            return 1;
        if (r[i].kind == JD_RULE_UID && r[i].id == (unsigned)uid)
            return 1;
        if (r[i].kind == JD_RULE_GID) {
            if (r[i].id == (unsigned)gid)
                return 1;
            for (int g = 0; g < ngroups; g++)
                if (r[i].id == (unsigned)groups[g])
                    return 1;
        }
    }
    return 0;
}

unsigned jd_unix_scopes(const struct jd_config *c, uid_t uid, gid_t gid, const gid_t *groups,
                        int ngroups)
{
    unsigned s = 0;
    if (rules_match(c->read_rules, c->nread, uid, gid, groups, ngroups))
        s |= JD_SCOPE_READ;
    if (rules_match(c->control_rules, c->ncontrol, uid, gid, groups, ngroups))
        s |= JD_SCOPE_CONTROL;
    if (rules_match(c->bso_rules, c->nbso, uid, gid, groups, ngroups))
        s |= JD_SCOPE_BSO;
    return s;
}

/* ---- base64url without padding ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const unsigned char *in, size_t n)
{
    char *out = malloc(n * 4 / 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decodes n characters; returns the byte count or -1. */
static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        size_t k;
        for (k = 0; k < 4 && i + k < n; k++) {
            int x = b64val(in[i + k]);
            if (x < 0)
                return -1;
            v |= (uint32_t)x << (18 - 6 * k);
        }
        size_t bytes = k - 1;
        if (o + bytes > cap)
            return -1;
        for (size_t b = 0; b < bytes; b++)
            out[o++] = (unsigned char)(v >> (16 - 8 * b));
    }
    return (long)o;
}

static int hmac(const unsigned char *key, size_t keylen, const char *msg, size_t len,
                unsigned char mac[32])
{
    unsigned int maclen = 32;
    return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, len, mac, &maclen) &&
                   maclen == 32
               ? 0
               : -1;
}

char *jd_token_issue(const unsigned char *secret, size_t secret_len, const char *subject,
                     unsigned scopes, int64_t issued_unix, int64_t expires_unix)
{
    cJSON *o = cJSON_CreateObject();
    char sc[32];
    jd_scopes_format(scopes, sc, sizeof sc);
    cJSON_AddStringToObject(o, "sub", subject);
    cJSON_AddStringToObject(o, "scope", sc);
    cJSON_AddNumberToObject(o, "iat", (double)issued_unix);
    cJSON_AddNumberToObject(o, "exp", (double)expires_unix);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json)
        return NULL;
    char *p64 = b64url_encode((const unsigned char *)json, strlen(json));
    free(json);
    if (!p64)
        return NULL;
    size_t signed_len = 4 + strlen(p64);
    char *out = malloc(signed_len + 64);
    if (!out) {
        free(p64);
        return NULL;
    }
    snprintf(out, signed_len + 1, "jt1.%s", p64);
    free(p64);
    unsigned char mac[32];
    char *m64 = NULL;
    if (hmac(secret, secret_len, out, signed_len, mac) == 0)
        m64 = b64url_encode(mac, sizeof mac);
    if (!m64) {
        free(out);
        return NULL;
    }
    snprintf(out + signed_len, 64, ".%s", m64);
    free(m64);
    return out;
}

enum jd_token_state jd_token_verify(const unsigned char *secret, size_t secret_len,
                                    const char *token, int64_t now_unix, char *subject,
                                    size_t sublen, unsigned *scopes, char *why, size_t whylen)
{
    *scopes = 0;
    if (subject)
        subject[0] = '\0';
    if (!token || !*token)
        return JD_TOKEN_NONE;
    if (!secret_len) {
        snprintf(why, whylen, "this daemon accepts no tokens (token_secret_file is not set)");
        return JD_TOKEN_BAD;
    }
    size_t n = strnlen(token, 4097);
    const char *dot = strrchr(token, '.');
    if (n > 4096 || strncmp(token, "jt1.", 4) != 0 || !dot || dot < token + 4) {
        snprintf(why, whylen, "malformed token (expected jt1.PAYLOAD.SIGNATURE)");
        return JD_TOKEN_BAD;
    }
    unsigned char mac[32], given[40];
    long glen = b64url_decode(dot + 1, strlen(dot + 1), given, sizeof given);
    if (hmac(secret, secret_len, token, (size_t)(dot - token), mac) != 0 || glen != 32 ||
        CRYPTO_memcmp(mac, given, 32) != 0) {
        snprintf(why, whylen, "invalid token signature");
        return JD_TOKEN_BAD;
    }
    unsigned char payload[4096];
    long plen = b64url_decode(token + 4, (size_t)(dot - token - 4), payload, sizeof payload - 1);
    if (plen < 0) {
        snprintf(why, whylen, "malformed token payload");
        return JD_TOKEN_BAD;
    }
    payload[plen] = '\0';
    cJSON *o = cJSON_Parse((const char *)payload);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "sub");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scope");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "exp");
    enum jd_token_state st = JD_TOKEN_VALID;
    unsigned s = 0;
    if (!cJSON_IsString(sub) || !cJSON_IsString(sc) || !cJSON_IsNumber(exp) ||
        jd_scopes_parse(sc->valuestring, &s)) {
        snprintf(why, whylen, "malformed token payload");
        st = JD_TOKEN_BAD;
    } else if ((double)now_unix >= exp->valuedouble) {
        snprintf(why, whylen, "token expired at %.0f (now %lld)", exp->valuedouble,
                 (long long)now_unix);
        st = JD_TOKEN_EXPIRED;
    } else if (subject && strlen(sub->valuestring) >= sublen) {
        /* A cut subject could equal another token's and own its leases. */
        snprintf(why, whylen, "token subject is longer than %zu bytes", sublen - 1);
        st = JD_TOKEN_BAD;
    } else {
        *scopes = s;
        if (subject)
            snprintf(subject, sublen, "%s", sub->valuestring);
    }
    cJSON_Delete(o);
    return st;
}

int jd_secret_load(const char *path, unsigned char *buf, size_t cap, size_t *len, char *err,
                   size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "token_secret_file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 0007)) {
        close(fd);
        snprintf(err, errlen, "token_secret_file %s is readable by others; chmod 0600 it", path);
        return -1;
    }
    /* One byte more than fits tells a longer file apart: refused rather
     * than cut to a shorter key. */
    unsigned char extra[1024];
    ssize_t n = read(fd, extra, sizeof extra);
    close(fd);
    if (n > (ssize_t)cap) {
        snprintf(err, errlen, "token_secret_file %s is longer than %zu bytes", path, cap);
        return -1;
    }
    if (n > 0)
        memcpy(buf, extra, (size_t)n);
    OPENSSL_cleanse(extra, sizeof extra);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n < 32) {
        snprintf(err, errlen,
                 "token_secret_file %s holds %zd bytes; need at least 32 (create one with "
                 "`jouled token secret FILE`)",
                 path, n < 0 ? (ssize_t)0 : n);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

int64_t jd_parse_duration(const char *s)
{
    /* The unit is required: a bare "7" meant 7 seconds to the parser and
     * 7 days to the person who typed it. */
    double v;
    if (joule_parse_duration(s, 0, &v) || !(v >= 1) || v > 3650.0 * 86400)
        return -1;
    return (int64_t)(v + 0.5);
}

unsigned jd_peer_scopes(const struct jd *d, const struct jd_peer *p, char *subject,
                        size_t sublen, enum jd_token_state *ts, char *why, size_t whylen)
{
    *ts = JD_TOKEN_NONE;
    why[0] = '\0';
    if (p->transport == JD_UNIX) {
        if (!p->has_cred) {
            snprintf(why, whylen, "peer credentials unavailable");
            snprintf(subject, sublen, "unknown");
            return 0;
        }
        snprintf(subject, sublen, "uid:%u pid:%d", (unsigned)p->uid, (int)p->pid);
        return jd_unix_scopes(&d->cfg, p->uid, p->gid, p->groups, p->ngroups);
    }
    unsigned s = 0;
    *ts = jd_token_verify(d->secret, d->secret_len, p->token, (int64_t)time(NULL), subject,
                          sublen, &s, why, whylen);
    if (*ts == JD_TOKEN_NONE)
        snprintf(why, whylen, "missing bearer token (Authorization: Bearer jt1....)");
    return *ts == JD_TOKEN_VALID ? s : 0;
}
