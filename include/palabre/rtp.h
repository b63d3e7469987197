/* RTP packets (RFC 3550) with header extensions (RFC 8285), parsed in place.
 *
 * pal_rtp_parse() fills a struct pal_rtp_packet whose pointers borrow the
 * caller's buffer: nothing is copied or allocated. The router rewrites
 * each subscriber's header apart (pal_rtp_rewrite_header) and SRTP reads the
 * payload where it was received (pal_srtp_protect_parts): the cipher's
 * output is the only copy. Sequence/timestamp helpers are wrap-safe.
 *
 * Stateless; any thread. */
#ifndef PALABRE_RTP_H
#define PALABRE_RTP_H

#include "palabre/common.h"
#include "palabre/wire.h"

#define PAL_RTP_HEADER_MIN 12
/* Datagrams larger than this are dropped at the receive callback. */
#define PAL_RTP_MAX_PACKET 1500
/* Extensions beyond this count are ignored (still forwarded as bytes). */
#define PAL_RTP_MAX_EXTENSIONS 16
#define PAL_RTP_EXT_ONE_BYTE 0xBEDE
/* Two-byte header profile: 0x100 in the top 12 bits, appbits in the low 4. */
#define PAL_RTP_EXT_TWO_BYTE 0x1000

/* One header extension element: data lives at buf + off, len bytes. */
struct pal_rtp_ext {
    uint8_t id;
    uint8_t len;
    uint16_t off;
};

struct pal_rtp_packet {
    /* borrowed */
    uint8_t *buf; /* the whole packet */
    size_t len;
    /* fixed header fields (host order) */
    uint8_t version;
    bool padding;
    bool extension;
    bool marker;
    uint8_t csrc_count;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    /* layout: [0, header_len) header, then payload, then padding_len bytes */
    uint16_t header_len;  /* == payload offset */
    uint16_t payload_len; /* excludes padding */
    uint8_t padding_len;
    /* extension block (if extension): profile, data offset and length */
    uint16_t ext_profile;
    uint16_t ext_off;
    uint16_t ext_len;
    uint8_t n_ext;
    struct pal_rtp_ext ext[PAL_RTP_MAX_EXTENSIONS];
};

/*
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      0xBEDE (or 0x100x)       |           length (words)      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  ID   |  len  | data ...  (one-byte form; two-byte: ID, len)  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    payload ... | padding | padding count      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Rejects: len < 12, version != 2, CSRCs or extension block past the end,
 * padding count 0 or larger than what follows the header. An empty payload is
 * accepted (payload_len 0): callers decide (padding-only probes exist).
 * Returns 0, -EINVAL (bad input, err filled) */
int pal_rtp_parse(struct pal_rtp_packet *p, uint8_t *buf, size_t len, struct pal_wire_err *err);
/* pal_rtp_parse in two steps, for SRTP: the header (in clear) before
 * decryption, then the rest once decrypted in place (len: the decrypted
 * length; the padding count is only readable then). Until the second step,
 * payload_len is everything after the header. */
int pal_rtp_parse_header(struct pal_rtp_packet *p, uint8_t *buf, size_t len,
                         struct pal_wire_err *err);
int pal_rtp_parse_body(struct pal_rtp_packet *p, size_t len, struct pal_wire_err *err);

/* Extension element by id, or NULL; *len receives its length. */
const uint8_t *pal_rtp_ext_find(const struct pal_rtp_packet *p, uint8_t id, size_t *len);

static inline const uint8_t *pal_rtp_payload(const struct pal_rtp_packet *p)
{
    return p->buf + p->header_len;
}
static inline uint32_t pal_rtp_csrc(const struct pal_rtp_packet *p, unsigned i)
{
    return pal_rd32(p->buf + PAL_RTP_HEADER_MIN + 4 * i);
}

/* Extension id remapping table: map[old_id] = new id, 0 = drop the element
 * (its bytes become RFC 8285 padding, so the packet keeps its size). Ids
 * 1..14 for the one-byte form, 1..255 for the two-byte form (ids above 15
 * in a two-byte packet are kept as they are). */
struct pal_rtp_ext_map {
    uint8_t map[16];
};
/* Identity map: every id kept. */
void pal_rtp_ext_map_identity(struct pal_rtp_ext_map *m);

/* What changes for one consumer. */
struct pal_rtp_rewrite {
    uint32_t ssrc;
    uint16_t seq;
    uint32_t timestamp;
    uint8_t payload_type;
    const struct pal_rtp_ext_map *ext_map; /* NULL: ids unchanged */
};

/* Copies the header of in (in->header_len bytes, extensions included) into
 * out (cap bytes) and applies rw to the copy; *out_len = in->header_len.
 * SRTP then reads the payload from in (pal_srtp_protect_parts): the
 * cipher's output is the only copy of it. Returns 0 or -ENOSPC. */
int pal_rtp_rewrite_header(const struct pal_rtp_packet *in, const struct pal_rtp_rewrite *rw,
                           uint8_t *out, size_t cap, size_t *out_len);

/* Header to build a packet from scratch (mixer, probes). One-byte extensions. */
struct pal_rtp_header {
    bool marker;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    uint8_t n_ext;
    struct {
        uint8_t id; /* 1..14 */
        uint8_t len; /* 1..16 */
        uint8_t data[16];
    } ext[4];
};
/* Bytes pal_rtp_write() will produce for this header and payload length. */
size_t pal_rtp_size(const struct pal_rtp_header *h, size_t payload_len);
/* Writes header + payload into out. Returns 0, -EINVAL (bad ext) or -ENOSPC. */
int pal_rtp_write(const struct pal_rtp_header *h, const uint8_t *payload, size_t payload_len,
                  uint8_t *out, size_t cap, size_t *out_len);

/* Wrap-safe comparisons (RFC 1982 serial arithmetic).
 * pal_seq_diff(a, b): signed distance a - b in [-32768, 32767]. */
static inline int16_t pal_seq_diff(uint16_t a, uint16_t b)
{
    return (int16_t)(uint16_t)(a - b);
}
/* a is newer than b */
static inline bool pal_seq_newer(uint16_t a, uint16_t b)
{
    return a != b && (uint16_t)(a - b) < 0x8000;
}
static inline int32_t pal_ts_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(uint32_t)(a - b);
}
static inline bool pal_ts_newer(uint32_t a, uint32_t b)
{
    return a != b && (uint32_t)(a - b) < 0x80000000u;
}

/* Extends 16-bit sequence numbers to a monotonic 64-bit counter
 * (roc << 16 | seq), tolerating reordering within half the space. */
struct pal_seq_unwrapper {
    int64_t last; /* -1 before the first packet */
};
static inline void pal_seq_unwrapper_init(struct pal_seq_unwrapper *u)
{
    u->last = -1;
}
int64_t pal_seq_unwrap(struct pal_seq_unwrapper *u, uint16_t seq);

#endif
