/* fuzz_load_sub_answer: arbitrary bytes as a subscribe offer to palabre-load
 * (bench/load/sub_answer.c, which reads what the server under test sends).
 * Whatever it answers has one m-line per offered m-line, no more accepted
 * than offered, and the SSRCs it keeps sorted and unique. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the tool's sources are not in libpalabre.a: build the one under test here */
#include "../../bench/load/sub_answer.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *offer = malloc(size + 1);
    if (!offer)
        return 0;
    memcpy(offer, data, size);
    offer[size] = '\0'; /* the tool gets a C string from jansson */
    static struct pal_sdp_local local;
    if (!local.fingerprint.algorithm[0]) {
        strcpy(local.ice_ufrag, "abcd");
        strcpy(local.ice_pwd, "0123456789abcdef012345");
        pal_sdp_fingerprint_parse("sha-256 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                                  "11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20",
                                  &local.fingerprint);
        strcpy(local.origin_sess_id, "1");
    }
    char *answer, err[160];
    struct load_sub_remote r;
    if (load_sub_answer(offer, &local, &answer, &r, err, sizeof(err)) == 0) {
        size_t m = 0;
        for (const char *p = strstr(answer, "\r\nm="); p; p = strstr(p + 1, "\r\nm="))
            m++;
        if ((int)m != r.n_media || r.n_accepted > r.n_media || r.n_accepted < 1)
            abort();
        for (size_t i = 1; i < r.n_ssrcs; i++)
            if (r.ssrcs[i - 1] >= r.ssrcs[i])
                abort();
        load_sub_remote_clear(&r);
        free(answer);
    }
    free(offer);
    return 0;
}
