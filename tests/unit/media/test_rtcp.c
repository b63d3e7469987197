#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/rtcp.h"

static struct pal_rtcp_packet one(const uint8_t *b, size_t len)
{
    struct pal_rtcp_packet p;
    size_t used = 0;
    struct pal_wire_err err = {{0}};
    int rc = pal_rtcp_parse(b, len, &p, &used, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(used, len);
    return p;
}

static void sender_report_round_trip(void **state)
{
    struct pal_rtcp_sr_info sr = {0x11111111, 0x0123456789ABCDEFull, 90000, 10, 12000};
    struct pal_rtcp_report_block rb[2] = {
        {0x22222222, 25, -3, 0x00010005, 17, 0xAABBCCDD, 65536},
        {0x33333333, 0, 0x7FFFFF, 1, 2, 3, 4},
    };
    uint8_t buf[128];
    size_t n;
    assert_int_equal(pal_rtcp_write_sr(buf, 50, &n, &sr, rb, 2), -ENOSPC);
    assert_int_equal(pal_rtcp_write_sr(buf, sizeof(buf), &n, &sr, rb, 2), 0);
    assert_int_equal(n, pal_rtcp_sr_size(2));
    struct pal_rtcp_packet p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_SR);
    assert_int_equal(p.sr.ssrc, 0x11111111);
    assert_true(p.sr.ntp == 0x0123456789ABCDEFull);
    assert_int_equal(p.sr.rtp_ts, 90000);
    assert_int_equal(p.sr.packet_count, 10);
    assert_int_equal(p.sr.octet_count, 12000);
    assert_int_equal(p.sr.n_reports, 2);
    assert_int_equal(p.sr.reports[0].ssrc, 0x22222222);
    assert_int_equal(p.sr.reports[0].fraction_lost, 25);
    assert_int_equal(p.sr.reports[0].cumulative_lost, -3);
    assert_int_equal(p.sr.reports[0].highest_seq, 0x00010005);
    assert_int_equal(p.sr.reports[0].jitter, 17);
    assert_int_equal(p.sr.reports[0].lsr, 0xAABBCCDD);
    assert_int_equal(p.sr.reports[0].dlsr, 65536);
    assert_int_equal(p.sr.reports[1].cumulative_lost, 0x7FFFFF);
}

static void receiver_report_round_trip(void **state)
{
    struct pal_rtcp_report_block rb = {7, 1, 100000000, 2, 3, 4, 5}; /* lost clamps to 24 bits */
    uint8_t buf[64];
    size_t n;
    assert_int_equal(pal_rtcp_write_rr(buf, sizeof(buf), &n, 9, &rb, 1), 0);
    struct pal_rtcp_packet p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_RR);
    assert_int_equal(p.rr.ssrc, 9);
    assert_int_equal(p.rr.n_reports, 1);
    assert_int_equal(p.rr.reports[0].cumulative_lost, 0x7FFFFF);
    assert_int_equal(pal_rtcp_write_rr(buf, sizeof(buf), &n, 9, NULL, 0), 0);
    assert_int_equal(n, 8);
    p = one(buf, n);
    assert_int_equal(p.rr.n_reports, 0);
}

