/* The tool's uncapped answer to a subscribe offer. See sub_answer.h. */
#include "sub_answer.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One line of the offer: [p, p + len), without its CR LF. */
struct line {
    const char *p;
    size_t len;
};

/* Next line from *cur up to end; false at the end. */
static bool next_line(const char **cur, const char *end, struct line *l)
{
    if (*cur >= end)
        return false;
    const char *nl = memchr(*cur, '\n', (size_t)(end - *cur));
    const char *stop = nl ? nl : end;
    l->p = *cur;
    l->len = (size_t)(stop - *cur);
    if (l->len && l->p[l->len - 1] == '\r')
        l->len--;
    *cur = nl ? nl + 1 : end;
    return true;
}

/* The value after prefix when the line starts with it, NUL-terminated in buf. */
static const char *value_of(const struct line *l, const char *prefix, char *buf, size_t cap)
{
    size_t n = strlen(prefix);
    if (l->len < n || memcmp(l->p, prefix, n) != 0)
        return NULL;
    snprintf(buf, cap, "%.*s", (int)(l->len - n), l->p + n);
    return buf;
}

/* A payload type's value for "a=<attr>:<pt> value" lines. */
static bool is_pt_attr(const struct line *l, const char *attr, int pt)
{
    char prefix[48];
    snprintf(prefix, sizeof(prefix), "a=%s:%d ", attr, pt);
    return l->len > strlen(prefix) && memcmp(l->p, prefix, strlen(prefix)) == 0;
}

/* Transport attributes of a section (session level or one m-section). */
static void read_transport(const char *p, const char *end, struct load_sub_remote *r)
{
    struct line l;
    char v[PAL_SDP_MAX_LINE];
    while (next_line(&p, end, &l)) {
        if (value_of(&l, "a=ice-ufrag:", v, sizeof(v)))
            g_strlcpy(r->ice_ufrag, v, sizeof(r->ice_ufrag));
        else if (value_of(&l, "a=ice-pwd:", v, sizeof(v)))
            g_strlcpy(r->ice_pwd, v, sizeof(r->ice_pwd));
        else if (value_of(&l, "a=fingerprint:", v, sizeof(v)))
            pal_sdp_fingerprint_parse(v, &r->fingerprint);
        else if (value_of(&l, "a=end-of-candidates", v, sizeof(v)))
            r->end_of_candidates = true;
        else if (value_of(&l, "a=", v, sizeof(v)) && !strncmp(v, "candidate:", 10) &&
                 r->n_candidates < LOAD_SUB_MAX_CANDIDATES &&
                 pal_sdp_candidate_parse(v, &r->candidates[r->n_candidates], NULL) == 0)
            r->n_candidates++;
    }
}

/* The transport-cc extension id an m-section's a=extmap lines give, 0 for none. */
static uint8_t find_twcc_ext(const char *p, const char *end)
{
    struct line l;
    char v[PAL_SDP_MAX_LINE];
    while (next_line(&p, end, &l)) {
        if (!value_of(&l, "a=extmap:", v, sizeof(v)))
            continue;
        /* <id>[/<direction>] <uri> [<attributes>] */
        char *rest;
        unsigned long id = strtoul(v, &rest, 10);
        if (rest == v || id < 1 || id > 255)
            continue;
        if (*rest == '/')
            rest += strcspn(rest, " ");
        if (*rest != ' ')
            continue;
        rest++;
        size_t n = strcspn(rest, " ");
        if (n == strlen(PAL_SDP_URI_TRANSPORT_CC) && !memcmp(rest, PAL_SDP_URI_TRANSPORT_CC, n))
            return (uint8_t)id;
    }
    return 0;
}

/* The first payload type of the m= line with the codec we receive. */
static int pick_pt(const char *mline, const char *p, const char *end, bool video)
{
    const char *want = video ? "VP8/90000" : "opus/48000/2";
    /* m=<media> <port> <proto> <fmt> ... */
    const char *f = mline;
    for (int field = 0; field < 3 && f; field++)
        f = strchr(f + 1, ' ');
    while (f && *f == ' ') {
        int pt = atoi(f + 1);
        const char *q = p;
        struct line l;
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "a=rtpmap:%d ", pt);
        while (next_line(&q, end, &l))
            if (l.len == strlen(prefix) + strlen(want) &&
                !memcmp(l.p, prefix, strlen(prefix)) &&
                !strncasecmp(l.p + strlen(prefix), want, strlen(want)))
                return pt;
        f = strchr(f + 1, ' ');
    }
    return -1;
}

