#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>

/* Fault injection for tests (thread-local, so concurrent handles are not affected). */
static _Thread_local long fail_countdown = -1;
static _Thread_local long alloc_count;
static _Thread_local int fail_once;
static _Thread_local size_t largest, cap;

long spcnn__alloc_fail_after(long countdown)
{
    long made = alloc_count;
    fail_countdown = countdown;
    fail_once = 0;
    alloc_count = 0;
    return made;
}

long spcnn__alloc_fail_once_after(long countdown)
{
    long made = spcnn__alloc_fail_after(countdown);
    fail_once = 1;
    return made;
}

size_t spcnn__alloc_cap(size_t max)
{
    size_t seen = largest;
    cap = max;
    largest = 0;
    return seen;
}

static int injected_failure(size_t size)
{
    alloc_count++;
    if (size > largest)
        largest = size;
    if (cap != 0 && size > cap)
        return 1;
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        if (fail_once)
            fail_countdown = -1;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void *spcnn__malloc(size_t size)
{
    return injected_failure(size) ? NULL : malloc(size ? size : 1);
}

void *spcnn__calloc(size_t count, size_t size)
{
    size_t bytes = size && count > SIZE_MAX / size ? SIZE_MAX : count * size;
    return injected_failure(bytes) ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *spcnn__realloc(void *ptr, size_t size)
{
    return injected_failure(size) ? NULL : realloc(ptr, size ? size : 1);
}

void spcnn__free(void *ptr)
{
    free(ptr);
}

void *spcnn__malloc_aligned(size_t size)
{
    if (injected_failure(size))
        return NULL;
    size_t rounded = (size + 63) / 64 * 64;
    if (rounded < size)
        return NULL;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void spcnn__free_aligned(void *ptr)
{
    free(ptr);
}
