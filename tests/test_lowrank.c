/* test_lowrank.c - best rank-k error, Theorem-1 (JL) error and Linformer output error
 * (core/lowrank.h) against explicit truncations from a full dgesvd, the closed-form
 * expectations derived in lowrank.c, and naive double-precision attention.
 *
 * Statistical checks use fixed seeds, so they are deterministic; their bounds are
 * chosen so that a correct implementation would fail for fewer than ~1 in 10^4
 * seeds (z-tests at 4-5 standard errors), while a wrong scale of R (e.g. N(0, 1/n)),
 * a missing transpose or a wrong norm moves the statistic by many bounds.
 */
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check.h"
#include "error.h"
#include "lowrank.h"
#include "mem.h"
#include "parallel.h"
#include "projection.h"
#include "rng.h"
#include "spectrum.h"

#define EPS32 ((double)FLT_EPSILON) /* 2^-23 */
#define EPS64 DBL_EPSILON

/* Row-stochastic "attention" matrix: softmax of N(0, s^2) scores in double, rounded. */
static void attention_matrix(float *a, int64_t m, int64_t n, double s, uint64_t stream)
{
    lf_rng r;
    lf_rng_init(&r, 2025, stream);
    double *row = malloc((size_t)n * sizeof *row);
    for (int64_t i = 0; i < m; i++) {
        double mx = -INFINITY, z = 0;
        for (int64_t j = 0; j < n; j++) {
            row[j] = s * lf_rng_normal(&r);
            if (row[j] > mx) mx = row[j];
        }
        for (int64_t j = 0; j < n; j++) z += row[j] = exp(row[j] - mx);
        for (int64_t j = 0; j < n; j++) a[i * n + j] = (float)(row[j] / z);
    }
    free(row);
}

static float *randn(size_t count, uint64_t stream)
{
    float *x = lf_alloc(count, sizeof(float));
    lf_rng r;
    lf_rng_init(&r, 4321, stream);
    lf_rng_fill_normal(&r, x, count, 0.0, 1.0);
    return x;
}

/* ---- Eckart-Young ------------------------------------------------------------ */

/* Largest singular value of a double matrix (dgesdd, values only). */
static double spectral_norm(const double *a, int64_t m, int64_t n)
{
    int64_t r = m < n ? m : n;
    double *c = malloc((size_t)(m * n) * sizeof *c), *s = malloc((size_t)r * sizeof *s);
    memcpy(c, a, (size_t)(m * n) * sizeof *c);
    int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, c, (int)n, s, NULL, (int)m,
                              NULL, (int)n);
    double v = info == 0 ? s[0] : NAN;
    free(c), free(s);
    return v;
}

/* The error of the explicit truncation A_k = U_k S_k V_k^T, from a full dgesvd done
 * here in double, equals the formula on singular values. Against singular values
 * from float64 dgesdd the two differ only by double rounding (residual of ~k terms,
 * norms): 1e-12 absolute on errors <= 1. Against the default Gram method, the
 * contract |s_i - ref_i| <= 2 eps32 s_0 propagates to |d frob| <= sqrt(r) 2 eps32 s_0 /
 * ||A||_F <= sqrt(r) 2 eps32 and |d spec| <= 2 eps32 (plus the 1e-12). */
