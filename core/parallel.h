/* parallel.h - thread control for OpenMP regions and the BLAS library.
 *
 * The library parallelizes over independent items (heads, row blocks, matrices)
 * with OpenMP and calls single-threaded BLAS inside those regions; outside them
 * BLAS may use all threads. lf_threads_set fixes both counts; results are
 * deterministic for a given thread count.
 */
#ifndef LF_PARALLEL_H
#define LF_PARALLEL_H

/* Sets the thread count for OpenMP and BLAS; n < 1 means all available cores. */
void lf_threads_set(int n);
int lf_threads_get(void);

/* Around an OpenMP region whose threads call BLAS: makes BLAS single-threaded and
 * returns the previous BLAS thread count for lf_blas_threads_restore. Called from
 * inside a parallel region it does nothing (returns -1; restore(-1) is a no-op). */
int lf_blas_serial_begin(void);
void lf_blas_threads_restore(int previous);

/* Index of the calling thread within an OpenMP region (0 outside). */
int lf_thread_id(void);

/* Short description of the BLAS library in use (OpenBLAS config string). */
const char *lf_blas_config(void);

#endif
