/* Forwarding cost of the router: one publisher's 1200-byte VP8 packets fanned
 * out to N subscribers through the real room (palabre/room.h), each through a
 * real SRTP protect. The sink then either drops the packet, or (--send) does
 * what the server's transport does once ICE has selected a pair: one sendto
 * per packet on a UDP socket (here to a 127.0.0.1 socket that is never read,
 * so the kernel drops it after the loopback receive path).
 *
 *   bench_router <gcm|cm|none> <subscribers> <packets> [--send]
 *
 * Prints the forwarding thread's CPU time per forwarded packet. bench/router.sh
 * runs it side by side for every profile, and under callgrind
 * (--toggle-collect=forward_loop) for instruction counts per forwarded packet
 * and a check that the loop calls no allocator. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/room.h"
#include "palabre/rtp.h"
#include "palabre/srtp.h"

struct sink_ctx {
    struct pal_srtp *srtp;
    int fd; /* -1: drop */
    struct sockaddr_in to;
    uint64_t bytes, packets;
};

static int sink_rtp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    struct sink_ctx *s = ctx;
    size_t out = len;
    if (s->srtp && pal_srtp_protect(s->srtp, buf, len, cap, &out))
        return -EIO;
    if (s->fd >= 0)
        sendto(s->fd, buf, out, MSG_DONTWAIT, (const struct sockaddr *)&s->to, sizeof(s->to));
    s->bytes += out;
    s->packets++;
    return 0;
}

static int sink_rtcp(void *ctx, uint8_t *buf, size_t len, size_t cap)
{
    struct sink_ctx *s = ctx;
    size_t out;
    return s->srtp ? pal_srtp_protect_rtcp(s->srtp, buf, len, cap, &out) : 0;
}

static struct pal_srtp *make_srtp(enum pal_srtp_profile prof)
{
    struct pal_srtp_keys k = {.profile = prof};
    size_t kl, sl;
    pal_srtp_profile_sizes(prof, &kl, &sl);
    k.key_len = (uint8_t)kl;
    k.salt_len = (uint8_t)sl;
    pal_random_bytes(k.local_key, kl);
    pal_random_bytes(k.local_salt, sl);
    pal_random_bytes(k.remote_key, kl);
    pal_random_bytes(k.remote_salt, sl);
    struct pal_srtp *s;
    if (pal_srtp_create(&k, &s))
        abort();
    return s;
}

static size_t make_packet(uint8_t *buf, uint16_t seq, bool key)
{
    struct pal_rtp_header h = {.payload_type = 96, .seq = seq, .timestamp = seq * 3000u,
                               .ssrc = 0x2222, .n_ext = 1};
    h.ext[0].id = 3;
    h.ext[0].len = 2;
    static uint8_t payload[1200 - 12 - 8];
    memset(payload, 0x5a, sizeof(payload));
    payload[0] = 0x10;
    payload[1] = key ? 0x00 : 0x01;
    size_t len;
    pal_rtp_write(&h, payload, sizeof(payload), buf, 1500, &len);
    return len;
}

