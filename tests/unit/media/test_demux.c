#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/demux.h"

static enum pal_demux_kind classify(uint8_t b0, uint8_t b1, size_t len)
{
    uint8_t buf[1600];
    memset(buf, 0, sizeof(buf));
    buf[0] = b0;
    buf[1] = b1;
    return pal_demux_classify(buf, len);
}

static void rfc7983_ranges(void **state)
{
    for (int b = 0; b < 256; b++) {
        enum pal_demux_kind k = classify((uint8_t)b, 96, 100);
        if (b <= 3)
            assert_int_equal(k, PAL_DEMUX_STUN);
        else if (b >= 16 && b <= 19)
            assert_int_equal(k, PAL_DEMUX_ZRTP);
        else if (b >= 20 && b <= 63)
            assert_int_equal(k, PAL_DEMUX_DTLS);
        else if (b >= 64 && b <= 79)
            assert_int_equal(k, PAL_DEMUX_TURN_CHANNEL);
        else if (b >= 128 && b <= 191)
            assert_int_equal(k, PAL_DEMUX_RTP);
        else
            assert_int_equal(k, PAL_DEMUX_UNKNOWN);
    }
}

static void rtcp_by_payload_type(void **state)
{
    /* RFC 5761: 192..223 (SR 200 .. XR 207 and the rest) is RTCP. */
    for (int pt = 0; pt < 256; pt++) {
        enum pal_demux_kind k = classify(0x80, (uint8_t)pt, 100);
        if (pt >= 192 && pt <= 223)
            assert_int_equal(k, PAL_DEMUX_RTCP);
        else
            assert_int_equal(k, PAL_DEMUX_RTP);
    }
    assert_int_equal(classify(0x81, 200, 28), PAL_DEMUX_RTCP);
    assert_string_equal(pal_demux_kind_name(PAL_DEMUX_RTCP), "rtcp");
}

static void too_short_or_too_long(void **state)
{
    assert_int_equal(pal_demux_classify(NULL, 0), PAL_DEMUX_UNKNOWN);
    assert_int_equal(classify(0x00, 0x01, 19), PAL_DEMUX_UNKNOWN); /* STUN < 20 */
    assert_int_equal(classify(0x00, 0x01, 20), PAL_DEMUX_STUN);
    assert_int_equal(classify(22, 0xfe, 12), PAL_DEMUX_UNKNOWN); /* DTLS < 13 */
    assert_int_equal(classify(22, 0xfe, 13), PAL_DEMUX_DTLS);
    assert_int_equal(classify(0x80, 96, 11), PAL_DEMUX_UNKNOWN); /* RTP < 12 */
    assert_int_equal(classify(0x80, 200, 7), PAL_DEMUX_UNKNOWN); /* RTCP < 8 */
    assert_int_equal(classify(0x80, 200, 8), PAL_DEMUX_RTCP);
    assert_int_equal(classify(0x80, 96, 1501), PAL_DEMUX_UNKNOWN); /* > 1500 */
    assert_int_equal(classify(0x80, 96, 1500), PAL_DEMUX_RTP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7983_ranges),
        cmocka_unit_test(rtcp_by_payload_type),
        cmocka_unit_test(too_short_or_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
