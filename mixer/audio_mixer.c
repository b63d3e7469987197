/* Audio mixing. See palabre/mixer/audio_mixer.h. */
#include "palabre/mixer/audio_mixer.h"
#include "palabre/mixer/cpu_clock.h"
#include "palabre/mixer/jitter.h"
#include "palabre/rtp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N PAL_OPUS_FRAME
#define SPEAK_DBOV (-50.0)
#define HANGOVER_TICKS 25
#define LIMIT_T 29491.0f          /* 0.9 full scale: where the soft knee starts */
#define LIMIT_RELEASE 0.05f       /* gain regained per 20 ms frame */

struct limiter {
    float gain;
};

struct input {
    /* owned */
    struct pal_jitter *jb;
    struct pal_opus_decoder *dec;
    /* state */
    uint32_t id, participant;
    bool has_frame; /* this tick */
    bool speaking;  /* this tick: has_frame and level above threshold (or hangover) */
    int hangover;
    double level_db; /* smoothed, for the active speaker */
    bool level_known;      /* packets carry RFC 6464 levels */
    int64_t loud_until_ms; /* arrival of the last loud packet + hangover */
    bool skipped;          /* packets were dropped undecoded: reset before decoding */
    int16_t pcm[N];
};

struct output {
    /* owned */
    struct pal_opus_encoder *enc; /* own N-1 encoder, NULL until needed */
    /* state */
    uint32_t id, participant, ssrc, timestamp;
    uint16_t seq;
    struct limiter lim;
};

struct pal_audio_mixer {
    /* borrowed */
    struct pal_audio_mixer_listener l;
    /* owned */
    struct input **in;
    struct input **spk; /* this tick's speaking inputs (cap_in slots) */
    struct output **out;
    struct pal_opus_encoder *shared_enc; /* while there are inputs */
    /* state */
    size_t n_in, cap_in, n_out, cap_out;
    struct pal_audio_mixer_config cfg;
    struct limiter shared_lim;
    int32_t mix[N];
    int16_t pcm[N];
    uint8_t pkt[PAL_OPUS_MAX_PACKET];     /* the shared encode */
    uint8_t own_pkt[PAL_OPUS_MAX_PACKET]; /* the current N-1 encode */
    uint8_t rtp[PAL_RTP_HEADER_MIN + PAL_OPUS_MAX_PACKET];
    struct pal_audio_mixer_stats st;
};

int pal_audio_mixer_create(const struct pal_audio_mixer_config *c,
                           const struct pal_audio_mixer_listener *l,
                           struct pal_audio_mixer **out)
{
    if (!c || !l || !out || c->payload_type > 127)
        return -EINVAL;
    struct pal_audio_mixer *am = calloc(1, sizeof(*am));
    if (!am)
        return -ENOMEM;
    am->cfg = *c;
    am->l = *l;
    am->shared_lim.gain = 1.0f;
    /* The encoder settings are checked now; the encoder is made with the
     * first input (a mixer with no audio input encodes nothing). */
    struct pal_opus_encoder *probe;
    int rc = pal_opus_encoder_create(&c->opus, &probe);
    if (rc != 0) {
        free(am);
        return rc;
    }
    pal_opus_encoder_destroy(probe);
    *out = am;
    return 0;
}

static void input_free(struct input *in)
{
    pal_jitter_destroy(in->jb);
    pal_opus_decoder_destroy(in->dec);
    free(in);
}

static void output_free(struct output *o)
{
    pal_opus_encoder_destroy(o->enc);
    free(o);
}

void pal_audio_mixer_destroy(struct pal_audio_mixer *am)
{
    if (!am)
        return;
    for (size_t i = 0; i < am->n_in; i++)
        input_free(am->in[i]);
    for (size_t i = 0; i < am->n_out; i++)
        output_free(am->out[i]);
    free(am->in);
    free(am->spk);
    free(am->out);
    pal_opus_encoder_destroy(am->shared_enc);
    free(am);
}

static struct input *find_input(const struct pal_audio_mixer *am, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < am->n_in; i++)
        if (am->in[i]->id == id) {
            if (idx)
                *idx = i;
            return am->in[i];
        }
    return NULL;
}

static struct output *find_output(const struct pal_audio_mixer *am, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < am->n_out; i++)
        if (am->out[i]->id == id) {
            if (idx)
                *idx = i;
            return am->out[i];
        }
    return NULL;
}

