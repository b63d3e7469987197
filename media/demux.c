/* First-byte demultiplexing (RFC 7983, RFC 5761). See palabre/demux.h. */
#include "palabre/demux.h"

#include "palabre/rtp.h"

enum pal_demux_kind pal_demux_classify(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return PAL_DEMUX_UNKNOWN;
    uint8_t b = buf[0];
    if (b <= 3)
        return len >= 20 ? PAL_DEMUX_STUN : PAL_DEMUX_UNKNOWN;
    if (b >= 16 && b <= 19)
        return PAL_DEMUX_ZRTP;
    if (b >= 20 && b <= 63)
        return len >= 13 ? PAL_DEMUX_DTLS : PAL_DEMUX_UNKNOWN;
    if (b >= 64 && b <= 79)
        return len >= 4 ? PAL_DEMUX_TURN_CHANNEL : PAL_DEMUX_UNKNOWN;
    if (b >= 128 && b <= 191) {
        if (len < 8 || len > PAL_RTP_MAX_PACKET)
            return PAL_DEMUX_UNKNOWN;
        /* The whole second byte: RTP payload types 64..95 with the marker
         * bit set collide, which is why RFC 5761 forbids them with mux. */
        if (buf[1] >= 192 && buf[1] <= 223)
            return PAL_DEMUX_RTCP;
        return len >= PAL_RTP_HEADER_MIN ? PAL_DEMUX_RTP : PAL_DEMUX_UNKNOWN;
    }
    return PAL_DEMUX_UNKNOWN;
}

const char *pal_demux_kind_name(enum pal_demux_kind k)
{
    switch (k) {
    case PAL_DEMUX_STUN:
        return "stun";
    case PAL_DEMUX_ZRTP:
        return "zrtp";
    case PAL_DEMUX_DTLS:
        return "dtls";
    case PAL_DEMUX_TURN_CHANNEL:
        return "turn-channel";
    case PAL_DEMUX_RTP:
        return "rtp";
    case PAL_DEMUX_RTCP:
        return "rtcp";
    default:
        return "unknown";
    }
}
