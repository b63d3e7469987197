/* palabre token | jwks | invite: what an operator or a portal scripts
 * around the server (contract: include/palabre/cli.h). Each reads only
 * what it is given (a key file, the data directory, the config file for
 * defaults) and never starts a server. */
#include "palabre/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "palabre/common.h"
#include "palabre/config.h"
#include "palabre/jwt.h"
#include "palabre/protocol.h"
#include "palabre/room_store.h"

const char pal_cli_usage[] =
    "       palabre token --key FILE --sub ID --name NAME --ttl DURATION [--email EMAIL]\n"
    "                     [--iss ISSUER] [--aud AUDIENCE] [--config FILE]\n"
    "       palabre jwks --key FILE\n"
    "       palabre invite --room ROOM --label LABEL [--expires DURATION] [--max-uses N]\n"
    "                      [--no-lobby] [--data-dir DIR] [--base-url URL] [--config FILE]\n";

const char pal_cli_help[] =
    "Subcommands (for operations; they print their result alone on stdout):\n"
    "  token    an agent token (JWT) signed with a PEM private key: EC P-256 (ES256,\n"
    "           PKCS#8 or SEC1) or RSA (RS256); iss and aud default to [access]\n"
    "           issuer and audience of --config\n"
    "  jwks     the public JWKS of a PEM key, for [access] jwks_file\n"
    "  invite   an invite link URL/r/ROOM#invite=TOKEN for a stored room; expires\n"
    "           in 7d unless --expires says (at most 90d); the URL is --base-url or\n"
    "           [server] public_url; the data directory is --data-dir or the\n"
    "           --config file's data_dir\n"
    "  DURATION is a number and a unit: 30s, 15m, 1h, 7d.\n";

#define MAX_DURATION_S (3650LL * 86400)

/* "Ns", "Nm", "Nh", "Nd" -> seconds (1 .. 10 years). */
static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno || end == s || s[0] == '-' || s[0] == '+' || n <= 0 || !end[0] || end[1])
        return -EINVAL;
    long long unit = *end == 's'   ? 1
                     : *end == 'm' ? 60
                     : *end == 'h' ? 3600
                     : *end == 'd' ? 86400
                                   : 0;
    if (!unit || n > MAX_DURATION_S / unit)
        return -EINVAL;
    *out = n * unit;
    return 0;
}

static bool room_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PAL_ROOM_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "palabre %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nUsage: palabre --help\n%s", pal_cli_usage);
    return 2;
}

/* --config FILE, read only for defaults (no checks on listen or [access]). */
static int load_config(const char *cmd, const char *path, struct pal_config *cfg)
{
    char err[600];
    pal_config_defaults(cfg);
    if (path && pal_config_load(cfg, path, err, sizeof(err))) {
        fprintf(stderr, "palabre %s: %s\n", cmd, err);
        return 1;
    }
    return 0;
}

/* Parses argv (argv[0] is the subcommand) against opts into vals[] (by
 * the option's val, an index), flags into *flags; each option index in req
 * (ended by -1) must be given. 0, or the exit code. */
static int parse(int argc, char **argv, const struct option *opts, const int *req,
                 const char **vals, unsigned *flags)
{
    optind = 0; /* glibc: start over, main's getopt has not run */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return usage_error(argv[0], "unknown option or missing value: %s", argv[optind - 1]);
        if (opts[c].has_arg == no_argument)
            *flags |= 1u << c;
        else
            vals[c] = optarg;
    }
    if (optind < argc)
        return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    for (; *req >= 0; req++)
        if (!vals[*req])
            return usage_error(argv[0], "--%s is needed", opts[*req].name);
    return 0;
}

