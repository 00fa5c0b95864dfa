/* lanes.h - sums in eight double lanes, as GCC/Clang vectors.
 *
 * Several reductions here (layer-norm statistics, the gradient norm, dot products)
 * sum in a fixed order that does not depend on the thread count: lane j takes the
 * elements j, j + 8, j + 16, ..., then the lanes are added in order 0..7, then the
 * tail. Written as loops over an array of eight accumulators, GCC 12 does not
 * vectorize them (it runs them one element at a time); written with these vectors it
 * does, with the same operations in the same order, so the results are the same.
 */
#ifndef LF_LANES_H
#define LF_LANES_H

#include <string.h>

#define LF_LANES 8

typedef double lf_d8 __attribute__((vector_size(LF_LANES * sizeof(double))));
typedef float lf_f8 __attribute__((vector_size(LF_LANES * sizeof(float))));

/* x[0..7] as doubles (any alignment). Macros, not functions: a function taking or
 * returning a 64-byte vector draws GCC's ABI warning (-Wpsabi) on targets without
 * AVX-512. */
#define lf_d8_load_f(x)                                                                    \
    __extension__({                                                                        \
        lf_f8 lf_v_;                                                                       \
        memcpy(&lf_v_, (x), sizeof lf_v_);                                                 \
        __builtin_convertvector(lf_v_, lf_d8);                                             \
    })
#define lf_d8_load_d(x)                                                                    \
    __extension__({                                                                        \
        lf_d8 lf_v_;                                                                       \
        memcpy(&lf_v_, (x), sizeof lf_v_);                                                 \
        lf_v_;                                                                             \
    })

/* v[0] + v[1] + ... + v[7], in that order. */
static inline double lf_d8_sum(const lf_d8 *v)
{
    double s = 0;
    for (int j = 0; j < LF_LANES; j++) s += (*v)[j];
    return s;
}

#endif
