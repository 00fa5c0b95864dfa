/* test_cuda_util.h - shared by the tests/test_cuda_*.c programs: copies between host and
 * device, the SKIPPED line when there is no GPU, and float error bounds.
 *
 * A failing copy is an infrastructure failure, not a result: the program prints one FAIL
 * line with the library's error and exits 1 (tests/run.sh then counts it as failed). */
#ifndef LF_TEST_CUDA_UTIL_H
#define LF_TEST_CUDA_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lf_cuda.h"
#include "lf_cuda_emulate.h"

/* Unit roundoff of float32 (2^-24). */
#define TC_U32 (1.0 / 16777216.0)

static void tc_fatal(const char *what)
{
    printf("FAIL device setup (%s): %s\n", what, lf_error_get());
    exit(1);
}

/* A device copy of host[n] (n elements of size sz); n = 0 gives NULL. */
__attribute__((unused)) static void *tc_up(const void *host, size_t n, size_t sz)
{
    if (n == 0) return NULL;
    void *d = lf_cuda_alloc(n * sz);
    if (!d || lf_cuda_upload(d, host, n * sz) != 0) tc_fatal("upload");
    return d;
}

/* Uninitialised device array (filled with 0xff bytes, i.e. NaN floats, so that an
 * element the code under test forgets to write cannot pass by luck). */
__attribute__((unused)) static void *tc_dev(size_t n, size_t sz)
{
    void *h = malloc(n * sz);
    if (!h) tc_fatal("host buffer");
    memset(h, 0xff, n * sz);
    void *d = tc_up(h, n, sz);
    free(h);
    return d;
}

/* Waits for the device, then host[n] = dev[n]; a kernel fault fails the program. */
__attribute__((unused)) static void tc_down(void *host, const void *dev, size_t n, size_t sz)
{
    if (lf_cuda_sync() != 0 || lf_cuda_download(host, dev, n * sz) != 0) tc_fatal("download");
}

/* Largest |a_i - b_i| / bound_i over n elements must be <= 1 (bound_i > 0); prints the
 * worst element on failure. Returns the largest ratio (NaN counts as infinite). */
__attribute__((unused)) static double tc_check_bounded(const char *file, int line, const char *what,
                                                       const float *a, const double *ref,
                                                       const double *bound, size_t n)
{
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - ref[i]) / bound[i];
        if (!(r <= worst)) {
            worst = isnan(r) ? INFINITY : r;
            wi = i;
        }
    }
    if (!(worst <= 1.0))
        check_fail(file, line, "%s: element %zu: %.9g vs %.12g, |diff| %.3g > bound %.3g", what, wi,
                   (double)a[wi], ref[wi], fabs((double)a[wi] - ref[wi]), bound[wi]);
    return worst;
}
#define TC_CHECK_BOUNDED(what, a, ref, bound, n)                                                   \
    tc_check_bounded(__FILE__, __LINE__, what, a, ref, bound, n)

/* Exact equality of n floats (== per element, so +0 equals -0; NaN equals nothing);
 * prints the first mismatch. (CHECK_ARRAYS with zero tolerances divides 0 by 0.) */
__attribute__((unused)) static void tc_check_equal(const char *file, int line, const char *what,
                                                   const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i])) {
            check_fail(file, line, "%s: element %zu: %.9g vs %.9g (exact equality expected)", what,
                       i, (double)a[i], (double)b[i]);
            return;
        }
}
#define TC_CHECK_EQUAL(what, a, b, n) tc_check_equal(__FILE__, __LINE__, what, a, b, n)

/* 1 (after printing the SKIPPED line of tests/run.sh's convention) when there is no GPU. */
__attribute__((unused)) static int tc_no_gpu(const char *program)
{
    if (lf_cuda_device_count() > 0) {
        printf("device: %s\n", lf_cuda_device_name());
        return 0;
    }
    printf("SKIPPED %s: no CUDA device; no GPU result was checked (only argument checks, "
           "the references and bounds on the CPU twins, and host emulations of kernel bodies)\n",
           program);
    return 1;
}

#endif
