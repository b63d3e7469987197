/* A mixer thread (DESIGN.md "Mixer threads"): the rooms' mixers
 * (palabre/mixer.h) run here, on clocked loops of their own, so that a large
 * composite never delays the forwarding done by a media worker.
 *
 * One mixer thread per media worker, owning the mixers of that worker's
 * rooms. Why not a shared pool: a room is pinned to its worker, so pairing
 * keeps one producer and one consumer on each queue and sends the outputs
 * back to the one worker that forwards them, without routing; the thread
 * and its queues are created with the worker's first mixer, so workers that
 * never mix cost nothing.
 *
 * A "thread" is two pthreads: the audio loop (named as given) takes the
 * owner's commands and packets, mixes the audio every 20 ms and passes the
 * video work on; the video loop (the name and "-v") decodes, composes and
 * encodes the composites; they share no lock but the queues'. Audio never waits
 * for video: a slow composite lowers its own frame rate (by 2/3 steps, down
 * to 2 fps, back up when it keeps up again) and never delays or skips an
 * audio tick. An idle half of a mixer (no input of its kind) is not ticked
 * at all; a room where nobody publishes holds no encoder and wakes nothing.
 *
 * Flow. The owner (the worker) opens a mixer (an id), posts commands (inputs,
 * outputs, keyframe requests, the audio level extension, close) and pushes
 * copies of the publishers' decrypted RTP. The loops drain their queues at
 * each round, tick, and queue each output packet and keyframe request back
 * with its mixer id. The owner's wake function runs when that queue goes
 * from empty to non-empty; the owner then calls pal_mixer_thread_dispatch(),
 * which runs each mixer's listener (the pal_mixer_listener given at open) on
 * the owner thread. Only ids and plain structs cross: no pointer into the
 * other threads' objects. Queues are bounded and allocated once: the owner
 * never blocks (a full RTP queue drops the packet and counts it); the loops
 * wait up to OUT_WAIT_MS for room in the output queue, then drop and count.
 *
 * Threads: every function from the one owner thread, except that wake runs on
 * the mixer's loops (it must only wake the owner: write an eventfd). */
#ifndef PALABRE_MIXER_THREAD_H
#define PALABRE_MIXER_THREAD_H

#include "palabre/common.h"
#include "palabre/mixer.h"

struct pal_mixer_thread;

typedef void (*pal_mixer_thread_wake_fn)(void *ud);

/* name: the thread's name (15 bytes shown by top -H), copied. wake may be
 * NULL (the owner then polls dispatch). Starts no thread yet: the first
 * open does. Returns 0, -EINVAL or -ENOMEM. */
int pal_mixer_thread_create(const char *name, pal_mixer_thread_wake_fn wake, void *wake_ud,
                            struct pal_mixer_thread **out);
/* Stops and joins the thread, frees the mixers still open. */
void pal_mixer_thread_destroy(struct pal_mixer_thread *t);

/* Simulations and tests: the thread's clock becomes the owner's, moved by
 * pal_mixer_thread_advance() only (never pal_now_ms()). Before the first
 * open. Returns 0 or -EBUSY (already started). */
int pal_mixer_thread_use_manual_clock(struct pal_mixer_thread *t);
/* Manual clock: sets the thread's clock to now_ms (never backwards), then
 * runs one round there (the commands and packets posted before, then the
 * ticks due) and returns once it is done: what it queued back is then ready
 * for dispatch (the owner dispatches nothing meanwhile: a round's output
 * beyond the out queue is dropped, so advance in small steps). Returns 0,
 * -EINVAL (not a manual clock) or -ENOBUFS. */
int pal_mixer_thread_advance(struct pal_mixer_thread *t, int64_t now_ms);

