/* Tickets, lease values, registry entries and the Redis address
 * (include/palabre/cluster_wire.h has the formats). Everything read here
 * comes from a client (a ticket) or from Redis: bounded, checked, never
 * trusted for a length. */
#include "palabre/cluster_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOM_MAX 64

static bool room_valid(const char *r, size_t n)
{
    if (n < 1 || n > ROOM_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return false;
    return true;
}

static bool node_id_valid_n(const char *id, size_t n)
{
    if (n < 1 || n > PAL_CLUSTER_NODE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool pal_cluster_node_id_valid(const char *id)
{
    return id && node_id_valid_n(id, strlen(id));
}

/* A decimal of 1 to 18 digits (no sign, no leading junk) into *out. */
static int read_decimal(const char *s, size_t n, int64_t *out)
{
    if (n < 1 || n > 18)
        return -EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ---- tickets ----------------------------------------------------------------- */

static void hmac_hex(const char *secret, const char *msg, size_t len, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len, mac, &maclen);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int pal_cluster_ticket_write(const char *secret, const char *room, const char *node,
                             int64_t expires_ms, char *out, size_t cap)
{
    if (!room_valid(room, strlen(room)) || !pal_cluster_node_id_valid(node) || expires_ms < 0)
        return -EINVAL;
    char body[PAL_CLUSTER_TICKET_MAX];
    int n = snprintf(body, sizeof(body), "v1.%s.%s.%" PRId64, room, node, expires_ms);
    if (n < 0 || (size_t)n >= sizeof(body))
        return -ENOSPC;
    char mac[65];
    hmac_hex(secret, body, (size_t)n, mac);
    int m = snprintf(out, cap, "%s.%s", body, mac);
    return m < 0 || (size_t)m >= cap ? -ENOSPC : 0;
}

int pal_cluster_ticket_read(const char *secret, const char *ticket, size_t len, int64_t now_ms,
                            char *room, char *node)
{
    if (!ticket || len > PAL_CLUSTER_TICKET_MAX || len < 3 || memcmp(ticket, "v1.", 3) != 0)
        return -EINVAL;
    /* four fields after "v1.": room . node . expires . mac (no field holds a dot) */
    const char *f[4];
    size_t fl[4];
    const char *p = ticket + 3, *end = ticket + len;
    for (int i = 0; i < 4; i++) {
        const char *dot = i < 3 ? memchr(p, '.', (size_t)(end - p)) : end;
        if (!dot)
            return -EINVAL;
        f[i] = p;
        fl[i] = (size_t)(dot - p);
        p = dot + 1;
    }
    if (memchr(f[3], '.', fl[3]) || fl[3] != 64)
        return -EINVAL;
    int64_t exp;
    if (!room_valid(f[0], fl[0]) || !node_id_valid_n(f[1], fl[1]) ||
        read_decimal(f[2], fl[2], &exp))
        return -EINVAL;
    char mac[65];
    hmac_hex(secret, ticket, (size_t)(f[3] - 1 - ticket), mac);
    if (CRYPTO_memcmp(mac, f[3], 64) != 0)
        return -EINVAL;
    memcpy(room, f[0], fl[0]);
    room[fl[0]] = '\0';
    memcpy(node, f[1], fl[1]);
    node[fl[1]] = '\0';
    return exp < now_ms ? -ETIMEDOUT : 0;
}

/* ---- lease value ------------------------------------------------------------- */

int pal_cluster_lease_read(const char *value, size_t len, char *node, int64_t *epoch)
{
    const char *colon = value ? memchr(value, ':', len) : NULL;
    if (!colon)
        return -EINVAL;
    size_t nl = (size_t)(colon - value);
    if (!node_id_valid_n(value, nl) || read_decimal(colon + 1, len - nl - 1, epoch))
        return -EINVAL;
    memcpy(node, value, nl);
    node[nl] = '\0';
    return 0;
}

/* ---- registry entry ---------------------------------------------------------- */

static const char *const state_names[] = {"serving", "draining"};

/* o (stolen) as compact JSON into out: 0, -ENOMEM, -ENOSPC. */
static int dump(json_t *o, char *out, size_t cap)
{
    if (!o)
        return -ENOMEM;
    size_t need = json_dumpb(o, out, cap, JSON_COMPACT);
    json_decref(o);
    if (need == 0 || need >= cap)
        return -ENOSPC;
    out[need] = '\0';
    return 0;
}

int pal_cluster_node_write(const struct pal_cluster_node *n, char *out, size_t cap)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:f, s:i, s:i, s:I, s:s, s:i}", "id", n->id, "url",
                          n->url, "version", n->version, "cores", n->cores, "load", n->load,
                          "rooms", n->rooms, "participants", n->participants,
                          "packets_per_second", (json_int_t)n->packets_per_second, "state",
                          state_names[n->state == PAL_CLUSTER_DRAINING], "proto", n->proto);
    return dump(o, out, cap);
}

static int get_int(json_t *o, const char *key, long min, long max, int64_t *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, errlen, "%s: expected an integer from %ld to %ld", key, min, max);
        return -EINVAL;
    }
    *out = json_integer_value(v);
    return 0;
}

