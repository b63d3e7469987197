/* The media engine: N worker threads, each with its own GMainContext and
 * loop (driven here, see worker_main), owning whole rooms (pinned by a hash
 * of the room name). Each worker has a mixer thread (palabre/mixer_thread.h,
 * started by its first mixed room) whose output packets wake the worker
 * through a second eventfd.
 * Commands reach a worker through its bounded queue plus an eventfd; events
 * go back to signaling through one shared bounded queue plus the wake
 * function. See palabre/media.h. */
#include "palabre/media.h"

#include <glib-unix.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "palabre/ice.h"
#include "palabre/log.h"
#include "palabre/loop.h"
#include "palabre/mixer.h"
#include "palabre/mixer_thread.h"
#include "palabre/peer.h"
#include "palabre/queue.h"
#include "palabre/room.h"
#include "palabre/send_queue.h"

#define CMD_QUEUE 4096
#define EVENT_QUEUE 16384
#define TICK_MS 20
#define MAX_WORKERS 64

struct wroom {
    struct pal_room *room;
    GHashTable *peers; /* participant id -> struct pal_peer * (owned) */
};

struct worker {
    /* borrowed */
    struct pal_media *m;
    /* owned */
    GMainContext *ctx;
    struct pal_queue *cmds;
    GHashTable *rooms; /* name -> struct wroom * (owned) */
    struct pal_send_batch *batch; /* its transports' queued datagrams */
    struct pal_mixer_thread *mixer;
    int efd;
    int mix_efd; /* the mixer thread has output for us */
    /* state */
    int index;
    pthread_t thread;
    struct pal_peer_env env;
    atomic_bool stopping; /* set by pal_media_destroy's thread, read here */
    bool quit; /* the loop ends after this iteration */
    pthread_mutex_t stats_lock;
    struct pal_media_stats stats;
    /* per-room bandwidth figures: filled in next on the tick, then swapped
     * with cur under stats_lock (pal_media_get_room_bwe reads cur) */
    struct pal_media_room_bwe room_bwe[2][PAL_MEDIA_ROOM_BWE_MAX];
    size_t n_room_bwe[2];
    int room_bwe_cur;
};

struct pal_media {
    /* owned */
    struct worker *workers;
    struct pal_queue *events;
    struct pal_dtls_cert *cert;
    /* state */
    int n_workers;
    struct pal_media_config cfg;
    pal_media_wake_fn wake;
    void *wake_ud;
};

const char *pal_media_pc_name(enum pal_media_pc pc)
{
    return pc == PAL_MEDIA_PC_SUBSCRIBE ? "subscribe" : "publish";
}

/* ---- events (worker -> signaling) ------------------------------------------ */

static void emit_event(void *ud, const struct pal_media_event *ev)
{
    struct worker *w = ud;
    int rc = pal_queue_push(w->m->events, ev);
    if (rc < 0)
        PAL_WARN("media", ev->room, ev->participant, "event queue full: event %d dropped",
                 ev->type);
    else if (rc == 1 && w->m->wake)
        w->m->wake(w->m->wake_ud);
}

static void on_room_active_speaker(void *ctx, const char *room, const char *participant)
{
    struct worker *w = ctx;
    struct pal_media_event ev = {.type = PAL_MEDIA_EV_ACTIVE_SPEAKER};
    snprintf(ev.room, sizeof(ev.room), "%s", room);
    snprintf(ev.participant, sizeof(ev.participant), "%s", participant);
    emit_event(w, &ev);
}

static void on_room_track_quality(void *ctx, const char *room, const char *subscriber,
                                  const char *producer, const char *mid, int layer, bool limited)
{
    struct worker *w = ctx;
    struct pal_media_event ev = {.type = PAL_MEDIA_EV_TRACK_QUALITY};
    snprintf(ev.room, sizeof(ev.room), "%s", room);
    snprintf(ev.participant, sizeof(ev.participant), "%s", subscriber);
    ev.pc = PAL_MEDIA_PC_SUBSCRIBE;
    snprintf(ev.u.quality.producer, sizeof(ev.u.quality.producer), "%s", producer);
    snprintf(ev.u.quality.producer_mid, sizeof(ev.u.quality.producer_mid), "%s", mid);
    ev.u.quality.layer = layer;
    ev.u.quality.limited = limited;
    emit_event(w, &ev);
}

