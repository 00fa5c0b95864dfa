// gemm_cuda.cu - row-major float32 matrix products on the GPU through cuBLAS
// (cublasGemmEx / cublasGemmStridedBatchedEx), twin of lf_sgemm (core/gemm.h), with
// the math chosen by lf_cuda_math: FP32, TF32 or BF16 tensor-core inputs with float32
// accumulation.
//
// Row-major to cuBLAS's column-major: a row-major r x c array with leading dimension
// ld is the column-major c x r array A^T with the same ld. So C = op(A) op(B)
// (row-major) is C^T = op(B)^T op(A)^T (column-major): cuBLAS is called with the
// operands swapped, B first, and m and n swapped; the transposition flags keep their
// meaning for each operand.
#include <limits.h>
#include <string.h>

#include "cuda_util.h"

static lf_cuda_math lf_math = LF_CUDA_FP32;
static const char *const lf_math_names[] = {"fp32", "tf32", "bf16"};

extern "C" int lf_cuda_math_parse(const char *s, lf_cuda_math *out)
{
    if (s)
        for (int i = 0; i < 3; i++)
            if (strcmp(s, lf_math_names[i]) == 0) {
                if (out) *out = (lf_cuda_math)i;
                return 0;
            }
    LF_FAIL("GPU math \"%s\": unknown (valid: fp32, tf32, bf16)", s ? s : "(null)");
}

extern "C" const char *lf_cuda_math_name(lf_cuda_math math)
{
    return (int)math >= 0 && (int)math < 3 ? lf_math_names[math] : "unknown";
}

extern "C" void lf_cuda_set_math(lf_cuda_math math) { lf_math = math; }
extern "C" lf_cuda_math lf_cuda_get_math(void) { return lf_math; }

static cublasComputeType_t lf_compute_type(lf_cuda_math math)
{
    switch (math) {
    case LF_CUDA_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case LF_CUDA_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F;
    }
}

// Shapes as lf_sgemm's contract; the error names the function and the bad value.
static int lf_gemm_check(const char *fn, lf_cuda_math math, int ta, int tb, int64_t m, int64_t n,
                         int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                         const float *c, int64_t ldc)
{
    if ((int)math < 0 || (int)math > 2) LF_FAIL("%s: unknown math %d", fn, (int)math);
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        LF_FAIL("%s: ta = %d, tb = %d (each must be 0 or 1)", fn, ta, tb);
    if (m < 0 || n < 0 || k < 0)
        LF_FAIL("%s: negative size (m %lld, n %lld, k %lld)", fn, (long long)m, (long long)n,
                (long long)k);
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX)
        LF_FAIL("%s: sizes exceed cuBLAS's 32-bit ints", fn);
    int64_t arow = ta ? m : k, brow = tb ? k : n;
    if (lda < (arow > 1 ? arow : 1) || ldb < (brow > 1 ? brow : 1) || ldc < (n > 1 ? n : 1))
        LF_FAIL("%s: leading dimension too small (lda %lld, ldb %lld, ldc %lld for m %lld, n "
                "%lld, k %lld, ta %d, tb %d)",
                fn, (long long)lda, (long long)ldb, (long long)ldc, (long long)m, (long long)n,
                (long long)k, ta, tb);
    if (m > 0 && n > 0 && (!c || (k > 0 && (!a || !b)))) LF_FAIL("%s: NULL matrix", fn);
    return 0;
}

// C = beta C for k = 0 (BLAS semantics: beta = 0 writes zeros, whatever C held).
static int lf_gemm_scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    if (beta == 1.0f) return 0;
    if (beta == 0.0f) {
        LF_CUDA_CHECK(cudaMemset2D(c, (size_t)ldc * sizeof(float), 0, (size_t)n * sizeof(float),
                                   (size_t)m));
        return 0;
    }
    cublasHandle_t h = lf_cuda_blas();
    if (!h) return -1;
    const float zero = 0.0f;
    // In place (C is both A and the output, same ld, no transpose): allowed by cuBLAS.
    LF_CUBLAS_CHECK(cublasSgeam(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, &beta, c, (int)ldc,
                                &zero, c, (int)ldc, c, (int)ldc));
    return 0;
}

extern "C" int lf_sgemm_cuda_ex(lf_cuda_math math, int ta, int tb, int64_t m, int64_t n,
                                int64_t k, float alpha, const float *a, int64_t lda,
                                const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    LF_TRY(lf_gemm_check("lf_sgemm_cuda", math, ta, tb, m, n, k, a, lda, b, ldb, c, ldc));
    if (m == 0 || n == 0) return 0;
    if (k == 0) return lf_gemm_scale_c(m, n, beta, c, ldc);
    cublasHandle_t h = lf_cuda_blas();
    if (!h) return -1;
    LF_CUBLAS_CHECK(cublasGemmEx(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 (int)n, (int)m, (int)k, &alpha, b, CUDA_R_32F, (int)ldb, a,
                                 CUDA_R_32F, (int)lda, &beta, c, CUDA_R_32F, (int)ldc,
                                 lf_compute_type(math), CUBLAS_GEMM_DEFAULT));
    return 0;
}

extern "C" int lf_sgemm_cuda(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                             float *c, int64_t ldc)
{
    return lf_sgemm_cuda_ex(lf_math, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

extern "C" int lf_sgemm_batched_cuda(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                                     const float *a, int64_t lda, int64_t stride_a, const float *b,
                                     int64_t ldb, int64_t stride_b, float beta, float *c,
                                     int64_t ldc, int64_t stride_c, int64_t batch)
{
    const char *fn = "lf_sgemm_batched_cuda";
    LF_TRY(lf_gemm_check(fn, lf_math, ta, tb, m, n, k, a, lda, b, ldb, c, ldc));
    if (batch < 0 || batch > INT_MAX) LF_FAIL("%s: batch = %lld out of range", fn, (long long)batch);
    if (stride_a < 0 || stride_b < 0 || stride_c < 0)
        LF_FAIL("%s: negative stride (%lld, %lld, %lld)", fn, (long long)stride_a,
                (long long)stride_b, (long long)stride_c);
    if (batch == 0 || m == 0 || n == 0) return 0;
    if (k == 0) {
        // Rare: scale each C in turn.
        for (int64_t i = 0; i < batch; i++) LF_TRY(lf_gemm_scale_c(m, n, beta, c + i * stride_c, ldc));
        return 0;
    }
    cublasHandle_t h = lf_cuda_blas();
    if (!h) return -1;
    LF_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k,
        &alpha, b, CUDA_R_32F, (int)ldb, (long long)stride_b, a, CUDA_R_32F, (int)lda,
        (long long)stride_a, &beta, c, CUDA_R_32F, (int)ldc, (long long)stride_c, (int)batch,
        lf_compute_type(lf_math), CUBLAS_GEMM_DEFAULT));
    return 0;
}
