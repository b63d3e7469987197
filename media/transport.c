/* ICE + DTLS + SRTP for one PeerConnection. See palabre/transport.h. */
#include "palabre/transport.h"

#include <stdlib.h>
#include <string.h>

#include "palabre/demux.h"
#include "palabre/ice.h"
#include "palabre/log.h"
#include "palabre/send_queue.h"
#include "palabre/srtp.h"

/* The browser often sends its ClientHello as soon as its own side of ICE
 * works, before libnice has selected a pair here: our answer cannot leave
 * yet. Hold it and send it when ICE connects instead of waiting for the
 * DTLS retransmission timer (saves ~400 ms per join on loopback). */
#define PENDING_MAX 16

struct pal_transport {
    /* borrowed */
    GMainContext *ctx;
    const struct pal_dtls_cert *cert;
    /* owned */
    struct pal_ice *ice;
    struct pal_dtls *dtls;
    struct pal_srtp *srtp;
    GSource *dtls_timer;
    GBytes *held[PENDING_MAX]; /* DTLS records sent before ICE had a pair */
    /* state */
    size_t n_held;
    struct pal_transport_listener l;
    bool ice_connected;
    bool dtls_started;
    bool failed;
    struct pal_transport_stats st;
};

static void fail(struct pal_transport *t, enum pal_media_fail_code code, const char *reason)
{
    if (t->failed)
        return;
    t->failed = true;
    if (t->l.on_transport_failed)
        t->l.on_transport_failed(t->l.ctx, code, reason);
}

/* ---- DTLS ---------------------------------------------------------------- */

static void dtls_arm_timer(struct pal_transport *t);

static gboolean dtls_timer_fired(gpointer ud)
{
    struct pal_transport *t = ud;
    g_source_unref(t->dtls_timer);
    t->dtls_timer = NULL;
    if (t->dtls && pal_dtls_handle_timeout(t->dtls) == 0)
        dtls_arm_timer(t);
    return G_SOURCE_REMOVE;
}

static void dtls_arm_timer(struct pal_transport *t)
{
    if (t->dtls_timer) {
        g_source_destroy(t->dtls_timer);
        g_source_unref(t->dtls_timer);
        t->dtls_timer = NULL;
    }
    if (!t->dtls)
        return;
    int64_t ms = pal_dtls_timeout_ms(t->dtls);
    if (ms < 0)
        return;
    t->dtls_timer = g_timeout_source_new((guint)ms);
    g_source_set_callback(t->dtls_timer, dtls_timer_fired, t, NULL);
    g_source_attach(t->dtls_timer, t->ctx);
}

static void on_dtls_send(void *ctx, const uint8_t *data, size_t len)
{
    struct pal_transport *t = ctx;
    int rc = t->ice_connected ? pal_ice_send(t->ice, data, len) : -ENOTCONN;
    if (rc == -ENOTCONN && t->n_held < PENDING_MAX)
        t->held[t->n_held++] = g_bytes_new(data, len);
    PAL_DEBUG("transport", t->l.log_room, t->l.log_participant, "%s DTLS out %zu bytes (%d)",
              t->l.log_pc, len, rc);
}

static void on_dtls_connected(void *ctx, const struct pal_srtp_keys *keys)
{
    struct pal_transport *t = ctx;
    int rc = pal_srtp_create(keys, &t->srtp);
    if (rc) {
        fail(t, PAL_MEDIA_FAIL_DTLS, "SRTP keys refused by libsrtp");
        return;
    }
    if (t->l.on_transport_connected)
        t->l.on_transport_connected(t->l.ctx, keys->profile);
}

static void on_dtls_failed(void *ctx, const char *reason)
{
    fail(ctx, PAL_MEDIA_FAIL_DTLS, reason);
}

static void dtls_maybe_start(struct pal_transport *t)
{
    if (!t->dtls || !t->ice_connected || t->dtls_started)
        return;
    t->dtls_started = true;
    if (pal_dtls_start(t->dtls) != 0)
        fail(t, PAL_MEDIA_FAIL_DTLS, pal_dtls_error(t->dtls));
    dtls_arm_timer(t);
}

/* ---- ICE ----------------------------------------------------------------- */

static void on_ice_candidate(void *ctx, const struct pal_media_candidate *c)
{
    struct pal_transport *t = ctx;
    if (t->l.on_transport_candidate)
        t->l.on_transport_candidate(t->l.ctx, c);
}

