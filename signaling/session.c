/* One WebSocket connection: reassembly, limits, the bounded outbound queue.
 *
 * lws idiom: messages are queued by pal_session_send and written in
 * LWS_CALLBACK_SERVER_WRITEABLE, as many as the socket takes (at most
 * WRITE_BUDGET bytes per callback, so that one fast reader of big pages
 * cannot hold the signaling thread); a queue that passes
 * outbound_queue_messages or outbound_queue_bytes means the client does not
 * read fast enough: its queue is dropped and it is closed 1008 "outbound
 * queue full" (docs/protocol.md).
 *
 * Rate: a token bucket of messages_per_second (burst of one second). A
 * message past it is answered rate_limited with retry_after_ms and not run;
 * the connection stays. Only sustained abuse closes it (1008 "rate limit"):
 * more than ABUSE_FACTOR times the rate over ABUSE_WINDOW_S seconds counting
 * only messages sent while an earlier request was still unanswered, so a
 * client that waits for each answer is never closed.
 *
 * A session that has not joined within join_timeout_seconds (of its
 * connection, or of its leave) is closed 1008 "join timeout".
 * An idle session holds no buffer of its own (the reassembly buffer is
 * allocated only for a fragmented message and freed after it). */
#include "palabre/session.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/access.h"
#include "palabre/common.h"
#include "palabre/ip_limits.h"
#include "palabre/log.h"
#include "palabre/protocol.h"
#include "palabre/rooms.h"
#include "palabre/server.h"

/* One serialized message, shared by every session it is queued on: a room's
 * fan-out allocates and copies the text once, not once per member. Sharing
 * the LWS_PRE headroom is safe: lws_write() writes the frame header there
 * and sends (or copies what the kernel did not take) before it returns, and
 * a server frame is not masked, so the payload is never modified. */
struct pal_frame {
    int refs;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text and a NUL */
};

struct outmsg {
    struct outmsg *next;
    struct pal_frame *frame; /* one reference */
    bool response;           /* answers a request (counted in unanswered) */
};

#define WRITE_BUDGET (256 * 1024) /* bytes written per WRITEABLE callback */
#define ABUSE_WINDOW_S 10
#define ABUSE_FACTOR 4
#define CUTOFF_GRACE_S 5 /* a cut-off client that does not take its close frame */
/* Work one connection gets per turn of the service loop: past it, lws stops
 * reading it (rx flow control; what was read stays buffered in lws) until
 * the next turn, so that every other connection, and the listening socket,
 * is served in between whatever one client asks for. */
#define TURN_BUDGET_MESSAGES 8
/* Requests are not read while more than outbound_queue_bytes / this is
 * queued, and read again below half of that. */
#define BACKPRESSURE_DIV 2
#define TURN_BUDGET_US 5000

struct pal_frame *pal_frame_create(const char *text, size_t len)
{
    struct pal_frame *f = malloc(sizeof(*f) + LWS_PRE + len + 1);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = len;
    memcpy(f->data + LWS_PRE, text, len);
    f->data[LWS_PRE + len] = '\0';
    return f;
}

void pal_frame_unref(struct pal_frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}

/* Frees a queue entry and its reference. */
static void outmsg_free(struct outmsg *m)
{
    pal_frame_unref(m->frame);
    free(m);
}

struct pal_session {
    /* borrowed */
    struct pal_server *srv;
    struct lws *wsi;            /* NULL: orphan (waiting for resume) or no network */
    struct pal_session **slot;  /* the lws per-session data pointing at us */
    struct pal_participant *p;  /* owned by rooms; NULL until joined */
    /* owned */
    struct pal_identity ident;  /* who it is (auth, or its join) */
    struct outmsg *q_head, *q_tail;
    char *rx;
    size_t rx_len, rx_cap;
    /* state */
    struct pal_session *prev, *next; /* connected sessions */
    char ip[PAL_IP_MAX + 1];    /* client address counted in ip_limits ("" = none) */
    int q_len;
    size_t q_bytes;
    int unanswered;             /* requests received minus responses written */
    double tokens;
    int64_t tokens_at_us;
    int abuse[ABUSE_WINDOW_S];  /* pipelined messages per second, ring */
    int64_t abuse_sec;
    uint64_t turn;              /* service loop turn of turn_msgs, turn_us */
    int turn_msgs;
    int64_t turn_us;
    lws_sorted_usec_list_t sul_unthrottle;
    bool throttled;             /* rx flow off until the next turn */
    bool backpressured;         /* rx flow off until the queue drains */
    bool rx_off;                /* what lws was told */
    int64_t last_seen_ms;
    uint64_t serial; /* unique for the process's life: a handle that outlives the pointer */
    int close_code;
    int pending_close; /* closes when the linger timer fires */
    char close_reason[40];
    bool virtual_;   /* created without network */
    bool cut_off;    /* outbound queue overflowed: nothing more is queued */
    bool close_handed; /* lws has the close: it sends it and waits for the client's */
    bool orphan;     /* connection gone, participant waiting */
    bool in_message, msg_binary, msg_dropped;
};

