/* test_cuda_softmax.c - the CUDA softmax against the CPU reference lf_softmax_row.
 * Runs where a GPU is present; prints a SKIPPED line otherwise (argument checks still run).
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
    float *dx = tc_up(x, total, sizeof *x), *dy = tc_dev(total, sizeof *x);
    uint8_t *dm = tc_up(mask, (size_t)cols, 1), *dnone = tc_up(none, (size_t)cols, 1);
    CHECK(lf_softmax_rows_cuda(dx, dy, rows, cols, dm) == 0);
    tc_down(y, dy, total, sizeof *y);
    double e = CHECK_ARRAYS("softmax", y, ref, total, 1e-9, 1e-6);
    /* In place (y aliases x), and every key masked: rows of zeros as the CPU code. */
    CHECK(lf_softmax_rows_cuda(dx, dx, rows, cols, dm) == 0);
    tc_down(y2, dx, total, sizeof *y2);
    TC_CHECK_EQUAL("softmax in place", y2, y, total);
    CHECK(lf_softmax_rows_cuda(dy, dy, rows, cols, dnone) == 0);
    tc_down(y2, dy, total, sizeof *y2);
    int zeros = 1;
    for (size_t i = 0; i < total; i++) zeros &= y2[i] == 0.0f;
    CHECK_MSG(zeros, "all-masked rows are not all zeros");
    check_notef("max |gpu - cpu| %.2e", e);
    lf_cuda_free(dx), lf_cuda_free(dy), lf_cuda_free(dm), lf_cuda_free(dnone);
    free(x), free(ref), free(y), free(y2), free(mask), free(none);
}

int main(void)
{
    check_program = "test_cuda_softmax";
    RUN(test_softmax_arguments);
    if (tc_no_gpu(check_program)) return check_summary();
    RUN(test_softmax_matches_cpu);
    lf_cuda_shutdown();
    return check_summary();
}
