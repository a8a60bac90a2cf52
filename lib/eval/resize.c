/* Area (box-filter) resizing of 8-bit gray images, in exact integer arithmetic.
 *
 * Along each axis, source pixel k covers [k·dst, (k+1)·dst) and output pixel i covers
 * [i·src, (i+1)·src), in units of 1/(src·dst) of the image's side: when downscaling, an output
 * pixel is the mean of the source pixels it covers, each weighted by its overlap (an integer in
 * those units), and the weights of one output sum to src. When the output is at least as large
 * as the source along an axis, the output pixel takes the source pixel under its centre
 * (replication: each source pixel repeated dst/src times for an integer factor). */
#include <stdint.h>

#include "core/error.h"

/* The source pixels [lo, hi) that output pixel i draws from along one axis. */
typedef struct span {
    size_t lo, hi;
} span;

static span axis_span(size_t i, size_t src, size_t dst)
{
    span s;
    if (dst >= src) {
        s.lo = (2 * i + 1) * src / (2 * dst); /* the pixel under the centre (i + 1/2)·src/dst */
        s.hi = s.lo + 1;
    } else {
        s.lo = i * src / dst;
        s.hi = ((i + 1) * src + dst - 1) / dst;
    }
    return s;
}

/* The weight of source pixel k in output pixel i; the weights of one output sum to
 * axis_total(). */
static uint64_t axis_weight(size_t i, size_t k, size_t src, size_t dst)
{
    if (dst >= src)
        return 1;
    const size_t lo = k * dst > i * src ? k * dst : i * src;
    const size_t hi = (k + 1) * dst < (i + 1) * src ? (k + 1) * dst : (i + 1) * src;
    return hi - lo;
}

static uint64_t axis_total(size_t src, size_t dst)
{
    return dst >= src ? 1 : src;
}

/* a·b fits in a uint64_t below `limit`. */
static int product_below(uint64_t a, uint64_t b, uint64_t limit)
{
    return a == 0 || b <= limit / a;
}

spcnn_status spcnn_image_resize_area(const uint8_t *src, size_t src_h, size_t src_w,
                                     uint8_t *dst, size_t dst_h, size_t dst_w)
{
    SPCNN_CHECK_ARG(src != NULL && dst != NULL, "image_resize_area: src or dst is NULL");
    SPCNN_CHECK_ARG(src_h >= 1 && src_w >= 1 && dst_h >= 1 && dst_w >= 1,
                    "image_resize_area: %zu x %zu to %zu x %zu: every side must be 1 or more",
                    src_h, src_w, dst_h, dst_w);
    /* Every intermediate value stays below 2^62: the positions (2i+1)·src and (i+1)·src of an
     * axis, the image sizes, and 2·255·(total weight) + total weight of one output pixel. */
    const uint64_t limit = (uint64_t)1 << 62;
    SPCNN_CHECK_ARG(product_below(2 * (uint64_t)src_h + 2, dst_h, limit) &&
                        product_below(2 * (uint64_t)src_w + 2, dst_w, limit) &&
                        product_below(src_h, src_w, limit / 512) &&
                        product_below(dst_h, dst_w, limit),
                    "image_resize_area: %zu x %zu to %zu x %zu: sizes too large", src_h, src_w,
                    dst_h, dst_w);
    const uint64_t total = axis_total(src_h, dst_h) * axis_total(src_w, dst_w);
    for (size_t r = 0; r < dst_h; r++) {
        const span sy = axis_span(r, src_h, dst_h);
        for (size_t c = 0; c < dst_w; c++) {
            const span sx = axis_span(c, src_w, dst_w);
            uint64_t sum = 0;
            for (size_t y = sy.lo; y < sy.hi; y++) {
                const uint8_t *row = src + y * src_w;
                uint64_t line = 0;
                for (size_t x = sx.lo; x < sx.hi; x++)
                    line += axis_weight(c, x, src_w, dst_w) * row[x];
                sum += axis_weight(r, y, src_h, dst_h) * line;
            }
            /* Round to nearest, halves up: floor(sum/total + 1/2). */
            dst[r * dst_w + c] = (uint8_t)((2 * sum + total) / (2 * total));
        }
    }
    return SPCNN_OK;
}
