/* TURN REST credentials (palabre/turn.h): minted per participant at join with
 * OpenSSL's one-shot HMAC (not deprecated in OpenSSL 3, unlike HMAC_CTX) and
 * EVP_EncodeBlock. */
#include "palabre/turn.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "palabre/config.h"

int pal_turn_credential(const char *secret, const char *username, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (outlen < 29) /* 4 * ceil(20 / 3) + NUL */
        return -ENOSPC;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username,
              strlen(username), md, &mdlen) ||
        mdlen != 20)
        return -EIO;
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    return 0;
}

json_t *pal_turn_ice_servers(const struct pal_config *cfg, const char *participant_id,
                             int64_t now_s)
{
    if (cfg->n_turn_urls == 0 || !cfg->turn_secret[0])
        return NULL;
    /* coturn reads the part before the first ':' as the expiry (its
     * rest-api-separator); the participant id only names the allocation in
     * coturn's log. */
    char username[128];
    char credential[32];
    int n = snprintf(username, sizeof(username), "%" PRId64 ":%s",
                     now_s + cfg->turn_ttl_seconds, participant_id);
    if (n < 0 || (size_t)n >= sizeof(username) ||
        pal_turn_credential(cfg->turn_secret, username, credential, sizeof(credential)))
        return NULL;
    json_t *urls = json_array();
    for (int i = 0; urls && i < cfg->n_turn_urls; i++)
        json_array_append_new(urls, json_string(cfg->turn_urls[i]));
    return json_pack("[{s:o, s:s, s:s}]", "urls", urls, "username", username, "credential",
                     credential);
}

json_t *pal_turn_ice_servers_or_empty(const struct pal_config *cfg, const char *participant_id,
                                      int64_t now_s)
{
    json_t *list = pal_turn_ice_servers(cfg, participant_id, now_s);
    return list ? list : json_array();
}