static void link_session(struct pal_session *s)
{
    struct pal_session **head = pal_server_sessions(s->srv);
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void unlink_session(struct pal_session *s)
{
    struct pal_session **head = pal_server_sessions(s->srv);
    if (s->prev)
        s->prev->next = s->next;
    else if (*head == s)
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

struct pal_session *pal_session_next(struct pal_session *s)
{
    return s->next;
}

uint64_t pal_session_serial(const struct pal_session *s)
{
    return s->serial;
}

struct pal_session *pal_session_create(struct pal_server *srv, struct lws *wsi,
                                       struct pal_session **slot)
{
    struct pal_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->srv = srv;
    s->wsi = wsi;
    s->slot = slot;
    s->virtual_ = wsi == NULL;
    s->tokens = pal_server_config(srv)->messages_per_second;
    s->tokens_at_us = pal_now_us();
    s->last_seen_ms = pal_now_ms();
    static uint64_t serials;
    s->serial = ++serials;
    link_session(s);
    if (wsi)
        lws_set_timer_usecs(wsi, (lws_usec_t)pal_server_config(srv)->join_timeout_seconds *
                                     LWS_US_PER_SEC);
    return s;
}

int pal_session_set_address(struct pal_session *s, const char *ip)
{
    struct pal_ip_limits *l = pal_server_ip_limits(s->srv);
    int rc = pal_ip_limits_connect(l, ip);
    if (rc == 0)
        snprintf(s->ip, sizeof(s->ip), "%s", ip);
    return rc;
}

const char *pal_session_address(const struct pal_session *s)
{
    return s->ip;
}

static void drop_queue(struct pal_session *s)
{
    for (struct outmsg *m = s->q_head, *next; m; m = next) {
        next = m->next;
        outmsg_free(m);
    }
    s->q_head = s->q_tail = NULL;
    s->q_len = 0;
    s->q_bytes = 0;
}

static void free_queue(struct pal_session *s)
{
    drop_queue(s);
    free(s->rx);
    s->rx = NULL;
    s->rx_len = s->rx_cap = 0;
}

/* lws reads this connection unless a turn budget or the queue says no. */
static void update_rx(struct pal_session *s)
{
    bool off = s->throttled || s->backpressured;
    if (!s->wsi || off == s->rx_off)
        return;
    s->rx_off = off;
    lws_rx_flow_control(s->wsi, off ? 0 : 1);
}

static void unthrottle(struct pal_session *s)
{
    if (!s->throttled)
        return;
    s->throttled = false;
    lws_sul_cancel(&s->sul_unthrottle);
    update_rx(s);
}

static void unthrottle_cb(lws_sorted_usec_list_t *sul)
{
    unthrottle(lws_container_of(sul, struct pal_session, sul_unthrottle));
}

/* After a message: past the turn's budget, stop reading this connection
 * until the next turn (a timer due at once fires in the next lws_service). */
static void spend(struct pal_session *s, int64_t started_us)
{
    uint64_t turn = pal_server_turn(s->srv);
    if (s->turn != turn) {
        s->turn = turn;
        s->turn_msgs = 0;
        s->turn_us = 0;
    }
    s->turn_msgs++;
    s->turn_us += pal_now_us() - started_us;
    if (!s->wsi)
        return;
    /* answers pile up faster than the client reads them: read no more
     * requests until it has taken most of them (a client asking for more
     * than it reads is slowed to its own pace, not cut off) */
    if (!s->backpressured &&
        s->q_bytes > pal_server_config(s->srv)->outbound_queue_bytes / BACKPRESSURE_DIV) {
        s->backpressured = true;
        update_rx(s);
    }
    if (s->throttled || (s->turn_msgs < TURN_BUDGET_MESSAGES && s->turn_us < TURN_BUDGET_US))
        return;
    s->throttled = true;
    update_rx(s);
    lws_sul_schedule(lws_get_context(s->wsi), 0, &s->sul_unthrottle, unthrottle_cb, 1);
}

void pal_session_destroy(struct pal_session *s)
{
    if (!s)
        return;
    unthrottle(s);
    if (!s->orphan)
        unlink_session(s);
    if (s->slot)
        *s->slot = NULL;
    if (s->ip[0])
        pal_ip_limits_disconnect(pal_server_ip_limits(s->srv), s->ip); /* the ghost is gone */
    free_queue(s);
    free(s);
}

struct pal_identity *pal_session_identity(struct pal_session *s)
{
    return &s->ident;
}

bool pal_session_connected(const struct pal_session *s)
{
    return !s->orphan;
}

struct pal_participant *pal_session_participant(const struct pal_session *s)
{
    return s->p;
}

void pal_session_set_participant(struct pal_session *s, struct pal_participant *p)
{
    s->p = p;
    if (p)
        p->owner = s;
    else if (s->wsi && !s->close_code && !s->pending_close) /* left: join again in time */
        lws_set_timer_usecs(s->wsi, (lws_usec_t)pal_server_config(s->srv)->join_timeout_seconds *
                                        LWS_US_PER_SEC);
}

const char *pal_session_participant_id(const struct pal_session *s)
{
    return s->p ? s->p->id : NULL;
}

const char *pal_session_room(const struct pal_session *s)
{
    return s->p ? s->p->room : NULL;
}

const char *pal_session_name(const struct pal_session *s)
{
    return s->p ? s->p->name : NULL;
}

struct pal_server *pal_session_server(const struct pal_session *s)
{
    return s->srv;
}

void pal_session_kill(struct pal_session *s)
{
    if (s->wsi)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void pal_session_close(struct pal_session *s, int code, const char *reason)
{
    if (s->close_code)
        return;
    s->close_code = code;
    snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
}

/* Policy closes (flood, oversize): input is dropped at once, the close
 * frame goes out after a short linger so that what the client already sent
 * is read and discarded; closing on unread input would make the kernel send
 * an RST, and the client would lose the error message. */
#define LINGER_US (150 * 1000)
static void close_lingering(struct pal_session *s, int code, const char *reason)
{
    if (s->close_code || s->pending_close)
        return;
    snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    if (!s->wsi) {
        s->close_code = code;
        return;
    }
    s->pending_close = code;
    lws_set_timer_usecs(s->wsi, LINGER_US);
}

void pal_session_on_timer(struct pal_session *s)
{
    if (s->pending_close && !s->close_code) {
        s->close_code = s->pending_close;
        lws_callback_on_writable(s->wsi);
    } else if (!s->p && !s->close_code) {
        PAL_INFO("session", NULL, NULL, "no join within %d s: closing",
                 pal_server_config(s->srv)->join_timeout_seconds);
        pal_session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "join timeout");
    }
}

int pal_session_close_code(const struct pal_session *s)
{
    return s->close_code;
}

/* The client does not read fast enough: what it has not been sent is
 * dropped (memory comes back now), and it is closed 1008 once the frame
 * being written is out; if even that does not leave within CUTOFF_GRACE_S,
 * lws drops the connection. A joined participant waits for its resume. */
static void cut_off(struct pal_session *s, size_t adding)
{
    PAL_WARN("session", pal_session_room(s), pal_session_participant_id(s),
             "outbound queue full (%d messages, %zu bytes, +%zu): slow client cut off", s->q_len,
             s->q_bytes, adding);
    s->cut_off = true;
    drop_queue(s);
    s->close_code = 0; /* this close wins over a pending one */
    s->pending_close = 0;
    pal_session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "outbound queue full");
    if (s->wsi)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, CUTOFF_GRACE_S);
}

