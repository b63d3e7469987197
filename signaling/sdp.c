/* SDP text <-> struct pal_session_desc (RFC 8866 syntax, WebRTC attributes
 * from RFC 8839 ICE, 8842 DTLS, 8843 BUNDLE, 8285 extmap, 5576 ssrc, 8830 msid).
 *
 * Hand-written: no maintained C library parses SDP into plain fixed-size
 * structs (sofia-sip's parser allocates from its own home/su heap and knows
 * none of the WebRTC attributes; libsdp variants are unmaintained), and the
 * grammar we need is line-oriented and small.
 *
 *   v=0
 *   o=<username> <sess-id> <sess-version> IN IP4 <unicast-address>
 *   s=<session name>
 *   t=0 0
 *   a=<session attributes>...
 *   m=<media> <port> <proto> <fmt> ...
 *   c=IN IP4 <address>
 *   a=<media attributes>...
 *
 * Parsing rules: every kept value must fit its field and every list its
 * array, or the parse fails with the line number and what was expected.
 * Control characters other than tab are refused, so that anything parsed can
 * be written back and parsed again to the same struct (the fuzz target checks
 * this). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "palabre/common.h"
#include "palabre/sdp.h"

/* ---- small string helpers ---------------------------------------------- */

static bool is_ws(char c) { return c == ' ' || c == '\t'; }

static const char *skip_ws(const char *p)
{
    while (is_ws(*p))
        p++;
    return p;
}

/* Copies the next whitespace-separated token of *p into out (cap bytes with
 * the NUL). Returns its length, 0 when there is none, -1 when too long. */
static int next_token(const char **p, char *out, size_t cap)
{
    const char *s = skip_ws(*p);
    size_t n = 0;
    while (s[n] && !is_ws(s[n]))
        n++;
    *p = s + n;
    if (n == 0) {
        memset(out, 0, cap);
        return 0;
    }
    if (n >= cap)
        return -1;
    /* Zero the whole field: parse -> write -> parse compares structs bytewise. */
    memset(out, 0, cap);
    memcpy(out, s, n);
    return (int)n;
}

/* Copies the rest of p, without leading and trailing whitespace. Returns its
 * length or -1 when too long. */
static int rest_trimmed(const char *p, char *out, size_t cap)
{
    p = skip_ws(p);
    size_t n = strlen(p);
    while (n && is_ws(p[n - 1]))
        n--;
    if (n >= cap)
        return -1;
    memset(out, 0, cap);
    memcpy(out, p, n);
    return (int)n;
}

/* Strict decimal: digits only, value <= max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memset(dst, 0, cap);
    memcpy(dst, src, n);
    return true;
}

/* ---- parser state --------------------------------------------------------- */

