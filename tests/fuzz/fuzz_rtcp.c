/* RTCP compound walker, every typed accessor, TWCC decoding, and NACK
 * re-encoding of what was parsed. */
#include <stdlib.h>
#include <string.h>

#include "palabre/rtcp.h"
#include "palabre/twcc.h"

static volatile uint32_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * 1500)
        return 0;
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet p;
    struct pal_wire_err err;
    static struct pal_twcc_status st[8192];
    pal_rtcp_iter_init(&it, data, size);
    int rc, guard = 0;
    while ((rc = pal_rtcp_next(&it, &p, &err)) == 1) {
        if (++guard > 1000)
            abort(); /* each packet is >= 4 bytes: the walk must end */
        if (p.raw < data || p.raw + p.raw_len > data + size)
            abort();
        switch (p.kind) {
        case PAL_RTCP_SR:
            for (unsigned i = 0; i < p.sr.n_reports; i++)
                sink += p.sr.reports[i].ssrc;
            break;
        case PAL_RTCP_RR:
            for (unsigned i = 0; i < p.rr.n_reports; i++)
                sink += p.rr.reports[i].jitter;
            break;
        case PAL_RTCP_BYE:
            for (unsigned i = 0; i < p.bye.n_ssrc; i++)
                sink += pal_rd32(p.bye.ssrcs + 4 * i);
            for (unsigned i = 0; i < p.bye.reason_len; i++)
                sink += p.bye.reason[i];
            break;
        case PAL_RTCP_NACK: {
            uint16_t seqs[4096];
            size_t n = pal_rtcp_nack_seqs(&p, seqs, 4096);
            uint8_t out[1500];
            size_t len;
            if (n && n <= 200 && pal_rtcp_write_nack(out, sizeof(out), &len, 1, 2, seqs, n) == 0) {
                struct pal_rtcp_packet q;
                size_t used;
                if (pal_rtcp_parse(out, len, &q, &used, NULL) || q.kind != PAL_RTCP_NACK)
                    abort();
            }
            break;
        }
        case PAL_RTCP_FIR:
            for (size_t i = 0; i < pal_rtcp_fir_count(&p); i++) {
                uint32_t s;
                uint8_t sn;
                pal_rtcp_fir_entry(&p, i, &s, &sn);
                sink += s + sn;
            }
            break;
        case PAL_RTCP_REMB:
            for (unsigned i = 0; i < p.fb.u.remb.n_ssrcs; i++)
                sink += pal_rd32(p.fb.u.remb.ssrcs + 4 * i);
            break;
        case PAL_RTCP_TWCC:
            pal_twcc_feedback_decode(&p, st, 8192, &err);
            break;
        case PAL_RTCP_APP:
            for (size_t i = 0; i < p.app.data_len; i++)
                sink += p.app.data[i];
            break;
        default:
            break;
        }
    }
    return 0;
}
