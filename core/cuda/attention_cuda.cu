// attention_cuda.cu - one attention head on the GPU, twins of core/attention.c: dense and
// projected (Linformer) attention as cuBLAS products around the softmax kernel, and
// streamed exact attention as a tiled kernel with an online softmax.
//
// Streamed kernel: one thread block per (head, tile of kQT query rows). The block keeps
// its queries, one tile of kKT keys and values, the tile's scores and the output
// accumulator in shared memory, and for each row a running maximum and a double sum,
// exactly the recurrence of lf_streamed_block (core/attention.c) with tiles of kKT
// keys instead of 512: when a tile raises a row's maximum, the accumulator and the sum
// are rescaled by expf(old - new). It is deliberately plain (scalar FMAs from shared
// memory, no tensor cores): a correct reference for the exact-attention benchmark, not
// a FlashAttention.
//
// Streamed with cuBLAS (lf_attention_streamed_blas_cuda): the CPU algorithm with all
// query rows as one block: per tile of kBlasKT keys, scores S = Q K_tile^T / sqrt(d) by
// cuBLAS, a row kernel for the online-softmax update (tile max, rescale factor,
// exponentials in place, double sum), a row scaling of the accumulator, and acc += S
// V_tile by cuBLAS. O(n kBlasKT + n dv) memory, the flops on cuBLAS.
#include <math.h>

#include "cuda_util.h"

extern "C" {
#include "gemm.h"
}

// ---- dense and projected --------------------------------------------------------

// Largest score block formed when the caller does not keep P: 16 Mi floats (64 MiB).
static const int64_t kScoreBlock = (int64_t)1 << 24;

// heads independent heads: head h reads q + h n d, keys + h m d, vals + h m dv and
// writes out + h n dv (and p + h n m); the key mask is shared. Products are strided
// batched over the heads; the softmax runs over all heads' rows at once.
static int lf_attend_cuda(const char *fn, const float *q, const float *keys, const float *vals,
                          const uint8_t *mask, int64_t heads, int64_t n, int64_t m, int64_t d,
                          int64_t dv, float *p, float *out)
{
    if (heads < 1 || n < 1 || m < 1 || d < 1 || dv < 1)
        LF_FAIL("%s: sizes must be positive (heads=%lld n=%lld keys=%lld d=%lld dv=%lld)", fn,
                (long long)heads, (long long)n, (long long)m, (long long)d, (long long)dv);
    if (n > INT32_MAX || m > INT32_MAX || d > INT32_MAX || dv > INT32_MAX || heads > INT32_MAX ||
        heads * n > INT32_MAX)
        LF_FAIL("%s: sizes exceed cuBLAS's 32-bit ints", fn);
    if (!q || !keys || !vals || !out) LF_FAIL("%s: NULL input or output", fn);
    const float scale = (float)(1.0 / sqrt((double)d));
    float *scratch = NULL;
    int64_t qb = n;
    if (!p) {
        qb = kScoreBlock / (m * heads);
        qb = qb < 1 ? 1 : qb > n ? n : qb;
        if (!(scratch = (float *)lf_cuda_alloc((size_t)heads * (size_t)qb * (size_t)m *
                                               sizeof(float)))) {
            lf_error_prefix("%s: score block of %lld x %lld x %lld", fn, (long long)heads,
                            (long long)qb, (long long)m);
            return -1;
        }
    }
    for (int64_t i0 = 0; i0 < n; i0 += qb) {
        const int64_t rows = n - i0 < qb ? n - i0 : qb;
        // Scores of head h at s + h sstride: rows x m (p: the heads' full n x m matrices).
        float *s = p ? p + i0 * m : scratch;
        const int64_t sstride = p ? n * m : rows * m;
        LF_CUDA_PROPAGATE(lf_sgemm_batched_cuda(0, 1, rows, m, d, scale, q + i0 * d, d, n * d, keys,
                                                d, m * d, 0.0f, s, m, sstride, heads));
        // With p every head's rows are contiguous only when the block is all of n (it is).
        LF_CUDA_PROPAGATE(lf_softmax_rows_cuda(s, s, heads * rows, m, mask));
        LF_CUDA_PROPAGATE(lf_sgemm_batched_cuda(0, 0, rows, dv, m, 1.0f, s, m, sstride, vals, dv,
                                                m * dv, 0.0f, out + i0 * dv, dv, n * dv, heads));
    }
    return lf_cuda_release(scratch); // waits for the queued products
fail:
    lf_error_prefix("%s", fn);
    lf_cuda_free(scratch);
    return -1;
}