struct parser {
    struct pal_session_desc *d;
    struct pal_sdp_media *m; /* current m-line, NULL at session level */
    struct pal_sdp_error *err;
    int line;
    bool seen_o, seen_s;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *P, const char *fmt, ...)
{
    if (P->err) {
        char reason[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        P->err->line = P->line;
        if (P->line > 0)
            snprintf(P->err->message, sizeof(P->err->message), "line %d: %s", P->line, reason);
        else
            snprintf(P->err->message, sizeof(P->err->message), "%s", reason);
    }
    return -EINVAL;
}

static void error_set(struct pal_sdp_error *err, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void error_set(struct pal_sdp_error *err, int line, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    err->line = line;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* ---- value parsers shared with the trickle API ----------------------------- */

int pal_sdp_fingerprint_parse(const char *text, struct pal_sdp_fingerprint *out)
{
    const char *p = text;
    struct pal_sdp_fingerprint fp;
    memset(&fp, 0, sizeof(fp));
    if (next_token(&p, fp.algorithm, sizeof(fp.algorithm)) <= 0)
        return -EINVAL;
    for (char *c = fp.algorithm; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    char hex[3 * PAL_SDP_MAX_FINGERPRINT + 1];
    if (next_token(&p, hex, sizeof(hex)) <= 0 || *skip_ws(p))
        return -EINVAL;
    /* "AB:CD:...": pairs of hex digits separated by ':' */
    const char *h = hex;
    for (;;) {
        if (fp.len == PAL_SDP_MAX_FINGERPRINT || !isxdigit((unsigned char)h[0]) ||
            !isxdigit((unsigned char)h[1]))
            return -EINVAL;
        char byte[3] = {h[0], h[1], 0};
        fp.digest[fp.len++] = (uint8_t)strtoul(byte, NULL, 16);
        h += 2;
        if (!*h)
            break;
        if (*h++ != ':')
            return -EINVAL;
    }
    *out = fp;
    return 0;
}

int pal_sdp_fingerprint_format(const struct pal_sdp_fingerprint *fp, char *buf, size_t cap)
{
    size_t need = fp->len ? (size_t)fp->len * 3 - 1 : 0;
    if (cap < need + 1)
        return -ENOSPC;
    for (unsigned i = 0; i < fp->len; i++)
        snprintf(buf + i * 3, cap - i * 3, i + 1 < fp->len ? "%02X:" : "%02X", fp->digest[i]);
    buf[need] = 0;
    return (int)need;
}

static const char *const cand_types[] = {"host", "srflx", "prflx", "relay"};
static const char *const tcptypes[] = {"", "active", "passive", "so"};

/* Appends token to the raw extensions tail. */
static bool append_ext(char *ext, size_t cap, const char *tok)
{
    size_t n = strlen(ext), t = strlen(tok);
    if (n + (n ? 1 : 0) + t >= cap)
        return false;
    if (n)
        ext[n++] = ' ';
    memcpy(ext + n, tok, t + 1);
    return true;
}

/* Parses the value after "candidate:". Returns NULL or the reason. */
static const char *candidate_value(const char *p, struct pal_sdp_candidate *c)
{
    char tok[PAL_SDP_ADDR_LEN];
    uint64_t v;
    const char *expect = "expected '<foundation> <component> <transport> <priority> <address> "
                         "<port> typ <type>'";
    memset(c, 0, sizeof(*c));
    if (next_token(&p, c->foundation, sizeof(c->foundation)) <= 0)
        return expect;
    if (next_token(&p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, 256, &v) || v == 0)
        return "component must be 1..256";
    c->component = (uint16_t)v;
    if (next_token(&p, tok, sizeof(tok)) <= 0)
        return expect;
    if (!strcasecmp(tok, "udp"))
        c->transport = PAL_SDP_CAND_UDP;
    else if (!strcasecmp(tok, "tcp"))
        c->transport = PAL_SDP_CAND_TCP;
    else
        return "transport must be udp or tcp";
    if (next_token(&p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, UINT32_MAX, &v))
        return "priority must be a number below 2^32";
    c->priority = (uint32_t)v;
    if (next_token(&p, c->address, sizeof(c->address)) <= 0)
        return "address missing or longer than 63 bytes";
    if (next_token(&p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, 65535, &v))
        return "port must be 0..65535";
    c->port = (uint16_t)v;
    if (next_token(&p, tok, sizeof(tok)) <= 0 || strcmp(tok, "typ"))
        return expect;
    if (next_token(&p, tok, sizeof(tok)) <= 0)
        return expect;
    bool found = false;
    for (unsigned i = 0; i < PAL_ARRAY_LEN(cand_types); i++)
        if (!strcmp(tok, cand_types[i])) {
            c->type = (enum pal_sdp_cand_type)i;
            found = true;
        }
    if (!found)
        return "type must be host, srflx, prflx or relay";
    bool has_rport = false;
    for (;;) {
        char key[PAL_SDP_EXT_LEN];
        int n = next_token(&p, key, sizeof(key));
        if (n == 0)
            break;
        if (n < 0)
            return "extension longer than 95 bytes";
        if (!strcmp(key, "raddr")) {
            if (next_token(&p, c->raddr, sizeof(c->raddr)) <= 0)
                return "raddr needs an address (up to 63 bytes)";
        } else if (!strcmp(key, "rport")) {
            if (next_token(&p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, 65535, &v))
                return "rport must be 0..65535";
            c->rport = (uint16_t)v;
            has_rport = true;
        } else if (!strcmp(key, "tcptype")) {
            if (next_token(&p, tok, sizeof(tok)) <= 0)
                return "tcptype needs active, passive or so";
            c->tcptype = PAL_SDP_TCPTYPE_NONE;
            for (unsigned i = 1; i < PAL_ARRAY_LEN(tcptypes); i++)
                if (!strcmp(tok, tcptypes[i]))
                    c->tcptype = (enum pal_sdp_tcptype)i;
            if (c->tcptype == PAL_SDP_TCPTYPE_NONE)
                return "tcptype needs active, passive or so";
        } else if (!append_ext(c->extensions, sizeof(c->extensions), key)) {
            return "extensions longer than 95 bytes";
        }
    }
    if (has_rport && !c->raddr[0])
        return "rport without raddr";
    if (!has_rport)
        c->rport = 0;
    return NULL;
}

int pal_sdp_candidate_parse(const char *text, struct pal_sdp_candidate *out,
                            struct pal_sdp_error *err)
{
    char buf[PAL_SDP_MAX_LINE + 1];
    size_t n = strnlen(text, sizeof(buf));
    if (n >= sizeof(buf)) {
        error_set(err, 0, "candidate: longer than %d bytes", PAL_SDP_MAX_LINE);
        return -EINVAL;
    }
    memcpy(buf, text, n + 1);
    while (n && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        buf[--n] = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)buf[i] < 0x20 && buf[i] != '\t') || buf[i] == 0x7f) {
            error_set(err, 0, "candidate: control character at byte %zu", i);
            return -EINVAL;
        }
    const char *p = buf;
    if (!strncmp(p, "a=", 2))
        p += 2;
    if (strncmp(p, "candidate:", 10)) {
        error_set(err, 0, "candidate: expected 'candidate:<foundation> ...'");
        return -EINVAL;
    }
    struct pal_sdp_candidate c;
    const char *why = candidate_value(p + 10, &c);
    if (why) {
        error_set(err, 0, "candidate: %s", why);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* ---- session and media lines -------------------------------------------------- */

static int parse_origin(struct parser *P, const char *p)
{
    struct pal_session_desc *d = P->d;
    char tok[PAL_SDP_ADDR_LEN];
    uint64_t v;
    const char *expect = "o=: expected '<username> <sess-id> <sess-version> IN IP4 <address>'";
    if (next_token(&p, d->origin_user, sizeof(d->origin_user)) <= 0)
        return fail(P, "%s", expect);
    if (next_token(&p, d->origin_sess_id, sizeof(d->origin_sess_id)) <= 0 ||
        !parse_uint(d->origin_sess_id, UINT64_MAX, &v))
        return fail(P, "o=: sess-id must be a decimal number below 2^64");
    if (next_token(&p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, UINT64_MAX, &v))
        return fail(P, "o=: sess-version must be a decimal number below 2^64");
    d->origin_sess_version = v;
    if (next_token(&p, tok, sizeof(tok)) <= 0 || strcmp(tok, "IN"))
        return fail(P, "%s", expect);
    if (next_token(&p, tok, sizeof(tok)) <= 0 || (strcmp(tok, "IP4") && strcmp(tok, "IP6")))
        return fail(P, "%s", expect);
    if (next_token(&p, d->origin_addr, sizeof(d->origin_addr)) <= 0 || *skip_ws(p))
        return fail(P, "%s", expect);
    P->seen_o = true;
    return 0;
}

static int parse_connection(struct parser *P, const char *p)
{
    char tok[8], addr[PAL_SDP_ADDR_LEN];
    const char *expect = "c=: expected 'IN IP4 <address>'";
    if (next_token(&p, tok, sizeof(tok)) <= 0 || strcmp(tok, "IN"))
        return fail(P, "%s", expect);
    if (next_token(&p, tok, sizeof(tok)) <= 0 || (strcmp(tok, "IP4") && strcmp(tok, "IP6")))
        return fail(P, "%s", expect);
    bool ip6 = tok[2] == '6';
    if (next_token(&p, addr, sizeof(addr)) <= 0 || *skip_ws(p))
        return fail(P, "%s", expect);
    if (P->m) { /* session-level c= is not kept: browsers repeat it per m-line */
        copy_str(P->m->conn_addr, sizeof(P->m->conn_addr), addr);
        P->m->conn_ip6 = ip6;
    }
    return 0;
}

static void codec_init(struct pal_sdp_codec *c, uint8_t pt)
{
    memset(c, 0, sizeof(*c));
    c->pt = pt;
    c->apt = -1;
    c->opus_useinbandfec = -1;
    c->opus_stereo = -1;
    c->rtx_pt = -1;
}

static int parse_media(struct parser *P, const char *p)
{
    struct pal_session_desc *d = P->d;
    const char *expect = "m=: expected '<media> <port> <proto> <fmt> ...'";
    if (d->n_media == PAL_SDP_MAX_MEDIA)
        return fail(P, "too many m= lines (max %d)", PAL_SDP_MAX_MEDIA);
    struct pal_sdp_media *m = &d->media[d->n_media];
    memset(m, 0, sizeof(*m));
    char tok[PAL_SDP_TOKEN_LEN];
    uint64_t v;
    if (next_token(&p, m->media_name, sizeof(m->media_name)) <= 0)
        return fail(P, "%s", expect);
    if (!strcmp(m->media_name, "audio"))
        m->kind = PAL_SDP_KIND_AUDIO;
    else if (!strcmp(m->media_name, "video"))
        m->kind = PAL_SDP_KIND_VIDEO;
    else if (!strcmp(m->media_name, "application"))
        m->kind = PAL_SDP_KIND_APPLICATION;
    else
        m->kind = PAL_SDP_KIND_UNKNOWN;
    if (next_token(&p, tok, sizeof(tok)) <= 0)
        return fail(P, "%s", expect);
    char *slash = strchr(tok, '/'); /* <port>/<number of ports>: the count is dropped */
    if (slash)
        *slash = 0;
    if (!parse_uint(tok, 65535, &v))
        return fail(P, "m=: port must be 0..65535");
    m->port = (uint16_t)v;
    if (next_token(&p, m->proto, sizeof(m->proto)) <= 0)
        return fail(P, "%s", expect);
    if (strstr(m->proto, "RTP/")) {
        for (;;) {
            int n = next_token(&p, tok, sizeof(tok));
            if (n == 0)
                break;
            if (n < 0 || !parse_uint(tok, 127, &v))
                return fail(P, "m=: payload type must be 0..127");
            for (unsigned i = 0; i < m->n_codecs; i++)
                if (m->codecs[i].pt == v)
                    return fail(P, "m=: payload type %u listed twice", (unsigned)v);
            if (m->n_codecs == PAL_SDP_MAX_CODECS)
                return fail(P, "m=: too many payload types (max %d)", PAL_SDP_MAX_CODECS);
            codec_init(&m->codecs[m->n_codecs++], (uint8_t)v);
        }
        if (!m->n_codecs)
            return fail(P, "%s", expect);
    } else {
        int n = rest_trimmed(p, m->fmt_raw, sizeof(m->fmt_raw));
        if (n < 0)
            return fail(P, "m=: format list longer than %d bytes", PAL_SDP_TOKEN_LEN - 1);
        if (n == 0)
            return fail(P, "%s", expect);
    }
    d->n_media++;
    P->m = m;
    return 0;
}

/* ---- attributes ----------------------------------------------------------- */

static struct pal_sdp_codec *find_pt(struct pal_sdp_media *m, unsigned pt)
{
    for (unsigned i = 0; i < m->n_codecs; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

/* "<pt> ..." for rtpmap/fmtp/rtcp-fb: the codec the line is about. */
static int codec_of(struct parser *P, const char *attr, const char **p, struct pal_sdp_codec **out)
{
    char tok[8];
    uint64_t v;
    if (!P->m)
        return fail(P, "a=%s: only allowed after an m= line", attr);
    if (next_token(p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, 127, &v))
        return fail(P, "a=%s: expected a payload type 0..127 first", attr);
    *out = find_pt(P->m, (unsigned)v);
    if (!*out)
        return fail(P, "a=%s: payload type %u is not in the m= line", attr, (unsigned)v);
    return 0;
}

static int attr_rtpmap(struct parser *P, const char *p)
{
    struct pal_sdp_codec *c;
    int rc = codec_of(P, "rtpmap", &p, &c);
    if (rc)
        return rc;
    char enc[PAL_SDP_TOKEN_LEN];
    const char *expect = "a=rtpmap: expected '<pt> <name>/<rate>'";
    if (next_token(&p, enc, sizeof(enc)) <= 0 || *skip_ws(p))
        return fail(P, "%s", expect);
    char *rate = strchr(enc, '/');
    if (!rate || rate == enc)
        return fail(P, "%s", expect);
    *rate++ = 0;
    char *chans = strchr(rate, '/');
    if (chans)
        *chans++ = 0;
    uint64_t r, ch = 0;
    if (!parse_uint(rate, UINT32_MAX, &r) || (chans && !parse_uint(chans, 255, &ch)))
        return fail(P, "%s", expect);
    if (!copy_str(c->name, sizeof(c->name), enc))
        return fail(P, "a=rtpmap: codec name longer than %d bytes", PAL_SDP_NAME_LEN - 1);
    c->clock_rate = (uint32_t)r;
    c->channels = (uint8_t)ch;
    return 0;
}

/* The fields Palabre reads from fmtp parameters ("a=1;b=2"). */
static void fmtp_fields(struct pal_sdp_codec *c)
{
    char buf[PAL_SDP_FMTP_LEN];
    strcpy(buf, c->fmtp);
    c->apt = -1;
    c->opus_useinbandfec = c->opus_stereo = -1;
    c->opus_minptime = 0;
    char *save = NULL;
    for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        kv = (char *)skip_ws(kv);
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *val = skip_ws(eq + 1);
        char key[32];
        if (rest_trimmed(kv, key, sizeof(key)) < 0)
            continue;
        char vbuf[32];
        uint64_t v;
        if (rest_trimmed(val, vbuf, sizeof(vbuf)) < 0 || !parse_uint(vbuf, 65535, &v))
            continue;
        if (!strcmp(key, "apt") && v <= 127)
            c->apt = (int16_t)v;
        else if (!strcmp(key, "useinbandfec") && v <= 1)
            c->opus_useinbandfec = (int8_t)v;
        else if (!strcmp(key, "stereo") && v <= 1)
            c->opus_stereo = (int8_t)v;
        else if (!strcmp(key, "minptime"))
            c->opus_minptime = (uint16_t)v;
    }
}

static int attr_fmtp(struct parser *P, const char *p)
{
    struct pal_sdp_codec *c;
    int rc = codec_of(P, "fmtp", &p, &c);
    if (rc)
        return rc;
    if (rest_trimmed(p, c->fmtp, sizeof(c->fmtp)) < 0)
        return fail(P, "a=fmtp: parameters longer than %d bytes", PAL_SDP_FMTP_LEN - 1);
    fmtp_fields(c);
    return 0;
}

static const struct {
    const char *text;
    uint32_t bit;
} fb_names[] = {
    /* write order: Chrome's */
    {"goog-remb", PAL_SDP_FB_GOOG_REMB}, {"transport-cc", PAL_SDP_FB_TRANSPORT_CC},
    {"ccm fir", PAL_SDP_FB_CCM_FIR},     {"nack", PAL_SDP_FB_NACK},
    {"nack pli", PAL_SDP_FB_NACK_PLI},
};

static int add_fb(struct parser *P, struct pal_sdp_codec *c, const char *fb)
{
    for (unsigned i = 0; i < PAL_ARRAY_LEN(fb_names); i++)
        if (!strcmp(fb, fb_names[i].text)) {
            c->fb |= fb_names[i].bit;
            return 0;
        }
    for (unsigned i = 0; i < c->n_fb_other; i++)
        if (!strcmp(c->fb_other[i], fb))
            return 0;
    if (c->n_fb_other == PAL_SDP_MAX_FB_OTHER)
        return fail(P, "a=rtcp-fb: too many unknown values for payload type %u (max %d)", c->pt,
                    PAL_SDP_MAX_FB_OTHER);
    if (!copy_str(c->fb_other[c->n_fb_other], sizeof(c->fb_other[0]), fb))
        return fail(P, "a=rtcp-fb: value longer than %zu bytes", sizeof(c->fb_other[0]) - 1);
    c->n_fb_other++;
    return 0;
}

static int attr_rtcp_fb(struct parser *P, const char *p)
{
    if (!P->m)
        return fail(P, "a=rtcp-fb: only allowed after an m= line");
    const char *q = skip_ws(p);
    bool all = q[0] == '*' && (is_ws(q[1]) || !q[1]);
    struct pal_sdp_codec *c = NULL;
    if (all)
        p = q + 1;
    else {
        int rc = codec_of(P, "rtcp-fb", &p, &c);
        if (rc)
            return rc;
    }
    /* "<type> [<param>]": normalised to single spaces */
    char type[24], param[PAL_SDP_EXT_LEN], fb[PAL_SDP_EXT_LEN + 24];
    if (next_token(&p, type, sizeof(type)) <= 0)
        return fail(P, "a=rtcp-fb: expected '<pt> <type> [<parameter>]'");
    if (rest_trimmed(p, param, sizeof(param)) < 0)
        return fail(P, "a=rtcp-fb: parameter too long");
    snprintf(fb, sizeof(fb), param[0] ? "%s %s" : "%s", type, param);
    if (!all)
        return add_fb(P, c, fb);
    for (unsigned i = 0; i < P->m->n_codecs; i++) {
        int rc = add_fb(P, &P->m->codecs[i], fb);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *const dir_names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};

static const struct {
    const char *uri;
    enum pal_sdp_ext ext;
} ext_uris[] = {
    {PAL_SDP_URI_MID, PAL_SDP_EXT_MID},
    {PAL_SDP_URI_AUDIO_LEVEL, PAL_SDP_EXT_AUDIO_LEVEL},
    {PAL_SDP_URI_TRANSPORT_CC, PAL_SDP_EXT_TRANSPORT_CC},
    {PAL_SDP_URI_ABS_SEND_TIME, PAL_SDP_EXT_ABS_SEND_TIME},
    {PAL_SDP_URI_RID, PAL_SDP_EXT_RID},
    {PAL_SDP_URI_REPAIRED_RID, PAL_SDP_EXT_REPAIRED_RID},
};

static int attr_extmap(struct parser *P, const char *p)
{
    struct pal_sdp_media *m = P->m;
    if (!m) /* session-level extmaps (RFC 8285 allows them; browsers never write them) */
        return 0;
    const char *expect = "a=extmap: expected '<id>[/<direction>] <uri>'";
    char tok[24];
    uint64_t v;
    if (next_token(&p, tok, sizeof(tok)) <= 0)
        return fail(P, "%s", expect);
    struct pal_sdp_extmap e;
    memset(&e, 0, sizeof(e));
    char *slash = strchr(tok, '/');
    if (slash) {
        *slash++ = 0;
        bool found = false;
        for (unsigned i = 0; i < PAL_ARRAY_LEN(dir_names); i++)
            if (!strcmp(slash, dir_names[i])) {
                e.direction = (enum pal_sdp_direction)i;
                found = true;
            }
        if (!found)
            return fail(P, "a=extmap: direction must be sendrecv, sendonly, recvonly or inactive");
        e.has_direction = true;
    }
    if (!parse_uint(tok, 255, &v) || v == 0)
        return fail(P, "a=extmap: id must be 1..255");
    e.id = (uint8_t)v;
    int n = next_token(&p, e.uri, sizeof(e.uri));
    if (n < 0)
        return fail(P, "a=extmap: URI longer than %d bytes", PAL_SDP_URI_LEN - 1);
    if (n == 0)
        return fail(P, "%s", expect);
    if (rest_trimmed(p, e.attributes, sizeof(e.attributes)) < 0)
        return fail(P, "a=extmap: attributes longer than %d bytes", PAL_SDP_TOKEN_LEN - 1);
    for (unsigned i = 0; i < PAL_ARRAY_LEN(ext_uris); i++)
        if (!strcmp(e.uri, ext_uris[i].uri))
            e.known = ext_uris[i].ext;
    for (unsigned i = 0; i < m->n_extmaps; i++)
        if (m->extmaps[i].id == e.id)
            return fail(P, "a=extmap: id %u used twice", e.id);
    if (m->n_extmaps == PAL_SDP_MAX_EXTMAPS)
        return fail(P, "a=extmap: too many header extensions (max %d)", PAL_SDP_MAX_EXTMAPS);
    m->extmaps[m->n_extmaps++] = e;
    return 0;
}

static int attr_ssrc(struct parser *P, const char *p)
{
    struct pal_sdp_media *m = P->m;
    if (!m)
        return fail(P, "a=ssrc: only allowed after an m= line");
    char tok[16];
    uint64_t v;
    if (next_token(&p, tok, sizeof(tok)) <= 0 || !parse_uint(tok, UINT32_MAX, &v))
        return fail(P, "a=ssrc: expected '<ssrc> <attribute>[:<value>]'");
    p = skip_ws(p);
    char value[2 * PAL_SDP_TOKEN_LEN + 8];
    bool cname = !strncmp(p, "cname:", 6), msid = !strncmp(p, "msid:", 5);
    if (!cname && !msid) /* mslabel, label, ...: legacy, dropped */
        return 0;
    if (rest_trimmed(p + (cname ? 6 : 5), value, sizeof(value)) < 0)
        return fail(P, "a=ssrc: value too long");
    if (!value[0])
        return 0;
    struct pal_sdp_ssrc *s = NULL;
    for (unsigned i = 0; i < m->n_ssrcs; i++)
        if (m->ssrcs[i].ssrc == v)
            s = &m->ssrcs[i];
    if (!s) {
        if (m->n_ssrcs == PAL_SDP_MAX_SSRCS)
            return fail(P, "a=ssrc: too many SSRCs (max %d)", PAL_SDP_MAX_SSRCS);
        s = &m->ssrcs[m->n_ssrcs++];
        memset(s, 0, sizeof(*s));
        s->ssrc = (uint32_t)v;
    }
    if (cname) {
        const char *q = value;
        if (next_token(&q, s->cname, sizeof(s->cname)) < 0 || *skip_ws(q))
            return fail(P, "a=ssrc: cname must be one token of at most %d bytes",
                        PAL_SDP_TOKEN_LEN - 1);
        return 0;
    }
    const char *q = value;
    if (next_token(&q, s->msid_stream, sizeof(s->msid_stream)) < 0 ||
        next_token(&q, s->msid_track, sizeof(s->msid_track)) < 0 || *skip_ws(q))
        return fail(P, "a=ssrc: msid: expected '<stream> [<track>]', each up to %d bytes",
                    PAL_SDP_TOKEN_LEN - 1);
    return 0;
}

static int attr_ssrc_group(struct parser *P, const char *p)
{
    struct pal_sdp_media *m = P->m;
    if (!m)
        return fail(P, "a=ssrc-group: only allowed after an m= line");
    if (m->n_ssrc_groups == PAL_SDP_MAX_SSRC_GROUPS)
        return fail(P, "a=ssrc-group: too many groups (max %d)", PAL_SDP_MAX_SSRC_GROUPS);
    struct pal_sdp_ssrc_group *g = &m->ssrc_groups[m->n_ssrc_groups];
    memset(g, 0, sizeof(*g));
    if (next_token(&p, g->semantics, sizeof(g->semantics)) <= 0)
        return fail(P, "a=ssrc-group: expected '<semantics> <ssrc> ...'");
    char tok[16];
    uint64_t v;
    for (;;) {
        int n = next_token(&p, tok, sizeof(tok));
        if (n == 0)
            break;
        if (n < 0 || !parse_uint(tok, UINT32_MAX, &v))
            return fail(P, "a=ssrc-group: SSRC must be a number below 2^32");
        if (g->n_ssrcs == PAL_SDP_MAX_GROUP_SSRCS)
            return fail(P, "a=ssrc-group: too many SSRCs (max %d)", PAL_SDP_MAX_GROUP_SSRCS);
        g->ssrcs[g->n_ssrcs++] = (uint32_t)v;
    }
    m->n_ssrc_groups++;
    return 0;
}

/* One token exactly, into dst. */
static int one_token(struct parser *P, const char *attr, const char *p, char *dst, size_t cap)
{
    int n = next_token(&p, dst, cap);
    if (n < 0)
        return fail(P, "a=%s: value longer than %zu bytes", attr, cap - 1);
    if (n == 0 || *skip_ws(p))
        return fail(P, "a=%s: expected one value", attr);
    return 0;
}

static struct pal_sdp_transport *cur_transport(struct parser *P)
{
    return P->m ? &P->m->transport : &P->d->transport;
}

static int attr_candidate(struct parser *P, const char *p)
{
    struct pal_sdp_media *m = P->m;
    if (!m)
        return fail(P, "a=candidate: only allowed after an m= line");
    if (m->n_candidates == PAL_SDP_MAX_CANDIDATES)
        return fail(P, "a=candidate: too many candidates (max %d)", PAL_SDP_MAX_CANDIDATES);
    const char *why = candidate_value(p, &m->candidates[m->n_candidates]);
    if (why)
        return fail(P, "a=candidate: %s", why);
    m->n_candidates++;
    return 0;
}

static int attr_raw(struct parser *P, const char *attr, const char *p, char *dst, size_t cap)
{
    if (rest_trimmed(p, dst, cap) < 0)
        return fail(P, "a=%s: value longer than %zu bytes", attr, cap - 1);
    return 0;
}

static int attr_group(struct parser *P, const char *p)
{
    struct pal_session_desc *d = P->d;
    char sem[16];
    if (next_token(&p, sem, sizeof(sem)) <= 0)
        return fail(P, "a=group: expected '<semantics> <mid> ...'");
    if (strcmp(sem, "BUNDLE") || d->has_bundle) /* LS, FID, a second BUNDLE: dropped */
        return 0;
    d->has_bundle = true;
    for (;;) {
        if (d->n_bundle_mids == PAL_SDP_MAX_MEDIA && *skip_ws(p))
            return fail(P, "a=group: too many mids (max %d)", PAL_SDP_MAX_MEDIA);
        int n = next_token(&p, d->bundle_mids[d->n_bundle_mids], PAL_SDP_MID_LEN);
        if (n == 0)
            break;
        if (n < 0)
            return fail(P, "a=group: mid longer than %d bytes", PAL_SDP_MID_LEN - 1);
        d->n_bundle_mids++;
    }
    return 0;
}

static int attr_msid_semantic(struct parser *P, const char *p)
{
    struct pal_session_desc *d = P->d;
    if (next_token(&p, d->msid_semantic, sizeof(d->msid_semantic)) <= 0)
        return fail(P, "a=msid-semantic: expected '<semantic> [<id> ...]'");
    return attr_raw(P, "msid-semantic", p, d->msid_semantic_ids, sizeof(d->msid_semantic_ids));
}

static int attr_msid(struct parser *P, const char *p)
{
    struct pal_sdp_media *m = P->m;
    if (!m)
        return fail(P, "a=msid: only allowed after an m= line");
    if (m->msid_stream[0]) /* further streams: only the first is kept */
        return 0;
    if (next_token(&p, m->msid_stream, sizeof(m->msid_stream)) <= 0 ||
        next_token(&p, m->msid_track, sizeof(m->msid_track)) < 0 || *skip_ws(p)) {
        m->msid_stream[0] = m->msid_track[0] = 0;
        return fail(P, "a=msid: expected '<stream> [<track>]', each up to %d bytes",
                    PAL_SDP_TOKEN_LEN - 1);
    }
    return 0;
}

static int attr_number(struct parser *P, const char *attr, const char *p, uint64_t max,
                       uint64_t *out)
{
    char tok[24];
    if (next_token(&p, tok, sizeof(tok)) <= 0 || *skip_ws(p) || !parse_uint(tok, max, out))
        return fail(P, "a=%s: expected a number 0..%" PRIu64, attr, max);
    return 0;
}

static int attr_other(struct parser *P, const char *line)
{
    struct pal_sdp_media *m = P->m;
    char raw[PAL_SDP_EXT_LEN];
    if (!m || m->n_other_attrs == PAL_SDP_MAX_OTHER_ATTRS ||
        rest_trimmed(line, raw, sizeof(raw)) < 0)
        return 0; /* dropped, see session_desc.h */
    strcpy(m->other_attrs[m->n_other_attrs++], raw);
    return 0;
}

/* a=<name>[:<value>] */
static int parse_attribute(struct parser *P, const char *a)
{
    struct pal_sdp_media *m = P->m;
    char name[40];
    size_t n = strcspn(a, ":");
    if (n == 0 || is_ws(a[0]))
        return fail(P, "a=: expected '<name>[:<value>]' right after 'a='");
    if (n >= sizeof(name) || memchr(a, ' ', n) || memchr(a, '\t', n))
        return attr_other(P, a);
    memcpy(name, a, n);
    name[n] = 0;
    const char *v = a[n] == ':' ? a + n + 1 : "";
    struct pal_sdp_transport *t = cur_transport(P);
    uint64_t num;
    int rc;

    if (!strcmp(name, "rtpmap"))
        return attr_rtpmap(P, v);
    if (!strcmp(name, "fmtp"))
        return attr_fmtp(P, v);
    if (!strcmp(name, "rtcp-fb"))
        return attr_rtcp_fb(P, v);
    if (!strcmp(name, "extmap"))
        return attr_extmap(P, v);
    if (!strcmp(name, "ssrc"))
        return attr_ssrc(P, v);
    if (!strcmp(name, "ssrc-group"))
        return attr_ssrc_group(P, v);
    if (!strcmp(name, "candidate"))
        return attr_candidate(P, v);
    if (!strcmp(name, "msid"))
        return attr_msid(P, v);
    if (!strcmp(name, "group"))
        return m ? fail(P, "a=group: only allowed before the first m= line") : attr_group(P, v);
    if (!strcmp(name, "msid-semantic"))
        return m ? 0 : attr_msid_semantic(P, v);
    if (!strcmp(name, "ice-ufrag"))
        return one_token(P, name, v, t->ice_ufrag, sizeof(t->ice_ufrag));
    if (!strcmp(name, "ice-pwd"))
        return one_token(P, name, v, t->ice_pwd, sizeof(t->ice_pwd));
    if (!strcmp(name, "ice-options")) {
        if ((rc = attr_raw(P, name, v, t->ice_options, sizeof(t->ice_options))))
            return rc;
        const char *q = t->ice_options;
        char opt[PAL_SDP_TOKEN_LEN];
        t->ice_trickle = false;
        while (next_token(&q, opt, sizeof(opt)) > 0)
            if (!strcmp(opt, "trickle"))
                t->ice_trickle = true;
        return 0;
    }
    if (!strcmp(name, "fingerprint")) {
        if (pal_sdp_fingerprint_parse(v, &t->fingerprint))
            return fail(P, "a=fingerprint: expected '<algorithm> <hex>:<hex>:...' (up to %d bytes)",
                        PAL_SDP_MAX_FINGERPRINT);
        return 0;
    }
    if (!strcmp(name, "setup")) {
        static const char *const setups[] = {"", "actpass", "active", "passive", "holdconn"};
        char tok[16];
        if ((rc = one_token(P, name, v, tok, sizeof(tok))))
            return rc;
        for (unsigned i = 1; i < PAL_ARRAY_LEN(setups); i++)
            if (!strcmp(tok, setups[i])) {
                t->setup = (enum pal_sdp_setup)i;
                return 0;
            }
        return fail(P, "a=setup: expected actpass, active, passive or holdconn");
    }
    if (!strcmp(name, "ice-lite")) {
        P->d->ice_lite = true;
        return 0;
    }
    if (!strcmp(name, "extmap-allow-mixed")) {
        if (m)
            m->extmap_allow_mixed = true;
        else
            P->d->extmap_allow_mixed = true;
        return 0;
    }
    if (!strcmp(name, "end-of-candidates")) {
        if (m)
            m->end_of_candidates = true;
        else
            P->d->end_of_candidates = true;
        return 0;
    }
    if (!m) /* other session-level attributes: dropped */
        return 0;
    for (unsigned i = 0; i < PAL_ARRAY_LEN(dir_names); i++)
        if (!strcmp(name, dir_names[i])) {
            m->direction = (enum pal_sdp_direction)i;
            return 0;
        }
    if (!strcmp(name, "mid"))
        return one_token(P, name, v, m->mid, sizeof(m->mid));
    if (!strcmp(name, "rtcp-mux")) {
        m->rtcp_mux = true;
        return 0;
    }
    if (!strcmp(name, "rtcp-rsize")) {
        m->rtcp_rsize = true;
        return 0;
    }
    if (!strcmp(name, "bundle-only")) {
        m->bundle_only = true;
        return 0;
    }
    if (!strcmp(name, "rid")) {
        if (m->n_rids == PAL_SDP_MAX_RIDS)
            return fail(P, "a=rid: too many (max %d)", PAL_SDP_MAX_RIDS);
        if ((rc = attr_raw(P, name, v, m->rids[m->n_rids], sizeof(m->rids[0]))))
            return rc;
        if (!m->rids[m->n_rids][0])
            return fail(P, "a=rid: expected '<id> <direction> [<restrictions>]'");
        m->n_rids++;
        return 0;
    }
    if (!strcmp(name, "simulcast"))
        return attr_raw(P, name, v, m->simulcast, sizeof(m->simulcast));
    if (!strcmp(name, "sctp-port")) {
        if ((rc = attr_number(P, name, v, 65535, &num)))
            return rc;
        m->sctp_port = (uint16_t)num;
        return 0;
    }
    if (!strcmp(name, "max-message-size")) {
        if ((rc = attr_number(P, name, v, UINT32_MAX, &num)))
            return rc;
        m->max_message_size = (uint32_t)num;
        return 0;
    }
    return attr_other(P, a);
}

/* After the last line: cross-line checks and computed fields. */
static int finish(struct parser *P)
{
    struct pal_session_desc *d = P->d;
    P->line = 0;
    if (!P->seen_o)
        return fail(P, "missing o= line");
    if (!P->seen_s)
        return fail(P, "missing s= line");
    for (unsigned i = 0; i < d->n_media; i++) {
        struct pal_sdp_media *m = &d->media[i];
        if (m->mid[0])
            for (unsigned j = 0; j < i; j++)
                if (!strcmp(d->media[j].mid, m->mid))
                    return fail(P, "m-line %u: mid '%s' already used by m-line %u", i, m->mid, j);
        for (unsigned k = 0; k < m->n_codecs; k++) {
            struct pal_sdp_codec *rtx = &m->codecs[k];
            if (rtx->apt < 0 || strcasecmp(rtx->name, "rtx"))
                continue;
            struct pal_sdp_codec *primary = find_pt(m, (unsigned)rtx->apt);
            if (primary && primary->rtx_pt < 0)
                primary->rtx_pt = rtx->pt;
        }
    }
    return 0;
}

/* Zeroes the session fields; m-lines are zeroed one by one as they are
 * added, since zeroing all PAL_SDP_MAX_MEDIA of them (7 MB) would cost
 * most of a parse (docs/benchmarks.md). */
static void desc_clear(struct pal_session_desc *d)
{
    memset(d, 0, offsetof(struct pal_session_desc, media));
}

int pal_sdp_parse(const char *text, size_t len, struct pal_session_desc *out,
                  struct pal_sdp_error *err)
{
    struct parser P = {.d = out, .err = err};
    desc_clear(out);
    if (err) {
        err->line = 0;
        err->message[0] = 0;
    }
    char line[PAL_SDP_MAX_LINE + 1];
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        P.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        if (n && text[pos + n - 1] == '\r')
            n--;
        if (n > PAL_SDP_MAX_LINE) {
            rc = fail(&P, "line longer than %d bytes", PAL_SDP_MAX_LINE);
            goto out;
        }
        memcpy(line, text + pos, n);
        line[n] = 0;
        pos = nl ? end + 1 : len;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)line[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                rc = fail(&P, "control character 0x%02x at column %zu", c, i + 1);
                goto out;
            }
        }
        if (n == 0) {
            if (P.line == 1) {
                rc = fail(&P, "expected 'v=0'");
                goto out;
            }
            continue; /* blank lines (a trailing one is common) */
        }
        if (n < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
            rc = fail(&P, "expected '<letter>=<value>'");
            goto out;
        }
        const char *v = line + 2;
        if (P.line == 1 && strcmp(line, "v=0")) {
            rc = fail(&P, "expected 'v=0'");
            goto out;
        }
        switch (line[0]) {
        case 'v':
            if (P.line != 1)
                rc = fail(&P, "v= only allowed on the first line");
            break;
        case 'o':
            rc = P.m || P.seen_o ? fail(&P, "o= only allowed once, before m= lines")
                                 : parse_origin(&P, v);
            break;
        case 's':
            if (P.m || P.seen_s)
                rc = fail(&P, "s= only allowed once, before m= lines");
            else if (!*v)
                rc = fail(&P, "s=: empty session name (use '-')");
            else if (!copy_str(out->session_name, sizeof(out->session_name), v))
                rc = fail(&P, "s=: longer than %d bytes", PAL_SDP_TOKEN_LEN - 1);
            else
                P.seen_s = true;
            break;
        case 'c':
            rc = parse_connection(&P, v);
            break;
        case 'm':
            rc = parse_media(&P, v);
            break;
        case 'a':
            /* Trailing blanks mean nothing; trimmed here so that an unknown
             * attribute kept raw reads back as the same attribute. */
            while (n > 2 && is_ws(line[n - 1]))
                line[--n] = 0;
            rc = parse_attribute(&P, v);
            break;
        default: /* t= b= i= u= e= p= z= k= r=: not needed */
            break;
        }
        if (rc)
            goto out;
    }
    if (P.line == 0) {
        P.line = 1;
        rc = fail(&P, "expected 'v=0'");
        goto out;
    }
    rc = finish(&P);
out:
    if (rc)
        desc_clear(out);
    return rc;
}

/* ---- writer -------------------------------------------------------------------- */

struct writer {
    char *buf;
    size_t cap, len;
    struct pal_sdp_error *err;
    int bad; /* -EINVAL once a field cannot be written */
};

__attribute__((format(printf, 2, 3))) static void put(struct writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = w->len < w->cap ? w->cap - w->len : 0;
    int n = vsnprintf(room ? w->buf + w->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n;
}

/* A field that is written as one token: non-empty when required, no
 * whitespace or control characters. */
static bool tok_ok(const char *s, bool required)
{
    if (!*s)
        return !required;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Text written as is: no control characters except tab. */
static bool text_ok(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return false;
    return true;
}

/* Raw text written after a single space: no control characters except tab, no
 * leading or trailing whitespace (the parser trims them). */
static bool raw_ok(const char *s)
{
    size_t n = strlen(s);
    return !(n && (is_ws(s[0]) || is_ws(s[n - 1]))) && text_ok(s);
}

static void check(struct writer *w, bool ok, const char *what, int media)
{
    if (ok || w->bad)
        return;
    w->bad = -EINVAL;
    if (media >= 0)
        error_set(w->err, 0, "m-line %d: %s cannot be written", media, what);
    else
        error_set(w->err, 0, "%s cannot be written", what);
}

static void write_transport(struct writer *w, const struct pal_sdp_transport *t, int mi)
{
    check(w, tok_ok(t->ice_ufrag, false) && tok_ok(t->ice_pwd, false), "ICE credentials", mi);
    check(w, raw_ok(t->ice_options), "ice-options", mi);
    if (t->ice_ufrag[0])
        put(w, "a=ice-ufrag:%s\r\n", t->ice_ufrag);
    if (t->ice_pwd[0])
        put(w, "a=ice-pwd:%s\r\n", t->ice_pwd);
    if (t->ice_options[0])
        put(w, "a=ice-options:%s\r\n", t->ice_options);
    else if (t->ice_trickle)
        put(w, "a=ice-options:trickle\r\n");
    if (t->fingerprint.algorithm[0]) {
        char hex[3 * PAL_SDP_MAX_FINGERPRINT + 1];
        check(w, tok_ok(t->fingerprint.algorithm, true) && t->fingerprint.len > 0 &&
                     t->fingerprint.len <= PAL_SDP_MAX_FINGERPRINT,
              "fingerprint", mi);
        if (!w->bad && pal_sdp_fingerprint_format(&t->fingerprint, hex, sizeof(hex)) > 0)
            put(w, "a=fingerprint:%s %s\r\n", t->fingerprint.algorithm, hex);
    }
    static const char *const setups[] = {"", "actpass", "active", "passive", "holdconn"};
    check(w, (unsigned)t->setup < PAL_ARRAY_LEN(setups), "setup", mi);
    if (t->setup != PAL_SDP_SETUP_NONE && (unsigned)t->setup < PAL_ARRAY_LEN(setups))
        put(w, "a=setup:%s\r\n", setups[t->setup]);
}

int pal_sdp_candidate_write(const struct pal_sdp_candidate *c, char *buf, size_t cap)
{
    if ((unsigned)c->type >= PAL_ARRAY_LEN(cand_types) ||
        (unsigned)c->tcptype >= PAL_ARRAY_LEN(tcptypes) || !tok_ok(c->foundation, true) ||
        !tok_ok(c->address, true) || !tok_ok(c->raddr, false) || !raw_ok(c->extensions) ||
        c->component == 0 || c->component > 256)
        return -EINVAL;
    struct writer w = {.buf = buf, .cap = cap};
    put(&w, "candidate:%s %u %s %" PRIu32 " %s %u typ %s", c->foundation, c->component,
        c->transport == PAL_SDP_CAND_TCP ? "tcp" : "udp", c->priority, c->address, c->port,
        cand_types[c->type]);
    if (c->raddr[0])
        put(&w, " raddr %s rport %u", c->raddr, c->rport);
    if (c->tcptype != PAL_SDP_TCPTYPE_NONE)
        put(&w, " tcptype %s", tcptypes[c->tcptype]);
    if (c->extensions[0])
        put(&w, " %s", c->extensions);
    if (w.len >= cap)
        return -ENOSPC;
    return (int)w.len;
}

static void write_codec(struct writer *w, const struct pal_sdp_codec *c, int mi)
{
    if (c->name[0]) {
        check(w, tok_ok(c->name, true) && !strchr(c->name, '/'), "codec name", mi);
        put(w, "a=rtpmap:%u %s/%" PRIu32, c->pt, c->name, c->clock_rate);
        if (c->channels)
            put(w, "/%u", c->channels);
        put(w, "\r\n");
    }
    for (unsigned i = 0; i < PAL_ARRAY_LEN(fb_names); i++)
        if (c->fb & fb_names[i].bit)
            put(w, "a=rtcp-fb:%u %s\r\n", c->pt, fb_names[i].text);
    for (unsigned i = 0; i < c->n_fb_other && i < PAL_SDP_MAX_FB_OTHER; i++) {
        check(w, tok_ok(c->fb_other[i], true) || (raw_ok(c->fb_other[i]) && c->fb_other[i][0]),
              "rtcp-fb", mi);
        put(w, "a=rtcp-fb:%u %s\r\n", c->pt, c->fb_other[i]);
    }
    if (c->fmtp[0]) {
        check(w, raw_ok(c->fmtp), "fmtp", mi);
        put(w, "a=fmtp:%u %s\r\n", c->pt, c->fmtp);
    }
}

static void write_media(struct writer *w, const struct pal_sdp_media *m, int mi)
{
    bool rtp = strstr(m->proto, "RTP/") != NULL;
    check(w, tok_ok(m->media_name, true) && tok_ok(m->proto, true), "m= line", mi);
    check(w, rtp ? m->n_codecs > 0 && m->n_codecs <= PAL_SDP_MAX_CODECS
                 : raw_ok(m->fmt_raw) && m->fmt_raw[0],
          "format list", mi);
    if (w->bad)
        return;
    put(w, "m=%s %u %s", m->media_name, m->port, m->proto);
    if (rtp)
        for (unsigned i = 0; i < m->n_codecs; i++) {
            check(w, m->codecs[i].pt <= 127, "payload type", mi);
            put(w, " %u", m->codecs[i].pt);
        }
    else
        put(w, " %s", m->fmt_raw);
    put(w, "\r\n");
    if (m->conn_addr[0]) {
        check(w, tok_ok(m->conn_addr, true), "c= address", mi);
        put(w, "c=IN %s %s\r\n", m->conn_ip6 ? "IP6" : "IP4", m->conn_addr);
    }
    for (unsigned i = 0; i < m->n_candidates && i < PAL_SDP_MAX_CANDIDATES; i++) {
        char cand[PAL_SDP_MAX_LINE];
        int n = pal_sdp_candidate_write(&m->candidates[i], cand, sizeof(cand));
        check(w, n > 0, "candidate", mi);
        if (n > 0)
            put(w, "a=%s\r\n", cand);
    }
    write_transport(w, &m->transport, mi);
    if (m->mid[0]) {
        check(w, tok_ok(m->mid, true), "mid", mi);
        put(w, "a=mid:%s\r\n", m->mid);
    }
    for (unsigned i = 0; i < m->n_extmaps && i < PAL_SDP_MAX_EXTMAPS; i++) {
        const struct pal_sdp_extmap *e = &m->extmaps[i];
        check(w, e->id > 0 && tok_ok(e->uri, true) && raw_ok(e->attributes) &&
                     (unsigned)e->direction < PAL_ARRAY_LEN(dir_names),
              "extmap", mi);
        if (w->bad)
            return;
        put(w, "a=extmap:%u", e->id);
        if (e->has_direction)
            put(w, "/%s", dir_names[e->direction]);
        put(w, " %s%s%s\r\n", e->uri, e->attributes[0] ? " " : "", e->attributes);
    }
    check(w, (unsigned)m->direction < PAL_ARRAY_LEN(dir_names), "direction", mi);
    if (w->bad)
        return;
    put(w, "a=%s\r\n", dir_names[m->direction]);
    if (m->msid_stream[0]) {
        check(w, tok_ok(m->msid_stream, true) && tok_ok(m->msid_track, false), "msid", mi);
        put(w, "a=msid:%s%s%s\r\n", m->msid_stream, m->msid_track[0] ? " " : "", m->msid_track);
    }
    if (m->rtcp_mux)
        put(w, "a=rtcp-mux\r\n");
    if (m->rtcp_rsize)
        put(w, "a=rtcp-rsize\r\n");
    if (m->bundle_only)
        put(w, "a=bundle-only\r\n");
    if (m->extmap_allow_mixed)
        put(w, "a=extmap-allow-mixed\r\n");
    if (rtp)
        for (unsigned i = 0; i < m->n_codecs; i++)
            write_codec(w, &m->codecs[i], mi);
    for (unsigned i = 0; i < m->n_rids && i < PAL_SDP_MAX_RIDS; i++) {
        check(w, raw_ok(m->rids[i]) && m->rids[i][0], "rid", mi);
        put(w, "a=rid:%s\r\n", m->rids[i]);
    }
    if (m->simulcast[0]) {
        check(w, raw_ok(m->simulcast), "simulcast", mi);
        put(w, "a=simulcast:%s\r\n", m->simulcast);
    }
    for (unsigned i = 0; i < m->n_ssrc_groups && i < PAL_SDP_MAX_SSRC_GROUPS; i++) {
        const struct pal_sdp_ssrc_group *g = &m->ssrc_groups[i];
        check(w, tok_ok(g->semantics, true) && g->n_ssrcs <= PAL_SDP_MAX_GROUP_SSRCS,
              "ssrc-group", mi);
        if (w->bad)
            return;
        put(w, "a=ssrc-group:%s", g->semantics);
        for (unsigned k = 0; k < g->n_ssrcs; k++)
            put(w, " %" PRIu32, g->ssrcs[k]);
        put(w, "\r\n");
    }
    for (unsigned i = 0; i < m->n_ssrcs && i < PAL_SDP_MAX_SSRCS; i++) {
        const struct pal_sdp_ssrc *s = &m->ssrcs[i];
        check(w, tok_ok(s->cname, false) && tok_ok(s->msid_stream, false) &&
                     tok_ok(s->msid_track, false) && (s->cname[0] || s->msid_stream[0]) &&
                     (s->msid_stream[0] || !s->msid_track[0]),
              "ssrc", mi);
        if (s->cname[0])
            put(w, "a=ssrc:%" PRIu32 " cname:%s\r\n", s->ssrc, s->cname);
        if (s->msid_stream[0])
            put(w, "a=ssrc:%" PRIu32 " msid:%s%s%s\r\n", s->ssrc, s->msid_stream,
                s->msid_track[0] ? " " : "", s->msid_track);
    }
    if (m->sctp_port)
        put(w, "a=sctp-port:%u\r\n", m->sctp_port);
    if (m->max_message_size)
        put(w, "a=max-message-size:%" PRIu32 "\r\n", m->max_message_size);
    for (unsigned i = 0; i < m->n_other_attrs && i < PAL_SDP_MAX_OTHER_ATTRS; i++) {
        check(w, raw_ok(m->other_attrs[i]) && m->other_attrs[i][0], "attribute", mi);
        put(w, "a=%s\r\n", m->other_attrs[i]);
    }
    if (m->end_of_candidates)
        put(w, "a=end-of-candidates\r\n");
}

static int write_all(const struct pal_session_desc *d, struct writer *w)
{
    uint64_t id;
    check(w, tok_ok(d->origin_user, true) && tok_ok(d->origin_addr, true) &&
                 parse_uint(d->origin_sess_id, UINT64_MAX, &id),
          "o= line", -1);
    check(w, d->session_name[0] && text_ok(d->session_name), "s= line", -1);
    /* n_media and n_bundle_mids are uint8_t: at most PAL_SDP_MAX_MEDIA (255) */
    _Static_assert(PAL_SDP_MAX_MEDIA == UINT8_MAX, "counts are uint8_t: adjust the checks");
    check(w, tok_ok(d->msid_semantic, false) && raw_ok(d->msid_semantic_ids), "msid-semantic",
          -1);
    if (w->bad)
        return w->bad;
    put(w, "v=0\r\no=%s %s %" PRIu64 " IN %s %s\r\ns=%s\r\nt=0 0\r\n", d->origin_user,
        d->origin_sess_id, d->origin_sess_version, strchr(d->origin_addr, ':') ? "IP6" : "IP4",
        d->origin_addr, d->session_name);
    if (d->ice_lite)
        put(w, "a=ice-lite\r\n");
    write_transport(w, &d->transport, -1);
    if (d->has_bundle) {
        put(w, "a=group:BUNDLE");
        for (unsigned i = 0; i < d->n_bundle_mids; i++) {
            check(w, tok_ok(d->bundle_mids[i], true), "BUNDLE mid", -1);
            put(w, " %s", d->bundle_mids[i]);
        }
        put(w, "\r\n");
    }
    if (d->extmap_allow_mixed)
        put(w, "a=extmap-allow-mixed\r\n");
    if (d->msid_semantic[0])
        put(w, "a=msid-semantic: %s%s%s\r\n", d->msid_semantic, d->msid_semantic_ids[0] ? " " : "",
            d->msid_semantic_ids);
    if (d->end_of_candidates)
        put(w, "a=end-of-candidates\r\n");
    for (unsigned i = 0; i < d->n_media && !w->bad; i++)
        write_media(w, &d->media[i], (int)i);
    if (w->bad)
        return w->bad;
    if (w->len > INT32_MAX)
        return -E2BIG;
    return 0;
}

int pal_sdp_write(const struct pal_session_desc *d, char *buf, size_t cap,
                  struct pal_sdp_error *err)
{
    struct writer w = {.buf = buf, .cap = cap, .err = err};
    int rc = write_all(d, &w);
    if (rc)
        return rc;
    if (w.len >= cap) {
        error_set(err, 0, "write: needed %zu bytes, had %zu", w.len + 1, cap);
        return -ENOSPC;
    }
    return (int)w.len;
}

int pal_sdp_size(const struct pal_session_desc *d)
{
    struct writer w = {0};
    int rc = write_all(d, &w);
    return rc ? rc : (int)w.len;
}

char *pal_sdp_write_alloc(const struct pal_session_desc *d, struct pal_sdp_error *err)
{
    struct writer w = {.err = err};
    if (write_all(d, &w))
        return NULL;
    char *buf = malloc(w.len + 1);
    if (!buf) {
        error_set(err, 0, "write: out of memory");
        return NULL;
    }
    if (pal_sdp_write(d, buf, w.len + 1, err) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- helpers -------------------------------------------------------------- */

static void transport_overlay(struct pal_sdp_transport *out, const struct pal_sdp_transport *t)
{
    if (t->ice_ufrag[0])
        strcpy(out->ice_ufrag, t->ice_ufrag);
    if (t->ice_pwd[0])
        strcpy(out->ice_pwd, t->ice_pwd);
    if (t->ice_options[0] || t->ice_trickle) {
        strcpy(out->ice_options, t->ice_options);
        out->ice_trickle = t->ice_trickle;
    }
    if (t->fingerprint.algorithm[0])
        out->fingerprint = t->fingerprint;
    if (t->setup != PAL_SDP_SETUP_NONE)
        out->setup = t->setup;
}

static bool in_bundle(const struct pal_session_desc *d, const char *mid)
{
    for (unsigned i = 0; i < d->n_bundle_mids; i++)
        if (!strcmp(d->bundle_mids[i], mid))
            return true;
    return false;
}

/* Session level, then (RFC 8843) the BUNDLE group's tagged m-section for a
 * bundled one, then the m-section's own attributes: an answerer may leave the
 * transport attributes out of every bundled m-section but the tagged one. */
void pal_sdp_effective_transport(const struct pal_session_desc *d, int media_index,
                                 struct pal_sdp_transport *out)
{
    *out = d->transport;
    if (media_index < 0 || media_index >= d->n_media)
        return;
    const struct pal_sdp_media *m = &d->media[media_index];
    if (d->has_bundle && d->n_bundle_mids && in_bundle(d, m->mid)) {
        int tagged = pal_sdp_find_mid(d, d->bundle_mids[0]);
        if (tagged >= 0 && tagged != media_index)
            transport_overlay(out, &d->media[tagged].transport);
    }
    transport_overlay(out, &m->transport);
}

bool pal_sdp_equal(const struct pal_session_desc *a, const struct pal_session_desc *b)
{
    return a->n_media == b->n_media &&
           !memcmp(a, b, offsetof(struct pal_session_desc, media)) &&
           !memcmp(a->media, b->media, a->n_media * sizeof(a->media[0]));
}

int pal_sdp_find_mid(const struct pal_session_desc *d, const char *mid)
{
    for (int i = 0; i < d->n_media; i++)
        if (d->media[i].mid[0] && !strcmp(d->media[i].mid, mid))
            return i;
    return -1;
}

const struct pal_sdp_codec *pal_sdp_find_codec(const struct pal_sdp_media *m, const char *name,
                                               uint32_t clock_rate)
{
    for (unsigned i = 0; i < m->n_codecs; i++)
        if (!strcasecmp(m->codecs[i].name, name) &&
            (clock_rate == 0 || m->codecs[i].clock_rate == clock_rate))
            return &m->codecs[i];
    return NULL;
}

uint8_t pal_sdp_find_extmap(const struct pal_sdp_media *m, enum pal_sdp_ext known)
{
    for (unsigned i = 0; i < m->n_extmaps; i++)
        if (m->extmaps[i].known == known && known != PAL_SDP_EXT_OTHER)
            return m->extmaps[i].id;
    return 0;
}