/* Grows a pointer array by one slot. */
static int grow(void ***arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void **a = realloc(*arr, nc * sizeof(*a));
    if (!a)
        return -ENOMEM;
    *arr = a;
    *cap = nc;
    return 0;
}

int pal_audio_mixer_add_input(struct pal_audio_mixer *am, uint32_t input_id,
                              uint32_t participant_id)
{
    if (find_input(am, input_id, NULL))
        return -EEXIST;
    if (grow((void ***)&am->in, am->n_in, &am->cap_in) != 0)
        return -ENOMEM;
    struct input **spk = realloc(am->spk, am->cap_in * sizeof(*spk));
    if (!spk)
        return -ENOMEM;
    am->spk = spk;
    struct input *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    struct pal_jitter_config jc = {
        .clock_rate = PAL_OPUS_RATE,
        .frame_ms = 20,
        .min_delay_ms = am->cfg.jitter_min_ms,
        .max_delay_ms = am->cfg.jitter_max_ms,
        .capacity = 32,
    };
    int rc = pal_jitter_create(&jc, &in->jb);
    if (rc == 0)
        rc = pal_opus_decoder_create(&in->dec);
    if (rc != 0) {
        input_free(in);
        return rc;
    }
    in->id = input_id;
    in->participant = participant_id;
    in->level_db = -127.0;
    am->in[am->n_in++] = in;
    return 0;
}

int pal_audio_mixer_remove_input(struct pal_audio_mixer *am, uint32_t input_id)
{
    size_t i;
    struct input *in = find_input(am, input_id, &i);
    if (!in)
        return -ENOENT;
    input_free(in);
    am->in[i] = am->in[--am->n_in];
    if (am->n_in == 0) {
        /* Idle: the encoders go (remade, fresh, with the next input). */
        pal_opus_encoder_destroy(am->shared_enc);
        am->shared_enc = NULL;
        am->shared_lim.gain = 1.0f;
        for (size_t j = 0; j < am->n_out; j++) {
            pal_opus_encoder_destroy(am->out[j]->enc);
            am->out[j]->enc = NULL;
            am->out[j]->lim.gain = 1.0f;
        }
    }
    return 0;
}

bool pal_audio_mixer_has_input(const struct pal_audio_mixer *am, uint32_t input_id)
{
    return find_input(am, input_id, NULL) != NULL;
}

int pal_audio_mixer_add_output(struct pal_audio_mixer *am, uint32_t output_id,
                               uint32_t participant_id, uint32_t ssrc)
{
    if (find_output(am, output_id, NULL))
        return -EEXIST;
    if (grow((void ***)&am->out, am->n_out, &am->cap_out) != 0)
        return -ENOMEM;
    struct output *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->id = output_id;
    o->participant = participant_id;
    o->ssrc = ssrc;
    o->lim.gain = 1.0f;
    /* DESIGN: generated sequence numbers start below 2^15. */
    uint32_t r[2] = {0, 0};
    pal_random_bytes(r, sizeof(r));
    o->seq = (uint16_t)(r[0] & 0x7FFF);
    o->timestamp = r[1];
    am->out[am->n_out++] = o;
    return 0;
}

int pal_audio_mixer_remove_output(struct pal_audio_mixer *am, uint32_t output_id)
{
    size_t i;
    struct output *o = find_output(am, output_id, &i);
    if (!o)
        return -ENOENT;
    output_free(o);
    am->out[i] = am->out[--am->n_out];
    return 0;
}

bool pal_audio_mixer_has_output(const struct pal_audio_mixer *am, uint32_t output_id)
{
    return find_output(am, output_id, NULL) != NULL;
}

size_t pal_audio_mixer_input_count(const struct pal_audio_mixer *am)
{
    return am->n_in;
}

size_t pal_audio_mixer_output_count(const struct pal_audio_mixer *am)
{
    return am->n_out;
}

int pal_audio_mixer_push(struct pal_audio_mixer *am, uint32_t input_id, uint16_t seq,
                         uint32_t timestamp, const uint8_t *payload, size_t len,
                         int64_t arrival_ms)
{
    struct input *in = find_input(am, input_id, NULL);
    if (!in)
        return -ENOENT;
    return pal_jitter_push(in->jb, seq, timestamp, false, payload, len, arrival_ms);
}

int pal_audio_mixer_note_level(struct pal_audio_mixer *am, uint32_t input_id, int level,
                               int64_t arrival_ms)
{
    struct input *in = find_input(am, input_id, NULL);
    if (!in)
        return -ENOENT;
    in->level_known = true;
    if (-level > SPEAK_DBOV)
        in->loud_until_ms = arrival_ms + HANGOVER_TICKS * 20;
    return 0;
}

