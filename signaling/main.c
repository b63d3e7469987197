/* palabre: the meeting server. Parses the command line and the config file,
 * then runs the signaling server until SIGTERM (a drain: docs/operations.md)
 * or SIGINT (SIGHUP reloads the TLS certificate). `palabre token|jwks|invite`
 * are operations subcommands (cli.c) and never start the server. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "palabre/cli.h"
#include "palabre/common.h"
#include "palabre/config.h"
#include "palabre/log.h"
#include "palabre/media_signaling.h"
#include "palabre/server.h"

static struct pal_server *g_srv;

/* SIGTERM drains (the second one stops at once); SIGINT (Ctrl-C) stops at
 * once. */
static void on_signal(int sig)
{
    if (!g_srv)
        return;
    if (sig == SIGHUP) /* a renewed certificate ([server] tls_cert) */
        pal_server_request_reload(g_srv);
    else if (sig == SIGTERM)
        pal_server_request_drain(g_srv);
    else if (sig == SIGINT)
        pal_server_request_stop(g_srv);
}

/* Each connection is a descriptor: the soft limit (often 1024) would cap the
 * server far below what it can hold. Raised to the hard limit, and said. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) {
        PAL_WARN("server", NULL, NULL, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (was != rl.rlim_max && setrlimit(RLIMIT_NOFILE, &rl)) {
        PAL_WARN("server", NULL, NULL, "cannot raise the descriptor limit from %llu to %llu: %s",
                 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
        return;
    }
    PAL_INFO("server", NULL, NULL, "descriptor limit (RLIMIT_NOFILE): %llu (was %llu)",
             (unsigned long long)rl.rlim_cur, (unsigned long long)was);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: palabre [--listen ADDR:PORT] [--data-dir DIR] [--config FILE]\n"
            "               [--log-level debug|info|warn|error|off]\n"
            "       palabre --help | --version\n"
            "%s"
            "\n"
            "Palabre meeting server: HTTP + WebSocket signaling, browser client, chat.\n"
            "\n"
            "  --listen ADDR:PORT   address and port to listen on (default 127.0.0.1:8080;\n"
            "                       IPv6 in brackets: [::1]:8080, [::]:8080)\n"
            "  --data-dir DIR       data directory, created if missing (default ./var)\n"
            "  --config FILE        INI configuration file ([server] [access] [limits] [media])\n"
            "  --log-level LEVEL    debug, info, warn, error or off (default info)\n"
            "  --help               this help\n"
            "  --version            print the version\n"
            "\n"
            "Flags override the configuration file. Keys: docs/operations.md.\n"
            "\n"
            "%s",
            pal_cli_usage, pal_cli_help);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},   {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c = pal_cli_main(argc, argv);
    if (c >= 0)
        return c;
    const char *listen = NULL, *data_dir = NULL, *config = NULL, *log_level = NULL;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'c': config = optarg; break;
        case 'L': log_level = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("palabre %s\n", PAL_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "palabre: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct pal_config cfg;
    char err[600];
    pal_config_defaults(&cfg);
    if (config && pal_config_load(&cfg, config, err, sizeof(err))) {
        fprintf(stderr, "palabre: %s\n", err);
        return 1;
    }
    const struct {
        const char *key, *value;
    } flags[] = {{"server.listen", listen},
                 {"server.data_dir", data_dir},
                 {"server.log_level", log_level}};
    for (size_t i = 0; i < PAL_ARRAY_LEN(flags); i++) {
        if (flags[i].value && pal_config_set(&cfg, NULL, flags[i].key, flags[i].value, err,
                                             sizeof(err))) {
            fprintf(stderr, "palabre: --%s: %s\n", flags[i].key + 7, err);
            return 1;
        }
    }
    if (pal_config_check(&cfg, err, sizeof(err))) {
        fprintf(stderr, "palabre: %s\n", err);
        return 1;
    }
    pal_config_resolve_web_root(&cfg);
    pal_log_set_level((enum pal_log_level)cfg.log_level);

    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    struct pal_server *srv = pal_server_create(&cfg);
    if (!srv)
        return 1;
    struct pal_media_signaling *ms = NULL;
    if (pal_server_listen(srv) || pal_media_signaling_create(srv, &ms) ||
        pal_server_adopt(srv, ms, pal_media_signaling_destroy_cb)) {
        pal_media_signaling_destroy(ms); /* before the server it reaches through */
        pal_server_destroy(srv);
        return 1;
    }
    g_srv = srv;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int rc = pal_server_run(srv);
    g_srv = NULL;
    pal_server_destroy(srv); /* and the media signaling it adopted */
    PAL_INFO("server", NULL, NULL, "stopped");
    return rc;
}
