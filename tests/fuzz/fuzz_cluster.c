/* What a cluster node reads from a client or from Redis
 * (palabre/cluster_wire.h): the first byte picks the parser, the rest is the
 * input: a join's ticket, a lease value, a registry entry, a Redis address,
 * a room's access fields (room, invite link), someone in a meeting.
 * A ticket is accepted only if it signs back to itself; a registry entry read
 * is written again and read back the same. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "palabre/cluster_wire.h"

#define SECRET "fuzz-cluster-secret-0123"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *in = malloc(size);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    size_t len = size - 1;
    switch (data[0] % 7) {
    case 0: {
        char room[65], node[PAL_CLUSTER_NODE_ID_MAX + 1];
        int rc = pal_cluster_ticket_read(SECRET, in, len, 0, room, node);
        /* accepted: it names a valid room and node, and it is the one our
         * writer makes for them (a forgery would need the secret) */
        if (rc == 0) {
            char again[PAL_CLUSTER_TICKET_MAX + 1];
            const char *exp = in + 3 + strlen(room) + 1 + strlen(node) + 1;
            if (!pal_cluster_node_id_valid(node) ||
                pal_cluster_ticket_write(SECRET, room, node, strtoll(exp, NULL, 10), again,
                                         sizeof(again)) ||
                strcmp(again, in) != 0)
                abort();
        } else if (rc != -EINVAL) {
            abort();
        }
        break;
    }
    case 1: {
        char node[PAL_CLUSTER_NODE_ID_MAX + 1];
        int64_t epoch;
        if (pal_cluster_lease_read(in, len, node, &epoch) == 0 &&
            (!pal_cluster_node_id_valid(node) || epoch < 0))
            abort();
        break;
    }
    case 2: {
        struct pal_cluster_node n, m;
        char err[128], json[2048];
        if (pal_cluster_node_read(in, len, &n, err, sizeof(err)) == 0) {
            if (pal_cluster_node_write(&n, json, sizeof(json)) ||
                pal_cluster_node_read(json, strlen(json), &m, err, sizeof(err)) ||
                strcmp(n.id, m.id) != 0 || strcmp(n.url, m.url) != 0 || n.rooms != m.rooms)
                abort();
        } else if (!memchr(err, '\0', sizeof(err))) {
            abort();
        }
        break;
    }
    case 4: { /* read, written again, read back the same */
        struct pal_room_record r, s;
        char v[PAL_CLUSTER_ACCESS_VALUE_MAX];
        if (pal_cluster_room_read(in, len, "conseil", &r) == 0 &&
            (pal_cluster_room_write(&r, v, sizeof(v)) ||
             pal_cluster_room_read(v, strlen(v), "conseil", &s) ||
             strcmp(r.title, s.title) != 0 || strcmp(r.owner_sub, s.owner_sub) != 0 ||
             r.created_ms != s.created_ms || r.settings.locked != s.settings.locked))
            abort();
        break;
    }
    case 5: {
        struct pal_invite a, b;
        char v[PAL_CLUSTER_ACCESS_VALUE_MAX];
        if (pal_cluster_invite_read(in, len, "conseil", &a) == 0 &&
            (a.max_uses < 0 || a.uses < 0 || pal_cluster_invite_write(&a, v, sizeof(v)) ||
             pal_cluster_invite_read(v, strlen(v), "conseil", &b) ||
             strcmp(a.label, b.label) != 0 || a.uses != b.uses || a.revoked_ms != b.revoked_ms))
            abort();
        break;
    }
    case 6: {
        struct pal_cluster_person a, b;
        char v[PAL_CLUSTER_ACCESS_VALUE_MAX];
        if (pal_cluster_person_read(in, len, &a) == 0 &&
            (strlen(a.id) != PAL_PARTICIPANT_ID_LEN || a.agent != (a.sub[0] != '\0') ||
             pal_cluster_person_write(&a, v, sizeof(v)) ||
             pal_cluster_person_read(v, strlen(v), &b) || strcmp(a.id, b.id) != 0 ||
             strcmp(a.name, b.name) != 0 || a.role != b.role))
            abort();
        break;
    }
    default: {
        char host[256];
        int port = -1;
        if (pal_cluster_redis_addr_parse(in, host, sizeof(host), &port) == 0 &&
            (!memchr(host, '\0', sizeof(host)) || port < 0 || port > 65535))
            abort();
        break;
    }
    }
    free(in);
    return 0;
}
