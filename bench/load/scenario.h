/* A load scenario: who joins which room, what each publishes, how fast they
 * arrive and how long the load lasts. Files in bench/scenarios/<name>.conf,
 * "key = value" lines, '#' comments:
 *
 *   participants = 20        # in total
 *   rooms = 2                # participants are spread round-robin
 *   publishers_per_room = 0  # 0: everyone publishes; else the first k of each room
 *   audio = 1                # publishers send Opus, 50 packets/s
 *   audio_speakers = 0       # 0: every publisher talks; else the first k of
 *                            # each room talk, the others are silent: Opus
 *                            # DTX, one packet every 400 ms (as a browser
 *                            # with usedtx=1 sends during silence)
 *   video = 1                # publishers send VP8
 *   video_kbps = 300
 *   video_width = 640
 *   video_height = 360
 *   video_fps = 30
 *   keyframe_interval_s = 3
 *   simulcast = 0            # 1: video as three VP8 encodings, rid q/h/f
 *                            # at 1/4, 1/2 and full size (video_kbps is the
 *                            # full layer's; h and q get 30% and 10% of it,
 *                            # as a browser's sendEncodings defaults)
 *   small_tiles = 0          # the last k of each room show every other
 *                            # camera in a 160x90 tile (set_track_view):
 *                            # the server should forward them the q layer
 *   ramp_per_s = 5           # participants started per second
 *   duration_s = 20          # steady load once everyone has joined
 *
 * Thread: any (plain data). */
#ifndef PALABRE_LOAD_SCENARIO_H
#define PALABRE_LOAD_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

struct load_scenario {
    char name[64];
    int participants, rooms, publishers_per_room, audio_speakers;
    bool audio, video;
    int video_kbps, video_width, video_height, video_fps, keyframe_interval_s;
    bool simulcast;
    int small_tiles;
    double ramp_per_s;
    int duration_s;
};

void load_scenario_defaults(struct load_scenario *s);
/* name_or_file: a path to a file, or a name looked up as
 * <dir>/<name>.conf for each of the search dirs (NULL-terminated).
 * Returns 0, -ENOENT, or -EINVAL with err filled. */
int load_scenario_load(const char *name_or_file, const char *const *dirs, struct load_scenario *s,
                       char *err, size_t errcap);
/* The room (0..rooms-1) and the index within it of participant i. */
void load_scenario_place(const struct load_scenario *s, int i, int *room, int *index_in_room);
/* Participants in room r, and whether the k-th of a room publishes. */
int load_scenario_room_size(const struct load_scenario *s, int r);
bool load_scenario_publishes(const struct load_scenario *s, int index_in_room);
/* Whether the k-th of a room talks (sends 50 Opus packets/s) or is silent (DTX). */
bool load_scenario_talks(const struct load_scenario *s, int index_in_room);
/* Whether the k-th of a room of room_size shows the others in small tiles. */
bool load_scenario_small_tiles(const struct load_scenario *s, int index_in_room, int room_size);

#endif
