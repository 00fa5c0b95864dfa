/* test_cuda_gemm.c - lf_sgemm_cuda (and its batched form) against a float64 reference
 * and the CPU lf_sgemm, for every transposition, padded leading dimensions, beta != 0,
 * k = 0, and the TF32 / BF16 maths.
 *
 * Tolerances are the standard rounding-error bounds, valid for any summation order
 * and with or without FMA: with S_ij = |alpha| sum_t |op(A)_it op(B)_tj| + |beta C_ij|,
 *   FP32  |C - ref| <= (k + 2) u S                    (u = 2^-24)
 *   TF32  |C - ref| <= (2 * 2^-10 + (k + 2) u) S      (each input rounded or truncated
 *                                                      to 10 mantissa bits)
 *   BF16  |C - ref| <= (2 * 2^-7 + (k + 2) u) S       (7 mantissa bits)
 * A wrong transposition or operand order gives O(S) errors and fails. The TF32 / BF16
 * bounds hold whether or not cuBLAS actually lowers the precision (it may decline).
 * Argument checks run without a GPU. */
#include <stdlib.h>

#include "check.h"
#include "gemm.h"
#include "rng.h"
#include "test_cuda_util.h"

static void test_gemm_arguments(void)
{
    float x = 0;
    lf_cuda_math m;
    CHECK(lf_cuda_math_parse("tf32", &m) == 0 && m == LF_CUDA_TF32);
    CHECK(lf_cuda_math_parse("bf16", &m) == 0 && m == LF_CUDA_BF16);
    CHECK(lf_cuda_math_parse("fp32", &m) == 0 && m == LF_CUDA_FP32);
    CHECK(lf_cuda_math_parse("fp16", &m) == -1 && strstr(lf_error_get(), "fp32, tf32, bf16"));
    CHECK(lf_cuda_math_parse(NULL, &m) == -1);
    CHECK(strcmp(lf_cuda_math_name(LF_CUDA_BF16), "bf16") == 0);
    CHECK(strcmp(lf_cuda_math_name((lf_cuda_math)7), "unknown") == 0);
    CHECK(lf_sgemm_cuda(2, 0, 4, 4, 4, 1, &x, 4, &x, 4, 0, &x, 4) == -1);
    CHECK(strstr(lf_error_get(), "ta = 2") != NULL);
    CHECK(lf_sgemm_cuda(0, 0, -1, 4, 4, 1, &x, 4, &x, 4, 0, &x, 4) == -1);
    CHECK(strstr(lf_error_get(), "negative") != NULL);
    /* A is 5 x 7 (no transpose): lda must be >= 7; transposed it is 7 x 5: lda >= 5. */
    CHECK(lf_sgemm_cuda(0, 0, 5, 3, 7, 1, &x, 6, &x, 3, 0, &x, 3) == -1);
    CHECK(strstr(lf_error_get(), "leading dimension") != NULL);
    CHECK(lf_sgemm_cuda(0, 0, 5, 3, 7, 1, &x, 7, &x, 2, 0, &x, 3) == -1);
    CHECK(lf_sgemm_cuda(0, 0, 5, 3, 7, 1, &x, 7, &x, 3, 0, &x, 2) == -1);
    CHECK(lf_sgemm_cuda(0, 0, (int64_t)1 << 31, 3, 7, 1, &x, 7, &x, 3, 0, &x, 3) == -1);
    CHECK(strstr(lf_error_get(), "32-bit") != NULL);
    CHECK(lf_sgemm_cuda(0, 0, 5, 3, 7, 1, NULL, 7, &x, 3, 0, &x, 3) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
    /* Empty products touch nothing (no device needed). */
    CHECK(lf_sgemm_cuda(0, 0, 0, 3, 7, 1, NULL, 7, NULL, 3, 0, NULL, 3) == 0);
    CHECK(lf_sgemm_batched_cuda(0, 0, 2, 2, 2, 1, &x, 2, 4, &x, 2, 4, 0, &x, 2, 4, -1) == -1);
    CHECK(strstr(lf_error_get(), "batch") != NULL);
    CHECK(lf_sgemm_batched_cuda(0, 0, 2, 2, 2, 1, &x, 2, -4, &x, 2, 4, 0, &x, 2, 4, 3) == -1);
    CHECK(strstr(lf_error_get(), "stride") != NULL);
}

/* Without a GPU the runtime fails cleanly: an error naming the call, no crash. */
static void test_no_device_errors(void)
{
    float x[4] = {1, 2, 3, 4}, y[4];
    CHECK(lf_cuda_alloc(64) == NULL);
    CHECK(strstr(lf_error_get(), "cudaMalloc") != NULL);
    CHECK(lf_sgemm_cuda(0, 0, 2, 2, 2, 1, x, 2, x, 2, 0, y, 2) == -1);
    CHECK(lf_error_get()[0] != '\0');
    CHECK(lf_cuda_sync() == -1);
    check_notef("%s", lf_error_get());
}

/* Reference and bound scale in double for C = alpha op(A) op(B) + beta C0. */
static void reference(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      const float *c0, int64_t ldc, double *ref, double *scale)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, sa = 0;
            for (int64_t t = 0; t < k; t++) {
                double av = ta ? a[t * lda + i] : a[i * lda + t];
                double bv = tb ? b[j * ldb + t] : b[t * ldb + j];
                s += av * bv;
                sa += fabs(av * bv);
            }
            double cv = beta != 0 ? c0[i * ldc + j] : 0;
            ref[i * n + j] = alpha * s + beta * cv;
            scale[i * n + j] = fabs(alpha) * sa + fabs(beta * cv);
        }
}