/* ---- rooms on a worker ---------------------------------------------------- */

static void wroom_free(gpointer data)
{
    struct wroom *wr = data;
    g_hash_table_destroy(wr->peers); /* destroys the peers first */
    pal_room_destroy(wr->room);
    free(wr);
}

static struct wroom *wroom_get(struct worker *w, const char *name, bool create)
{
    struct wroom *wr = g_hash_table_lookup(w->rooms, name);
    if (wr || !create)
        return wr;
    wr = calloc(1, sizeof(*wr));
    if (!wr)
        return NULL;
    struct pal_room_listener l = {.ctx = w,
                                  .on_room_active_speaker = on_room_active_speaker,
                                  .on_room_track_quality = on_room_track_quality};
    if (pal_room_create(name, &l, &wr->room)) {
        free(wr);
        return NULL;
    }
    struct pal_mixer_config mc;
    pal_mixer_config_default(&mc);
    const struct pal_media_config *cfg = &w->m->cfg;
    if (cfg->mixer_width > 0 && cfg->mixer_height > 0) {
        mc.video_width = cfg->mixer_width;
        mc.video_height = cfg->mixer_height;
    }
    if (cfg->mixer_fps > 0)
        mc.video_fps = cfg->mixer_fps;
    if (cfg->mixer_bitrate_kbps > 0)
        mc.video_bitrate_kbps = cfg->mixer_bitrate_kbps;
    pal_room_set_mixer_config(wr->room, &mc);
    pal_room_set_mixer_thread(wr->room, w->mixer);
    wr->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify)pal_peer_destroy);
    g_hash_table_insert(w->rooms, g_strdup(name), wr);
    PAL_INFO("media", name, NULL, "room opened on media worker %d", w->index);
    return wr;
}

static struct pal_peer *peer_get(struct worker *w, const struct pal_media_cmd *c, bool create)
{
    struct wroom *wr = wroom_get(w, c->room, create);
    if (!wr)
        return NULL;
    struct pal_peer *p = g_hash_table_lookup(wr->peers, c->participant);
    if (p || !create)
        return p;
    if (pal_peer_create(&w->env, wr->room, c->participant, &p))
        return NULL;
    g_hash_table_insert(wr->peers, g_strdup(c->participant), p);
    return p;
}

static void participant_remove(struct worker *w, const struct pal_media_cmd *c)
{
    struct wroom *wr = wroom_get(w, c->room, false);
    if (!wr)
        return;
    g_hash_table_remove(wr->peers, c->participant);
    if (g_hash_table_size(wr->peers) == 0) {
        PAL_INFO("media", c->room, NULL, "room closed on media worker %d", w->index);
        g_hash_table_remove(w->rooms, c->room);
    }
}

static void fail_event(struct worker *w, const struct pal_media_cmd *c, const char *what, int rc)
{
    struct pal_media_event ev = {.type = PAL_MEDIA_EV_FAILED, .pc = c->pc};
    snprintf(ev.room, sizeof(ev.room), "%s", c->room);
    snprintf(ev.participant, sizeof(ev.participant), "%s", c->participant);
    ev.u.failed.code = PAL_MEDIA_FAIL_ICE;
    snprintf(ev.u.failed.reason, sizeof(ev.u.failed.reason), "%s: %s", what, strerror(-rc));
    emit_event(w, &ev);
}

/* Answered even for a participant the worker does not know (found false):
 * signaling waits for exactly one answer per request. */
static void track_stats(struct worker *w, const struct pal_media_cmd *c, struct pal_peer *p)
{
    struct pal_media_event ev = {.type = PAL_MEDIA_EV_TRACK_STATS};
    snprintf(ev.room, sizeof(ev.room), "%s", c->room);
    snprintf(ev.participant, sizeof(ev.participant), "%s", c->participant);
    ev.u.track_stats.request = c->u.stats.request;
    ev.u.track_stats.found = p != NULL;
    if (p)
        ev.u.track_stats.n =
            (uint8_t)pal_peer_track_stats(p, ev.u.track_stats.tracks, PAL_MEDIA_MAX_TRACKS);
    emit_event(w, &ev);
}

