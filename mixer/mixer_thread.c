/* The mixer thread. See palabre/mixer_thread.h.
 *
 * Two loops, each a pthread with its own half of every mixer (two
 * pal_mixer instances per mixer id: one gets only the audio inputs and
 * outputs, the other only the video ones, so each holds only its half):
 *   audio  takes everything the owner posts, keeps the audio half, forwards
 *          the video work to the video loop, ticks the audio every 20 ms
 *   video  decodes, composes and encodes the composites at their frame
 *          rates, lowered while a composite cannot keep up
 * so that a late or slow composite never delays an audio tick (issue 10: the
 * mix went silent under load when both shared one loop).
 *
 * Bounded queues (palabre/queue.h), allocated when the thread starts:
 *   cmds   owner -> audio  struct cmd       a few per join; wakes it
 *   rtp    owner -> audio  struct rtp_item  one per publisher packet; drained
 *                                           at each tick (every 20 ms while a
 *                                           mixer has inputs), never wakes it
 *   vcmds  audio -> video  struct cmd       the video commands, forwarded
 *   vrtp   audio -> video  struct rtp_item  the video packets, forwarded
 *   out    both  -> owner  struct out_item  one per output packet; wakes the
 *                                           owner when it was empty
 * Each round drains the commands before the RTP: an input added before its
 * first packet exists when that packet reaches its mixer. A packet goes to
 * the audio half; one it does not know (-ENOENT) is the video's. Payloads
 * are copied, never allocated.
 *
 * An idle half (no input: pal_mixer_busy) is not ticked and does not set
 * the loop's timeout: a room where nobody publishes costs a check per
 * round, and wakes nothing. */
#include "palabre/mixer_thread.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "palabre/log.h"
#include "palabre/queue.h"
#include "palabre/rtp.h"

#define CMD_QUEUE 1024
#define RTP_QUEUE 1024 /* a 20 ms round of 50,000 packets/s */
#define OUT_QUEUE 2048 /* 1.5 KiB a slot: 3 MiB */
#define OUT_WAIT_MS 20 /* how long a loop waits for room in the out queue */
#define AUDIO_MS 20
#define LATE_MS 200 /* further behind than this, a mixer's audio clock restarts */
#define LABEL_MAX 64
/* The composite's frame rate: lowered (interval x3/2) after SLOW_TICKS
 * frames in a row finished after the next was due, down to MAX_FRAME_MS;
 * raised (x2/3) back towards the configured rate after CALM_MS of frames
 * costing under a third of their interval. */
#define SLOW_TICKS 3
#define CALM_MS 2000
#define MAX_FRAME_MS 500

enum cmd_type {
    CMD_OPEN,
    CMD_CLOSE,
    CMD_ADD_INPUT,
    CMD_REMOVE_INPUT,
    CMD_ADD_OUTPUT,
    CMD_REMOVE_OUTPUT,
    CMD_KEYFRAME,
    CMD_LEVEL_EXT,
    CMD_SPEAKER, /* audio -> video: id is the participant shown large */
    CMD_CLOCK,   /* manual clock: now_ms */
};

struct cmd {
    enum cmd_type type;
    enum pal_mixer_kind kind;
    uint32_t mixer, id, participant, ssrc;
    unsigned ext;
    int64_t now_ms;              /* clock; open (manual clock: the clocks' start) */
    struct pal_mixer_config cfg; /* open */
    char label[LABEL_MAX];       /* open */
};

struct rtp_item {
    uint32_t mixer, input;
    int64_t arrival_ms;
    uint32_t len;
    uint8_t data[PAL_RTP_MAX_PACKET];
};

enum out_type { OUT_PACKET, OUT_KEYFRAME };

struct out_item {
    uint32_t mixer, id; /* id: the output's (packet) or the input's (keyframe) */
    uint16_t type, len;
    uint8_t data[PAL_RTP_MAX_PACKET];
};

struct loop;

/* One half of one mixer, on its loop. */
struct slot {
    /* borrowed */
    struct loop *lp;
    /* owned */
    struct pal_mixer *mixer;
    uint32_t *video_in; /* audio: the video inputs (their packets are passed on) */
    size_t n_video_in, cap_video_in;
    /* state */
    uint32_t id;
    int64_t next_ms; /* the next tick due (audio: also the next drain) */
    bool idle;       /* not busy at the last round: its clock stood still */
    uint32_t speaker; /* audio: the last sent to the video loop */
    /* video: the frame rate */
    int base_ms, frame_ms; /* configured and current frame intervals */
    int slow;              /* frames in a row that ended after the next was due */
    int64_t calm_ms;       /* for how long frames have been cheap */
    uint64_t dropped_ms;   /* frame time left out by the lowered rate */
    char label[LABEL_MAX];
};

