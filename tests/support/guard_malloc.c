/* A guard-page allocator for tests (LD_PRELOAD): every block ends against an inaccessible page,
 * so that a read or write past the end of any heap block faults at once instead of passing
 * silently. For code we cannot build with AddressSanitizer, oneDNN above all: its AMX brgemm
 * convolution's kernel generator reads past one of its own blocks (nn/dnnl_ctx.c), which ASan
 * caught only when the block happened to end a mapping. Each block costs two pages and two
 * mappings (the kernel allows 65 530 by default: about 32 000 live blocks), and freed blocks go
 * back to the kernel: slow, and only for short runs.
 * Alignment: blocks are aligned as asked (16 bytes at least), so a block whose size is not a
 * multiple of its alignment ends up to alignment - 1 bytes before the guard page. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    void *base;  /* the mapping */
    size_t span; /* its length, the guard page included */
    size_t size; /* the size asked for */
} header;

static void *guarded(size_t size, size_t align)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (align < 16)
        align = 16;
    if ((align & (align - 1)) != 0 || size > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    const size_t need = size + sizeof(header) + align;
    const size_t span = (need + page - 1) / page * page + page;
    char *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    char *guard = base + span - page;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        munmap(base, span);
        errno = ENOMEM;
        return NULL;
    }
    char *p = (char *)((uintptr_t)(guard - size) & ~(uintptr_t)(align - 1));
    header *h = (header *)p - 1;
    h->base = base;
    h->span = span;
    h->size = size;
    return p;
}

void *malloc(size_t size)
{
    return guarded(size, 16);
}

void free(void *p)
{
    if (p) {
        header *h = (header *)p - 1;
        munmap(h->base, h->span);
    }
}

void *calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return guarded(count * size, 16); /* fresh anonymous pages are zero */
}

void *realloc(void *p, size_t size)
{
    if (p == NULL)
        return malloc(size);
    header *h = (header *)p - 1;
    void *q = malloc(size);
    if (q) {
        memcpy(q, p, h->size < size ? h->size : size);
        free(p);
    }
    return q;
}

void *reallocarray(void *p, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, count * size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = guarded(size, align);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
    return guarded(size, align);
}

void *memalign(size_t align, size_t size)
{
    return guarded(size, align);
}

void *valloc(size_t size)
{
    return guarded(size, (size_t)sysconf(_SC_PAGESIZE));
}

void *pvalloc(size_t size)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return guarded((size + page - 1) / page * page, page);
}

size_t malloc_usable_size(void *p)
{
    return p ? ((header *)p - 1)->size : 0;
}
