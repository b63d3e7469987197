/* The mixer thread. See palabre/mixer_thread.h.
 *
 * Three bounded queues (palabre/queue.h), allocated when the thread starts:
 *   cmds  owner -> thread  struct cmd       a few per join; wakes the thread
 *   rtp   owner -> thread  struct rtp_item  one per publisher packet; drained
 *                                           at each tick, so it never wakes it
 *   out   thread -> owner  struct out_item  one per output packet; wakes the
 *                                           owner when it was empty
 * Each round drains the commands before the RTP: an input added before its
 * first packet exists when that packet reaches its mixer. The payloads are
 * copied twice (into the queue, out of it) and never allocated. */
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
#define OUT_WAIT_MS 20 /* how long the thread waits for room in the out queue */
#define AUDIO_MS 20
#define LATE_MS 200 /* further behind than this, a mixer's clocks restart */
#define LABEL_MAX 64

enum cmd_type {
    CMD_OPEN,
    CMD_CLOSE,
    CMD_ADD_INPUT,
    CMD_REMOVE_INPUT,
    CMD_ADD_OUTPUT,
    CMD_REMOVE_OUTPUT,
    CMD_KEYFRAME,
    CMD_LEVEL_EXT,
    CMD_CLOCK, /* manual clock: now_ms */
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

/* One mixer, on the thread. */
struct slot {
    /* borrowed */
    struct pal_mixer_thread *t;
    /* owned */
    struct pal_mixer *mixer;
    /* state */
    uint32_t id;
    int frame_ms;
    int64_t next_audio_ms, next_video_ms;
    char label[LABEL_MAX];
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
    struct pal_queue *cmds, *rtp, *out;
    int efd; /* wakes the thread */
    /* owner side */
    struct client *clients;
    size_t n_clients, cap_clients;
    uint32_t next_id;
    uint64_t rtp_in, rtp_dropped;
    int64_t owner_now;      /* manual clock: the last advance */
    uint64_t clock_posted; /* manual clock: advances posted */
    bool started, manual;
    pthread_t thread;
    char name[16];
    struct rtp_item owner_rtp; /* scratch: too large for the stack */
    struct out_item owner_out;
    /* thread side */
    struct slot **slots;
    size_t n_slots, cap_slots;
    struct pal_mixer_thread_stats tst; /* the thread's counters, published each round */
    struct pal_mixer_stats closed;     /* closed mixers' counters, summed */
    struct rtp_item thread_rtp;
    struct out_item thread_out;
    int64_t manual_now;   /* manual clock: the thread's time */
    uint64_t clock_seen; /* manual clock: advances run this round */
    /* shared */
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t clock_cond;            /* manual clock: an advance is done */
    struct pal_mixer_thread_stats shared; /* under lock */
    uint64_t clock_done;                  /* under lock */
};

/* ---- the thread --------------------------------------------------------------- */

static int64_t clock_now(const struct pal_mixer_thread *t)
{
    return t->manual ? t->manual_now : pal_now_ms();
}

static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
}

/* Queues one item back to the owner. A full queue: the owner is behind (a
 * burst of keyframe packets for many outputs); wait for it a little rather
 * than lose a packet, then drop. */
