/* lowrank.c - best rank-k error from singular values, the Theorem-1 (JL) error of
 * random Gaussian maps, and the output error of a Linformer head (see lowrank.h).
 *
 * Expectation of the JL error. Let G = sqrt(k) R, a k x n matrix of i.i.d. N(0, 1)
 * entries with rows g_l, so R^T R = (1/k) sum_l g_l g_l^T and E[R^T R] = I. For a
 * fixed symmetric n x n matrix A, Isserlis' theorem (E[g_a g_b g_c g_d] = d_ab d_cd +
 * d_ac d_bd + d_ad d_bc) gives E[g g^T A g g^T] = 2 A + tr(A) I, while independent rows
 * give E[g_l g_l^T A g_j g_j^T] = A for l != j. Summing the k^2 pairs:
 *   E[R^T R A R^T R] = (k (k - 1) A + k (2 A + tr(A) I)) / k^2 = (k + 1)/k A + tr(A)/k I.
 * With M = R^T R - I:  E[M A M] = E[R^T R A R^T R] - A - A + A = (A + tr(A) I) / k.
 * Taking A = P^T P:
 *   E ||P M W||_F^2 = tr(W^T E[M P^T P M] W) = (||P W||_F^2 + ||P||_F^2 ||W||_F^2) / k,
 * and W = I_n gives E ||P M||_F^2 = (||P||_F^2 + n ||P||_F^2) / k = (n + 1)/k ||P||_F^2.
 * (Check with n = 1: M = chi2_k / k - 1 has variance 2/k = (n + 1)/k.) The tests
 * compare the mean of err^2 with these closed forms.
 */
#include "lowrank.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.h"
#include "error.h"
#include "gemm.h"
#include "mem.h"
#include "parallel.h"
#include "rng.h"

/* ---- Eckart-Young ------------------------------------------------------------ */

int lf_lowrank_best_errors(const double *sv, int64_t r, const int64_t *ks, int64_t nk,
                           double *frob, double *spec)
{
    if (r < 1) LF_FAIL("best rank-k error: %lld singular values (need >= 1)", (long long)r);
    if (nk < 0) LF_FAIL("best rank-k error: negative number of k (%lld)", (long long)nk);
    if (!sv || (nk > 0 && !ks)) LF_FAIL("best rank-k error: NULL singular values or k list");
    for (int64_t j = 0; j < nk; j++)
        if (ks[j] < 0) LF_FAIL("best rank-k error: k = %lld (need >= 0)", (long long)ks[j]);
    for (int64_t i = 0; i < r; i++) {
        if (!(sv[i] >= 0) || isinf(sv[i]))
            LF_FAIL("best rank-k error: singular value %lld is %g (need finite, >= 0)",
                    (long long)i, sv[i]);
        if (i > 0 && sv[i] > sv[i - 1])
            LF_FAIL("best rank-k error: singular values not descending at index %lld",
                    (long long)i);
    }
    if (sv[0] == 0) {
        for (int64_t j = 0; j < nk; j++) {
            if (frob) frob[j] = NAN;
            if (spec) spec[j] = NAN;
        }
        LF_FAIL("best rank-k error: all singular values are zero (zero matrix): the relative "
                "error is undefined (NaN)");
    }
    /* tail[i] = sum_{j >= i} (s_j / 2^e)^2, from the smallest up: a tail many orders
     * below the total keeps its own relative accuracy (total - head would cancel).
     * The power-of-two scale is exact and keeps squares in range. */
    double *tail = lf_alloc((size_t)r + 1, sizeof(double));
    if (!tail) return -1;
    int e = ilogb(sv[0]);
    double s = 0, c = 0;
    tail[r] = 0;
    for (int64_t i = r - 1; i >= 0; i--) {
        double x = ldexp(sv[i], -e);
        x *= x;
        double t = s + x; /* Neumaier */
        c += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
        tail[i] = s + c;
    }
    for (int64_t j = 0; j < nk; j++) {
        int64_t k = ks[j];
        if (frob) frob[j] = k >= r ? 0.0 : sqrt(tail[k] / tail[0]);
        if (spec) spec[j] = k >= r ? 0.0 : sv[k] / sv[0];
    }
    lf_free(tail);
    return 0;
}

int lf_lowrank_best_error(const double *sv, int64_t r, int64_t k, double *frob, double *spec)
{
    return lf_lowrank_best_errors(sv, r, &k, 1, frob, spec);
}

