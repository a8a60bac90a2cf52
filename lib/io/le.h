/* Little-endian fields of the library's file formats (model and classifier files): assembled
 * byte by byte, so a file is the same on every host whatever its byte order. */
#ifndef SPCNN_IO_LE_H
#define SPCNN_IO_LE_H

#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8,
               "the file formats store IEEE-754 binary32 and binary64 bit patterns");

static inline void spcnn__le_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void spcnn__le_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void spcnn__le_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t spcnn__le_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t spcnn__le_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t spcnn__le_get_u64(const uint8_t *p)
{
    return (uint64_t)spcnn__le_get_u32(p) | (uint64_t)spcnn__le_get_u32(p + 4) << 32;
}

/* Floating-point fields travel as their bit patterns. */
static inline uint32_t spcnn__f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}
static inline float spcnn__le_get_f32(const uint8_t *p)
{
    uint32_t b = spcnn__le_get_u32(p);
    float x;
    memcpy(&x, &b, 4);
    return x;
}
static inline uint64_t spcnn__f64_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    return b;
}
static inline double spcnn__le_get_f64(const uint8_t *p)
{
    uint64_t b = spcnn__le_get_u64(p);
    double x;
    memcpy(&x, &b, 8);
    return x;
}

#endif