extern "C" int lf_attention_dense_cuda(const float *q, const float *k, const float *v,
                                       const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                       float *p, float *out)
{
    return lf_attend_cuda("lf_attention_dense_cuda", q, k, v, mask, 1, n, n, d, dv, p, out);
}

extern "C" int lf_attention_projected_cuda(const float *q, const float *kbar, const float *vbar,
                                           const uint8_t *slot_mask, int64_t n, int64_t kp,
                                           int64_t d, int64_t dv, float *p, float *out)
{
    return lf_attend_cuda("lf_attention_projected_cuda", q, kbar, vbar, slot_mask, 1, n, kp, d,
                          dv, p, out);
}

extern "C" int lf_attention_dense_heads_cuda(const float *q, const float *k, const float *v,
                                             const uint8_t *mask, int64_t heads, int64_t n,
                                             int64_t d, int64_t dv, float *p, float *out)
{
    return lf_attend_cuda("lf_attention_dense_heads_cuda", q, k, v, mask, heads, n, n, d, dv, p,
                          out);
}

extern "C" int lf_attention_projected_heads_cuda(const float *q, const float *kbar,
                                                 const float *vbar, const uint8_t *slot_mask,
                                                 int64_t heads, int64_t n, int64_t kp, int64_t d,
                                                 int64_t dv, float *p, float *out)
{
    return lf_attend_cuda("lf_attention_projected_heads_cuda", q, kbar, vbar, slot_mask, heads, n,
                          kp, d, dv, p, out);
}

// ---- streamed ----------------------------------------------------------------------

static const int kQT = 32;      // query rows per block
static const int kKT = 32;      // keys per tile
static const int kThreads = 128;
static const int64_t kMaxDim = 256; // d and dv limit (shared memory)

// Row stride of the key tile: odd, so that the lanes of a warp (one key each) read
// different banks in the score loop.
__host__ __device__ static inline int64_t key_ld(int64_t d) { return d % 2 == 0 ? d + 1 : d; }

static size_t streamed_smem_bytes(int64_t d, int64_t dv)
{
    return sizeof(double) * kQT                                              // l
           + sizeof(float) * (2 * kQT                                        // mx, alpha
                              + kQT * d + kKT * key_ld(d) + kKT * dv         // Q, K, V tiles
                              + kQT * kKT + kQT * dv);                       // scores, acc
}

