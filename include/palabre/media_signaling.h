/* Media signaling: registers the media requests (publish, subscribe_answer,
 * ice_candidate, subscribe_restart), a participant listener and a wake hook
 * with the signaling server, and starts the media workers.
 *
 * main.c calls, after the server is created and before its loop runs:
 *     if (pal_media_signaling_init(srv) != 0) { ...fail to start... }
 * and, after the loop ends and before the server is destroyed:
 *     pal_media_signaling_shutdown();
 *
 * Thread: the signaling thread. */
#ifndef PALABRE_MEDIA_SIGNALING_H
#define PALABRE_MEDIA_SIGNALING_H

struct pal_server;

/* Returns 0 or a negative errno (media workers or certificate failed). */
int pal_media_signaling_init(struct pal_server *srv);
/* Counters summed over the media workers; -ENODEV before init. */
struct pal_media_stats;
int pal_media_signaling_stats(struct pal_media_stats *out);
/* Stops the media workers and frees every media resource. */
void pal_media_signaling_shutdown(void);

#endif
