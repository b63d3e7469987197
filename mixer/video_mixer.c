/* Video composition. See palabre/mixer/video_mixer.h. */
#include "palabre/mixer/video_mixer.h"
#include "palabre/mixer/cpu_clock.h"
#include "palabre/keyframe.h"
#include "palabre/mixer/jitter.h"
#include "palabre/mixer/vp8_depacketizer.h"
#include "palabre/mixer/vp8_packetizer.h"
#include "palabre/rtp.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VISIBLE 9
#define PLACEHOLDER_Y 40

struct pal_video_mixer;

struct input {
    /* borrowed */
    struct pal_video_mixer *vm;
    /* owned */
    struct pal_jitter *jb;
    struct pal_vp8_depacketizer *depack;
    struct pal_vp8_decoder *dec;
    struct pal_keyframe *kf;
    struct pal_image last; /* last good picture */
    /* state */
    uint32_t id, participant;
    bool has_picture, dirty;
};

struct output {
    uint32_t id, ssrc;
    uint16_t seq;
    uint32_t ts_offset;
};

struct pal_video_mixer {
    /* borrowed */
    struct pal_video_mixer_listener l;
    /* owned */
    struct input **in;
    struct output *out;
    struct pal_vp8_encoder *enc; /* while there are inputs and outputs */
    struct pal_image canvas;     /* while there are inputs (buf NULL otherwise) */
    /* state */
    size_t n_in, cap_in, n_out, cap_out;
    struct pal_video_mixer_config cfg;
    struct pal_vp8_packetizer pk;
    int64_t now_ms, t0_ms;
    int64_t pts; /* of the last frame encoded, in 1/fps units from t0_ms */
    bool force_keyframe;
    uint32_t speaker;
    /* current layout: visible input ids and their tiles */
    size_t n_vis;
    uint32_t vis_id[MAX_VISIBLE];
    struct pal_rect vis_rect[MAX_VISIBLE];
    bool layout_valid;
    uint32_t rtp_ts; /* of the frame being sent, before each output's offset */
    uint8_t payload[PAL_RTP_MAX_PACKET];
    uint8_t rtp[PAL_RTP_MAX_PACKET];
    int emitted;
    struct pal_video_mixer_stats st;
};

int pal_video_mixer_create(const struct pal_video_mixer_config *c,
                           const struct pal_video_mixer_listener *l,
                           struct pal_video_mixer **out)
{
    if (!c || !l || !out || c->payload_type > 127 || c->vp8.width < 64 || c->vp8.height < 64 ||
        (c->vp8.width & 1) || (c->vp8.height & 1) || (c->mtu && c->mtu < 64) ||
        c->mtu > PAL_RTP_MAX_PACKET - PAL_RTP_HEADER_MIN)
        return -EINVAL;
    struct pal_video_mixer *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->cfg = *c;
    vm->l = *l;
    uint16_t pid = 0;
    pal_random_bytes(&pid, sizeof(pid));
    int rc = pal_vp8_packetizer_init(&vm->pk, c->mtu, pid);
    if (rc != 0) {
        free(vm);
        return rc;
    }
    vm->t0_ms = -1;
    vm->pts = -1;
    *out = vm;
    return 0;
}

static void input_free(struct input *in)
{
    pal_jitter_destroy(in->jb);
    pal_vp8_depacketizer_destroy(in->depack);
    pal_vp8_decoder_destroy(in->dec);
    pal_keyframe_destroy(in->kf);
    pal_image_free(&in->last);
    free(in);
}

void pal_video_mixer_destroy(struct pal_video_mixer *vm)
{
    if (!vm)
        return;
    for (size_t i = 0; i < vm->n_in; i++)
        input_free(vm->in[i]);
    free(vm->in);
    free(vm->out);
    pal_vp8_encoder_destroy(vm->enc);
    pal_image_free(&vm->canvas);
    free(vm);
}

static struct input *find_input(const struct pal_video_mixer *vm, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < vm->n_in; i++)
        if (vm->in[i]->id == id) {
            if (idx)
                *idx = i;
            return vm->in[i];
        }
    return NULL;
}

