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

// The cuBLAS (column-major) form of a row-major product: operands swapped, m and n
// swapped, each operand keeping its own transposition flag (see the top comment).
struct lf_colmajor_gemm {
    cublasOperation_t opa, opb; // of cuBLAS's first and second operand
    int m, n, k;
    const float *a, *b;         // cuBLAS's A (= our B) and B (= our A)
    int lda, ldb;
    float *c;
    int ldc;
};

static lf_colmajor_gemm lf_to_colmajor(int ta, int tb, int64_t m, int64_t n, int64_t k,
                                       const float *a, int64_t lda, const float *b, int64_t ldb,
                                       float *c, int64_t ldc)
{
    lf_colmajor_gemm g;
    g.opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    g.opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    g.m = (int)n, g.n = (int)m, g.k = (int)k;
    g.a = b, g.lda = (int)ldb;
    g.b = a, g.ldb = (int)lda;
    g.c = c, g.ldc = (int)ldc;
    return g;
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
    const lf_colmajor_gemm g = lf_to_colmajor(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    LF_CUBLAS_CHECK(cublasGemmEx(h, g.opa, g.opb, g.m, g.n, g.k, &alpha, g.a, CUDA_R_32F, g.lda,
                                 g.b, CUDA_R_32F, g.ldb, &beta, g.c, CUDA_R_32F, g.ldc,
                                 lf_compute_type(math), CUBLAS_GEMM_DEFAULT));
    return 0;
}

// cuBLAS's column-major sgemm semantics, naively in double, on host arrays:
// C = alpha op(A) op(B) + beta C with X(i, j) = x[i + j ld].
static void lf_colmajor_sgemm_host(const lf_colmajor_gemm &g, float alpha, float beta)
{
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++) {
            double s = 0;
            for (int t = 0; t < g.k; t++) {
                double av = g.opa == CUBLAS_OP_N ? g.a[i + (int64_t)t * g.lda] : g.a[t + (int64_t)i * g.lda];
                double bv = g.opb == CUBLAS_OP_N ? g.b[t + (int64_t)j * g.ldb] : g.b[j + (int64_t)t * g.ldb];
                s += av * bv;
            }
            float *cij = g.c + i + (int64_t)j * g.ldc;
            *cij = (float)(alpha * s + (beta != 0.0f ? beta * (double)*cij : 0.0));
        }
}

extern "C" int lf_sgemm_emulate(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                                const float *a, int64_t lda, const float *b, int64_t ldb,
                                float beta, float *c, int64_t ldc)
{
    LF_TRY(lf_gemm_check("lf_sgemm_emulate", LF_CUDA_FP32, ta, tb, m, n, k, a, lda, b, ldb, c, ldc));
    if (m == 0 || n == 0) return 0;
    lf_colmajor_sgemm_host(lf_to_colmajor(ta, tb, m, n, k, a, lda, b, ldb, c, ldc), alpha, beta);
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
    const lf_colmajor_gemm g = lf_to_colmajor(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    LF_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, g.opa, g.opb, g.m, g.n, g.k, &alpha, g.a, CUDA_R_32F, g.lda, (long long)stride_b, g.b,
        CUDA_R_32F, g.ldb, (long long)stride_a, &beta, g.c, CUDA_R_32F, g.ldc, (long long)stride_c,
        (int)batch, lf_compute_type(lf_math), CUBLAS_GEMM_DEFAULT));
    return 0;
}
