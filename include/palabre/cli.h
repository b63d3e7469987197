/* palabre's operations subcommands, run instead of the server:
 *   palabre token  --key FILE --sub ID --name NAME --ttl 1h [--email E]
 *                  [--iss ISS] [--aud AUD] [--config FILE]
 *   palabre jwks   --key FILE
 *   palabre invite --data-dir DIR --room ROOM --label LABEL --expires 7d
 *                  [--max-uses N] [--no-lobby] [--base-url URL] [--config FILE]
 * Each prints its result alone on stdout (a JWT, a JWKS, a link) so that a
 * script can take it; messages go to stderr. Exit codes: 0 done, 1 refused
 * or failed (the message says why), 2 bad usage.
 *
 * Thread: main, before anything else runs. */
#ifndef PALABRE_CLI_H
#define PALABRE_CLI_H

/* -1 when argv[1] is not a subcommand (the server starts), else the exit code. */
int pal_cli_main(int argc, char **argv);
/* For `palabre --help`: the subcommands' usage lines, and what they do. */
extern const char pal_cli_usage[];
extern const char pal_cli_help[];

#endif