static int enqueue(struct pal_session *s, struct pal_frame *f, bool response)
{
    if (s->orphan || s->cut_off || s->close_handed)
        return 0; /* nobody to read it: dropped, as for any disconnected client */
    const struct pal_config *cfg = pal_server_config(s->srv);
    if (s->q_len >= cfg->outbound_queue_messages ||
        s->q_bytes + f->len > cfg->outbound_queue_bytes) {
        cut_off(s, f->len);
        return -ENOBUFS;
    }
    struct outmsg *m = malloc(sizeof(*m));
    if (!m)
        return -ENOMEM;
    f->refs++;
    *m = (struct outmsg){.frame = f, .response = response};
    if (s->q_tail)
        s->q_tail->next = m;
    else
        s->q_head = m;
    s->q_tail = m;
    s->q_len++;
    s->q_bytes += f->len;
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
    return 0;
}

/* Queues a shared frame (one more reference to it). */
int pal_session_send_frame(struct pal_session *s, struct pal_frame *f)
{
    return enqueue(s, f, false);
}

static int send_json(struct pal_session *s, json_t *msg, bool response)
{
    if (!msg)
        return -ENOMEM;
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return -ENOMEM;
    struct pal_frame *f = pal_frame_create(text, strlen(text));
    free(text);
    if (!f)
        return -ENOMEM;
    int rc = enqueue(s, f, response);
    pal_frame_unref(f);
    return rc;
}