static void test_best_error_vs_truncation(void)
{
    const int64_t shapes[2][2] = {{96, 80}, {70, 90}};
    double worst_d = 0, worst_g = 0;
    for (int s = 0; s < 2; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], r = m < n ? m : n;
        float *a = malloc((size_t)(m * n) * sizeof *a);
        if (s == 0) {
            attention_matrix(a, m, n, 3.0, 1);
        } else {
            lf_rng g;
            lf_rng_init(&g, 8, 8);
            lf_rng_fill_normal(&g, a, (size_t)(m * n), 0.0, 1.0);
        }
        double *ad = malloc((size_t)(m * n) * sizeof *ad), *work = malloc((size_t)(m * n) * sizeof *work);
        double *u = malloc((size_t)(m * m) * sizeof *u), *vt = malloc((size_t)(n * n) * sizeof *vt);
        double *sig = malloc((size_t)r * sizeof *sig), *superb = malloc((size_t)r * sizeof *superb);
        for (int64_t i = 0; i < m * n; i++) ad[i] = work[i] = a[i];
        CHECK(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', (int)m, (int)n, work, (int)n, sig, u,
                             (int)m, vt, (int)n, superb) == 0);
        double fro_a = 0;
        for (int64_t i = 0; i < m * n; i++) fro_a += ad[i] * ad[i];
        fro_a = sqrt(fro_a);
        double *svd = malloc((size_t)r * sizeof *svd), *svg = malloc((size_t)r * sizeof *svg);
        CHECK(lf_sv_compute(a, m, n, LF_SV_DGESDD, svd) == 0);
        CHECK(lf_sv_compute(a, m, n, LF_SV_GRAM, svg) == 0);
        const int64_t ks[6] = {0, 1, 5, 20, r - 1, r};
        double fd[6], sd[6], fg[6], sg[6];
        CHECK(lf_lowrank_best_errors(svd, r, ks, 6, fd, sd) == 0);
        CHECK(lf_lowrank_best_errors(svg, r, ks, 6, fg, sg) == 0);
        double *res = malloc((size_t)(m * n) * sizeof *res);
        for (int t = 0; t < 6; t++) {
            int64_t k = ks[t];
            double fro = 0;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (int64_t l = 0; l < k; l++) acc += u[i * m + l] * sig[l] * vt[l * n + j];
                    res[i * n + j] = ad[i * n + j] - acc;
                    fro += res[i * n + j] * res[i * n + j];
                }
            double want_f = sqrt(fro) / fro_a, want_s = k >= r ? 0.0 : spectral_norm(res, m, n) / sig[0];
            CHECK_NEAR(fd[t], want_f, 1e-12);
            CHECK_NEAR(sd[t], want_s, 1e-12);
            CHECK_NEAR(fg[t], want_f, sqrt((double)r) * 2 * EPS32 + 1e-12);
            CHECK_NEAR(sg[t], want_s, 2 * EPS32 + 1e-12);
            worst_d = fmax(worst_d, fmax(fabs(fd[t] - want_f), fabs(sd[t] - want_s)));
            worst_g = fmax(worst_g, fmax(fabs(fg[t] - want_f), fabs(sg[t] - want_s)));
            /* The single-k call is the list call, bit for bit. */
            double f1, s1;
            CHECK(lf_lowrank_best_error(svd, r, k, &f1, &s1) == 0);
            CHECK(f1 == fd[t] && s1 == sd[t]);
        }
        CHECK(fd[0] == 1.0 && sd[0] == 1.0 && fd[5] == 0.0 && sd[5] == 0.0);
        free(a), free(ad), free(work), free(u), free(vt), free(sig), free(superb), free(svd),
            free(svg), free(res);
    }
    check_notef("max diff vs explicit truncation: dgesdd values %.1e, gram values %.1e", worst_d,
                worst_g);
}

/* A tail far below the total: s = {1, 1e-10}. frob at k = 1 is 1e-10 / sqrt(1 + 1e-20),
 * i.e. 1e-10 to double precision; total minus head would give 0 (1 + 1e-20 == 1). The
 * tail is summed from the small end, so we ask for 4 eps64 relative. k beyond r is
 * exact (0); bad input is refused; a zero spectrum is NaN and -1. */
static void test_best_error_edges(void)
{
    const double s2[2] = {1.0, 1e-10};
    double f, s;
    CHECK(lf_lowrank_best_error(s2, 2, 1, &f, &s) == 0);
    CHECK_NEAR(f, 1e-10, 4 * EPS64 * 1e-10);
    CHECK(s == 1e-10);
    CHECK(lf_lowrank_best_error(s2, 2, 7, &f, NULL) == 0 && f == 0.0);
    CHECK(lf_lowrank_best_error(s2, 2, 0, NULL, &s) == 0 && s == 1.0);
    const double z[3] = {0, 0, 0}, bad[3] = {1, 2, 0};
    f = 0;
    CHECK(lf_lowrank_best_error(z, 3, 1, &f, &s) == -1 && isnan(f) && isnan(s));
    CHECK(lf_lowrank_best_error(bad, 3, 1, &f, &s) == -1);
    CHECK(lf_lowrank_best_error(s2, 2, -1, &f, &s) == -1);
    CHECK(lf_lowrank_best_error(s2, 0, 1, &f, &s) == -1);
    /* Large values: squares would overflow without the power-of-two scaling. */
    const double big[2] = {1e200, 1e199};
    CHECK(lf_lowrank_best_error(big, 2, 1, &f, &s) == 0);
    CHECK_NEAR(f, 0.1 / sqrt(1.01), 4 * EPS64);
}

