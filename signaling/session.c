/* One WebSocket connection: reassembly, limits, the bounded outbound queue.
 *
 * lws idiom: messages are queued by pal_session_send and written in
 * LWS_CALLBACK_SERVER_WRITEABLE, as many as the socket takes; a queue that reaches
 * outbound_queue_messages means the client does not read: it is cut off.
 * An idle session holds no buffer of its own (the reassembly buffer is
 * allocated only for a fragmented message and freed after it). */
#include "palabre/session.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/common.h"
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
};

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
    struct outmsg *q_head, *q_tail;
    char *rx;
    size_t rx_len, rx_cap;
    /* state */
    struct pal_session *prev, *next; /* connected sessions */
    int q_len;
    double tokens;
    int64_t tokens_at_us;
    int64_t last_seen_ms;
    int close_code;
    int pending_close; /* closes when the linger timer fires */
    char close_reason[40];
    bool virtual_;   /* created without network */
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
    link_session(s);
    return s;
}

static void free_queue(struct pal_session *s)
{
    for (struct outmsg *m = s->q_head, *next; m; m = next) {
        next = m->next;
        outmsg_free(m);
    }
    s->q_head = s->q_tail = NULL;
    s->q_len = 0;
    free(s->rx);
    s->rx = NULL;
    s->rx_len = s->rx_cap = 0;
}

void pal_session_destroy(struct pal_session *s)
{
    if (!s)
        return;
    if (!s->orphan)
        unlink_session(s);
    if (s->slot)
        *s->slot = NULL;
    free_queue(s);
    free(s);
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
}

const char *pal_session_participant_id(const struct pal_session *s)
{
    return s->p ? s->p->id : NULL;
}

bool pal_session_join_receive_mixed(const struct pal_session *s)
{
    return s->p && s->p->receive_mixed;
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
    }
}

int pal_session_close_code(const struct pal_session *s)
{
    return s->close_code;
}

/* Queues a shared frame (one more reference to it). */
int pal_session_send_frame(struct pal_session *s, struct pal_frame *f)
{
    if (s->orphan)
        return 0; /* nobody to read it: dropped, as for any disconnected client */
    if (s->q_len >= pal_server_config(s->srv)->outbound_queue_messages) {
        PAL_WARN("session", pal_session_room(s), pal_session_participant_id(s),
                 "outbound queue full (%d messages): slow client cut off", s->q_len);
        pal_session_kill(s);
        return -ENOBUFS;
    }
    struct outmsg *m = malloc(sizeof(*m));
    if (!m)
        return -ENOMEM;
    f->refs++;
    *m = (struct outmsg){.frame = f};
    if (s->q_tail)
        s->q_tail->next = m;
    else
        s->q_head = m;
    s->q_tail = m;
    s->q_len++;
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
    return 0;
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
    if (!msg)
        return -ENOMEM;
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return -ENOMEM;
    int rc = pal_session_send_text(s, text, strlen(text));
    free(text);
    return rc;
}

void pal_session_reply_ok(struct pal_session *s, json_t *id, json_t *data)
{
    pal_session_send(s, pal_response_ok(id, data));
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
    pal_session_send(s, pal_response_error(id, code, field, msg));
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
    while (s->q_head) {
        struct outmsg *m = s->q_head;
        s->q_head = m->next;
        if (!s->q_head)
            s->q_tail = NULL;
        s->q_len--;
        int n = lws_write(s->wsi, m->frame->data + LWS_PRE, m->frame->len, LWS_WRITE_TEXT);
        outmsg_free(m);
        if (n < 0)
            return -1;
        /* lws_send_pipe_choked() costs a poll() syscall: asked only when
         * there is more to write, or a close frame to send after this one */
        if ((s->q_head || s->close_code) && lws_send_pipe_choked(s->wsi)) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
    }
    if (s->close_code) {
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

/* Token bucket: messages_per_second, burst of one second's worth. */
static bool rate_ok(struct pal_session *s)
{
    int rate = pal_server_config(s->srv)->messages_per_second;
    int64_t now = pal_now_us();
    s->tokens += (double)(now - s->tokens_at_us) * rate / 1e6;
    s->tokens_at_us = now;
    if (s->tokens > rate)
        s->tokens = rate;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
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
    if (!rate_ok(s)) {
        PAL_WARN("session", pal_session_room(s), pal_session_participant_id(s),
                 "more than %d messages per second: closing",
                 pal_server_config(s->srv)->messages_per_second);
        pal_session_reply_error(s, NULL, "rate_limited", NULL, "more than %d messages per second",
                                pal_server_config(s->srv)->messages_per_second);
        close_lingering(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit");
        free(s->rx);
        s->rx = NULL;
        s->rx_len = s->rx_cap = 0;
        return;
    }
    if (s->msg_binary) {
        pal_session_reply_error(s, NULL, "binary_frame", NULL, "binary frames are not accepted");
        return;
    }
    if (s->rx_len == 0) {
        pal_handlers_dispatch(s, in, len);
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
    pal_handlers_dispatch(s, buf, total);
    free(buf);
}

void pal_session_on_closed(struct pal_session *s)
{
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