/* gpu = 0: only the CPU lf_sgemm against the reference and the FP32 bound (runs without
 * a GPU; it validates the reference and the bound themselves). */
static int on_gpu;

static double run_case(lf_cuda_math math, int ta, int tb, int64_t m, int64_t n, int64_t k,
                       int64_t pad, float alpha, float beta, uint64_t seed, int batched)
{
    lf_rng r;
    lf_rng_init(&r, seed, 0);
    const int64_t arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
    const int64_t lda = acols + pad, ldb = bcols + pad, ldc = n + pad;
    size_t asz = (size_t)(arows * lda), bsz = (size_t)(brows * ldb), csz = (size_t)(m * ldc);
    float *a = malloc(asz * 4), *b = malloc(bsz * 4), *c0 = malloc(csz * 4), *c = malloc(csz * 4);
    float *cc = malloc(csz * 4), *got = malloc((size_t)(m * n) * 4);
    double *ref = malloc((size_t)(m * n) * 8), *bound = malloc((size_t)(m * n) * 8);
    lf_rng_fill_normal(&r, a, asz, 0.0, 1.0);
    lf_rng_fill_normal(&r, b, bsz, 0.0, 1.0);
    lf_rng_fill_normal(&r, c0, csz, 0.0, 1.0);
    reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, ref, bound);
    double in_err = math == LF_CUDA_TF32 ? 2.0 / 1024 : math == LF_CUDA_BF16 ? 2.0 / 128 : 0.0;
    for (int64_t i = 0; i < m * n; i++) bound[i] = (in_err + (double)(k + 2) * TC_U32) * bound[i] + 1e-30;
    if (!on_gpu) {
        double worst = 0;
        if (math == LF_CUDA_FP32 && !batched) {
            memcpy(cc, c0, csz * 4);
            lf_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) got[i * n + j] = cc[i * ldc + j];
            worst = TC_CHECK_BOUNDED("cpu lf_sgemm", got, ref, bound, (size_t)(m * n));
            /* lf_sgemm_cuda's column-major translation, run by a host loop. */
            memcpy(c, c0, csz * 4);
            CHECK(lf_sgemm_emulate(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) got[i * n + j] = c[i * ldc + j];
            double we = TC_CHECK_BOUNDED("emulated cuBLAS call", got, ref, bound, (size_t)(m * n));
            worst = we > worst ? we : worst;
            int pad_ok = 1;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = n; j < ldc; j++) pad_ok &= memcmp(&c[i * ldc + j], &c0[i * ldc + j], 4) == 0;
            CHECK_MSG(pad_ok, "emulated cuBLAS call: padding of C was written");
        }
        free(a), free(b), free(c0), free(c), free(cc), free(got), free(ref), free(bound);
        return worst;
    }

    float *da = tc_up(a, asz, 4), *db = tc_up(b, bsz, 4), *dc = tc_up(c0, csz, 4);
    lf_cuda_math saved = lf_cuda_get_math();
    if (batched) { /* two copies of the same product: both must come out right */
        float *da2 = tc_dev(2 * asz, 4), *db2 = tc_dev(2 * bsz, 4), *dc2 = tc_dev(2 * csz, 4);
        for (int h = 0; h < 2; h++) {
            CHECK(lf_cuda_upload(da2 + h * asz, a, asz * 4) == 0);
            CHECK(lf_cuda_upload(db2 + h * bsz, b, bsz * 4) == 0);
            CHECK(lf_cuda_upload(dc2 + h * csz, c0, csz * 4) == 0);
        }
        lf_cuda_set_math(math);
        CHECK(lf_sgemm_batched_cuda(ta, tb, m, n, k, alpha, da2, lda, (int64_t)asz, db2, ldb,
                                    (int64_t)bsz, beta, dc2, ldc, (int64_t)csz, 2) == 0);
        lf_cuda_set_math(saved);
        tc_down(c, dc2 + csz, csz, 4); /* the second product */
        lf_cuda_free(da2), lf_cuda_free(db2), lf_cuda_free(dc2);
    } else {
        CHECK(lf_sgemm_cuda_ex(math, ta, tb, m, n, k, alpha, da, lda, db, ldb, beta, dc, ldc) == 0);
        tc_down(c, dc, csz, 4);
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) got[i * n + j] = c[i * ldc + j];
    char what[128];
    snprintf(what, sizeof what, "%s%s ta=%d tb=%d %lldx%lldx%lld", lf_cuda_math_name(math),
             batched ? " batched" : "", ta, tb, (long long)m, (long long)n, (long long)k);
    double worst = TC_CHECK_BOUNDED(what, got, ref, bound, (size_t)(m * n));
    /* The padding between rows of C is not touched. */
    int pad_ok = 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = n; j < ldc; j++) pad_ok &= memcmp(&c[i * ldc + j], &c0[i * ldc + j], 4) == 0;
    CHECK_MSG(pad_ok, "%s: padding of C was written", what);
    /* The CPU lf_sgemm obeys the same bound, so the two agree within twice it. */
    if (math == LF_CUDA_FP32 && !batched) {
        memcpy(cc, c0, csz * 4);
        lf_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) ref[i * n + j] = cc[i * ldc + j], bound[i * n + j] *= 2;
        TC_CHECK_BOUNDED(what, got, ref, bound, (size_t)(m * n));
    }
    lf_cuda_free(da), lf_cuda_free(db), lf_cuda_free(dc);
    free(a), free(b), free(c0), free(c), free(cc), free(got), free(ref), free(bound);
    return worst;
}