/* ---- Theorem 1 ---------------------------------------------------------------- */

/* Mean of err^2 k / (n + 1) over many trials is 1 (lowrank.c derives E||P M||_F^2 =
 * (n + 1)/k ||P||_F^2). With T trials of x_t = err_t^2 k / (n + 1), the sample mean
 * has standard error sd(x) / sqrt(T); we allow 4.5 standard errors (a correct
 * implementation fails with probability ~7e-6 under the normal approximation, good
 * for T = 300) plus 1e-4 for float32 products (relative error ~1e-6). */
static void test_jl_expectation(void)
{
    const int64_t n = 256, k = 64, T = 300;
    float *p = malloc((size_t)(n * n) * sizeof *p);
    attention_matrix(p, n, n, 2.0, 2);
    double *errs = malloc((size_t)T * sizeof *errs), mean, std;
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, T, 11, 0, errs, &mean, &std) == 0);
    double sx = 0, sxx = 0;
    for (int64_t t = 0; t < T; t++) {
        double x = errs[t] * errs[t] * (double)k / (double)(n + 1);
        sx += x, sxx += x * x;
    }
    double xm = sx / T, sd = sqrt((sxx - T * xm * xm) / (T - 1)), se = sd / sqrt((double)T);
    CHECK_MSG(fabs(xm - 1) <= 4.5 * se + 1e-4, "mean err^2 k/(n+1) = %.5f, 1 +- %.5f", xm,
              4.5 * se + 1e-4);
    /* The reported mean and std are those of errs. */
    double m2 = 0, v2 = 0;
    for (int64_t t = 0; t < T; t++) m2 += errs[t];
    m2 /= T;
    for (int64_t t = 0; t < T; t++) v2 += (errs[t] - m2) * (errs[t] - m2);
    CHECK_NEAR(mean, m2, 1e-14);
    CHECK_NEAR(std, sqrt(v2 / (T - 1)), 1e-14);
    check_notef("mean err^2 k/(n+1) = %.4f +- %.4f (1 se), mean err %.3f vs sqrt((n+1)/k) %.3f",
                xm, se, mean, sqrt((n + 1.0) / k));
    free(p), free(errs);
}

/* The W version (W = V, n x dv Gaussian): mean of err^2 k / (1 + ||P||^2 ||W||^2 /
 * ||PW||^2) is 1, with the norms computed here in double; same 4.5-se bound. */
static void test_jl_expectation_w(void)
{
    const int64_t n = 256, k = 32, dv = 16, T = 300;
    float *p = malloc((size_t)(n * n) * sizeof *p);
    attention_matrix(p, n, n, 4.0, 3);
    float *w = randn((size_t)(n * dv), 5);
    double pp = 0, ww = 0, pw = 0;
    for (int64_t i = 0; i < n * n; i++) pp += (double)p[i] * p[i];
    for (int64_t i = 0; i < n * dv; i++) ww += (double)w[i] * w[i];
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < dv; c++) {
            double acc = 0;
            for (int64_t j = 0; j < n; j++) acc += (double)p[i * n + j] * w[j * dv + c];
            pw += acc * acc;
        }
    double ratio = (1 + pp * ww / pw) / (double)k;
    double *errs = malloc((size_t)T * sizeof *errs), mean, std;
    CHECK(lf_lowrank_jl_error(p, n, n, k, w, dv, T, 12, 0, errs, &mean, &std) == 0);
    double sx = 0, sxx = 0;
    for (int64_t t = 0; t < T; t++) {
        double x = errs[t] * errs[t] / ratio;
        sx += x, sxx += x * x;
    }
    double xm = sx / T, sd = sqrt((sxx - T * xm * xm) / (T - 1)), se = sd / sqrt((double)T);
    CHECK_MSG(fabs(xm - 1) <= 4.5 * se + 1e-4, "mean err^2 / expected = %.5f, 1 +- %.5f", xm,
              4.5 * se + 1e-4);
    check_notef("mean err^2 / closed form = %.4f +- %.4f (1 se); E err^2 = %.2f", xm, se, ratio);
    free(p), lf_free(w), free(errs);
}

