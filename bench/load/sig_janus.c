/* placeholder, replaced below */
#include "participant.h"
static int start(struct load_participant *p) { (void)p; return -ENOTSUP; }
static void on_message(struct load_participant *p, json_t *m) { (void)p; (void)m; }
const struct load_signaling load_signaling_janus = {.name = "janus", .start = start, .on_message = on_message};
