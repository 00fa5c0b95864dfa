/* gemm.c - OpenMP-parallel row-major sgemm over serial BLAS panels (see gemm.h). */
#include "gemm.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "parallel.h"

/* Below this many flops a product runs as one serial call: thread start-up
 * (~10 us) would cost more than it saves. */
#define LF_GEMM_PAR_FLOPS 4.0e6
/* Panels are multiples of 16 rows/columns to keep BLAS micro-kernels full. Their
 * number depends on the shape only, never on the thread count: BLAS rounds
 * differently at panel edges, and a fixed split keeps results bit-identical for
 * any number of threads. Every panel packs the whole other operand again, so beyond
 * two panels each has at least LF_GEMM_MIN_PANEL rows (columns); the count is a power
 * of two up to LF_GEMM_PANELS so that 2, 4 or 8 threads get equal shares. (On 2 cores, for
 * the training products: a 128 x 128 x 1024 weight gradient ran at 152 GFLOP/s as 8
 * panels of 16 rows and 228 as 2 of 64; the 154 x 128 x 7898 output-layer backward at
 * 139 as 5 panels of 32 and 221 as 2 of 80. Inside a training step, the 128 x 512 x 2048
 * and 512 x 128 x 2048 weight gradients took 1.6 and 1.5 ms as 8 panels of 64 and 1.5
 * and 1.2 ms as 2 of 256.) */
#define LF_GEMM_ALIGN 16
#define LF_GEMM_PANELS 8
#define LF_GEMM_MIN_PANEL 256

static void lf_sgemm_serial(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                            const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                            float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void lf_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    int threads = lf_threads_get();
    int nested = 0;
#ifdef _OPENMP
    /* Any enclosing region, even a one-thread team, keeps the product serial, so
     * that the result does not depend on the team size. */
    nested = omp_get_level() > 0;
#endif
    if (nested || 2.0 * (double)m * (double)n * (double)k < LF_GEMM_PAR_FLOPS) {
        lf_sgemm_serial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Split the longer side of C. Row panel i of C needs row panel i of op(A):
     * rows of A when not transposed, columns when transposed; likewise for B. */
    int by_rows = m >= n;
    int64_t len = by_rows ? m : n;
    int64_t panels = len >= 2 * LF_GEMM_ALIGN ? 2 : 1;
    while (panels < LF_GEMM_PANELS && len / (2 * panels) >= LF_GEMM_MIN_PANEL) panels *= 2;
    int64_t chunk = (len + panels - 1) / panels;
    chunk = (chunk + LF_GEMM_ALIGN - 1) / LF_GEMM_ALIGN * LF_GEMM_ALIGN;
    int64_t parts = (len + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < parts; p++) {
        int64_t s = p * chunk, e = s + chunk < len ? s + chunk : len;
        if (by_rows) {
            const float *ap = ta ? a + s : a + s * lda;
            lf_sgemm_serial(ta, tb, e - s, n, k, alpha, ap, lda, b, ldb, beta, c + s * ldc, ldc);
        } else {
            const float *bp = tb ? b + s * ldb : b + s;
            lf_sgemm_serial(ta, tb, m, e - s, k, alpha, a, lda, bp, ldb, beta, c + s, ldc);
        }
    }
}
