/* RTCP (RFC 3550, 4585, 5104, 8888-era feedback), parsed in place.
 *
 * A compound datagram is walked with pal_rtcp_next(): each call fills one
 * struct pal_rtcp_packet whose pointers borrow the datagram. Every type is
 * bounds-checked; a packet of a known type with an unknown FMT, or an unknown
 * type with a valid header, is returned as PAL_RTCP_RAW (kept, not rejected).
 * Any length inconsistency stops the walk with -EINVAL and an error text
 * "needed N, had M": drop the whole datagram (never forward unparsed RTCP).
 *
 * Builders follow the parse / size / write pattern and write into a caller
 * buffer; several may be written back to back to form a compound packet.
 * Stateless; any thread. */
#ifndef PALABRE_RTCP_H
#define PALABRE_RTCP_H

#include "palabre/common.h"
#include "palabre/wire.h"

enum {
    PAL_RTCP_PT_SR = 200,
    PAL_RTCP_PT_RR = 201,
    PAL_RTCP_PT_SDES = 202,
    PAL_RTCP_PT_BYE = 203,
    PAL_RTCP_PT_APP = 204,
    PAL_RTCP_PT_RTPFB = 205,
    PAL_RTCP_PT_PSFB = 206,
    PAL_RTCP_PT_XR = 207,
};
enum {
    PAL_RTCP_FMT_NACK = 1,  /* RTPFB */
    PAL_RTCP_FMT_TWCC = 15, /* RTPFB, draft-holmer-rmcat-transport-wide-cc */
    PAL_RTCP_FMT_PLI = 1,   /* PSFB */
    PAL_RTCP_FMT_FIR = 4,   /* PSFB */
    PAL_RTCP_FMT_AFB = 15,  /* PSFB, REMB when the FCI starts with "REMB" */
};

enum pal_rtcp_kind {
    PAL_RTCP_RAW = 0, /* valid header, content not interpreted (raw/raw_len) */
    PAL_RTCP_SR,
    PAL_RTCP_RR,
    PAL_RTCP_SDES, /* kept raw: chunks are only bounds-checked */
    PAL_RTCP_BYE,
    PAL_RTCP_APP,
    PAL_RTCP_NACK,
    PAL_RTCP_TWCC,
    PAL_RTCP_PLI,
    PAL_RTCP_FIR,
    PAL_RTCP_REMB,
    PAL_RTCP_XR, /* kept raw */
};

#define PAL_RTCP_MAX_REPORTS 31

struct pal_rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed */
    uint32_t highest_seq;    /* extended highest sequence number received */
    uint32_t jitter;
    uint32_t lsr; /* middle 32 bits of the last SR's NTP time */
    uint32_t dlsr; /* 1/65536 s */
};

struct pal_rtcp_packet {
    enum pal_rtcp_kind kind;
    uint8_t pt;
    uint8_t count; /* RC / SC / FMT field */
    /* borrowed: the whole packet (header included), padding included */
    const uint8_t *raw;
    size_t raw_len;
    union {
        struct {
            uint32_t ssrc;
            uint64_t ntp; /* 32.32 fixed point */
            uint32_t rtp_ts;
            uint32_t packet_count;
            uint32_t octet_count;
            uint8_t n_reports;
            struct pal_rtcp_report_block reports[PAL_RTCP_MAX_REPORTS];
        } sr;
        struct {
            uint32_t ssrc;
            uint8_t n_reports;
            struct pal_rtcp_report_block reports[PAL_RTCP_MAX_REPORTS];
        } rr;
        struct {
            uint8_t n_chunks;
            const uint8_t *chunks; /* chunk data after the header */
            size_t chunks_len;
        } sdes;
        struct {
            uint8_t n_ssrc;
            const uint8_t *ssrcs; /* n_ssrc big-endian words: pal_rd32(ssrcs + 4*i) */
            const uint8_t *reason; /* not NUL-terminated; NULL if absent */
            uint8_t reason_len;
        } bye;
        struct {
            uint8_t subtype;
            uint32_t ssrc;
            char name[4];
            const uint8_t *data;
            size_t data_len;
        } app;
        /* All RTPFB/PSFB kinds (NACK, TWCC, PLI, FIR, REMB, raw feedback). */
        struct {
            uint32_t sender_ssrc;
            uint32_t media_ssrc;
            const uint8_t *fci;
            size_t fci_len;
            /* NACK: fci_len / 4 items (pal_rtcp_nack_item)
             * FIR:  fci_len / 8 entries (pal_rtcp_fir_entry) */
            union {
                struct {
                    uint64_t bitrate; /* bits/s */
                    uint8_t n_ssrcs;
                    const uint8_t *ssrcs; /* pal_rd32(ssrcs + 4*i) */
                } remb;
                struct {
                    uint16_t base_seq;
                    uint16_t status_count;
                    int32_t reference_time; /* 24-bit signed, units of 64 ms */
                    uint8_t fb_pkt_count;
                } twcc;
            } u;
        } fb;
    };
};

