/* Forwarding benchmark: 1 publisher -> N subscribers, real SRTP, no network
 * stack for ICE (in-memory transports).
 *
 * For every published 1,200-byte VP8-like RTP packet: SRTP unprotect once,
 * parse, then per subscriber: rewrite SSRC/seq/timestamp/PT/extension ids
 * of the header, SRTP protect header and payload into a per-consumer output
 * buffer (the cipher's output is the only copy of the payload), store it in
 * that consumer's retransmission ring, and queue it for a batched send. The
 * same work is run in passes that add one stage at a time, so the cost of
 * each stage is a difference measured in the same run:
 *
 *   P0 ingress   unprotect + parse (once per published packet)
 *   P1 header    P0 + per-subscriber rewrite + rtx ring store
 *   P2 srtp      P1 + per-subscriber protect
 *   P3 mem sink  P2 + queue into mmsghdr batches, flushed to an in-memory sink
 *   P4 sendmmsg  P2 + sendmmsg(32) on one UDP socket to 127.0.0.1, where a
 *                sink socket that is never read drops them (the sender also
 *                pays loopback's receive path)
 *   P5 veth      P2 + sendmmsg(32) to --veth-dest, a neighbour behind a veth
 *                whose peer is down: the kernel send side only, dropped at
 *                the driver (bench/forward.sh sets it up in a private netns)
 *
 * Time is the thread CPU time (CLOCK_THREAD_CPUTIME_ID) spent forwarding,
 * excluding the publisher-side protect that makes the input packets; each
 * pass runs 3 times interleaved with the others and the lowest is kept.
 * Both SRTP engines run side by side: OpenSSL EVP (media/srtp_evp.c, the
 * default) and Debian's libsrtp2 (NSS), for AEAD_AES_128_GCM and
 * AES_CM_128_HMAC_SHA1_80.
 * malloc/calloc/realloc are interposed and counted while forwarding.
 *
 *   build/bench_forward [--subs 1,10,50] [--forwards 100000] [--no-udp]
 *   build/bench_forward --callgrind gcm-evp   (small run for valgrind --tool=callgrind)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "palabre/rtp.h"
#include "palabre/rtx_buffer.h"
#include "palabre/srtp.h"

#include "alloc_count.h"

#define PKT_LEN 1200
#define SLOT (PAL_RTP_MAX_PACKET + PAL_SRTP_MAX_TRAILER)
#define BATCH 32
#define BURST 8   /* received packets handled before a flush */
#define CHUNK 512 /* input packets prepared (untimed) between timed runs */
#define MAX_SUBS 256
#define REPEAT 3

enum pass { P_INGRESS, P_HEADER, P_SRTP, P_MEM, P_UDP, P_VETH, N_PASS };

struct sub {
    struct pal_srtp *srtp;
    struct pal_rtx_buffer *rtx;
    uint32_t ssrc;
    uint16_t seq_off;
    uint32_t ts_off;
    struct sockaddr_in addr;
};

struct room {
    struct pal_srtp *pub_out; /* the publisher's browser side */
    struct pal_srtp *pub_in;  /* our side: unprotect */
    struct sub subs[MAX_SUBS];
    int n_subs;
    struct pal_rtp_ext_map map;
    int fd;
    /* batch */
    uint8_t bufs[BATCH][SLOT];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    int nb;
    unsigned long long sent, sink_bytes;
};

static void random_keys(struct pal_srtp_keys *k, enum pal_srtp_profile p)
{
    size_t kl, sl;
    memset(k, 0, sizeof(*k));
    pal_srtp_profile_sizes(p, &kl, &sl);
    k->profile = p;
    k->key_len = (uint8_t)kl;
    k->salt_len = (uint8_t)sl;
    for (size_t i = 0; i < sizeof(k->local_key); i++) {
        k->local_key[i] = (uint8_t)rand();
        k->remote_key[i] = (uint8_t)rand();
    }
    for (size_t i = 0; i < sizeof(k->local_salt); i++) {
        k->local_salt[i] = (uint8_t)rand();
        k->remote_salt[i] = (uint8_t)rand();
    }
}

static void die(const char *what)
{
    fprintf(stderr, "bench_forward: %s\n", what);
    exit(1);
}

static struct in_addr veth_dest;