/* The result alone on stdout (out: malloc'd, freed here), or the reason. */
static int print_result(const char *cmd, int rc, char *out, const char *err)
{
    if (rc) {
        fprintf(stderr, "palabre %s: %s\n", cmd, err);
        return 1;
    }
    printf("%s\n", out);
    free(out);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_token(int argc, char **argv)
{
    enum { KEY, SUB, NAME, TTL, EMAIL, ISS, AUD, CONFIG };
    static const struct option opts[] = {
        {"key", required_argument, NULL, KEY},
        {"sub", required_argument, NULL, SUB},
        {"name", required_argument, NULL, NAME},
        {"ttl", required_argument, NULL, TTL},
        {"email", required_argument, NULL, EMAIL},
        {"iss", required_argument, NULL, ISS},
        {"aud", required_argument, NULL, AUD},
        {"config", required_argument, NULL, CONFIG},
        {NULL, 0, NULL, 0},
    };
    const char *v[8] = {0};
    unsigned flags = 0;
    static const int req[] = {KEY, SUB, NAME, TTL, -1};
    int rc = parse(argc, argv, opts, req, v, &flags);
    if (rc)
        return rc;
    int64_t ttl;
    if (parse_duration(v[TTL], &ttl))
        return usage_error("token", "--ttl %s: expected a number and a unit (30s, 15m, 1h, 7d)",
                           v[TTL]);
    struct pal_config cfg;
    if (load_config("token", v[CONFIG], &cfg))
        return 1;
    const char *iss = v[ISS] ? v[ISS] : cfg.jwt_issuer;
    const char *aud = v[AUD] ? v[AUD] : cfg.jwt_audience;
    if (!iss[0] || !aud[0]) {
        fprintf(stderr, "palabre token: no %s: give --%s, or --config with [access] %s\n",
                !iss[0] ? "issuer" : "audience", !iss[0] ? "iss" : "aud",
                !iss[0] ? "issuer" : "audience");
        return 1;
    }
    char *jwt, err[600];
    rc = pal_jwt_sign(v[KEY], v[SUB], v[NAME], v[EMAIL], iss, aud, (int64_t)time(NULL), ttl, &jwt,
                      err, sizeof(err));
    return print_result("token", rc, jwt, err);
}

static int cmd_jwks(int argc, char **argv)
{
    enum { KEY };
    static const struct option opts[] = {{"key", required_argument, NULL, KEY}, {NULL, 0, NULL, 0}};
    const char *v[1] = {0};
    unsigned flags = 0;
    static const int req[] = {KEY, -1};
    int rc = parse(argc, argv, opts, req, v, &flags);
    if (rc)
        return rc;
    char *json, err[600];
    rc = pal_jwt_public_jwks(v[KEY], &json, err, sizeof(err));
    return print_result("jwks", rc, json, err);
}

static int cmd_invite(int argc, char **argv)
{
    enum { ROOM, LABEL, EXPIRES, MAX_USES, NO_LOBBY, DATA_DIR, BASE_URL, CONFIG };
    static const struct option opts[] = {
        {"room", required_argument, NULL, ROOM},
        {"label", required_argument, NULL, LABEL},
        {"expires", required_argument, NULL, EXPIRES},
        {"max-uses", required_argument, NULL, MAX_USES},
        {"no-lobby", no_argument, NULL, NO_LOBBY},
        {"data-dir", required_argument, NULL, DATA_DIR},
        {"base-url", required_argument, NULL, BASE_URL},
        {"config", required_argument, NULL, CONFIG},
        {NULL, 0, NULL, 0},
    };
    const char *v[8] = {0};
    unsigned flags = 0;
    static const int req[] = {ROOM, LABEL, -1};
    int rc = parse(argc, argv, opts, req, v, &flags);
    if (rc)
        return rc;
    if (!room_name_ok(v[ROOM]))
        return usage_error("invite", "--room %s: 1 to 64 of [a-z0-9-]", v[ROOM]);
    size_t chars = 0;
    const char *why = NULL;
    if (pal_text_check(v[LABEL], strlen(v[LABEL]), false, &chars, &why) == 0)
        why = chars == 0 ? "empty" : chars > PAL_INVITE_LABEL_MAX ? "too long" : NULL;
    if (why)
        return usage_error("invite", "--label: 1 to 120 characters of text (%s)", why);
    int64_t expires = PAL_INVITE_DEFAULT_SECONDS;
    if (v[EXPIRES] && parse_duration(v[EXPIRES], &expires))
        return usage_error(
            "invite", "--expires %s: expected a number and a unit (30s, 15m, 1h, 7d)", v[EXPIRES]);
    if (expires > PAL_INVITE_MAX_SECONDS) {
        fprintf(stderr, "palabre invite: --expires %s: a link lasts at most 90 days\n", v[EXPIRES]);
        return 1;
    }
    long max_uses = 0;
    if (v[MAX_USES]) {
        char *end;
        max_uses = strtol(v[MAX_USES], &end, 10);
        if (end == v[MAX_USES] || *end || max_uses < 1 || max_uses > 10000)
            return usage_error("invite", "--max-uses %s: expected 1 to 10000", v[MAX_USES]);
    }
    struct pal_config cfg;
    if (load_config("invite", v[CONFIG], &cfg))
        return 1;
    const char *base = v[BASE_URL] ? v[BASE_URL] : cfg.public_url;
    if (!base[0]) {
        fprintf(stderr, "palabre invite: no base URL for the link: give --base-url "
                        "https://visio.example.fr, or --config with [server] public_url\n");
        return 1;
    }
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0) {
        fprintf(stderr, "palabre invite: base URL '%s': expected http://... or https://...\n",
                base);
        return 1;
    }
    const char *dir = v[DATA_DIR] ? v[DATA_DIR] : v[CONFIG] ? cfg.data_dir : NULL;
    if (!dir)
        return usage_error("invite", "%s",
                           "--data-dir (or --config with [server] data_dir) "
                           "is needed");
    /* The database is opened only if it is there: a typo in the directory
     * must not leave a fresh empty database behind. */
    char db[PATH_MAX];
    struct stat st;
    snprintf(db, sizeof(db), "%s/palabre.db", dir);
    if (stat(db, &st) != 0) {
        fprintf(stderr, "palabre invite: room '%s' does not exist (no database %s)\n", v[ROOM], db);
        return 1;
    }
    struct pal_room_store *rs;
    if (pal_room_store_open(dir, &rs)) {
        fprintf(stderr, "palabre invite: cannot open the rooms in %s\n", db);
        return 1;
    }
    struct pal_room_record room;
    char token[PAL_INVITE_TOKEN_LEN + 1];
    struct pal_invite inv;
    int64_t now = pal_wall_ms();
    rc = pal_room_store_get(rs, v[ROOM], &room);
    if (rc == 0)
        rc = pal_room_store_invite_create(rs, v[ROOM], v[LABEL], "palabre invite", now,
                                          now + expires * 1000, (int)max_uses,
                                          !(flags & (1u << NO_LOBBY)), token, &inv);
    pal_room_store_close(rs);
    switch (rc) {
    case 0:
        break;
    case -ENOENT:
        fprintf(stderr, "palabre invite: room '%s' does not exist\n", v[ROOM]);
        return 1;
    case -EINVAL:
        fprintf(stderr, "palabre invite: --label: 1 to %d characters of text\n",
                PAL_INVITE_LABEL_MAX);
        return 1;
    case -EDQUOT:
        fprintf(stderr, "palabre invite: room '%s' already has %d live links (revoke some)\n",
                v[ROOM], PAL_INVITES_PER_ROOM);
        return 1;
    default:
        fprintf(stderr, "palabre invite: cannot store the link (%s)\n", strerror(-rc));
        return 1;
    }
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    printf("%.*s/r/%s#invite=%s\n", (int)blen, base, v[ROOM], token);
    return fflush(stdout) == 0 ? 0 : 1;
}

int pal_cli_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } cmds[] = {{"token", cmd_token}, {"jwks", cmd_jwks}, {"invite", cmd_invite}};
    if (argc < 2)
        return -1;
    for (size_t i = 0; i < PAL_ARRAY_LEN(cmds); i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            for (int a = 2; a < argc; a++)
                if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
                    printf("Usage:\n%s\n%s", pal_cli_usage, pal_cli_help);
                    return 0;
                }
            return cmds[i].run(argc - 1, argv + 1);
        }
    return -1;
}