static void input_step(struct pal_audio_mixer *am, struct input *in, int64_t now_ms)
{
    struct pal_jitter_packet p;
    int r = pal_jitter_pop_frame(in->jb, &p);
    in->has_frame = false;
    if (in->level_known && now_ms > in->loud_until_ms) {
        /* Quiet by its own account for a while: not worth a decode. */
        if (r != PAL_JITTER_EMPTY) {
            am->st.skipped_quiet++;
            in->skipped = true;
        }
        in->hangover = 0;
        in->speaking = false;
        in->level_db += (-127.0 - in->level_db) * 0.2;
        return;
    }
    if (in->skipped && r != PAL_JITTER_EMPTY) {
        pal_opus_decoder_reset(in->dec);
        in->skipped = false;
    }
    if (r == PAL_JITTER_FRAME) {
        if (pal_opus_decode(in->dec, p.payload, p.len, in->pcm) == N) {
            in->has_frame = true;
            am->st.decoded++;
        } else if (pal_opus_decode_lost(in->dec, NULL, 0, in->pcm) == N) {
            in->has_frame = true; /* a corrupt packet is concealed like a lost one */
            am->st.concealed++;
        }
    } else if (r == PAL_JITTER_LOST) {
        if (pal_opus_decode_lost(in->dec, p.payload, p.len, in->pcm) == N) {
            in->has_frame = true;
            am->st.concealed++;
            if (p.payload)
                am->st.fec_used++;
        }
    }
    double db = -127.0;
    if (in->has_frame) {
        int64_t e = 0;
        for (int i = 0; i < N; i++)
            e += (int32_t)in->pcm[i] * in->pcm[i];
        double ms = (double)e / N;
        db = ms > 0 ? 10.0 * log10(ms / (32768.0 * 32768.0)) : -127.0;
    }
    if (in->has_frame && db > SPEAK_DBOV)
        in->hangover = HANGOVER_TICKS;
    else if (in->hangover > 0)
        in->hangover--;
    in->speaking = in->has_frame && in->hangover > 0;
    in->level_db += (db - in->level_db) * 0.2;
}

/* Gain envelope then a soft knee: never wraps, never exceeds int16. */
static void limit(struct limiter *lim, const int32_t *x, int16_t *y)
{
    int32_t peak = 0;
    for (int i = 0; i < N; i++) {
        int32_t a = x[i] < 0 ? -x[i] : x[i];
        if (a > peak)
            peak = a;
    }
    float target = peak > (int32_t)LIMIT_T ? LIMIT_T / (float)peak : 1.0f;
    float g0 = lim->gain;
    float g1 = target < g0 ? target : PAL_MIN(1.0f, g0 + LIMIT_RELEASE);
    if (g0 == 1.0f && g1 == 1.0f && peak <= (int32_t)LIMIT_T) {
        for (int i = 0; i < N; i++)
            y[i] = (int16_t)x[i];
        return;
    }
    const float knee = 32767.0f - LIMIT_T;
    for (int i = 0; i < N; i++) {
        float g = g0 + (g1 - g0) * (float)i / N;
        float v = (float)x[i] * g;
        float a = fabsf(v);
        if (a > LIMIT_T)
            a = LIMIT_T + knee * tanhf((a - LIMIT_T) / knee);
        if (a > 32767.0f)
            a = 32767.0f;
        y[i] = (int16_t)lrintf(v < 0 ? -a : a);
    }
    lim->gain = g1;
}

static void emit(struct pal_audio_mixer *am, struct output *o, const uint8_t *payload,
                 size_t len)
{
    struct pal_rtp_header h = {
        .marker = false,
        .payload_type = am->cfg.payload_type,
        .seq = o->seq,
        .timestamp = o->timestamp,
        .ssrc = o->ssrc,
    };
    size_t n;
    if (pal_rtp_write(&h, payload, len, am->rtp, sizeof(am->rtp), &n) == 0) {
        am->l.on_output_packet(am->l.ctx, o->id, am->rtp, n);
        am->st.packets_out++;
    }
}

void pal_audio_mixer_skip(struct pal_audio_mixer *am, uint32_t frames)
{
    for (size_t j = 0; j < am->n_out; j++)
        am->out[j]->timestamp += frames * (uint32_t)N;
}

