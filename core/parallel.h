/* parallel.h - thread control for OpenMP regions and the BLAS library.
 *
 * The library parallelizes over independent items (heads, row blocks, matrices,
 * panels of a product) with OpenMP and keeps BLAS single-threaded: OpenBLAS's
 * pthread workers busy-wait after each call and would steal the cores of the
 * OpenMP threads. Results are deterministic for a given thread count.
 */
#ifndef LF_PARALLEL_H
#define LF_PARALLEL_H

/* Sets the OpenMP thread count (n < 1: all available cores) and makes BLAS serial. */
void lf_threads_set(int n);
/* The thread count (lf_threads_set(0) on first use). */
int lf_threads_get(void);
/* Multi-threaded BLAS, for baselines in benchmarks only. */
void lf_blas_threads_set(int n);

/* Index of the calling thread within an OpenMP region (0 outside). */
int lf_thread_id(void);

/* Short description of the BLAS library in use (OpenBLAS config string). */
const char *lf_blas_config(void);

#endif