static struct output *find_output(const struct pal_video_mixer *vm, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < vm->n_out; i++)
        if (vm->out[i].id == id) {
            if (idx)
                *idx = i;
            return &vm->out[i];
        }
    return NULL;
}

/* Asks the input's publisher for a keyframe, throttled. */
static void want_keyframe(struct input *in)
{
    struct pal_video_mixer *vm = in->vm;
    if (pal_keyframe_request(in->kf, vm->now_ms)) {
        vm->st.keyframe_requests++;
        if (vm->l.on_keyframe_needed)
            vm->l.on_keyframe_needed(vm->l.ctx, in->id);
    }
}

static void on_depack_keyframe_needed(void *ctx)
{
    want_keyframe(ctx);
}

static void on_depack_frame(void *ctx, const uint8_t *frame, size_t len, uint32_t ts, bool key)
{
    struct input *in = ctx;
    struct pal_video_mixer *vm = in->vm;
    if (key)
        pal_keyframe_on_keyframe(in->kf, vm->now_ms);
    struct pal_vp8_picture pic;
    int rc = pal_vp8_decode(in->dec, frame, len, &pic);
    if (rc < 0) {
        /* Corrupt: keep the last good picture, ask for a fresh start. */
        vm->st.decode_errors++;
        want_keyframe(in);
        return;
    }
    if (rc == 0)
        return;
    vm->st.frames_decoded++;
    if (pal_image_copy_planes(&in->last, pic.planes, pic.strides, pic.width, pic.height) == 0) {
        in->has_picture = true;
        in->dirty = true;
    }
}

int pal_video_mixer_add_input(struct pal_video_mixer *vm, uint32_t input_id,
                              uint32_t participant_id)
{
    if (find_input(vm, input_id, NULL))
        return -EEXIST;
    if (vm->n_in == vm->cap_in) {
        size_t nc = vm->cap_in ? vm->cap_in * 2 : 8;
        struct input **a = realloc(vm->in, nc * sizeof(*a));
        if (!a)
            return -ENOMEM;
        vm->in = a;
        vm->cap_in = nc;
    }
    struct input *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    in->vm = vm;
    in->id = input_id;
    in->participant = participant_id;
    struct pal_jitter_config jc = {
        .clock_rate = 90000,
        .frame_ms = 0,
        .max_delay_ms = vm->cfg.reorder_wait_ms ? vm->cfg.reorder_wait_ms : 40,
        .capacity = 512,
    };
    struct pal_vp8_depacketizer_listener dl = {
        .ctx = in,
        .on_frame_complete = on_depack_frame,
        .on_keyframe_needed = on_depack_keyframe_needed,
    };
    int rc = pal_jitter_create(&jc, &in->jb);
    if (rc == 0)
        rc = pal_vp8_depacketizer_create(&dl, &in->depack);
    if (rc == 0)
        rc = pal_vp8_decoder_create(&in->dec);
    if (rc == 0)
        rc = pal_keyframe_create(0, &in->kf);
    if (rc != 0) {
        input_free(in);
        return rc;
    }
    vm->in[vm->n_in++] = in;
    vm->layout_valid = false;
    return 0;
}

int pal_video_mixer_remove_input(struct pal_video_mixer *vm, uint32_t input_id)
{
    size_t i;
    struct input *in = find_input(vm, input_id, &i);
    if (!in)
        return -ENOENT;
    input_free(in);
    memmove(&vm->in[i], &vm->in[i + 1], (vm->n_in - i - 1) * sizeof(*vm->in));
    vm->n_in--;
    vm->layout_valid = false;
    return 0;
}

bool pal_video_mixer_has_input(const struct pal_video_mixer *vm, uint32_t input_id)
{
    return find_input(vm, input_id, NULL) != NULL;
}