/* ---- Theorem 1: JL error ----------------------------------------------------- */

double lf_sumsq(const float *x, size_t count)
{
    double s = 0;
    for (size_t i = 0; i < count; i++) s += (double)x[i] * (double)x[i];
    return s;
}

double lf_sumsq_diff(const float *x, const float *y, size_t count)
{
    double s = 0;
    for (size_t i = 0; i < count; i++) {
        double d = (double)x[i] - (double)y[i];
        s += d * d;
    }
    return s;
}

typedef struct {
    float *r;  /* [k, n] */
    float *y;  /* [m, k]  P R^T */
    float *z;  /* [m, n] or [m, dw]  P R^T R (W) */
    float *rw; /* [k, dw] R W (w given) */
} lf_jl_ws;

int lf_lowrank_jl_error(const float *p, int64_t m, int64_t n, int64_t k, const float *w,
                        int64_t dw, int64_t trials, uint64_t seed, uint64_t stream, double *errs,
                        double *mean, double *std)
{
    if (!p) LF_FAIL("JL error: NULL matrix");
    if (m < 1 || n < 1 || k < 1 || trials < 1 || (w && dw < 1))
        LF_FAIL("JL error: sizes must be positive (m %lld, n %lld, k %lld, trials %lld, dw %lld)",
                (long long)m, (long long)n, (long long)k, (long long)trials,
                (long long)(w ? dw : 1));
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || dw > INT32_MAX)
        LF_FAIL("JL error: sizes exceed BLAS's 32-bit indices");
    int64_t cols = w ? dw : n; /* columns of the compared product */
    size_t sz;
    LF_TRY(lf_size_mul((size_t)m, (size_t)(n > cols ? n : cols), &sz));
    LF_TRY(lf_size_mul((size_t)k, (size_t)(n > cols ? n : cols), &sz));
    LF_TRY(lf_size_mul((size_t)m, (size_t)k, &sz));
    for (size_t i = 0; i < (size_t)m * (size_t)n; i++)
        if (!isfinite(p[i])) LF_FAIL("JL error: P has a non-finite entry at %zu", i);
    if (w)
        for (size_t i = 0; i < (size_t)n * (size_t)dw; i++)
            if (!isfinite(w[i])) LF_FAIL("JL error: W has a non-finite entry at %zu", i);

    /* The exact product: P itself, or P W once for all trials. */
    float *pw = NULL;
    const float *exact = p;
    if (w) {
        pw = lf_alloc((size_t)m * (size_t)dw, sizeof(float));
        if (!pw) return -1;
        lf_sgemm(0, 0, m, dw, n, 1.0f, p, n, w, dw, 0.0f, pw, dw);
        exact = pw;
    }
    double norm2 = lf_sumsq(exact, (size_t)m * (size_t)cols);
    if (!(norm2 > 0)) {
        lf_free(pw);
        if (mean) *mean = NAN;
        if (std) *std = NAN;
        if (errs)
            for (int64_t t = 0; t < trials; t++) errs[t] = NAN;
        LF_FAIL("JL error: %s is zero: the relative error is undefined (NaN)", w ? "P W" : "P");
    }

    int threads = lf_threads_get();
#ifdef _OPENMP
    if (omp_in_parallel()) threads = 1;