static void run_command(struct worker *w, const struct pal_media_cmd *c)
{
    if (c->type == PAL_MEDIA_CMD_PARTICIPANT_REMOVE) {
        participant_remove(w, c);
        return;
    }
    if (c->type == PAL_MEDIA_CMD_TRACK_STATS) {
        track_stats(w, c, peer_get(w, c, false));
        return;
    }
    struct pal_peer *p = peer_get(w, c, c->type == PAL_MEDIA_CMD_PARTICIPANT_ADD ||
                                            c->type == PAL_MEDIA_CMD_PUBLISH ||
                                            c->type == PAL_MEDIA_CMD_SUBSCRIBE_OPEN ||
                                            c->type == PAL_MEDIA_CMD_TRACK_BLOCK);
    if (!p) {
        PAL_DEBUG("media", c->room, c->participant, "command %d for an unknown participant",
                  c->type);
        return;
    }
    int rc = 0;
    const char *what = "";
    switch (c->type) {
    case PAL_MEDIA_CMD_PARTICIPANT_ADD:
        break;
    case PAL_MEDIA_CMD_PUBLISH:
        what = "publish";
        rc = pal_peer_publish(p, c);
        break;
    case PAL_MEDIA_CMD_UNPUBLISH:
        pal_peer_unpublish(p, c->u.track.mid);
        break;
    case PAL_MEDIA_CMD_SUBSCRIBE_OPEN:
        what = "subscribe";
        rc = pal_peer_subscribe_open(p, &c->u.subscribe.local);
        break;
    case PAL_MEDIA_CMD_SUBSCRIBE_REMOTE:
        what = "subscribe answer";
        rc = pal_peer_subscribe_remote(p, &c->u.subscribe.remote, &c->u.subscribe.dtls);
        break;
    case PAL_MEDIA_CMD_CONSUMER_ADD:
        rc = pal_peer_consumer_add(p, c->u.consumer.producer, c->u.consumer.producer_mid,
                                   &c->u.consumer.track);
        if (rc)
            PAL_WARN("media", c->room, c->participant, "consumer %s: %d",
                     c->u.consumer.track.mid, rc);
        rc = 0;
        break;
    case PAL_MEDIA_CMD_CONSUMER_REMOVE:
        pal_peer_consumer_remove(p, c->u.consumer.track.mid);
        break;
    case PAL_MEDIA_CMD_REMOTE_CANDIDATE:
        pal_peer_remote_candidate(p, c->pc, &c->u.remote_candidate.cand,
                                  c->u.remote_candidate.end);
        break;
    case PAL_MEDIA_CMD_TRACK_BLOCK:
        if (pal_peer_block(p, c->u.block.kind, c->u.block.blocked) == 0)
            PAL_INFO("media", c->room, c->participant, "%s %s",
                     c->u.block.kind == PAL_MEDIA_AUDIO ? "audio" : "video",
                     c->u.block.blocked ? "blocked by a moderator" : "unblocked");
        break;
    case PAL_MEDIA_CMD_TRACK_VIEW:
        pal_peer_set_view(p, c->u.view.producer, c->u.view.producer_mid, &c->u.view.view);
        break;
    default:
        break;
    }
    if (rc)
        fail_event(w, c, what, rc);
}

static gboolean on_commands(gint fd, GIOCondition cond, gpointer ud)
{
    (void)cond;
    struct worker *w = ud;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing to read, still drain */
    }
    struct pal_media_cmd c;
    while (pal_queue_pop(w->cmds, &c) == 1)
        run_command(w, &c);
    if (atomic_load_explicit(&w->stopping, memory_order_acquire)) {
        g_hash_table_remove_all(w->rooms);
        w->quit = true;
    }
    return G_SOURCE_CONTINUE;
}