int pal_video_mixer_add_output(struct pal_video_mixer *vm, uint32_t output_id, uint32_t ssrc)
{
    if (find_output(vm, output_id, NULL))
        return -EEXIST;
    if (vm->n_out == vm->cap_out) {
        size_t nc = vm->cap_out ? vm->cap_out * 2 : 8;
        struct output *a = realloc(vm->out, nc * sizeof(*a));
        if (!a)
            return -ENOMEM;
        vm->out = a;
        vm->cap_out = nc;
    }
    struct output *o = &vm->out[vm->n_out++];
    memset(o, 0, sizeof(*o));
    o->id = output_id;
    o->ssrc = ssrc;
    uint32_t r[2] = {0, 0};
    pal_random_bytes(r, sizeof(r));
    o->seq = (uint16_t)(r[0] & 0x7FFF);
    o->ts_offset = r[1];
    vm->force_keyframe = true; /* the newcomer needs one to start */
    return 0;
}

int pal_video_mixer_remove_output(struct pal_video_mixer *vm, uint32_t output_id)
{
    size_t i;
    if (!find_output(vm, output_id, &i))
        return -ENOENT;
    vm->out[i] = vm->out[--vm->n_out];
    return 0;
}

bool pal_video_mixer_has_output(const struct pal_video_mixer *vm, uint32_t output_id)
{
    return find_output(vm, output_id, NULL) != NULL;
}

size_t pal_video_mixer_output_count(const struct pal_video_mixer *vm)
{
    return vm->n_out;
}

int pal_video_mixer_push(struct pal_video_mixer *vm, uint32_t input_id, uint16_t seq,
                         uint32_t timestamp, bool marker, const uint8_t *payload, size_t len,
                         int64_t arrival_ms)
{
    struct input *in = find_input(vm, input_id, NULL);
    if (!in)
        return -ENOENT;
    return pal_jitter_push(in->jb, seq, timestamp, marker, payload, len, arrival_ms);
}

void pal_video_mixer_request_keyframe(struct pal_video_mixer *vm)
{
    vm->force_keyframe = true;
}

void pal_video_mixer_set_speaker(struct pal_video_mixer *vm, uint32_t participant_id)
{
    if (vm->speaker != participant_id) {
        vm->speaker = participant_id;
        if (vm->n_in > MAX_VISIBLE)
            vm->layout_valid = false;
    }
}

static struct pal_rect cell(int W, int H, int cols, int rows, int c, int r, int cw, int rh)
{
    int x0 = W * c / cols, x1 = W * (c + cw) / cols;
    int y0 = H * r / rows, y1 = H * (r + rh) / rows;
    x0 &= ~1;
    y0 &= ~1;
    x1 &= ~1;
    y1 &= ~1;
    return (struct pal_rect){x0, y0, x1 - x0, y1 - y0};
}

/* Chooses the visible inputs and their tiles. */
static void compute_layout(struct pal_video_mixer *vm, size_t *n_vis, uint32_t *ids,
                           struct pal_rect *rects)
{
    int W = vm->canvas.width, H = vm->canvas.height;
    size_t n = vm->n_in;
    *n_vis = 0;
    if (n == 0)
        return;
    if (n <= MAX_VISIBLE) {
        int cols = n == 1 ? 1 : n <= 4 ? 2 : 3;
        int rows = n == 1 ? 1 : n == 2 ? 1 : n <= 4 ? 2 : 3;
        for (size_t i = 0; i < n; i++) {
            ids[i] = vm->in[i]->id;
            rects[i] = cell(W, H, cols, rows, (int)i % cols, (int)i / cols, 1, 1);
        }
        *n_vis = n;
        return;
    }
    /* Over 9: the speaker (or the first input) large, then 7 small tiles. */
    size_t big = 0;
    for (size_t i = 0; i < n; i++)
        if (vm->speaker && vm->in[i]->participant == vm->speaker) {
            big = i;
            break;
        }
    ids[0] = vm->in[big]->id;
    rects[0] = cell(W, H, 4, 4, 0, 0, 3, 3);
    static const int small[7][2] = {{3, 0}, {3, 1}, {3, 2}, {3, 3}, {0, 3}, {1, 3}, {2, 3}};
    size_t k = 1;
    for (size_t i = 0; i < n && k < 8; i++) {
        if (i == big)
            continue;
        ids[k] = vm->in[i]->id;
        rects[k] = cell(W, H, 4, 4, small[k - 1][0], small[k - 1][1], 1, 1);
        k++;
    }
    *n_vis = k;
}

