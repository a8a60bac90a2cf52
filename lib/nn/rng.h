/* Counter-based random numbers: every draw is a pure function of (key, counter), so a result
 * does not depend on the order in which work is done, the batch size or the thread count.
 * Sampling keys its draws by (seed, image, row, column); training keys them by (seed, step,
 * purpose). No global state. */
#ifndef SPCNN_NN_RNG_H
#define SPCNN_NN_RNG_H

#include <math.h>
#include <stdint.h>

/* splitmix64's finaliser: a bijective mix with full avalanche. */
static inline uint64_t spcnn__mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A key from up to four words (seed, image, row, column — or seed, step, purpose, 0). */
static inline uint64_t spcnn__key4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    return spcnn__mix64(spcnn__mix64(spcnn__mix64(spcnn__mix64(a) ^ b) ^ c) ^ d);
}

/* A stream of draws under one key. */
typedef struct spcnn__rng {
    uint64_t key;
    uint64_t counter;
} spcnn__rng;

static inline spcnn__rng spcnn__rng_make(uint64_t key)
{
    spcnn__rng r = {key, 0};
    return r;
}

static inline uint64_t spcnn__rng_bits(spcnn__rng *r)
{
    return spcnn__mix64(r->key ^ spcnn__mix64(r->counter++));
}

/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
static inline float spcnn__rng_uniform(spcnn__rng *r)
{
    return (float)(spcnn__rng_bits(r) >> 40) * 0x1.0p-24f;
}

/* Uniform in (0, 1): never 0 or 1, for logs and logits. */
static inline float spcnn__rng_uniform_open(spcnn__rng *r)
{
    return ((float)(spcnn__rng_bits(r) >> 41) + 0.5f) * 0x1.0p-23f;
}

/* Standard normal (Box-Muller, one value per two draws; double inside for accuracy). */
static inline float spcnn__rng_normal(spcnn__rng *r)
{
    double u1 = spcnn__rng_uniform_open(r), u2 = spcnn__rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