/* One of the two pthreads. */
struct loop {
    /* borrowed */
    struct pal_mixer_thread *t;
    /* owned */
    struct pal_queue *cmds, *rtp; /* what it drains */
    int efd;                      /* wakes it */
    /* state, on its thread */
    enum pal_mixer_kind kind;
    pthread_t thread;
    bool running;
    struct slot **slots;
    size_t n_slots, cap_slots;
    struct pal_mixer_thread_stats tst; /* its counters, published each round */
    struct pal_mixer_stats closed;     /* its closed halves' counters, summed */
    uint64_t dropped_closed;           /* video: frames left out by closed mixers */
    struct rtp_item rtp_buf;
    struct out_item out_buf;
    int64_t manual_now;  /* manual clock: the loop's time */
    uint64_t clock_seen; /* manual clock: advances run */
    bool clock_pending;  /* audio: an advance to pass on to the video loop */
    /* shared, under lock: one per loop, so that neither ever waits for the
     * other (a preempted video loop must not hold up the audio) */
    pthread_mutex_t lock;
    pthread_cond_t clock_cond; /* manual clock: an advance is done */
    struct pal_mixer_thread_stats shared;
    uint64_t clock_done;
};

/* One mixer's listener, on the owner side. */
struct client {
    uint32_t id;
    struct pal_mixer_listener l;
};

struct pal_mixer_thread {
    /* borrowed */
    pal_mixer_thread_wake_fn wake;
    void *wake_ud;
    /* owned */
    struct loop audio, video;
    struct pal_queue *out;
    /* owner side */
    struct client *clients;
    size_t n_clients, cap_clients;
    uint32_t next_id;
    uint64_t rtp_in, rtp_dropped;
    int64_t owner_now;      /* manual clock: the last advance */
    uint64_t clock_posted; /* manual clock: advances posted */
    bool started, manual;
    char name[16];
    struct rtp_item owner_rtp; /* scratch: too large for the stack */
    struct out_item owner_out;
    /* shared */
    atomic_bool stopping;
};

/* ---- both loops -------------------------------------------------------------- */

static int64_t clock_now(const struct loop *lp)
{
    return lp->t->manual ? lp->manual_now : pal_now_ms();
}

static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void wake_loop(struct loop *lp)
{
    uint64_t one = 1;
    if (write(lp->efd, &one, sizeof(one)) < 0)
        PAL_WARN("mixer", NULL, NULL, "mixer thread %s: cannot wake a loop", lp->t->name);
}

static void sum_stats(struct pal_mixer_stats *acc, const struct pal_mixer_stats *s)
{
    acc->audio_decoded += s->audio_decoded;
    acc->audio_concealed += s->audio_concealed;
    acc->audio_fec_used += s->audio_fec_used;
    acc->audio_skipped_quiet += s->audio_skipped_quiet;
    acc->audio_encodes += s->audio_encodes;
    acc->audio_packets_out += s->audio_packets_out;
    acc->video_frames_decoded += s->video_frames_decoded;
    acc->video_decode_errors += s->video_decode_errors;
    acc->video_keyframe_requests += s->video_keyframe_requests;
    acc->video_frames_encoded += s->video_frames_encoded;
    acc->video_keyframes_encoded += s->video_keyframes_encoded;
    acc->video_packets_out += s->video_packets_out;
    acc->audio_encoders += s->audio_encoders;
    acc->video_encoders += s->video_encoders;
    acc->video_canvas_bytes += s->video_canvas_bytes;
}

/* Queues one item back to the owner. A full queue: the owner is behind (a
 * burst of keyframe packets for many outputs); wait for it a little rather
 * than lose a packet, then drop. */
