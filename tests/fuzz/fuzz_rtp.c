/* RTP parser, in-place setters and the per-consumer rewrite; SRTP
 * unprotect (both engines) of the raw input, and a protect/unprotect round
 * trip of what parsed. */
#include <stdlib.h>
#include <string.h>

#include "palabre/rtp.h"
#include "palabre/srtp.h"

static struct pal_srtp *srtp[4];

static void free_srtp(void)
{
    for (int i = 0; i < 4; i++)
        pal_srtp_destroy(srtp[i]);
}

static void make_srtp(void)
{
    for (int i = 0; i < 4; i++) {
        struct pal_srtp_keys k;
        memset(&k, 0x42, sizeof(k));
        k.profile = i < 2 ? PAL_SRTP_AEAD_AES_128_GCM : PAL_SRTP_AES128_CM_SHA1_80;
        k.key_len = 16;
        k.salt_len = i < 2 ? 12 : 14;
        if (pal_srtp_create_engine(&k, (enum pal_srtp_engine)(i % 2), &srtp[i]))
            abort();
    }
    atexit(free_srtp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srtp[0])
        make_srtp();
    if (size > 2 * PAL_RTP_MAX_PACKET)
        return 0;
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct pal_rtp_packet p;
    struct pal_wire_err err;
    {
        uint8_t tmp[2 * PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER];
        size_t n;
        for (int i = 0; i < 4; i++) {
            memcpy(tmp, data, size);
            if (pal_srtp_unprotect(srtp[i], tmp, size, &n) == 0 && n > size)
                abort();
        }
        memcpy(tmp, data, size);
        /* What protect accepts, the same keys' unprotect must give back. */
        if (size <= 2 * PAL_RTP_MAX_PACKET && pal_srtp_protect(srtp[0], tmp, size, sizeof(tmp), &n) == 0) {
            size_t back;
            if (pal_srtp_unprotect(srtp[0], tmp, n, &back) == 0 &&
                (back != size || memcmp(tmp, data, size)))
                abort();
        }
    }
    {
        /* The two-step parse (header before SRTP, body after) agrees with
         * the one-step one, also on a shorter body (the SRTP tag removed). */
        struct pal_rtp_packet h;
        int one = pal_rtp_parse(&p, buf, size, NULL);
        int two = pal_rtp_parse_header(&h, buf, size, NULL);
        if (two == 0)
            two = pal_rtp_parse_body(&h, size, NULL);
        if (one != two || (one == 0 && (h.payload_len != p.payload_len ||
                                        h.padding_len != p.padding_len ||
                                        h.header_len != p.header_len)))
            abort();
        if (pal_rtp_parse_header(&h, buf, size, NULL) == 0 && size >= 10 &&
            pal_rtp_parse_body(&h, size - 10, NULL) == 0 &&
            (size_t)h.header_len + h.payload_len + h.padding_len != size - 10)
            abort();
    }
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
        if (pal_rtp_rewrite_header(&p, &rw, out, sizeof(out), &n) != 0 || n != p.header_len)
            abort();
        memcpy(out + n, p.buf + n, size - n);
        n = size;
        struct pal_rtp_packet q;
        if (pal_rtp_parse(&q, out, n, NULL) != 0 || q.ssrc != 0x1234 || q.payload_len != p.payload_len)
            abort();
    }
    free(buf);
    return 0;
}