__attribute__((noinline)) void forward_loop(struct pal_room *r, struct pal_room_peer *pub, uint8_t (*pkts)[1600], size_t *lens, int n);
__attribute__((noinline)) void forward_loop(struct pal_room *r, struct pal_room_peer *pub,
                                                   uint8_t (*pkts)[1600], size_t *lens, int n)
{
    uint8_t work[1600];
    for (int i = 0; i < n; i++) {
        memcpy(work, pkts[i % 64], lens[i % 64]); /* what libnice's buffer would hold */
        pal_room_on_rtp(r, pub, work, lens[i % 64], 1000 + i / 50);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_router <gcm|cm|none> <subscribers> <packets> [--send]\n");
        return 2;
    }
    bool plain = strcmp(argv[1], "none") == 0; /* router only, no encryption */
    enum pal_srtp_profile prof =
        strcmp(argv[1], "cm") == 0 ? PAL_SRTP_AES128_CM_SHA1_80 : PAL_SRTP_AEAD_AES_128_GCM;
    int nsub = atoi(argv[2]), npk = atoi(argv[3]);
    bool send = argc > 4 && strcmp(argv[4], "--send") == 0;
    /* --send: a drain socket on 127.0.0.1 that is never read (its small
     * receive buffer overflows, the kernel drops), one sending socket per
     * subscriber as libnice has one per PeerConnection */
    struct sockaddr_in drain = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int drain_fd = -1;
    if (send) {
        drain_fd = socket(AF_INET, SOCK_DGRAM, 0);
        socklen_t dl = sizeof(drain);
        if (drain_fd < 0 || bind(drain_fd, (struct sockaddr *)&drain, sizeof(drain)) ||
            getsockname(drain_fd, (struct sockaddr *)&drain, &dl)) {
            perror("drain socket");
            return 1;
        }
    }
    struct pal_room *r;
    pal_room_create("bench", NULL, &r);
    struct pal_room_peer *pub;
    pal_room_peer_add(r, "pub", &pub);
    struct pal_media_track v = {.mid = "1", .kind = PAL_MEDIA_VIDEO, .payload_type = 96,
                                .clock_rate = 90000, .ssrc = 0x2222, .ext_twcc = 3};
    pal_room_producer_add(r, pub, &v, 0);
    struct sink_ctx *sinks = calloc((size_t)nsub, sizeof(*sinks));
    for (int i = 0; i < nsub; i++) {
        char id[16];
        snprintf(id, sizeof(id), "s%d", i);
        struct pal_room_peer *p;
        pal_room_peer_add(r, id, &p);
        sinks[i].srtp = plain ? NULL : make_srtp(prof);
        sinks[i].fd = send ? socket(AF_INET, SOCK_DGRAM, 0) : -1;
        sinks[i].to = drain;
        struct pal_media_sink s = {.ctx = &sinks[i], .send_rtp = sink_rtp, .send_rtcp = sink_rtcp};
        pal_room_set_sink(p, PAL_MEDIA_PC_SUBSCRIBE, &s);
        struct pal_media_track t = v;
        snprintf(t.mid, sizeof(t.mid), "v");
        t.ssrc = 0x1000u + (uint32_t)i;
        t.ext_twcc = 0;
        pal_room_consumer_add(r, p, "pub", "1", &t, 0);
        pal_room_sink_ready(r, p, PAL_MEDIA_PC_SUBSCRIBE, 0);
    }
    static uint8_t pkts[64][1600];
    size_t lens[64];
    uint8_t work[1600];
    /* warm-up: a keyframe then a few packets (starts every consumer) */
    size_t l = make_packet(work, 1, true);
    pal_room_on_rtp(r, pub, work, l, 1);
    for (int i = 0; i < 64; i++)
        lens[i] = make_packet(pkts[i], 0, false);
    /* sequence numbers must advance: patch them per round */
    uint16_t seq = 2;
    int done = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    while (done < npk) {
        int n = PAL_MIN(64, npk - done);
        for (int i = 0; i < n; i++)
            pal_wr16(pkts[i] + 2, seq++);
        forward_loop(r, pub, pkts, lens, n);
        done += n;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    uint64_t fwd = 0;
    for (int i = 0; i < nsub; i++)
        fwd += sinks[i].packets;
    printf("profile %s%s, %d subscribers, %d packets in, %llu forwarded, %.3f us CPU per "
           "forwarded packet\n",
           plain ? "none" : pal_srtp_profile_name(prof), send ? " + sendto" : "", nsub, npk,
           (unsigned long long)fwd, fwd ? us / (double)fwd : 0.0);
    for (int i = 0; i < nsub; i++) {
        pal_srtp_destroy(sinks[i].srtp);
        if (sinks[i].fd >= 0)
            close(sinks[i].fd);
    }
    if (drain_fd >= 0)
        close(drain_fd);
    free(sinks);
    pal_room_destroy(r);
    return 0;
}