#endif
    if ((int64_t)threads > trials) threads = (int)trials;
    double *err = lf_alloc((size_t)trials, sizeof(double));
    lf_jl_ws *ws = lf_calloc((size_t)threads, sizeof *ws);
    int ok = err && ws;
    for (int t = 0; ok && t < threads; t++) {
        ok = (ws[t].r = lf_alloc((size_t)(k * n), sizeof(float))) &&
             (ws[t].y = lf_alloc((size_t)(m * k), sizeof(float))) &&
             (ws[t].z = lf_alloc((size_t)(m * cols), sizeof(float)));
        if (ok && w) ok = (ws[t].rw = lf_alloc((size_t)(k * dw), sizeof(float))) != NULL;
    }
    if (ok) {
        /* Each trial draws its own R from its own stream and writes only err[t]:
         * the same numbers whichever thread runs it. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int64_t t = 0; t < trials; t++) {
            lf_jl_ws *b = &ws[lf_thread_id()];
            lf_rng g;
            lf_rng_init(&g, seed, stream * (uint64_t)trials + (uint64_t)t);
            lf_rng_fill_normal(&g, b->r, (size_t)(k * n), 0.0, 1.0 / sqrt((double)k));
            /* Y = P R^T [m, k] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)n, 1.0f, p,
                        (int)n, b->r, (int)n, 0.0f, b->y, (int)k);
            if (w) {
                /* (P R^T)(R W): the k x dw product first keeps it O(k n dw + m k dw). */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)dw, (int)n,
                            1.0f, b->r, (int)n, w, (int)dw, 0.0f, b->rw, (int)dw);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)dw, (int)k,
                            1.0f, b->y, (int)k, b->rw, (int)dw, 0.0f, b->z, (int)dw);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k,
                            1.0f, b->y, (int)k, b->r, (int)n, 0.0f, b->z, (int)n);
            }
            err[t] = sqrt(lf_sumsq_diff(b->z, exact, (size_t)(m * cols)) / norm2);
        }
        /* Two passes over the trials, in order. */
        double s = 0, ss = 0;
        for (int64_t t = 0; t < trials; t++) s += err[t];
        double mu = s / (double)trials;
        for (int64_t t = 0; t < trials; t++) ss += (err[t] - mu) * (err[t] - mu);
        if (mean) *mean = mu;
        if (std) *std = trials > 1 ? sqrt(ss / (double)(trials - 1)) : NAN;
        if (errs) memcpy(errs, err, (size_t)trials * sizeof(double));
    }
    if (ws)
        for (int t = 0; t < threads; t++) {
            lf_free(ws[t].r);
            lf_free(ws[t].y);
            lf_free(ws[t].z);
            lf_free(ws[t].rw);
        }
    lf_free(ws);
    lf_free(err);
    lf_free(pw);
    return ok ? 0 : -1;
}

/* ---- Linformer output error -------------------------------------------------- */

int lf_lowrank_output_error(const float *q, const float *k, const float *v, const uint8_t *mask,
                            int64_t n, int64_t d, int64_t dv, const lf_proj *e, const lf_proj *f,
                            int64_t kp, double *err)
{
    if (!q || !k || !v || !e || !f || !err) LF_FAIL("output error: NULL argument");
    if (n < 1 || d < 1 || dv < 1 || kp < 1)
        LF_FAIL("output error: sizes must be positive (n %lld, d %lld, dv %lld, k %lld)",
                (long long)n, (long long)d, (long long)dv, (long long)kp);
    *err = NAN;
    float *dense = lf_alloc((size_t)(n * dv), sizeof(float));
    float *lin = lf_alloc((size_t)(n * dv), sizeof(float));
    float *kb = lf_alloc((size_t)(kp * d), sizeof(float));
    float *vb = lf_alloc((size_t)(kp * dv), sizeof(float));
    uint8_t *sk = lf_alloc((size_t)kp, 1), *sv = lf_alloc((size_t)kp, 1);
    int rc = -1;
    if (!dense || !lin || !kb || !vb || !sk || !sv) goto done;
    if (lf_attention_dense(q, k, v, mask, n, d, dv, NULL, dense) != 0) {
        lf_error_prefix("output error: dense attention");
        goto done;
    }
    if (lf_proj_apply(e, kp, k, n, d, mask, kb, sk) != 0) {
        lf_error_prefix("output error: key projection");
        goto done;
    }
    if (lf_proj_apply(f, kp, v, n, dv, mask, vb, sv) != 0) {
        lf_error_prefix("output error: value projection");
        goto done;
    }
    /* A slot is attended only if its key and its value both came from real tokens
     * (they differ only when E and F have different supports). */
    for (int64_t j = 0; j < kp; j++) sk[j] = sk[j] && sv[j];
    if (lf_attention_projected(q, kb, vb, sk, n, kp, d, dv, NULL, lin) != 0) {
        lf_error_prefix("output error: projected attention");
        goto done;
    }
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        num += lf_sumsq_diff(dense + i * dv, lin + i * dv, (size_t)dv);
        den += lf_sumsq(dense + i * dv, (size_t)dv);
    }
    if (!isfinite(num) || !isfinite(den)) {
        lf_error_set("output error: non-finite attention output (check the inputs)");
        goto done;
    }
    if (!(den > 0)) {
        lf_error_set("output error: the dense output is zero (or no token is unmasked): the "
                     "relative error is undefined (NaN)");
        goto done;
    }
    *err = sqrt(num / den);
    rc = 0;
done:
    lf_free(dense);
    lf_free(lin);
    lf_free(kb);
    lf_free(vb);
    lf_free(sk);
    lf_free(sv);
    return rc;
}
