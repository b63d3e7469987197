/* Forwarding cost of the server's real path: one publisher's 1,200-byte VP8
 * packets, fed as video frames (bursts of --burst packets, as libnice reads
 * them in one main-context iteration), fanned out to N subscribers by the
 * real room (palabre/room.h: producer bookkeeping, NACK tracking, keyframe
 * gate, per-subscriber rewrite, retransmission ring), then each subscriber's
 * sink does what its transport does (media/transport.c
 * pal_transport_sink_rtp: the rewritten header and the received payload
 * protected into one buffer, the cipher making the only payload copy):
 *
 *   drop    SRTP protect into a buffer, no send (router + SRTP only)
 *   sendto  protect into a buffer, one sendto per packet (the path before
 *           batching, and still the one without a send batch)
 *   batch   protect straight into a send-queue slot (pal_srtp_protect_parts),
 *           and one sendmmsg per subscriber socket per frame
 *           (pal_send_batch_flush where the worker flushes: at the end of
 *           the iteration)
 *
 * Each subscriber has its own UDP socket (libnice has one per
 * PeerConnection). Datagrams go to a 127.0.0.1 socket that is never read
 * (the sender's CPU time then includes loopback's receive path up to the
 * full socket's drop: the server's cost does not include a reader), or with
 * --dest to an address behind a veth whose peer is down (bench/router.sh
 * sets it up in a private netns: the kernel's send side only, dropped by the
 * driver).
 *
 * Every variant runs in one process, interleaved, --rounds times, so their
 * ratios are measured side by side. Time is the forwarding thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: user + kernel, softirq included) per forwarded
 * packet (one packet to one subscriber). malloc/calloc/realloc are counted
 * while forwarding.
 *
 *   bench_router [--subs 10] [--packets 100000] [--burst 8] [--rounds 3] [--dest IP]
 *                [--uneven]   the second half of each frame's packets one byte
 *                             shorter, as a browser's VP8 packetizer splits a
 *                             frame "about equally" (two GSO runs per frame)
 *   bench_router --only <variant> ...   one variant, once (for callgrind:
 *                                       --toggle-collect='forward_frames*')
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "palabre/room.h"
#include "palabre/rtp.h"
#include "palabre/send_queue.h"
#include "palabre/srtp.h"
#include "palabre/twcc.h"
#include "palabre/wire.h"

enum send_mode { SEND_DROP, SEND_SENDTO, SEND_BATCH };

struct sink_ctx {
    struct pal_srtp *srtp; /* NULL: no encryption */
    /* +fb variants: the subscriber's side of transport-cc (what palabre-load
     * and browsers do): arrivals recorded, feedback built every 2 frames */
    struct pal_twcc *tw;
    struct pal_room_peer *peer;
    enum send_mode mode;
    int fd;
    struct sockaddr_in to;
    struct pal_send_queue *q;
    uint64_t packets;
};

/* The subscriber's clock for arrivals (+fb variants): the room's now, plus
 * a fixed one-way delay. */
static int64_t arrival_us;

/* The subscriber records the transport-wide number of what it receives (not
 * the server's work: callgrind_annotate --inclusive puts it apart). */
__attribute__((noinline)) void client_record(struct sink_ctx *s, const uint8_t *hdr,
                                             size_t hdr_len);
__attribute__((noinline)) void client_record(struct sink_ctx *s, const uint8_t *hdr,
                                             size_t hdr_len)
{
    uint8_t copy[128];
    struct pal_rtp_packet p;
    size_t el;
    if (hdr_len > sizeof(copy))
        return;
    memcpy(copy, hdr, hdr_len);
    if (pal_rtp_parse_header(&p, copy, hdr_len, NULL) != 0)
        return;
    const uint8_t *tw = pal_rtp_ext_find(&p, 3, &el);
    if (tw && el == 2)
        pal_twcc_on_packet(s->tw, pal_rd16(tw), arrival_us);
}

