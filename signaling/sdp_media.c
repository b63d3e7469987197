/* SDP facts <-> media core values. See palabre/sdp_media.h. */
#include "palabre/sdp_media.h"

#include <stdio.h>
#include <string.h>

void pal_sdp_candidate_to_media(const struct pal_sdp_candidate *s, struct pal_media_candidate *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->foundation, sizeof(c->foundation), "%s", s->foundation);
    c->component = (uint8_t)s->component;
    c->tcp = s->transport != PAL_SDP_CAND_UDP;
    c->priority = s->priority;
    snprintf(c->addr, sizeof(c->addr), "%s", s->address);
    c->port = s->port;
    c->type = (enum pal_media_cand_type)s->type; /* same order */
    snprintf(c->raddr, sizeof(c->raddr), "%s", s->raddr);
    c->rport = s->rport;
}

void pal_media_candidate_to_sdp(const struct pal_media_candidate *c, struct pal_sdp_candidate *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->foundation, sizeof(s->foundation), "%s", c->foundation);
    s->component = c->component;
    s->transport = PAL_SDP_CAND_UDP;
    s->priority = c->priority;
    snprintf(s->address, sizeof(s->address), "%s", c->addr);
    s->port = c->port;
    s->type = (enum pal_sdp_cand_type)c->type;
    if (c->type != PAL_MEDIA_CAND_HOST)
        snprintf(s->raddr, sizeof(s->raddr), "%s", c->raddr);
    s->rport = c->rport;
}
