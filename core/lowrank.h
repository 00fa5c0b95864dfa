/* lowrank.h - how well low-rank maps approximate attention: the best rank-k error
 * (Eckart-Young), the Johnson-Lindenstrauss error of the Linformer paper's Theorem 1,
 * and the output error of a Linformer head against standard attention.
 *
 * Matrices are row-major float32; every error is relative (divided by the norm of
 * the exact quantity) and computed in double. An exact quantity of norm zero makes
 * the relative error undefined: the functions then give NaN and return -1 (error
 * set), like lf_sv_cumulative, rather than a number that looks like a result.
 */
#ifndef LF_LOWRANK_H
#define LF_LOWRANK_H

#include <stddef.h>
#include <stdint.h>

#include "projection.h"

/* sum_i x_i^2 in double, i in order. */
double lf_sumsq(const float *x, size_t count);
/* sum_i (x_i - y_i)^2 in double, i in order (float inputs: each difference is exact). */
double lf_sumsq_diff(const float *x, const float *y, size_t count);

/* Best rank-k approximation A_k of a matrix with singular values sv[r] (descending,
 * finite, >= 0: the output of lf_sv_compute), by Eckart-Young-Mirsky:
 *   frob = ||A - A_k||_F / ||A||_F = sqrt(sum_{i >= k} s_i^2 / sum_i s_i^2)
 *   spec = ||A - A_k||_2 / ||A||_2 = s_k / s_0     (0-based; 0 when k >= r)
 * for k >= 0 (k = 0 gives 1 and 1). The tail sum is accumulated from the smallest
 * value up (compensated), not as total minus head, so a tail far below the total
 * keeps its relative accuracy. frob or spec may be NULL. */
int lf_lowrank_best_error(const double *sv, int64_t r, int64_t k, double *frob, double *spec);
/* The same for ks[nk] (any order), into frob[nk] and spec[nk] (either may be NULL);
 * each value is bit-identical to lf_lowrank_best_error for that k. */
int lf_lowrank_best_errors(const double *sv, int64_t r, const int64_t *ks, int64_t nk,
                           double *frob, double *spec);

/* Theorem 1 (Johnson-Lindenstrauss) error of P [m, n]: for trials t = 0..trials-1,
 * R_t [k, n] has i.i.d. N(0, 1/k) entries drawn from lf_rng (seed, stream * trials +
 * t), and
 *   w == NULL:  err_t = ||P R^T R - P||_F / ||P||_F
 *   w [n, dw]:  err_t = ||P R^T R W - P W||_F / ||P W||_F   (W = columns of V W^V)
 * Products are sgemm (float32), norms and differences double. errs[trials] (or NULL)
 * receives every err_t; mean and std (sample, trials - 1; NaN for one trial) are
 * over t in order. Expectations (derived in lowrank.c), with M = R^T R - I:
 *   E ||P M||_F^2   = (n + 1) / k * ||P||_F^2
 *   E ||P M W||_F^2 = (||P W||_F^2 + ||P||_F^2 ||W||_F^2) / k
 * so err^2 is (n + 1) / k on average: the matrix-level error exceeds 1 unless k > n;
 * the theorem's guarantee is per column w, where the ratio is
 * (1 + ||P||_F^2 ||w||^2 / ||P w||^2) / k.
 * Trials run in parallel (OpenMP, serial BLAS inside); results do not depend on the
 * thread count. */
int lf_lowrank_jl_error(const float *p, int64_t m, int64_t n, int64_t k, const float *w,
                        int64_t dw, int64_t trials, uint64_t seed, uint64_t stream, double *errs,
                        double *mean, double *std);

/* Output error of one Linformer head against standard attention:
 *   dense = lf_attention_dense(q, k, v, mask)
 *   lin   = lf_attention_projected(q, E k, F v) with E = e, F = f (lf_proj_apply,
 *           first kp rows; a slot counts when both its key and value saw a token)
 *   err   = ||dense - lin||_F / ||dense||_F   over the rows of real tokens (rows of
 *           padded queries, mask[i] = 0, are not part of the sequence and excluded).
 * q, k: [n, d]; v: [n, dv]; mask: [n] or NULL. e, f: any kind (lf_plan_get), with
 * n <= their n and 1 <= kp <= their k. */
int lf_lowrank_output_error(const float *q, const float *k, const float *v, const uint8_t *mask,
                            int64_t n, int64_t d, int64_t dv, const lf_proj *e, const lf_proj *f,
                            int64_t kp, double *err);

#endif