// The streamed kernel's body. Every phase between barriers is a loop strided by the
// thread count, so the same code is right for 128 threads and for 1.
__host__ __device__ static void streamed_body(const lf_blk blk, double *smem, const float *q,
                                              const float *k, const float *v, const uint8_t *mask,
                                              int64_t n, int64_t d, int64_t dv, float scale,
                                              float *out)
{
    double *l = smem;
    float *mx = (float *)(l + kQT);
    float *alpha = mx + kQT;
    float *qs = alpha + kQT;
    const int64_t ldk = key_ld(d);
    float *ks = qs + kQT * d;
    float *vs = ks + kKT * ldk;
    float *s = vs + kKT * dv;
    float *acc = s + kQT * kKT;

    const int64_t head = blk.by;
    q += head * n * d;
    k += head * n * d;
    v += head * n * dv;
    out += head * n * dv;
    const int64_t i0 = blk.bx * kQT;
    const int64_t rows = n - i0 < kQT ? n - i0 : kQT;
    const int tid = blk.tid, nth = blk.nthreads;

    for (int64_t e = tid; e < kQT * d; e += nth) {
        int64_t i = e / d;
        qs[e] = i < rows ? q[(i0 + i) * d + e % d] : 0.0f;
    }
    for (int64_t e = tid; e < kQT * dv; e += nth) acc[e] = 0.0f;
    for (int r = tid; r < kQT; r += nth) {
        mx[r] = -INFINITY;
        l[r] = 0.0;
    }
    LF_SYNC();

    for (int64_t j0 = 0; j0 < n; j0 += kKT) {
        const int64_t cols = n - j0 < kKT ? n - j0 : kKT;
        for (int64_t e = tid; e < kKT * d; e += nth) {
            int64_t j = e / d, t = e % d;
            ks[j * ldk + t] = j < cols ? k[(j0 + j) * d + t] : 0.0f;
        }
        for (int64_t e = tid; e < kKT * dv; e += nth) {
            int64_t j = e / dv;
            vs[e] = j < cols ? v[(j0 + j) * dv + e % dv] : 0.0f;
        }
        LF_SYNC();
        // Scores; masked keys, keys past n and rows past the end get -inf.
        for (int e = tid; e < kQT * kKT; e += nth) {
            int i = e / kKT, j = e % kKT;
            float sc = -INFINITY;
            if (i < rows && j < cols && (!mask || mask[j0 + j])) {
                float dot = 0.0f;
                for (int64_t t = 0; t < d; t++) dot += qs[i * d + t] * ks[j * ldk + t];
                sc = dot * scale;
            }
            s[e] = sc;
        }
        LF_SYNC();
        // Online softmax, one thread per row.
        for (int r = tid; r < kQT; r += nth) {
            float *srow = s + r * kKT;
            float tmax = -INFINITY;
            for (int j = 0; j < kKT; j++) tmax = fmaxf(tmax, srow[j]);
            float newmax = tmax > mx[r] ? tmax : mx[r];
            float a = 1.0f;
            if (newmax == -INFINITY) { // nothing unmasked yet
                for (int j = 0; j < kKT; j++) srow[j] = 0.0f;
            } else {
                if (newmax > mx[r] && mx[r] != -INFINITY) {
                    a = expf(mx[r] - newmax);
                    l[r] *= a;
                }
                mx[r] = newmax;
                double sum = 0.0;
                for (int j = 0; j < kKT; j++) {
                    float e = srow[j] == -INFINITY ? 0.0f : expf(srow[j] - newmax);
                    srow[j] = e;
                    sum += e;
                }
                l[r] += sum;
            }
            alpha[r] = a;
        }
        LF_SYNC();
        // acc = alpha acc + P_tile V_tile.
        for (int64_t e = tid; e < kQT * dv; e += nth) {
            int64_t i = e / dv, c = e % dv;
            float sum = acc[e] * alpha[i];
            for (int j = 0; j < kKT; j++) sum += s[i * kKT + j] * vs[j * dv + c];
            acc[e] = sum;
        }
        LF_SYNC(); // the next tile overwrites ks, vs and s
    }
    for (int64_t e = tid; e < rows * dv; e += nth) {
        int64_t i = e / dv;
        float inv = l[i] > 0.0 ? (float)(1.0 / l[i]) : 0.0f;
        out[(i0 + i) * dv + e % dv] = acc[e] * inv;
    }
}

__global__ void streamed_kernel(const float *q, const float *k, const float *v,
                                const uint8_t *mask, int64_t n, int64_t d, int64_t dv, float scale,
                                float *out)
{
    extern __shared__ double smem[];
    streamed_body(LF_BLK(), smem, q, k, v, mask, n, d, dv, scale, out);
}

// The kernel's body on the host, block after block with one thread each (host arrays):
// lets tests check the kernel's tiling, masking and online softmax without a GPU.
extern "C" int lf_attention_streamed_emulate(const float *q, const float *k, const float *v,
                                             const uint8_t *mask, int64_t heads, int64_t n,
                                             int64_t d, int64_t dv, float *out)
{
    if (heads < 1 || n < 1 || d < 1 || dv < 1 || d > kMaxDim || dv > kMaxDim)
        LF_FAIL("lf_attention_streamed_emulate: bad sizes (heads=%lld n=%lld d=%lld dv=%lld)",
                (long long)heads, (long long)n, (long long)d, (long long)dv);
    if (!q || !k || !v || !out) LF_FAIL("lf_attention_streamed_emulate: NULL input or output");
    double *smem = (double *)malloc(streamed_smem_bytes(d, dv));
    if (!smem) LF_FAIL("lf_attention_streamed_emulate: out of memory");
    const float scale = (float)(1.0 / sqrt((double)d));
    for (int64_t h = 0; h < heads; h++)
        for (int64_t b = 0; b < (n + kQT - 1) / kQT; b++) {
            const lf_blk t = {0, 1, b, h};
            streamed_body(t, smem, q, k, v, mask, n, d, dv, scale, out);
        }
    free(smem);
    return 0;
}