int pal_audio_mixer_tick(struct pal_audio_mixer *am, int64_t now_ms)
{
    if (am->n_in == 0) {
        /* Nothing to mix: no packet (as Opus DTX would), the timestamps go on. */
        pal_audio_mixer_skip(am, 1);
        return 0;
    }
    if (!am->shared_enc && pal_opus_encoder_create(&am->cfg.opus, &am->shared_enc) != 0) {
        pal_audio_mixer_skip(am, 1);
        return -ENOMEM;
    }
    uint64_t t0 = pal_mixer_cpu_ns();
    am->st.ticks++;
    for (size_t i = 0; i < am->n_in; i++)
        input_step(am, am->in[i], now_ms);
    uint64_t t1 = pal_mixer_cpu_ns();
    am->st.ns_decode += t1 - t0;

    memset(am->mix, 0, sizeof(am->mix));
    for (size_t i = 0; i < am->n_in; i++) {
        const struct input *in = am->in[i];
        if (in->speaking)
            for (int k = 0; k < N; k++)
                am->mix[k] += in->pcm[k];
    }
    uint64_t t2 = pal_mixer_cpu_ns();
    am->st.ns_mix += t2 - t1;

    /* The speaking inputs, so that each output checks a short list. */
    size_t n_spk = 0;
    for (size_t i = 0; i < am->n_in; i++)
        if (am->in[i]->speaking)
            am->spk[n_spk++] = am->in[i];

    /* Only encodes (one shared, one per speaking listener) are timed one by
     * one: reading a thread CPU clock per output would cost more than the
     * RTP header it measures. */
    uint64_t loop_start = pal_mixer_cpu_ns(), coded_ns = 0;
    int shared_len = -1; /* encoded lazily, once per tick */
    int emitted = 0;
    for (size_t j = 0; j < am->n_out; j++) {
        struct output *o = am->out[j];
        bool own = false;
        for (size_t i = 0; i < n_spk && o->participant; i++)
            own |= am->spk[i]->participant == o->participant;
        const uint8_t *payload;
        int len;
        if (!own) {
            if (shared_len < 0) {
                uint64_t a = pal_mixer_cpu_ns();
                limit(&am->shared_lim, am->mix, am->pcm);
                uint64_t b = pal_mixer_cpu_ns();
                shared_len = pal_opus_encode(am->shared_enc, am->pcm, am->pkt, sizeof(am->pkt));
                uint64_t c = pal_mixer_cpu_ns();
                am->st.ns_mix += b - a;
                am->st.ns_encode += c - b;
                coded_ns += c - a;
                am->st.encodes++;
            }
            payload = am->pkt;
            len = shared_len;
        } else {
            if (!o->enc && pal_opus_encoder_create(&am->cfg.opus, &o->enc) != 0)
                continue;
            uint64_t a = pal_mixer_cpu_ns();
            int32_t tmp[N];
            memcpy(tmp, am->mix, sizeof(tmp));
            for (size_t i = 0; i < n_spk; i++)
                if (am->spk[i]->participant == o->participant)
                    for (int k = 0; k < N; k++)
                        tmp[k] -= am->spk[i]->pcm[k];
            int16_t pcm[N];
            limit(&o->lim, tmp, pcm);
            uint64_t b = pal_mixer_cpu_ns();
            len = pal_opus_encode(o->enc, pcm, am->own_pkt, sizeof(am->own_pkt));
            uint64_t c = pal_mixer_cpu_ns();
            am->st.ns_mix += b - a;
            am->st.ns_encode += c - b;
            coded_ns += c - a;
            payload = am->own_pkt;
            am->st.encodes++;
        }
        if (len > 0) {
            emit(am, o, payload, (size_t)len);
            emitted++;
            o->seq++;
        }
        o->timestamp += N;
    }
    am->st.ns_packetize += pal_mixer_cpu_ns() - loop_start - coded_ns;
    return emitted;
}

uint32_t pal_audio_mixer_loudest(const struct pal_audio_mixer *am)
{
    uint32_t best = 0;
    double best_db = -1e9;
    for (size_t i = 0; i < am->n_in; i++) {
        const struct input *in = am->in[i];
        if (in->speaking && in->level_db > best_db) {
            best_db = in->level_db;
            best = in->participant;
        }
    }
    return best;
}

void pal_audio_mixer_get_stats(const struct pal_audio_mixer *am, struct pal_audio_mixer_stats *st)
{
    *st = am->st;
    st->encoders = am->shared_enc != NULL;
    for (size_t j = 0; j < am->n_out; j++)
        st->encoders += am->out[j]->enc != NULL;
}