/* Appends one m-section of the answer (an accepted one when pt >= 0). */
static void answer_media(GString *a, const char *p, const char *end, const char *kind,
                         const char *fmts, bool offered_port0, int pt, const struct pal_sdp_local *local,
                         const char *fp, GString *bundle, GArray *ssrcs)
{
    struct line l;
    char v[PAL_SDP_MAX_LINE], mid[PAL_SDP_MID_LEN] = "";
    bool sends = true, rsize = false;
    for (const char *q = p; next_line(&q, end, &l);) {
        if (value_of(&l, "a=mid:", v, sizeof(v)))
            g_strlcpy(mid, v, sizeof(mid));
        else if (value_of(&l, "a=recvonly", v, sizeof(v)) || value_of(&l, "a=inactive", v, sizeof(v)))
            sends = false;
        else if (value_of(&l, "a=rtcp-rsize", v, sizeof(v)))
            rsize = true;
    }
    if (pt >= 0 && !offered_port0 && sends)
        for (const char *q = p; next_line(&q, end, &l);)
            if (value_of(&l, "a=ssrc:", v, sizeof(v))) {
                uint32_t ssrc = (uint32_t)strtoul(v, NULL, 10);
                g_array_append_val(ssrcs, ssrc);
            }
    if (pt < 0 || offered_port0) { /* rejected: port 0, the offer's formats */
        g_string_append_printf(a, "m=%s 0 UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 0.0.0.0\r\n", kind,
                               fmts);
        if (mid[0])
            g_string_append_printf(a, "a=mid:%s\r\n", mid);
        return;
    }
    g_string_append_printf(a,
                           "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 0.0.0.0\r\n"
                           "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n"
                           "a=fingerprint:%s\r\na=setup:active\r\n",
                           kind, pt, local->ice_ufrag, local->ice_pwd, fp);
    if (mid[0]) {
        g_string_append_printf(a, "a=mid:%s\r\n", mid);
        g_string_append_printf(bundle, " %s", mid);
    }
    for (const char *q = p; next_line(&q, end, &l);)
        if (l.len > 9 && !memcmp(l.p, "a=extmap:", 9))
            g_string_append_printf(a, "%.*s\r\n", (int)l.len, l.p);
    g_string_append_printf(a, "a=%s\r\na=rtcp-mux\r\n%s", sends ? "recvonly" : "inactive",
                           rsize ? "a=rtcp-rsize\r\n" : "");
    static const char *const attrs[] = {"rtpmap", "rtcp-fb", "fmtp"};
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        for (const char *q = p; next_line(&q, end, &l);)
            if (is_pt_attr(&l, attrs[i], pt))
                g_string_append_printf(a, "%.*s\r\n", (int)l.len, l.p);
}

