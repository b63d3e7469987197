/* Shared error text for wire-format parsers (see palabre/wire.h). */
#include "palabre/wire.h"

#include <stdarg.h>
#include <stdio.h>

int pal_wire_fail(struct pal_wire_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}
