/* Media signaling: the media requests (publish, subscribe_answer,
 * ice_candidate, subscribe_restart, set_receive), a participant listener,
 * a wake hook, a /metrics source and the mixer's admission, registered with
 * the signaling server; it starts the media workers.
 *
 * main.c, after the server listens and before its loop runs:
 *     struct pal_media_signaling *ms;
 *     if (pal_media_signaling_create(srv, &ms) != 0) { ...destroy the server, fail... }
 *     pal_server_adopt(srv, ms, pal_media_signaling_destroy_cb);
 * The server then destroys it once every participant has left.
 * Its state for each participant hangs off struct pal_participant's media.
 *
 * Thread: the signaling thread. Owner: signaling/media_signaling.c. */
#ifndef PALABRE_MEDIA_SIGNALING_H
#define PALABRE_MEDIA_SIGNALING_H

struct pal_server;
struct pal_media_signaling;

/* Returns 0 or a negative errno (media workers or certificate failed; the
 * server must then be destroyed without running). */
int pal_media_signaling_create(struct pal_server *srv, struct pal_media_signaling **out);
/* Stops the media workers and frees every media resource. The server must
 * still exist (its participants' state is reached through it). */
void pal_media_signaling_destroy(struct pal_media_signaling *ms);
/* The same, with the signature pal_server_adopt takes. */
void pal_media_signaling_destroy_cb(void *ms);

#endif
