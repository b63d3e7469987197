#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "palabre/log.h"

static void level_names_parse(void **state)
{
    enum pal_log_level l;
    assert_int_equal(pal_log_level_parse("debug", &l), 0);
    assert_int_equal(l, PAL_LOG_DEBUG);
    assert_int_equal(pal_log_level_parse("error", &l), 0);
    assert_int_equal(l, PAL_LOG_ERROR);
    assert_int_not_equal(pal_log_level_parse("loud", &l), 0);
    assert_int_not_equal(pal_log_level_parse("", &l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(level_names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