/* Mean error against k in {16, ..., 256} (n = 512) on log-log axes has slope -1/2.
 * The noise: log(mean_k) has standard error cv_k / sqrt(T) (cv = sd / mean of err),
 * which propagates to the least-squares slope as se_b = sqrt(sum (x_i - xbar)^2
 * se_i^2) / sum (x_i - xbar)^2. The bias: E[err] = sqrt(E[err^2]) (1 - O(cv^2 / 2)),
 * and E[err^2] is exactly (n + 1)/k, so log mean_k is off by at most cv_k^2 / 2, which
 * moves the slope by at most max cv^2 / 2 * sum |x_i - xbar| / sum (x_i - xbar)^2. We
 * allow 5 se_b plus that bias bound. */
static void test_jl_slope(void)
{
    const int64_t n = 512, T = 12, nk = 5;
    const int64_t ks[5] = {16, 32, 64, 128, 256};
    float *p = malloc((size_t)(n * n) * sizeof *p);
    attention_matrix(p, n, n, 2.0, 4);
    double x[5], y[5], se[5], cvmax = 0;
    for (int i = 0; i < nk; i++) {
        double mean, std;
        CHECK(lf_lowrank_jl_error(p, n, n, ks[i], NULL, 0, T, 13, (uint64_t)i, NULL, &mean, &std) == 0);
        x[i] = log((double)ks[i]);
        y[i] = log(mean);
        se[i] = std / mean / sqrt((double)T);
        cvmax = fmax(cvmax, std / mean);
        /* Each mean against sqrt((n + 1)/k), same allowance per point. */
        CHECK_NEAR(y[i], 0.5 * log((n + 1.0) / ks[i]), 5 * se[i] + 0.5 * (std / mean) * (std / mean));
    }
    double xb = 0, yb = 0;
    for (int i = 0; i < nk; i++) xb += x[i] / nk, yb += y[i] / nk;
    double sxx = 0, sxy = 0, var_b = 0, sabs = 0;
    for (int i = 0; i < nk; i++) {
        sxx += (x[i] - xb) * (x[i] - xb);
        sxy += (x[i] - xb) * (y[i] - yb);
        var_b += (x[i] - xb) * (x[i] - xb) * se[i] * se[i];
        sabs += fabs(x[i] - xb);
    }
    double slope = sxy / sxx, se_b = sqrt(var_b) / sxx;
    double tol = 5 * se_b + 0.5 * cvmax * cvmax * sabs / sxx;
    CHECK_MSG(fabs(slope + 0.5) <= tol, "slope %.4f, want -0.5 +- %.4f", slope, tol);
    check_notef("slope %.4f (tol %.4f, se %.1e, max cv %.3f)", slope, tol, se_b, cvmax);
    free(p);
}

/* Deterministic: the same (seed, stream) gives the same per-trial errors bit for bit
 * with 1 and 2 threads, another stream gives others; one trial has NaN std; a zero P
 * is undefined (NaN, -1); bad sizes are refused. */
static void test_jl_deterministic(void)
{
    const int64_t n = 128, k = 16, T = 7;
    float *p = malloc((size_t)(n * n) * sizeof *p);
    attention_matrix(p, n, n, 1.0, 5);
    double e1[7], e2[7], e3[7], mean, std;
    int saved = lf_threads_get();
    lf_threads_set(1);
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, T, 21, 3, e1, NULL, NULL) == 0);
    lf_threads_set(2);
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, T, 21, 3, e2, &mean, NULL) == 0);
    CHECK(memcmp(e1, e2, sizeof e1) == 0);
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, T, 21, 4, e3, NULL, NULL) == 0);
    CHECK(memcmp(e1, e3, sizeof e1) != 0);
    lf_threads_set(saved);
    /* Trial t of stream s uses rng stream s * trials + t: trials 0..6 of stream 3 are
     * streams 21..27, so a single trial with stream 22 (trials = 1) is trial 1. */
    double one;
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, 1, 21, 22, &one, &mean, &std) == 0);
    CHECK(one == e1[1] && mean == one && isnan(std));
    float *zero = calloc((size_t)(n * n), sizeof *zero);
    mean = 0;
    CHECK(lf_lowrank_jl_error(zero, n, n, k, NULL, 0, 2, 1, 0, NULL, &mean, &std) == -1 && isnan(mean));
    CHECK(lf_lowrank_jl_error(p, n, n, 0, NULL, 0, 2, 1, 0, NULL, &mean, &std) == -1);
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, 0, 1, 0, NULL, &mean, &std) == -1);
    CHECK(lf_lowrank_jl_error(p, n, n, k, p, 0, 2, 1, 0, NULL, &mean, &std) == -1);
    p[5] = NAN;
    CHECK(lf_lowrank_jl_error(p, n, n, k, NULL, 0, 2, 1, 0, NULL, &mean, &std) == -1);
    free(p), free(zero);
}

