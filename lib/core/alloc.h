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

/* Test hook: the allocation after `countdown` successful ones fails (per thread); a negative
 * countdown disables injection. Returns the number of allocations made since the last call. */
long spcnn__alloc_fail_after(long countdown);

#endif