extern "C" int lf_attention_streamed_heads_cuda(const float *q, const float *k, const float *v,
                                                const uint8_t *mask, int64_t heads, int64_t n,
                                                int64_t d, int64_t dv, float *out)
{
    const char *fn = "lf_attention_streamed_cuda";
    if (heads < 1 || n < 1 || d < 1 || dv < 1)
        LF_FAIL("%s: sizes must be positive (heads=%lld n=%lld d=%lld dv=%lld)", fn,
                (long long)heads, (long long)n, (long long)d, (long long)dv);
    if (d > kMaxDim || dv > kMaxDim)
        LF_FAIL("%s: d = %lld, dv = %lld (this kernel supports up to %lld)", fn, (long long)d,
                (long long)dv, (long long)kMaxDim);
    if (heads > 65535 || (n + kQT - 1) / kQT > INT32_MAX)
        LF_FAIL("%s: %lld heads of %lld rows exceed the grid", fn, (long long)heads, (long long)n);
    if (!q || !k || !v || !out) LF_FAIL("%s: NULL input or output", fn);
    size_t smem = streamed_smem_bytes(d, dv);
    if (smem > 48 * 1024) {
        int dev = 0, optin = 0;
        LF_CUDA_CHECK(cudaGetDevice(&dev));
        LF_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        if (smem > (size_t)optin)
            LF_FAIL("%s: d = %lld, dv = %lld need %zu bytes of shared memory, the device allows "
                    "%d",
                    fn, (long long)d, (long long)dv, smem, optin);
        LF_CUDA_CHECK(cudaFuncSetAttribute(streamed_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    }
    dim3 grid((unsigned)((n + kQT - 1) / kQT), (unsigned)heads);
    const float scale = (float)(1.0 / sqrt((double)d));
    streamed_kernel<<<grid, kThreads, smem>>>(q, k, v, mask, n, d, dv, scale, out);
    LF_CUDA_LAUNCHED();
    return 0;
}

// ---- streamed with cuBLAS ------------------------------------------------------------

static const int64_t kBlasKT = 512; // keys per tile, as LF_KB in core/attention.c
static const int kRowThreads = 256; // a power of two

// One block per query row: the online-softmax step of lf_streamed_block for one tile
// of cols scores s (in place -> exponentials), with the row's running max mx and sum l;
// alpha[row] = the factor the accumulator must be multiplied by.
__host__ __device__ static void online_update_body(const lf_blk blk, float *smax, double *ssum,
                                                   float *s, int64_t cols, const uint8_t *mask,
                                                   float *mx, double *l, float *alpha)
{
    const int64_t row = blk.bx;
    float *srow = s + row * cols;
    float m = -INFINITY;
    for (int64_t j = blk.tid; j < cols; j += blk.nthreads)
        if (!mask || mask[j]) m = fmaxf(m, srow[j]);
    const float old = mx[row], tmax = lf_block_reduce(blk, m, smax, lf_op_max());
    const float newmax = tmax > old ? tmax : old;
    double sum = 0.0;
    for (int64_t j = blk.tid; j < cols; j += blk.nthreads) {
        float e = (newmax == -INFINITY || (mask && !mask[j])) ? 0.0f : expf(srow[j] - newmax);
        srow[j] = e;
        sum += e;
    }
    sum = lf_block_reduce(blk, sum, ssum, lf_op_add());
    if (blk.tid == 0) {
        float a = 1.0f;
        if (newmax != -INFINITY) {
            if (newmax > old && old != -INFINITY) a = expf(old - newmax);
            l[row] = l[row] * a + sum;
            mx[row] = newmax;
        }
        alpha[row] = a;
    }
}

__global__ void online_update_kernel(float *s, int64_t cols, const uint8_t *mask, float *mx,
                                     double *l, float *alpha)
{
    __shared__ float smax[kRowThreads];
    __shared__ double ssum[kRowThreads];
    online_update_body(LF_BLK(), smax, ssum, s, cols, mask, mx, l, alpha);
}

// acc[i, :] *= alpha[i] (rows x dv).
__global__ void scale_rows_kernel(float *acc, const float *alpha, int64_t total, int64_t dv)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x)
        acc[e] *= alpha[e / dv];
}

