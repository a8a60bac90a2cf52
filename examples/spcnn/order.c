/* The data order of training (spcnn train, spcnn classifier train): a permutation per epoch
 * that follows from (seed, epoch) alone, so that a run is reproducible and a resumed run
 * continues exactly the order of an uninterrupted one. */
#include "cli.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias. */
static uint64_t uniform_below(uint64_t *state, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = splitmix64(state);
    while (r >= limit);
    return r % n;
}

void cli_epoch_order(size_t *perm, size_t n, uint64_t seed, uint64_t epoch)
{
    uint64_t state = seed ^ (0xD1B54A32D192ED03u * (epoch + 1));
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    /* Fisher-Yates from the end; k counts down so that n = 0 does no harm. */
    for (size_t k = n; k > 1; k--) {
        size_t j = (size_t)uniform_below(&state, (uint64_t)k);
        size_t t = perm[k - 1];
        perm[k - 1] = perm[j];
        perm[j] = t;
    }
}
