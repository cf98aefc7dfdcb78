/*
 * tt/rng.h — reproducible random numbers: xoshiro256** seeded through splitmix64.
 *
 * A stream is identified by (seed, stream id). Sampling and generation give
 * batch row r the stream (seed, r), so a row's draws never depend on which
 * other rows share its batch:
 *
 *     tt_rng rng;
 *     tt_rng_seed_stream(&rng, 42, row);
 *     double u = tt_rng_uniform(&rng);     // in [0, 1)
 *
 * NULL: every function accepts rng == NULL without crashing: the seeding
 * functions then do nothing and every draw returns 0 (0.0).
 *
 * Thread safety: a tt_rng is a plain value; give each thread its own.
 */
#ifndef TT_RNG_H
#define TT_RNG_H

#include <stdint.h>

#include "tt/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t s[4];
} tt_rng;

/* Seeds the generator with stream 0 of `seed`. NULL rng: does nothing. */
TT_API void tt_rng_seed(tt_rng *rng, uint64_t seed);
/* Seeds the generator with stream `stream` of `seed` (independent streams).
 * NULL rng: does nothing. */
TT_API void tt_rng_seed_stream(tt_rng *rng, uint64_t seed, uint64_t stream);
/* Next 64 random bits; 0 for a NULL rng (as every draw below). */
TT_API uint64_t tt_rng_u64(tt_rng *rng);
/* Next 32 random bits. */
TT_API uint32_t tt_rng_u32(tt_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
TT_API double tt_rng_uniform(tt_rng *rng);
/* Uniform float in [0, 1) with 24 random bits. */
TT_API float tt_rng_uniform_f32(tt_rng *rng);
/* Uniform integer in [0, n) without modulo bias (threshold rejection).
 * n == 0 (an empty range) returns 0 and consumes no draw; so does a NULL rng. */
TT_API uint64_t tt_rng_below(tt_rng *rng, uint64_t n);
/* Standard normal draw (Box–Muller, double precision). */
TT_API double tt_rng_normal(tt_rng *rng);

#ifdef __cplusplus
}
#endif
#endif /* TT_RNG_H */