static void out_push(struct loop *lp, const struct out_item *it)
{
    struct pal_mixer_thread *t = lp->t;
    for (int waited = 0;; waited++) {
        int rc = pal_queue_push(t->out, it);
        if (rc == 1 && t->wake)
            t->wake(t->wake_ud);
        if (rc >= 0) {
            lp->tst.out_packets += it->type == OUT_PACKET;
            return;
        }
        if (waited == OUT_WAIT_MS || atomic_load(&t->stopping)) {
            lp->tst.out_dropped++;
            return;
        }
        if (t->wake)
            t->wake(t->wake_ud);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static void on_mixer_packet(void *ctx, uint32_t output_id, const uint8_t *rtp, size_t len)
{
    struct slot *s = ctx;
    struct out_item *it = &s->lp->out_buf;
    if (len > sizeof(it->data))
        return;
    it->mixer = s->id;
    it->id = output_id;
    it->type = OUT_PACKET;
    it->len = (uint16_t)len;
    memcpy(it->data, rtp, len);
    out_push(s->lp, it);
}

static void on_mixer_keyframe(void *ctx, uint32_t input_id)
{
    struct slot *s = ctx;
    struct out_item *it = &s->lp->out_buf;
    it->mixer = s->id;
    it->id = input_id;
    it->type = OUT_KEYFRAME;
    it->len = 0;
    out_push(s->lp, it);
}

static struct slot *slot_find(struct loop *lp, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < lp->n_slots; i++)
        if (lp->slots[i]->id == id) {
            if (idx)
                *idx = i;
            return lp->slots[i];
        }
    return NULL;
}

static void slot_free(struct loop *lp, struct slot *s)
{
    struct pal_mixer_stats st;
    pal_mixer_get_stats(s->mixer, &st);
    st.audio_encoders = st.video_encoders = st.video_canvas_bytes = 0; /* gauges: gone */
    sum_stats(&lp->closed, &st);
    lp->dropped_closed += s->dropped_ms / (uint64_t)s->base_ms;
    if (lp->kind == PAL_MIXER_AUDIO)
        PAL_INFO("mixer", s->label, NULL, "mixer stopped: %llu audio packets out",
                 (unsigned long long)st.audio_packets_out);
    else
        PAL_INFO("mixer", s->label, NULL,
                 "composite stopped: %llu video packets out, %llu video decode errors",
                 (unsigned long long)st.video_packets_out,
                 (unsigned long long)st.video_decode_errors);
    pal_mixer_destroy(s->mixer);
    free(s->video_in);
    free(s);
}

static void slot_open(struct loop *lp, const struct cmd *c)
{
    if (lp->n_slots == lp->cap_slots) {
        size_t cap = lp->cap_slots ? 2 * lp->cap_slots : 8;
        struct slot **a = realloc(lp->slots, cap * sizeof(*a));
        if (!a) {
            PAL_WARN("mixer", c->label, NULL, "mixer not started: out of memory");
            return;
        }
        lp->slots = a;
        lp->cap_slots = cap;
    }
    struct slot *s = calloc(1, sizeof(*s));
    if (!s) {
        PAL_WARN("mixer", c->label, NULL, "mixer not started: out of memory");
        return;
    }
    s->lp = lp;
    s->id = c->mixer;
    snprintf(s->label, sizeof(s->label), "%s", c->label);
    struct pal_mixer_listener l = {
        .ctx = s, .on_output_packet = on_mixer_packet, .on_keyframe_needed = on_mixer_keyframe};
    int rc = pal_mixer_create(&c->cfg, &l, &s->mixer);
    if (rc) {
        if (lp->kind == PAL_MIXER_AUDIO) /* the video loop refuses it alike */
            PAL_WARN("mixer", c->label, NULL, "mixer not started: %s", strerror(-rc));
        free(s);
        return;
    }
    s->base_ms = s->frame_ms = 1000 / (c->cfg.video_fps > 0 ? c->cfg.video_fps : 30);
    s->next_ms = lp->t->manual ? c->now_ms : pal_now_ms();
    s->idle = true;
    lp->slots[lp->n_slots++] = s;
    if (lp->kind == PAL_MIXER_AUDIO)
        PAL_INFO("mixer", s->label, NULL, "mixer started on thread %s (%dx%d, %d fps)",
                 lp->t->name, c->cfg.video_width, c->cfg.video_height, c->cfg.video_fps);
}

/* Runs the command on the half it concerns; returns -ENOENT when it is not
 * this loop's (an input or output of the other kind). */
static int run_on_slot(struct loop *lp, struct slot *s, const struct cmd *c)
{
    switch (c->type) {
    case CMD_ADD_INPUT:
        return pal_mixer_add_input(s->mixer, c->id, c->participant, c->kind);
    case CMD_REMOVE_INPUT:
        return pal_mixer_remove_input(s->mixer, c->id);
    case CMD_ADD_OUTPUT:
        return pal_mixer_add_output(s->mixer, c->id, c->participant, c->kind, c->ssrc);
    case CMD_REMOVE_OUTPUT:
        return pal_mixer_remove_output(s->mixer, c->id);
    case CMD_KEYFRAME:
        pal_mixer_request_keyframe(s->mixer, c->id); /* -ENOENT: an audio output */
        return 0;
    case CMD_LEVEL_EXT:
        return pal_mixer_set_audio_level_ext(s->mixer, c->ext);
    case CMD_SPEAKER:
        pal_mixer_set_active_speaker(s->mixer, c->id);
        return 0;
    default:
        return 0;
    }
}

/* ---- the audio loop: everything the owner posts, and the audio ------------------ */

/* Passes a command on to the video loop. */
static void forward_cmd(struct loop *lp, const struct cmd *c)
{
    struct loop *v = &lp->t->video;
    int rc = pal_queue_push(v->cmds, c);
    if (rc < 0)
        PAL_WARN("mixer", NULL, NULL, "mixer thread %s: video command queue full, command %d lost",
                 lp->t->name, c->type);
    else if (rc == 1)
        wake_loop(v);
}

static bool is_video_command(const struct cmd *c)
{
    switch (c->type) {
    case CMD_ADD_INPUT:
    case CMD_ADD_OUTPUT:
        return c->kind == PAL_MIXER_VIDEO;
    case CMD_KEYFRAME:
    case CMD_SPEAKER:
        return true;
    default:
        return false;
    }
}

/* The audio loop keeps the ids of the video inputs: while a mixer has some,
 * it drains the packets every 20 ms even when its audio is idle. */
static void note_video_input(struct slot *s, const struct cmd *c)
{
    if (c->type == CMD_ADD_INPUT && c->kind == PAL_MIXER_VIDEO) {
        if (s->n_video_in == s->cap_video_in) {
            size_t cap = s->cap_video_in ? 2 * s->cap_video_in : 4;
            uint32_t *a = realloc(s->video_in, cap * sizeof(*a));
            if (!a)
                return; /* drained with the audio ticks only */
            s->video_in = a;
            s->cap_video_in = cap;
        }
        s->video_in[s->n_video_in++] = c->id;
    } else if (c->type == CMD_REMOVE_INPUT) {
        for (size_t i = 0; i < s->n_video_in; i++)
            if (s->video_in[i] == c->id) {
                s->video_in[i] = s->video_in[--s->n_video_in];
                break;
            }
    }
}

static void audio_command(struct loop *lp, const struct cmd *c)
{
    if (c->type == CMD_OPEN) {
        slot_open(lp, c);
        forward_cmd(lp, c);
        return;
    }
    if (c->type == CMD_CLOCK) {
        lp->manual_now = PAL_MAX(lp->manual_now, c->now_ms);
        lp->clock_seen++;
        lp->clock_pending = true; /* passed on after this round's packets */
        return;
    }
    size_t idx;
    struct slot *s = slot_find(lp, c->mixer, &idx);
    if (!s)
        return; /* never opened (refused config) */
    if (c->type == CMD_CLOSE) {
        lp->slots[idx] = lp->slots[--lp->n_slots];
        slot_free(lp, s);
        forward_cmd(lp, c);
        return;
    }
    note_video_input(s, c);
    if (is_video_command(c)) {
        forward_cmd(lp, c);
        return;
    }
    int rc = run_on_slot(lp, s, c);
    if (rc == -ENOENT && (c->type == CMD_REMOVE_INPUT || c->type == CMD_REMOVE_OUTPUT))
        forward_cmd(lp, c); /* not an audio one: the video loop's (which logs errors) */
    else if (rc)
        PAL_WARN("mixer", s->label, NULL, "command %d for %u: %s", c->type, c->id, strerror(-rc));
}

static void audio_drain(struct loop *lp)
{
    struct cmd c;
    while (pal_queue_pop(lp->cmds, &c) == 1)
        audio_command(lp, &c);
    struct loop *v = &lp->t->video;
    struct rtp_item *it = &lp->rtp_buf;
    struct slot *s = NULL;
    while (pal_queue_pop(lp->rtp, it) == 1) {
        if (!s || s->id != it->mixer)
            s = slot_find(lp, it->mixer, NULL);
        if (!s)
            continue;
        /* errors (late, duplicate) are the mixer's stats */
        if (pal_mixer_push_rtp(s->mixer, it->input, it->data, it->len, it->arrival_ms) !=
            -ENOENT)
            continue;
        int rc = pal_queue_push(v->rtp, it); /* a video input's */
        if (rc < 0)
            lp->tst.rtp_dropped++;
        else if (rc == 1)
            wake_loop(v);
    }
}

/* Shows, to get_stats, whether a tick runs now (the worker can see that it
 * is not waiting for it). Twice per tick: ~100 uncontended locks a second. */
static void set_ticking(struct loop *lp, bool on)
{
    pthread_mutex_lock(&lp->lock);
    lp->shared.ticking = on;
    lp->shared.audio_ticks = lp->tst.audio_ticks;
    lp->shared.video_ticks = lp->tst.video_ticks;
    pthread_mutex_unlock(&lp->lock);
}

static void tick_end(struct loop *lp, uint64_t *max, int64_t t0_us)
{
    uint64_t d = (uint64_t)(pal_now_us() - t0_us);
    if (d > *max)
        *max = d;
    set_ticking(lp, false);
}

/* The audio clock catches up with a late round (the mix keeps 50 packets a
 * second); a stall of more than LATE_MS restarts it rather than bursting
 * (those ticks are lost: ticks_skipped). An idle mixer is not ticked; when it
 * wakes, the ticks left out move its timestamps. Returns whether it ticked. */
static bool tick_audio(struct loop *lp, struct slot *s, int64_t now_ms)
{
    if (!pal_mixer_busy(s->mixer, PAL_MIXER_AUDIO)) {
        if (s->n_video_in == 0) {
            s->idle = true; /* its clock stands still at next_ms */
            return false;
        }
        /* No audio, but video packets to pass on every 20 ms: the clock goes
         * on (the outputs' timestamps with it), no tick. */
        if (now_ms >= s->next_ms) {
            int64_t frames = (now_ms - s->next_ms) / AUDIO_MS + 1;
            pal_mixer_skip_audio(s->mixer, (uint32_t)frames);
            s->next_ms += frames * AUDIO_MS;
        }
        return false;
    }
    if (s->idle) {
        s->idle = false;
        if (now_ms > s->next_ms) {
            int64_t frames = (now_ms - s->next_ms) / AUDIO_MS;
            pal_mixer_skip_audio(s->mixer, (uint32_t)frames);
            s->next_ms += frames * AUDIO_MS;
        }
    }
    if (now_ms - s->next_ms > LATE_MS) {
        lp->tst.ticks_skipped += (uint64_t)(now_ms - s->next_ms) / AUDIO_MS;
        pal_mixer_skip_audio(s->mixer, (uint32_t)((now_ms - s->next_ms) / AUDIO_MS));
        s->next_ms = now_ms;
    }
    bool ticked = false;
    while (now_ms >= s->next_ms) {
        set_ticking(lp, true);
        int64_t t0 = pal_now_us();
        pal_mixer_tick_audio(s->mixer, now_ms);
        lp->tst.audio_ticks++;
        tick_end(lp, &lp->tst.max_audio_tick_us, t0);
        s->next_ms += AUDIO_MS;
        ticked = true;
    }
    uint32_t speaker = pal_mixer_speaker(s->mixer);
    if (speaker != s->speaker) {
        s->speaker = speaker;
        forward_cmd(lp, &(struct cmd){.type = CMD_SPEAKER, .mixer = s->id, .id = speaker});
    }
    return ticked;
}

/* ---- the video loop: the composites -------------------------------------------- */

static void video_drain(struct loop *lp)
{
    struct cmd c;
    while (pal_queue_pop(lp->cmds, &c) == 1) {
        if (c.type == CMD_OPEN) {
            slot_open(lp, &c);
            continue;
        }
        if (c.type == CMD_CLOCK) {
            lp->manual_now = PAL_MAX(lp->manual_now, c.now_ms);
            lp->clock_seen++;
            continue;
        }
        size_t idx;
        struct slot *s = slot_find(lp, c.mixer, &idx);
        if (!s)
            continue;
        if (c.type == CMD_CLOSE) {
            lp->slots[idx] = lp->slots[--lp->n_slots];
            slot_free(lp, s);
            continue;
        }
        int rc = run_on_slot(lp, s, &c);
        if (rc)
            PAL_WARN("mixer", s->label, NULL, "command %d for %u: %s", c.type, c.id,
                     strerror(-rc));
    }
    struct rtp_item *it = &lp->rtp_buf;
    struct slot *s = NULL;
    while (pal_queue_pop(lp->rtp, it) == 1) {
        if (!s || s->id != it->mixer)
            s = slot_find(lp, it->mixer, NULL);
        if (s) /* errors (late, duplicate, removed input) are the mixer's stats */
            pal_mixer_push_rtp(s->mixer, it->input, it->data, it->len, it->arrival_ms);
    }
}

/* The composite's frame rate follows what the loop manages: a frame that
 * ends after the next one was due (late_ms behind its due time, then cost_ms
 * to make: too slow, or the loop got the CPU late) counts as slow;
 * SLOW_TICKS in a row lower the rate; CALM_MS of cheap frames raise it back.
 * The audio never waits for it: it runs on its own loop. */
static void adapt_rate(struct slot *s, int64_t late_ms, int cost_ms)
{
    if (late_ms + cost_ms > s->frame_ms) {
        s->calm_ms = 0;
        if (++s->slow >= SLOW_TICKS && s->frame_ms < MAX_FRAME_MS) {
            s->frame_ms = PAL_MIN(MAX_FRAME_MS, s->frame_ms * 3 / 2);
            s->slow = 0;
            PAL_DEBUG("mixer", s->label, NULL, "composite slowed to %d ms a frame", s->frame_ms);
        }
        return;
    }
    s->slow = 0;
    if (s->frame_ms == s->base_ms || cost_ms * 3 > s->frame_ms * 2 / 3) {
        s->calm_ms = 0;
        return;
    }
    s->calm_ms += s->frame_ms;
    if (s->calm_ms >= CALM_MS) {
        s->frame_ms = PAL_MAX(s->base_ms, s->frame_ms * 2 / 3);
        s->calm_ms = 0;
    }
}

/* At most one frame per round; the clock keeps the frame rate's average
 * and restarts after a stall (those frames are left out, counted). Returns
 * whether it ticked. */
static bool tick_video(struct loop *lp, struct slot *s, int64_t now_ms)
{
    if (!pal_mixer_busy(s->mixer, PAL_MIXER_VIDEO)) {
        s->idle = true;
        s->frame_ms = s->base_ms;
        return false;
    }
    if (s->idle) {
        s->idle = false;
        s->next_ms = PAL_MAX(s->next_ms, now_ms);
        s->slow = 0;
        s->calm_ms = 0;
    }
    if (now_ms < s->next_ms)
        return false;
    set_ticking(lp, true);
    int64_t t0 = pal_now_us();
    if (pal_mixer_tick_video(s->mixer, now_ms) < 0)
        PAL_DEBUG("mixer", s->label, NULL, "video tick failed");
    lp->tst.video_ticks++;
    tick_end(lp, &lp->tst.max_video_tick_us, t0);
    int cost_ms = (int)((pal_now_us() - t0) / 1000);
    s->dropped_ms += (uint64_t)(s->frame_ms - s->base_ms);
    /* a manual clock stands still: lateness there is the test's steps */
    adapt_rate(s, lp->t->manual ? 0 : now_ms - s->next_ms, cost_ms);
    s->next_ms += s->frame_ms;
    int64_t end = clock_now(lp);
    if (end - s->next_ms > 2 * s->frame_ms) {
        s->dropped_ms += (uint64_t)(end - s->next_ms);
        s->next_ms = end + s->frame_ms;
    }
    return true;
}

/* ---- the loops' common round ---------------------------------------------------- */

/* Milliseconds until the next tick is due; -1: nothing busy, wait for a
 * command (or a packet). */
static int next_timeout(struct loop *lp)
{
    if (lp->t->manual)
        return -1;
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < lp->n_slots; i++) {
        const struct slot *s = lp->slots[i];
        if (pal_mixer_busy(s->mixer, lp->kind) ||
            (lp->kind == PAL_MIXER_AUDIO && s->n_video_in)) /* packets to pass on */
            due = PAL_MIN(due, s->next_ms);
    }
    if (due == INT64_MAX)
        return -1;
    int64_t wait = due - pal_now_ms();
    return wait <= 0 ? 0 : (int)PAL_MIN(wait, 1000);
}

