/* X-Forwarded-For as a trusted proxy sends it (pal_http_forwarded_client),
 * and the Authorization header of /metrics (pal_http_bearer_ok): the first
 * byte picks the peer, the rest is the header. The address written must be
 * NUL-terminated and fit its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/config.h"
#include "palabre/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pal_config cfg;
    static int ready;
    if (!ready) {
        pal_config_defaults(&cfg);
        char err[128];
        if (pal_config_set(&cfg, "server", "trusted_proxies", "127.0.0.1 ::1 10.0.0.1", err,
                           sizeof(err)))
            abort();
        ready = 1;
    }
    if (size == 0)
        return 0;
    static const char *const peers[] = {"127.0.0.1", "::ffff:127.0.0.1", "192.0.2.7", "::1"};
    char *xff = malloc(size);
    memcpy(xff, data + 1, size - 1);
    xff[size - 1] = '\0';
    char out[64];
    memset(out, 'x', sizeof(out));
    pal_http_forwarded_client(&cfg, peers[data[0] % 4], xff, out, sizeof(out));
    if (!memchr(out, '\0', sizeof(out)))
        abort();
    pal_http_bearer_ok("s3cret", xff);
    free(xff);
    return 0;
}
