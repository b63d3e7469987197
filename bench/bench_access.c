/* bench_access: what the access checks cost per join (issue 11: under
 * 100 µs, so that 1,000 partners joining at the start of a council session
 * are not held up by them). An agent's join verifies a token; a guest's
 * join uses an invite link.
 *
 *   bench_access [iterations] [links] [op]    (default 2000, 10000, all)
 *
 *   es256 / rs256     pal_jwt_verify of a token (keys generated at start,
 *                     a JWKS holding both, as [access] algorithms = ES256, RS256)
 *   invite_unlimited  pal_room_store_invite_use of a random link among
 *                     `links` (rooms of 200 links: the per-room bound), no use
 *                     limit
 *   invite_limited    the same on links with a use limit (the check and the
 *                     count are one UPDATE)
 *   invite_unknown    a token that matches no link (a guess): a lookup, no write
 *   openssl_es256 /   the signature check alone, straight with OpenSSL's EVP
 *   openssl_rs256     API on the same tokens (r||s turned into DER included):
 *                     the floor, for the ratio of what parsing and the
 *                     checks around it add
 *
 * The store is a fresh database under /tmp (WAL, synchronous=NORMAL, as the
 * server's). The operations run in ROUNDS interleaved rounds of `iterations`
 * each; per operation, the median round's µs per operation is printed, and
 * the ratios measured side by side within each round (their median). With
 * op, only that operation runs (bench/access.sh counts its instructions
 * under callgrind with --toggle-collect=run_op). */
#include <errno.h>
#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "palabre/common.h"
#include "palabre/config.h"
#include "palabre/jwt.h"
#include "palabre/log.h"
#include "palabre/room_store.h"

#define ROUNDS 5
#define ISS "https://portail.example.fr"
#define AUD "palabre"

enum {
    OP_ES256,
    OP_RS256,
    OP_EVP_ES256,
    OP_EVP_RS256,
    OP_INV_UNLIMITED,
    OP_INV_LIMITED,
    OP_INV_UNKNOWN,
    N_OPS
};
static const char *op_names[N_OPS] = {
    "es256",          "rs256",         "openssl_es256", "openssl_rs256", "invite_unlimited",
    "invite_limited", "invite_unknown"};

static char dir[] = "/tmp/pal-bench-access-XXXXXX";
static struct pal_jwt_verifier *ver;
static struct pal_room_store *rs;
static char *tokens[2];
static EVP_PKEY *pub[2];          /* the keys, for the OpenSSL floor */
static unsigned char *sig_raw[2]; /* the tokens' decoded signatures */
static size_t sig_len[2];
static int n_links;
static char (*link_token)[PAL_INVITE_TOKEN_LEN + 1];
static char (*link_room)[16];
static int failures;

static void die(const char *what)
{
    fprintf(stderr, "bench_access: %s\n", what);
    exit(1);
}

static void path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* key.pem for a new key of type/param, and its public JWK appended to keys. */
static void new_key(const char *name, EVP_PKEY *k, json_t *keys)
{
    char pem[128], err[600], *jwks;
    path(pem, sizeof(pem), name);
    FILE *f = fopen(pem, "w");
    if (!k || !f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        die("cannot write a key");
    fclose(f);
    pub[json_array_size(keys) ? 1 : 0] = k;
    if (pal_jwt_public_jwks(pem, &jwks, err, sizeof(err)))
        die(err);
    json_t *j = json_loads(jwks, 0, NULL);
    json_array_extend(keys, json_object_get(j, "keys"));
    json_decref(j);
    free(jwks);
}

static void setup_tokens(void)
{
    json_t *keys = json_array();
    new_key("ec.pem", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), keys);
    new_key("rsa.pem", EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), keys);
    char jwks[128], err[600];
    path(jwks, sizeof(jwks), "jwks.json");
    json_t *root = json_pack("{s:o}", "keys", keys);
    if (json_dump_file(root, jwks, 0))
        die("cannot write the JWKS");
    json_decref(root);
    if (pal_jwt_verifier_create(jwks, ISS, AUD, PAL_JWT_ES256 | PAL_JWT_RS256, 60, &ver, err,
                                sizeof(err)))
        die(err);
    const char *pems[2] = {"ec.pem", "rsa.pem"};
    for (int i = 0; i < 2; i++) {
        char pem[128];
        path(pem, sizeof(pem), pems[i]);
        if (pal_jwt_sign(pem, "agent-0123456789", "Marie Curie", "marie.curie@example.fr", ISS, AUD,
                         time(NULL), 86400, &tokens[i], err, sizeof(err)))
            die(err);
        const char *sig = strrchr(tokens[i], '.') + 1;
        char b64[1024];
        size_t n = strlen(sig);
        for (size_t c = 0; c < n; c++)
            b64[c] = sig[c] == '-' ? '+' : sig[c] == '_' ? '/' : sig[c];
        while (n % 4)
            b64[n++] = '=';
        sig_raw[i] = malloc(n);
        int got = EVP_DecodeBlock(sig_raw[i], (unsigned char *)b64, (int)n);
        sig_len[i] = (size_t)got - (b64[n - 1] == '=') - (b64[n - 2] == '=');
    }
}