static void room_init(struct room *r, enum pal_srtp_profile prof, enum pal_srtp_engine eng,
                      int n_subs, int fd, int port, enum pass pass)
{
    memset(r, 0, sizeof(*r));
    struct pal_srtp_keys k, mirror;
    random_keys(&k, prof);
    mirror = k; /* publisher side: local/remote swapped */
    memcpy(mirror.local_key, k.remote_key, sizeof(k.local_key));
    memcpy(mirror.local_salt, k.remote_salt, sizeof(k.local_salt));
    memcpy(mirror.remote_key, k.local_key, sizeof(k.local_key));
    memcpy(mirror.remote_salt, k.local_salt, sizeof(k.local_salt));
    if (pal_srtp_create_engine(&k, eng, &r->pub_in) || pal_srtp_create(&mirror, &r->pub_out))
        die("srtp create");
    r->n_subs = n_subs;
    for (int i = 0; i < n_subs; i++) {
        struct sub *s = &r->subs[i];
        struct pal_srtp_keys sk;
        random_keys(&sk, prof);
        if (pal_srtp_create_engine(&sk, eng, &s->srtp) ||
            pal_rtx_buffer_create(512, SLOT, PAL_RTX_VIDEO_MAX_AGE_MS, &s->rtx))
            die("subscriber create");
        s->ssrc = 0x10000000u + (uint32_t)i;
        s->seq_off = (uint16_t)(rand() & 0x7FFF);
        s->ts_off = (uint32_t)rand();
        s->addr.sin_family = AF_INET;
        s->addr.sin_port = htons((uint16_t)port);
        s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (pass == P_VETH)
            s->addr.sin_addr = veth_dest;
    }
    pal_rtp_ext_map_identity(&r->map);
    r->map.map[3] = 5; /* transport-cc id differs on the subscribe PC */
    r->map.map[4] = 1; /* mid */
    r->fd = fd;
}

static void room_free(struct room *r)
{
    pal_srtp_destroy(r->pub_in);
    pal_srtp_destroy(r->pub_out);
    for (int i = 0; i < r->n_subs; i++) {
        pal_srtp_destroy(r->subs[i].srtp);
        pal_rtx_buffer_destroy(r->subs[i].rtx);
    }
}

/* One publisher packet: VP8 descriptor + transport-cc (id 3) + mid (id 4). */
static size_t make_packet(struct room *r, uint16_t seq, uint32_t ts, uint8_t *out)
{
    struct pal_rtp_header h = {.marker = (seq % 4) == 3, .payload_type = 96, .seq = seq,
                               .timestamp = ts, .ssrc = 0xABCDEF01, .n_ext = 2};
    h.ext[0].id = 3;
    h.ext[0].len = 2;
    h.ext[0].data[0] = (uint8_t)(seq >> 8);
    h.ext[0].data[1] = (uint8_t)seq;
    h.ext[1].id = 4;
    h.ext[1].len = 1;
    h.ext[1].data[0] = '1';
    uint8_t payload[PKT_LEN];
    size_t plen = PKT_LEN - pal_rtp_size(&h, 0);
    memset(payload, 0x5A, plen);
    payload[0] = 0x90;
    payload[1] = 0x80;
    payload[2] = (uint8_t)(seq & 0x7F);
    size_t n;
    if (pal_rtp_write(&h, payload, plen, out, SLOT, &n) ||
        pal_srtp_protect(r->pub_out, out, n, SLOT, &n))
        die("make packet");
    return n;
}

static void flush(struct room *r, enum pass pass)
{
    if (r->nb == 0)
        return;
    if (pass == P_UDP || pass == P_VETH) {
        int done = 0;
        while (done < r->nb) {
            int k = sendmmsg(r->fd, r->msgs + done, (unsigned)(r->nb - done), 0);
            if (k <= 0)
                break; /* ENOBUFS etc: dropped, as a real sender would */
            done += k;
        }
        r->sent += (unsigned)done;
    } else {
        /* In-memory sink: the bytes are "sent" by reading their length. */
        for (int i = 0; i < r->nb; i++)
            r->sink_bytes += r->msgs[i].msg_hdr.msg_iov->iov_len;
        r->sent += (unsigned)r->nb;
    }
    r->nb = 0;
}