/* A new mixer with config c (copied) whose outputs and keyframe requests go
 * to l (copied; called inside dispatch). label names it in the log (the
 * room; copied, truncated to 64 bytes). *id is never 0. The clocks start
 * now. Returns 0, -EINVAL (bad listener), -ENOMEM, -EAGAIN (the thread did
 * not start) or -ENOBUFS (command queue full). A config the mixer refuses
 * is logged by the thread, and the mixer then stays silent. */
int pal_mixer_thread_open(struct pal_mixer_thread *t, const char *label,
                          const struct pal_mixer_config *c, const struct pal_mixer_listener *l,
                          uint32_t *id);
/* Frees the mixer (on the thread); its listener is not called any more. */
void pal_mixer_thread_close(struct pal_mixer_thread *t, uint32_t id);

/* The pal_mixer_* functions of mixer id, run on the thread in the order
 * posted. Errors there (unknown input...) are the thread's: it logs them.
 * Each returns 0 or -ENOBUFS (command queue full, nothing posted). */
int pal_mixer_thread_add_input(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                               uint32_t participant_id, enum pal_mixer_kind kind);
int pal_mixer_thread_remove_input(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id);
int pal_mixer_thread_add_output(struct pal_mixer_thread *t, uint32_t id, uint32_t output_id,
                                uint32_t participant_id, enum pal_mixer_kind kind, uint32_t ssrc);
int pal_mixer_thread_remove_output(struct pal_mixer_thread *t, uint32_t id, uint32_t output_id);
int pal_mixer_thread_request_keyframe(struct pal_mixer_thread *t, uint32_t id,
                                      uint32_t output_id);
int pal_mixer_thread_set_audio_level_ext(struct pal_mixer_thread *t, uint32_t id, unsigned ext);

/* A copy of one decrypted RTP packet of input_id, mixed at the next tick.
 * arrival_ms on the pal_now_ms() clock (the thread's). Returns 0, -EMSGSIZE
 * or -ENOBUFS (queue full: dropped, counted). */
int pal_mixer_thread_push_rtp(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                              const uint8_t *pkt, size_t len, int64_t arrival_ms);
/* The same packet in two parts, its header then its payload (as a consumer's
 * sink gets it: palabre/consumer.h), joined in the one copy. */
int pal_mixer_thread_push_rtp_parts(struct pal_mixer_thread *t, uint32_t id, uint32_t input_id,
                                    const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
                                    size_t body_len, int64_t arrival_ms);

/* Runs the listeners of everything the thread has queued back. Returns the
 * number of items handled. */
size_t pal_mixer_thread_dispatch(struct pal_mixer_thread *t);

struct pal_mixer_thread_stats {
    int tid;         /* the audio loop's kernel thread id; 0 before it starts */
    int video_tid;   /* the video loop's */
    uint32_t mixers; /* open on the thread */
    uint64_t audio_ticks, video_ticks;
    uint64_t ticks_skipped;              /* audio ticks lost when more than 200 ms late */
    uint32_t audio_idle, video_idle;     /* mixers whose audio / video half has no input */
    uint32_t video_slowed;               /* composites below their configured frame rate */
    uint64_t video_frames_dropped;       /* composite frames left out: lowered rate, stalls */
    uint64_t rtp_in, rtp_dropped;        /* pushed, and refused (queue full) */
    uint64_t out_packets, out_dropped;   /* queued back, and dropped (owner too slow) */
    uint64_t max_audio_tick_us, max_video_tick_us; /* longest single tick, wall time */
    uint64_t cpu_us;                     /* both loops' CPU time */
    bool ticking; /* inside a mixer's tick right now (with the tick counters up to date) */
    bool video_ticking; /* the video loop is, inside a composite's */
    /* every mixer's own counters, summed (closed mixers included) */
    struct pal_mixer_stats mix;
};
/* A snapshot, as of the thread's last round (ticks are ~20 ms apart); ticking
 * and the tick counters as of now. */
void pal_mixer_thread_get_stats(struct pal_mixer_thread *t, struct pal_mixer_thread_stats *st);

#endif
