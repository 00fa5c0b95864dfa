// softmax_cuda.cu - row softmax on the GPU (twin of lf_softmax_row in core/softmax.c).
#include <math.h>

#include "cuda_util.h"

static const int kThreads = 256;

// One block per row: block-wide max, then exp and a double sum, then scale.
__global__ void softmax_rows_kernel(const float *x, float *y, int64_t cols, const uint8_t *mask)
{
    __shared__ float smax[kThreads];
    __shared__ double ssum[kThreads];
    const float *row = x + (int64_t)blockIdx.x * cols;
    float *out = y + (int64_t)blockIdx.x * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        if (!mask || mask[j]) m = fmaxf(m, row[j]);
    smax[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) smax[threadIdx.x] = fmaxf(smax[threadIdx.x], smax[threadIdx.x + s]);
        __syncthreads();
    }
    m = smax[0];
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        float e = (m == -INFINITY || (mask && !mask[j])) ? 0.0f : expf(row[j] - m);
        out[j] = e;
        sum += e;
    }
    ssum[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) ssum[threadIdx.x] += ssum[threadIdx.x + s];
        __syncthreads();
    }
    float inv = ssum[0] > 0.0 ? (float)(1.0 / ssum[0]) : 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[j] *= inv;
}

extern "C" int lf_softmax_rows_cuda(const float *x, float *y, int64_t rows, int64_t cols,
                                    const uint8_t *mask)
{
    if (rows < 1 || cols < 1 || rows > INT32_MAX)
        LF_FAIL("lf_softmax_rows_cuda: bad shape %lld x %lld", (long long)rows, (long long)cols);
    if (!x || !y) LF_FAIL("lf_softmax_rows_cuda: NULL input or output");
    softmax_rows_kernel<<<(unsigned)rows, kThreads>>>(x, y, cols, mask);
    LF_CUDA_LAUNCHED();
    return 0;
}