/* ---- Linformer output error ---------------------------------------------------- */

/* k = n with E = F = I is standard attention: I K is exact in float, so the two paths
 * do the same arithmetic up to blocking order; we allow 2e-6 relative (float32 sums of
 * n = 128 terms: ~sqrt(n) eps32 = 1.3e-6 in the worst case). Small k (Gaussian,
 * mean pooling) must be clearly worse: above 1e-2, i.e. four orders above rounding. */
static void test_output_identity_and_small_k(void)
{
    const int64_t n = 128, d = 32, dv = 32;
    float *q = randn((size_t)(n * d), 1), *k = randn((size_t)(n * d), 2), *v = randn((size_t)(n * dv), 3);
    float *eye = lf_calloc((size_t)(n * n), sizeof(float));
    for (int64_t i = 0; i < n; i++) eye[i * n + i] = 1.0f;
    lf_proj id = {.kind = LF_PROJ_LINEAR, .k = n, .n = n, .window = 0, .weights = eye};
    double e_id = -1;
    CHECK(lf_lowrank_output_error(q, k, v, NULL, n, d, dv, &id, &id, n, &e_id) == 0);
    CHECK_MSG(e_id <= 2e-6, "identity: error %.3g > 2e-6", e_id);
    const lf_proj_kind kinds[2] = {LF_PROJ_GAUSSIAN, LF_PROJ_MEAN};
    double e_small[2];
    for (int t = 0; t < 2; t++) {
        int64_t kk[1] = {16};
        lf_plan plan;
        CHECK(lf_plan_init(&plan, 1, 1, n, kk, LF_SHARE_NONE, kinds[t], 7) == 0);
        CHECK(lf_lowrank_output_error(q, k, v, NULL, n, d, dv, lf_plan_get(&plan, 0, 0, 0),
                                      lf_plan_get(&plan, 0, 0, 1), 16, &e_small[t]) == 0);
        CHECK_MSG(e_small[t] > 1e-2, "%s k=16: error %.3g not > 1e-2", lf_proj_kind_name(kinds[t]),
                  e_small[t]);
        lf_plan_free(&plan);
    }
    check_notef("identity %.1e; k=16: gaussian %.3f, mean %.3f", e_id, e_small[0], e_small[1]);
    lf_free(q), lf_free(k), lf_free(v), lf_free(eye);
}

/* Naive reference in double for a Gaussian plan with padding: dense attention over the
 * real keys; Linformer with Kbar = E (K with padded rows zeroed) and the same for V
 * (linear projections see every position, so every slot is valid); the error over
 * the rows of real tokens. The library computes in float32: outputs carry relative
 * errors ~1e-6, so the two errors agree to 1e-5. */
static void naive_head(const double *q, const double *kk, const double *vv, const uint8_t *mask,
                       int64_t n, int64_t m, int64_t d, int64_t dv, double *out)
{
    double *s = malloc((size_t)m * sizeof *s);
    for (int64_t i = 0; i < n; i++) {
        double mx = -INFINITY, z = 0;
        for (int64_t j = 0; j < m; j++) {
            double acc = 0;
            for (int64_t c = 0; c < d; c++) acc += q[i * d + c] * kk[j * d + c];
            s[j] = acc / sqrt((double)d);
            if ((!mask || mask[j]) && s[j] > mx) mx = s[j];
        }
        for (int64_t j = 0; j < m; j++) z += s[j] = (!mask || mask[j]) ? exp(s[j] - mx) : 0.0;
        for (int64_t c = 0; c < dv; c++) {
            double acc = 0;
            for (int64_t j = 0; j < m; j++) acc += s[j] / z * vv[j * dv + c];
            out[i * dv + c] = acc;
        }
    }
    free(s);
}