static void out_push(struct pal_mixer_thread *t, const struct out_item *it)
{
    for (int waited = 0;; waited++) {
        int rc = pal_queue_push(t->out, it);
        if (rc == 1 && t->wake)
            t->wake(t->wake_ud);
        if (rc >= 0) {
            t->tst.out_packets += it->type == OUT_PACKET;
            return;
        }
        if (waited == OUT_WAIT_MS || atomic_load(&t->stopping)) {
            t->tst.out_dropped++;
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
    struct out_item *it = &s->t->thread_out;
    if (len > sizeof(it->data))
        return;
    it->mixer = s->id;
    it->id = output_id;
    it->type = OUT_PACKET;
    it->len = (uint16_t)len;
    memcpy(it->data, rtp, len);
    out_push(s->t, it);
}

static void on_mixer_keyframe(void *ctx, uint32_t input_id)
{
    struct slot *s = ctx;
    struct out_item *it = &s->t->thread_out;
    it->mixer = s->id;
    it->id = input_id;
    it->type = OUT_KEYFRAME;
    it->len = 0;
    out_push(s->t, it);
}

static struct slot *slot_find(struct pal_mixer_thread *t, uint32_t id, size_t *idx)
{
    for (size_t i = 0; i < t->n_slots; i++)
        if (t->slots[i]->id == id) {
            if (idx)
                *idx = i;
            return t->slots[i];
        }
    return NULL;
}

static void slot_free(struct pal_mixer_thread *t, struct slot *s)
{
    struct pal_mixer_stats st;
    pal_mixer_get_stats(s->mixer, &st);
    sum_stats(&t->closed, &st);
    PAL_INFO("mixer", s->label, NULL,
             "mixer stopped: %llu audio and %llu video packets out, %llu video decode errors",
             (unsigned long long)st.audio_packets_out, (unsigned long long)st.video_packets_out,
             (unsigned long long)st.video_decode_errors);
    pal_mixer_destroy(s->mixer);
    free(s);
}

static void slot_open(struct pal_mixer_thread *t, const struct cmd *c)
{
    if (t->n_slots == t->cap_slots) {
        size_t cap = t->cap_slots ? 2 * t->cap_slots : 8;
        struct slot **a = realloc(t->slots, cap * sizeof(*a));
        if (!a) {
            PAL_WARN("mixer", c->label, NULL, "mixer not started: out of memory");
            return;
        }
        t->slots = a;
        t->cap_slots = cap;
    }
    struct slot *s = calloc(1, sizeof(*s));
    if (!s) {
        PAL_WARN("mixer", c->label, NULL, "mixer not started: out of memory");
        return;
    }
    s->t = t;
    s->id = c->mixer;
    snprintf(s->label, sizeof(s->label), "%s", c->label);
    struct pal_mixer_listener l = {
        .ctx = s, .on_output_packet = on_mixer_packet, .on_keyframe_needed = on_mixer_keyframe};
    int rc = pal_mixer_create(&c->cfg, &l, &s->mixer);
    if (rc) {
        PAL_WARN("mixer", c->label, NULL, "mixer not started: %s", strerror(-rc));
        free(s);
        return;
    }
    s->frame_ms = 1000 / (c->cfg.video_fps > 0 ? c->cfg.video_fps : 30);
    s->next_audio_ms = s->next_video_ms = t->manual ? c->now_ms : pal_now_ms();
    t->slots[t->n_slots++] = s;
    PAL_INFO("mixer", s->label, NULL, "mixer started on thread %s (%dx%d, %d fps)", t->name,
             c->cfg.video_width, c->cfg.video_height, c->cfg.video_fps);
}

static void run_command(struct pal_mixer_thread *t, const struct cmd *c)
{
    if (c->type == CMD_OPEN) {
        slot_open(t, c);
        return;
    }
    if (c->type == CMD_CLOCK) {
        t->manual_now = PAL_MAX(t->manual_now, c->now_ms);
        t->clock_seen++;
        return;
    }
    size_t idx;
    struct slot *s = slot_find(t, c->mixer, &idx);
    if (!s)
        return; /* never opened (refused config) */
    int rc = 0;
    switch (c->type) {
    case CMD_CLOSE:
        t->slots[idx] = t->slots[--t->n_slots];
        slot_free(t, s);
        return;
    case CMD_ADD_INPUT:
        rc = pal_mixer_add_input(s->mixer, c->id, c->participant, c->kind);
        break;
    case CMD_REMOVE_INPUT:
        rc = pal_mixer_remove_input(s->mixer, c->id);
        break;
    case CMD_ADD_OUTPUT:
        rc = pal_mixer_add_output(s->mixer, c->id, c->participant, c->kind, c->ssrc);
        break;
    case CMD_REMOVE_OUTPUT:
        rc = pal_mixer_remove_output(s->mixer, c->id);
        break;
    case CMD_KEYFRAME:
        pal_mixer_request_keyframe(s->mixer, c->id); /* -ENOENT: an audio output */
        break;
    case CMD_LEVEL_EXT:
        rc = pal_mixer_set_audio_level_ext(s->mixer, c->ext);
        break;
    default:
        break;
    }
    if (rc)
        PAL_WARN("mixer", s->label, NULL, "command %d for %u: %s", c->type, c->id, strerror(-rc));
}

static void drain(struct pal_mixer_thread *t)
{
    struct cmd c;
    while (pal_queue_pop(t->cmds, &c) == 1)
        run_command(t, &c);
    struct rtp_item *it = &t->thread_rtp;
    struct slot *s = NULL;
    while (pal_queue_pop(t->rtp, it) == 1) {
        if (!s || s->id != it->mixer)
            s = slot_find(t, it->mixer, NULL);
        if (s) /* errors (late, duplicate, removed input) are the mixer's stats */
            pal_mixer_push_rtp(s->mixer, it->input, it->data, it->len, it->arrival_ms);
    }
}

/* Shows, to get_stats, whether a tick runs now (the worker can see that it
 * is not waiting for it). Twice per tick: ~100 uncontended locks a second. */
static void set_ticking(struct pal_mixer_thread *t, bool on)
{
    pthread_mutex_lock(&t->lock);
    t->shared.ticking = on;
    t->shared.audio_ticks = t->tst.audio_ticks;
    t->shared.video_ticks = t->tst.video_ticks;
    pthread_mutex_unlock(&t->lock);
}

/* The tick's wall time, for the longest-tick counters. */
static void tick_end(struct pal_mixer_thread *t, uint64_t *max, int64_t t0_us)
{
    uint64_t d = (uint64_t)(pal_now_us() - t0_us);
    if (d > *max)
        *max = d;
    set_ticking(t, false);
}

/* The audio clock catches up with a late round (the mix keeps 50 packets a
 * second); video encodes at most one frame per round and keeps its average
 * rate. A stall of more than LATE_MS restarts both clocks rather than
 * bursting. */
static void tick_audio(struct pal_mixer_thread *t, struct slot *s, int64_t now_ms)
{
    if (now_ms - s->next_audio_ms > LATE_MS) {
        t->tst.ticks_skipped += (uint64_t)(now_ms - s->next_audio_ms) / AUDIO_MS;
        s->next_audio_ms = now_ms;
    }
    while (now_ms >= s->next_audio_ms) {
        set_ticking(t, true);
        int64_t t0 = pal_now_us();
        pal_mixer_tick_audio(s->mixer, now_ms);
        t->tst.audio_ticks++;
        tick_end(t, &t->tst.max_audio_tick_us, t0);
        s->next_audio_ms += AUDIO_MS;
    }
}

static void tick_video(struct pal_mixer_thread *t, struct slot *s, int64_t now_ms)
{
    if (now_ms < s->next_video_ms)
        return;
    set_ticking(t, true);
    int64_t t0 = pal_now_us();
    if (pal_mixer_tick_video(s->mixer, now_ms) < 0)
        PAL_DEBUG("mixer", s->label, NULL, "video tick failed");
    t->tst.video_ticks++;
    tick_end(t, &t->tst.max_video_tick_us, t0);
    s->next_video_ms += s->frame_ms;
    if (now_ms - s->next_video_ms > 2 * s->frame_ms)
        s->next_video_ms = now_ms + s->frame_ms;
}

/* Milliseconds until the next tick is due; -1: no mixer, wait for a command. */
static int next_timeout(struct pal_mixer_thread *t)
{
    if (t->n_slots == 0 || t->manual)
        return -1;
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < t->n_slots; i++)
        due = PAL_MIN(due, PAL_MIN(t->slots[i]->next_audio_ms, t->slots[i]->next_video_ms));
    int64_t wait = due - pal_now_ms();
    return wait <= 0 ? 0 : (int)PAL_MIN(wait, 1000);
}

static void publish_stats(struct pal_mixer_thread *t)
{
    struct pal_mixer_stats mix = t->closed;
    for (size_t i = 0; i < t->n_slots; i++) {
        struct pal_mixer_stats st;
        pal_mixer_get_stats(t->slots[i]->mixer, &st);
        sum_stats(&mix, &st);
    }
    t->tst.mixers = (uint32_t)t->n_slots;
    t->tst.cpu_us = (uint64_t)thread_cpu_us();
    t->tst.mix = mix;
    pthread_mutex_lock(&t->lock);
    t->shared = t->tst;
    if (t->clock_seen > t->clock_done) {
        t->clock_done = t->clock_seen;
        pthread_cond_broadcast(&t->clock_cond);
    }
    pthread_mutex_unlock(&t->lock);
}

static void *thread_main(void *arg)
{
    struct pal_mixer_thread *t = arg;
    t->tst.tid = (int)gettid();
    publish_stats(t);
    while (!atomic_load(&t->stopping)) {
        struct pollfd pfd = {.fd = t->efd, .events = POLLIN};
        uint64_t v;
        if (poll(&pfd, 1, next_timeout(t)) > 0 && read(t->efd, &v, sizeof(v)) < 0) {
            /* EAGAIN: another round drained it */
        }
        drain(t);
        if (atomic_load(&t->stopping))
            break;
        int64_t now = clock_now(t);
        for (size_t i = 0; i < t->n_slots; i++) /* audio first: 20 ms, latency-bound */
            tick_audio(t, t->slots[i], now);
        for (size_t i = 0; i < t->n_slots; i++)
            tick_video(t, t->slots[i], clock_now(t));
        publish_stats(t);
    }
    pthread_mutex_lock(&t->lock); /* an advance still waiting: release it */
    t->clock_done = UINT64_MAX;
    pthread_cond_broadcast(&t->clock_cond);
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < t->n_slots; i++)
        slot_free(t, t->slots[i]);
    t->n_slots = 0;
    publish_stats(t);
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
    t->efd = -1;
    snprintf(t->name, sizeof(t->name), "%s", name);
    atomic_init(&t->stopping, false);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->clock_cond, NULL);
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