/* The forwarding path under test. */
__attribute__((noipa)) static void forward_packet(struct room *r, uint8_t *pkt, size_t len,
                                                     enum pass pass, int64_t now_ms)
{
    size_t n;
    if (pal_srtp_unprotect(r->pub_in, pkt, len, &n))
        die("unprotect");
    struct pal_rtp_packet p;
    if (pal_rtp_parse(&p, pkt, n, NULL))
        die("parse");
    if (pass == P_INGRESS)
        return;
    for (int i = 0; i < r->n_subs; i++) {
        struct sub *s = &r->subs[i];
        uint8_t *out = r->bufs[r->nb];
        struct pal_rtp_rewrite rw = {s->ssrc, (uint16_t)(p.seq + s->seq_off),
                                     p.timestamp + s->ts_off, 96, &r->map};
        /* The header rewritten, the payload read where it was received:
         * the cipher makes the only copy (as pal_transport_sink_rtp). */
        uint8_t hdr[PAL_RTP_MAX_PACKET];
        size_t hlen, olen = p.len;
        pal_rtp_rewrite_header(&p, &rw, hdr, sizeof(hdr), &hlen);
        if (pass >= P_SRTP) {
            if (pal_srtp_protect_parts(s->srtp, hdr, hlen, p.buf + hlen, p.len - hlen, out, SLOT,
                                       &olen))
                die("protect");
        } else {
            memcpy(out, hdr, hlen);
            memcpy(out + hlen, p.buf + hlen, p.len - hlen);
        }
        pal_rtx_buffer_store(s->rtx, rw.seq, out, olen, now_ms);
        if (pass < P_MEM)
            continue;
        r->iov[r->nb].iov_base = out;
        r->iov[r->nb].iov_len = olen;
        struct msghdr *m = &r->msgs[r->nb].msg_hdr;
        m->msg_name = &s->addr;
        m->msg_namelen = sizeof(s->addr);
        m->msg_iov = &r->iov[r->nb];
        m->msg_iovlen = 1;
        if (++r->nb == BATCH)
            flush(r, pass);
    }
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct result {
    double secs;
    unsigned long long packets, forwards, allocs;
};

static struct result run_pass(enum pal_srtp_profile prof, enum pal_srtp_engine eng, int n_subs,
                              enum pass pass, long forwards, int fd, int port)
{
    static struct room r;
    static uint8_t in[CHUNK][SLOT];
    static size_t in_len[CHUNK];
    room_init(&r, prof, eng, n_subs, fd, port, pass);
    long packets = forwards / (pass == P_INGRESS ? 1 : n_subs);
    if (packets < 2 * CHUNK)
        packets = 2 * CHUNK;
    struct result res = {0};
    uint16_t seq = 1000;
    uint32_t ts = 12345;
    int64_t now = 0;
    for (long done = 0; done < packets; done += CHUNK) {
        for (int i = 0; i < CHUNK; i++) {
            in_len[i] = make_packet(&r, seq++, ts, in[i]);
            if (i % 4 == 3)
                ts += 3000;
        }
        unsigned long long a0 = alloc_calls;
        alloc_counting = 1;
        double t0 = cpu_now();
        for (int i = 0; i < CHUNK; i++) {
            forward_packet(&r, in[i], in_len[i], pass, now);
            if (i % BURST == BURST - 1) {
                flush(&r, pass);
                now++;
            }
        }
        flush(&r, pass);
        res.secs += cpu_now() - t0;
        alloc_counting = 0;
        res.allocs += alloc_calls - a0;
        res.packets += CHUNK;
    }
    res.forwards = res.packets * (unsigned)n_subs;
    room_free(&r);
    return res;
}

static int parse_list(const char *s, int *out, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        out[n++] = atoi(s);
        const char *c = strchr(s, ',');
        if (!c)
            break;
        s = c + 1;
    }
    return n;
}

