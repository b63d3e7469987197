/* Counts malloc/calloc/realloc calls made by the current thread while
 * alloc_counting is set: include in exactly one file of a benchmark binary
 * (it defines the allocator entry points, forwarding to glibc's). */
#ifndef PALABRE_BENCH_ALLOC_COUNT_H
#define PALABRE_BENCH_ALLOC_COUNT_H

#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static __thread int alloc_counting;
static unsigned long long alloc_calls;

void *malloc(size_t n)
{
    if (alloc_counting)
        alloc_calls++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (alloc_counting)
        alloc_calls++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (alloc_counting)
        alloc_calls++;
    return __libc_realloc(p, n);
}

#endif
