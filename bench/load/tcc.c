/* palabre-load's transport-cc feedback. See tcc.h. */
#include "tcc.h"

#include <errno.h>
#include <stdlib.h>

#include "palabre/twcc.h"

struct load_tcc {
    /* owned */
    struct pal_twcc *twcc; /* created on the first numbered packet: its SSRC is
                            * the feedback's media source, as in Chrome */
    /* state */
    uint32_t sender_ssrc;
    uint8_t ext_id;
    struct load_tcc_stats st;
};

int load_tcc_create(uint32_t sender_ssrc, struct load_tcc **out)
{
    struct load_tcc *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->sender_ssrc = sender_ssrc;
    *out = t;
    return 0;
}

void load_tcc_destroy(struct load_tcc *t)
{
    if (!t)
        return;
    pal_twcc_destroy(t->twcc);
    free(t);
}

void load_tcc_set_ext(struct load_tcc *t, uint8_t ext_id)
{
    t->ext_id = ext_id;
}

bool load_tcc_on_rtp(struct load_tcc *t, const struct pal_rtp_packet *pkt, int64_t arrival_us)
{
    size_t len;
    const uint8_t *v = t->ext_id ? pal_rtp_ext_find(pkt, t->ext_id, &len) : NULL;
    if (!v || len < 2)
        return false;
    if (!t->twcc && pal_twcc_create(t->sender_ssrc, pkt->ssrc, &t->twcc) != 0)
        return false;
    pal_twcc_on_packet(t->twcc, pal_rd16(v), arrival_us);
    t->st.recorded++;
    return true;
}

int load_tcc_build(struct load_tcc *t, uint8_t *out, size_t cap, size_t *len)
{
    size_t off = 0, one;
    int rc = -ENODATA;
    for (int i = 0; t->twcc && i < LOAD_TCC_MAX_PACKETS; i++) {
        rc = pal_twcc_build(t->twcc, out + off, cap - off, &one);
        if (rc)
            break;
        off += one;
        t->st.feedbacks++;
    }
    if (!off)
        return rc;
    *len = off;
    return 0;
}

void load_tcc_get_stats(const struct load_tcc *t, struct load_tcc_stats *out)
{
    *out = t->st;
}
