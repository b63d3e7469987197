/* pal_queue: order, bounds, wake hint, and several producer threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "palabre/queue.h"

struct item {
    int producer;
    int n;
    char text[20];
};

static void test_fifo_and_wake_hint(void **state)
{
    (void)state;
    struct pal_queue *q;
    assert_int_equal(pal_queue_create(3, sizeof(struct item), &q), 0);
    assert_int_equal(pal_queue_capacity(q), 4);
    struct item it = {0}, out;
    assert_int_equal(pal_queue_pop(q, &out), 0);
    for (int i = 0; i < 4; i++) {
        it.n = i;
        snprintf(it.text, sizeof(it.text), "item %d", i);
        assert_int_equal(pal_queue_push(q, &it), i == 0 ? 1 : 0);
    }
    it.n = 99;
    assert_int_equal(pal_queue_push(q, &it), -ENOBUFS);
    assert_int_equal(pal_queue_dropped(q), 1);
    assert_int_equal(pal_queue_len(q), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pal_queue_pop(q, &out), 1);
        assert_int_equal(out.n, i);
        char want[20];
        snprintf(want, sizeof(want), "item %d", i);
        assert_string_equal(out.text, want);
    }
    assert_int_equal(pal_queue_pop(q, &out), 0);
    /* wraps around the ring */
    for (int round = 0; round < 10; round++) {
        it.n = round;
        assert_int_equal(pal_queue_push(q, &it), 1);
        assert_int_equal(pal_queue_pop(q, &out), 1);
        assert_int_equal(out.n, round);
    }
    pal_queue_destroy(q);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct pal_queue *q = (void *)1;
    assert_int_equal(pal_queue_create(0, 8, &q), -EINVAL);
    assert_null(q);
    assert_int_equal(pal_queue_create(8, 0, &q), -EINVAL);
    pal_queue_destroy(NULL);
}

#define PRODUCERS 4
#define PER_PRODUCER 20000
static struct pal_queue *shared;

static void *producer(void *arg)
{
    struct item it = {.producer = (int)(intptr_t)arg};
    for (int i = 0; i < PER_PRODUCER; i++) {
        it.n = i;
        while (pal_queue_push(shared, &it) < 0)
            sched_yield();
    }
    return NULL;
}

static void test_many_producers_keep_per_producer_order(void **state)
{
    (void)state;
    assert_int_equal(pal_queue_create(64, sizeof(struct item), &shared), 0);
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i);
    int next[PRODUCERS] = {0};
    int total = 0;
    struct item out;
    while (total < PRODUCERS * PER_PRODUCER) {
        if (!pal_queue_pop(shared, &out)) {
            sched_yield();
            continue;
        }
        assert_true(out.producer >= 0 && out.producer < PRODUCERS);
        assert_int_equal(out.n, next[out.producer]);
        next[out.producer]++;
        total++;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(pal_queue_len(shared), 0);
    pal_queue_destroy(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_wake_hint),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_many_producers_keep_per_producer_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