static void test_gemm_fp32(void)
{
    double worst = 0, w;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            w = run_case(LF_CUDA_FP32, ta, tb, 67, 45, 129, 0, 1.0f, 0.0f, 10 + ta * 2 + tb, 0);
            worst = w > worst ? w : worst;
            w = run_case(LF_CUDA_FP32, ta, tb, 33, 70, 17, 5, -0.5f, 0.75f, 20 + ta * 2 + tb, 0);
            worst = w > worst ? w : worst;
        }
    /* A product shaped like attention scores: 512 queries x 512 keys x d = 64. */
    w = run_case(LF_CUDA_FP32, 0, 1, 512, 512, 64, 0, 0.125f, 0.0f, 30, 0);
    worst = w > worst ? w : worst;
    check_notef("worst |err| / bound %.3f", worst);
}

static void test_gemm_tf32_bf16(void)
{
    double wt = 0, wb = 0, w;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            w = run_case(LF_CUDA_TF32, ta, tb, 96, 80, 256, 3, 1.0f, 0.5f, 40 + ta * 2 + tb, 0);
            wt = w > wt ? w : wt;
            w = run_case(LF_CUDA_BF16, ta, tb, 96, 80, 256, 3, 1.0f, 0.5f, 50 + ta * 2 + tb, 0);
            wb = w > wb ? w : wb;
        }
    check_notef("worst |err| / bound: tf32 %.3f, bf16 %.3f", wt, wb);
}

static void test_gemm_batched(void)
{
    double w1 = run_case(LF_CUDA_FP32, 0, 1, 50, 40, 30, 2, 1.0f, 0.0f, 60, 1);
    double w2 = run_case(LF_CUDA_FP32, 1, 0, 50, 40, 30, 0, 2.0f, 1.0f, 61, 1);
    check_notef("worst |err| / bound %.3f", w1 > w2 ? w1 : w2);
}

/* k = 0: C = beta C; beta = 0 overwrites NaN with zeros (BLAS semantics). */
static void test_gemm_k0(void)
{
    const int64_t m = 3, n = 4, ldc = 6;
    float c[18], got[18];
    for (int i = 0; i < 18; i++) c[i] = (float)i - 5.0f;
    c[1] = NAN;
    float *dc = tc_up(c, 18, 4);
    float dummy = 1;
    CHECK(lf_sgemm_cuda(0, 0, m, n, 0, 1.0f, &dummy, 1, &dummy, n, 0.0f, dc, ldc) == 0);
    tc_down(got, dc, 18, 4);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++)
            if (j < n)
                CHECK(got[i * ldc + j] == 0.0f);
            else
                CHECK(got[i * ldc + j] == c[i * ldc + j]);
    c[1] = 2.0f;
    CHECK(lf_cuda_upload(dc, c, sizeof c) == 0);
    CHECK(lf_sgemm_cuda(0, 0, m, n, 0, 1.0f, &dummy, 1, &dummy, n, -2.0f, dc, ldc) == 0);
    tc_down(got, dc, 18, 4);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++)
            CHECK(got[i * ldc + j] == (j < n ? -2.0f * c[i * ldc + j] : c[i * ldc + j]));
    lf_cuda_free(dc);
}

int main(void)
{
    check_program = "test_cuda_gemm";
    RUN(test_gemm_arguments);
    if (tc_no_gpu(check_program)) {
        RUN(test_no_device_errors);
        RUN(test_gemm_fp32); /* lf_sgemm and the emulated cuBLAS call against the reference */
        return check_summary();
    }
    on_gpu = 1;
    RUN(test_gemm_fp32);
    RUN(test_gemm_tf32_bf16);
    RUN(test_gemm_batched);
    RUN(test_gemm_k0);
    lf_cuda_shutdown();
    return check_summary();
}