static void fill_blank(struct pal_video_mixer *vm)
{
    pal_image_fill_rect(&vm->canvas, (struct pal_rect){0, 0, vm->canvas.width, vm->canvas.height},
                        16, 128, 128);
}

/* The last input left: what only a composite needs goes (a 1280x720 canvas
 * and libvpx's encoder are ~1.4 MB and tens of MB). The outputs' numbering
 * and the picture id stay: the next composite continues the same streams,
 * starting with a keyframe. */
static void release(struct pal_video_mixer *vm)
{
    pal_vp8_encoder_destroy(vm->enc);
    vm->enc = NULL;
    pal_image_free(&vm->canvas);
    vm->n_vis = 0;
    vm->layout_valid = false;
    vm->force_keyframe = true;
}

static int compose(struct pal_video_mixer *vm)
{
    if (!vm->canvas.buf) {
        int rc = pal_image_alloc(&vm->canvas, vm->cfg.vp8.width, vm->cfg.vp8.height);
        if (rc != 0)
            return rc;
        fill_blank(vm);
        vm->n_vis = 0;
        vm->layout_valid = false;
    }
    if (!vm->layout_valid) {
        size_t n;
        uint32_t ids[MAX_VISIBLE];
        struct pal_rect rects[MAX_VISIBLE];
        compute_layout(vm, &n, ids, rects);
        bool same = n == vm->n_vis && memcmp(ids, vm->vis_id, n * sizeof(*ids)) == 0 &&
                    memcmp(rects, vm->vis_rect, n * sizeof(*rects)) == 0;
        if (!same) {
            fill_blank(vm);
            vm->n_vis = n;
            memcpy(vm->vis_id, ids, n * sizeof(*ids));
            memcpy(vm->vis_rect, rects, n * sizeof(*rects));
            for (size_t i = 0; i < vm->n_in; i++)
                vm->in[i]->dirty = true;
        }
        vm->layout_valid = true;
    }
    for (size_t k = 0; k < vm->n_vis; k++) {
        struct input *in = find_input(vm, vm->vis_id[k], NULL);
        if (!in || !in->dirty)
            continue;
        if (in->has_picture)
            pal_image_scale_into(&vm->canvas, vm->vis_rect[k], &in->last);
        else
            pal_image_fill_rect(&vm->canvas, vm->vis_rect[k], PLACEHOLDER_Y, 128, 128);
        in->dirty = false;
    }
    return 0;
}

static void on_encoded(void *ctx, const uint8_t *frame, size_t len, bool key)
{
    struct pal_video_mixer *vm = ctx;
    uint64_t t = pal_mixer_cpu_ns();
    vm->st.frames_encoded++;
    if (key)
        vm->st.keyframes_encoded++;
    if (pal_vp8_packetizer_begin(&vm->pk, frame, len) != 0)
        return;
    size_t plen;
    bool marker;
    while (pal_vp8_packetizer_next(&vm->pk, vm->payload, sizeof(vm->payload), &plen, &marker) ==
           1) {
        for (size_t j = 0; j < vm->n_out; j++) {
            struct output *o = &vm->out[j];
            struct pal_rtp_header h = {
                .marker = marker,
                .payload_type = vm->cfg.payload_type,
                .seq = o->seq,
                .timestamp = vm->rtp_ts + o->ts_offset,
                .ssrc = o->ssrc,
            };
            size_t n;
            if (pal_rtp_write(&h, vm->payload, plen, vm->rtp, sizeof(vm->rtp), &n) != 0)
                continue;
            o->seq++;
            vm->l.on_output_packet(vm->l.ctx, o->id, vm->rtp, n);
            vm->st.packets_out++;
            vm->st.bytes_out += n;
            vm->emitted++;
        }
    }
    vm->st.ns_packetize += pal_mixer_cpu_ns() - t;
}