int pal_session_send_text(struct pal_session *s, const char *text, size_t len)
{
    struct pal_frame *f = pal_frame_create(text, len);
    if (!f)
        return -ENOMEM;
    int rc = pal_session_send_frame(s, f);
    pal_frame_unref(f);
    return rc;
}

int pal_session_send(struct pal_session *s, json_t *msg)
{
    return send_json(s, msg, false);
}

void pal_session_reply_ok(struct pal_session *s, json_t *id, json_t *data)
{
    send_json(s, pal_response_ok(id, data), true);
}

void pal_session_reply_error(struct pal_session *s, json_t *id, const char *code,
                             const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    PAL_DEBUG("session", pal_session_room(s), pal_session_participant_id(s), "error %s: %s", code,
              msg);
    send_json(s, pal_response_error(id, code, field, msg), true);
}

void pal_session_reply_rate_limited(struct pal_session *s, json_t *id, int64_t retry_after_ms,
                                    const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *r = pal_response_error(id, "rate_limited", NULL, msg);
    json_object_set_new(json_object_get(r, "error"), "retry_after_ms",
                        json_integer(retry_after_ms > 0 ? retry_after_ms : 1));
    send_json(s, r, true);
}

bool pal_session_create_room_or_reply(struct pal_session *s, json_t *id)
{
    if (!s->ip[0])
        return true; /* no network (tests): no address to count */
    int64_t retry;
    int rc = pal_ip_limits_create_room(pal_server_ip_limits(s->srv), s->ip, pal_now_ms(), &retry);
    if (rc == -EAGAIN) {
        PAL_WARN("session", NULL, NULL, "%s: more than %d new rooms in a minute", s->ip,
                 pal_server_config(s->srv)->rooms_per_ip_per_minute);
        pal_session_reply_rate_limited(s, id, retry, "more than %d new rooms per minute",
                                       pal_server_config(s->srv)->rooms_per_ip_per_minute);
        return false;
    }
    if (rc) {
        pal_session_reply_error(s, id, "storage_error", NULL, "out of memory");
        return false;
    }
    return true;
}

char *pal_session_pop_output(struct pal_session *s)
{
    struct outmsg *m = s->q_head;
    if (!m)
        return NULL;
    s->q_head = m->next;
    if (!s->q_head)
        s->q_tail = NULL;
    s->q_len--;
    s->q_bytes -= m->frame->len;
    if (m->response && s->unanswered > 0)
        s->unanswered--;
    char *out = strdup((char *)m->frame->data + LWS_PRE);
    outmsg_free(m);
    return out;
}

/* Writes queued messages while the kernel takes them: one callback per frame
 * would cost a turn of the service loop (a poll() over every descriptor) per
 * message, and a room's fan-out queues one event per member per message.
 * lws_send_pipe_choked() is lws's documented test for "one more write would
 * block"; a partial write is kept by lws and makes the pipe choked. Another
 * writeable callback is asked for only when something is left. A close
 * frame goes out in the same callback if the socket can still take it. */
