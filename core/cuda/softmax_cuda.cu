// softmax_cuda.cu - row softmax on the GPU (twin of lf_softmax_row in core/softmax.c)
// and the backend's device queries. Every CUDA call is checked and reported through
// the library's error string with the call site.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

extern "C" {
#include "error.h"
}
#include "lf_cuda.h"

#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            lf_error_set("%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(err_));    \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static const int kThreads = 256;

// One block per row: block-wide max, then exp and a double sum, then scale.
__global__ void softmax_rows_kernel(const float *x, float *y, int64_t cols, const uint8_t *mask)
{
    __shared__ float smax[kThreads];
    __shared__ double ssum[kThreads];
    const float *row = x + blockIdx.x * cols;
    float *out = y + blockIdx.x * cols;
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

extern "C" int lf_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // clear the sticky "no device" error
        return 0;
    }
    return n;
}

extern "C" const char *lf_cuda_device_name(void)
{
    static char name[256] = "none";
    cudaDeviceProp prop;
    if (lf_cuda_device_count() > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        snprintf(name, sizeof name, "%s", prop.name);
    return name;
}

extern "C" int lf_softmax_rows_cuda(const float *x, float *y, int64_t rows, int64_t cols,
                                    const uint8_t *mask)
{
    float *dx = NULL;
    uint8_t *dm = NULL;
    size_t bytes = (size_t)rows * (size_t)cols * sizeof(float);
    if (rows < 1 || cols < 1 || rows > INT32_MAX) {
        lf_error_set("lf_softmax_rows_cuda: bad shape %lld x %lld", (long long)rows, (long long)cols);
        return -1;
    }
    CUDA_TRY(cudaMalloc(&dx, bytes));
    CUDA_TRY(cudaMemcpy(dx, x, bytes, cudaMemcpyHostToDevice));
    if (mask) {
        CUDA_TRY(cudaMalloc(&dm, (size_t)cols));
        CUDA_TRY(cudaMemcpy(dm, mask, (size_t)cols, cudaMemcpyHostToDevice));
    }
    softmax_rows_kernel<<<(unsigned)rows, kThreads>>>(dx, dx, cols, dm);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaMemcpy(y, dx, bytes, cudaMemcpyDeviceToHost));
    cudaFree(dm);
    cudaFree(dx);
    return 0;
fail:
    cudaFree(dm);
    cudaFree(dx);
    return -1;
}
