/* The room mixer: routes inputs, outputs and ticks to the audio and video
 * halves. See palabre/mixer.h. */
#include "palabre/mixer.h"
#include "palabre/mixer/audio_mixer.h"
#include "palabre/mixer/video_mixer.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/rtp.h"

#include <stdlib.h>

struct pal_mixer {
    /* borrowed */
    struct pal_mixer_listener l;
    /* owned */
    struct pal_audio_mixer *audio;
    struct pal_video_mixer *video;
    /* state */
    uint32_t forced_speaker;
    uint32_t speaker; /* shown large: forced, or the last loudest */
    uint8_t audio_level_ext; /* 0: none */
};

void pal_mixer_config_default(struct pal_mixer_config *c)
{
    *c = (struct pal_mixer_config){
        .audio_payload_type = 111,
        .audio_bitrate = 32000,
        .audio_complexity = 5,
        .audio_loss_perc = 10,
        .jitter_min_ms = 20,
        .jitter_max_ms = 40,
        .video_payload_type = 96,
        .video_width = 1280,
        .video_height = 720,
        .video_fps = 30,
        .video_bitrate_kbps = 1500,
        .video_cpu_used = -8,
        .mtu = PAL_VP8_PACKETIZER_DEFAULT_MTU,
    };
}

static void on_audio_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct pal_mixer *m = ctx;
    m->l.on_output_packet(m->l.ctx, output_id, rtp, len);
}

static void on_video_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct pal_mixer *m = ctx;
    m->l.on_output_packet(m->l.ctx, output_id, rtp, len);
}

static void on_video_keyframe(void *ctx, uint32_t input_id)
{
    struct pal_mixer *m = ctx;
    if (m->l.on_keyframe_needed)
        m->l.on_keyframe_needed(m->l.ctx, input_id);
}

