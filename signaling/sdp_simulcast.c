/* Simulcast in SDP (RFC 8851 a=rid, RFC 8853 a=simulcast). See
 * palabre/sdp_simulcast.h. */
#include "palabre/sdp_simulcast.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define fail pal_sdp_fail

/* rid-id = 1*(alpha-numeric / "-" / "_") (RFC 8851 10), at most 16 bytes:
 * what the one-byte header extension form can carry. Returns its length,
 * 0 if s does not start with one. */
static size_t rid_id_len(const char *s)
{
    size_t n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_')
        n++;
    return n;
}

static const char *dir_word(enum pal_sdp_direction dir)
{
    return dir == PAL_SDP_DIR_SENDONLY ? "send" : "recv";
}

/* Whether m has "a=rid:<id> <dir>". -EINVAL for a malformed a=rid. */
static int rid_declared(const struct pal_sdp_media *m, const char *id, size_t len,
                        enum pal_sdp_direction dir, struct pal_sdp_error *err)
{
    for (unsigned i = 0; i < m->n_rids; i++) {
        const char *r = m->rids[i];
        size_t n = rid_id_len(r);
        if (n == 0 || r[n] != ' ')
            return fail(err, "a=rid:%s: expected '<rid-id> send|recv'", r);
        const char *d = r + n + 1;
        size_t dl = strcspn(d, " ");
        if (!((dl == 4 && !strncmp(d, "send", 4)) || (dl == 4 && !strncmp(d, "recv", 4))))
            return fail(err, "a=rid:%s: direction must be send or recv", r);
        if (n == len && !strncmp(r, id, len) && !strncmp(d, dir_word(dir), 4))
            return 1;
    }
    return 0;
}

static int rank(const char *id)
{
    static const char *const order[] = {"q", "h", "f"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(id, order[i]))
            return i;
    return -1;
}

int pal_sdp_simulcast_layers(const struct pal_sdp_media *m, enum pal_sdp_direction dir,
                             char out[][PAL_MEDIA_RID_MAX], size_t cap, struct pal_sdp_error *err)
{
    if (!m->simulcast[0])
        return 0;
    /* The list after our direction's word: "send q;h;f" or "recv ... send q;h". */
    const char *word = dir_word(dir), *s = m->simulcast, *list = NULL;
    while (*s) {
        size_t wl = strcspn(s, " ");
        const char *v = s + wl + (s[wl] == ' ');
        size_t vl = strcspn(v, " ");
        if (wl != 4 || (strncmp(s, "send", 4) && strncmp(s, "recv", 4)) || vl == 0)
            return fail(err, "a=simulcast:%s: expected 'send|recv <rid>;...'", m->simulcast);
        if (!strncmp(s, word, 4) && !list)
            list = v;
        s = v + vl + (v[vl] == ' ');
    }
    if (!list)
        return 0;
    size_t n = 0, list_len = strcspn(list, " ");
    for (size_t pos = 0; pos < list_len;) {
        const char *alt = list + pos;
        size_t alt_len = strcspn(alt, "; ");
        if (alt_len > list_len - pos)
            alt_len = list_len - pos;
        const char *id = alt + (alt[0] == '~');
        size_t len = rid_id_len(id);
        size_t first = (size_t)(id - alt) + len; /* the first alternative only */
        if (len == 0 || (first < alt_len && id[len] != ','))
            return fail(err, "a=simulcast:%s: bad rid at '%.*s'", m->simulcast, (int)alt_len, alt);
        if (len >= PAL_MEDIA_RID_MAX)
            return fail(err, "a=simulcast: rid '%.*s' longer than %d bytes", (int)len, id,
                        PAL_MEDIA_RID_MAX - 1);
        int rc = rid_declared(m, id, len, dir, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return fail(err, "a=simulcast: rid '%.*s' has no 'a=rid:%.*s %s' line", (int)len, id,
                        (int)len, id, word);
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= strlen(out[k]) == len && !strncmp(out[k], id, len);
        if (dup)
            return fail(err, "a=simulcast: rid '%.*s' listed twice", (int)len, id);
        if (n < cap) {
            memcpy(out[n], id, len);
            out[n][len] = '\0';
            n++;
        }
        pos += alt_len + 1;
    }
    /* q, h, f: lowest first whatever order the browser listed them in. */
    bool known = true;
    for (size_t i = 0; i < n; i++)
        known &= rank(out[i]) >= 0;
    for (size_t i = 1; known && i < n; i++)
        for (size_t k = i; k > 0 && rank(out[k - 1]) > rank(out[k]); k--) {
            char t[PAL_MEDIA_RID_MAX];
            memcpy(t, out[k], sizeof(t));
            memcpy(out[k], out[k - 1], sizeof(t));
            memcpy(out[k - 1], t, sizeof(t));
        }
    return (int)n;
}

void pal_sdp_simulcast_answer(struct pal_sdp_media *am, const char rids[][PAL_MEDIA_RID_MAX],
                              size_t n)
{
    am->n_rids = 0;
    am->simulcast[0] = '\0';
    if (n == 0)
        return;
    size_t off = (size_t)snprintf(am->simulcast, sizeof(am->simulcast), "recv ");
    for (size_t i = 0; i < n && i < PAL_SDP_MAX_RIDS; i++) {
        snprintf(am->rids[am->n_rids++], sizeof(am->rids[0]), "%s recv", rids[i]);
        if (off < sizeof(am->simulcast))
            off += (size_t)snprintf(am->simulcast + off, sizeof(am->simulcast) - off, "%s%s",
                                    i ? ";" : "", rids[i]);
    }
}
