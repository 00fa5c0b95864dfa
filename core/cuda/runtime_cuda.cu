// runtime_cuda.cu - the CUDA backend's device queries, device memory (with the bytes in
// use, their high-water mark and a budget, as mem.h for host memory) and copies, the
// process-wide cuBLAS / cuSOLVER handles and the status names used in error messages.
#include <stdio.h>

#include <mutex>
#include <unordered_map>

#include "cuda_util.h"

extern "C" int lf_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // clear the "no device / no driver" error: not a failure here
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

// ---- accounting of lf_cuda_alloc (mem.h's counters, for device memory) ----------------
// The size of every live allocation, so that a free can be subtracted; a host-side map
// (device memory cannot carry a header the host reads). One host thread at a time uses
// the backend (lf_cuda.h); the mutex only keeps the counters consistent if that is broken.
static std::mutex lf_dev_lock;
static std::unordered_map<void *, size_t> *lf_dev_sizes;
static size_t lf_dev_current, lf_dev_peak, lf_dev_limit, lf_dev_failures;

extern "C" void *lf_cuda_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) return NULL;
    {
        std::lock_guard<std::mutex> g(lf_dev_lock);
        if (lf_dev_limit && (bytes > lf_dev_limit || lf_dev_current > lf_dev_limit - bytes)) {
            lf_dev_failures++;
            lf_error_set("device memory budget of %zu bytes exceeded: %zu in use, %zu more "
                         "requested (%.1f MiB)",
                         lf_dev_limit, lf_dev_current, bytes, (double)bytes / 1048576.0);
            return NULL;
        }
    }
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        cudaGetLastError(); // an allocation failure is not sticky; clear it
        std::lock_guard<std::mutex> g(lf_dev_lock);
        if (err == cudaErrorMemoryAllocation) lf_dev_failures++;
        lf_error_set("cudaMalloc(%zu bytes = %.1f MiB): %s", bytes, (double)bytes / 1048576.0,
                     cudaGetErrorString(err));
        return NULL;
    }
    std::lock_guard<std::mutex> g(lf_dev_lock);
    try {
        if (!lf_dev_sizes) lf_dev_sizes = new std::unordered_map<void *, size_t>();
        (*lf_dev_sizes)[p] = bytes;
    } catch (...) {
        cudaFree(p);
        lf_dev_failures++;
        lf_error_set("lf_cuda_alloc: out of host memory for the allocation table");
        return NULL;
    }
    lf_dev_current += bytes;
    if (lf_dev_current > lf_dev_peak) lf_dev_peak = lf_dev_current;
    return p;
}

// Removes p from the table (a pointer not from lf_cuda_alloc is not counted).
static void lf_dev_forget(void *p)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    if (!lf_dev_sizes) return;
    auto it = lf_dev_sizes->find(p);
    if (it == lf_dev_sizes->end()) return;
    lf_dev_current -= it->second;
    lf_dev_sizes->erase(it);
}

extern "C" size_t lf_cuda_mem_current(void)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    return lf_dev_current;
}

extern "C" size_t lf_cuda_mem_peak(void)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    return lf_dev_peak;
}

extern "C" void lf_cuda_mem_peak_reset(void)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    lf_dev_peak = lf_dev_current;
}

extern "C" void lf_cuda_mem_limit_set(size_t bytes)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    lf_dev_limit = bytes;
}

extern "C" size_t lf_cuda_mem_limit(void)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    return lf_dev_limit;
}

extern "C" size_t lf_cuda_mem_failures(void)
{
    std::lock_guard<std::mutex> g(lf_dev_lock);
    return lf_dev_failures;
}

extern "C" void lf_cuda_free(void *p)
{
    if (!p) return;
    // Wait for queued work that may still read or write p. Neither call is checked: a
    // free has no way to report, and a fault of earlier work stays sticky and is
    // reported by the next checked call (lf_cuda_release checks the wait).
    cudaDeviceSynchronize();
    cudaFree(p);
    lf_dev_forget(p);
}

int lf_cuda_release(void *p)
{
    if (!p) return 0;
    cudaError_t err = cudaDeviceSynchronize();
    cudaFree(p);
    lf_dev_forget(p);
    if (err != cudaSuccess) {
        lf_error_set("cudaDeviceSynchronize before freeing a temporary: %s", cudaGetErrorString(err));
        return -1;
    }
    return 0;
}

extern "C" int lf_cuda_upload(void *dev, const void *host, size_t bytes)
{
    if (bytes == 0) return 0;
    if (!dev || !host) LF_FAIL("lf_cuda_upload: NULL pointer");
    LF_CUDA_CHECK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
    return 0;
}

extern "C" int lf_cuda_download(void *host, const void *dev, size_t bytes)
{
    if (bytes == 0) return 0;
    if (!dev || !host) LF_FAIL("lf_cuda_download: NULL pointer");
    LF_CUDA_CHECK(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
    return 0;
}

extern "C" int lf_cuda_sync(void)
{
    LF_CUDA_CHECK(cudaDeviceSynchronize());
    return 0;
}

extern "C" int lf_cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    size_t f = 0, t = 0;
    LF_CUDA_CHECK(cudaMemGetInfo(&f, &t));
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
    return 0;
}

static cublasHandle_t lf_blas_handle;
static cusolverDnHandle_t lf_solver_handle;

cublasHandle_t lf_cuda_blas(void)
{
    if (!lf_blas_handle) {
        cublasStatus_t st = cublasCreate(&lf_blas_handle);
        if (st != CUBLAS_STATUS_SUCCESS) {
            lf_blas_handle = NULL;
            lf_error_set("cublasCreate: %s", lf_cublas_status_name(st));
            return NULL;
        }
    }
    return lf_blas_handle;
}

cusolverDnHandle_t lf_cuda_solver(void)
{
    if (!lf_solver_handle) {
        cusolverStatus_t st = cusolverDnCreate(&lf_solver_handle);
        if (st != CUSOLVER_STATUS_SUCCESS) {
            lf_solver_handle = NULL;
            lf_error_set("cusolverDnCreate: %s", lf_cusolver_status_name(st));
            return NULL;
        }
    }
    return lf_solver_handle;
}

extern "C" void lf_cuda_shutdown(void)
{
    if (lf_blas_handle) cublasDestroy(lf_blas_handle);
    if (lf_solver_handle) cusolverDnDestroy(lf_solver_handle);
    lf_blas_handle = NULL;
    lf_solver_handle = NULL;
}

const char *lf_cublas_status_name(cublasStatus_t s)
{
    // cublasGetStatusString exists since CUDA 11.4; it names every status.
    return cublasGetStatusString(s);
}

const char *lf_cusolver_status_name(cusolverStatus_t s)
{
    switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default: return "cuSOLVER error";
    }
}