static void on_ice_gathering_done(void *ctx)
{
    struct pal_transport *t = ctx;
    if (t->l.on_transport_gathering_done)
        t->l.on_transport_gathering_done(t->l.ctx);
}

static void on_ice_connected(void *ctx)
{
    struct pal_transport *t = ctx;
    t->ice_connected = true;
    PAL_DEBUG("transport", t->l.log_room, t->l.log_participant, "%s ICE connected, %zu held DTLS records sent",
              t->l.log_pc, t->n_held);
    for (size_t i = 0; i < t->n_held; i++) {
        gsize len;
        const uint8_t *d = g_bytes_get_data(t->held[i], &len);
        pal_ice_send(t->ice, d, len);
        g_bytes_unref(t->held[i]);
    }
    t->n_held = 0;
    dtls_maybe_start(t);
}

static void on_ice_failed(void *ctx, const char *reason)
{
    struct pal_transport *t = ctx;
    t->ice_connected = false;
    fail(t, PAL_MEDIA_FAIL_ICE, reason);
}

static void on_ice_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct pal_transport *t = ctx;
    switch (pal_demux_classify(buf, len)) {
    case PAL_DEMUX_DTLS:
        PAL_DEBUG("transport", t->l.log_room, t->l.log_participant, "%s DTLS in %zu bytes (type %u)",
                  t->l.log_pc, len, buf[0]);
        if (!t->dtls)
            return;
        if (!t->dtls_started) { /* DTLS may beat our ICE "connected" event */
            t->dtls_started = true;
            pal_dtls_start(t->dtls);
        }
        if (pal_dtls_feed(t->dtls, buf, len) != 0)
            fail(t, PAL_MEDIA_FAIL_DTLS, pal_dtls_error(t->dtls));
        dtls_arm_timer(t);
        return;
    case PAL_DEMUX_RTP: {
        if (!t->srtp) {
            t->st.not_ready++;
            return;
        }
        /* Parsed once: the header is in clear; the padding count is read
         * once decrypted. */
        struct pal_rtp_packet pkt;
        if (pal_rtp_parse_header(&pkt, buf, len, NULL) != 0) {
            t->st.srtp_errors++;
            return;
        }
        void *stream = t->l.on_transport_accept_rtp
                           ? t->l.on_transport_accept_rtp(t->l.media_ctx, &pkt)
                           : NULL;
        if (!stream) {
            t->st.unknown_ssrc++;
            return;
        }
        size_t out;
        if (pal_srtp_unprotect(t->srtp, buf, len, &out) != 0 ||
            pal_rtp_parse_body(&pkt, out, NULL) != 0) {
            t->st.srtp_errors++;
            return;
        }
        t->st.rtp_in++;
        t->l.on_transport_rtp(t->l.media_ctx, stream, &pkt);
        return;
    }
    case PAL_DEMUX_RTCP: {
        if (!t->srtp) {
            t->st.not_ready++;
            return;
        }
        size_t out;
        if (pal_srtp_unprotect_rtcp(t->srtp, buf, len, &out) != 0) {
            t->st.srtp_errors++;
            return;
        }
        t->st.rtcp_in++;
        if (t->l.on_transport_rtcp)
            t->l.on_transport_rtcp(t->l.media_ctx, buf, out);
        return;
    }
    default:
        return;
    }
}

/* ---- life ---------------------------------------------------------------- */

