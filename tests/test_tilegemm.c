/* test_tilegemm.c - the register-blocked kernels of core/tilegemm.h against a float64
 * triple loop, and their split invariance (what lets callers divide rows among
 * threads without changing a bit).
 *
 * Tolerance: each element is one float32 FMA chain of kk terms; its error is at most
 * about kk * 2^-24 * sum |a_it b_tj| (the standard bound for recursive summation),
 * which the check applies per element with a factor of 2 of slack. */
#include <stdlib.h>

#include "check.h"
#include "tilegemm.h"

#if LF_HAVE_TILES
static float *rnd(int64_t n, unsigned seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    srand(seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return x;
}

/* C = alpha A B for the kernels against double (mode 0 lf_gemm_small, 1 lf_gemm_stream,
 * 2 lf_gemm_small_at with A stored transposed); returns the worst error / bound. */
static double case_small_stream(int64_t rows, int64_t n, int64_t kk, float alpha, int mode,
                                unsigned seed)
{
    /* padded leading dimensions; A (i, t) at a[i * ars + t * acs] */
    const int64_t lda = mode == 2 ? rows + 3 : kk + 3, ldb = n + 5, ldc = n + 7;
    const int64_t ars = mode == 2 ? 1 : lda, acs = mode == 2 ? lda : 1;
    float *a = rnd((mode == 2 ? kk : rows) * lda, seed), *b = rnd(kk * ldb, seed + 1);
    float *c = rnd(rows * ldc, seed + 2); /* garbage: must be overwritten */
    float *pad = malloc((size_t)(rows * ldc) * sizeof *pad);
    memcpy(pad, c, (size_t)(rows * ldc) * sizeof *pad);
    if (mode == 1)
        lf_gemm_stream(rows, n, kk, alpha, a, lda, b, ldb, c, ldc);
    else if (mode == 2)
        lf_gemm_small_at(rows, n, kk, alpha, a, lda, b, ldb, c, ldc);
    else
        lf_gemm_small(rows, n, kk, alpha, a, lda, b, ldb, c, ldc);
    double worst = 0;
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < n; j++) {
            double ref = 0, mag = 0;
            for (int64_t t = 0; t < kk; t++) {
                ref += (double)a[i * ars + t * acs] * b[t * ldb + j];
                mag += fabs((double)a[i * ars + t * acs] * b[t * ldb + j]);
            }
            ref *= alpha;
            double bound = 2.0 * ((double)kk + 2) * 5.96e-8 * fabs((double)alpha) * mag + 1e-30;
            double r = fabs(c[i * ldc + j] - ref) / bound;
            if (!(r <= worst)) worst = r;
        }
        /* the columns past n (inside ldc) are untouched */
        for (int64_t j = n; j < ldc; j++)
            if (c[i * ldc + j] != pad[i * ldc + j]) worst = INFINITY;
    }
    free(a), free(b), free(c), free(pad);
    return worst;
}

static void test_against_double(void)
{
    const int64_t rows[] = {1, 5, 6, 7, 13, 64};
    const int64_t cols[] = {8, 16, 24, 40, 64};
    const int64_t inner_small[] = {1, 20, 64, 256};
    const int64_t inner_long[] = {1, 255, 256, 257, 1000};
    double worst = 0;
    unsigned seed = 1;
    for (int ri = 0; ri < 6; ri++)
        for (int ci = 0; ci < 5; ci++) {
            for (int ki = 0; ki < 4; ki++)
                for (int mode = 0; mode <= 2; mode += 2)
                    worst = fmax(worst, case_small_stream(rows[ri], cols[ci], inner_small[ki],
                                                          0.125f, mode, seed++));
            for (int ki = 0; ki < 5; ki++)
                worst = fmax(worst, case_small_stream(rows[ri], cols[ci], inner_long[ki],
                                                      ki % 2 ? 1.0f : 1.7f, 1, seed++));
        }
    CHECK_MSG(worst <= 1.0, "worst error %.3g of the rounding bound", worst);
    check_notef("worst error %.3f of the bound over %d products", worst, 6 * 5 * 13);
}

/* Rows computed in separate calls (as threads would) give the same bits as one call;
 * kk = 0 gives zeros. */
static void test_split_invariance(void)
{
    const int64_t rows = 64, n = 64, kk = 1500;
    float *a = rnd(rows * kk, 7), *b = rnd(kk * n, 8);
    float *c1 = calloc((size_t)(rows * n), sizeof *c1), *c2 = calloc((size_t)(rows * n), sizeof *c2);
    lf_gemm_stream(rows, n, kk, 0.5f, a, kk, b, n, c1, n);
    for (int64_t r0 = 0; r0 < rows; r0 += 24) {
        int64_t r = rows - r0 < 24 ? rows - r0 : 24;
        lf_gemm_stream(r, n, kk, 0.5f, a + r0 * kk, kk, b, n, c2 + r0 * n, n);
    }
    CHECK(memcmp(c1, c2, (size_t)(rows * n) * sizeof *c1) == 0);
    for (int64_t i = 0; i < rows * n; i++) c1[i] = 1.0f;
    lf_gemm_stream(rows, n, 0, 1.0f, a, kk, b, n, c1, n);
    int zeros = 1;
    for (int64_t i = 0; i < rows * n; i++) zeros &= c1[i] == 0.0f;
    CHECK(zeros);
    free(a), free(b), free(c1), free(c2);
}
#endif

int main(void)
{
    check_program = "test_tilegemm";
#if LF_HAVE_TILES
    RUN(test_against_double);
    RUN(test_split_invariance);
#else
    printf("SKIPPED test_tilegemm: built without AVX2/FMA (the kernels are not compiled)\n");
#endif
    return check_summary();
}
