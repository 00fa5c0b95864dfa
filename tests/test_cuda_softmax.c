/* test_cuda_softmax.c - the CUDA softmax against the CPU reference lf_softmax_row.
 * Runs where a GPU is present; prints a SKIPPED line otherwise, and then checks the
 * kernel's body run on the host (lf_cuda_emulate.h) the same way.
 * Tolerance: both compute exp in float and sum in double; the GPU's expf and the
 * CPU's polynomial exp differ by a few ulp, so 1e-6 relative + 1e-9 absolute. */
#include <stdlib.h>

#include "check.h"
#include "rng.h"
#include "softmax.h"
#include "test_cuda_util.h"

static void test_softmax_arguments(void)
{
    float dummy = 0;
    CHECK(lf_softmax_rows_cuda(&dummy, &dummy, 0, 5, NULL) == -1);
    CHECK(strstr(lf_error_get(), "bad shape") != NULL);
    CHECK(lf_softmax_rows_cuda(NULL, &dummy, 3, 5, NULL) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
}

static int on_gpu;

/* y = softmax rows of x (host arrays; x == y allowed) on the GPU, or without one by the
 * kernel's body on the host (lf_cuda_emulate.h). */
static int softmax_rows(const float *x, float *y, int64_t rows, int64_t cols, const uint8_t *mask)
{
    if (!on_gpu) return lf_softmax_rows_emulate(x, y, rows, cols, mask);
    const size_t total = (size_t)(rows * cols);
    float *dx = tc_up(x, total, sizeof *x);
    uint8_t *dm = mask ? tc_up(mask, (size_t)cols, 1) : NULL;
    int rc = lf_softmax_rows_cuda(dx, dx, rows, cols, dm);
    if (rc == 0) tc_down(y, dx, total, sizeof *y);
    lf_cuda_free(dx), lf_cuda_free(dm);
    return rc;
}

static void test_softmax_matches_cpu(void)
{
    const int64_t rows = 300, cols = 1031;
    const size_t total = (size_t)(rows * cols);
    float *x = malloc(total * sizeof *x), *ref = malloc(total * sizeof *x);
    float *y = malloc(total * sizeof *x), *y2 = malloc(total * sizeof *x);
    uint8_t *mask = malloc(cols), *none = calloc(cols, 1);
    lf_rng r;
    lf_rng_init(&r, 3, 0);
    lf_rng_fill_normal(&r, x, total, 0.0, 5.0);
    for (int64_t j = 0; j < cols; j++) mask[j] = (j % 7) != 3;
    for (size_t i = 0; i < total; i++) ref[i] = x[i];
    for (int64_t i = 0; i < rows; i++) lf_softmax_row(ref + i * cols, cols, mask);
    memset(y, 0xff, total * sizeof *y);
    CHECK_MSG(softmax_rows(x, y, rows, cols, mask) == 0, "%s", lf_error_get());
    double e = CHECK_ARRAYS("softmax", y, ref, total, 1e-9, 1e-6);
    /* In place (y aliases x) gives the same bits; every key masked gives rows of zeros,
     * as the CPU code. */
    memcpy(y2, x, total * sizeof *y2);
    CHECK(softmax_rows(y2, y2, rows, cols, mask) == 0);
    TC_CHECK_EQUAL("softmax in place", y2, y, total);
    CHECK(softmax_rows(x, y2, rows, cols, none) == 0);
    int zeros = 1;
    for (size_t i = 0; i < total; i++) zeros &= y2[i] == 0.0f;
    CHECK_MSG(zeros, "all-masked rows are not all zeros");
    /* No mask. */
    for (size_t i = 0; i < total; i++) ref[i] = x[i];
    for (int64_t i = 0; i < rows; i++) lf_softmax_row(ref + i * cols, cols, NULL);
    CHECK(softmax_rows(x, y, rows, cols, NULL) == 0);
    double e2 = CHECK_ARRAYS("softmax without mask", y, ref, total, 1e-9, 1e-6);
    check_notef("%smax |gpu - cpu| %.2e", on_gpu ? "" : "emulated: ", e > e2 ? e : e2);
    free(x), free(ref), free(y), free(y2), free(mask), free(none);
}

int main(void)
{
    check_program = "test_cuda_softmax";
    RUN(test_softmax_arguments);
    if (tc_no_gpu(check_program)) {
        RUN(test_softmax_matches_cpu); /* the kernel's body on the host */
        return check_summary();
    }
    on_gpu = 1;
    RUN(test_softmax_matches_cpu);
    lf_cuda_shutdown();
    return check_summary();
}