int pal_transport_create(GMainContext *ctx, const struct pal_media_config *cfg,
                         const struct pal_dtls_cert *cert, bool controlling,
                         const struct pal_media_ice_params *local, struct pal_send_batch *batch,
                         const struct pal_transport_listener *l, struct pal_transport **out)
{
    *out = NULL;
    struct pal_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ctx = ctx;
    t->cert = cert;
    t->l = *l;
    struct pal_ice_listener il = {
        .ctx = t,
        .on_ice_candidate = on_ice_candidate,
        .on_ice_gathering_done = on_ice_gathering_done,
        .on_ice_connected = on_ice_connected,
        .on_ice_failed = on_ice_failed,
        .on_ice_recv = on_ice_recv,
    };
    int rc = pal_ice_create(ctx, cfg, controlling, local, batch, &il, &t->ice);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void pal_transport_destroy(struct pal_transport *t)
{
    if (!t)
        return;
    if (t->dtls_timer) {
        g_source_destroy(t->dtls_timer);
        g_source_unref(t->dtls_timer);
    }
    for (size_t i = 0; i < t->n_held; i++)
        g_bytes_unref(t->held[i]);
    pal_ice_destroy(t->ice);
    pal_dtls_destroy(t->dtls);
    pal_srtp_destroy(t->srtp);
    free(t);
}

int pal_transport_set_remote(struct pal_transport *t, const struct pal_media_ice_params *local,
                             const struct pal_media_ice_params *remote,
                             const struct pal_media_dtls_params *dtls)
{
    int rc;
    if (!t->dtls) {
        if (!dtls || !dtls->fingerprint[0])
            return -EINVAL;
        struct pal_dtls_listener dl = {
            .ctx = t,
            .on_dtls_send = on_dtls_send,
            .on_dtls_connected = on_dtls_connected,
            .on_dtls_failed = on_dtls_failed,
        };
        rc = pal_dtls_create(t->cert, dtls->our_role, dtls->fingerprint, &dl, &t->dtls);
        if (rc)
            return rc;
        rc = pal_ice_set_remote(t->ice, remote);
        dtls_maybe_start(t);
        return rc;
    }
    if (pal_ice_remote_is(t->ice, remote))
        return 0;
    PAL_INFO("transport", t->l.log_room, t->l.log_participant, "%s ICE restart", t->l.log_pc);
    t->ice_connected = false;
    t->failed = false;
    return local ? pal_ice_restart(t->ice, local, remote) : pal_ice_set_remote(t->ice, remote);
}

int pal_transport_add_remote_candidate(struct pal_transport *t,
                                       const struct pal_media_candidate *c)
{
    return pal_ice_add_remote_candidate(t->ice, c);
}

void pal_transport_remote_gathering_done(struct pal_transport *t)
{
    pal_ice_remote_gathering_done(t->ice);
}

/* Batched: SRTP writes the protected packet straight into the send queue's
 * slot (the cipher's output is the only copy of the payload); otherwise
 * into a buffer here, then sent. */
int pal_transport_sink_rtp(void *transport, const uint8_t *hdr, size_t hdr_len,
                           const uint8_t *body, size_t body_len)
{
    struct pal_transport *t = transport;
    size_t out;
    if (!t->srtp || t->failed)
        return -ENOTCONN;
    uint8_t *slot = pal_ice_send_slot(t->ice);
    int rc;
    if (slot) {
        rc = pal_srtp_protect_parts(t->srtp, hdr, hdr_len, body, body_len, slot, PAL_SEND_SLOT,
                                    &out);
        if (rc == 0)
            pal_ice_send_commit(t->ice, out);
    } else {
        uint8_t buf[PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER];
        rc = pal_srtp_protect_parts(t->srtp, hdr, hdr_len, body, body_len, buf, sizeof(buf),
                                    &out);
        if (rc == 0)
            rc = pal_ice_send(t->ice, buf, out);
    }
    if (rc == 0)
        t->st.rtp_out++;
    return rc;
}

int pal_transport_send_rtp(void *transport, uint8_t *buf, size_t len, size_t cap)
{
    (void)cap; /* protected into the slot or a buffer of the sink's */
    struct pal_rtp_packet pkt;
    if (pal_rtp_parse_header(&pkt, buf, len, NULL) != 0)
        return -EINVAL;
    return pal_transport_sink_rtp(transport, buf, pkt.header_len, buf + pkt.header_len,
                                  len - pkt.header_len);
}

int pal_transport_send_rtcp(void *transport, uint8_t *buf, size_t len, size_t cap)
{
    struct pal_transport *t = transport;
    size_t out;
    if (!t->srtp || t->failed)
        return -ENOTCONN;
    int rc = pal_srtp_protect_rtcp(t->srtp, buf, len, cap, &out);
    if (rc)
        return rc;
    rc = pal_ice_send(t->ice, buf, out);
    if (rc == 0)
        t->st.rtcp_out++;
    return rc;
}

void pal_transport_get_stats(const struct pal_transport *t, struct pal_transport_stats *out)
{
    *out = t->st;
    pal_ice_get_send_stats(t->ice, &out->send_calls, &out->send_dropped);
}