static void publish_stats(struct loop *lp)
{
    struct pal_mixer_stats mix = lp->closed;
    uint64_t dropped = lp->dropped_closed;
    uint32_t slowed = 0, idle = 0;
    for (size_t i = 0; i < lp->n_slots; i++) {
        struct slot *s = lp->slots[i];
        struct pal_mixer_stats st;
        pal_mixer_get_stats(s->mixer, &st);
        sum_stats(&mix, &st);
        dropped += s->dropped_ms / (uint64_t)s->base_ms;
        slowed += s->frame_ms > s->base_ms;
        idle += !pal_mixer_busy(s->mixer, lp->kind);
    }
    lp->tst.mixers = (uint32_t)lp->n_slots;
    lp->tst.cpu_us = (uint64_t)thread_cpu_us();
    lp->tst.mix = mix;
    if (lp->kind == PAL_MIXER_VIDEO) {
        lp->tst.video_frames_dropped = dropped;
        lp->tst.video_slowed = slowed;
        lp->tst.video_idle = idle;
    } else {
        lp->tst.audio_idle = idle;
    }
    pthread_mutex_lock(&lp->lock);
    lp->shared = lp->tst;
    if (lp->clock_seen > lp->clock_done) {
        lp->clock_done = lp->clock_seen;
        pthread_cond_broadcast(&lp->clock_cond);
    }
    pthread_mutex_unlock(&lp->lock);
}

