/* parallel.c - OpenMP and OpenBLAS thread counts (see parallel.h). */
#include "parallel.h"

#include <cblas.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int lf_nthreads;

static int lf_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void lf_threads_set(int n)
{
    if (n < 1) n = lf_cores();
    lf_nthreads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    /* BLAS stays serial: the library parallelizes with OpenMP (see gemm.h). */
    openblas_set_num_threads(1);
}

void lf_blas_threads_set(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

int lf_threads_get(void)
{
    /* First use without lf_threads_set: every core, serial BLAS. */
    if (lf_nthreads == 0) lf_threads_set(0);
    return lf_nthreads;
}

int lf_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

const char *lf_blas_config(void) { return openblas_get_config(); }
