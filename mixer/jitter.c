/* Jitter buffer for one mixer input. See palabre/mixer/jitter.h. */
#include "palabre/mixer/jitter.h"
#include "palabre/rtp.h"

#include <stdlib.h>
#include <string.h>

/* Extended sequence numbers start here so that reordering around the very
 * first packet never goes below zero. */
#define EXT_BASE ((uint64_t)1 << 32)
#define IDLE_AFTER_UNDERRUNS 5
/* This many late packets in a row mean the sender restarted its sequence. */
#define RESTART_AFTER_LATE 8
/* After a loss, one extra frame of depth for this many frames (5 s). */
#define LOSS_BOOST_FRAMES 250

struct slot {
    bool used;
    bool marker;
    uint16_t len;
    uint32_t ts;
    uint64_t seq;
    int64_t arrival_ms;
    uint8_t data[PAL_JITTER_MAX_PAYLOAD];
};

struct pal_jitter {
    /* owned */
    struct slot *slots;
    /* state */
    struct pal_jitter_config cfg;
    uint32_t mask;
    bool started;    /* a packet was pushed */
    bool popped_any; /* a packet was handed out: older ones are late from now on */
    bool playing;    /* audio: playout running (not buffering or idle) */
    uint64_t next;    /* next extended seq to hand out */
    uint64_t highest; /* highest extended seq pushed */
    uint32_t count;   /* used slots */
    uint32_t underrun_run;
    uint32_t late_run;
    uint32_t loss_boost; /* ticks left with one extra frame of depth */
    uint32_t stretch_budget; /* frames to add to the depth by concealment */
    bool have_last; /* last_arrival_ms/last_ts valid for the jitter estimate */
    int64_t last_arrival_ms;
    uint32_t last_ts;
    double jitter_ms;
    uint32_t target_ms;
    struct pal_jitter_stats st;
};

int pal_jitter_create(const struct pal_jitter_config *cfg, struct pal_jitter **out)
{
    if (!cfg || !out || cfg->clock_rate == 0 || cfg->capacity < 2 || cfg->capacity > 4096 ||
        (cfg->capacity & (cfg->capacity - 1)) != 0)
        return -EINVAL;
    if (cfg->frame_ms > 0 && (cfg->min_delay_ms < cfg->frame_ms || cfg->max_delay_ms < cfg->min_delay_ms ||
                              cfg->max_delay_ms / cfg->frame_ms + 2 > cfg->capacity))
        return -EINVAL;
    struct pal_jitter *jb = calloc(1, sizeof(*jb));
    if (!jb)
        return -ENOMEM;
    jb->slots = calloc(cfg->capacity, sizeof(*jb->slots));
    if (!jb->slots) {
        free(jb);
        return -ENOMEM;
    }
    jb->cfg = *cfg;
    jb->mask = cfg->capacity - 1;
    jb->target_ms = cfg->min_delay_ms;
    *out = jb;
    return 0;
}

void pal_jitter_destroy(struct pal_jitter *jb)
{
    if (!jb)
        return;
    free(jb->slots);
    free(jb);
}

static void clear_range(struct pal_jitter *jb, uint64_t from, uint64_t to, uint64_t *counter)
{
    for (uint64_t s = from; s < to; s++) {
        struct slot *sl = &jb->slots[s & jb->mask];
        if (sl->used && sl->seq == s) {
            sl->used = false;
            jb->count--;
            if (counter)
                (*counter)++;
        }
    }
}

static void update_target(struct pal_jitter *jb);

static void update_jitter(struct pal_jitter *jb, uint32_t ts, int64_t arrival_ms)
{
    if (jb->have_last) {
        /* RFC 3550 A.8: D = (Rj - Ri) - (Sj - Si), J += (|D| - J) / 16 */
        double d = (double)(arrival_ms - jb->last_arrival_ms) -
                   (double)pal_ts_diff(ts, jb->last_ts) * 1000.0 / jb->cfg.clock_rate;
        if (d < 0)
            d = -d;
        jb->jitter_ms += (d - jb->jitter_ms) / 16.0;
    }
    jb->have_last = true;
    jb->last_arrival_ms = arrival_ms;
    jb->last_ts = ts;
    update_target(jb);
}