/* On the mixer thread: only wake the worker. */
static void wake_for_mixer(void *ud)
{
    struct worker *w = ud;
    uint64_t one = 1;
    if (write(w->mix_efd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, the worker will run */
    }
}

static gboolean on_mixer_output(gint fd, GIOCondition cond, gpointer ud)
{
    (void)cond;
    struct worker *w = ud;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: still drain */
    }
    pal_mixer_thread_dispatch(w->mixer);
    return G_SOURCE_CONTINUE;
}

static gboolean on_tick(gpointer ud)
{
    struct worker *w = ud;
    int64_t now = pal_now_ms();
    struct pal_media_stats st = {0};
    int next = !w->room_bwe_cur; /* only this thread writes it */
    size_t n_bwe = 0;
    pal_loop_drain();
    GHashTableIter it;
    gpointer key, val;
    g_hash_table_iter_init(&it, w->rooms);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        struct wroom *wr = val;
        GHashTableIter pi;
        gpointer pk, pv;
        g_hash_table_iter_init(&pi, wr->peers);
        while (g_hash_table_iter_next(&pi, &pk, &pv)) {
            pal_peer_reap(pv);
            st.transports += (uint64_t)pal_peer_transports(pv);
        }
        pal_room_tick(wr->room, now);
        struct pal_room_stats rs;
        pal_room_get_stats(wr->room, &rs);
        st.rooms++;
        st.rtp_in += rs.rtp_in;
        st.rtp_out += rs.rtp_out;
        st.rtcp_in += rs.rtcp_in;
        st.rtcp_out += rs.rtcp_out;
        st.nack_in += rs.nack_in;
        st.retransmitted += rs.retransmitted;
        st.pli_out += rs.pli_out;
        st.layer_switches += rs.layer_switches;
        st.paused_tracks += rs.paused_tracks;
        st.layer_switches_bw += rs.layer_switches_bw;
        st.paused_tracks_bw += rs.paused_tracks_bw;
        st.temporal_drops += rs.temporal_drops;
        st.bwe_subscribers += rs.bwe_subscribers;
        st.bwe_sum_bps += rs.bwe_sum_bps;
        st.bwe_probes += rs.bwe_probes;
        st.bwe_padding_bytes += rs.bwe_padding_bytes;
        if (rs.bwe_min_bps && (!st.bwe_min_bps || rs.bwe_min_bps < st.bwe_min_bps))
            st.bwe_min_bps = rs.bwe_min_bps;
        st.dropped_in += rs.dropped_in;
        if (rs.bwe_subscribers && n_bwe < PAL_MEDIA_ROOM_BWE_MAX) {
            struct pal_media_room_bwe *b = &w->room_bwe[next][n_bwe++];
            snprintf(b->room, sizeof(b->room), "%s", pal_room_name(wr->room));
            b->subscribers = rs.bwe_subscribers;
            b->avg_bps = rs.bwe_sum_bps / rs.bwe_subscribers;
            b->min_bps = rs.bwe_min_bps;
            b->paused_tracks_bw = rs.paused_tracks_bw;
            b->layer_switches_bw = rs.layer_switches_bw;
        }
    }
    struct pal_mixer_thread_stats ms;
    pal_mixer_thread_get_stats(w->mixer, &ms);
    st.mixers = ms.mixers;
    st.mixer_cpu_us = ms.cpu_us;
    st.mixer_ticks_skipped = ms.ticks_skipped;
    st.mixer_dropped = ms.rtp_dropped + ms.out_dropped;
    st.mixer_video_slowed = ms.video_slowed;
    st.mixer_video_frames_dropped = ms.video_frames_dropped;
    struct pal_send_queue_stats ss;
    pal_send_batch_get_stats(w->batch, &ss);
    st.sent_packets = ss.packets;
    st.send_dropped = ss.dropped;
    st.send_calls = ss.batches;
    w->n_room_bwe[next] = n_bwe;
    pthread_mutex_lock(&w->stats_lock);
    w->stats = st;
    w->room_bwe_cur = next;
    pthread_mutex_unlock(&w->stats_lock);
    return G_SOURCE_CONTINUE;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (pal_loop_init(w->ctx) != 0)
        PAL_WARN("media", NULL, NULL, "worker %d: GLib's wakeup fd not found, its self-wakeups stay",
                 w->index);
    g_main_context_push_thread_default(w->ctx);
    GSource *cmd_src = g_unix_fd_source_new(w->efd, G_IO_IN);
    g_source_set_callback(cmd_src, (GSourceFunc)(void (*)(void))on_commands, w, NULL);
    g_source_attach(cmd_src, w->ctx);
    GSource *mix_src = g_unix_fd_source_new(w->mix_efd, G_IO_IN);
    g_source_set_callback(mix_src, (GSourceFunc)(void (*)(void))on_mixer_output, w, NULL);
    g_source_attach(mix_src, w->ctx);
    GSource *tick = g_timeout_source_new(TICK_MS);
    g_source_set_callback(tick, on_tick, w, NULL);
    g_source_attach(tick, w->ctx);
    /* The loop by hand (what g_main_loop_run does) so that the datagrams
     * queued while dispatching leave at the end of the very iteration that
     * queued them: a burst from a publisher (a video frame) becomes one
     * sendmmsg per subscriber socket, with no timer and no added wait. */
    while (!w->quit) {
        g_main_context_iteration(w->ctx, TRUE);
        pal_send_batch_flush(w->batch);
    }
    g_source_destroy(tick);
    g_source_unref(tick);
    g_source_destroy(cmd_src);
    g_source_unref(cmd_src);
    g_source_destroy(mix_src);
    g_source_unref(mix_src);
    g_hash_table_remove_all(w->rooms);
    /* let libnice finish closing its sockets */
    while (g_main_context_iteration(w->ctx, FALSE))
        ;
    g_main_context_pop_thread_default(w->ctx);
    pal_loop_fini();
    return NULL;
}

