/* VP8 payload descriptor parser and picture id rewrite. */
#include <stdlib.h>
#include <string.h>

#include "palabre/vp8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pal_vp8_desc d;
    struct pal_wire_err err;
    if (pal_vp8_parse(data, size, &d, &err) != 0)
        return 0;
    if (d.desc_len >= size)
        abort();
    /* TID, Y, KEYIDX: in range, and only with their bit (the temporal
     * filter reads TID 0 when there is none) */
    if (d.tid > 3 || d.keyidx > 31 || (!d.has_tid && (d.tid || d.layer_sync)) ||
        (!d.has_keyidx && d.keyidx))
        abort();
    if (d.has_picture_id) {
        uint8_t *copy = malloc(size);
        memcpy(copy, data, size);
        pal_vp8_set_picture_id(copy, &d, 0x1234);
        struct pal_vp8_desc e;
        if (pal_vp8_parse(copy, size, &e, NULL) != 0 || e.desc_len != d.desc_len)
            abort();
        free(copy);
    }
    return 0;
}
