/* Audio mixer cost: one room where `speakers` participants speak and
 * `participants` receive the mix (the speakers included, N-1). Publishers'
 * packets are encoded beforehand (not the mixer's cost); the timed part is
 * what the mixer thread does: push RTP, tick every 20 ms (jitter pop, decode,
 * mix, limit, encode, RTP header per output).
 *
 *   build/bench_mixer_audio [participants=200] [speakers=3] [ticks=1500] [complexity=5]
 *                           [silent=0] [levels=0]
 *
 * silent: participants (after the speakers) who also publish, with an open
 * microphone in a quiet room (-60 dBov noise): decoded, never mixed.
 * levels=1: packets carry their RFC 6464 level, so quiet inputs are skipped.
 *
 * Prints CPU per tick and per participant, the cost split, and the ratio
 * against one encode per listener (measured encode cost x participants). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/mixer.h"
#include "palabre/mixer/cpu_clock.h"
#include "palabre/mixer/audio_mixer.h"
#include "palabre/mixer/opus_codec.h"
#include "palabre/rtp.h"

static uint64_t packets_out, bytes_out;
static void on_packet(void *ctx, uint32_t id, const uint8_t *rtp, size_t len)
{
    packets_out++;
    bytes_out += len;
}

struct frame {
    uint8_t pkt[1500];
    size_t len;
};

int main(int argc, char **argv)
{
    int participants = argc > 1 ? atoi(argv[1]) : 200;
    int speakers = argc > 2 ? atoi(argv[2]) : 3;
    int ticks = argc > 3 ? atoi(argv[3]) : 1500;
    int complexity = argc > 4 ? atoi(argv[4]) : 5;
    int silent = argc > 5 ? atoi(argv[5]) : 0;
    bool levels = argc > 6 && atoi(argv[6]) != 0;
    if (participants < speakers + silent || speakers < 1 || ticks < 10 || silent < 0)
        return 2;
    int publishers = speakers + silent;

    /* Speech-like publishers: harmonics of a gliding pitch, syllable envelope. */
    struct frame *in = calloc((size_t)publishers * ticks, sizeof(*in));
    for (int s = 0; s < publishers; s++) {
        if (s > speakers) { /* quiet microphones all send the same noise: encode it once */
            memcpy(&in[(size_t)s * ticks], &in[(size_t)speakers * ticks], ticks * sizeof(*in));
            continue;
        }
        struct pal_opus_encoder *enc;
        struct pal_opus_encoder_config c;
        pal_opus_encoder_config_default(&c);
        pal_opus_encoder_create(&c, &enc);
        double ph = 0;
        for (int t = 0; t < ticks; t++) {
            int16_t pcm[PAL_OPUS_FRAME];
            for (int i = 0; i < PAL_OPUS_FRAME; i++) {
                double tt = (t * PAL_OPUS_FRAME + i) / 48000.0;
                double f0 = 120 + 40 * s + 20 * sin(2 * M_PI * 0.7 * tt);
                ph += 2 * M_PI * f0 / 48000.0;
                double env = 0.5 + 0.5 * sin(2 * M_PI * (3 + s) * tt);
                double v = 0;
                for (int h = 1; h <= 8; h++)
                    v += sin(h * ph) / h;
                pcm[i] = s < speakers ? (int16_t)(4000 * env * v + (rand() % 200 - 100))
                                      : (int16_t)(rand() % 64 - 32);
            }
            uint8_t payload[PAL_OPUS_MAX_PACKET];
            int n = pal_opus_encode(enc, pcm, payload, sizeof(payload));
            struct pal_rtp_header h = {.payload_type = 111, .seq = (uint16_t)t,
                                       .timestamp = (uint32_t)t * PAL_OPUS_FRAME,
                                       .ssrc = 100u + (uint32_t)s};
            struct frame *f = &in[(size_t)s * ticks + t];
            pal_rtp_write(&h, payload, (size_t)n, f->pkt, sizeof(f->pkt), &f->len);
        }
        pal_opus_encoder_destroy(enc);
    }

    struct pal_audio_mixer_config ac = {.payload_type = 111, .jitter_min_ms = 20,
                                        .jitter_max_ms = 40};
    pal_opus_encoder_config_default(&ac.opus);
    ac.opus.complexity = complexity;
    struct pal_audio_mixer_listener l = {NULL, on_packet};
    struct pal_audio_mixer *am;
    if (pal_audio_mixer_create(&ac, &l, &am) != 0)
        return 1;
    for (int s = 0; s < publishers; s++)
        pal_audio_mixer_add_input(am, (uint32_t)s + 1, (uint32_t)s + 1);
    for (int p = 0; p < participants; p++) /* the first outputs are the publishers' */
        pal_audio_mixer_add_output(am, 1000u + (uint32_t)p,
                                   p < publishers ? (uint32_t)p + 1 : 0, 5000u + (uint32_t)p);

    uint64_t t0 = pal_mixer_cpu_ns(), push_ns = 0;
    for (int t = 0; t < ticks; t++) {
        uint64_t a = pal_mixer_cpu_ns();
        for (int s = 0; s < publishers; s++) {
            struct frame *f = &in[(size_t)s * ticks + t];
            struct pal_rtp_packet pk;
            pal_rtp_parse(&pk, f->pkt, f->len, NULL);
            if (levels)
                pal_audio_mixer_note_level(am, (uint32_t)s + 1, s < speakers ? 20 : 90, t * 20);
            pal_audio_mixer_push(am, (uint32_t)s + 1, pk.seq, pk.timestamp, pal_rtp_payload(&pk),
                                 pk.payload_len, t * 20);
        }
        push_ns += pal_mixer_cpu_ns() - a;
        pal_audio_mixer_tick(am, t * 20 + 5);
    }
    uint64_t total = pal_mixer_cpu_ns() - t0;
    struct pal_audio_mixer_stats st;
    pal_audio_mixer_get_stats(am, &st);

    double per_tick_us = total / 1e3 / ticks;
    double core_pct = per_tick_us / 20000.0 * 100.0;
    double enc_us = st.encodes ? st.ns_encode / 1e3 / st.encodes : 0;
    double naive_tick_us = per_tick_us - st.ns_encode / 1e3 / ticks + enc_us * participants;
    printf("audio mixer: %d participants, %d speaking, %d silent publishers%s, %d ticks (%.0f s "
           "of audio), complexity %d\n",
           participants, speakers, silent, levels ? " (with RFC 6464 levels)" : "", ticks,
           ticks * 0.02, complexity);
    printf("  cpu per 20 ms tick:          %8.1f us  (%.2f%% of a core)\n", per_tick_us, core_pct);
    printf("  cpu per participant:         %8.3f us per tick (%.4f%% of a core)\n",
           per_tick_us / participants, core_pct / participants);
    double fixed_us = (st.ns_decode + st.ns_mix + st.ns_encode + push_ns) / 1e3 / ticks;
    double per_out_us = (per_tick_us - fixed_us) / participants;
    printf("  fixed per tick (decode, mix, %.0f encodes): %.1f us; marginal per listener: %.3f us\n",
           (double)st.encodes / ticks, fixed_us, per_out_us);
    printf("  listeners one core could serve in this room shape: (20000 - fixed) / marginal = %.0f\n",
           (20000.0 - fixed_us) / per_out_us);
    printf("  split per tick: push %.1f us, decode %.1f us (%d inputs), mix+limit %.1f us, "
           "encode %.1f us (%.1f encodes), packetize %.1f us (%d outputs)\n",
           push_ns / 1e3 / ticks, st.ns_decode / 1e3 / ticks, publishers,
           st.ns_mix / 1e3 / ticks, st.ns_encode / 1e3 / ticks, (double)st.encodes / ticks,
           st.ns_packetize / 1e3 / ticks, participants);
    printf("  one Opus encode: %.1f us; one encode per participant would cost %.1f us per tick: "
           "shared encode is %.1fx cheaper\n",
           enc_us, naive_tick_us, naive_tick_us / per_tick_us);
    printf("  packets out %llu, %.1f kbit/s per output\n", (unsigned long long)packets_out,
           bytes_out * 8.0 / participants / (ticks * 0.02) / 1000.0);
    pal_audio_mixer_destroy(am);
    free(in);
    return 0;
}
