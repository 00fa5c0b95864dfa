// projection_cuda.cu - Linformer's sequence projections on the GPU, twin of lf_proj_apply
// (core/projection.c): linear/gaussian as one cuBLAS product, mean and max pooling and
// the strided convolution (kernel = stride = n/k) as kernels with one thread per
// (slot, column) that walks its window's rows in order, as the CPU loops do.
#include <math.h>
#include <string.h>

#include "cuda_util.h"

static const int kThreads = 128;

static int lf_kind_known(lf_proj_kind kind) { return (int)kind >= 0 && (int)kind <= (int)LF_PROJ_CONV; }
static int lf_kind_pools(lf_proj_kind kind)
{
    return kind == LF_PROJ_MEAN || kind == LF_PROJ_MAX || kind == LF_PROJ_CONV;
}
// Parameters stored on the device: linear, gaussian k n; conv window; pooling none.
static int64_t lf_weight_count(lf_proj_kind kind, int64_t k, int64_t n, int64_t window)
{
    if (kind == LF_PROJ_LINEAR || kind == LF_PROJ_GAUSSIAN) return k * n;
    if (kind == LF_PROJ_CONV) return window;
    return 0;
}

extern "C" int lf_proj_upload_cuda(const lf_proj *p, lf_proj_cuda *dp)
{
    if (!dp) LF_FAIL("lf_proj_upload_cuda: NULL output");
    memset(dp, 0, sizeof *dp);
    if (!p) LF_FAIL("lf_proj_upload_cuda: NULL projection");
    if (!lf_kind_known(p->kind) || p->k < 1 || p->n < p->k)
        LF_FAIL("lf_proj_upload_cuda: not an initialised projection (kind %d, k = %lld, n = %lld)",
                (int)p->kind, (long long)p->k, (long long)p->n);
    if (p->kind == LF_PROJ_CONV && (p->window < 1 || p->window * p->k != p->n))
        LF_FAIL("lf_proj_upload_cuda: conv window %lld does not match n / k = %lld / %lld",
                (long long)p->window, (long long)p->n, (long long)p->k);
    int64_t count = lf_weight_count(p->kind, p->k, p->n, p->window);
    if (count > 0 && !p->weights)
        LF_FAIL("lf_proj_upload_cuda: %s projection without weights", lf_proj_kind_name(p->kind));
    float *w = NULL;
    if (count > 0) {
        size_t bytes = (size_t)count * sizeof(float);
        if (!(w = (float *)lf_cuda_alloc(bytes))) {
            lf_error_prefix("lf_proj_upload_cuda: %s weights", lf_proj_kind_name(p->kind));
            return -1;
        }
        if (lf_cuda_upload(w, p->weights, bytes) != 0) {
            lf_cuda_free(w);
            return -1;
        }
    }
    dp->kind = p->kind;
    dp->k = p->k;
    dp->n = p->n;
    dp->window = p->kind == LF_PROJ_CONV ? p->window : 0;
    dp->weights = w;
    return 0;
}

extern "C" void lf_proj_free_cuda(lf_proj_cuda *dp)
{
    if (!dp) return;
    lf_cuda_free(dp->weights);
    memset(dp, 0, sizeof *dp);
}

// out[i, c] = mask[i] ? x[i, c] : 0 (padded rows become exact zeros, NaN included).
__global__ void zero_padded_rows_kernel(const float *x, const uint8_t *mask, int64_t total,
                                        int64_t d, float *out)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x)
        out[e] = mask[e / d] ? x[e] : 0.0f;
}

// One block: slot_valid[0 .. k) = (mask has a nonzero among its n entries).
__global__ void any_valid_fill_kernel(const uint8_t *mask, int64_t n, uint8_t *slot_valid, int64_t k)
{
    __shared__ int any;
    if (threadIdx.x == 0) any = 0;
    __syncthreads();
    int mine = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) mine |= mask[i] != 0;
    if (mine) atomicOr(&any, 1);
    __syncthreads();
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) slot_valid[j] = (uint8_t)any;
}