/* ---- engine ---------------------------------------------------------------- */

int pal_media_create(const struct pal_media_config *cfg, pal_media_wake_fn wake, void *wake_ud,
                     struct pal_media **out)
{
    *out = NULL;
    int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > MAX_WORKERS)
        return -EINVAL;
    struct pal_media *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->cfg = *cfg;
    m->wake = wake;
    m->wake_ud = wake_ud;
    int rc = pal_dtls_cert_create(&m->cert);
    if (rc == 0)
        rc = pal_queue_create(EVENT_QUEUE, sizeof(struct pal_media_event), &m->events);
    if (rc == 0 && !(m->workers = calloc((size_t)n, sizeof(*m->workers))))
        rc = -ENOMEM;
    if (rc) {
        pal_queue_destroy(m->events);
        pal_dtls_cert_destroy(m->cert);
        free(m);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        struct worker *w = &m->workers[i];
        w->m = m;
        w->index = i;
        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->mix_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        char name[24]; /* i < MAX_WORKERS: "pal-mixer-63" fits the 15 of a thread name */
        snprintf(name, sizeof(name), "pal-mixer-%d", i);
        w->ctx = g_main_context_new();
        w->rooms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, wroom_free);
        pthread_mutex_init(&w->stats_lock, NULL);
        int brc = pal_send_batch_create(w->ctx, &w->batch);
        w->env = (struct pal_peer_env){.ctx = w->ctx, .cfg = &m->cfg, .cert = m->cert,
                                       .batch = w->batch, .emit = emit_event, .emit_ud = w};
        if (w->efd < 0 || w->mix_efd < 0 || brc ||
            pal_mixer_thread_create(name, wake_for_mixer, w, &w->mixer) ||
            pal_queue_create(CMD_QUEUE, sizeof(struct pal_media_cmd), &w->cmds) ||
            pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            m->n_workers = i + 1;
            w->thread = 0;
            pal_media_destroy(m);
            return -EIO;
        }
        m->n_workers = i + 1;
    }
    PAL_INFO("media", NULL, NULL, "%d media workers, DTLS fingerprint sha-256 %s", n,
             pal_dtls_cert_fingerprint(m->cert));
    *out = m;
    return 0;
}