// mx = -inf, l = 0 for n rows.
__global__ void init_rows_kernel(float *mx, double *l, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        mx[i] = -INFINITY;
        l[i] = 0.0;
    }
}

// out[i, :] = acc[i, :] / l[i] (0 where l = 0: every key masked).
__global__ void finish_rows_kernel(const float *acc, const double *l, int64_t total, int64_t dv,
                                   float *out)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        double li = l[e / dv];
        out[e] = acc[e] * (li > 0.0 ? (float)(1.0 / li) : 0.0f);
    }
}

static unsigned grid_1d(int64_t total)
{
    int64_t b = (total + 255) / 256;
    return (unsigned)(b > 65535 ? 65535 : b < 1 ? 1 : b);
}

extern "C" int lf_attention_streamed_blas_cuda(const float *q, const float *k, const float *v,
                                               const uint8_t *mask, int64_t n, int64_t d,
                                               int64_t dv, float *out)
{
    const char *fn = "lf_attention_streamed_blas_cuda";
    if (n < 1 || d < 1 || dv < 1)
        LF_FAIL("%s: sizes must be positive (n=%lld d=%lld dv=%lld)", fn, (long long)n,
                (long long)d, (long long)dv);
    if (n > INT32_MAX || d > INT32_MAX || dv > INT32_MAX)
        LF_FAIL("%s: sizes exceed cuBLAS's 32-bit ints", fn);
    if (!q || !k || !v || !out) LF_FAIL("%s: NULL input or output", fn);
    const float scale = (float)(1.0 / sqrt((double)d));
    const int64_t kt = n < kBlasKT ? n : kBlasKT;
    float *s = NULL, *acc = NULL, *mx = NULL, *alpha = NULL;
    double *l = NULL;
    if (!(s = (float *)lf_cuda_alloc((size_t)n * (size_t)kt * sizeof(float))) ||
        !(acc = (float *)lf_cuda_alloc((size_t)n * (size_t)dv * sizeof(float))) ||
        !(mx = (float *)lf_cuda_alloc((size_t)n * sizeof(float))) ||
        !(alpha = (float *)lf_cuda_alloc((size_t)n * sizeof(float))) ||
        !(l = (double *)lf_cuda_alloc((size_t)n * sizeof(double)))) {
        lf_error_prefix("%s", fn);
        goto fail;
    }
    LF_CUDA_TRY(cudaMemset(acc, 0, (size_t)n * (size_t)dv * sizeof(float)));
    init_rows_kernel<<<grid_1d(n), 256>>>(mx, l, n);
    LF_CUDA_LAUNCHED_TRY();
    for (int64_t j0 = 0; j0 < n; j0 += kt) {
        const int64_t cols = n - j0 < kt ? n - j0 : kt;
        LF_CUDA_PROPAGATE(lf_sgemm_cuda(0, 1, n, cols, d, scale, q, d, k + j0 * d, d, 0.0f, s, cols));
        online_update_kernel<<<(unsigned)n, kRowThreads>>>(s, cols, mask ? mask + j0 : NULL, mx, l,
                                                           alpha);
        LF_CUDA_LAUNCHED_TRY();
        scale_rows_kernel<<<grid_1d(n * dv), 256>>>(acc, alpha, n * dv, dv);
        LF_CUDA_LAUNCHED_TRY();
        LF_CUDA_PROPAGATE(lf_sgemm_cuda(0, 0, n, dv, cols, 1.0f, s, cols, v + j0 * dv, dv, 1.0f,
                                        acc, dv));
    }
    finish_rows_kernel<<<grid_1d(n * dv), 256>>>(acc, l, n * dv, dv, out);
    LF_CUDA_LAUNCHED_TRY();
    if (lf_cuda_release(l) != 0) { // waits for the work above
        l = NULL;
        goto fail;
    }
    lf_cuda_free(alpha), lf_cuda_free(mx), lf_cuda_free(acc), lf_cuda_free(s);
    return 0;
fail:
    lf_cuda_free(l), lf_cuda_free(alpha), lf_cuda_free(mx), lf_cuda_free(acc), lf_cuda_free(s);
    return -1;
}