/* Mirrors pal_transport_sink_rtp (and its sendto fallback). */
static int sink_rtp(void *ctx, const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                    size_t body_len)
{
    struct sink_ctx *s = ctx;
    if (s->tw)
        client_record(s, hdr, hdr_len);
    size_t out = hdr_len + body_len;
    if (s->mode == SEND_BATCH) {
        uint8_t *slot = pal_send_queue_reserve(s->q);
        if (s->srtp && pal_srtp_protect_parts(s->srtp, hdr, hdr_len, body, body_len, slot,
                                              PAL_SEND_SLOT, &out))
            return -EIO;
        if (!s->srtp) {
            memcpy(slot, hdr, hdr_len);
            memcpy(slot + hdr_len, body, body_len);
        }
        pal_send_queue_commit(s->q, out);
    } else {
        uint8_t buf[PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER];
        if (s->srtp && pal_srtp_protect_parts(s->srtp, hdr, hdr_len, body, body_len, buf,
                                              sizeof(buf), &out))
            return -EIO;
        if (!s->srtp && s->mode == SEND_SENDTO) {
            memcpy(buf, hdr, hdr_len);
            memcpy(buf + hdr_len, body, body_len);
        }
        if (s->mode == SEND_SENDTO)
            sendto(s->fd, buf, out, MSG_DONTWAIT, (const struct sockaddr *)&s->to, sizeof(s->to));
    }
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

/* A 1,200-byte VP8 packet with a transport-cc extension and, as browsers
 * send them, a 15-bit picture id and TL0PICIDX; rid: the simulcast layer's
 * rid extension (its first packets), or NULL. */
#define EXT_RID 4
static size_t make_packet_of(uint8_t *buf, bool key, uint32_t ssrc, const char *rid)
{
    struct pal_rtp_header h = {.payload_type = 96, .ssrc = ssrc, .n_ext = 1};
    h.ext[0].id = 3;
    h.ext[0].len = 2;
    if (rid) {
        h.ext[1].id = EXT_RID;
        h.ext[1].len = (uint8_t)strlen(rid);
        memcpy(h.ext[1].data, rid, strlen(rid));
        h.n_ext = 2;
    }
    static uint8_t payload[1200 - 12 - 12];
    memset(payload, 0x5a, sizeof(payload));
    payload[0] = 0x90; /* X, S=1 */
    payload[1] = 0xC0; /* I, L */
    payload[2] = 0x80, payload[3] = 0x01, payload[4] = 0x00;
    payload[5] = key ? 0x00 : 0x01;
    size_t len;
    pal_rtp_write(&h, payload, sizeof(payload), buf, 1500, &len);
    return len;
}

static size_t make_packet(uint8_t *buf, bool key)
{
    return make_packet_of(buf, key, 0x2222, NULL);
}

/* Simulcast variants: layers q, h (not forwarded: the subscribers' tiles are
 * big) and f, 1, 2 and burst packets per frame. */
static const uint32_t LAYER_SSRC[3] = {0x3330, 0x3331, 0x2222};

#define MAX_ROUNDS 5

struct variant {
    const char *name;
    bool plain;
    bool simulcast;
    bool twcc; /* the subscribers negotiated transport-cc: each forwarded packet
                  gets their PC's transport-wide number, recorded by its estimator */
    bool fb;   /* and they send feedback every 2 frames, which the room decodes and
                  feeds its estimators (pal_room_on_rtcp); the room's clock is then
                  real time (33 ms per frame), for the estimator's send groups */
    enum pal_srtp_profile prof;
    enum send_mode mode;
    /* set up by variant_open */
    struct pal_room *room;
    struct pal_room_peer *pub;
    struct sink_ctx *sinks;
    struct pal_send_batch *batch;
    int nsub;
    uint16_t seq, low_seq[2];
    uint32_t frame;
    double us[MAX_ROUNDS];
    uint64_t fwd, allocs;
};

static struct variant variants[] = {
    {.name = "router", .plain = true, .mode = SEND_DROP},
    {.name = "gcm", .prof = PAL_SRTP_AEAD_AES_128_GCM, .mode = SEND_DROP},
    {.name = "gcm+sendto", .prof = PAL_SRTP_AEAD_AES_128_GCM, .mode = SEND_SENDTO},
    {.name = "gcm+batch", .prof = PAL_SRTP_AEAD_AES_128_GCM, .mode = SEND_BATCH},
    {.name = "cm", .prof = PAL_SRTP_AES128_CM_SHA1_80, .mode = SEND_DROP},
    {.name = "cm+batch", .prof = PAL_SRTP_AES128_CM_SHA1_80, .mode = SEND_BATCH},
    {.name = "router+simulcast", .plain = true, .mode = SEND_DROP, .simulcast = true},
    {.name = "gcm+batch+simulcast", .prof = PAL_SRTP_AEAD_AES_128_GCM, .mode = SEND_BATCH,
     .simulcast = true},
    {.name = "gcm+batch+simulcast+twcc", .prof = PAL_SRTP_AEAD_AES_128_GCM, .mode = SEND_BATCH,
     .simulcast = true, .twcc = true},
    {.name = "gcm+batch+simulcast+twcc+fb", .prof = PAL_SRTP_AEAD_AES_128_GCM,
     .mode = SEND_BATCH, .simulcast = true, .twcc = true, .fb = true},
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

static void variant_open(struct variant *v, int nsub, struct sockaddr_in dest)
{
    v->nsub = nsub;
    pal_room_create("bench", NULL, &v->room);
    pal_room_peer_add(v->room, "pub", &v->pub);
    struct pal_media_track vt = {.mid = "1", .kind = PAL_MEDIA_VIDEO, .payload_type = 96,
                                 .clock_rate = 90000, .ssrc = 0x2222, .ext_twcc = 3};
    if (v->simulcast) {
        struct pal_media_track st = vt;
        st.ssrc = 0;
        st.ext_rid = EXT_RID;
        st.n_layers = 3;
        strcpy(st.rids[0], "q"), strcpy(st.rids[1], "h"), strcpy(st.rids[2], "f");
        pal_room_producer_add(v->room, v->pub, &st, 0);
    } else {
        pal_room_producer_add(v->room, v->pub, &vt, 0);
    }
    if (v->mode == SEND_BATCH && pal_send_batch_create(NULL, &v->batch))
        abort();
    v->sinks = calloc((size_t)nsub, sizeof(*v->sinks));
    for (int i = 0; i < nsub; i++) {
        struct sink_ctx *s = &v->sinks[i];
        char id[16];
        snprintf(id, sizeof(id), "s%d", i);
        struct pal_room_peer *p;
        pal_room_peer_add(v->room, id, &p);
        s->peer = p;
        if (v->fb && pal_twcc_create(0x5000u + (uint32_t)i, 0x1000u + (uint32_t)i, &s->tw))
            abort();
        s->srtp = v->plain ? NULL : make_srtp(v->prof);
        s->mode = v->mode;
        s->fd = v->mode == SEND_DROP ? -1 : socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        s->to = dest;
        if (v->mode == SEND_BATCH) {
            pal_send_queue_create(v->batch, &s->q);
            pal_send_queue_set_dest(s->q, s->fd, (const struct sockaddr *)&dest, sizeof(dest));
        }
        struct pal_media_sink ms = {.ctx = s, .send_rtp = sink_rtp, .send_rtcp = sink_rtcp};
        pal_room_set_sink(p, PAL_MEDIA_PC_SUBSCRIBE, &ms);
        struct pal_media_track t = vt;
        snprintf(t.mid, sizeof(t.mid), "v");
        t.ssrc = 0x1000u + (uint32_t)i;
        t.ext_twcc = v->twcc ? 3 : 0;
        pal_room_consumer_add(v->room, p, "pub", "1", &t, 0);
        pal_room_sink_ready(v->room, p, PAL_MEDIA_PC_SUBSCRIBE, 0);
    }
    /* a keyframe starts every consumer (simulcast: one per layer, with its
     * rid, the layers learnt; f last, the one the big tiles take) */
    uint8_t work[1600];
    for (int l = v->simulcast ? 0 : 2; l < 3; l++) {
        static const char *const rid[3] = {"q", "h", "f"};
        size_t len = make_packet_of(work, true, LAYER_SSRC[l], v->simulcast ? rid[l] : NULL);
        pal_wr16(work + 2, 1);
        struct pal_rtp_packet hdr;
        pal_rtp_parse(&hdr, work, len, NULL);
        pal_room_peer_accept_rtp(v->pub, &hdr);
        pal_room_on_rtp(v->room, v->pub, work, len, 1);
    }
    v->low_seq[0] = v->low_seq[1] = 2;
    if (v->batch)
        pal_send_batch_flush(v->batch);
    v->seq = 2;
    v->frame = 1;
}

static void variant_close(struct variant *v)
{
    for (int i = 0; i < v->nsub; i++) {
        pal_send_queue_destroy(v->sinks[i].q);
        pal_twcc_destroy(v->sinks[i].tw);
        pal_srtp_destroy(v->sinks[i].srtp);
        if (v->sinks[i].fd >= 0)
            close(v->sinks[i].fd);
    }
    pal_send_batch_destroy(v->batch);
    free(v->sinks);
    pal_room_destroy(v->room);
}

/* The subscriber builds its feedback (not the server's work either). */
__attribute__((noinline)) int client_feedback(struct sink_ctx *s, uint8_t *buf, size_t cap,
                                              size_t *len);
__attribute__((noinline)) int client_feedback(struct sink_ctx *s, uint8_t *buf, size_t cap,
                                              size_t *len)
{
    return pal_twcc_build(s->tw, buf, cap, len);
}

/* Every subscriber's feedback since the last call, into the room as its
 * transport hands it up (decrypted). */
static void feedback_round(struct variant *v, int64_t now_ms)
{
    uint8_t buf[1200];
    size_t len;
    for (int i = 0; i < v->nsub; i++)
        while (client_feedback(&v->sinks[i], buf, sizeof(buf), &len) == 0)
            pal_room_on_rtcp(v->room, v->sinks[i].peer, PAL_MEDIA_PC_SUBSCRIBE, buf, len, now_ms);
}

/* The room's clock: as the other variants always had it, or real time. */
static int64_t room_now(const struct variant *v)
{
    return v->fb ? 1000 + (int64_t)v->frame * 33 : 1000 + v->frame / 30;
}

/* n packets as frames of burst packets (same timestamp, marker on the
 * last); the batch is flushed after each frame, where the worker's
 * iteration ends. */
__attribute__((noinline)) void forward_frames(struct variant *v, const uint8_t *tmpl, size_t len,
                                              int n, int burst);
static bool uneven;

__attribute__((noinline)) void forward_frames(struct variant *v, const uint8_t *tmpl, size_t len,
                                              int n, int burst)
{
    uint8_t work[1600];
    for (int i = 0; i < n; i++) {
        int k = i % burst;
        arrival_us = room_now(v) * 1000 + 20000;
        for (int l = 0; v->simulcast && k == 0 && l < 2; l++) /* q: 1, h: 2 per frame */
            for (int j = 0; j <= l; j++) {
                memcpy(work, tmpl, len);
                pal_wr16(work + 2, v->low_seq[l]++);
                pal_wr32(work + 4, v->frame * 3000u);
                pal_wr32(work + 8, LAYER_SSRC[l]);
                pal_room_on_rtp(v->room, v->pub, work, len / (size_t)(4 >> l), room_now(v));
            }
        memcpy(work, tmpl, len); /* what libnice's receive buffer would hold */
        pal_wr16(work + 2, v->seq++);
        pal_wr32(work + 4, v->frame * 3000u);
        if (k == burst - 1 || i == n - 1)
            work[1] |= 0x80;
        size_t plen = uneven && k >= burst / 2 ? len - 1 : len;
        pal_room_on_rtp(v->room, v->pub, work, plen, room_now(v));
        if (k == burst - 1 || i == n - 1) {
            if (v->batch)
                pal_send_batch_flush(v->batch);
            if (v->fb && v->frame % 2 == 0)
                feedback_round(v, room_now(v));
            v->frame++;
        }
    }
}

static uint64_t forwarded(const struct variant *v)
{
    uint64_t n = 0;
    for (int i = 0; i < v->nsub; i++)
        n += v->sinks[i].packets;
    return n;
}

/* One timed pass: µs of thread CPU per forwarded packet. */
static double run(struct variant *v, const uint8_t *tmpl, size_t len, int npk, int burst)
{
    uint64_t f0 = forwarded(v);
    unsigned long long a0 = alloc_calls;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    alloc_counting = 1;
    forward_frames(v, tmpl, len, npk, burst);
    alloc_counting = 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    uint64_t fwd = forwarded(v) - f0;
    v->fwd += fwd;
    v->allocs += alloc_calls - a0;
    double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    return fwd ? us / (double)fwd : 0.0;
}

static double best(const struct variant *v, int rounds)
{
    double m = v->us[0];
    for (int r = 1; r < rounds; r++)
        m = v->us[r] < m ? v->us[r] : m;
    return m;
}

static struct variant *find(const char *name)
{
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (strcmp(variants[i].name, name) == 0)
            return &variants[i];
    return NULL;
}

int main(int argc, char **argv)
{
    int nsub = 10, npk = 100000, burst = 8, rounds = 3;
    const char *only = NULL, *dest_ip = NULL;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--uneven") == 0) {
            uneven = true;
            continue;
        }
        if (!val) {
            bad = true;
            break;
        }
        i++;
        if (strcmp(a, "--subs") == 0)
            nsub = atoi(val);
        else if (strcmp(a, "--packets") == 0)
            npk = atoi(val);
        else if (strcmp(a, "--burst") == 0)
            burst = atoi(val);
        else if (strcmp(a, "--rounds") == 0)
            rounds = atoi(val);
        else if (strcmp(a, "--only") == 0)
            only = val;
        else if (strcmp(a, "--dest") == 0)
            dest_ip = val;
        else
            bad = true;
    }
    if (bad || nsub < 1 || npk < 1 || burst < 1 || rounds < 1 || rounds > MAX_ROUNDS ||
        (only && !find(only))) {
        fprintf(stderr, "usage: bench_router [--subs N] [--packets N] [--burst N] [--rounds 1..5] "
                        "[--dest IP] [--uneven] [--only router|gcm|gcm+sendto|gcm+batch|cm|cm+batch|"
                        "router+simulcast|gcm+batch+simulcast|gcm+batch+simulcast+twcc|\n"
                        "gcm+batch+simulcast+twcc+fb]\n");
        return 2;
    }
    /* the destination: a never-read socket on 127.0.0.1, or --dest IP:9 */
    struct sockaddr_in dest = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int drain_fd = -1;
    if (dest_ip) {
        dest.sin_port = htons(9);
        if (inet_pton(AF_INET, dest_ip, &dest.sin_addr) != 1)
            return 2;
    } else {
        drain_fd = socket(AF_INET, SOCK_DGRAM, 0);
        socklen_t dl = sizeof(dest);
        if (drain_fd < 0 || bind(drain_fd, (struct sockaddr *)&dest, sizeof(dest)) ||
            getsockname(drain_fd, (struct sockaddr *)&dest, &dl)) {
            perror("drain socket");
            return 1;
        }
    }
    uint8_t tmpl[1600];
    size_t len = make_packet(tmpl, false);
    if (only) {
        struct variant *v = find(only);
        variant_open(v, nsub, dest);
        double us = run(v, tmpl, len, npk, burst);
        printf("%s: %d subscribers, %d packets in, %llu forwarded, %.3f us per forwarded packet, "
               "%llu allocations\n",
               v->name, nsub, npk, (unsigned long long)v->fwd, us, (unsigned long long)v->allocs);
        variant_close(v);
        return 0;
    }
    for (size_t i = 0; i < N_VARIANTS; i++)
        variant_open(&variants[i], nsub, dest);
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < N_VARIANTS; i++)
            variants[i].us[r] = run(&variants[i], tmpl, len, npk, burst);
    printf("%d subscribers, %d packets in per round, frames of %d packets%s, to %s, %d rounds "
           "interleaved\n",
           nsub, npk, burst, uneven ? " (two sizes, 1 byte apart)" : "", dest_ip ? dest_ip : "127.0.0.1 (never read)", rounds);
    printf("| variant | us CPU per forwarded packet, each round | allocations per forwarded packet |\n"
           "|---|---|---:|\n");
    for (size_t i = 0; i < N_VARIANTS; i++) {
        struct variant *v = &variants[i];
        printf("| %s |", v->name);
        for (int r = 0; r < rounds; r++)
            printf(" %.3f%s", v->us[r], r + 1 < rounds ? " /" : "");
        printf(" | %.2f |\n", v->fwd ? (double)v->allocs / (double)v->fwd : 0.0);
    }
    double router = best(find("router"), rounds), gcm = best(find("gcm"), rounds),
           one = best(find("gcm+sendto"), rounds), bat = best(find("gcm+batch"), rounds);
    printf("split (GCM, lowest of the rounds): router/header %.3f, SRTP %.3f, send %.3f "
           "(batched; per-packet sendto: %.3f); total %.3f us = %.0f forwarded packets/s per "
           "core (goal 3.000 us)\n",
           router, gcm - router, bat - gcm, one - gcm, bat, 1e6 / bat);
    printf("per-packet sendto / batched sendmmsg, whole path, same round:");
    for (int r = 0; r < rounds; r++)
        printf(" %.2f", find("gcm+sendto")->us[r] / find("gcm+batch")->us[r]);
    printf("\n");
    for (size_t i = 0; i < N_VARIANTS; i++)
        variant_close(&variants[i]);
    if (drain_fd >= 0)
        close(drain_fd);
    return 0;
}