static int get_str(json_t *o, const char *key, char *dst, size_t cap, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) >= cap || strlen(s) != json_string_length(v)) {
        snprintf(err, errlen, "%s: expected a string of less than %zu bytes", key, cap);
        return -EINVAL;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int pal_cluster_node_read(const char *text, size_t len, struct pal_cluster_node *out, char *err,
                          size_t errlen)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object");
        json_decref(o);
        return -EINVAL;
    }
    int64_t cores = 0, rooms = 0, parts = 0, pps = 0, proto = 0;
    char state[16];
    int rc = get_str(o, "id", out->id, sizeof(out->id), err, errlen);
    rc = rc ? rc : get_str(o, "url", out->url, sizeof(out->url), err, errlen);
    rc = rc ? rc : get_str(o, "version", out->version, sizeof(out->version), err, errlen);
    rc = rc ? rc : get_str(o, "state", state, sizeof(state), err, errlen);
    rc = rc ? rc : get_int(o, "cores", 1, 100000, &cores, err, errlen);
    rc = rc ? rc : get_int(o, "rooms", 0, 100000000, &rooms, err, errlen);
    rc = rc ? rc : get_int(o, "participants", 0, 100000000, &parts, err, errlen);
    rc = rc ? rc : get_int(o, "packets_per_second", 0, INT32_MAX, &pps, err, errlen);
    rc = rc ? rc : get_int(o, "proto", 0, 1000000, &proto, err, errlen);
    json_t *load = json_object_get(o, "load");
    if (!rc && (!json_is_number(load) || json_number_value(load) < 0 ||
                json_number_value(load) > 1e6)) {
        snprintf(err, errlen, "load: expected a number from 0 to 1e6");
        rc = -EINVAL;
    }
    if (!rc && !pal_cluster_node_id_valid(out->id)) {
        snprintf(err, errlen, "id: 1 to %d of [A-Za-z0-9_-]", PAL_CLUSTER_NODE_ID_MAX);
        rc = -EINVAL;
    }
    if (!rc && strncmp(out->url, "http://", 7) != 0 && strncmp(out->url, "https://", 8) != 0) {
        snprintf(err, errlen, "url: expected http(s)://");
        rc = -EINVAL;
    }
    if (!rc) {
        if (strcmp(state, "serving") == 0)
            out->state = PAL_CLUSTER_SERVING;
        else if (strcmp(state, "draining") == 0)
            out->state = PAL_CLUSTER_DRAINING;
        else {
            snprintf(err, errlen, "state: serving or draining");
            rc = -EINVAL;
        }
    }
    if (!rc) {
        out->load = json_number_value(load);
        out->cores = (int)cores;
        out->rooms = (int)rooms;
        out->participants = (int)parts;
        out->packets_per_second = pps;
        out->proto = (int)proto;
    }
    json_decref(o);
    return rc;
}

int pal_cluster_ws_url(const char *public_url, char *out, size_t cap)
{
    bool tls = strncmp(public_url, "https://", 8) == 0;
    const char *rest = public_url + (tls ? 8 : strncmp(public_url, "http://", 7) == 0 ? 7 : 0);
    size_t n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    int m = snprintf(out, cap, "%s://%.*s/ws", tls ? "wss" : "ws", (int)n, rest);
    return m < 0 || (size_t)m >= cap ? -ENOSPC : 0;
}

int pal_cluster_redis_addr_parse(const char *value, char *host, size_t hostcap, int *port)
{
    size_t n = strlen(value);
    if (value[0] == '/') {
        if (n >= hostcap || n >= 108) /* sun_path */
            return -EINVAL;
        memcpy(host, value, n + 1);
        *port = 0;
        return 0;
    }
    const char *h = value, *colon;
    size_t hl;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = value + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        if (!colon || memchr(value, ':', (size_t)(colon - value)))
            return -EINVAL;
        hl = (size_t)(colon - value);
    }
    int64_t p;
    if (hl == 0 || hl >= hostcap || read_decimal(colon + 1, strlen(colon + 1), &p) || p < 1 ||
        p > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* ---- access fields ---------------------------------------------------------- */

int pal_cluster_room_write(const struct pal_room_record *r, char *out, size_t cap)
{
    return dump(json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:b}", "title", r->title, "owner_sub",
                          r->owner_sub, "owner_name", r->owner_name, "created_ms",
                          (json_int_t)r->created_ms, "lobby", r->settings.lobby, "locked",
                          r->settings.locked, "guest_chat", r->settings.guest_chat),
                out, cap);
}

static int get_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        return -EINVAL;
    *out = json_is_true(v);
    return 0;
}

/* A string of min to sizeof(dst) - 1 bytes. */
static int get_text(json_t *o, const char *key, size_t min, char *dst, size_t cap)
{
    char err[8];
    int rc = get_str(o, key, dst, cap, err, sizeof(err));
    return rc ? rc : strlen(dst) < min ? -EINVAL : 0;
}

/* The JSON object of a value, or NULL; out (size bytes) zeroed first, and
 * room (when not NULL) checked. */