static void test_output_vs_naive(void)
{
    const int64_t n = 96, d = 16, dv = 8, kp = 24, valid = 80;
    float *q = randn((size_t)(n * d), 11), *k = randn((size_t)(n * d), 12), *v = randn((size_t)(n * dv), 13);
    uint8_t mask[96];
    for (int64_t i = 0; i < n; i++) mask[i] = i < valid;
    int64_t kk[1] = {kp};
    lf_plan plan;
    CHECK(lf_plan_init(&plan, 1, 1, n, kk, LF_SHARE_NONE, LF_PROJ_GAUSSIAN, 17) == 0);
    const lf_proj *e = lf_plan_get(&plan, 0, 0, 0), *f = lf_plan_get(&plan, 0, 0, 1);
    double err = -1;
    CHECK(lf_lowrank_output_error(q, k, v, mask, n, d, dv, e, f, kp, &err) == 0);

    double *qd = malloc((size_t)(n * d) * sizeof *qd), *kd = malloc((size_t)(n * d) * sizeof *kd);
    double *vd = malloc((size_t)(n * dv) * sizeof *vd);
    for (int64_t i = 0; i < n * d; i++) qd[i] = q[i], kd[i] = mask[i / d] ? k[i] : 0.0;
    for (int64_t i = 0; i < n * dv; i++) vd[i] = mask[i / dv] ? v[i] : 0.0;
    double *kb = calloc((size_t)(kp * d), sizeof *kb), *vb = calloc((size_t)(kp * dv), sizeof *vb);
    for (int64_t r = 0; r < kp; r++)
        for (int64_t j = 0; j < n; j++) {
            for (int64_t c = 0; c < d; c++) kb[r * d + c] += (double)e->weights[r * n + j] * kd[j * d + c];
            for (int64_t c = 0; c < dv; c++) vb[r * dv + c] += (double)f->weights[r * n + j] * vd[j * dv + c];
        }
    double *od = malloc((size_t)(n * dv) * sizeof *od), *ol = malloc((size_t)(n * dv) * sizeof *ol);
    naive_head(qd, kd, vd, mask, n, n, d, dv, od);
    naive_head(qd, kb, vb, NULL, n, kp, d, dv, ol);
    double num = 0, den = 0, num_all = 0, den_all = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < dv; c++) {
            double diff = od[i * dv + c] - ol[i * dv + c];
            num_all += diff * diff, den_all += od[i * dv + c] * od[i * dv + c];
            if (mask[i]) num += diff * diff, den += od[i * dv + c] * od[i * dv + c];
        }
    double want = sqrt(num / den), all_rows = sqrt(num_all / den_all);
    CHECK_NEAR(err, want, 1e-5);
    /* Padded query rows are excluded: including them gives a different number here. */
    CHECK(fabs(all_rows - want) > 1e-4);
    check_notef("error %.6f, naive %.6f (with padded rows %.6f)", err, want, all_rows);
    double dummy;
    CHECK(lf_lowrank_output_error(q, k, v, mask, n, d, dv, e, f, kp + 1, &dummy) == -1);
    CHECK(lf_lowrank_output_error(NULL, k, v, mask, n, d, dv, e, f, kp, &dummy) == -1);
    float *zv = lf_calloc((size_t)(n * dv), sizeof(float));
    CHECK(lf_lowrank_output_error(q, k, zv, mask, n, d, dv, e, f, kp, &dummy) == -1);
    lf_plan_free(&plan);
    lf_free(q), lf_free(k), lf_free(v), lf_free(zv);
    free(qd), free(kd), free(vd), free(kb), free(vb), free(od), free(ol);
}

int main(void)
{
    check_program = "test_lowrank";
    lf_threads_set(0);
    RUN(test_best_error_vs_truncation);
    RUN(test_best_error_edges);
    RUN(test_jl_expectation);
    RUN(test_jl_expectation_w);
    RUN(test_jl_slope);
    RUN(test_jl_deterministic);
    RUN(test_output_identity_and_small_k);
    RUN(test_output_vs_naive);
    return check_summary();
}