int pal_session_on_writeable(struct pal_session *s)
{
    if (s->close_handed)
        return 0;
    size_t written = 0;
    while (s->q_head) {
        struct outmsg *m = s->q_head;
        s->q_head = m->next;
        if (!s->q_head)
            s->q_tail = NULL;
        s->q_len--;
        s->q_bytes -= m->frame->len;
        if (m->response && s->unanswered > 0)
            s->unanswered--;
        written += m->frame->len;
        int n = lws_write(s->wsi, m->frame->data + LWS_PRE, m->frame->len, LWS_WRITE_TEXT);
        outmsg_free(m);
        if (n < 0)
            return -1;
        if (s->backpressured && s->q_bytes <= pal_server_config(s->srv)->outbound_queue_bytes /
                                                  BACKPRESSURE_DIV / 2) {
            s->backpressured = false;
            update_rx(s);
        }
        /* the rest waits for the next turn of the loop: other connections
         * (and new ones) are served in between */
        if (written >= WRITE_BUDGET && (s->q_head || s->close_code)) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
        /* lws_send_pipe_choked() costs a poll() syscall: asked only when
         * there is more to write, or a close frame to send after this one */
        if ((s->q_head || s->close_code) && lws_send_pipe_choked(s->wsi)) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
    }
    if (s->close_code) {
        /* once: lws then sends the close frame and waits (5 s) for the
         * client's, reading and dropping what it still sends. A second -1
         * from a later WRITEABLE would make lws shut the socket at once,
         * and a client still streaming (a message past the size limit)
         * would get an RST, losing the close frame unread. */
        if (s->close_handed)
            return 0;
        s->close_handed = true;
        lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
                         (unsigned char *)s->close_reason, strlen(s->close_reason));
        return -1;
    }
    return 0;
}

void pal_session_seen(struct pal_session *s)
{
    s->last_seen_ms = pal_now_ms();
}

/* Token bucket: messages_per_second, burst of one second's worth. When
 * empty, *retry_after_ms says when the next token is there. */
static bool rate_ok(struct pal_session *s, int64_t *retry_after_ms)
{
    int rate = pal_server_config(s->srv)->messages_per_second;
    int64_t now = pal_now_us();
    s->tokens += (double)(now - s->tokens_at_us) * rate / 1e6;
    s->tokens_at_us = now;
    if (s->tokens > rate)
        s->tokens = rate;
    if (s->tokens < 1.0) {
        *retry_after_ms = (int64_t)((1.0 - s->tokens) * 1000.0 / rate) + 1;
        return false;
    }
    s->tokens -= 1.0;
    return true;
}

/* Counts one message sent while an earlier one was unanswered; true when
 * those pass ABUSE_FACTOR x messages_per_second over the last
 * ABUSE_WINDOW_S seconds. */
static bool abusing(struct pal_session *s)
{
    int64_t sec = pal_now_ms() / 1000;
    if (sec - s->abuse_sec >= ABUSE_WINDOW_S)
        memset(s->abuse, 0, sizeof(s->abuse));
    else
        for (int64_t t = s->abuse_sec + 1; t <= sec; t++)
            s->abuse[t % ABUSE_WINDOW_S] = 0;
    s->abuse_sec = sec;
    s->abuse[sec % ABUSE_WINDOW_S]++;
    long sum = 0;
    for (int i = 0; i < ABUSE_WINDOW_S; i++)
        sum += s->abuse[i];
    return sum > (long)ABUSE_FACTOR * pal_server_config(s->srv)->messages_per_second *
                     ABUSE_WINDOW_S;
}

/* The id of a request refused before dispatch (rate), so that its answer
 * reaches the pending request; NULL when it has none that we can read. */
static json_t *peek_id(const char *buf, size_t len)
{
    json_t *req = json_loadb(buf, len, 0, NULL);
    json_t *id = json_incref(json_object_get(req, "id"));
    json_decref(req);
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        json_decref(id);
        id = NULL;
    }
    return id;
}

static void on_message_run(struct pal_session *s, const char *buf, size_t len);

/* A complete message: rate, then dispatch. Every message gets one answer. */
static void on_message(struct pal_session *s, const char *buf, size_t len)
{
    int64_t started = pal_now_us();
    on_message_run(s, buf, len);
    spend(s, started);
}

