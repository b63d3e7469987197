/* The audio half of a room's mixer: one jitter buffer and Opus decoder per
 * input, a 20 ms mixing clock, and Opus encodes for the outputs.
 *
 * Each tick, every input gives one frame (decoded, or concealed with FEC/PLC)
 * or nothing (idle). An input "speaks" while its level is above -50 dBov
 * (with 500 ms hangover); only speaking inputs are summed (int32). Outputs
 * whose participant is not speaking (listeners who do not publish, muted or
 * silent publishers) all get the same mix: it is limited and encoded once.
 * An output whose participant speaks gets the mix minus its own
 * contribution (N-1), with its own limiter and encoder (created on first
 * use, kept while the output lives). The limiter is a gain envelope (instant
 * attack, ~0.4 s release) followed by a soft knee above 0.9 full scale, so the
 * int16 output saturates smoothly and never wraps around.
 *
 * When the publisher's packets carry their audio level (RFC 6464, passed with
 * pal_audio_mixer_note_level), an input quieter than -50 dBov for 500 ms is
 * not decoded at all: its packets are popped and dropped, and its decoder is
 * reset when it speaks again. Open but quiet microphones then cost nothing.
 *
 * Thread: one owner thread; listener calls happen inside pal_audio_mixer_tick. */
#ifndef PALABRE_MIXER_AUDIO_MIXER_H
#define PALABRE_MIXER_AUDIO_MIXER_H

#include "palabre/common.h"
#include "palabre/mixer/opus_codec.h"

struct pal_audio_mixer;

struct pal_audio_mixer_config {
    uint8_t payload_type;
    struct pal_opus_encoder_config opus;
    uint32_t jitter_min_ms, jitter_max_ms;
};

struct pal_audio_mixer_listener {
    void *ctx;
    void (*on_output_packet)(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len);
};

/* Cumulative cost split, nanoseconds of CLOCK_THREAD_CPUTIME_ID. */
struct pal_audio_mixer_stats {
    uint64_t ticks, decoded, concealed, fec_used, skipped_quiet, encodes, packets_out;
    uint64_t ns_decode, ns_mix, ns_encode, ns_packetize;
    uint64_t encoders; /* Opus encoders held now (shared and N-1) */
};

int pal_audio_mixer_create(const struct pal_audio_mixer_config *c,
                           const struct pal_audio_mixer_listener *l,
                           struct pal_audio_mixer **out);
void pal_audio_mixer_destroy(struct pal_audio_mixer *am);

/* 0, -EEXIST, -ENOMEM */
int pal_audio_mixer_add_input(struct pal_audio_mixer *am, uint32_t input_id,
                              uint32_t participant_id);
/* 0, -ENOENT */
int pal_audio_mixer_remove_input(struct pal_audio_mixer *am, uint32_t input_id);
bool pal_audio_mixer_has_input(const struct pal_audio_mixer *am, uint32_t input_id);
/* participant_id 0: a listener who publishes no audio. 0, -EEXIST, -ENOMEM */
int pal_audio_mixer_add_output(struct pal_audio_mixer *am, uint32_t output_id,
                               uint32_t participant_id, uint32_t ssrc);
int pal_audio_mixer_remove_output(struct pal_audio_mixer *am, uint32_t output_id);
bool pal_audio_mixer_has_output(const struct pal_audio_mixer *am, uint32_t output_id);
size_t pal_audio_mixer_output_count(const struct pal_audio_mixer *am);
size_t pal_audio_mixer_input_count(const struct pal_audio_mixer *am);

/* One Opus RTP payload for an input. Returns 0, -ENOENT or a jitter error. */
int pal_audio_mixer_push(struct pal_audio_mixer *am, uint32_t input_id, uint16_t seq,
                         uint32_t timestamp, const uint8_t *payload, size_t len,
                         int64_t arrival_ms);

/* The RFC 6464 level of a packet of this input: level is -dBov (0 loudest,
 * 127 silence). Returns 0 or -ENOENT. */
int pal_audio_mixer_note_level(struct pal_audio_mixer *am, uint32_t input_id, int level,
                               int64_t arrival_ms);

/* One 20 ms step: pops, decodes, mixes, encodes, emits one packet per
 * output. Returns the number of packets emitted. With no input there is
 * nothing to mix: no packet is sent (as with Opus DTX), no encoder is held,
 * and the outputs' timestamps move on 20 ms (their sequence numbers count
 * packets sent, so they stay continuous). */
int pal_audio_mixer_tick(struct pal_audio_mixer *am, int64_t now_ms);
/* frames 20 ms steps passed without a tick (an idle mixer is not ticked):
 * the outputs' timestamps move on as if they had been ticked. */
void pal_audio_mixer_skip(struct pal_audio_mixer *am, uint32_t frames);

/* The participant of the loudest speaking input, or 0. */
uint32_t pal_audio_mixer_loudest(const struct pal_audio_mixer *am);
void pal_audio_mixer_get_stats(const struct pal_audio_mixer *am, struct pal_audio_mixer_stats *st);

#endif
