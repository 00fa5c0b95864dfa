/* tilegemm.h - small register-blocked sgemm kernels (single-threaded, row-major) for
 * the products of Linformer attention, where OpenBLAS spends much of its time packing:
 *
 *   lf_gemm_small   C = alpha A B with a short inner dimension (d or k <= 256) and few
 *                   columns: scores and P V of attention over few keys;
 *                   lf_gemm_small_at the same with A transposed (P^T dO in training).
 *   lf_gemm_stream  the same with a long inner dimension and a small C: the
 *                   projections E K and F V (k x n times n x d). The inner dimension is
 *                   walked in chunks that stay in cache, accumulating in C.
 *
 * Every element of C is one sequential FMA chain over the inner index (then one
 * multiplication by alpha), whatever the tile or chunk it falls in, so results do
 * not depend on how callers split rows among threads. Available when the compiler
 * targets AVX2+FMA (LF_HAVE_TILES = 1; AVX-512 tiles when __AVX512F__); n must be a
 * multiple of 8 on AVX2-only builds (AVX-512 masks the column tail). A, B, C must not
 * overlap.
 */
#ifndef LF_TILEGEMM_H
#define LF_TILEGEMM_H

#include <stdint.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LF_HAVE_TILES 1
#else
#define LF_HAVE_TILES 0
#endif

#if LF_HAVE_TILES
/* C [rows x n] (ldc) = alpha * A [rows x kk] (lda) B [kk x n] (ldb); C is overwritten. */
void lf_gemm_small(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float *c, int64_t ldc);
/* C [rows x n] (ldc) = alpha * A^T B with A [kk x rows] (lda): the transposed left
 * operand read in place (its rows are the inner index). */
void lf_gemm_small_at(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a,
                      int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);
/* The same for long kk (C = alpha A B, overwritten; kk = 0 gives zeros). */
void lf_gemm_stream(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);
#endif

#endif
