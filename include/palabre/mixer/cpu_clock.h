/* CPU time of the calling thread, for the mixer's cost split (stats) and
 * its benchmarks. Any thread. */
#ifndef PALABRE_MIXER_CPU_CLOCK_H
#define PALABRE_MIXER_CPU_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t pal_mixer_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
