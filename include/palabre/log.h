/* One line per event: time, level, module, room, participant, message.
 *
 *   2026-11-28T23:59:01.123Z info  rooms room=demo participant=p_3f2a joined
 *
 * Thread-safe: each line is written with a single write(2). */
#ifndef PALABRE_LOG_H
#define PALABRE_LOG_H

#include <stdarg.h>

enum pal_log_level { PAL_LOG_DEBUG, PAL_LOG_INFO, PAL_LOG_WARN, PAL_LOG_ERROR, PAL_LOG_OFF };

void pal_log_set_level(enum pal_log_level level);
enum pal_log_level pal_log_get_level(void);
/* Parses "debug", "info", "warn", "error" or "off"; returns 0 or -EINVAL. */
int pal_log_level_parse(const char *name, enum pal_log_level *out);

/* room and participant may be NULL. */
void pal_log(enum pal_log_level level, const char *module, const char *room,
             const char *participant, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void pal_logv(enum pal_log_level level, const char *module, const char *room,
              const char *participant, const char *fmt, va_list ap);

#define PAL_DEBUG(mod, room, pid, ...) pal_log(PAL_LOG_DEBUG, mod, room, pid, __VA_ARGS__)
#define PAL_INFO(mod, room, pid, ...) pal_log(PAL_LOG_INFO, mod, room, pid, __VA_ARGS__)
#define PAL_WARN(mod, room, pid, ...) pal_log(PAL_LOG_WARN, mod, room, pid, __VA_ARGS__)
#define PAL_ERROR(mod, room, pid, ...) pal_log(PAL_LOG_ERROR, mod, room, pid, __VA_ARGS__)

#endif