void pal_media_destroy(struct pal_media *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_workers; i++) {
        struct worker *w = &m->workers[i];
        if (w->thread) {
            atomic_store_explicit(&w->stopping, true, memory_order_release);
            uint64_t one = 1;
            if (write(w->efd, &one, sizeof(one)) < 0)
                PAL_WARN("media", NULL, NULL, "worker %d: cannot wake", i);
            pthread_join(w->thread, NULL);
        }
        g_hash_table_destroy(w->rooms);
        pal_mixer_thread_destroy(w->mixer); /* after the rooms: it frees what they left */
        pal_send_batch_destroy(w->batch);   /* after the transports */
        g_main_context_unref(w->ctx);
        pal_queue_destroy(w->cmds);
        if (w->efd >= 0)
            close(w->efd);
        if (w->mix_efd >= 0)
            close(w->mix_efd);
        pthread_mutex_destroy(&w->stats_lock);
    }
    free(m->workers);
    pal_queue_destroy(m->events);
    pal_dtls_cert_destroy(m->cert);
    free(m);
}

const char *pal_media_fingerprint(const struct pal_media *m)
{
    return pal_dtls_cert_fingerprint(m->cert);
}

int pal_media_worker_count(const struct pal_media *m)
{
    return m->n_workers;
}

int pal_media_worker_of(const struct pal_media *m, const char *room)
{
    return (int)(g_str_hash(room) % (guint)m->n_workers);
}

int pal_media_post(struct pal_media *m, const struct pal_media_cmd *cmd)
{
    struct worker *w = &m->workers[pal_media_worker_of(m, cmd->room)];
    int rc = pal_queue_push(w->cmds, cmd);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof(one)) < 0)
            return -EIO;
    }
    return 0;
}

int pal_media_poll_event(struct pal_media *m, struct pal_media_event *ev)
{
    return pal_queue_pop(m->events, ev);
}

void pal_media_get_stats(struct pal_media *m, struct pal_media_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < m->n_workers; i++) {
        struct worker *w = &m->workers[i];
        pthread_mutex_lock(&w->stats_lock);
        struct pal_media_stats s = w->stats;
        pthread_mutex_unlock(&w->stats_lock);
        out->rooms += s.rooms;
        out->transports += s.transports;
        out->rtp_in += s.rtp_in;
        out->rtp_out += s.rtp_out;
        out->rtcp_in += s.rtcp_in;
        out->rtcp_out += s.rtcp_out;
        out->nack_in += s.nack_in;
        out->retransmitted += s.retransmitted;
        out->pli_out += s.pli_out;
        out->layer_switches += s.layer_switches;
        out->paused_tracks += s.paused_tracks;
        out->layer_switches_bw += s.layer_switches_bw;
        out->paused_tracks_bw += s.paused_tracks_bw;
        out->temporal_drops += s.temporal_drops;
        out->bwe_subscribers += s.bwe_subscribers;
        out->bwe_sum_bps += s.bwe_sum_bps;
        out->bwe_probes += s.bwe_probes;
        out->bwe_padding_bytes += s.bwe_padding_bytes;
        if (s.bwe_min_bps && (!out->bwe_min_bps || s.bwe_min_bps < out->bwe_min_bps))
            out->bwe_min_bps = s.bwe_min_bps;
        out->dropped_in += s.dropped_in;
        out->mixers += s.mixers;
        out->mixer_cpu_us += s.mixer_cpu_us;
        out->mixer_ticks_skipped += s.mixer_ticks_skipped;
        out->mixer_dropped += s.mixer_dropped;
        out->mixer_video_slowed += s.mixer_video_slowed;
        out->mixer_video_frames_dropped += s.mixer_video_frames_dropped;
        out->sent_packets += s.sent_packets;
        out->send_dropped += s.send_dropped;
        out->send_calls += s.send_calls;
    }
    out->candidates_unreachable = pal_ice_remote_ignored_total();
}

size_t pal_media_get_room_bwe(struct pal_media *m, struct pal_media_room_bwe *out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < m->n_workers && n < cap; i++) {
        struct worker *w = &m->workers[i];
        pthread_mutex_lock(&w->stats_lock);
        int cur = w->room_bwe_cur;
        size_t k = PAL_MIN(w->n_room_bwe[cur], cap - n);
        memcpy(out + n, w->room_bwe[cur], k * sizeof(*out));
        pthread_mutex_unlock(&w->stats_lock);
        n += k;
    }
    return n;
}
