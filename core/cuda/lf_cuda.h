/* lf_cuda.h - the CUDA backend's C interface (the .cu files of core/cuda): the same operations as
 * the CPU library with a _cuda suffix. Built only when nvcc is found (NO_CUDA=1 turns
 * it off); the CPU build never needs it.
 *
 * Functions take host pointers for now and return 0 on success, -1 on failure with
 * the library error set (error.h), naming the CUDA call that failed.
 */
#ifndef LF_CUDA_H
#define LF_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 when there is no GPU or no driver (not an error). */
int lf_cuda_device_count(void);
/* Name of device 0 (or "none"). */
const char *lf_cuda_device_name(void);

/* Row softmax as lf_softmax_row, for rows x cols row-major x -> y (may alias);
 * mask [cols] or NULL. One block per row, float32 values with a double sum. */
int lf_softmax_rows_cuda(const float *x, float *y, int64_t rows, int64_t cols, const uint8_t *mask);

#ifdef __cplusplus
}
#endif

#endif
