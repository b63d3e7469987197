#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "palabre/rtp.h"

/* V=2 X=1 CC=1, M=1 PT=96, seq 0x1234, ts 0xdecafbad, ssrc 0xcafebabe,
 * CSRC 0x11223344, one-byte extensions: id 1 (mid "a0"), id 3 (1 byte),
 * padding byte, then payload "hello". */
static const uint8_t pkt_ext[] = {
    0x91, 0xE0, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe,
    0x11, 0x22, 0x33, 0x44, /* CSRC */
    0xBE, 0xDE, 0x00, 0x02, /* profile, 2 words */
    0x11, 'a',  '0',  0x30, 0x7F, 0x00, 0x00, 0x00, /* id1 len2, id3 len1, padding */
    'h',  'e',  'l',  'l',  'o'};

static void parses_header_csrc_extensions_payload(void **state)
{
    uint8_t buf[sizeof(pkt_ext)];
    memcpy(buf, pkt_ext, sizeof(buf));
    struct pal_rtp_packet p;
    struct pal_wire_err err;
    assert_int_equal(pal_rtp_parse(&p, buf, sizeof(buf), &err), 0);
    assert_int_equal(p.version, 2);
    assert_true(p.marker);
    assert_true(p.extension);
    assert_false(p.padding);
    assert_int_equal(p.payload_type, 96);
    assert_int_equal(p.seq, 0x1234);
    assert_int_equal(p.timestamp, 0xdecafbad);
    assert_int_equal(p.ssrc, 0xcafebabe);
    assert_int_equal(p.csrc_count, 1);
    assert_int_equal(pal_rtp_csrc(&p, 0), 0x11223344);
    assert_int_equal(p.ext_profile, PAL_RTP_EXT_ONE_BYTE);
    assert_int_equal(p.n_ext, 2);
    size_t l;
    const uint8_t *mid = pal_rtp_ext_find(&p, 1, &l);
    assert_non_null(mid);
    assert_int_equal(l, 2);
    assert_memory_equal(mid, "a0", 2);
    const uint8_t *e3 = pal_rtp_ext_find(&p, 3, &l);
    assert_non_null(e3);
    assert_int_equal(l, 1);
    assert_int_equal(e3[0], 0x7F);
    assert_null(pal_rtp_ext_find(&p, 2, &l));
    assert_int_equal(p.header_len, 28);
    assert_int_equal(p.payload_len, 5);
    assert_memory_equal(pal_rtp_payload(&p), "hello", 5);
}

static void two_byte_extensions_and_padding(void **state)
{
    uint8_t buf[] = {0xB0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
                     0x10, 0x00, 0x00, 0x02, /* two-byte profile, 2 words */
                     0x20, 0x03, 1,    2,    3, 0x00, 0x05, 0x00, /* id 32 len 3, pad, id 5 len 0 */
                     'x',  'y',  0,    0,    3};
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, buf, sizeof(buf), NULL), 0);
    assert_int_equal(p.n_ext, 2);
    size_t l;
    const uint8_t *e = pal_rtp_ext_find(&p, 32, &l);
    assert_non_null(e);
    assert_int_equal(l, 3);
    assert_int_equal(e[2], 3);
    assert_non_null(pal_rtp_ext_find(&p, 5, &l));
    assert_int_equal(l, 0);
    assert_int_equal(p.padding_len, 3);
    assert_int_equal(p.payload_len, 2);
}

static void rejects_malformed(void **state)
{
    struct pal_rtp_packet p;
    struct pal_wire_err err;
    uint8_t b[64];
    memcpy(b, pkt_ext, sizeof(pkt_ext));
    assert_int_equal(pal_rtp_parse(&p, b, 11, &err), -EINVAL);
    assert_string_equal(err.msg, "rtp: header: needed 12 bytes, had 11");
    b[0] = 0x51; /* version 1 */
    assert_int_equal(pal_rtp_parse(&p, b, sizeof(pkt_ext), &err), -EINVAL);
    memcpy(b, pkt_ext, sizeof(pkt_ext));
    b[0] = 0x8F; /* 15 CSRCs */
    assert_int_equal(pal_rtp_parse(&p, b, 20, &err), -EINVAL);
    assert_string_equal(err.msg, "rtp: 15 CSRCs: needed 72 bytes, had 20");
    memcpy(b, pkt_ext, sizeof(pkt_ext));
    assert_int_equal(pal_rtp_parse(&p, b, 18, &err), -EINVAL); /* X but no ext header */
    assert_string_equal(err.msg, "rtp: extension header: needed 20 bytes, had 18");
    b[19] = 0xFF; /* extension length beyond the end */
    assert_int_equal(pal_rtp_parse(&p, b, sizeof(pkt_ext), &err), -EINVAL);
    memcpy(b, pkt_ext, sizeof(pkt_ext));
    b[20] = 0x1F; /* id 1 len 16 overruns the block */
    assert_int_equal(pal_rtp_parse(&p, b, sizeof(pkt_ext), &err), -EINVAL);
    /* padding count 0, and larger than the payload */
    uint8_t pad[] = {0xA0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 'a', 0};
    assert_int_equal(pal_rtp_parse(&p, pad, sizeof(pad), &err), -EINVAL);
    pad[13] = 3;
    assert_int_equal(pal_rtp_parse(&p, pad, sizeof(pad), &err), -EINVAL);
    pad[13] = 2; /* the whole payload is padding: empty payload is accepted */
    assert_int_equal(pal_rtp_parse(&p, pad, sizeof(pad), &err), 0);
    assert_int_equal(p.payload_len, 0);
    uint8_t padonly[] = {0xA0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    assert_int_equal(pal_rtp_parse(&p, padonly, sizeof(padonly), &err), -EINVAL);
}

static void rewrite_in_place_and_into_buffer(void **state)
{
    uint8_t buf[sizeof(pkt_ext)];
    memcpy(buf, pkt_ext, sizeof(buf));
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, buf, sizeof(buf), NULL), 0);

    struct pal_rtp_ext_map map;
    pal_rtp_ext_map_identity(&map);
    map.map[1] = 9; /* mid: 1 -> 9 */
    map.map[3] = 0; /* id 3 dropped */
    struct pal_rtp_rewrite rw = {.ssrc = 0x01020304, .seq = 7, .timestamp = 99,
                                 .payload_type = 100, .ext_map = &map};
    uint8_t out[128];
    size_t n;
    assert_int_equal(pal_rtp_rewrite_header(&p, &rw, out, 10, &n), -ENOSPC);
    assert_int_equal(pal_rtp_rewrite_header(&p, &rw, out, sizeof(out), &n), 0);
    assert_int_equal(n, p.header_len); /* the header only: the payload stays where it is */
    memcpy(out + n, buf + n, p.len - n);
    n = p.len;
    /* The source is untouched. */
    assert_memory_equal(buf, pkt_ext, sizeof(buf));
    struct pal_rtp_packet q;
    assert_int_equal(pal_rtp_parse(&q, out, n, NULL), 0);
    assert_int_equal(q.ssrc, 0x01020304);
    assert_int_equal(q.seq, 7);
    assert_int_equal(q.timestamp, 99);
    assert_int_equal(q.payload_type, 100);
    assert_true(q.marker);
    assert_int_equal(q.n_ext, 1);
    size_t l;
    assert_non_null(pal_rtp_ext_find(&q, 9, &l));
    assert_null(pal_rtp_ext_find(&q, 1, &l));
    assert_null(pal_rtp_ext_find(&q, 3, &l));
    assert_memory_equal(pal_rtp_payload(&q), "hello", 5);
}

