#include "palabre/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Set by the main thread, read by every thread that logs: relaxed is
 * enough, a thread may see a new level one line late. */
static _Atomic int current_level = PAL_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void pal_log_set_level(enum pal_log_level level)
{
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

enum pal_log_level pal_log_get_level(void)
{
    return (enum pal_log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int pal_log_level_parse(const char *name, enum pal_log_level *out)
{
    for (int i = 0; i <= PAL_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum pal_log_level)i;
            return 0;
        }
    }
    return -22; /* -EINVAL */
}

void pal_logv(enum pal_log_level level, const char *module, const char *room,
              const char *participant, const char *fmt, va_list ap)
{
    if ((int)level < atomic_load_explicit(&current_level, memory_order_relaxed) ||
        level >= PAL_LOG_OFF)
        return;
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03dZ %-5s %s", (int)(tv.tv_usec / 1000),
                  level_names[level], module ? module : "-");
    if (room)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " room=%s", room);
    if (participant)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " participant=%s", participant);
    if (n < (int)sizeof(line) - 1)
        line[n++] = ' ';
    if (n < (int)sizeof(line) - 1)
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* One event, one line: newlines inside the message are flattened. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void pal_log(enum pal_log_level level, const char *module, const char *room,
             const char *participant, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pal_logv(level, module, room, participant, fmt, ap);
    va_end(ap);
}