static void on_message_run(struct pal_session *s, const char *buf, size_t len)
{
    bool pipelined = s->unanswered > 0;
    s->unanswered++;
    int rate = pal_server_config(s->srv)->messages_per_second;
    if (pipelined && abusing(s)) {
        PAL_WARN("session", pal_session_room(s), pal_session_participant_id(s),
                 "more than %d messages per second for %d s: closing", ABUSE_FACTOR * rate,
                 ABUSE_WINDOW_S);
        json_t *id = s->msg_binary ? NULL : peek_id(buf, len);
        pal_session_reply_rate_limited(s, id, 1000, "more than %d messages per second for %d s",
                                       ABUSE_FACTOR * rate, ABUSE_WINDOW_S);
        json_decref(id);
        close_lingering(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit");
        return;
    }
    int64_t retry_ms;
    if (!rate_ok(s, &retry_ms)) {
        PAL_DEBUG("session", pal_session_room(s), pal_session_participant_id(s),
                  "more than %d messages per second: rate_limited", rate);
        json_t *id = s->msg_binary ? NULL : peek_id(buf, len);
        pal_session_reply_rate_limited(s, id, retry_ms, "more than %d messages per second", rate);
        json_decref(id);
        return;
    }
    if (s->msg_binary) {
        pal_session_reply_error(s, NULL, "binary_frame", NULL, "binary frames are not accepted");
        return;
    }
    pal_handlers_dispatch(s, buf, len);
}

void pal_session_on_receive(struct pal_session *s, const void *in, size_t len, bool binary,
                            bool final)
{
    if (s->close_code || s->pending_close || s->orphan)
        return; /* closing: nothing more is read */
    s->last_seen_ms = pal_now_ms();
    if (!s->in_message) {
        s->in_message = true;
        s->msg_binary = binary;
        s->msg_dropped = false;
        s->rx_len = 0;
    }
    size_t max = pal_server_config(s->srv)->max_message_bytes;
    if (!s->msg_binary && !s->msg_dropped && s->rx_len + len > max) {
        PAL_WARN("session", pal_session_room(s), pal_session_participant_id(s),
                 "message above %zu bytes: closing", max);
        pal_session_reply_error(s, NULL, "too_large", NULL, "message above %zu bytes", max);
        close_lingering(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
        s->msg_dropped = true;
        free(s->rx);
        s->rx = NULL;
        s->rx_len = s->rx_cap = 0;
        return;
    }
    if (!final) {
        if (s->msg_binary || s->msg_dropped)
            return;
        if (s->rx_len + len > s->rx_cap) {
            size_t cap = s->rx_cap ? s->rx_cap : 4096;
            while (cap < s->rx_len + len)
                cap *= 2;
            if (cap > max)
                cap = max;
            char *nb = realloc(s->rx, cap);
            if (!nb) {
                pal_session_kill(s);
                return;
            }
            s->rx = nb;
            s->rx_cap = cap;
        }
        memcpy(s->rx + s->rx_len, in, len);
        s->rx_len += len;
        return;
    }
    /* the message is complete */
    s->in_message = false;
    if (s->msg_dropped)
        return;
    if (s->msg_binary) {
        on_message(s, NULL, 0);
        return;
    }
    if (s->rx_len == 0) {
        on_message(s, in, len);
        return;
    }
    char *buf = s->rx;
    size_t total = s->rx_len + len;
    if (total > s->rx_cap) {
        buf = realloc(s->rx, total);
        if (!buf) {
            pal_session_kill(s);
            return;
        }
    }
    memcpy(buf + s->rx_len, in, len);
    s->rx = NULL;
    s->rx_len = s->rx_cap = 0;
    on_message(s, buf, total);
    free(buf);
}

void pal_session_on_closed(struct pal_session *s)
{
    unthrottle(s);
    unlink_session(s);
    s->wsi = NULL;
    s->slot = NULL;
    free_queue(s);
    if (s->p && !pal_server_stopping(s->srv)) {
        s->orphan = true;
        pal_rooms_disconnect(pal_server_rooms(s->srv), s->p, s->last_seen_ms);
        PAL_INFO("session", s->p->room, s->p->id,
                 "connection lost: waiting %d s for resume",
                 pal_server_config(s->srv)->resume_seconds);
        return;
    }
    if (s->p) {
        s->orphan = true;
        pal_server_participant_gone(s->srv, s, "left"); /* destroys s */
        return;
    }
    s->orphan = true; /* already unlinked */
    pal_session_destroy(s);
}