/* The OpenSSL floor: verify the token's signature over header.payload. */
static int evp_verify(int i)
{
    const char *tok = tokens[i];
    size_t signed_len = (size_t)(strrchr(tok, '.') - tok);
    unsigned char der[80];
    const unsigned char *sig = sig_raw[i];
    size_t len = sig_len[i];
    if (i == 0) { /* JWS r || s -> DER ECDSA-Sig-Value */
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
        unsigned char *p = der;
        len = (size_t)i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        sig = der;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub[i]) == 1 &&
             EVP_DigestVerify(md, sig, len, (const unsigned char *)tok, signed_len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

/* links / 200 rooms of 200 links; odd links have a use limit. */
static void setup_links(int links)
{
    if (pal_room_store_open(dir, &rs))
        die("cannot open the store");
    n_links = links;
    link_token = calloc((size_t)links, sizeof(*link_token));
    link_room = calloc((size_t)links, sizeof(*link_room));
    int64_t now = pal_wall_ms();
    for (int i = 0; i < links; i++) {
        snprintf(link_room[i], sizeof(link_room[i]), "room-%d", i / PAL_INVITES_PER_ROOM);
        if (i % PAL_INVITES_PER_ROOM == 0 &&
            pal_room_store_create(rs, link_room[i], "Conseil", "agent-0", "Agent", NULL, now, 0))
            die("cannot create a room");
        struct pal_invite inv;
        if (pal_room_store_invite_create(rs, link_room[i], "Cabinet Durand", "Agent", now,
                                         now + 7 * 86400000LL, i % 2 ? 100000000 : 0, true,
                                         link_token[i], &inv))
            die("cannot create a link");
    }
}

__attribute__((noinline)) static void run_op(int op, int iterations)
{
    struct pal_jwt_identity id;
    struct pal_invite inv;
    char err[200];
    int64_t now_s = time(NULL), now_ms = pal_wall_ms();
    for (int i = 0; i < iterations; i++) {
        /* a pseudo-random link of the right kind: even = unlimited, odd = limited */
        int l = (int)(((unsigned)i * 2654435761u) % (unsigned)n_links);
        l = (l & ~1) | (op == OP_INV_LIMITED);
        if (l >= n_links)
            l -= 2;
        int rc;
        switch (op) {
        case OP_ES256:
        case OP_RS256:
            rc = pal_jwt_verify(ver, tokens[op], now_s, &id, err, sizeof(err));
            break;
        case OP_EVP_ES256:
        case OP_EVP_RS256:
            rc = evp_verify(op - OP_EVP_ES256);
            break;
        case OP_INV_UNKNOWN:
            rc = pal_room_store_invite_use(rs, link_room[l], "AAAAAAAAAAAAAAAAAAAAAA", now_ms,
                                           &inv) == -ENOENT
                     ? 0
                     : -1;
            break;
        default:
            rc = pal_room_store_invite_use(rs, link_room[l], link_token[l], now_ms, &inv);
        }
        if (rc)
            failures++;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 2000;
    int links = argc > 2 ? atoi(argv[2]) : 10000;
    if (iterations < 1 || links < 2 || !mkdtemp(dir))
        return 2;
    pal_log_set_level(PAL_LOG_WARN);
    setup_tokens();
    int64_t t0 = pal_now_us();
    setup_links(links);
    if (evp_verify(0) || evp_verify(1))
        die("the OpenSSL floor does not verify the tokens");
    printf("setup: %d links in %d rooms stored in %.1f s; token lengths ES256 %zu, RS256 %zu\n",
           links, (links + PAL_INVITES_PER_ROOM - 1) / PAL_INVITES_PER_ROOM,
           (double)(pal_now_us() - t0) / 1e6, strlen(tokens[0]), strlen(tokens[1]));
    const char *only = argc > 3 ? argv[3] : NULL;
    double us[N_OPS][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int op = 0; op < N_OPS; op++) {
            if (only && strcmp(only, op_names[op]) != 0)
                continue;
            int64_t a = pal_now_us();
            run_op(op, iterations);
            us[op][r] = (double)(pal_now_us() - a) / iterations;
        }
    if (only)
        goto out;
    /* ratios of two operations within each round, then their median */
    static const int pairs[][2] = {{OP_ES256, OP_EVP_ES256},
                                   {OP_RS256, OP_EVP_RS256},
                                   {OP_RS256, OP_ES256},
                                   {OP_INV_LIMITED, OP_ES256},
                                   {OP_INV_UNLIMITED, OP_INV_LIMITED}};
    double ratio[PAL_ARRAY_LEN(pairs)][ROUNDS];
    for (size_t p = 0; p < PAL_ARRAY_LEN(pairs); p++)
        for (int r = 0; r < ROUNDS; r++)
            ratio[p][r] = us[pairs[p][0]][r] / us[pairs[p][1]][r];
    for (int op = 0; op < N_OPS; op++) {
        qsort(us[op], ROUNDS, sizeof(double), cmp_double);
        printf("op=%-17s iterations=%dx%d us_per_op=%.1f (rounds min %.1f max %.1f)\n",
               op_names[op], ROUNDS, iterations, us[op][ROUNDS / 2], us[op][0], us[op][ROUNDS - 1]);
    }
    for (size_t p = 0; p < PAL_ARRAY_LEN(pairs); p++) {
        qsort(ratio[p], ROUNDS, sizeof(double), cmp_double);
        printf("ratio %s/%s=%.2f (rounds min %.2f max %.2f)\n", op_names[pairs[p][0]],
               op_names[pairs[p][1]], ratio[p][ROUNDS / 2], ratio[p][0], ratio[p][ROUNDS - 1]);
    }
out:
    pal_room_store_close(rs);
    pal_jwt_verifier_destroy(ver);
    for (int i = 0; i < 2; i++)
        free(tokens[i]), free(sig_raw[i]), EVP_PKEY_free(pub[i]);
    free(link_token), free(link_room);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    if (failures)
        fprintf(stderr, "bench_access: %d operations failed\n", failures);
    return failures ? 1 : 0;
}
