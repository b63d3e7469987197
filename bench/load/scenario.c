/* Scenario files of palabre-load. See scenario.h. */
#include "scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void load_scenario_defaults(struct load_scenario *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "default");
    s->participants = 4;
    s->rooms = 1;
    s->audio = true;
    s->video = true;
    s->video_kbps = 300;
    s->video_width = 640;
    s->video_height = 360;
    s->video_fps = 30;
    s->keyframe_interval_s = 3;
    s->ramp_per_s = 5;
    s->duration_s = 10;
}

static int set_key(struct load_scenario *s, const char *key, const char *val)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end != '\0')
        return -EINVAL;
    struct {
        const char *key;
        int *ip;
        double lo, hi;
    } ints[] = {
        {"participants", &s->participants, 1, 5000},
        {"rooms", &s->rooms, 1, 1000},
        {"publishers_per_room", &s->publishers_per_room, 0, 1000},
        {"audio_speakers", &s->audio_speakers, 0, 1000},
        {"video_kbps", &s->video_kbps, 30, 20000},
        {"video_width", &s->video_width, 64, 1920},
        {"video_height", &s->video_height, 64, 1080},
        {"video_fps", &s->video_fps, 1, 60},
        {"keyframe_interval_s", &s->keyframe_interval_s, 1, 60},
        {"duration_s", &s->duration_s, 1, 86400},
        {"small_tiles", &s->small_tiles, 0, 1000},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcmp(key, ints[i].key) != 0)
            continue;
        if (v < ints[i].lo || v > ints[i].hi || v != (int)v)
            return -ERANGE;
        *ints[i].ip = (int)v;
        return 0;
    }
    bool *flag = !strcmp(key, "audio")       ? &s->audio
                 : !strcmp(key, "video")     ? &s->video
                 : !strcmp(key, "simulcast") ? &s->simulcast
                                             : NULL;
    if (flag) {
        if (v != 0 && v != 1)
            return -ERANGE;
        *flag = v == 1;
        return 0;
    }
    if (!strcmp(key, "ramp_per_s")) {
        if (v <= 0 || v > 1000)
            return -ERANGE;
        s->ramp_per_s = v;
        return 0;
    }
    return -ENOENT;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && strchr(" \t\r\n", p[n - 1]))
        p[--n] = '\0';
    return p;
}

int load_scenario_load(const char *name_or_file, const char *const *dirs, struct load_scenario *s,
                       char *err, size_t errcap)
{
    load_scenario_defaults(s);
    FILE *f = strchr(name_or_file, '/') || strstr(name_or_file, ".conf") ? fopen(name_or_file, "r")
                                                                           : NULL;
    char path[1024];
    for (size_t i = 0; !f && dirs && dirs[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s.conf", dirs[i], name_or_file);
        f = fopen(path, "r");
    }
    if (!f) {
        snprintf(err, errcap, "scenario '%s': no such file or name", name_or_file);
        return -ENOENT;
    }
    const char *base = strrchr(name_or_file, '/') ? strrchr(name_or_file, '/') + 1 : name_or_file;
    snprintf(s->name, sizeof(s->name), "%.*s", (int)strcspn(base, "."), base);
    char line[512];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = trim(line);
        if (!*p)
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errcap, "line %d: expected key = value", lineno);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(p), *val = trim(eq + 1);
        int r = set_key(s, key, val);
        if (r) {
            snprintf(err, errcap, "line %d: %s '%s'", lineno,
                     r == -ENOENT ? "unknown key" : "bad value for", key);
            rc = -EINVAL;
        }
    }
    fclose(f);
    if (!rc && s->rooms > s->participants) {
        snprintf(err, errcap, "rooms (%d) > participants (%d)", s->rooms, s->participants);
        rc = -EINVAL;
    }
    if (!rc && s->simulcast && (!s->video || s->video_width < 128 || s->video_height < 128)) {
        snprintf(err, errcap,
                 "simulcast needs video of at least 128x128 (its q layer is 1/4 of it)");
        rc = -EINVAL;
    }
    if (!rc && !s->audio && !s->video) {
        snprintf(err, errcap, "neither audio nor video");
        rc = -EINVAL;
    }
    return rc;
}

void load_scenario_place(const struct load_scenario *s, int i, int *room, int *index_in_room)
{
    *room = i % s->rooms;
    *index_in_room = i / s->rooms;
}

int load_scenario_room_size(const struct load_scenario *s, int r)
{
    return s->participants / s->rooms + (r < s->participants % s->rooms ? 1 : 0);
}

bool load_scenario_publishes(const struct load_scenario *s, int index_in_room)
{
    return s->publishers_per_room == 0 || index_in_room < s->publishers_per_room;
}

bool load_scenario_talks(const struct load_scenario *s, int index_in_room)
{
    return s->audio_speakers == 0 || index_in_room < s->audio_speakers;
}

bool load_scenario_small_tiles(const struct load_scenario *s, int index_in_room, int room_size)
{
    return index_in_room >= room_size - s->small_tiles;
}
