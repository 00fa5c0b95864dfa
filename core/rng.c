/* rng.c - xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64 (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void lf_rng_init(lf_rng *r, uint64_t seed, uint64_t stream)
{
    /* Mix the stream into the seed through one splitmix step so that nearby
     * (seed, stream) pairs start far apart. */
    uint64_t x = seed;
    uint64_t mixed = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    x = mixed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t lf_rng_next(lf_rng *r)
{
    uint64_t *s = r->s;
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

double lf_rng_uniform(lf_rng *r) { return (double)(lf_rng_next(r) >> 11) * 0x1.0p-53; }

double lf_rng_normal(lf_rng *r)
{
    /* 1 - u lies in (0, 1], so the logarithm is finite. */
    double u1 = 1.0 - lf_rng_uniform(r);
    double u2 = lf_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void lf_rng_fill_normal(lf_rng *r, float *out, size_t n, double mean, double std)
{
    for (size_t i = 0; i < n; i++) out[i] = (float)(mean + std * lf_rng_normal(r));
}

void lf_rng_fill_uniform(lf_rng *r, float *out, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) out[i] = (float)(lo + (hi - lo) * lf_rng_uniform(r));
}
