/* Receive-side state machines driven by arbitrary arrival patterns: the
 * TWCC feedback builder (every packet it builds must parse and decode to
 * the arrivals it was given) and the NACK generator. Input: records of
 * 2-byte sequence number + 2-byte arrival step (in 50 us units). */
#include <stdlib.h>
#include <string.h>

#include "palabre/nack.h"
#include "palabre/rtcp.h"
#include "palabre/twcc.h"

static struct pal_twcc_status st[8192];

static void check_feedback(const uint8_t *buf, size_t len)
{
    struct pal_rtcp_packet p;
    size_t used;
    struct pal_wire_err err;
    if (pal_rtcp_parse(buf, len, &p, &used, &err) || used != len || p.kind != PAL_RTCP_TWCC)
        abort();
    int n = pal_twcc_feedback_decode(&p, st, 8192, &err);
    if (n < 0 || n != p.fb.u.twcc.status_count || n == 0 || !st[0].received)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pal_twcc *t;
    struct pal_nack *nk;
    if (pal_twcc_create(1, 2, &t) || pal_nack_create(NULL, &nk))
        abort();
    int64_t now_us = 1000000;
    uint8_t out[1200];
    uint16_t lost[512];
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint16_t seq = pal_rd16(data + i);
        now_us += 50 * (int64_t)pal_rd16(data + i + 2);
        pal_twcc_on_packet(t, seq, now_us);
        pal_nack_on_packet(nk, seq, now_us / 1000);
        if ((i / 4) % 7 == 6) {
            size_t len;
            while (pal_twcc_build(t, out, (i % 3) ? sizeof(out) : 64, &len) == 0)
                check_feedback(out, len);
            size_t k = pal_nack_collect(nk, now_us / 1000, lost, 512);
            if (k && pal_rtcp_write_nack(out, sizeof(out), &len, 1, 2, lost, k) == 0 &&
                pal_rtcp_validate(out, len, NULL) != 1)
                abort();
        }
    }
    size_t len;
    while (pal_twcc_build(t, out, sizeof(out), &len) == 0)
        check_feedback(out, len);
    pal_twcc_destroy(t);
    pal_nack_destroy(nk);
    return 0;
}
