// spectrum_cuda.cu - singular values of a batch of matrices on the GPU by the Gram method
// of core/spectrum.c: each float32 matrix converted to double, its smaller Gram matrix
// formed by cublasDsyrk, its eigenvalues (values only) by cusolverDnDsyevd, and
// sigma_i = sqrt(max(lambda, 0)) in descending order. The accuracy argument of
// spectrum.c carries over (float64 Gram and eigensolver: |sigma_i - ref_i| ~ n eps64
// sigma_0 relative, floor sqrt(n eps64) sigma_0 for tiny values). Matrices go one after
// another through one workspace on the default stream: a 512 x 512 eigenproblem keeps
// the GPU busy enough that batching the calls (cusolverDnXsyevBatched) is left for
// when it is measured to pay.
//
// Row-major m x n A is column-major n x m B = A^T (ld n): A^T A = B B^T (n x n) when
// n <= m, else A A^T = B^T B (m x m), as the CPU code.
#include <limits.h>
#include <math.h>

#include "cuda_util.h"

static const int kThreads = 256;

// dst = (double)src over total elements; the lowest flat index of a non-finite entry
// goes to *bad (atomicMin; initialised to ULLONG_MAX by the caller).
__global__ void to_double_check_kernel(const float *src, double *dst, int64_t total,
                                       unsigned long long *bad, unsigned long long base)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        float x = src[i];
        if (!isfinite(x)) atomicMin(bad, base + (unsigned long long)i);
        dst[i] = (double)x;
    }
}

// sv[i] = sqrt(max(w[r - 1 - i], 0)): eigenvalues come ascending; rounding can leave
// the zero ones slightly negative (the Gram matrix is positive semidefinite).
__global__ void sqrt_reverse_kernel(const double *w, int64_t r, double *sv)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < r;
         i += (int64_t)gridDim.x * blockDim.x) {
        double lam = w[r - 1 - i];
        sv[i] = lam > 0 ? sqrt(lam) : 0.0;
    }
}

// The Gram product of a row-major m x n float matrix (column-major n x m B = A^T, ld n)
// as a cublasDsyrk call: the smaller of B B^T (n <= m) and B^T B, lower triangle.
struct lf_syrk_args {
    cublasOperation_t trans;
    int n, k, lda, ldc;
};
static lf_syrk_args lf_gram_syrk(int m, int n)
{
    lf_syrk_args g;
    g.lda = n;
    if (n <= m)
        g.trans = CUBLAS_OP_N, g.n = n, g.k = m; // C (n x n) = B B^T, B n x m
    else
        g.trans = CUBLAS_OP_T, g.n = m, g.k = n; // C (m x m) = B^T B
    g.ldc = g.n;
    return g;
}

static unsigned grid_for(int64_t total)
{
    int64_t b = (total + kThreads - 1) / kThreads;
    return (unsigned)(b > 65535 ? 65535 : b < 1 ? 1 : b);
}

