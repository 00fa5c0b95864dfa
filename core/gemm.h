/* gemm.h - the library's matrix product: row-major sgemm parallelized with OpenMP.
 *
 * The suite keeps BLAS single-threaded and does its own parallelism with OpenMP
 * (see parallel.h): OpenBLAS's pthread workers busy-wait after each call and
 * would compete with OpenMP threads on the same cores. lf_sgemm splits C into
 * row or column panels, one serial sgemm each, so every element of C is computed
 * by one serial call over the full inner dimension; the panels depend on the shape
 * alone, so results are bit-identical for any thread count. Called inside a
 * parallel region (or for small products) it is one serial sgemm.
 */
#ifndef LF_GEMM_H
#define LF_GEMM_H

#include <stdint.h>

/* C[M,N] = alpha op(A) op(B) + beta C, row-major; ta/tb: 0 = as stored, 1 = transposed. */
void lf_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#endif