// Mean or max over the valid rows of window j = [floor(j n/k), floor((j+1) n/k)) clipped
// to n_use, for column c; the same operations in the same order as lf_apply_pool
// (bit-identical sums; the mean multiplies by the float of 1/count like the CPU code).
// Shared by the kernel and the host emulation (lf_proj_apply_emulate).
__host__ __device__ static void pool_body(int64_t j, int64_t c, const float *x, int64_t n_use,
                                          int64_t d, const uint8_t *mask, int64_t k, int64_t n,
                                          int is_max, float *xbar, uint8_t *slot_valid)
{
    int64_t lo = j * n / k, hi = (j + 1) * n / k;
    if (hi > n_use) hi = n_use;
    float acc = 0.0f;
    int64_t count = 0;
    for (int64_t i = lo; i < hi; i++) {
        if (mask && !mask[i]) continue;
        float xi = x[i * d + c];
        if (count == 0)
            acc = xi;
        else if (is_max)
            acc = xi > acc ? xi : acc;
        else
            acc += xi;
        count++;
    }
    if (count == 0)
        acc = 0.0f;
    else if (!is_max && count > 1)
        acc *= (float)(1.0 / (double)count);
    xbar[j * d + c] = acc;
    if (c == 0 && slot_valid) slot_valid[j] = count > 0;
}

// xbar[j, c] = sum_t w[t] x[j window + t, c] over valid rows below n_use, t in order.
__host__ __device__ static void conv_body(int64_t j, int64_t c, const float *x, int64_t n_use,
                                          int64_t d, const uint8_t *mask, int64_t window,
                                          const float *w, float *xbar, uint8_t *slot_valid)
{
    float acc = 0.0f;
    int64_t count = 0;
    for (int64_t t = 0; t < window; t++) {
        int64_t i = j * window + t;
        if (i >= n_use) break;
        if (mask && !mask[i]) continue;
        acc += w[t] * x[i * d + c];
        count++;
    }
    xbar[j * d + c] = acc;
    if (c == 0 && slot_valid) slot_valid[j] = count > 0;
}

// One thread per (slot j = blockIdx.x, column c).
__global__ void pool_kernel(const float *x, int64_t n_use, int64_t d, const uint8_t *mask,
                            int64_t k, int64_t n, int is_max, float *xbar, uint8_t *slot_valid)
{
    const int64_t c = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (c < d) pool_body(blockIdx.x, c, x, n_use, d, mask, k, n, is_max, xbar, slot_valid);
}

__global__ void conv_kernel(const float *x, int64_t n_use, int64_t d, const uint8_t *mask,
                            int64_t window, const float *w, float *xbar, uint8_t *slot_valid)
{
    const int64_t c = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (c < d) conv_body(blockIdx.x, c, x, n_use, d, mask, window, w, xbar, slot_valid);
}

extern "C" int lf_proj_apply_emulate(const lf_proj *p, int64_t k_use, const float *x,
                                     int64_t n_use, int64_t d, const uint8_t *mask, float *xbar,
                                     uint8_t *slot_valid)
{
    const char *fn = "lf_proj_apply_emulate";
    if (!p || !x || !xbar) LF_FAIL("%s: NULL projection, x or xbar", fn);
    if (!lf_kind_pools(p->kind)) LF_FAIL("%s: only pooling and conv kernels are emulated", fn);
    if (k_use != p->k || n_use < 1 || n_use > p->n || d < 1 || p->k < 1 || p->n < p->k)
        LF_FAIL("%s: bad sizes", fn);
    if (p->kind == LF_PROJ_CONV && (!p->weights || p->window * p->k != p->n))
        LF_FAIL("%s: conv projection without matching weights", fn);
    for (int64_t j = 0; j < p->k; j++)
        for (int64_t c = 0; c < d; c++) {
            if (p->kind == LF_PROJ_CONV)
                conv_body(j, c, x, n_use, d, mask, p->window, p->weights, xbar, slot_valid);
            else
                pool_body(j, c, x, n_use, d, mask, p->k, p->n, p->kind == LF_PROJ_MAX, xbar,
                          slot_valid);
        }
    return 0;
}