static void update_target(struct pal_jitter *jb)
{
    if (jb->cfg.frame_ms) {
        uint32_t f = jb->cfg.frame_ms;
        uint32_t want = f + (uint32_t)(2.0 * jb->jitter_ms);
        if (jb->loss_boost > 0)
            want += f; /* recent loss: one more frame so FEC can arrive in time */
        want = (want + f / 2) / f * f; /* nearest whole frame */
        uint32_t t = PAL_MAX(jb->cfg.min_delay_ms, PAL_MIN(jb->cfg.max_delay_ms, want));
        if (t > jb->target_ms && jb->playing)
            jb->stretch_budget += (t - jb->target_ms) / f;
        jb->target_ms = t;
    }
}

static void reset(struct pal_jitter *jb, uint64_t ext)
{
    jb->count = 0;
    for (uint32_t i = 0; i < jb->cfg.capacity; i++)
        jb->slots[i].used = false;
    jb->next = ext;
    jb->highest = ext;
    jb->playing = false;
    jb->popped_any = false;
    jb->underrun_run = 0;
    jb->have_last = false; /* a new stream: a new jitter estimate */
    jb->jitter_ms = 0;
    jb->target_ms = jb->cfg.min_delay_ms;
    jb->loss_boost = 0;
    jb->stretch_budget = 0;
}

int pal_jitter_push(struct pal_jitter *jb, uint16_t seq, uint32_t timestamp, bool marker,
                    const uint8_t *payload, size_t len, int64_t arrival_ms)
{
    if (len > PAL_JITTER_MAX_PAYLOAD)
        return -EMSGSIZE;
    uint64_t ext;
    if (!jb->started) {
        ext = EXT_BASE + seq;
        jb->started = true;
        jb->next = jb->highest = ext;
    } else {
        ext = (uint64_t)((int64_t)jb->highest + pal_seq_diff(seq, (uint16_t)jb->highest));
    }
    if (ext < jb->next) {
        bool can_extend = !jb->popped_any && jb->highest - ext < jb->cfg.capacity;
        if (!can_extend && ++jb->late_run < RESTART_AFTER_LATE) {
            jb->st.late++;
            return -ESTALE;
        }
        if (!can_extend) /* the sender restarted far back (or jumped over half the space) */
            reset(jb, ext);
        jb->next = ext;
    } else if (jb->cfg.frame_ms && !jb->playing && jb->count == 0 && ext > jb->next) {
        /* Audio idle or buffering with nothing stored: start from this packet. */
        jb->next = ext;
    }
    jb->late_run = 0;
    if (ext - jb->next >= jb->cfg.capacity) {
        if (ext > jb->highest && ext - jb->highest >= jb->cfg.capacity) {
            reset(jb, ext); /* the stream jumped (restart): follow it */
        } else {
            uint64_t new_next = ext - jb->cfg.capacity + 1;
            clear_range(jb, jb->next, new_next, &jb->st.overflow_dropped);
            jb->next = new_next;
        }
    }
    struct slot *sl = &jb->slots[ext & jb->mask];
    if (sl->used && sl->seq == ext) {
        jb->st.duplicates++;
        return -EALREADY;
    }
    if (sl->used) /* an older packet in this slot: cannot happen after the checks above */
        jb->count--;
    sl->used = true;
    sl->seq = ext;
    sl->ts = timestamp;
    sl->marker = marker;
    sl->len = (uint16_t)len;
    sl->arrival_ms = arrival_ms;
    if (len)
        memcpy(sl->data, payload, len);
    jb->count++;
    if (ext > jb->highest)
        jb->highest = ext;
    jb->st.received++;
    update_jitter(jb, timestamp, arrival_ms);
    return 0;
}

static struct slot *slot_at(struct pal_jitter *jb, uint64_t ext)
{
    struct slot *sl = &jb->slots[ext & jb->mask];
    return sl->used && sl->seq == ext ? sl : NULL;
}