extern "C" int lf_sv_batch_cuda(const float *a, int64_t count, int64_t m, int64_t n,
                                lf_sv_method method, double *sv)
{
    const char *fn = "singular values (GPU)";
    if (method != LF_SV_GRAM)
        LF_FAIL("%s: method %s is not available on the GPU (only gram)", fn,
                lf_sv_method_name(method));
    if (count < 0 || m < 0 || n < 0)
        LF_FAIL("%s: negative size (count %lld, %lld x %lld)", fn, (long long)count, (long long)m,
                (long long)n);
    if (m > INT_MAX || n > INT_MAX || (m > 0 && n > INT64_MAX / m) ||
        (m * n > 0 && count > INT64_MAX / (m * n)))
        LF_FAIL("%s: %lld matrices of %lld x %lld exceed the 32-bit sizes", fn, (long long)count,
                (long long)m, (long long)n);
    const int64_t r = m < n ? m : n, mn = m * n;
    if (count == 0 || r == 0) return 0;
    if (!a || !sv) LF_FAIL("%s: NULL matrix or output", fn);

    double *da = NULL, *g = NULL, *w = NULL, *work = NULL;
    unsigned long long *dbad = NULL;
    int *dinfo = NULL, *hinfo = NULL;
    unsigned long long bad = ULLONG_MAX;
    int lwork = 0;
    cublasHandle_t blas = lf_cuda_blas();
    cusolverDnHandle_t solver = blas ? lf_cuda_solver() : NULL;
    if (!solver) return -1;
    const int R = (int)r, N = (int)n, M = (int)m;
    if (!(da = (double *)lf_cuda_alloc((size_t)mn * sizeof(double))) ||
        !(g = (double *)lf_cuda_alloc((size_t)r * (size_t)r * sizeof(double))) ||
        !(w = (double *)lf_cuda_alloc((size_t)r * sizeof(double))) ||
        !(dbad = (unsigned long long *)lf_cuda_alloc(sizeof bad)) ||
        !(dinfo = (int *)lf_cuda_alloc((size_t)count * sizeof(int))))
        goto fail;
    if (!(hinfo = (int *)malloc((size_t)count * sizeof(int)))) {
        lf_error_set("%s: out of memory for %lld info values", fn, (long long)count);
        goto fail;
    }
    LF_CUSOLVER_TRY(cusolverDnDsyevd_bufferSize(solver, CUSOLVER_EIG_MODE_NOVECTOR,
                                                CUBLAS_FILL_MODE_LOWER, R, g, R, w, &lwork));
    if (!(work = (double *)lf_cuda_alloc((size_t)(lwork > 0 ? lwork : 1) * sizeof(double))))
        goto fail;
    LF_CUDA_TRY(cudaMemcpy(dbad, &bad, sizeof bad, cudaMemcpyHostToDevice));

    for (int64_t c = 0; c < count; c++) {
        const double one = 1.0, zero = 0.0;
        to_double_check_kernel<<<grid_for(mn), kThreads>>>(a + c * mn, da, mn, dbad,
                                                           (unsigned long long)(c * mn));
        LF_CUDA_LAUNCHED_TRY();
        const lf_syrk_args sy = lf_gram_syrk(M, N);
        LF_CUBLAS_TRY(cublasDsyrk(blas, CUBLAS_FILL_MODE_LOWER, sy.trans, sy.n, sy.k, &one, da,
                                  sy.lda, &zero, g, sy.ldc));
        LF_CUSOLVER_TRY(cusolverDnDsyevd(solver, CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_LOWER,
                                         R, g, R, w, work, lwork, dinfo + c));
        sqrt_reverse_kernel<<<grid_for(r), kThreads>>>(w, r, sv + c * r);
        LF_CUDA_LAUNCHED_TRY();
    }
    // Both copies wait for all the work above.
    LF_CUDA_TRY(cudaMemcpy(&bad, dbad, sizeof bad, cudaMemcpyDeviceToHost));
    LF_CUDA_TRY(cudaMemcpy(hinfo, dinfo, (size_t)count * sizeof(int), cudaMemcpyDeviceToHost));
    if (bad != ULLONG_MAX) {
        int64_t c = (int64_t)(bad / (unsigned long long)mn), e = (int64_t)(bad % (unsigned long long)mn);
        float val = 0;
        LF_CUDA_TRY(cudaMemcpy(&val, a + bad, sizeof val, cudaMemcpyDeviceToHost));
        lf_error_set("%s: matrix %lld has a non-finite entry %g at (%lld, %lld)", fn, (long long)c,
                     (double)val, (long long)(e / n), (long long)(e % n));
        goto fail;
    }
    for (int64_t c = 0; c < count; c++)
        if (hinfo[c] != 0) {
            lf_error_set("%s: matrix %lld: cusolverDnDsyevd failed (info %d)", fn, (long long)c,
                         hinfo[c]);
            goto fail;
        }
    free(hinfo);
    lf_cuda_free(work);
    lf_cuda_free(dinfo);
    lf_cuda_free(dbad);
    lf_cuda_free(w);
    lf_cuda_free(g);
    lf_cuda_free(da);
    return 0;
fail:
    free(hinfo);
    lf_cuda_free(work);
    lf_cuda_free(dinfo);
    lf_cuda_free(dbad);
    lf_cuda_free(w);
    lf_cuda_free(g);
    lf_cuda_free(da);
    return -1;
}

// LAPACKE's prototype (lapacke.h pulls in C's complex.h, awkward in C++); lapack_int is
// int in the suite's builds (LP64).
extern "C" int LAPACKE_dsyevd(int matrix_layout, char jobz, char uplo, int n, double *a, int lda,
                              double *w);

extern "C" int lf_sv_batch_emulate(const float *a, int64_t count, int64_t m, int64_t n, double *sv)
{
    if (count < 0 || m < 1 || n < 1 || m > INT_MAX || n > INT_MAX || !a || !sv)
        LF_FAIL("lf_sv_batch_emulate: bad arguments");
    const int64_t r = m < n ? m : n, mn = m * n;
    double *da = (double *)malloc((size_t)mn * sizeof(double));
    double *g = (double *)malloc((size_t)(r * r) * sizeof(double));
    double *w = (double *)malloc((size_t)r * sizeof(double));
    int rc = 0;
    if (!da || !g || !w) {
        lf_error_set("lf_sv_batch_emulate: out of memory");
        rc = -1;
    }
    for (int64_t c = 0; c < count && rc == 0; c++) {
        for (int64_t i = 0; i < mn; i++) da[i] = (double)a[c * mn + i];
        const lf_syrk_args sy = lf_gram_syrk((int)m, (int)n);
        // cublasDsyrk's semantics, lower triangle: C = op(A) op(A)^T with op(A) n x k.
        for (int j = 0; j < sy.n; j++)
            for (int i = j; i < sy.n; i++) {
                double s = 0;
                for (int t = 0; t < sy.k; t++) {
                    double ai = sy.trans == CUBLAS_OP_N ? da[i + (int64_t)t * sy.lda] : da[t + (int64_t)i * sy.lda];
                    double aj = sy.trans == CUBLAS_OP_N ? da[j + (int64_t)t * sy.lda] : da[t + (int64_t)j * sy.lda];
                    s += ai * aj;
                }
                g[i + (int64_t)j * sy.ldc] = s;
            }
        // LAPACK_COL_MAJOR = 102: the layout cuSOLVER uses.
        if (LAPACKE_dsyevd(102, 'N', 'L', sy.n, g, sy.ldc, w) != 0) {
            lf_error_set("lf_sv_batch_emulate: dsyevd failed on matrix %lld", (long long)c);
            rc = -1;
            break;
        }
        for (int64_t i = 0; i < r; i++) {
            double lam = w[r - 1 - i];
            sv[c * r + i] = lam > 0 ? sqrt(lam) : 0.0;
        }
    }
    free(da), free(g), free(w);
    return rc;
}
