/* Allocation through one door, so tests can inject a failure at every allocation site. */
#ifndef SPCNN_CORE_ALLOC_H
#define SPCNN_CORE_ALLOC_H

#include <stddef.h>

void *spcnn__malloc(size_t size);
void *spcnn__calloc(size_t count, size_t size);
/* realloc through the same door; on failure (NULL) the old block is untouched and still owned
 * by the caller. */
void *spcnn__realloc(void *ptr, size_t size);
void spcnn__free(void *ptr);
/* 64-byte aligned, for tensors handed to oneDNN; free with spcnn__free_aligned. */
void *spcnn__malloc_aligned(size_t size);
void spcnn__free_aligned(void *ptr);

/* One arena, many tensors: carve consecutive slices, each starting on 16 floats (64 bytes).
 * Run the same sequence of carves twice: with base NULL to measure (c.at is then the total in
 * floats; the pointers handed out are NULL), then over an arena of that size. */
typedef struct spcnn__carver {
    float *base;
    size_t at;
} spcnn__carver;

static inline float *spcnn__carve(spcnn__carver *c, size_t count)
{
    float *p = c->base ? c->base + c->at : NULL;
    c->at += (count + 15) / 16 * 16;
    return p;
}

/* Test hook: the allocation after `countdown` successful ones fails (per thread); a negative
 * countdown disables injection. Returns the number of allocations made since the last call. */
long spcnn__alloc_fail_after(long countdown);
/* Test hook: as spcnn__alloc_fail_after, but only that one allocation fails and the ones after
 * it succeed again, so a failure that a later success hides is caught. */
long spcnn__alloc_fail_once_after(long countdown);
/* Test hook: requests of more than max bytes fail (per thread; 0 lifts the cap), so a test can
 * prove that a hostile size is refused before any large allocation without making one. Returns
 * the largest request made on this thread since the previous call, failed or not. */
size_t spcnn__alloc_cap(size_t max);

#endif