int pal_mixer_create(const struct pal_mixer_config *c, const struct pal_mixer_listener *l,
                     struct pal_mixer **out)
{
    if (!c || !l || !l->on_output_packet || !out)
        return -EINVAL;
    struct pal_mixer *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->l = *l;
    struct pal_audio_mixer_config ac = {
        .payload_type = c->audio_payload_type,
        .jitter_min_ms = c->jitter_min_ms,
        .jitter_max_ms = c->jitter_max_ms,
    };
    pal_opus_encoder_config_default(&ac.opus);
    ac.opus.bitrate = c->audio_bitrate;
    ac.opus.complexity = c->audio_complexity;
    ac.opus.loss_perc = c->audio_loss_perc;
    struct pal_video_mixer_config vc = {.payload_type = c->video_payload_type, .mtu = c->mtu};
    pal_vp8_encoder_config_default(&vc.vp8);
    vc.vp8.width = c->video_width;
    vc.vp8.height = c->video_height;
    vc.vp8.fps = c->video_fps;
    vc.vp8.bitrate_kbps = c->video_bitrate_kbps;
    vc.vp8.cpu_used = c->video_cpu_used;
    vc.test_delay_ms = c->test_composite_delay_ms;
    struct pal_audio_mixer_listener al = {.ctx = m, .on_output_packet = on_audio_packet};
    struct pal_video_mixer_listener vl = {
        .ctx = m, .on_output_packet = on_video_packet, .on_keyframe_needed = on_video_keyframe};
    int rc = -EINVAL;
    if (c->jitter_min_ms >= 20 && c->jitter_max_ms >= c->jitter_min_ms && c->jitter_max_ms <= 200)
        rc = pal_audio_mixer_create(&ac, &al, &m->audio);
    if (rc == 0)
        rc = pal_video_mixer_create(&vc, &vl, &m->video);
    if (rc != 0) {
        pal_mixer_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

void pal_mixer_destroy(struct pal_mixer *m)
{
    if (!m)
        return;
    pal_audio_mixer_destroy(m->audio);
    pal_video_mixer_destroy(m->video);
    free(m);
}

static bool input_exists(const struct pal_mixer *m, uint32_t id)
{
    return pal_audio_mixer_has_input(m->audio, id) || pal_video_mixer_has_input(m->video, id);
}

static bool output_exists(const struct pal_mixer *m, uint32_t id)
{
    return pal_audio_mixer_has_output(m->audio, id) || pal_video_mixer_has_output(m->video, id);
}

int pal_mixer_add_input(struct pal_mixer *m, uint32_t input_id, uint32_t participant_id,
                        enum pal_mixer_kind kind)
{
    if (input_exists(m, input_id))
        return -EEXIST;
    if (kind == PAL_MIXER_AUDIO)
        return pal_audio_mixer_add_input(m->audio, input_id, participant_id);
    if (kind == PAL_MIXER_VIDEO)
        return pal_video_mixer_add_input(m->video, input_id, participant_id);
    return -EINVAL;
}

int pal_mixer_remove_input(struct pal_mixer *m, uint32_t input_id)
{
    if (pal_audio_mixer_remove_input(m->audio, input_id) == 0)
        return 0;
    return pal_video_mixer_remove_input(m->video, input_id);
}

int pal_mixer_add_output(struct pal_mixer *m, uint32_t output_id, uint32_t participant_id,
                         enum pal_mixer_kind kind, uint32_t ssrc)
{
    if (output_exists(m, output_id))
        return -EEXIST;
    if (kind == PAL_MIXER_AUDIO)
        return pal_audio_mixer_add_output(m->audio, output_id, participant_id, ssrc);
    if (kind == PAL_MIXER_VIDEO)
        return pal_video_mixer_add_output(m->video, output_id, ssrc);
    return -EINVAL;
}

int pal_mixer_remove_output(struct pal_mixer *m, uint32_t output_id)
{
    if (pal_audio_mixer_remove_output(m->audio, output_id) == 0)
        return 0;
    return pal_video_mixer_remove_output(m->video, output_id);
}

size_t pal_mixer_output_count(const struct pal_mixer *m)
{
    return pal_audio_mixer_output_count(m->audio) + pal_video_mixer_output_count(m->video);
}

int pal_mixer_push_rtp(struct pal_mixer *m, uint32_t input_id, const uint8_t *pkt, size_t len,
                       int64_t arrival_ms)
{
    bool audio = pal_audio_mixer_has_input(m->audio, input_id);
    if (!audio && !pal_video_mixer_has_input(m->video, input_id))
        return -ENOENT;
    struct pal_rtp_packet p;
    /* pal_rtp_parse only reads the buffer (its non-const pointer serves the
     * SFU's in-place rewrites, which the mixer never does). */
    if (!pkt || pal_rtp_parse(&p, (uint8_t *)pkt, len, NULL) != 0)
        return -EINVAL;
    const uint8_t *payload = pal_rtp_payload(&p);
    if (audio && m->audio_level_ext) {
        size_t el;
        const uint8_t *e = pal_rtp_ext_find(&p, m->audio_level_ext, &el);
        if (e && el >= 1) /* |V| level |: level in -dBov */
            pal_audio_mixer_note_level(m->audio, input_id, e[0] & 0x7F, arrival_ms);
    }
    if (audio)
        return pal_audio_mixer_push(m->audio, input_id, p.seq, p.timestamp, payload,
                                    p.payload_len, arrival_ms);
    return pal_video_mixer_push(m->video, input_id, p.seq, p.timestamp, p.marker, payload,
                                p.payload_len, arrival_ms);
}

int pal_mixer_tick_audio(struct pal_mixer *m, int64_t now_ms)
{
    int n = pal_audio_mixer_tick(m->audio, now_ms);
    /* Silence keeps the last speaker large: no layout flapping between words. */
    uint32_t speaker = m->forced_speaker ? m->forced_speaker : pal_audio_mixer_loudest(m->audio);
    if (speaker) {
        m->speaker = speaker;
        pal_video_mixer_set_speaker(m->video, speaker);
    }
    return n;
}

void pal_mixer_skip_audio(struct pal_mixer *m, uint32_t frames)
{
    pal_audio_mixer_skip(m->audio, frames);
}

bool pal_mixer_busy(const struct pal_mixer *m, enum pal_mixer_kind kind)
{
    if (kind == PAL_MIXER_AUDIO)
        return pal_audio_mixer_input_count(m->audio) > 0;
    return pal_video_mixer_busy(m->video);
}

uint32_t pal_mixer_speaker(const struct pal_mixer *m)
{
    return m->speaker;
}

int pal_mixer_tick_video(struct pal_mixer *m, int64_t now_ms)
{
    return pal_video_mixer_tick(m->video, now_ms);
}

int pal_mixer_request_keyframe(struct pal_mixer *m, uint32_t output_id)
{
    if (!pal_video_mixer_has_output(m->video, output_id))
        return -ENOENT;
    pal_video_mixer_request_keyframe(m->video);
    return 0;
}

void pal_mixer_set_active_speaker(struct pal_mixer *m, uint32_t participant_id)
{
    m->forced_speaker = participant_id;
    if (participant_id) {
        m->speaker = participant_id;
        pal_video_mixer_set_speaker(m->video, participant_id);
    }
}

int pal_mixer_set_audio_level_ext(struct pal_mixer *m, unsigned id)
{
    if (id > 255)
        return -EINVAL;
    m->audio_level_ext = (uint8_t)id;
    return 0;
}

void pal_mixer_get_stats(const struct pal_mixer *m, struct pal_mixer_stats *st)
{
    struct pal_audio_mixer_stats a;
    struct pal_video_mixer_stats v;
    pal_audio_mixer_get_stats(m->audio, &a);
    pal_video_mixer_get_stats(m->video, &v);
    *st = (struct pal_mixer_stats){
        .audio_decoded = a.decoded,
        .audio_concealed = a.concealed,
        .audio_fec_used = a.fec_used,
        .audio_skipped_quiet = a.skipped_quiet,
        .audio_encodes = a.encodes,
        .audio_packets_out = a.packets_out,
        .video_frames_decoded = v.frames_decoded,
        .video_decode_errors = v.decode_errors,
        .video_keyframe_requests = v.keyframe_requests,
        .video_frames_encoded = v.frames_encoded,
        .video_keyframes_encoded = v.keyframes_encoded,
        .video_packets_out = v.packets_out,
        .audio_encoders = a.encoders,
        .video_encoders = v.encoders,
        .video_canvas_bytes = v.canvas_bytes,
    };
}