static gint cmp_u32(gconstpointer a, gconstpointer b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void load_sub_remote_clear(struct load_sub_remote *remote)
{
    g_free(remote->ssrcs);
    remote->ssrcs = NULL;
    remote->n_ssrcs = 0;
}

bool load_sub_remote_has_ssrc(const struct load_sub_remote *remote, uint32_t ssrc)
{
    return remote->ssrcs &&
           bsearch(&ssrc, remote->ssrcs, remote->n_ssrcs, sizeof(ssrc), cmp_u32) != NULL;
}

int load_sub_answer(const char *offer, const struct pal_sdp_local *local, char **answer,
                    struct load_sub_remote *remote, char *err, size_t errcap)
{
    *answer = NULL;
    memset(remote, 0, sizeof(*remote));
    const char *end = offer + strlen(offer);
    /* section starts: the session, then every "m=" line */
    GArray *starts = g_array_new(FALSE, FALSE, sizeof(const char *));
    g_array_append_val(starts, offer);
    struct line l;
    for (const char *q = offer; next_line(&q, end, &l);)
        if (l.len > 2 && !memcmp(l.p, "m=", 2))
            g_array_append_val(starts, l.p);
    g_array_append_val(starts, end);
    size_t n_sec = starts->len - 1;
    const char **sec = (const char **)(void *)starts->data;

    read_transport(sec[0], n_sec > 1 ? sec[1] : end, remote);
    char fp[PAL_SDP_MAX_FINGERPRINT * 3 + 16], fpv[PAL_SDP_MAX_FINGERPRINT * 3 + 1];
    pal_sdp_fingerprint_format(&local->fingerprint, fpv, sizeof(fpv));
    snprintf(fp, sizeof(fp), "%s %s", local->fingerprint.algorithm, fpv);

    GString *media = g_string_new(NULL), *bundle = g_string_new(NULL);
    GArray *ssrcs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    bool transport_read = false;
    for (size_t i = 1; i < n_sec; i++) {
        const char *p = sec[i], *e = sec[i + 1];
        char mline[PAL_SDP_MAX_LINE], kind[16] = "";
        const char *q = p;
        next_line(&q, e, &l);
        value_of(&l, "m=", mline, sizeof(mline));
        int port = -1;
        if (sscanf(mline, "%15s %d", kind, &port) != 2)
            port = -1;
        bool video = !strcmp(kind, "video");
        int pt = port > 0 && (video || !strcmp(kind, "audio")) ? pick_pt(mline, q, e, video) : -1;
        remote->n_media++;
        if (pt >= 0) {
            remote->n_accepted++;
            if (!transport_read) { /* the BUNDLE transport: the first accepted m-line's */
                read_transport(q, e, remote);
                transport_read = true;
            }
            if (!remote->ext_twcc)
                remote->ext_twcc = find_twcc_ext(q, e);
        }
        const char *fmts = mline; /* after "<media> <port> <proto> " */
        for (int field = 0; field < 3 && fmts; field++)
            fmts = strchr(fmts, ' ') ? strchr(fmts, ' ') + 1 : NULL;
        answer_media(media, q, e, kind[0] ? kind : "audio", fmts && *fmts ? fmts : "0", port == 0,
                     pt, local, fp, bundle, ssrcs);
    }
    g_array_free(starts, TRUE);
    g_array_sort(ssrcs, cmp_u32);
    guint n = 0; /* unique: an SSRC has several a=ssrc lines (cname, msid) */
    for (guint i = 0; i < ssrcs->len; i++)
        if (!n || g_array_index(ssrcs, uint32_t, i) != g_array_index(ssrcs, uint32_t, n - 1))
            g_array_index(ssrcs, uint32_t, n++) = g_array_index(ssrcs, uint32_t, i);
    g_array_set_size(ssrcs, n);
    remote->n_ssrcs = ssrcs->len;
    remote->ssrcs = (uint32_t *)(void *)g_array_free(ssrcs, FALSE);

    int rc = 0;
    if (!remote->n_accepted)
        snprintf(err, errcap, "subscribe offer: no m-line to accept (of %d)", remote->n_media), rc = -EINVAL;
    else if (!remote->ice_ufrag[0] || !remote->ice_pwd[0] || !remote->fingerprint.algorithm[0])
        snprintf(err, errcap, "subscribe offer: no ICE credentials or fingerprint"), rc = -EINVAL;
    if (rc)
        load_sub_remote_clear(remote);
    if (!rc) {
        GString *a = g_string_new(NULL);
        g_string_append_printf(a,
                               "v=0\r\no=- %s %llu IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                               "a=group:BUNDLE%s\r\na=msid-semantic: WMS\r\n%s",
                               local->origin_sess_id,
                               (unsigned long long)local->origin_sess_version, bundle->str,
                               media->str);
        *answer = strdup(a->str);
        g_string_free(a, TRUE);
        if (!*answer)
            rc = -ENOMEM;
    }
    g_string_free(media, TRUE);
    g_string_free(bundle, TRUE);
    return rc;
}
