#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/twcc.h"

static int decode(const uint8_t *buf, size_t len, struct pal_twcc_status *st, size_t cap,
                  struct pal_rtcp_packet *p)
{
    size_t used;
    struct pal_wire_err err;
    if (pal_rtcp_parse(buf, len, p, &used, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(used, len);
    assert_int_equal(p->kind, PAL_RTCP_TWCC);
    int n = pal_twcc_feedback_decode(p, st, cap, &err);
    if (n < 0)
        fail_msg("%s", err.msg);
    return n;
}

static void feedback_round_trip_with_losses_and_wrap(void **state)
{
    struct pal_twcc *t;
    assert_int_equal(pal_twcc_create(1, 2, &t), 0);
    uint8_t buf[1200];
    size_t len;
    assert_int_equal(pal_twcc_build(t, buf, sizeof(buf), &len), -ENODATA);
    /* 65530 .. 9 except 65533 and 2; 5 ms apart, one late by 100 ms
     * (a large delta), one reordered. */
    int64_t base_us = 1000000;
    uint16_t seqs[32];
    int64_t at[32];
    int n = 0;
    for (uint32_t s = 65530; s < 65536 + 10; s++) {
        uint16_t q = (uint16_t)s;
        if (q == 65533 || q == 2)
            continue;
        seqs[n] = q;
        at[n] = base_us + (int64_t)(s - 65530) * 5000 + (q == 5 ? 100000 : 0);
        n++;
    }
    for (int i = 0; i < n; i++)
        pal_twcc_on_packet(t, seqs[i], at[i]);
    assert_int_equal(pal_twcc_build(t, buf, sizeof(buf), &len), 0);
    assert_int_equal(len % 4, 0);
    struct pal_rtcp_packet p;
    struct pal_twcc_status st[64];
    int k = decode(buf, len, st, 64, &p);
    assert_int_equal(p.fb.sender_ssrc, 1);
    assert_int_equal(p.fb.media_ssrc, 2);
    assert_int_equal(p.fb.u.twcc.base_seq, 65530);
    assert_int_equal(k, 16);
    assert_int_equal(p.fb.u.twcc.fb_pkt_count, 0);
    /* Rebuild absolute times and compare (250 us resolution). */
    int64_t cur = (int64_t)p.fb.u.twcc.reference_time * 64000;
    int j = 0;
    for (int i = 0; i < k; i++) {
        uint16_t q = (uint16_t)(65530 + i);
        assert_int_equal(st[i].seq, q);
        if (q == 65533 || q == 2) {
            assert_false(st[i].received);
            continue;
        }
        assert_true(st[i].received);
        cur += st[i].delta_us;
        assert_true(cur - at[j] < 250 && at[j] - cur < 250);
        j++;
    }
    assert_int_equal(j, n);
    /* Nothing new: no feedback. Then one more packet: fb count 1. */
    assert_int_equal(pal_twcc_build(t, buf, sizeof(buf), &len), -ENODATA);
    pal_twcc_on_packet(t, 10, base_us + 200000);
    assert_int_equal(pal_twcc_build(t, buf, sizeof(buf), &len), 0);
    k = decode(buf, len, st, 64, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p.fb.u.twcc.base_seq, 10);
    assert_int_equal(p.fb.u.twcc.fb_pkt_count, 1);
    pal_twcc_destroy(t);
}

static void long_runs_and_small_buffers(void **state)
{
    struct pal_twcc *t;
    assert_int_equal(pal_twcc_create(1, 2, &t), 0);
    for (int i = 0; i < 1000; i++)
        pal_twcc_on_packet(t, (uint16_t)i, 5000000 + i * 1000);
    uint8_t buf[200];
    size_t len;
    assert_int_equal(pal_twcc_build(t, buf, 20, &len), -ENOSPC);
    int total = 0, rounds = 0;
    struct pal_rtcp_packet p;
    struct pal_twcc_status st[1000];
    while (pal_twcc_build(t, buf, sizeof(buf), &len) == 0) {
        assert_true(len <= sizeof(buf));
        int k = decode(buf, len, st, 1000, &p);
        assert_int_equal(p.fb.u.twcc.base_seq, total);
        for (int i = 0; i < k; i++)
            assert_true(st[i].received);
        total += k;
        rounds++;
    }
    assert_int_equal(total, 1000);
    assert_true(rounds > 1);
    pal_twcc_destroy(t);
}

static void malformed_feedback(void **state)
{
    /* status count 20 but one run chunk of 3 and nothing else */
    const uint8_t b[] = {0x8F, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 20,
                         0,    0,   0, 0, 0x20, 3, 0, 0};
    struct pal_rtcp_packet p;
    size_t used;
    assert_int_equal(pal_rtcp_parse(b, sizeof(b), &p, &used, NULL), 0);
    struct pal_twcc_status st[32];
    struct pal_wire_err err;
    assert_int_equal(pal_twcc_feedback_decode(&p, st, 32, &err), -EINVAL);
    assert_string_equal(err.msg, "twcc: run length chunk of 0 packets");
    /* 3 received packets announced, only 2 delta bytes */
    const uint8_t c[] = {0x8F, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
                         0,    0,   0, 0};
    uint8_t d[24];
    memcpy(d, c, sizeof(c));
    d[2] = 0, d[3] = 5;
    d[20] = 0x20, d[21] = 3, d[22] = 0, d[23] = 0;
    assert_int_equal(pal_rtcp_parse(d, sizeof(d), &p, &used, NULL), 0);
    assert_int_equal(pal_twcc_feedback_decode(&p, st, 32, &err), -EINVAL);
    assert_string_equal(err.msg, "twcc: recv delta: needed 13 bytes, had 12");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(feedback_round_trip_with_losses_and_wrap),
        cmocka_unit_test(long_runs_and_small_buffers),
        cmocka_unit_test(malformed_feedback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
