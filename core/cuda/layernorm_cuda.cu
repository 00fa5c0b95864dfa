// layernorm_cuda.cu - layer norm (statistics in double, two passes) and GELU (exact erf,
// and the tanh approximation) on the GPU, twins of the encoder's lf_enc_layernorm and
// lf_enc_gelu (core/encoder.c).
#include <math.h>

#include "cuda_util.h"

static const int kThreads = 256; // a power of two (tree reductions below)

// Sum of v over the block's threads, returned to every thread; red: kThreads doubles.
__device__ static double block_sum(double v, double *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    double total = red[0];
    __syncthreads(); // red is reused by the next reduction
    return total;
}

// One block per row: mean, then the sum of squared deviations (no cancellation), then
// y = (x - mean) inv w + b in double, rounded once to float (as the CPU code).
__global__ void layernorm_kernel(const float *x, float *y, int64_t cols, const float *w,
                                 const float *b, double eps)
{
    __shared__ double red[kThreads];
    const float *row = x + (int64_t)blockIdx.x * cols;
    float *out = y + (int64_t)blockIdx.x * cols;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) s += row[j];
    const double mean = block_sum(s, red) / (double)cols;
    double sq = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
        double dlt = (double)row[j] - mean;
        sq += dlt * dlt;
    }
    const double inv = 1.0 / sqrt(block_sum(sq, red) / (double)cols + eps);
    // Every read of the row happened before block_sum's last barrier: y may alias x.
    for (int64_t j = threadIdx.x; j < cols; j += kThreads)
        out[j] = (float)(((double)row[j] - mean) * inv * (double)w[j] + (double)b[j]);
}

__global__ void gelu_kernel(const float *x, float *y, int64_t total, int64_t cols,
                            const float *bias)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        float t = bias ? x[i] + bias[i % cols] : x[i];
        y[i] = 0.5f * t * (1.0f + erff(t * 0.70710678118654752f));
    }
}

// The tanh approximation, the same float expression as lf_enc_gelu's tanh branch.
__global__ void gelu_tanh_kernel(const float *x, float *y, int64_t total, int64_t cols,
                                 const float *bias)
{
    const float k = 0.7978845608028654f; // sqrt(2/pi)
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        float t = bias ? x[i] + bias[i % cols] : x[i];
        y[i] = 0.5f * t * (1.0f + tanhf(k * (t + 0.044715f * t * t * t)));
    }
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
    gelu_kernel<<<(unsigned)blocks, kThreads>>>(x, y, total, cols, bias);
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
    gelu_tanh_kernel<<<(unsigned)blocks, kThreads>>>(x, y, total, cols, bias);
    LF_CUDA_LAUNCHED();
    return 0;
}
