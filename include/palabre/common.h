/* Shared conventions for every Palabre module.
 *
 * - Functions return 0 or a negative errno-style code (-EINVAL, -ENOMEM, ...).
 * - Invariants are asserted; network input never is.
 * - Long-lived objects are opaque handles with _create/_destroy; each header
 *   says which thread may call it. */
#ifndef PALABRE_COMMON_H
#define PALABRE_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PAL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PAL_MAX(a, b) ((a) > (b) ? (a) : (b))

#ifndef PAL_VERSION
#define PAL_VERSION "dev"
#endif

/* Monotonic clock, in microseconds and milliseconds. */
int64_t pal_now_us(void);
int64_t pal_now_ms(void);
/* Wall clock, milliseconds since the Unix epoch. */
int64_t pal_wall_ms(void);

/* Fills buf with n cryptographically random bytes (OpenSSL RAND_bytes). */
int pal_random_bytes(void *buf, size_t n);
/* Writes 2*n lowercase hex characters of n random bytes plus a NUL into out. */
int pal_random_hex(char *out, size_t n);

/* Writes the message (printf) into err (errlen bytes; err may be NULL) and
 * returns rc: `return pal_errf(err, errlen, -EINVAL, "key %s: ...", k);` */
int pal_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
