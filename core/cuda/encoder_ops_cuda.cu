// encoder_ops_cuda.cu - the data movement and element-wise steps of an encoder layer on
// the GPU (the CPU encoder does them inline in core/encoder.c): bias and residual adds,
// and the split of the fused projection into per-head tensors (B, H, n, D) and back.
#include "cuda_util.h"

static const int kThreads = 256;

static unsigned grid_for(int64_t total)
{
    int64_t b = (total + kThreads - 1) / kThreads;
    return (unsigned)(b > 65535 ? 65535 : b < 1 ? 1 : b);
}

// Element bodies, shared by the kernels and the host emulation.
__host__ __device__ static inline void bias_residual_body(int64_t e, float *y, int64_t cols,
                                                          const float *bias, const float *residual)
{
    float t = y[e];
    if (bias) t = t + bias[e % cols];
    if (residual) t = t + residual[e];
    y[e] = t;
}

// Element e of the (B, H, n, D) tensor <-> its place in the rows of x (leading dimension
// ldx, head h in columns h D ..): out[((b H + h) n + i) D + c] = x[(b n + i) ldx + h D + c].
__host__ __device__ static inline int64_t head_to_row(int64_t e, int64_t n, int64_t H, int64_t D,
                                                      int64_t ldx)
{
    int64_t c = e % D, t = e / D;
    int64_t i = t % n;
    t /= n;
    int64_t h = t % H, b = t / H;
    return (b * n + i) * ldx + h * D + c;
}

__global__ void add_bias_residual_kernel(float *y, int64_t total, int64_t cols, const float *bias,
                                         const float *residual)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x)
        bias_residual_body(e, y, cols, bias, residual);
}

__global__ void split_heads_kernel(const float *x, int64_t ldx, int64_t n, int64_t H, int64_t D,
                                   int64_t total, float *out)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x)
        out[e] = x[head_to_row(e, n, H, D, ldx)];
}

__global__ void merge_heads_kernel(const float *in, int64_t n, int64_t H, int64_t D, int64_t total,
                                   float *x, int64_t ldx)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x)
        x[head_to_row(e, n, H, D, ldx)] = in[e];
}

extern "C" int lf_add_bias_residual_cuda(float *y, int64_t rows, int64_t cols, const float *bias,
                                         const float *residual)
{
    if (rows < 1 || cols < 1 || rows > INT64_MAX / cols)
        LF_FAIL("lf_add_bias_residual_cuda: bad shape %lld x %lld", (long long)rows, (long long)cols);
    if (!y) LF_FAIL("lf_add_bias_residual_cuda: NULL output");
    if (!bias && !residual) return 0;
    add_bias_residual_kernel<<<grid_for(rows * cols), kThreads>>>(y, rows * cols, cols, bias,
                                                                  residual);
    LF_CUDA_LAUNCHED();
    return 0;
}

static int lf_heads_check(const char *fn, const void *a, const void *b, int64_t ldx, int64_t B,
                          int64_t n, int64_t H, int64_t D)
{
    if (B < 1 || n < 1 || H < 1 || D < 1)
        LF_FAIL("%s: sizes must be positive (B=%lld n=%lld H=%lld D=%lld)", fn, (long long)B,
                (long long)n, (long long)H, (long long)D);
    if (H > INT64_MAX / D || ldx < H * D)
        LF_FAIL("%s: leading dimension %lld below H D = %lld x %lld", fn, (long long)ldx,
                (long long)H, (long long)D);
    if (B > INT64_MAX / n || B * n > INT64_MAX / ldx) LF_FAIL("%s: sizes overflow", fn);
    if (!a || !b) LF_FAIL("%s: NULL input or output", fn);
    return 0;
}

extern "C" int lf_split_heads_cuda(const float *x, int64_t ldx, int64_t B, int64_t n, int64_t H,
                                   int64_t D, float *out)
{
    LF_TRY(lf_heads_check("lf_split_heads_cuda", x, out, ldx, B, n, H, D));
    const int64_t total = B * n * H * D;
    split_heads_kernel<<<grid_for(total), kThreads>>>(x, ldx, n, H, D, total, out);
    LF_CUDA_LAUNCHED();
    return 0;
}

extern "C" int lf_merge_heads_cuda(const float *in, int64_t B, int64_t n, int64_t H, int64_t D,
                                   float *x, int64_t ldx)
{
    LF_TRY(lf_heads_check("lf_merge_heads_cuda", in, x, ldx, B, n, H, D));
    const int64_t total = B * n * H * D;
    merge_heads_kernel<<<grid_for(total), kThreads>>>(in, n, H, D, total, x, ldx);
    LF_CUDA_LAUNCHED();
    return 0;
}

extern "C" int lf_add_bias_residual_emulate(float *y, int64_t rows, int64_t cols, const float *bias,
                                            const float *residual)
{
    if (rows < 1 || cols < 1 || !y) LF_FAIL("lf_add_bias_residual_emulate: bad arguments");
    for (int64_t e = 0; e < rows * cols; e++) bias_residual_body(e, y, cols, bias, residual);
    return 0;
}

extern "C" int lf_split_heads_emulate(const float *x, int64_t ldx, int64_t B, int64_t n, int64_t H,
                                      int64_t D, float *out)
{
    LF_TRY(lf_heads_check("lf_split_heads_emulate", x, out, ldx, B, n, H, D));
    for (int64_t e = 0; e < B * n * H * D; e++) out[e] = x[head_to_row(e, n, H, D, ldx)];
    return 0;
}

extern "C" int lf_merge_heads_emulate(const float *in, int64_t B, int64_t n, int64_t H, int64_t D,
                                      float *x, int64_t ldx)
{
    LF_TRY(lf_heads_check("lf_merge_heads_emulate", in, x, ldx, B, n, H, D));
    for (int64_t e = 0; e < B * n * H * D; e++) x[head_to_row(e, n, H, D, ldx)] = in[e];
    return 0;
}