static json_t *load_object(const char *text, size_t len, const char *room, void *out,
                           size_t size)
{
    memset(out, 0, size);
    if (room && !room_valid(room, strlen(room)))
        return NULL;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pal_cluster_room_read(const char *text, size_t len, const char *room,
                          struct pal_room_record *out)
{
    json_t *o = load_object(text, len, room, out, sizeof(*out));
    if (!o)
        return -EINVAL;
    char err[8];
    int64_t created = 0;
    int rc = get_text(o, "title", 1, out->title, sizeof(out->title));
    rc = rc ? rc : get_text(o, "owner_sub", 1, out->owner_sub, sizeof(out->owner_sub));
    rc = rc ? rc : get_text(o, "owner_name", 0, out->owner_name, sizeof(out->owner_name));
    rc = rc ? rc : get_int(o, "created_ms", 0, INT64_MAX, &created, err, sizeof(err));
    rc = rc ? rc : get_bool(o, "lobby", &out->settings.lobby);
    rc = rc ? rc : get_bool(o, "locked", &out->settings.locked);
    rc = rc ? rc : get_bool(o, "guest_chat", &out->settings.guest_chat);
    json_decref(o);
    out->created_ms = created;
    snprintf(out->name, sizeof(out->name), "%s", room);
    return rc ? -EINVAL : 0;
}

int pal_cluster_invite_write(const struct pal_invite *inv, char *out, size_t cap)
{
    return dump(json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:b, s:I}", "label", inv->label,
                          "created_by", inv->created_by, "created_ms",
                          (json_int_t)inv->created_ms, "expires_ms", (json_int_t)inv->expires_ms,
                          "max_uses", inv->max_uses, "uses", inv->uses, "lobby", inv->lobby,
                          "revoked_ms", (json_int_t)inv->revoked_ms),
                out, cap);
}

int pal_cluster_invite_read(const char *text, size_t len, const char *room,
                            struct pal_invite *out)
{
    json_t *o = load_object(text, len, room, out, sizeof(*out));
    if (!o)
        return -EINVAL;
    char err[8];
    int64_t created = 0, expires = 0, max_uses = 0, uses = 0, revoked = 0;
    int rc = get_text(o, "label", 1, out->label, sizeof(out->label));
    rc = rc ? rc : get_text(o, "created_by", 0, out->created_by, sizeof(out->created_by));
    rc = rc ? rc : get_int(o, "created_ms", 0, INT64_MAX, &created, err, sizeof(err));
    rc = rc ? rc : get_int(o, "expires_ms", 0, INT64_MAX, &expires, err, sizeof(err));
    rc = rc ? rc : get_int(o, "max_uses", 0, INT32_MAX, &max_uses, err, sizeof(err));
    rc = rc ? rc : get_int(o, "uses", 0, INT32_MAX, &uses, err, sizeof(err));
    rc = rc ? rc : get_bool(o, "lobby", &out->lobby);
    rc = rc ? rc : get_int(o, "revoked_ms", 0, INT64_MAX, &revoked, err, sizeof(err));
    json_decref(o);
    out->created_ms = created;
    out->expires_ms = expires;
    out->max_uses = (int)max_uses;
    out->uses = (int)uses;
    out->revoked_ms = revoked;
    snprintf(out->room, sizeof(out->room), "%s", room);
    return rc ? -EINVAL : 0;
}

int pal_cluster_person_write(const struct pal_cluster_person *p, char *out, size_t cap)
{
    return dump(json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", p->id, "name", p->name, "role",
                          pal_role_name((enum pal_role)p->role), "agent", p->agent, "sub", p->sub),
                out, cap);
}

int pal_cluster_person_read(const char *text, size_t len, struct pal_cluster_person *out)
{
    json_t *o = load_object(text, len, NULL, out, sizeof(*out));
    if (!o)
        return -EINVAL;
    char role[16];
    enum pal_role r = PAL_ROLE_GUEST;
    int rc = get_text(o, "id", PAL_PARTICIPANT_ID_LEN, out->id, sizeof(out->id));
    rc = rc ? rc : get_text(o, "name", 1, out->name, sizeof(out->name));
    rc = rc ? rc : get_text(o, "role", 1, role, sizeof(role));
    rc = rc ? rc : get_bool(o, "agent", &out->agent);
    rc = rc ? rc : get_text(o, "sub", 0, out->sub, sizeof(out->sub));
    json_decref(o);
    static const enum pal_role roles[] = {PAL_ROLE_OWNER, PAL_ROLE_MODERATOR,
                                          PAL_ROLE_PARTICIPANT, PAL_ROLE_GUEST};
    bool known = false;
    for (size_t i = 0; !rc && i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(role, pal_role_name(roles[i])) == 0) {
            r = roles[i];
            known = true;
        }
    if (!rc && (!known || strncmp(out->id, "p_", 2) != 0 ||
                strspn(out->id + 2, "0123456789abcdef") != PAL_PARTICIPANT_ID_LEN - 2 ||
                out->agent != (out->sub[0] != '\0')))
        rc = -EINVAL;
    out->role = (int)r;
    return rc ? -EINVAL : 0;
}
