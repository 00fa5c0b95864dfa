/* rng.h - seeded, reproducible random numbers: xoshiro256** with splitmix64 seeding.
 *
 * A generator is identified by (seed, stream): work that runs in parallel gives each
 * independent item (a matrix, a head, a trial) its own stream, so results do not
 * depend on which thread did the work or in what order.
 */
#ifndef LF_RNG_H
#define LF_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} lf_rng;

void lf_rng_init(lf_rng *r, uint64_t seed, uint64_t stream);
uint64_t lf_rng_next(lf_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double lf_rng_uniform(lf_rng *r);
/* Standard normal N(0, 1), Box-Muller on two uniforms (one value per call). */
double lf_rng_normal(lf_rng *r);
/* out[i] = mean + std * N(0, 1), computed in double and rounded once. */
void lf_rng_fill_normal(lf_rng *r, float *out, size_t n, double mean, double std);
/* out[i] uniform in [lo, hi). */
void lf_rng_fill_uniform(lf_rng *r, float *out, size_t n, double lo, double hi);

#endif
