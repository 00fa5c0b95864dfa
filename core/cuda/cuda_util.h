// cuda_util.h - internal to core/cuda: checked-call macros for CUDA, cuBLAS and cuSOLVER
// that set the library's error (error.h) with file, line, the call and the library's
// message, and the process-wide handles. Not part of the C interface (lf_cuda.h).
#ifndef LF_CUDA_UTIL_H
#define LF_CUDA_UTIL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <math.h>

extern "C" {
#include "error.h"
}
#include "lf_cuda.h"
#include "lf_cuda_emulate.h"

const char *lf_cublas_status_name(cublasStatus_t s);
const char *lf_cusolver_status_name(cusolverStatus_t s);

// lf_cuda_free with its wait checked: for temporaries on success paths, so that a fault
// of the work that used them is reported by the function itself; -1 (error set) if the
// wait reports one. NULL does nothing.
int lf_cuda_release(void *p);

// The process's handles, created on first use; NULL (error set) on failure.
cublasHandle_t lf_cuda_blas(void);
cusolverDnHandle_t lf_cuda_solver(void);

// Checked calls that return -1 from the enclosing function on failure.
#define LF_CUDA_CHECK(call)                                                                        \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            lf_error_set("%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(err_));    \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
#define LF_CUBLAS_CHECK(call)                                                                      \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                        \
            lf_error_set("%s:%d: %s: %s", __FILE__, __LINE__, #call, lf_cublas_status_name(st_));  \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

// The same, jumping to the enclosing function's `fail:` label (to free temporaries).
#define LF_CUDA_TRY(call)                                                                          \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            lf_error_set("%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(err_));    \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define LF_CUBLAS_TRY(call)                                                                        \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                        \
            lf_error_set("%s:%d: %s: %s", __FILE__, __LINE__, #call, lf_cublas_status_name(st_));  \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define LF_CUSOLVER_TRY(call)                                                                      \
    do {                                                                                           \
        cusolverStatus_t st_ = (call);                                                             \
        if (st_ != CUSOLVER_STATUS_SUCCESS) {                                                      \
            lf_error_set("%s:%d: %s: %s", __FILE__, __LINE__, #call,                               \
                         lf_cusolver_status_name(st_));                                            \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
// A library function of this backend that already set the error.
#define LF_CUDA_PROPAGATE(call)                                                                    \
    do {                                                                                           \
        if ((call) != 0) goto fail;                                                                \
    } while (0)

// Launch check: a bad configuration is reported by cudaGetLastError right away.
#define LF_CUDA_LAUNCHED() LF_CUDA_CHECK(cudaGetLastError())
#define LF_CUDA_LAUNCHED_TRY() LF_CUDA_TRY(cudaGetLastError())

// Which thread of which block runs a kernel body: on the device the CUDA indices; in a
// host emulation (lf_cuda_emulate.h) one thread per block, nthreads = 1, so every loop
// strided by nthreads covers all its elements and barriers are no-ops. Kernel bodies
// written this way are the same source on the device and in the tests without a GPU.
struct lf_blk {
    int tid, nthreads; // nthreads: a power of two
    int64_t bx, by;
};
#ifdef __CUDA_ARCH__
#define LF_SYNC() __syncthreads()
#else
#define LF_SYNC() ((void)0)
#endif
// The executing thread, inside a __global__ function.
#define LF_BLK() lf_blk{(int)threadIdx.x, (int)blockDim.x, (int64_t)blockIdx.x, (int64_t)blockIdx.y}

struct lf_op_max {
    __host__ __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct lf_op_add {
    __host__ __device__ double operator()(double a, double b) const { return a + b; }
};

// Tree reduction of v over the block's threads into every thread; red holds nthreads
// values. Ends with a barrier, so red can be reused at once.
template <typename T, typename Op>
__host__ __device__ static inline T lf_block_reduce(const lf_blk &b, T v, T *red, Op op)
{
    red[b.tid] = v;
    LF_SYNC();
    for (int s = b.nthreads / 2; s > 0; s >>= 1) {
        if (b.tid < s) red[b.tid] = op(red[b.tid], red[b.tid + s]);
        LF_SYNC();
    }
    T r = red[0];
    LF_SYNC();
    return r;
}

// Grid size for n items in blocks of `threads` (n > 0, fits the grid's x limit).
static inline unsigned lf_cuda_blocks(int64_t n, int threads)
{
    return (unsigned)((n + threads - 1) / threads);
}

#endif
