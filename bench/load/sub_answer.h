/* palabre-load's answer to a subscribe offer (Palabre's subscribe_offer, or
 * Janus's offer on a subscriber handle), written from the offer's text one
 * m-section at a time, with no cap on the number of m-lines.
 *
 * Why not pal_sdp_parse + pal_sdp_build_answer: a pal_session_desc holds
 * PAL_SDP_MAX_MEDIA (64) m-lines, which is the server's limit, not the
 * tool's; a room of 100 needs 2 x 99 = 198 m-lines in one subscribe PC, and
 * the tool must be able to receive what a server offers in order to measure
 * how much of it the server delivers. The answer is what a browser answers an
 * SFU (and what pal_sdp_build_answer wrote before): per accepted m-line the
 * first opus/48000/2 or VP8/90000 payload type with its rtpmap, rtcp-fb and
 * fmtp, the offered header extensions, recvonly (inactive when the offer
 * does not send), rtcp-mux, setup:active, our ICE credentials and
 * fingerprint; m-lines the offer rejects (port 0) or without such a codec
 * are rejected; the BUNDLE group lists the accepted mids.
 *
 * Thread: any (pure functions over strings). */
#ifndef PALABRE_LOAD_SUB_ANSWER_H
#define PALABRE_LOAD_SUB_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "palabre/sdp.h"

#define LOAD_SUB_MAX_CANDIDATES 16

/* The offerer's transport, from the session level and the first accepted
 * m-section (BUNDLE: one transport for all). */
struct load_sub_remote {
    char ice_ufrag[PAL_SDP_UFRAG_LEN];
    char ice_pwd[PAL_SDP_PWD_LEN];
    struct pal_sdp_fingerprint fingerprint;
    size_t n_candidates;
    struct pal_sdp_candidate candidates[LOAD_SUB_MAX_CANDIDATES];
    bool end_of_candidates;
    int n_media, n_accepted; /* m-lines offered, accepted in the answer */
    /* The SSRCs (a=ssrc) of the accepted m-lines the offerer sends on,
     * sorted (malloc'd; load_sub_remote_clear frees them). A browser drops
     * RTP on any other SSRC: media the SDP does not announce is not
     * delivered. */
    uint32_t *ssrcs;
    size_t n_ssrcs;
    /* The transport-cc header extension id (a=extmap with the
     * transport-wide-cc URI) of the first accepted m-line offering it, which
     * the answer keeps: the server numbers what it sends with it (BUNDLE:
     * one id for the transport). 0: not offered. */
    uint8_t ext_twcc;
};

/* Writes the answer to offer (NUL-terminated SDP) into *answer (malloc'd,
 * the caller frees) and the offerer's transport into *remote (overwritten:
 * clear it first if it was filled before). Returns 0,
 * -EINVAL (no m-line accepted, no ICE credentials or fingerprint; err says
 * which) or -ENOMEM. */
int load_sub_answer(const char *offer, const struct pal_sdp_local *local, char **answer,
                    struct load_sub_remote *remote, char *err, size_t errcap);
void load_sub_remote_clear(struct load_sub_remote *remote);
/* Whether ssrc is one of remote's. */
bool load_sub_remote_has_ssrc(const struct load_sub_remote *remote, uint32_t ssrc);

#endif