static void *loop_main(void *arg)
{
    struct loop *lp = arg;
    struct pal_mixer_thread *t = lp->t;
    bool audio = lp->kind == PAL_MIXER_AUDIO;
    lp->tst.tid = (int)gettid();
    publish_stats(lp);
    while (!atomic_load(&t->stopping)) {
        struct pollfd pfd = {.fd = lp->efd, .events = POLLIN};
        uint64_t v;
        if (poll(&pfd, 1, next_timeout(lp)) > 0 && read(lp->efd, &v, sizeof(v)) < 0) {
            /* EAGAIN: another round drained it */
        }
        if (audio)
            audio_drain(lp);
        else
            video_drain(lp);
        if (atomic_load(&t->stopping))
            break;
        for (size_t i = 0; i < lp->n_slots; i++)
            if (audio)
                tick_audio(lp, lp->slots[i], clock_now(lp));
            else
                tick_video(lp, lp->slots[i], clock_now(lp));
        if (lp->clock_pending) { /* after this round's packets went on */
            lp->clock_pending = false;
            forward_cmd(lp, &(struct cmd){.type = CMD_CLOCK, .now_ms = lp->manual_now});
        }
        publish_stats(lp);
    }
    for (size_t i = 0; i < lp->n_slots; i++)
        slot_free(lp, lp->slots[i]);
    lp->n_slots = 0;
    publish_stats(lp);
    pthread_mutex_lock(&lp->lock); /* an advance still waiting: release it */
    lp->clock_done = UINT64_MAX;
    pthread_cond_broadcast(&lp->clock_cond);
    pthread_mutex_unlock(&lp->lock);
    return NULL;
}