static void fill_out(const struct slot *sl, struct pal_jitter_packet *out)
{
    out->payload = sl->data;
    out->len = sl->len;
    out->seq = sl->seq;
    out->timestamp = sl->ts;
    out->marker = sl->marker;
}

static void take(struct pal_jitter *jb, struct slot *sl, struct pal_jitter_packet *out)
{
    fill_out(sl, out);
    sl->used = false; /* the bytes stay until the next push reuses the slot */
    jb->count--;
    jb->next = sl->seq + 1;
    jb->popped_any = true;
}

int pal_jitter_pop_frame(struct pal_jitter *jb, struct pal_jitter_packet *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t f = jb->cfg.frame_ms ? jb->cfg.frame_ms : 20;
    uint32_t target = (jb->target_ms + f - 1) / f;
    if (!jb->playing) {
        if (jb->count == 0 || jb->highest - jb->next + 1 < target)
            return PAL_JITTER_EMPTY;
        jb->playing = true;
        jb->underrun_run = 0;
        jb->stretch_budget = 0;
    }
    /* Deeper than max_delay_ms (plus the frame due now): drop the oldest. */
    uint32_t max_frames = jb->cfg.max_delay_ms / f;
    if (jb->count > 0 && jb->highest - jb->next + 1 > max_frames + 1) {
        uint64_t new_next = jb->highest + 1 - max_frames;
        clear_range(jb, jb->next, new_next, &jb->st.overflow_dropped);
        jb->next = new_next;
    }
    if (jb->loss_boost > 0 && --jb->loss_boost == 0)
        update_target(jb);
    struct slot *sl = slot_at(jb, jb->next);
    if (sl && jb->stretch_budget > 0) {
        /* The target grew while playing: play one concealed frame without
         * consuming, which deepens the buffer by one frame. */
        jb->stretch_budget--;
        jb->st.stretched++;
        return PAL_JITTER_LOST;
    }
    if (sl) {
        take(jb, sl, out);
        jb->underrun_run = 0;
        return PAL_JITTER_FRAME;
    }
    if (jb->loss_boost == 0) {
        jb->loss_boost = LOSS_BOOST_FRAMES;
        update_target(jb);
    }
    if (jb->count == 0) {
        jb->st.underruns++;
        if (++jb->underrun_run > IDLE_AFTER_UNDERRUNS) {
            jb->playing = false;
            return PAL_JITTER_EMPTY;
        }
    }
    jb->st.lost++;
    jb->next++;
    jb->popped_any = true;
    struct slot *fec = slot_at(jb, jb->next);
    if (fec)
        fill_out(fec, out); /* not consumed: it is played at the next tick */
    return PAL_JITTER_LOST;
}

int pal_jitter_pop_packet(struct pal_jitter *jb, int64_t now_ms, struct pal_jitter_packet *out,
                          uint32_t *lost)
{
    memset(out, 0, sizeof(*out));
    *lost = 0;
    if (jb->count == 0)
        return PAL_JITTER_EMPTY;
    struct slot *sl = slot_at(jb, jb->next);
    if (!sl) {
        uint64_t s = jb->next + 1;
        while (s <= jb->highest && !slot_at(jb, s))
            s++;
        if (s > jb->highest)
            return PAL_JITTER_EMPTY; /* cannot happen: count > 0 */
        sl = slot_at(jb, s);
        bool waited = now_ms - sl->arrival_ms >= (int64_t)jb->cfg.max_delay_ms;
        bool crowded = jb->highest - jb->next >= jb->cfg.capacity / 2;
        if (!waited && !crowded)
            return PAL_JITTER_EMPTY;
        *lost = (uint32_t)(s - jb->next);
        jb->st.lost += *lost;
    }
    take(jb, sl, out);
    return PAL_JITTER_FRAME;
}

void pal_jitter_get_stats(const struct pal_jitter *jb, struct pal_jitter_stats *st)
{
    *st = jb->st;
    st->target_ms = jb->target_ms;
    st->jitter_ms = jb->jitter_ms;
}
