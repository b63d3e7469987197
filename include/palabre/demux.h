/* Classifies a datagram received on a bundled ICE component by its first
 * byte (RFC 7983 section 7) and, for RTP/RTCP, by the payload type
 * (RFC 5761 section 4: 192..223 is RTCP).
 *
 *                  +----------------+
 *                  |        [0..3] -+--> STUN
 *                  |      [16..19] -+--> ZRTP
 *      packet -->  |      [20..63] -+--> DTLS
 *                  |      [64..79] -+--> TURN channel
 *                  |    [128..191] -+--> RTP / RTCP
 *                  +----------------+
 *
 * Also rejects what is too short to be the class it claims (STUN < 20,
 * DTLS < 13, RTP < 12, RTCP < 8) and anything above PAL_RTP_MAX_PACKET
 * for RTP/RTCP. Stateless; any thread. */
#ifndef PALABRE_DEMUX_H
#define PALABRE_DEMUX_H

#include "palabre/common.h"

enum pal_demux_kind {
    PAL_DEMUX_UNKNOWN = 0, /* drop (count it) */
    PAL_DEMUX_STUN,
    PAL_DEMUX_ZRTP,
    PAL_DEMUX_DTLS,
    PAL_DEMUX_TURN_CHANNEL,
    PAL_DEMUX_RTP,
    PAL_DEMUX_RTCP,
};

enum pal_demux_kind pal_demux_classify(const uint8_t *buf, size_t len);
const char *pal_demux_kind_name(enum pal_demux_kind k);

#endif
