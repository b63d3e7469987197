/* fuzz_sdp: parse arbitrary bytes as SDP; whatever parses must write, and the
 * written text must parse back to the same struct and write to the same text.
 * The first byte (when it is '!') selects the trickle candidate parser instead,
 * with the same property. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/sdp.h"

static void check_candidate(const uint8_t *data, size_t size)
{
    char buf[PAL_SDP_MAX_LINE + 1];
    if (size > PAL_SDP_MAX_LINE)
        size = PAL_SDP_MAX_LINE;
    memcpy(buf, data, size);
    buf[size] = 0;
    struct pal_sdp_candidate a, b;
    if (pal_sdp_candidate_parse(buf, &a, NULL))
        return;
    char out[PAL_SDP_MAX_LINE];
    if (pal_sdp_candidate_write(&a, out, sizeof(out)) < 0)
        abort();
    if (pal_sdp_candidate_parse(out, &b, NULL) || memcmp(&a, &b, sizeof(a)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == '!') {
        check_candidate(data + 1, size - 1);
        return 0;
    }
    static struct pal_session_desc a, b; /* ~7 MB each: not on the stack */
    if (pal_sdp_parse((const char *)data, size, &a, NULL))
        return 0;
    char *text = pal_sdp_write_alloc(&a, NULL);
    if (!text)
        abort(); /* parsed but cannot be written */
    struct pal_sdp_error err;
    if (pal_sdp_parse(text, strlen(text), &b, &err))
        abort(); /* written text does not parse */
    if (!pal_sdp_equal(&a, &b))
        abort(); /* round trip changed the description */
    char *again = pal_sdp_write_alloc(&b, NULL);
    if (!again || strcmp(text, again))
        abort();
    free(again);
    free(text);

    /* The builders must cope with whatever parsed. */
    static struct pal_session_desc ans;
    struct pal_sdp_local local;
    memset(&local, 0, sizeof(local));
    strcpy(local.ice_ufrag, "fuzz");
    strcpy(local.ice_pwd, "fuzzfuzzfuzzfuzzfuzzfuzz");
    strcpy(local.fingerprint.algorithm, "sha-256");
    local.fingerprint.len = 32;
    strcpy(local.origin_sess_id, "1");
    if (pal_sdp_build_answer(&a, &local, &ans, NULL) == 0) {
        char *t = pal_sdp_write_alloc(&ans, NULL);
        if (!t)
            abort(); /* built answers are always writable */
        free(t);
        struct pal_sdp_stream st[PAL_SDP_MAX_MEDIA];
        if (pal_sdp_negotiated(&a, &ans, st, PAL_SDP_MAX_MEDIA, NULL) < 0)
            abort(); /* a built answer always matches its offer */
    }
    pal_sdp_check_answer(&a, &a, NULL);
    return 0;
}