static void write_then_parse(void **state)
{
    struct pal_rtp_header h = {.marker = true, .payload_type = 111, .seq = 1000,
                               .timestamp = 48000, .ssrc = 42, .n_ext = 2};
    h.ext[0].id = 1;
    h.ext[0].len = 1;
    h.ext[0].data[0] = 0x85; /* audio level, voice */
    h.ext[1].id = 3;
    h.ext[1].len = 2;
    h.ext[1].data[0] = 0x12;
    h.ext[1].data[1] = 0x34;
    uint8_t out[64];
    size_t n;
    assert_int_equal(pal_rtp_size(&h, 3), 12 + 4 + 8 + 3);
    assert_int_equal(pal_rtp_write(&h, (const uint8_t *)"abc", 3, out, 20, &n), -ENOSPC);
    assert_int_equal(pal_rtp_write(&h, (const uint8_t *)"abc", 3, out, sizeof(out), &n), 0);
    struct pal_rtp_packet p;
    assert_int_equal(pal_rtp_parse(&p, out, n, NULL), 0);
    assert_int_equal(p.n_ext, 2);
    size_t l;
    const uint8_t *e = pal_rtp_ext_find(&p, 3, &l);
    assert_int_equal(l, 2);
    assert_int_equal(pal_rd16(e), 0x1234);
    assert_int_equal(p.payload_len, 3);
    h.ext[0].id = 15;
    assert_int_equal(pal_rtp_write(&h, NULL, 0, out, sizeof(out), &n), -EINVAL);
}

static void sequence_and_timestamp_wrap(void **state)
{
    assert_true(pal_seq_newer(0, 0xFFFF));
    assert_false(pal_seq_newer(0xFFFF, 0));
    assert_true(pal_seq_newer(10, 0xFFF0));
    assert_false(pal_seq_newer(5, 5));
    assert_int_equal(pal_seq_diff(2, 0xFFFE), 4);
    assert_int_equal(pal_seq_diff(0xFFFE, 2), -4);
    assert_int_equal(pal_seq_diff(0x8000, 0), -32768);
    assert_true(pal_ts_newer(100, 0xFFFFFF00u));
    assert_false(pal_ts_newer(0xFFFFFF00u, 100));
    assert_int_equal(pal_ts_diff(100, 0xFFFFFF00u), 356);
    assert_int_equal(pal_ts_diff(0, 90000), -90000);

    struct pal_seq_unwrapper u;
    pal_seq_unwrapper_init(&u);
    assert_int_equal(pal_seq_unwrap(&u, 65534), 65534);
    assert_int_equal(pal_seq_unwrap(&u, 65535), 65535);
    assert_int_equal(pal_seq_unwrap(&u, 1), 65537);
    assert_int_equal(pal_seq_unwrap(&u, 65535), 65535); /* reordered, before wrap */
    assert_int_equal(pal_seq_unwrap(&u, 2), 65538);
    for (uint32_t i = 3; i < 3 * 65536; i += 1000)
        pal_seq_unwrap(&u, (uint16_t)i);
    assert_true(pal_seq_unwrap(&u, 0) > 2 * 65536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_header_csrc_extensions_payload),
        cmocka_unit_test(two_byte_extensions_and_padding),
        cmocka_unit_test(rejects_malformed),
        cmocka_unit_test(rewrite_in_place_and_into_buffer),
        cmocka_unit_test(write_then_parse),
        cmocka_unit_test(sequence_and_timestamp_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