/* Compound walker. */
struct pal_rtcp_iter {
    const uint8_t *buf;
    size_t len;
    size_t off;
};
static inline void pal_rtcp_iter_init(struct pal_rtcp_iter *it, const uint8_t *buf, size_t len)
{
    it->buf = buf;
    it->len = len;
    it->off = 0;
}
/* Returns 1 and fills *p, 0 at the end, or -EINVAL (err filled). An empty
 * datagram or one shorter than a header is an error, not an end. */
int pal_rtcp_next(struct pal_rtcp_iter *it, struct pal_rtcp_packet *p, struct pal_wire_err *err);

/* Parses exactly one RTCP packet at the start of buf, *used = its length. */
int pal_rtcp_parse(const uint8_t *buf, size_t len, struct pal_rtcp_packet *p, size_t *used,
                   struct pal_wire_err *err);

/* Walks the whole compound and validates it; returns the packet count or -EINVAL. */
int pal_rtcp_validate(const uint8_t *buf, size_t len, struct pal_wire_err *err);

/* NACK FCI item: PID and bitmask of the 16 following lost packets. */
static inline void pal_rtcp_nack_item(const struct pal_rtcp_packet *p, size_t i, uint16_t *pid,
                                      uint16_t *blp)
{
    *pid = pal_rd16(p->fb.fci + 4 * i);
    *blp = pal_rd16(p->fb.fci + 4 * i + 2);
}
static inline size_t pal_rtcp_nack_count(const struct pal_rtcp_packet *p)
{
    return p->fb.fci_len / 4;
}
/* Expands every NACK item into sequence numbers (up to cap); returns how many
 * were written. */
size_t pal_rtcp_nack_seqs(const struct pal_rtcp_packet *p, uint16_t *out, size_t cap);

static inline size_t pal_rtcp_fir_count(const struct pal_rtcp_packet *p)
{
    return p->fb.fci_len / 8;
}
static inline void pal_rtcp_fir_entry(const struct pal_rtcp_packet *p, size_t i, uint32_t *ssrc,
                                      uint8_t *seq_nr)
{
    *ssrc = pal_rd32(p->fb.fci + 8 * i);
    *seq_nr = p->fb.fci[8 * i + 4];
}

/* ---- Builders: each returns 0, -EINVAL or -ENOSPC; *len = bytes written. */

struct pal_rtcp_sr_info {
    uint32_t ssrc;
    uint64_t ntp;
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
};
size_t pal_rtcp_sr_size(size_t n_reports);
int pal_rtcp_write_sr(uint8_t *out, size_t cap, size_t *len, const struct pal_rtcp_sr_info *sr,
                      const struct pal_rtcp_report_block *reports, size_t n_reports);
size_t pal_rtcp_rr_size(size_t n_reports);
int pal_rtcp_write_rr(uint8_t *out, size_t cap, size_t *len, uint32_t ssrc,
                      const struct pal_rtcp_report_block *reports, size_t n_reports);
/* One SDES chunk with a CNAME item (RFC 3550 6.5). */
size_t pal_rtcp_sdes_cname_size(size_t cname_len);
int pal_rtcp_write_sdes_cname(uint8_t *out, size_t cap, size_t *len, uint32_t ssrc,
                              const char *cname);
int pal_rtcp_write_bye(uint8_t *out, size_t cap, size_t *len, const uint32_t *ssrcs, size_t n);
/* Generic NACK from a list of lost sequence numbers (any order, wrap-safe):
 * packed into PID + BLP items. Size depends on the list: pal_rtcp_nack_size. */
size_t pal_rtcp_nack_size(const uint16_t *seqs, size_t n);
int pal_rtcp_write_nack(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                        uint32_t media_ssrc, const uint16_t *seqs, size_t n);
#define PAL_RTCP_PLI_SIZE 12
int pal_rtcp_write_pli(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                       uint32_t media_ssrc);
#define PAL_RTCP_FIR_SIZE 20
int pal_rtcp_write_fir(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                       uint32_t media_ssrc, uint8_t seq_nr);
size_t pal_rtcp_remb_size(size_t n_ssrcs);
int pal_rtcp_write_remb(uint8_t *out, size_t cap, size_t *len, uint32_t sender_ssrc,
                        uint64_t bitrate, const uint32_t *ssrcs, size_t n_ssrcs);

/* NTP time helpers: 32.32 fixed point from a wall clock in microseconds. */
uint64_t pal_ntp_from_wall_us(int64_t wall_us);
static inline uint32_t pal_ntp_middle(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

#endif