// E[:k_use, :n_use] x with padded rows of x zeroed first (when there is a mask).
static int lf_apply_matrix_cuda(const lf_proj_cuda *p, int64_t k_use, const float *x,
                                int64_t n_use, int64_t d, const uint8_t *mask, float *xbar,
                                uint8_t *slot_valid)
{
    float *scratch = NULL;
    const float *xs = x;
    const int64_t total = n_use * d;
    // Gaussian users with fewer rows than the shared matrix rescale (as the CPU code).
    float alpha = 1.0f;
    if (p->kind == LF_PROJ_GAUSSIAN && k_use < p->k) alpha = (float)sqrt((double)p->k / (double)k_use);
    if (mask) {
        int64_t blocks = (total + kThreads - 1) / kThreads;
        if (blocks > 65535) blocks = 65535;
        if (!(scratch = (float *)lf_cuda_alloc((size_t)total * sizeof(float)))) {
            lf_error_prefix("lf_proj_apply_cuda: copy of x without its padded rows");
            return -1;
        }
        zero_padded_rows_kernel<<<(unsigned)blocks, kThreads>>>(x, mask, total, d, scratch);
        LF_CUDA_LAUNCHED_TRY();
        xs = scratch;
        if (slot_valid) {
            any_valid_fill_kernel<<<1, 256>>>(mask, n_use, slot_valid, k_use);
            LF_CUDA_LAUNCHED_TRY();
        }
    } else if (slot_valid) {
        LF_CUDA_TRY(cudaMemset(slot_valid, 1, (size_t)k_use));
    }
    // With every row padded the zeroed copy makes xbar exactly zero (E is finite).
    LF_CUDA_PROPAGATE(lf_sgemm_cuda(0, 0, k_use, d, n_use, alpha, p->weights, p->n, xs, d, 0.0f,
                                    xbar, d));
    return lf_cuda_release(scratch); // waits for the product that reads it
fail:
    lf_cuda_free(scratch);
    return -1;
}

