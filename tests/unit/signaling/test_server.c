/* server.c with a real lws context on 127.0.0.1: wake hooks run on the
 * service thread when another thread calls pal_server_wake, and a stop
 * request from another thread ends pal_server_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "palabre/log.h"
#include "palabre/server.h"

static atomic_int hook_runs;
static pthread_t service_thread;

static void hook(struct pal_server *srv, void *ud)
{
    if (pthread_equal(pthread_self(), service_thread))
        atomic_fetch_add(&hook_runs, 1);
}

static void *other_thread(void *arg)
{
    struct pal_server *srv = arg;
    while (atomic_load(&hook_runs) == 0) {
        pal_server_wake(srv);
        usleep(10000);
    }
    pal_server_request_stop(srv);
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void test_wake_hook_and_stop(void **state)
{
    pal_log_set_level(PAL_LOG_OFF);
    char dir[] = "/tmp/palabre-srv-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct pal_config cfg;
    pal_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    cfg.listen_port = free_port();
    assert_true(cfg.listen_port > 0);
    struct pal_server *srv = pal_server_create(&cfg);
    assert_non_null(srv);
    assert_int_equal(pal_server_add_wake_hook(srv, hook, NULL), 0);
    assert_int_equal(pal_server_listen(srv), 0);
    service_thread = pthread_self();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, srv), 0);
    assert_int_equal(pal_server_run(srv), 0);
    pthread_join(t, NULL);
    assert_true(atomic_load(&hook_runs) >= 1);
    pal_server_destroy(srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_hook_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
