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

size_t cli_draw_weighted(const uint64_t *cum, size_t n, uint64_t seed, uint64_t step,
                         uint64_t slot, uint64_t attempt)
{
    uint64_t state = seed ^ (0xA24BAED4963EE407u * (step + 1)) ^ (0x9FB21C651E98DF25u * (slot + 1)) ^
                     (0xD6E8FEB86659FD93u * attempt);
    splitmix64(&state); /* mix the key before the draw */
    uint64_t r = uniform_below(&state, cum[n - 1]);
    size_t lo = 0, hi = n - 1; /* the first i with cum[i] > r */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
