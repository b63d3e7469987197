/* bench/load/metrics.c: palabre-load's per-source reception. With simulcast
 * each layer has its own trailer counters; a subscriber switched from one
 * layer to another must see neither invented loss nor hidden loss, and the
 * switch is counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* the tool's sources are not in libpalabre.a: build the one under test here */
#include "../../../bench/load/metrics.c"

static void add_run(struct load_rx *rx, uint32_t from, uint32_t to, uint8_t layer, uint32_t skip)
{
    for (uint32_t c = from; c <= to; c++)
        if (c != skip)
            load_rx_add(rx, c, layer, 1000, 2000);
}

static void test_one_layer_loss(void **state)
{
    (void)state;
    struct load_rx rx = {0};
    add_run(&rx, 10, 19, 0, 15); /* 10 sent, one lost */
    assert_int_equal(load_rx_expected(&rx), 10);
    assert_int_equal(rx.received, 9);
    assert_int_equal(rx.switches, 0);
}

static void test_switch_no_false_loss(void **state)
{
    (void)state;
    struct load_rx rx = {0};
    /* f layer (counters around 5000), then q (counters around 300), then f
     * again: the counters of each layer are unrelated */
    add_run(&rx, 5000, 5099, 2, UINT32_MAX);
    add_run(&rx, 300, 339, 0, UINT32_MAX);
    add_run(&rx, 5400, 5449, 2, UINT32_MAX);
    assert_int_equal(rx.received, 190);
    assert_int_equal(load_rx_expected(&rx), 190);
    assert_int_equal(rx.switches, 2);
}

static void test_switch_keeps_real_loss(void **state)
{
    (void)state;
    struct load_rx rx = {0};
    add_run(&rx, 5000, 5099, 2, 5050); /* one lost before the switch */
    add_run(&rx, 300, 339, 0, 320);    /* one lost after */
    assert_int_equal(load_rx_expected(&rx), 140);
    assert_int_equal(rx.received, 138);
    assert_int_equal(rx.switches, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_layer_loss),
        cmocka_unit_test(test_switch_no_false_loss),
        cmocka_unit_test(test_switch_keeps_real_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
