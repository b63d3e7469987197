/* bench_sdp: repeats one SDP operation on the Chromium fixture, for
 * instruction counts under callgrind (bench/sdp.sh).
 *   build/bench_sdp <parse|parse-min|answer|write|offer> <iterations> [fixture]
 * parse-min parses a 5-line description: it shows the fixed cost of zeroing
 * the ~1 MB struct against the cost of reading a real offer.
 *
 * Text modes, used by tests/integration/sdp_chrome.test.mjs to check what
 * Palabre writes against a real browser:
 *   build/bench_sdp answer-text <offer-file>   prints the server's answer
 *   build/bench_sdp offer-text [reuse]         prints a subscribe offer (2 tracks, 1 idle
 *                                              slot; with reuse: version 2, the slot
 *                                              carries a new video track)
 *   build/bench_sdp check-answer <answer-file> [reuse]  checks a browser's answer to it */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/sdp.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void local_init(struct pal_sdp_local *local)
{
    memset(local, 0, sizeof(*local));
    strcpy(local->ice_ufrag, "bench");
    strcpy(local->ice_pwd, "benchbenchbenchbenchbench");
    pal_sdp_fingerprint_parse("sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:"
                              "14:15:16:17:18:19:1A:1B:1C:1D:1E:1F",
                              &local->fingerprint);
    strcpy(local->origin_sess_id, "1");
    pal_sdp_candidate_parse("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
                            &local->candidates[0], NULL);
    local->n_candidates = 1;
    local->end_of_candidates = true;
}

static struct pal_sdp_track tracks[3] = {
    {.kind = PAL_SDP_KIND_AUDIO, .mid = "0", .active = true, .ssrc = 1, .cname = "c",
     .stream_id = "s", .track_id = "a"},
    {.kind = PAL_SDP_KIND_VIDEO, .mid = "1", .active = true, .ssrc = 2, .cname = "c",
     .stream_id = "s", .track_id = "v"},
    {.kind = PAL_SDP_KIND_VIDEO, .mid = "2", .active = false}, /* an idle slot */
};

/* The text modes: 0 on success, 1 with the reason on stderr. */
static int text_mode(const char *op, const char *file, bool reuse)
{
    static struct pal_session_desc in, out;
    struct pal_sdp_local local;
    struct pal_sdp_error err = {0};
    local_init(&local);
    if (reuse) {
        local.origin_sess_version = 2;
        tracks[2] = (struct pal_sdp_track){.kind = PAL_SDP_KIND_VIDEO, .mid = "2", .active = true,
                                           .ssrc = 4, .cname = "c2", .stream_id = "s2",
                                           .track_id = "v2"};
    }
    size_t len = 0;
    char *text = file ? slurp(file, &len) : NULL;
    if (file && !text) {
        perror(file);
        return 1;
    }
    int rc;
    if (!strcmp(op, "answer-text"))
        rc = pal_sdp_parse(text, len, &in, &err) || pal_sdp_build_answer(&in, &local, &out, &err);
    else if (!strcmp(op, "offer-text"))
        rc = pal_sdp_build_offer(tracks, 3, &local, &out, &err);
    else
        rc = pal_sdp_build_offer(tracks, 3, &local, &out, &err) ||
             pal_sdp_parse(text, len, &in, &err) || pal_sdp_check_answer(&out, &in, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "%s: %s\n", op, err.message);
        return 1;
    }
    if (!strcmp(op, "check-answer"))
        return 0;
    char *sdp = pal_sdp_write_alloc(&out, &err);
    if (!sdp) {
        fprintf(stderr, "%s: %s\n", op, err.message);
        return 1;
    }
    fputs(sdp, stdout);
    free(sdp);
    return 0;
}

int main(int argc, char **argv)
{
    bool reuse = argc >= 3 && !strcmp(argv[argc - 1], "reuse");
    if (argc >= 2 && !strcmp(argv[1], "offer-text"))
        return text_mode(argv[1], NULL, reuse);
    if (argc >= 3 && (!strcmp(argv[1], "answer-text") || !strcmp(argv[1], "check-answer")))
        return text_mode(argv[1], argv[2], reuse);
    if (argc < 3) {
        fprintf(stderr, "usage: %s <parse|parse-min|answer|write|offer> <iterations> [fixture]\n", argv[0]);
        return 2;
    }
    const char *op = argv[1];
    int iters = atoi(argv[2]);
    size_t len;
    char *text = slurp(argc > 3 ? argv[3] : "tests/fixtures/sdp/chrome-offer.sdp", &len);
    if (!text) {
        perror("fixture");
        return 1;
    }
    static const char min[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    static struct pal_session_desc offer, out;
    struct pal_sdp_error err;
    if (pal_sdp_parse(text, len, &offer, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    struct pal_sdp_local local;
    local_init(&local);
    char buf[16384];
    int rc = 0;
    for (int i = 0; i < iters && rc >= 0; i++) {
        if (!strcmp(op, "parse"))
            rc = pal_sdp_parse(text, len, &out, &err);
        else if (!strcmp(op, "parse-min"))
            rc = pal_sdp_parse(min, sizeof(min) - 1, &out, &err);
        else if (!strcmp(op, "answer"))
            rc = pal_sdp_build_answer(&offer, &local, &out, &err);
        else if (!strcmp(op, "write"))
            rc = pal_sdp_write(&offer, buf, sizeof(buf), &err);
        else if (!strcmp(op, "offer"))
            rc = pal_sdp_build_offer(tracks, 3, &local, &out, &err);
        else {
            fprintf(stderr, "unknown op %s\n", op);
            return 2;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", op, err.message);
        return 1;
    }
    free(text);
    return 0;
}