extern "C" int lf_proj_apply_cuda(const lf_proj_cuda *p, int64_t k_use, const float *x,
                                  int64_t n_use, int64_t d, const uint8_t *mask, float *xbar,
                                  uint8_t *slot_valid)
{
    const char *fn = "lf_proj_apply_cuda";
    if (!p) LF_FAIL("%s: NULL projection", fn);
    if (!x || !xbar) LF_FAIL("%s: NULL x or xbar", fn);
    if (!lf_kind_known(p->kind) || p->k < 1 || p->n < p->k)
        LF_FAIL("%s: not an initialised projection (kind %d, k = %lld, n = %lld)", fn,
                (int)p->kind, (long long)p->k, (long long)p->n);
    if (d < 1 || d > INT32_MAX)
        LF_FAIL("%s: d = %lld is out of range 1..%d", fn, (long long)d, INT32_MAX);
    if (n_use < 1 || n_use > p->n)
        LF_FAIL("%s: n_use = %lld is out of range 1..%lld (the projection's n)", fn,
                (long long)n_use, (long long)p->n);
    if (lf_kind_pools(p->kind)) {
        if (k_use != p->k)
            LF_FAIL("%s: k_use = %lld but a %s projection only works with its own k = %lld", fn,
                    (long long)k_use, lf_proj_kind_name(p->kind), (long long)p->k);
    } else if (k_use < 1 || k_use > p->k) {
        LF_FAIL("%s: k_use = %lld is out of range 1..%lld (the projection's k)", fn,
                (long long)k_use, (long long)p->k);
    }
    if (p->kind != LF_PROJ_MEAN && p->kind != LF_PROJ_MAX && !p->weights)
        LF_FAIL("%s: %s projection without weights", fn, lf_proj_kind_name(p->kind));
    if (p->kind == LF_PROJ_CONV && (p->window < 1 || p->window * p->k != p->n))
        LF_FAIL("%s: conv window %lld does not match n / k = %lld / %lld", fn,
                (long long)p->window, (long long)p->n, (long long)p->k);
    if (p->k > INT32_MAX) LF_FAIL("%s: k = %lld exceeds the grid", fn, (long long)p->k);

    if (p->kind == LF_PROJ_LINEAR || p->kind == LF_PROJ_GAUSSIAN)
        return lf_apply_matrix_cuda(p, k_use, x, n_use, d, mask, xbar, slot_valid);
    dim3 grid((unsigned)p->k, lf_cuda_blocks(d, kThreads));
    if (grid.y > 65535) LF_FAIL("%s: d = %lld exceeds the grid", fn, (long long)d);
    if (p->kind == LF_PROJ_CONV)
        conv_kernel<<<grid, kThreads>>>(x, n_use, d, mask, p->window, p->weights, xbar, slot_valid);
    else
        pool_kernel<<<grid, kThreads>>>(x, n_use, d, mask, p->k, p->n, p->kind == LF_PROJ_MAX,
                                        xbar, slot_valid);
    LF_CUDA_LAUNCHED();
    return 0;
}

// lf_apply_matrix_cuda's steps on the host: padded rows zeroed in a copy, slot_valid from
// the mask, then the product through lf_sgemm_emulate.
static int lf_apply_matrix_emulate(const lf_proj *p, int64_t k_use, const float *x, int64_t n_use,
                                   int64_t d, const uint8_t *mask, float *xbar, uint8_t *slot_valid)
{
    float *scratch = NULL;
    const float *xs = x;
    float alpha = 1.0f;
    if (p->kind == LF_PROJ_GAUSSIAN && k_use < p->k) alpha = (float)sqrt((double)p->k / (double)k_use);
    if (mask) {
        if (!(scratch = (float *)malloc((size_t)(n_use * d) * sizeof(float))))
            LF_FAIL("lf_proj_apply_emulate: out of memory");
        int any = 0;
        for (int64_t e = 0; e < n_use * d; e++) scratch[e] = mask[e / d] ? x[e] : 0.0f;
        for (int64_t i = 0; i < n_use; i++) any |= mask[i] != 0;
        if (slot_valid) memset(slot_valid, any, (size_t)k_use);
        xs = scratch;
    } else if (slot_valid) {
        memset(slot_valid, 1, (size_t)k_use);
    }
    int rc = lf_sgemm_emulate(0, 0, k_use, d, n_use, alpha, p->weights, p->n, xs, d, 0.0f, xbar, d);
    free(scratch);
    return rc;
}

extern "C" int lf_proj_apply_emulate_any(const lf_proj *p, int64_t k_use, const float *x,
                                         int64_t n_use, int64_t d, const uint8_t *mask, float *xbar,
                                         uint8_t *slot_valid)
{
    if (!p || !x || !xbar) LF_FAIL("lf_proj_apply_emulate: NULL projection, x or xbar");
    if (p->kind == LF_PROJ_LINEAR || p->kind == LF_PROJ_GAUSSIAN) {
        if (k_use < 1 || k_use > p->k || n_use < 1 || n_use > p->n || d < 1 || !p->weights)
            LF_FAIL("lf_proj_apply_emulate: bad sizes");
        return lf_apply_matrix_emulate(p, k_use, x, n_use, d, mask, xbar, slot_valid);
    }
    return lf_proj_apply_emulate(p, k_use, x, n_use, d, mask, xbar, slot_valid);
}