static void sdes_bye_app_xr(void **state)
{
    uint8_t buf[256];
    size_t n;
    assert_int_equal(pal_rtcp_write_sdes_cname(buf, sizeof(buf), &n, 0xABCD, "palabre-cname"), 0);
    assert_int_equal(n % 4, 0);
    struct pal_rtcp_packet p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_SDES);
    assert_int_equal(p.sdes.n_chunks, 1);
    assert_int_equal(pal_rd32(p.sdes.chunks), 0xABCD);
    assert_int_equal(p.sdes.chunks[4], 1);
    assert_int_equal(p.sdes.chunks[5], 13);

    uint32_t ss[2] = {1, 2};
    assert_int_equal(pal_rtcp_write_bye(buf, sizeof(buf), &n, ss, 2), 0);
    p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_BYE);
    assert_int_equal(p.bye.n_ssrc, 2);
    assert_int_equal(pal_rd32(p.bye.ssrcs + 4), 2);
    assert_null(p.bye.reason);

    const uint8_t bye_reason[] = {0x81, 203, 0, 3, 0, 0, 0, 5, 4, 'g', 'o', 'n', 'e', 0, 0, 0};
    p = one(bye_reason, sizeof(bye_reason));
    assert_int_equal(p.bye.reason_len, 4);
    assert_memory_equal(p.bye.reason, "gone", 4);

    const uint8_t app[] = {0x82, 204, 0, 3, 0, 0, 0, 9, 'P', 'A', 'L', 'A', 1, 2, 3, 4};
    p = one(app, sizeof(app));
    assert_int_equal(p.kind, PAL_RTCP_APP);
    assert_int_equal(p.app.subtype, 2);
    assert_int_equal(p.app.ssrc, 9);
    assert_memory_equal(p.app.name, "PALA", 4);
    assert_int_equal(p.app.data_len, 4);

    const uint8_t xr[] = {0x80, 207, 0, 4, 0, 0, 0, 1, 4, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    p = one(xr, sizeof(xr));
    assert_int_equal(p.kind, PAL_RTCP_XR);
    assert_int_equal(p.raw_len, sizeof(xr));

    /* Unknown type in the RTCP range (195, IJ): kept raw. */
    const uint8_t ij[] = {0x81, 195, 0, 1, 0, 0, 0, 7};
    p = one(ij, sizeof(ij));
    assert_int_equal(p.kind, PAL_RTCP_RAW);
    assert_int_equal(p.pt, 195);
}

static void nack_build_parse_across_wrap(void **state)
{
    const uint16_t lost[] = {65530, 65531, 65535, 0, 3, 9, 40, 41};
    uint8_t buf[128];
    size_t n;
    size_t want = pal_rtcp_nack_size(lost, 8);
    assert_int_equal(want, 12 + 4 * 2); /* PID 65530 covers up to 10; PID 40 */
    assert_int_equal(pal_rtcp_write_nack(buf, want - 1, &n, 1, 2, lost, 8), -ENOSPC);
    assert_int_equal(pal_rtcp_write_nack(buf, sizeof(buf), &n, 1, 2, lost, 8), 0);
    assert_int_equal(n, want);
    struct pal_rtcp_packet p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_NACK);
    assert_int_equal(p.fb.sender_ssrc, 1);
    assert_int_equal(p.fb.media_ssrc, 2);
    assert_int_equal(pal_rtcp_nack_count(&p), 2);
    uint16_t seqs[64];
    size_t k = pal_rtcp_nack_seqs(&p, seqs, 64);
    assert_int_equal(k, 8);
    /* packed with 65530 as PID, so 65531..9 are in its mask, then 40 */
    const uint16_t expect[] = {65530, 65531, 65535, 0, 3, 9, 40, 41};
    for (size_t i = 0; i < 8; i++) {
        bool found = false;
        for (size_t j = 0; j < k; j++)
            found |= seqs[j] == expect[i];
        assert_true(found);
    }
    assert_int_equal(pal_rtcp_write_nack(buf, sizeof(buf), &n, 1, 2, lost, 0), -EINVAL);
}

static void pli_fir_remb(void **state)
{
    uint8_t buf[64];
    size_t n;
    assert_int_equal(pal_rtcp_write_pli(buf, sizeof(buf), &n, 5, 6), 0);
    struct pal_rtcp_packet p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_PLI);
    assert_int_equal(p.fb.sender_ssrc, 5);
    assert_int_equal(p.fb.media_ssrc, 6);

    assert_int_equal(pal_rtcp_write_fir(buf, sizeof(buf), &n, 5, 6, 42), 0);
    p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_FIR);
    assert_int_equal(p.fb.media_ssrc, 0);
    assert_int_equal(pal_rtcp_fir_count(&p), 1);
    uint32_t ssrc;
    uint8_t sn;
    pal_rtcp_fir_entry(&p, 0, &ssrc, &sn);
    assert_int_equal(ssrc, 6);
    assert_int_equal(sn, 42);

    uint32_t ss[2] = {10, 11};
    assert_int_equal(pal_rtcp_write_remb(buf, sizeof(buf), &n, 5, 2500000, ss, 2), 0);
    assert_int_equal(n, pal_rtcp_remb_size(2));
    p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_REMB);
    /* 2.5 Mbit/s is exact in an 18-bit mantissa with exponent 4 */
    assert_int_equal(p.fb.u.remb.bitrate, 2500000);
    assert_int_equal(p.fb.u.remb.n_ssrcs, 2);
    assert_int_equal(pal_rd32(p.fb.u.remb.ssrcs + 4), 11);
    /* A huge exponent saturates rather than overflowing. */
    buf[17] = 0xFF;
    p = one(buf, n);
    assert_true(p.fb.u.remb.bitrate == UINT64_MAX);
    /* PSFB FMT 15 without "REMB": raw. */
    memcpy(buf + 12, "ABCD", 4);
    p = one(buf, n);
    assert_int_equal(p.kind, PAL_RTCP_RAW);
}

