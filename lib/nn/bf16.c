#include "nn/bf16.h"

#include <string.h>

#include "core/multiversion.h"

/* Branch-free integer arithmetic, so that it vectorises and gives the same bytes whatever the
 * vector width: adding 0x7fff plus the lowest kept bit carries into the kept bits exactly when
 * the dropped half is above one half, or equal to it with an odd kept part. */
SPCNN_MULTIVERSION void spcnn__bf16_from_f32(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        const int nan = (u & 0x7fffffffu) > 0x7f800000u;
        y[i] = (uint16_t)(nan ? (u >> 16) | 0x0040u : rounded);
    }
}