extern "C" int lf_attention_streamed_cuda(const float *q, const float *k, const float *v,
                                          const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                          float *out)
{
    return lf_attention_streamed_heads_cuda(q, k, v, mask, 1, n, d, dv, out);
}

// The same tile loop on the host: lf_sgemm for the products, the update body per row.
extern "C" int lf_attention_streamed_blas_emulate(const float *q, const float *k, const float *v,
                                                  const uint8_t *mask, int64_t n, int64_t d,
                                                  int64_t dv, float *out)
{
    if (n < 1 || d < 1 || dv < 1 || !q || !k || !v || !out)
        LF_FAIL("lf_attention_streamed_blas_emulate: bad arguments");
    const float scale = (float)(1.0 / sqrt((double)d));
    const int64_t kt = n < kBlasKT ? n : kBlasKT;
    float *s = (float *)malloc((size_t)(n * kt) * sizeof(float));
    float *acc = (float *)calloc((size_t)(n * dv), sizeof(float));
    float *mx = (float *)malloc((size_t)n * sizeof(float)), *alpha = (float *)malloc((size_t)n * sizeof(float));
    double *l = (double *)malloc((size_t)n * sizeof(double));
    int rc = -1;
    if (s && acc && mx && alpha && l) {
        for (int64_t i = 0; i < n; i++) mx[i] = -INFINITY, l[i] = 0.0;
        float smax[1];
        double ssum[1];
        for (int64_t j0 = 0; j0 < n; j0 += kt) {
            const int64_t cols = n - j0 < kt ? n - j0 : kt;
            lf_sgemm(0, 1, n, cols, d, scale, q, d, k + j0 * d, d, 0.0f, s, cols);
            for (int64_t r = 0; r < n; r++)
                online_update_body(lf_blk{0, 1, r, 0}, smax, ssum, s, cols, mask ? mask + j0 : NULL,
                                   mx, l, alpha);
            for (int64_t e = 0; e < n * dv; e++) acc[e] *= alpha[e / dv];
            lf_sgemm(0, 0, n, dv, cols, 1.0f, s, cols, v + j0 * dv, dv, 1.0f, acc, dv);
        }
        for (int64_t e = 0; e < n * dv; e++) {
            double li = l[e / dv];
            out[e] = acc[e] * (li > 0.0 ? (float)(1.0 / li) : 0.0f);
        }
        rc = 0;
    } else {
        lf_error_set("lf_attention_streamed_blas_emulate: out of memory");
    }
    free(s), free(acc), free(mx), free(alpha), free(l);
    return rc;
}

// lf_attend_cuda on the host, head after head: scores by lf_sgemm_emulate, the softmax
// kernel's body, P V by lf_sgemm_emulate (p: [heads, n, m] or NULL).
extern "C" int lf_attention_heads_emulate(const float *q, const float *keys, const float *vals,
                                          const uint8_t *mask, int64_t heads, int64_t n, int64_t m,
                                          int64_t d, int64_t dv, float *p, float *out)
{
    if (heads < 1 || n < 1 || m < 1 || d < 1 || dv < 1 || !q || !keys || !vals || !out)
        LF_FAIL("lf_attention_heads_emulate: bad arguments");
    const float scale = (float)(1.0 / sqrt((double)d));
    float *s = p ? NULL : (float *)malloc((size_t)(n * m) * sizeof(float));
    if (!p && !s) LF_FAIL("lf_attention_heads_emulate: out of memory");
    int rc = 0;
    for (int64_t h = 0; h < heads && rc == 0; h++) {
        float *sh = p ? p + h * n * m : s;
        rc = lf_sgemm_emulate(0, 1, n, m, d, scale, q + h * n * d, d, keys + h * m * d, d, 0.0f, sh, m);
        if (rc == 0) rc = lf_softmax_rows_emulate(sh, sh, n, m, mask);
        if (rc == 0)
            rc = lf_sgemm_emulate(0, 0, n, dv, m, 1.0f, sh, m, vals + h * m * dv, dv, 0.0f,
                                  out + h * n * dv, dv);
    }
    free(s);
    return rc;
}
