/* test_cuda_softmax.c - the CUDA softmax against the CPU reference lf_softmax_row.
 * Runs where a GPU is present; prints a SKIPPED line (and counts nothing) otherwise.
 * Tolerance: both compute exp in float and sum in double; the GPU's expf and the
 * CPU's polynomial exp differ by a few ulp, so 1e-6 relative + 1e-9 absolute. */
#include <stdlib.h>

#include "check.h"
#include "lf_cuda.h"
#include "rng.h"
#include "softmax.h"

static void test_softmax_matches_cpu(void)
{
    const int64_t rows = 300, cols = 1031;
    float *x = malloc(rows * cols * sizeof *x), *ref = malloc(rows * cols * sizeof *x);
    float *y = malloc(rows * cols * sizeof *x);
    uint8_t *mask = malloc(cols);
    lf_rng r;
    lf_rng_init(&r, 3, 0);
    lf_rng_fill_normal(&r, x, (size_t)(rows * cols), 0.0, 5.0);
    for (int64_t j = 0; j < cols; j++) mask[j] = (j % 7) != 3;
    for (int64_t i = 0; i < rows * cols; i++) ref[i] = x[i];
    for (int64_t i = 0; i < rows; i++) lf_softmax_row(ref + i * cols, cols, mask);
    CHECK(lf_softmax_rows_cuda(x, y, rows, cols, mask) == 0);
    double e = CHECK_ARRAYS("softmax", y, ref, (size_t)(rows * cols), 1e-9, 1e-6);
    check_notef("max |gpu - cpu| %.2e", e);
    free(x), free(ref), free(y), free(mask);
}

int main(void)
{
    check_program = "test_cuda_softmax";
    if (lf_cuda_device_count() == 0) {
        printf("SKIPPED test_cuda_softmax: no CUDA device\n");
        return check_summary();
    }
    printf("device: %s\n", lf_cuda_device_name());
    RUN(test_softmax_matches_cpu);
    return check_summary();
}
