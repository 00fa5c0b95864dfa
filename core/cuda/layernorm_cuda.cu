// layernorm_cuda.cu - layer norm (statistics in double, two passes) and GELU (exact erf,
// and the tanh approximation) on the GPU, twins of the encoder's lf_enc_layernorm and
// lf_enc_gelu (core/encoder.c).
#include <math.h>

#include "cuda_util.h"

static const int kThreads = 256; // a power of two (tree reductions below)

// One block per row: mean, then the sum of squared deviations (no cancellation), then
// y = (x - mean) inv w + b in double, rounded once to float (as the CPU code).
__host__ __device__ static void layernorm_body(const lf_blk blk, double *red, const float *x,
                                               float *y, int64_t cols, const float *w,
                                               const float *b, double eps)
{
    const float *row = x + blk.bx * cols;
    float *out = y + blk.bx * cols;
    double s = 0.0;
    for (int64_t j = blk.tid; j < cols; j += blk.nthreads) s += row[j];
    const double mean = lf_block_reduce(blk, s, red, lf_op_add()) / (double)cols;
    double sq = 0.0;
    for (int64_t j = blk.tid; j < cols; j += blk.nthreads) {
        double dlt = (double)row[j] - mean;
        sq += dlt * dlt;
    }
    const double inv = 1.0 / sqrt(lf_block_reduce(blk, sq, red, lf_op_add()) / (double)cols + eps);
    // Every read of the row happened before the reduction's last barrier: y may alias x.
    for (int64_t j = blk.tid; j < cols; j += blk.nthreads)
        out[j] = (float)(((double)row[j] - mean) * inv * (double)w[j] + (double)b[j]);
}

__global__ void layernorm_kernel(const float *x, float *y, int64_t cols, const float *w,
                                 const float *b, double eps)
{
    __shared__ double red[kThreads];
    layernorm_body(LF_BLK(), red, x, y, cols, w, b, eps);
}

// Element i of GELU(x + bias): exact erf form, or the tanh approximation (the same
// float expressions as lf_enc_gelu).
__host__ __device__ static inline void gelu_body(int64_t i, const float *x, float *y, int64_t cols,
                                                 const float *bias, int tanh_form)
{
    float t = bias ? x[i] + bias[i % cols] : x[i];
    if (tanh_form) {
        const float k = 0.7978845608028654f; // sqrt(2/pi)
        y[i] = 0.5f * t * (1.0f + tanhf(k * (t + 0.044715f * t * t * t)));
    } else {
        y[i] = 0.5f * t * (1.0f + erff(t * 0.70710678118654752f));
    }
}

__global__ void gelu_kernel(const float *x, float *y, int64_t total, int64_t cols,
                            const float *bias, int tanh_form)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        gelu_body(i, x, y, cols, bias, tanh_form);
}

extern "C" int lf_layernorm_cuda(const float *x, float *y, int64_t rows, int64_t cols,
                                 const float *w, const float *b, double eps)
{
    if (rows < 1 || cols < 1 || rows > INT32_MAX)
        LF_FAIL("lf_layernorm_cuda: bad shape %lld x %lld", (long long)rows, (long long)cols);
    if (!x || !y || !w || !b) LF_FAIL("lf_layernorm_cuda: NULL input, output, weight or bias");
    if (!(eps >= 0) || isinf(eps)) LF_FAIL("lf_layernorm_cuda: eps = %g (need finite, >= 0)", eps);
    layernorm_kernel<<<(unsigned)rows, kThreads>>>(x, y, cols, w, b, eps);
    LF_CUDA_LAUNCHED();
    return 0;
}

extern "C" int lf_gelu_cuda(const float *x, float *y, int64_t rows, int64_t cols, const float *bias)
{
    if (rows < 1 || cols < 1 || rows > INT64_MAX / cols)
        LF_FAIL("lf_gelu_cuda: bad shape %lld x %lld", (long long)rows, (long long)cols);
    if (!x || !y) LF_FAIL("lf_gelu_cuda: NULL input or output");
    const int64_t total = rows * cols;
    // A grid-stride loop: at most 65535 blocks, each thread takes several elements.
    int64_t blocks = (total + kThreads - 1) / kThreads;
    if (blocks > 65535) blocks = 65535;
    gelu_kernel<<<(unsigned)blocks, kThreads>>>(x, y, total, cols, bias, 0);
    LF_CUDA_LAUNCHED();
    return 0;
}

extern "C" int lf_gelu_tanh_cuda(const float *x, float *y, int64_t rows, int64_t cols,
                                 const float *bias)
{
    if (rows < 1 || cols < 1 || rows > INT64_MAX / cols)
        LF_FAIL("lf_gelu_tanh_cuda: bad shape %lld x %lld", (long long)rows, (long long)cols);
    if (!x || !y) LF_FAIL("lf_gelu_tanh_cuda: NULL input or output");
    const int64_t total = rows * cols;
    int64_t blocks = (total + kThreads - 1) / kThreads;
    if (blocks > 65535) blocks = 65535;
    gelu_kernel<<<(unsigned)blocks, kThreads>>>(x, y, total, cols, bias, 1);
    LF_CUDA_LAUNCHED();
    return 0;
}

extern "C" int lf_layernorm_emulate(const float *x, float *y, int64_t rows, int64_t cols,
                                    const float *w, const float *b, double eps)
{
    if (rows < 1 || cols < 1 || !x || !y || !w || !b) LF_FAIL("lf_layernorm_emulate: bad arguments");
    double red[1];
    for (int64_t r = 0; r < rows; r++) layernorm_body(lf_blk{0, 1, r, 0}, red, x, y, cols, w, b, eps);
    return 0;
}

extern "C" int lf_gelu_emulate(const float *x, float *y, int64_t rows, int64_t cols,
                               const float *bias, int tanh_form)
{
    if (rows < 1 || cols < 1 || !x || !y) LF_FAIL("lf_gelu_emulate: bad arguments");
    for (int64_t i = 0; i < rows * cols; i++) gelu_body(i, x, y, cols, bias, tanh_form);
    return 0;
}
