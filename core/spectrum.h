/* spectrum.h - singular values of attention matrices and what the Linformer paper's
 * Figure 1 makes of them: normalized cumulative curves, the value at an index, and
 * running mean / standard deviation over many matrices.
 *
 * Matrices are row-major float32, m x n; singular values come back as double,
 * descending, r = min(m, n) of them. Three methods (accuracy and speed are analysed
 * in spectrum.c; numbers for 512 x 512 attention matrices on a 2-core AMD EPYC):
 *   LF_SV_GRAM    Gram matrix of the smaller side formed in float64 (dsyrk), its
 *                 eigenvalues (dsyevd, values only), sigma = sqrt(max(lambda, 0)).
 *                 The default: fastest (17.7 ms) and, on attention matrices, within
 *                 ~5e-9 sigma_0 of a float64 SVD (sgesdd is off by up to ~4e-6);
 *                 contract: |sigma_i - ref_i| <= 2 eps32 sigma_0 (eps32 = 2^-23).
 *   LF_SV_SGESDD  LAPACK sgesdd (jobz = 'N') in float32 (20.7 ms); error up to
 *                 ~33 eps32 sigma_0 on attention matrices.
 *   LF_SV_DGESDD  LAPACK dgesdd (jobz = 'N') on a float64 copy: the reference
 *                 (37.7 ms), error ~ n eps64 sigma_0.
 * Every method first drops all-zero rows and columns (padded keys make them): they
 * only add exact zero singular values, which come out as exact zeros, and a padded
 * matrix costs only its nonzero part. Every method runs serial LAPACK/BLAS for one
 * matrix, so results are bit-identical whatever the thread count and whether a
 * matrix is computed alone or in a batch.
 */
#ifndef LF_SPECTRUM_H
#define LF_SPECTRUM_H

#include <stdint.h>

typedef enum { LF_SV_GRAM, LF_SV_SGESDD, LF_SV_DGESDD } lf_sv_method;
#define LF_SV_DEFAULT LF_SV_GRAM

/* "gram", "sgesdd", "dgesdd"; -1 (error set, listing the valid names) otherwise. */
int lf_sv_method_parse(const char *s, lf_sv_method *out);
/* The name above; "unknown" for a value outside the enum. */
const char *lf_sv_method_name(lf_sv_method method);

/* Singular values of one m x n matrix a (row-major, not modified) into
 * sv[min(m, n)], descending, on the calling thread (serial BLAS/LAPACK). m or n = 0
 * is an empty matrix (nothing written). Fails (error set) on a negative or too large
 * size (LAPACK's 32-bit indices), a NaN or infinite entry (naming it), or a LAPACK
 * failure to converge. */
int lf_sv_compute(const float *a, int64_t m, int64_t n, lf_sv_method method, double *sv);

/* count matrices stored one after another (matrix c at a + c m n) into sv[count,
 * min(m, n)]. Parallel across matrices with OpenMP (lf_threads_get threads, serial
 * BLAS inside); each row of sv is bit-identical to lf_sv_compute of that matrix.
 * On failure the error names the lowest failing matrix; sv is then unspecified. */
int lf_sv_batch(const float *a, int64_t count, int64_t m, int64_t n, lf_sv_method method,
                double *sv);

/* Normalization of the cumulative curve. */
typedef enum {
    LF_NORM_SUM,   /* cum[i] = (s_0 + ... + s_i) / sum s       (the paper's Figure 1) */
    LF_NORM_ENERGY /* cum[i] = (s_0^2 + ... + s_i^2) / sum s^2 (captured Frobenius energy) */
} lf_norm;

/* "sum", "energy"; -1 (error set) otherwise. */
int lf_norm_parse(const char *s, lf_norm *out);
const char *lf_norm_name(lf_norm norm);

/* cum[i] for i < r from sv[r] (descending, finite, >= 0; checked). Sums are
 * compensated (Neumaier) in double, so cum[i] is within a few eps64 of the exact
 * ratio; the curve is non-decreasing, ends at exactly 1 and never exceeds it.
 * All-zero sv (a zero matrix): 0/0 is undefined, and any number we picked (a zero
 * curve, a linear ramp) would be a plausible-looking lie that averages silently into
 * a mean curve; cum is filled with NaN and the call returns -1 (error set), so a
 * driver must decide what to do with the matrix. r = 0: nothing written, 0. */
int lf_sv_cumulative(const double *sv, int64_t r, lf_norm norm, double *cum);

/* The curve's value at a 1-based index (1 <= index <= r): the sum of the `index`
 * largest values over the total, e.g. index 128 of 512 is the paper's heatmap value.
 * Bit-identical to cum[index - 1] of lf_sv_cumulative; the same NaN/-1 contract for an
 * all-zero sv, and -1 (error set) for an index outside 1..r. */
int lf_sv_cumulative_at(const double *sv, int64_t r, lf_norm norm, int64_t index, double *value);

/* Running mean and variance of vectors of length len (one curve per matrix),
 * Welford's update; partial states merge with Chan et al.'s pairwise formula.
 * The state is plain data a driver may checkpoint (to HDF5) and restore:
 *   count   vectors added so far,
 *   mean    [len] their mean,
 *   m2      [len] sum of squared deviations from the mean.
 * Sample variance = m2 / (count - 1). For results that do not depend on the thread
 * count, give each worker a fixed slice of the items (not "whatever it picked up")
 * and merge the partial states in slice order: the operations are then the same
 * for any number of threads. */
typedef struct {
    int64_t len;
    int64_t count;
    double *mean; /* [len], owned */
    double *m2;   /* [len], owned */
} lf_welford;

/* Empty state for vectors of length len >= 1; on failure *w is zeroed (safe to free). */
int lf_welford_init(lf_welford *w, int64_t len);
/* Frees the arrays and zeroes *w; safe on a zeroed state and twice. */
void lf_welford_free(lf_welford *w);
/* Adds one vector x[len]. A NaN or infinite element is refused (-1, error set, state
 * unchanged): it would poison every later mean. */
int lf_welford_add(lf_welford *w, const double *x);
/* into += from (same len). Merging an empty state changes nothing; merging into an
 * empty state copies. Merging in a fixed order gives a fixed result. */
int lf_welford_merge(lf_welford *into, const lf_welford *from);
/* Sample standard deviation sqrt(m2 / (count - 1)) into std[len]; with count < 2 it is
 * undefined and std is filled with NaN (return 0: the mean is still valid). */
int lf_welford_std(const lf_welford *w, double *std);
/* Rebuilds a state from a checkpoint: len >= 1, count >= 0, mean and m2 finite, m2 >=
 * 0, and (count == 0 => mean = m2 = 0). Checked; on failure *w is zeroed. */
int lf_welford_restore(lf_welford *w, int64_t len, int64_t count, const double *mean,
                       const double *m2);

#endif