/* ---- the owner's side ----------------------------------------------------------- */

int pal_mixer_thread_create(const char *name, pal_mixer_thread_wake_fn wake, void *wake_ud,
                            struct pal_mixer_thread **out)
{
    *out = NULL;
    if (!name)
        return -EINVAL;
    struct pal_mixer_thread *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->wake = wake;
    t->wake_ud = wake_ud;
    struct loop *loops[2] = {&t->audio, &t->video};
    for (int i = 0; i < 2; i++) {
        loops[i]->t = t;
        loops[i]->efd = -1;
        loops[i]->kind = i == 0 ? PAL_MIXER_AUDIO : PAL_MIXER_VIDEO;
        pthread_mutex_init(&loops[i]->lock, NULL);
        pthread_cond_init(&loops[i]->clock_cond, NULL);
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    atomic_init(&t->stopping, false);
    *out = t;
    return 0;
}

int pal_mixer_thread_use_manual_clock(struct pal_mixer_thread *t)
{
    if (t->started)
        return -EBUSY;
    t->manual = true;
    return 0;
}

static int loop_init(struct loop *lp)
{
    int rc = pal_queue_create(CMD_QUEUE, sizeof(struct cmd), &lp->cmds);
    if (rc == 0)
        rc = pal_queue_create(RTP_QUEUE, sizeof(struct rtp_item), &lp->rtp);
    if (rc == 0 && (lp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        rc = -errno;
    return rc;
}

static void loop_free(struct loop *lp)
{
    pal_queue_destroy(lp->cmds);
    pal_queue_destroy(lp->rtp);
    lp->cmds = lp->rtp = NULL;
    if (lp->efd >= 0)
        close(lp->efd);
    lp->efd = -1;
    free(lp->slots);
    lp->slots = NULL;
}

static void stop_loops(struct pal_mixer_thread *t)
{
    atomic_store(&t->stopping, true);
    struct loop *loops[2] = {&t->audio, &t->video};
    for (int i = 0; i < 2; i++)
        if (loops[i]->running) {
            wake_loop(loops[i]);
            pthread_join(loops[i]->thread, NULL);
            loops[i]->running = false;
        }
}

static int start(struct pal_mixer_thread *t)
{
    if (t->started)
        return 0;
    int rc = pal_queue_create(OUT_QUEUE, sizeof(struct out_item), &t->out);
    if (rc == 0)
        rc = loop_init(&t->audio);
    if (rc == 0)
        rc = loop_init(&t->video);
    /* The video loop first: the audio one forwards to it. */
    if (rc == 0 && pthread_create(&t->video.thread, NULL, loop_main, &t->video) != 0)
        rc = -EAGAIN;
    t->video.running = rc == 0;
    if (rc == 0 && pthread_create(&t->audio.thread, NULL, loop_main, &t->audio) != 0)
        rc = -EAGAIN;
    t->audio.running = rc == 0;
    if (rc) {
        stop_loops(t);
        atomic_store(&t->stopping, false);
        loop_free(&t->audio);
        loop_free(&t->video);
        pal_queue_destroy(t->out);
        t->out = NULL;
        return rc;
    }
    char vname[16];
    snprintf(vname, sizeof(vname), "%.13s-v", t->name);
    pthread_setname_np(t->audio.thread, t->name);
    pthread_setname_np(t->video.thread, vname);
    t->started = true;
    return 0;
}

void pal_mixer_thread_destroy(struct pal_mixer_thread *t)
{
    if (!t)
        return;
    stop_loops(t);
    loop_free(&t->audio);
    loop_free(&t->video);
    pal_queue_destroy(t->out);
    free(t->clients);
    struct loop *loops[2] = {&t->audio, &t->video};
    for (int i = 0; i < 2; i++) {
        pthread_cond_destroy(&loops[i]->clock_cond);
        pthread_mutex_destroy(&loops[i]->lock);
    }
    free(t);
}

static int post(struct pal_mixer_thread *t, const struct cmd *c)
{
    if (!t->started)
        return -EAGAIN;
    int rc = pal_queue_push(t->audio.cmds, c);
    if (rc < 0) {
        PAL_WARN("mixer", NULL, NULL, "mixer thread %s: command queue full, command %d lost",
                 t->name, c->type);
        return rc;
    }
    if (rc == 1) {
        uint64_t one = 1;
        if (write(t->audio.efd, &one, sizeof(one)) < 0)
            return -EIO;
    }
    return 0;
}

static struct client *client_find(struct pal_mixer_thread *t, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < t->n_clients; i++)
        if (t->clients[i].id == id) {
            if (idx)
                *idx = i;
            return &t->clients[i];
        }
    return NULL;
}

int pal_mixer_thread_open(struct pal_mixer_thread *t, const char *label,
                          const struct pal_mixer_config *c, const struct pal_mixer_listener *l,
                          uint32_t *id)
{
    *id = 0;
    if (!c || !l || !l->on_output_packet)
        return -EINVAL;
    int rc = start(t);
    if (rc)
        return rc;
    if (t->n_clients == t->cap_clients) {
        size_t cap = t->cap_clients ? 2 * t->cap_clients : 8;
        struct client *a = realloc(t->clients, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        t->clients = a;
        t->cap_clients = cap;
    }
    if (++t->next_id == 0)
        ++t->next_id;
    struct cmd cmd = {.type = CMD_OPEN, .mixer = t->next_id, .now_ms = t->owner_now, .cfg = *c};
    snprintf(cmd.label, sizeof(cmd.label), "%s", label ? label : "");
    rc = post(t, &cmd);
    if (rc)
        return rc;
    t->clients[t->n_clients++] = (struct client){.id = t->next_id, .l = *l};
    *id = t->next_id;
    return 0;
}

void pal_mixer_thread_close(struct pal_mixer_thread *t, uint32_t id)
{
    size_t idx;
    if (!client_find(t, id, &idx))
        return;
    t->clients[idx] = t->clients[--t->n_clients];
    post(t, &(struct cmd){.type = CMD_CLOSE, .mixer = id});
}

int pal_mixer_thread_add_input(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                               uint32_t participant_id, enum pal_mixer_kind kind)
{
    return post(t, &(struct cmd){.type = CMD_ADD_INPUT, .mixer = id, .id = input_id,
                                 .participant = participant_id, .kind = kind});
}

int pal_mixer_thread_remove_input(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id)
{
    return post(t, &(struct cmd){.type = CMD_REMOVE_INPUT, .mixer = id, .id = input_id});
}

int pal_mixer_thread_add_output(struct pal_mixer_thread *t, uint32_t id, uint32_t output_id,
                                uint32_t participant_id, enum pal_mixer_kind kind, uint32_t ssrc)
{
    return post(t, &(struct cmd){.type = CMD_ADD_OUTPUT, .mixer = id, .id = output_id,
                                 .participant = participant_id, .kind = kind, .ssrc = ssrc});
}

int pal_mixer_thread_remove_output(struct pal_mixer_thread *t, uint32_t id, uint32_t output_id)
{
    return post(t, &(struct cmd){.type = CMD_REMOVE_OUTPUT, .mixer = id, .id = output_id});
}

int pal_mixer_thread_request_keyframe(struct pal_mixer_thread *t, uint32_t id,
                                      uint32_t output_id)
{
    return post(t, &(struct cmd){.type = CMD_KEYFRAME, .mixer = id, .id = output_id});
}

int pal_mixer_thread_set_audio_level_ext(struct pal_mixer_thread *t, uint32_t id, unsigned ext)
{
    return post(t, &(struct cmd){.type = CMD_LEVEL_EXT, .mixer = id, .ext = ext});
}

int pal_mixer_thread_advance(struct pal_mixer_thread *t, int64_t now_ms)
{
    if (!t->manual)
        return -EINVAL;
    t->owner_now = PAL_MAX(t->owner_now, now_ms);
    if (!t->started)
        return 0; /* nothing open yet: the clock starts at the first open */
    int rc = post(t, &(struct cmd){.type = CMD_CLOCK, .now_ms = t->owner_now});
    if (rc)
        return rc;
    uint64_t want = ++t->clock_posted;
    struct loop *loops[2] = {&t->audio, &t->video}; /* the audio loop passes it on */
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&loops[i]->lock);
        while (loops[i]->clock_done < want)
            pthread_cond_wait(&loops[i]->clock_cond, &loops[i]->lock);
        pthread_mutex_unlock(&loops[i]->lock);
    }
    return 0;
}

int pal_mixer_thread_push_rtp(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                              const uint8_t *pkt, size_t len, int64_t arrival_ms)
{
    return pal_mixer_thread_push_rtp_parts(t, id, input_id, pkt, len, NULL, 0, arrival_ms);
}

int pal_mixer_thread_push_rtp_parts(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                                    const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                                    size_t body_len, int64_t arrival_ms)
{
    struct rtp_item *it = &t->owner_rtp;
    if (hdr_len > sizeof(it->data) || body_len > sizeof(it->data) - hdr_len)
        return -EMSGSIZE;
    if (!t->started)
        return -EAGAIN;
    it->mixer = id;
    it->input = input_id;
    it->arrival_ms = arrival_ms;
    it->len = (uint32_t)(hdr_len + body_len);
    memcpy(it->data, hdr, hdr_len);
    if (body_len)
        memcpy(it->data + hdr_len, body, body_len);
    if (pal_queue_push(t->audio.rtp, it) < 0) {
        t->rtp_dropped++;
        return -ENOBUFS;
    }
    t->rtp_in++;
    return 0;
}

size_t pal_mixer_thread_dispatch(struct pal_mixer_thread *t)
{
    if (!t->started)
        return 0;
    struct out_item *it = &t->owner_out;
    size_t n = 0;
    while (pal_queue_pop(t->out, it) == 1) {
        n++;
        /* Looked up for each item: a listener may close its mixer. */
        struct client *c = client_find(t, it->mixer, NULL);
        if (!c)
            continue; /* closed since: dropped */
        if (it->type == OUT_PACKET)
            c->l.on_output_packet(c->l.ctx, it->id, it->data, it->len);
        else if (c->l.on_keyframe_needed)
            c->l.on_keyframe_needed(c->l.ctx, it->id);
    }
    return n;
}

void pal_mixer_thread_get_stats(struct pal_mixer_thread *t, struct pal_mixer_thread_stats *st)
{
    struct pal_mixer_thread_stats a_copy, v_copy;
    pthread_mutex_lock(&t->audio.lock);
    a_copy = t->audio.shared;
    pthread_mutex_unlock(&t->audio.lock);
    pthread_mutex_lock(&t->video.lock);
    v_copy = t->video.shared;
    pthread_mutex_unlock(&t->video.lock);
    const struct pal_mixer_thread_stats *a = &a_copy, *v = &v_copy;
    *st = *a;
    st->video_tid = v->tid;
    st->video_ticks = v->video_ticks;
    st->max_video_tick_us = v->max_video_tick_us;
    st->ticking = a->ticking || v->ticking;
    st->video_ticking = v->ticking;
    st->out_packets += v->out_packets;
    st->out_dropped += v->out_dropped;
    st->cpu_us += v->cpu_us;
    st->video_frames_dropped = v->video_frames_dropped;
    st->video_slowed = v->video_slowed;
    st->video_idle = v->video_idle;
    sum_stats(&st->mix, &v->mix);
    st->rtp_in = t->rtp_in;
    st->rtp_dropped = t->rtp_dropped + a->rtp_dropped; /* the owner's, and forwarding's */
}