static void transport_cc_header(void **state)
{
    const uint8_t tcc[] = {0x8F, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0x01, 0x00, 0x00, 0x02,
                           0xFF, 0xFF, 0xFE, 0x07, 0x20, 0x02, 0x10, 0x20};
    struct pal_rtcp_packet p = one(tcc, sizeof(tcc));
    assert_int_equal(p.kind, PAL_RTCP_TWCC);
    assert_int_equal(p.fb.u.twcc.base_seq, 0x100);
    assert_int_equal(p.fb.u.twcc.status_count, 2);
    assert_int_equal(p.fb.u.twcc.reference_time, -2);
    assert_int_equal(p.fb.u.twcc.fb_pkt_count, 7);
}

static void compound_walk(void **state)
{
    uint8_t buf[256];
    size_t n, off = 0;
    struct pal_rtcp_report_block rb = {1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(pal_rtcp_write_rr(buf, sizeof(buf), &n, 9, &rb, 1), 0);
    off += n;
    assert_int_equal(pal_rtcp_write_sdes_cname(buf + off, sizeof(buf) - off, &n, 9, "x"), 0);
    off += n;
    assert_int_equal(pal_rtcp_write_pli(buf + off, sizeof(buf) - off, &n, 9, 10), 0);
    off += n;
    const uint16_t lost[] = {1, 2};
    assert_int_equal(pal_rtcp_write_nack(buf + off, sizeof(buf) - off, &n, 9, 10, lost, 2), 0);
    off += n;
    assert_int_equal(pal_rtcp_validate(buf, off, NULL), 4);
    struct pal_rtcp_iter it;
    struct pal_rtcp_packet p;
    enum pal_rtcp_kind kinds[4];
    int i = 0;
    pal_rtcp_iter_init(&it, buf, off);
    while (pal_rtcp_next(&it, &p, NULL) == 1)
        kinds[i++] = p.kind;
    assert_int_equal(i, 4);
    assert_int_equal(kinds[0], PAL_RTCP_RR);
    assert_int_equal(kinds[1], PAL_RTCP_SDES);
    assert_int_equal(kinds[2], PAL_RTCP_PLI);
    assert_int_equal(kinds[3], PAL_RTCP_NACK);
    /* A truncated last packet fails the whole datagram. */
    struct pal_wire_err err;
    assert_int_equal(pal_rtcp_validate(buf, off - 2, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "needed 16 bytes, had 14"));
}

static void malformed_are_rejected(void **state)
{
    struct pal_rtcp_packet p;
    struct pal_wire_err err;
    size_t used;
    const uint8_t empty[1] = {0};
    assert_int_equal(pal_rtcp_validate(empty, 0, &err), -EINVAL);
    assert_string_equal(err.msg, "rtcp: empty datagram: needed 4 bytes, had 0");
    const uint8_t short3[] = {0x80, 201, 0};
    assert_int_equal(pal_rtcp_parse(short3, 3, &p, &used, &err), -EINVAL);
    assert_string_equal(err.msg, "rtcp: header: needed 4 bytes, had 3");
    /* version 1 */
    const uint8_t v1[] = {0x40, 201, 0, 1, 0, 0, 0, 1};
    assert_int_equal(pal_rtcp_parse(v1, sizeof(v1), &p, &used, &err), -EINVAL);
    /* length beyond the buffer */
    const uint8_t longlen[] = {0x80, 201, 0, 9, 0, 0, 0, 1};
    assert_int_equal(pal_rtcp_parse(longlen, sizeof(longlen), &p, &used, &err), -EINVAL);
    assert_string_equal(err.msg, "rtcp: packet type 201: needed 40 bytes, had 8");
    /* RR claiming 2 report blocks with room for 0 */
    const uint8_t rr[] = {0x82, 201, 0, 1, 0, 0, 0, 1};
    assert_int_equal(pal_rtcp_parse(rr, sizeof(rr), &p, &used, &err), -EINVAL);
    assert_string_equal(err.msg, "rtcp: RR with 2 reports: needed 56 bytes, had 8");
    /* SR too short for the sender info */
    const uint8_t sr[] = {0x80, 200, 0, 1, 0, 0, 0, 1};
    assert_int_equal(pal_rtcp_parse(sr, sizeof(sr), &p, &used, &err), -EINVAL);
    /* SDES item length beyond the packet (mediasoup #240) */
    const uint8_t sdes[] = {0x81, 202, 0, 2, 0, 0, 0, 1, 1, 200, 'a', 'b'};
    assert_int_equal(pal_rtcp_parse(sdes, sizeof(sdes), &p, &used, &err), -EINVAL);
    assert_string_equal(err.msg, "rtcp: SDES item: needed 210 bytes, had 12");
    /* SDES chunk count beyond the data */
    const uint8_t sdes2[] = {0x83, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(pal_rtcp_parse(sdes2, sizeof(sdes2), &p, &used, &err), -EINVAL);
    /* BYE reason length beyond */
    const uint8_t bye[] = {0x81, 203, 0, 2, 0, 0, 0, 5, 9, 'g', 'o', 0};
    assert_int_equal(pal_rtcp_parse(bye, sizeof(bye), &p, &used, &err), -EINVAL);
    /* NACK without FCI, FIR with a partial entry, REMB with too many SSRCs */
    const uint8_t nack[] = {0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2};
    assert_int_equal(pal_rtcp_parse(nack, sizeof(nack), &p, &used, &err), -EINVAL);
    const uint8_t fir[] = {0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    assert_int_equal(pal_rtcp_parse(fir, sizeof(fir), &p, &used, &err), -EINVAL);
    const uint8_t remb[] = {0x8F, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0,
                            'R',  'E', 'M', 'B', 5, 0, 0, 1};
    assert_int_equal(pal_rtcp_parse(remb, sizeof(remb), &p, &used, &err), -EINVAL);
    assert_string_equal(err.msg, "rtcp: REMB with 5 SSRCs: needed 28 bytes of FCI, had 8");
    /* TWCC without its fixed fields */
    const uint8_t tcc[] = {0x8F, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1};
    assert_int_equal(pal_rtcp_parse(tcc, sizeof(tcc), &p, &used, &err), -EINVAL);
    /* padding count 0 or larger than the packet */
    uint8_t pad[] = {0xA0, 201, 0, 1, 0, 0, 0, 0};
    assert_int_equal(pal_rtcp_parse(pad, sizeof(pad), &p, &used, &err), -EINVAL);
    pad[7] = 8;
    assert_int_equal(pal_rtcp_parse(pad, sizeof(pad), &p, &used, &err), -EINVAL);
    /* not RTCP at all */
    const uint8_t rtp[] = {0x80, 96, 0, 1, 0, 0, 0, 1};
    assert_int_equal(pal_rtcp_parse(rtp, sizeof(rtp), &p, &used, &err), -EINVAL);
    /* length 0 (4-byte packets) cannot loop forever: it advances */
    const uint8_t zeros[] = {0x80, 210, 0, 0, 0x80, 210, 0, 0};
    assert_int_equal(pal_rtcp_validate(zeros, sizeof(zeros), NULL), 2);
}

static void ntp_conversion(void **state)
{
    uint64_t ntp = pal_ntp_from_wall_us(1500000); /* 1970 + 1.5 s */
    assert_int_equal(ntp >> 32, 2208988801u);
    assert_int_equal((uint32_t)ntp, 0x80000000u);
    assert_int_equal(pal_ntp_middle(ntp), (uint32_t)(ntp >> 16));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sender_report_round_trip),
        cmocka_unit_test(receiver_report_round_trip),
        cmocka_unit_test(sdes_bye_app_xr),
        cmocka_unit_test(nack_build_parse_across_wrap),
        cmocka_unit_test(pli_fir_remb),
        cmocka_unit_test(transport_cc_header),
        cmocka_unit_test(compound_walk),
        cmocka_unit_test(malformed_are_rejected),
        cmocka_unit_test(ntp_conversion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
