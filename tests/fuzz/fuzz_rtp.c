/* RTP parser, in-place setters and the per-consumer rewrite. */
#include <stdlib.h>
#include <string.h>

#include "palabre/rtp.h"
#include "palabre/srtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * PAL_RTP_MAX_PACKET)
        return 0;
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct pal_rtp_packet p;
    struct pal_wire_err err;
    if (pal_rtp_parse(&p, buf, size, &err) == 0) {
        if ((size_t)p.header_len + p.payload_len + p.padding_len != size)
            abort();
        size_t l;
        for (int id = 0; id < 256; id++) {
            const uint8_t *e = pal_rtp_ext_find(&p, (uint8_t)id, &l);
            if (e && (e < buf || e + l > buf + size))
                abort();
        }
        /* Rewrite into an output buffer with a remap that drops and renumbers. */
        struct pal_rtp_ext_map map;
        pal_rtp_ext_map_identity(&map);
        map.map[1] = 0;
        map.map[2] = 14;
        map.map[3] = 1;
        struct pal_rtp_rewrite rw = {0x1234, (uint16_t)(p.seq + 1), p.timestamp + 3000, 100,
                                     &map};
        uint8_t out[2 * PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER];
        size_t n;
        if (pal_rtp_rewrite_into(&p, &rw, out, sizeof(out), &n) != 0 || n != size)
            abort();
        struct pal_rtp_packet q;
        if (pal_rtp_parse(&q, out, n, NULL) != 0 || q.ssrc != 0x1234 || q.payload_len != p.payload_len)
            abort();
        /* In place. */
        pal_rtp_set_seq(&p, 1);
        pal_rtp_set_ssrc(&p, 2);
        pal_rtp_set_timestamp(&p, 3);
        pal_rtp_set_payload_type(&p, 200);
        pal_rtp_set_marker(&p, !p.marker);
        pal_rtp_ext_remap(&p, &map);
        if (pal_rtp_parse(&q, buf, size, NULL) != 0)
            abort();
    }
    free(buf);
    return 0;
}