/* Encodes the canvas as the frame of now_ms and sends it to every output. */
static int encode(struct pal_video_mixer *vm, int64_t now_ms, uint64_t t_start)
{
    if (!vm->enc) {
        int rc = pal_vp8_encoder_create(&vm->cfg.vp8, &vm->enc);
        if (rc != 0)
            return rc;
        vm->force_keyframe = true;
    }
    if (vm->cfg.test_delay_ms) /* tests only: a composite slower than its frame rate */
        nanosleep(&(struct timespec){vm->cfg.test_delay_ms / 1000,
                                     (long)(vm->cfg.test_delay_ms % 1000) * 1000000},
                  NULL);
    if (vm->t0_ms < 0)
        vm->t0_ms = now_ms;
    vm->rtp_ts = (uint32_t)((now_ms - vm->t0_ms) * 90); /* 90 kHz from the tick clock */
    /* pts in the encoder's 1/fps time base from the same clock: when the
     * thread lowers the composite's frame rate, the rate control sees the
     * longer frame intervals and keeps the bitrate. */
    int64_t pts = (now_ms - vm->t0_ms) * vm->cfg.vp8.fps / 1000;
    vm->pts = pts > vm->pts ? pts : vm->pts + 1;
    vm->emitted = 0;
    bool kf = vm->force_keyframe;
    vm->force_keyframe = false;
    uint64_t before_pk = vm->st.ns_packetize;
    int rc = pal_vp8_encode(vm->enc, &vm->canvas, vm->pts, kf, on_encoded, vm);
    vm->st.ns_encode += pal_mixer_cpu_ns() - t_start - (vm->st.ns_packetize - before_pk);
    return rc != 0 ? rc : vm->emitted;
}

int pal_video_mixer_tick(struct pal_video_mixer *vm, int64_t now_ms)
{
    vm->now_ms = now_ms;
    if (vm->n_in == 0) {
        if (!vm->canvas.buf)
            return 0; /* idle: nothing held, nothing to do */
        /* The last input left: one blank frame, so that nobody keeps the
         * last face on screen, then back to idle. */
        int rc = 0;
        if (vm->n_out && vm->enc) {
            vm->st.ticks++;
            fill_blank(vm);
            rc = encode(vm, now_ms, pal_mixer_cpu_ns());
        }
        release(vm);
        return rc;
    }
    uint64_t t0 = pal_mixer_cpu_ns();
    vm->st.ticks++;
    for (size_t i = 0; i < vm->n_in; i++) {
        struct input *in = vm->in[i];
        struct pal_jitter_packet p;
        uint32_t lost;
        while (pal_jitter_pop_packet(in->jb, now_ms, &p, &lost) == PAL_JITTER_FRAME)
            pal_vp8_depacketizer_push(in->depack, p.payload, p.len, p.timestamp, p.marker, lost);
        if (pal_keyframe_poll(in->kf, now_ms)) {
            vm->st.keyframe_requests++;
            if (vm->l.on_keyframe_needed)
                vm->l.on_keyframe_needed(vm->l.ctx, in->id);
        }
    }
    uint64_t t1 = pal_mixer_cpu_ns();
    vm->st.ns_decode += t1 - t0;
    int rc = compose(vm);
    uint64_t t2 = pal_mixer_cpu_ns();
    vm->st.ns_compose += t2 - t1;
    if (rc != 0)
        return rc;
    if (vm->n_out == 0) {
        /* Nobody watches: the encoder goes (the canvas stays, composed). */
        pal_vp8_encoder_destroy(vm->enc);
        vm->enc = NULL;
        return 0;
    }
    return encode(vm, now_ms, t2);
}

bool pal_video_mixer_busy(const struct pal_video_mixer *vm)
{
    return vm->n_in > 0 || vm->canvas.buf != NULL;
}

const struct pal_image *pal_video_mixer_canvas(const struct pal_video_mixer *vm)
{
    return &vm->canvas;
}

int pal_video_mixer_tile(const struct pal_video_mixer *vm, uint32_t input_id, struct pal_rect *r)
{
    for (size_t k = 0; k < vm->n_vis; k++)
        if (vm->vis_id[k] == input_id) {
            *r = vm->vis_rect[k];
            return 0;
        }
    return -ENOENT;
}

void pal_video_mixer_get_stats(const struct pal_video_mixer *vm, struct pal_video_mixer_stats *st)
{
    *st = vm->st;
    st->encoders = vm->enc != NULL;
    st->canvas_bytes = vm->canvas.buf ? (uint64_t)vm->canvas.width * vm->canvas.height * 3 / 2 : 0;
}