int main(int argc, char **argv)
{
    int subs[8] = {1, 10, 50};
    int n_subs_list = 3;
    long forwards = 100000;
    int udp = 1, veth = 0;
    const char *callgrind = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--subs") && i + 1 < argc)
            n_subs_list = parse_list(argv[++i], subs, 8);
        else if (!strcmp(argv[i], "--forwards") && i + 1 < argc)
            forwards = atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-udp"))
            udp = 0;
        else if (!strcmp(argv[i], "--veth-dest") && i + 1 < argc) {
            if (inet_pton(AF_INET, argv[++i], &veth_dest) != 1)
                die("--veth-dest: an IPv4 address");
            veth = 1;
        } else if (!strcmp(argv[i], "--callgrind") && i + 1 < argc)
            callgrind = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--subs 1,10,50] [--forwards N] [--no-udp] [--veth-dest IP]\n"
                    "       %s --callgrind gcm-evp|gcm-libsrtp|cm-evp|cm-libsrtp\n",
                    argv[0], argv[0]);
            return 2;
        }
    }
    for (int i = 0; i < n_subs_list; i++)
        if (subs[i] < 1 || subs[i] > MAX_SUBS)
            die("--subs: 1..256");
    srand(42);

    /* Sink socket: bound on 127.0.0.1, never read (a full queue drops). */
    int port = 0, fd = -1;
    if (udp || callgrind) {
        int rx = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        if (rx < 0 || bind(rx, (struct sockaddr *)&a, sizeof(a)) ||
            getsockname(rx, (struct sockaddr *)&a, &al))
            die("sink socket (run in a netns with lo up)");
        port = ntohs(a.sin_port);
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0)
            die("socket");
    }

    if (callgrind) {
        /* valgrind --tool=callgrind --toggle-collect=forward_packet: only the
         * forwarding path is counted (10 subscribers, sendmmsg to lo). */
        enum pal_srtp_profile prof = strncmp(callgrind, "gcm", 3) ? PAL_SRTP_AES128_CM_SHA1_80
                                                                  : PAL_SRTP_AEAD_AES_128_GCM;
        enum pal_srtp_engine eng =
            strstr(callgrind, "libsrtp") ? PAL_SRTP_ENGINE_LIBSRTP : PAL_SRTP_ENGINE_DEFAULT;
        struct result r = run_pass(prof, eng, 10, P_UDP, 10 * 2 * CHUNK, fd, port);
        printf("callgrind %s: %llu published packets, %llu forwarded, %llu mallocs\n", callgrind,
               r.packets, r.forwards, r.allocs);
        return 0;
    }

    printf("# libsrtp: %s\n", pal_srtp_backend());
    printf("# %d-byte RTP packets, 1 publisher -> N subscribers, thread CPU time,"
           " µs per forwarded packet (= per packet per subscriber)\n", PKT_LEN);
    printf("# ingress = unprotect+parse / N; header = rewrite + rtx store; send: in-memory sink, "
           "sendmmsg(%d) to 127.0.0.1 (lo), sendmmsg(%d) out of a veth (send side only)\n\n",
           BATCH, BATCH);
    printf("| profile | protect by | subs | ingress/N | header | srtp protect | send mem |"
           " send lo | send veth | total mem | total lo | total veth | fwd/s/core (veth) |"
           " mallocs/fwd |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    enum pal_srtp_profile profs[2] = {PAL_SRTP_AEAD_AES_128_GCM, PAL_SRTP_AES128_CM_SHA1_80};
    const char *eng_name[2] = {"OpenSSL EVP", "libsrtp (NSS)"};
    for (int combo = 0; combo < 4; combo++) {
        int pi = combo / 2;
        enum pal_srtp_engine eng = (enum pal_srtp_engine)(combo % 2);
        for (int si = 0; si < n_subs_list; si++) {
            int ns = subs[si];
            struct result res[N_PASS];
            double us[N_PASS];
            memset(res, 0, sizeof(res));
            for (int pass = 0; pass < N_PASS; pass++)
                us[pass] = 1e9;
            /* Passes interleaved, REPEAT rounds, the lowest of each kept: the
             * differences between passes are then less exposed to noise from
             * other processes on the machine. */
            for (int rep = 0; rep < REPEAT; rep++) {
                for (int pass = 0; pass < N_PASS; pass++) {
                    if ((pass == P_UDP && !udp) || (pass == P_VETH && !veth)) {
                        us[pass] = 0;
                        continue;
                    }
                    struct result one =
                        run_pass(profs[pi], eng, ns, (enum pass)pass, forwards, fd, port);
                    /* per forwarded packet; ingress is per published packet / N */
                    double per = pass == P_INGRESS ? (double)one.packets * ns
                                                   : (double)one.forwards;
                    double v = one.secs * 1e6 / per;
                    if (v < us[pass])
                        us[pass] = v;
                    res[pass].allocs += one.allocs;
                    res[pass].forwards += one.forwards;
                }
            }
            double hdr = us[P_HEADER] - us[P_INGRESS];
            double srtp = us[P_SRTP] - us[P_HEADER];
            double smem = us[P_MEM] - us[P_SRTP];
            char cell[4][32];
            snprintf(cell[0], 32, udp ? "%.3f" : "n/a", us[P_UDP] - us[P_SRTP]);
            snprintf(cell[1], 32, veth ? "%.3f" : "n/a", us[P_VETH] - us[P_SRTP]);
            snprintf(cell[2], 32, udp ? "%.3f" : "n/a", us[P_UDP]);
            snprintf(cell[3], 32, veth ? "%.3f" : "n/a", us[P_VETH]);
            char rate[32] = "n/a";
            if (veth)
                snprintf(rate, sizeof(rate), "%.0fk", 1e3 / us[P_VETH]);
            /* allocations over every timed forwarding pass */
            unsigned long long allocs = 0, fwd = 0;
            for (int pass = P_HEADER; pass < N_PASS; pass++) {
                allocs += res[pass].allocs;
                fwd += res[pass].forwards;
            }
            printf("| %s | %s | %d | %.3f | %.3f | %.3f | %.3f | %s | %s | %.3f | %s | %s | %s |"
                   " %.2f |\n",
                   pal_srtp_profile_name(profs[pi]), eng_name[eng], ns, us[P_INGRESS], hdr, srtp,
                   smem, cell[0], cell[1], us[P_MEM], cell[2], cell[3], rate,
                   fwd ? (double)allocs / (double)fwd : 0.0);
            fflush(stdout);
        }
    }
    if (fd >= 0)
        close(fd);
    return 0;
}