static int start(struct pal_mixer_thread *t)
{
    if (t->started)
        return 0;
    int rc = pal_queue_create(CMD_QUEUE, sizeof(struct cmd), &t->cmds);
    if (rc == 0)
        rc = pal_queue_create(RTP_QUEUE, sizeof(struct rtp_item), &t->rtp);
    if (rc == 0)
        rc = pal_queue_create(OUT_QUEUE, sizeof(struct out_item), &t->out);
    if (rc == 0 && (t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        rc = -errno;
    if (rc == 0 && pthread_create(&t->thread, NULL, thread_main, t) != 0)
        rc = -EAGAIN;
    if (rc) {
        pal_queue_destroy(t->cmds);
        pal_queue_destroy(t->rtp);
        pal_queue_destroy(t->out);
        t->cmds = t->rtp = t->out = NULL;
        if (t->efd >= 0)
            close(t->efd);
        t->efd = -1;
        return rc;
    }
    pthread_setname_np(t->thread, t->name);
    t->started = true;
    return 0;
}

void pal_mixer_thread_destroy(struct pal_mixer_thread *t)
{
    if (!t)
        return;
    if (t->started) {
        atomic_store(&t->stopping, true);
        uint64_t one = 1;
        if (write(t->efd, &one, sizeof(one)) < 0)
            PAL_WARN("mixer", NULL, NULL, "mixer thread %s: cannot wake", t->name);
        pthread_join(t->thread, NULL);
        close(t->efd);
    }
    pal_queue_destroy(t->cmds);
    pal_queue_destroy(t->rtp);
    pal_queue_destroy(t->out);
    free(t->slots);
    free(t->clients);
    pthread_cond_destroy(&t->clock_cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int post(struct pal_mixer_thread *t, const struct cmd *c)
{
    if (!t->started)
        return -EAGAIN;
    int rc = pal_queue_push(t->cmds, c);
    if (rc < 0) {
        PAL_WARN("mixer", NULL, NULL, "mixer thread %s: command queue full, command %d lost",
                 t->name, c->type);
        return rc;
    }
    if (rc == 1) {
        uint64_t one = 1;
        if (write(t->efd, &one, sizeof(one)) < 0)
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
    pthread_mutex_lock(&t->lock);
    while (t->clock_done < want)
        pthread_cond_wait(&t->clock_cond, &t->lock);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

int pal_mixer_thread_push_rtp(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                              const uint8_t *pkt, size_t len, int64_t arrival_ms)
{
    struct rtp_item *it = &t->owner_rtp;
    if (len > sizeof(it->data))
        return -EMSGSIZE;
    if (!t->started)
        return -EAGAIN;
    it->mixer = id;
    it->input = input_id;
    it->arrival_ms = arrival_ms;
    it->len = (uint32_t)len;
    memcpy(it->data, pkt, len);
    if (pal_queue_push(t->rtp, it) < 0) {
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
    pthread_mutex_lock(&t->lock);
    *st = t->shared;
    pthread_mutex_unlock(&t->lock);
    st->rtp_in = t->rtp_in;
    st->rtp_dropped = t->rtp_dropped;
}
