// softmax_cuda.cu - row softmax on the GPU (twin of lf_softmax_row in core/softmax.c).
#include <math.h>
#include <stdlib.h>

#include "cuda_util.h"

static const int kThreads = 256; // a power of two (tree reductions)

// One block per row: block-wide max, then exp and a double sum, then scale. y may
// alias x: every thread reads and writes only its own elements after the max.
__host__ __device__ static void softmax_body(const lf_blk b, float *smax, double *ssum,
                                             const float *x, float *y, int64_t cols,
                                             const uint8_t *mask)
{
    const float *row = x + b.bx * cols;
    float *out = y + b.bx * cols;
    float m = -INFINITY;
    for (int64_t j = b.tid; j < cols; j += b.nthreads)
        if (!mask || mask[j]) m = fmaxf(m, row[j]);
    m = lf_block_reduce(b, m, smax, lf_op_max());
    double sum = 0.0;
    for (int64_t j = b.tid; j < cols; j += b.nthreads) {
        float e = (m == -INFINITY || (mask && !mask[j])) ? 0.0f : expf(row[j] - m);
        out[j] = e;
        sum += e;
    }
    sum = lf_block_reduce(b, sum, ssum, lf_op_add());
    float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    for (int64_t j = b.tid; j < cols; j += b.nthreads) out[j] *= inv;
}

__global__ void softmax_rows_kernel(const float *x, float *y, int64_t cols, const uint8_t *mask)
{
    __shared__ float smax[kThreads];
    __shared__ double ssum[kThreads];
    softmax_body(LF_BLK(), smax, ssum, x, y, cols, mask);
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

extern "C" int lf_softmax_rows_emulate(const float *x, float *y, int64_t rows, int64_t cols,
                                       const uint8_t *mask)
{
    if (rows < 1 || cols < 1 || !x || !y) LF_FAIL("lf_softmax_rows_emulate: bad arguments");
    float smax[1];
    double ssum[1];
    for (int64_t r = 0; r < rows; r++) softmax_body(lf_blk{0, 1, r, 0}, smax, ssum, x, y, cols, mask);
    return 0;
}
