/* A room's mixer: one mixed Opus audio track and one VP8 composite of the
 * room, offered to participants on weak links (phones, recording).
 *
 * Fed decrypted RTP packets per input (a participant's published audio or
 * video track), it emits RTP packets per output (a participant's mixed
 * track), on a clock the owner drives:
 *   pal_mixer_tick_audio(m, now)  every 20 ms
 *   pal_mixer_tick_video(m, now)  every frame interval (~33 ms at 30 fps)
 *
 * Audio: each output gets the sum of the speaking inputs; a listener who
 * speaks gets the others only (N-1); all other listeners share one encode
 * (palabre/mixer/audio_mixer.h). Video: one layout, one encode for every
 * output; a subscriber's PLI asks for a keyframe (palabre/mixer/video_mixer.h).
 * Inputs needing a keyframe are reported through on_keyframe_needed
 * (throttled: at most one per 500 ms per input).
 *
 * Latency added by the audio path: the jitter buffer holds 20 to 40 ms
 * (adaptive, config jitter_min_ms/jitter_max_ms) and a packet waits at most
 * one tick (20 ms) after it is due: at most 60 ms, plus Opus's own 6.5 ms
 * look-ahead in the encoder.
 *
 * Only what exists is mixed: a mixer without audio inputs holds no Opus
 * encoder and sends no audio (the outputs' timestamps keep time, their
 * sequence numbers stay continuous: as Opus DTX); one without video inputs
 * holds no canvas, decoder or VP8 encoder and sends no video. The first
 * input starts its half (the composite with a keyframe); the last one to
 * leave frees it (the composite after one blank frame). An idle half needs
 * no tick: pal_mixer_busy() says which halves do, and
 * pal_mixer_skip_audio() keeps the audio timestamps when ticks were left out.
 *
 * Lifecycle: the integration creates a room's mixer when its first
 * participant asks for mixed reception and destroys it when the last one
 * stops (pal_mixer_output_count() == 0); inputs and outputs come and go with
 * add/remove in between.
 *
 * Ids: input and output ids are the caller's, unique within one mixer.
 * Participant ids link a participant's inputs to its outputs (N-1) and to
 * the active speaker; 0 means "publishes nothing".
 *
 * Thread: every function of one mixer from one thread (in the server, the
 * worker's mixer thread: palabre/mixer_thread.h); listener callbacks run on
 * that thread, inside the calls. */
#ifndef PALABRE_MIXER_H
#define PALABRE_MIXER_H

#include "palabre/common.h"

struct pal_mixer;

enum pal_mixer_kind { PAL_MIXER_AUDIO, PAL_MIXER_VIDEO };

struct pal_mixer_listener {
    void *ctx;
    /* One RTP packet (plain, before SRTP) for output_id; valid during the call. */
    void (*on_output_packet)(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len);
    /* A video input needs a keyframe: send its publisher a PLI. */
    void (*on_keyframe_needed)(void *ctx, uint32_t input_id);
};

struct pal_mixer_config {
    /* audio */
    uint8_t audio_payload_type; /* 111 */
    int audio_bitrate;          /* 32000 bit/s */
    int audio_complexity;       /* 5 */
    int audio_loss_perc;        /* 10: in-band FEC sized for it */
    uint32_t jitter_min_ms;     /* 20 */
    uint32_t jitter_max_ms;     /* 40 */
    /* video */
    uint8_t video_payload_type; /* 96 */
    int video_width, video_height; /* 1280x720 */
    int video_fps;              /* 30 */
    int video_bitrate_kbps;     /* 1500 */
    int video_cpu_used;         /* -8 */
    size_t mtu;                 /* VP8 RTP payload bytes, 1200 */
    /* tests only (no configuration key sets it): each composite encode
     * sleeps this long, to make the composite slower than its frame rate */
    uint32_t test_composite_delay_ms;
};

void pal_mixer_config_default(struct pal_mixer_config *c);

/* Returns 0, -EINVAL (bad config or listener) or -ENOMEM. */
int pal_mixer_create(const struct pal_mixer_config *c, const struct pal_mixer_listener *l,
                     struct pal_mixer **out);
void pal_mixer_destroy(struct pal_mixer *m);

/* Returns 0, -EEXIST (id in use) or -ENOMEM. */
int pal_mixer_add_input(struct pal_mixer *m, uint32_t input_id, uint32_t participant_id,
                        enum pal_mixer_kind kind);
/* Returns 0 or -ENOENT. */
int pal_mixer_remove_input(struct pal_mixer *m, uint32_t input_id);
/* ssrc: what the output's packets carry. Returns 0, -EEXIST or -ENOMEM. */
int pal_mixer_add_output(struct pal_mixer *m, uint32_t output_id, uint32_t participant_id,
                         enum pal_mixer_kind kind, uint32_t ssrc);
int pal_mixer_remove_output(struct pal_mixer *m, uint32_t output_id);
size_t pal_mixer_output_count(const struct pal_mixer *m);

/* One decrypted RTP packet of an input. Returns 0, -ENOENT (unknown input),
 * -EINVAL (not RTP), -EALREADY (duplicate), -ESTALE (too late) or
 * -EMSGSIZE. Bad input changes nothing. */
int pal_mixer_push_rtp(struct pal_mixer *m, uint32_t input_id, const uint8_t *pkt, size_t len,
                       int64_t arrival_ms);

/* Returns packets emitted, or a negative errno. */
int pal_mixer_tick_audio(struct pal_mixer *m, int64_t now_ms);
int pal_mixer_tick_video(struct pal_mixer *m, int64_t now_ms);

/* Whether kind's ticks have work now: audio inputs exist; video inputs
 * exist, or a composite is to be ended and freed. A half that is not busy
 * may be left unticked (its tick would return at once). */
bool pal_mixer_busy(const struct pal_mixer *m, enum pal_mixer_kind kind);
/* frames 20 ms audio ticks were left out while the audio was not busy: the
 * outputs' RTP timestamps move on by as much. */
void pal_mixer_skip_audio(struct pal_mixer *m, uint32_t frames);
/* The participant shown large: the forced one, else the last loudest audio
 * input (0: none yet). */
uint32_t pal_mixer_speaker(const struct pal_mixer *m);

/* The header extension id (RFC 8285) of the publishers' audio level
 * (RFC 6464, urn:ietf:params:rtp-hdrext:ssrc-audio-level), as negotiated; 0
 * (the default) ignores it. With it, quiet inputs are not decoded at all.
 * Returns 0 or -EINVAL (id > 255). */
int pal_mixer_set_audio_level_ext(struct pal_mixer *m, unsigned id);

struct pal_mixer_stats {
    uint64_t audio_decoded, audio_concealed, audio_fec_used, audio_skipped_quiet, audio_encodes,
        audio_packets_out;
    uint64_t video_frames_decoded, video_decode_errors, video_keyframe_requests,
        video_frames_encoded, video_keyframes_encoded, video_packets_out;
    /* held now (gauges): Opus encoders; VP8 encoders (0 or 1) and the
     * composite's canvas, both 0 while there is no video input */
    uint64_t audio_encoders, video_encoders, video_canvas_bytes;
};
void pal_mixer_get_stats(const struct pal_mixer *m, struct pal_mixer_stats *st);

/* A subscriber of a video output lost the picture (PLI/FIR). 0 or -ENOENT. */
int pal_mixer_request_keyframe(struct pal_mixer *m, uint32_t output_id);
/* Forces the participant shown large when over 9 video inputs; 0 goes back
 * to the loudest audio input. */
void pal_mixer_set_active_speaker(struct pal_mixer *m, uint32_t participant_id);

#endif
