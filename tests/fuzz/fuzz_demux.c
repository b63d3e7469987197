/* First-byte demux, then the parser each class goes to: RTP, RTCP, and a
 * fresh DTLS server object for DTLS records (handshake fragments, alerts). */
#include <stdlib.h>
#include <string.h>

#include "palabre/demux.h"
#include "palabre/dtls.h"
#include "palabre/rtcp.h"
#include "palabre/rtp.h"

static struct pal_dtls_cert *cert;
static size_t sent;

static void on_send(void *ctx, const uint8_t *d, size_t len)
{
    sent += len;
}

static void free_cert(void)
{
    pal_dtls_cert_destroy(cert);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum pal_demux_kind k = pal_demux_classify(data, size);
    switch (k) {
    case PAL_DEMUX_RTP: {
        uint8_t *b = malloc(size);
        memcpy(b, data, size);
        struct pal_rtp_packet p;
        pal_rtp_parse(&p, b, size, NULL);
        free(b);
        break;
    }
    case PAL_DEMUX_RTCP:
        pal_rtcp_validate(data, size, NULL);
        break;
    case PAL_DEMUX_DTLS: {
        if (!cert) {
            if (pal_dtls_cert_create(&cert))
                abort();
            atexit(free_cert);
        }
        struct pal_dtls_listener l = {NULL, on_send, NULL, NULL, NULL};
        struct pal_dtls *d;
        if (pal_dtls_create(cert, PAL_DTLS_SERVER, pal_dtls_cert_fingerprint(cert), &l, &d))
            abort();
        pal_dtls_start(d);
        pal_dtls_feed(d, data, size);
        pal_dtls_feed(d, data, size); /* the same record again (replay) */
        pal_dtls_destroy(d);
        break;
    }
    default:
        break;
    }
    return 0;
}
