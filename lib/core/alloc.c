#include "core/alloc.h"

#include <stdlib.h>

/* Fault injection for tests (thread-local, so concurrent handles are not affected). */
static _Thread_local long fail_countdown = -1;
static _Thread_local long alloc_count;
static _Thread_local int fail_once;

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

static int injected_failure(void)
{
    alloc_count++;
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
    return injected_failure() ? NULL : malloc(size ? size : 1);
}

void *spcnn__calloc(size_t count, size_t size)
{
    return injected_failure() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *spcnn__realloc(void *ptr, size_t size)
{
    return injected_failure() ? NULL : realloc(ptr, size ? size : 1);
}

void spcnn__free(void *ptr)
{
    free(ptr);
}

void *spcnn__malloc_aligned(size_t size)
{
    if (injected_failure())
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
