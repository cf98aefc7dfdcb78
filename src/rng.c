/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
#include "tt/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* Every function accepts a NULL rng: seeding does nothing and draws return 0
 * (see tt/rng.h). */

void tt_rng_seed_stream(tt_rng *rng, uint64_t seed, uint64_t stream) {
    if (!rng) return;
    /* Mix the stream id through splitmix64 first so that streams (s, r) and
     * (s + 1, r - 1) do not share a state sequence. */
    uint64_t x = stream;
    uint64_t h = splitmix64(&x);
    x = seed ^ h;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
    /* The all-zero state is a fixed point; splitmix64 never yields four zeros
     * in a row, but keep the invariant explicit. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

void tt_rng_seed(tt_rng *rng, uint64_t seed) { tt_rng_seed_stream(rng, seed, 0); }

uint64_t tt_rng_u64(tt_rng *rng) {
    if (!rng) return 0;
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t tt_rng_u32(tt_rng *rng) { return (uint32_t)(tt_rng_u64(rng) >> 32); }

double tt_rng_uniform(tt_rng *rng) { return (double)(tt_rng_u64(rng) >> 11) * 0x1.0p-53; }

float tt_rng_uniform_f32(tt_rng *rng) { return (float)(tt_rng_u64(rng) >> 40) * 0x1.0p-24f; }

uint64_t tt_rng_below(tt_rng *rng, uint64_t n) {
    if (!rng || n == 0) return 0; /* (0 - 0) % 0 would trap */
    /* Lemire's rejection on the 64-bit product would need 128-bit math; the
     * simple threshold rejection is exact and cheap enough here. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = tt_rng_u64(rng);
        if (r >= threshold) return r % n;
    }
}

double tt_rng_normal(tt_rng *rng) {
    if (!rng) return 0.0;
    double u1 = tt_rng_uniform(rng);
    double u2 = tt_rng_uniform(rng);
    if (u1 < 0x1.0p-60) u1 = 0x1.0p-60; /* log(0) guard */
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
