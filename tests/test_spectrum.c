/* test_spectrum.c - singular values, cumulative curves and running statistics
 * (core/spectrum.h) against independent references: exact diagonal cases, matrices
 * built as U diag V^T from Householder reflectors in double, rank-r products,
 * float64 dgesdd called here directly, closed forms, and two-pass statistics.
 *
 * Units: eps32 = 2^-23 (float32 machine epsilon, 1.19e-7), eps64 = 2^-52. The
 * accuracy contract of spectrum.c is |sigma_i - ref_i| <= 2 eps32 sigma_0 for the
 * default (Gram) method against a float64 SVD of the same float32 matrix; sgesdd is
 * only held to 64 eps32 sigma_0 (a p(n) eps32 sigma_0 backward-stable bound with
 * p(n) = n / 8 at n = 512; it measures up to ~33 eps32).
 */
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "mem.h"
#include "parallel.h"
#include "rng.h"
#include "spectrum.h"

#define EPS32 ((double)FLT_EPSILON) /* 2^-23 */
#define EPS64 DBL_EPSILON

static const lf_sv_method methods[3] = {LF_SV_GRAM, LF_SV_SGESDD, LF_SV_DGESDD};

/* Absolute tolerance in units of sigma_0 of each method against a float64 SVD (see
 * the header comment and spectrum.c); dgesdd differs from our own dgesdd call only
 * by the transposed layout: a few n eps64. */
static double method_tol(lf_sv_method m, int64_t n)
{
    if (m == LF_SV_GRAM) return 2 * EPS32;
    if (m == LF_SV_SGESDD) return 64 * EPS32;
    return 4.0 * (double)n * EPS64;
}

/* Float64 reference: LAPACKE_dgesdd on a double copy, through LAPACKE's row-major
 * interface (it transposes), independent of the library's code path. */
static void ref_sv(const float *a, int64_t m, int64_t n, double *sv)
{
    double *d = malloc((size_t)(m * n) * sizeof *d);
    for (int64_t i = 0; i < m * n; i++) d[i] = a[i];
    /* LAPACKE 3.11's row-major check wants full leading dimensions for U and VT
     * even when they are not referenced (jobz = 'N'). */
    int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, d, (int)n, sv, NULL, (int)m,
                              NULL, (int)n);
    if (info != 0) {
        fprintf(stderr, "reference dgesdd failed: info %d\n", info);
        abort();
    }
    free(d);
}

/* Row-stochastic "attention" matrix: softmax of N(0, s^2) scores computed in double
 * and rounded to float; keys >= valid are padding (zero columns). */
static void attention_matrix(float *a, int64_t m, int64_t n, double s, int64_t valid, uint64_t stream)
{
    lf_rng r;
    lf_rng_init(&r, 2024, stream);
    double *row = malloc((size_t)n * sizeof *row);
    for (int64_t i = 0; i < m; i++) {
        double mx = -INFINITY, z = 0;
        for (int64_t j = 0; j < valid; j++) {
            row[j] = s * lf_rng_normal(&r);
            if (row[j] > mx) mx = row[j];
        }
        for (int64_t j = 0; j < valid; j++) z += row[j] = exp(row[j] - mx);
        for (int64_t j = 0; j < n; j++) a[i * n + j] = j < valid ? (float)(row[j] / z) : 0.0f;
    }
    free(row);
}

/* Random orthogonal q[m, m] (row-major, double): the product of m Householder
 * reflectors I - 2 v v^T / (v^T v) with Gaussian v, applied to the identity. */
static void householder_orthogonal(double *q, int64_t m, uint64_t stream)
{
    lf_rng r;
    lf_rng_init(&r, 77, stream);
    double *v = malloc((size_t)m * sizeof *v), *w = malloc((size_t)m * sizeof *w);
    for (int64_t i = 0; i < m * m; i++) q[i] = 0;
    for (int64_t i = 0; i < m; i++) q[i * m + i] = 1;
    for (int64_t h = 0; h < m; h++) {
        double vv = 0;
        for (int64_t i = 0; i < m; i++) {
            v[i] = lf_rng_normal(&r);
            vv += v[i] * v[i];
        }
        /* q <- (I - 2 v v^T / vv) q: w = v^T q, q -= (2 / vv) v w^T. */
        for (int64_t j = 0; j < m; j++) w[j] = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < m; j++) w[j] += v[i] * q[i * m + j];
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < m; j++) q[i * m + j] -= 2.0 / vv * v[i] * w[j];
    }
    free(v);
    free(w);
}

/* Largest |x_i - y_i| / scale. */
static double max_abs_diff(const double *x, const double *y, int64_t r, double scale)
{
    double e = 0;
    for (int64_t i = 0; i < r; i++) e = fmax(e, fabs(x[i] - y[i]) / scale);
    return e;
}

/* ---- singular values --------------------------------------------------------- */

/* Diagonal matrices (square, wide and tall), entries with signs, ties and zeros.
 * Every method is exact here: squares of floats are exact in double, Householder
 * steps on a single nonzero per column are identities (tau = 0) and the tridiagonal
 * or bidiagonal has no off-diagonal to iterate on; only a sort and |.| remain.
 * So the tolerance is 0: any change in the values means a real bug (lost sign,
 * wrong order, a transposed shape reading the wrong entries). */
static void test_diagonal(void)
{
    const float diag[7] = {3.0f, -2.0f, 0.0f, 5.0f, 2.0f, 0.0f, 1e-3f};
    const double want[7] = {5.0, 3.0, 2.0, 2.0, (double)1e-3f, 0.0, 0.0};
    const int64_t shapes[3][2] = {{7, 7}, {7, 11}, {11, 7}};
    for (int s = 0; s < 3; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1];
        float *a = lf_calloc((size_t)(m * n), sizeof(float));
        for (int64_t i = 0; i < 7; i++) a[i * n + i] = diag[i];
        for (int mi = 0; mi < 3; mi++) {
            double sv[7];
            CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
            for (int i = 0; i < 7; i++)
                CHECK_MSG(sv[i] == want[i], "%s %lldx%lld: sv[%d] = %.17g, want %.17g",
                          lf_sv_method_name(methods[mi]), (long long)m, (long long)n, i, sv[i],
                          want[i]);
        }
        lf_free(a);
    }
    /* All ties: 4 I has four singular values 4. */
    float eye[16] = {0};
    for (int i = 0; i < 4; i++) eye[i * 4 + i] = 4.0f;
    for (int mi = 0; mi < 3; mi++) {
        double sv[4];
        CHECK(lf_sv_compute(eye, 4, 4, methods[mi], sv) == 0);
        for (int i = 0; i < 4; i++) CHECK(sv[i] == 4.0);
    }
}

/* A = U diag(sigma) V^T with U, V random orthogonal (double), rounded to float. The
 * float matrix is A + E with E the rounding error, so by Weyl's inequality its exact
 * singular values are within ||E||_2 <= ||E||_F of sigma; ||E||_F is computed here.
 * Each method must be within ||E||_F + its tolerance (method_tol) of sigma, and
 * within method_tol of the float64 reference. sigma spans 1 .. 1e-4 with a tie. */
static void test_orthogonal_diagonal(void)
{
    const int64_t shapes[3][2] = {{96, 96}, {64, 100}, {100, 64}};
    double worst[3] = {0, 0, 0};
    for (int s = 0; s < 3; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], r = m < n ? m : n;
        double *u = malloc((size_t)(m * m) * sizeof *u), *v = malloc((size_t)(n * n) * sizeof *v);
        householder_orthogonal(u, m, 10 + s);
        householder_orthogonal(v, n, 20 + s);
        double *sigma = malloc((size_t)r * sizeof *sigma);
        for (int64_t i = 0; i < r; i++) sigma[i] = pow(1e-4, (double)i / (double)(r - 1));
        sigma[2] = sigma[1]; /* a tie */
        float *a = malloc((size_t)(m * n) * sizeof *a);
        double ef2 = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t t = 0; t < r; t++) acc += u[i * m + t] * sigma[t] * v[j * n + t];
                a[i * n + j] = (float)acc;
                ef2 += ((double)a[i * n + j] - acc) * ((double)a[i * n + j] - acc);
            }
        /* + 1e-13: the double construction (orthogonality of U, V to ~1e-15 each). */
        double weyl = sqrt(ef2) + 1e-13;
        double *ref = malloc((size_t)r * sizeof *ref), *sv = malloc((size_t)r * sizeof *sv);
        ref_sv(a, m, n, ref);
        CHECK(max_abs_diff(ref, sigma, r, 1.0) <= weyl);
        for (int mi = 0; mi < 3; mi++) {
            CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
            double tol = method_tol(methods[mi], r);
            double e_ref = max_abs_diff(sv, ref, r, sigma[0]);
            double e_sig = max_abs_diff(sv, sigma, r, 1.0);
            CHECK_MSG(e_ref <= tol, "%s %lldx%lld: max |sv - ref| / sigma_0 = %.3g > %.3g",
                      lf_sv_method_name(methods[mi]), (long long)m, (long long)n, e_ref, tol);
            CHECK_MSG(e_sig <= weyl + tol, "%s %lldx%lld: max |sv - sigma| = %.3g > %.3g",
                      lf_sv_method_name(methods[mi]), (long long)m, (long long)n, e_sig,
                      weyl + tol);
            worst[mi] = fmax(worst[mi], e_ref);
        }
        free(u), free(v), free(sigma), free(a), free(ref), free(sv);
    }
    check_notef("max |sv - ref| / s0: gram %.1e, sgesdd %.1e, dgesdd %.1e", worst[0], worst[1],
                worst[2]);
}

/* Rank r: A = X Y^T (Gaussian X [m, r], Y [n, r], product in double) rounded to
 * float. The float matrix is A + E with A of rank r, so its singular values past the
 * r-th are <= ||E||_2 <= ||E||_F (Weyl), and each method adds at most its tolerance
 * times sigma_0. The first r values are ~sqrt(m n) (Gaussian factors), orders of
 * magnitude above that bound. */
static void test_rank_r(void)
{
    const int64_t m = 300, n = 200, rank = 10, r = 200;
    lf_rng g;
    lf_rng_init(&g, 5, 1);
    double *x = malloc((size_t)(m * rank) * sizeof *x), *y = malloc((size_t)(n * rank) * sizeof *y);
    for (int64_t i = 0; i < m * rank; i++) x[i] = lf_rng_normal(&g);
    for (int64_t i = 0; i < n * rank; i++) y[i] = lf_rng_normal(&g);
    float *a = malloc((size_t)(m * n) * sizeof *a);
    double ef2 = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t t = 0; t < rank; t++) acc += x[i * rank + t] * y[j * rank + t];
            a[i * n + j] = (float)acc;
            ef2 += ((double)a[i * n + j] - acc) * ((double)a[i * n + j] - acc);
        }
    double sv[200], worst_tail[3] = {0, 0, 0};
    for (int mi = 0; mi < 3; mi++) {
        CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
        double bound = sqrt(ef2) + method_tol(methods[mi], r) * sv[0];
        CHECK_MSG(sv[rank - 1] > 1e3 * bound, "%s: sv[%lld] = %.3g not >> tail bound %.3g",
                  lf_sv_method_name(methods[mi]), (long long)(rank - 1), sv[rank - 1], bound);
        for (int64_t i = rank; i < r; i++) {
            CHECK_MSG(sv[i] <= bound, "%s: sv[%lld] = %.3g > bound %.3g",
                      lf_sv_method_name(methods[mi]), (long long)i, sv[i], bound);
            worst_tail[mi] = fmax(worst_tail[mi], sv[i] / sv[0]);
        }
    }
    check_notef("tail / s0 (bound %.1e + tol): gram %.1e, sgesdd %.1e, dgesdd %.1e",
                sqrt(ef2) / sv[0], worst_tail[0], worst_tail[1], worst_tail[2]);
    free(x), free(y), free(a);
}

/* The accuracy contract on the matrices the suite exists for: softmax attention
 * matrices, n = 512, scores N(0, s^2) from nearly uniform (s = 0.5) to nearly one-hot
 * (s = 16, values down to ~1e-12 sigma_0), one with 128 padded keys (exact zero
 * singular values), and a 512 x 128 Linformer-shaped P (n x k). */
static void test_attention_vs_float64(void)
{
    struct {
        int64_t m, n, valid;
        double s;
    } cases[] = {{512, 512, 512, 0.5}, {512, 512, 512, 2.0}, {512, 512, 512, 16.0},
                 {512, 512, 384, 4.0}, {512, 128, 128, 3.0}};
    double worst[3] = {0, 0, 0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t m = cases[c].m, n = cases[c].n, r = m < n ? m : n;
        float *a = malloc((size_t)(m * n) * sizeof *a);
        attention_matrix(a, m, n, cases[c].s, cases[c].valid, 100 + c);
        double *ref = malloc((size_t)r * sizeof *ref), *sv = malloc((size_t)r * sizeof *sv);
        ref_sv(a, m, n, ref);
        for (int mi = 0; mi < 3; mi++) {
            CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
            double e = max_abs_diff(sv, ref, r, ref[0]), tol = method_tol(methods[mi], r);
            CHECK_MSG(e <= tol, "%s, case %zu: max |sv - ref| / s0 = %.3g > %.3g",
                      lf_sv_method_name(methods[mi]), c, e, tol);
            for (int64_t i = 1; i < r; i++) CHECK(sv[i] <= sv[i - 1]);
            worst[mi] = fmax(worst[mi], e);
        }
        /* Padded keys make exact zero columns, dropped before the decomposition:
         * their singular values are exact zeros with every method. */
        if (cases[c].valid < n)
            for (int mi = 0; mi < 3; mi++) {
                CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
                for (int64_t i = cases[c].valid; i < r; i++) CHECK(sv[i] == 0.0);
            }
        free(a), free(ref), free(sv);
    }
    check_notef("max |sv - ref| / s0: gram %.1e (tol %.1e), sgesdd %.1e (tol %.1e), dgesdd %.1e",
                worst[0], 2 * EPS32, worst[1], 64 * EPS32, worst[2]);
}

/* All-zero rows and columns (scattered, as padding would make them after a
 * permutation) are dropped before the decomposition: the result is, bit for bit, that
 * of the explicitly compacted matrix followed by exact zeros, and within each
 * method's tolerance of the float64 SVD of the full matrix. 200 x 200 with 140 zero
 * columns and 10 zero rows compacts to 190 x 60, tall enough (m >= 11/6 n) for
 * sgesdd/dgesdd to switch to their QR-first path with a different workspace. */
static void test_zero_rows_columns(void)
{
    const int64_t m = 200, n = 200, r = 200;
    float *a = malloc((size_t)(m * n) * sizeof *a);
    attention_matrix(a, m, n, 2.0, n, 51);
    uint8_t zr[200] = {0}, zc[200] = {0};
    int64_t mk = 0, nk = 0;
    for (int64_t j = 0; j < n; j++) zc[j] = (j % 10) < 7; /* 140 zero columns */
    for (int64_t i = 0; i < m; i++) zr[i] = i % 20 == 3;  /* 10 zero rows */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            if (zr[i] || zc[j]) a[i * n + j] = (i + j) % 2 ? 0.0f : -0.0f;
    float *b = malloc((size_t)(m * n) * sizeof *b);
    for (int64_t i = 0; i < m; i++) {
        if (zr[i]) continue;
        nk = 0;
        for (int64_t j = 0; j < n; j++)
            if (!zc[j]) b[mk * 60 + nk++] = a[i * n + j];
        mk++;
    }
    CHECK(mk == 190 && nk == 60);
    double *ref = malloc((size_t)r * sizeof *ref), *sv = malloc((size_t)r * sizeof *sv);
    double *svb = malloc((size_t)r * sizeof *svb), worst = 0;
    ref_sv(a, m, n, ref);
    for (int mi = 0; mi < 3; mi++) {
        CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
        CHECK(lf_sv_compute(b, mk, nk, methods[mi], svb) == 0);
        CHECK_MSG(memcmp(sv, svb, (size_t)nk * sizeof *sv) == 0, "%s: differs from the compacted matrix",
                  lf_sv_method_name(methods[mi]));
        for (int64_t i = nk; i < r; i++) CHECK(sv[i] == 0.0);
        double e = max_abs_diff(sv, ref, r, ref[0]);
        CHECK_MSG(e <= method_tol(methods[mi], r), "%s: max |sv - ref| / s0 = %.3g",
                  lf_sv_method_name(methods[mi]), e);
        worst = fmax(worst, e);
    }
    /* Only zeros: no decomposition at all, exact zeros. */
    memset(a, 0, (size_t)(m * n) * sizeof *a);
    for (int mi = 0; mi < 3; mi++) {
        CHECK(lf_sv_compute(a, m, n, methods[mi], sv) == 0);
        for (int64_t i = 0; i < r; i++) CHECK(sv[i] == 0.0);
    }
    check_notef("max |sv - ref| / s0 %.1e", worst);
    free(a), free(b), free(ref), free(sv), free(svb);
}

/* The batch equals one-at-a-time, bit for bit, for 1 and 2 threads: every matrix is
 * computed by the same serial code whichever thread takes it. Mixed content (an
 * attention matrix, a rank-2 one, zeros, Gaussian) and a count that does not divide
 * evenly between threads. */
static void test_batch_identical(void)
{
    const int64_t count = 5, m = 120, n = 90, r = 90, mn = m * n;
    float *a = malloc((size_t)(count * mn) * sizeof *a);
    attention_matrix(a, m, n, 3.0, n, 7);
    lf_rng g;
    lf_rng_init(&g, 9, 9);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) a[mn + i * n + j] = (float)((i % 7) - 3 + 0.5 * (j % 5));
    memset(a + 2 * mn, 0, (size_t)mn * sizeof *a);
    lf_rng_fill_normal(&g, a + 3 * mn, (size_t)(2 * mn), 0.0, 1.0);
    double *one = malloc((size_t)(count * r) * sizeof *one);
    double *b1 = malloc((size_t)(count * r) * sizeof *b1), *b2 = malloc((size_t)(count * r) * sizeof *b2);
    int saved = lf_threads_get();
    for (int mi = 0; mi < 3; mi++) {
        lf_threads_set(1);
        for (int64_t c = 0; c < count; c++)
            CHECK(lf_sv_compute(a + c * mn, m, n, methods[mi], one + c * r) == 0);
        CHECK(lf_sv_batch(a, count, m, n, methods[mi], b1) == 0);
        lf_threads_set(2);
        CHECK(lf_sv_batch(a, count, m, n, methods[mi], b2) == 0);
        CHECK_MSG(memcmp(one, b1, (size_t)(count * r) * sizeof *one) == 0,
                  "%s: batch (1 thread) differs from one at a time", lf_sv_method_name(methods[mi]));
        CHECK_MSG(memcmp(b1, b2, (size_t)(count * r) * sizeof *b1) == 0,
                  "%s: batch differs between 1 and 2 threads", lf_sv_method_name(methods[mi]));
        /* The zero matrix gives exact zeros; the rank-2 one two nonzero values. */
        for (int64_t i = 0; i < r; i++) CHECK(b2[2 * r + i] == 0.0);
        CHECK(b2[r + 1] > 1.0 && b2[r + 2] < 1e-4 * b2[r]);
    }
    lf_threads_set(saved);
    free(a), free(one), free(b1), free(b2);
}

/* Bad input is refused with a message; empty shapes are fine. */
static void test_sv_errors(void)
{
    float a[6] = {1, 2, 3, 4, NAN, 6};
    double sv[2];
    CHECK(lf_sv_compute(a, 2, 3, LF_SV_GRAM, sv) == -1);
    CHECK(strstr(lf_error_get(), "non-finite") != NULL && strstr(lf_error_get(), "(1, 1)") != NULL);
    a[4] = INFINITY;
    CHECK(lf_sv_batch(a, 1, 2, 3, LF_SV_SGESDD, sv) == -1);
    a[4] = 5;
    /* In a batch the lowest failing matrix is named, whichever thread met it first. */
    float three[18];
    for (int i = 0; i < 18; i++) three[i] = (float)(i + 1);
    three[6 + 5] = NAN, three[12] = -INFINITY;
    double svb[6];
    CHECK(lf_sv_batch(three, 3, 2, 3, LF_SV_GRAM, svb) == -1);
    CHECK(strstr(lf_error_get(), "matrix 1 ") != NULL && strstr(lf_error_get(), "(1, 2)") != NULL);
    CHECK(lf_sv_compute(a, -1, 3, LF_SV_GRAM, sv) == -1);
    CHECK(lf_sv_compute(a, 2, 3, (lf_sv_method)7, sv) == -1);
    CHECK(lf_sv_compute(a, 0, 3, LF_SV_GRAM, sv) == 0);
    CHECK(lf_sv_batch(a, 0, 2, 3, LF_SV_GRAM, sv) == 0);
    CHECK(lf_sv_compute(a, 1LL << 33, 1, LF_SV_GRAM, sv) == -1);
    CHECK(lf_sv_compute(a, 2, 3, LF_SV_GRAM, sv) == 0);
    lf_sv_method m;
    CHECK(lf_sv_method_parse("sgesdd", &m) == 0 && m == LF_SV_SGESDD);
    CHECK(lf_sv_method_parse("SVD", &m) == -1 && strstr(lf_error_get(), "gram") != NULL);
    CHECK(lf_sv_method_parse(NULL, &m) == -1);
    CHECK(strcmp(lf_sv_method_name(LF_SV_DEFAULT), "gram") == 0);
    CHECK(strcmp(lf_sv_method_name((lf_sv_method)9), "unknown") == 0);
    lf_norm nm;
    CHECK(lf_norm_parse("energy", &nm) == 0 && nm == LF_NORM_ENERGY);
    CHECK(lf_norm_parse("l2", &nm) == -1);
    CHECK(strcmp(lf_norm_name(LF_NORM_SUM), "sum") == 0);
}

/* ---- cumulative curves ------------------------------------------------------- */

/* Closed forms. Equal values give the linear ramp (i + 1) / r exactly: the prefix sums
 * of equal (power-of-two-scaled) values are exact integers times the value, and the
 * division is correctly rounded. The identity matrix goes through the full path
 * (Gram of I is exact). {3, 2, 1} gives {1/2, 5/6, 1} and {9/14, 13/14, 1}, to the
 * rounding of one division (0.5 ulp). */
static void test_cumulative_closed_forms(void)
{
    double sv[100], cum[100];
    for (int i = 0; i < 100; i++) sv[i] = 3.0;
    for (int norm = 0; norm < 2; norm++) {
        CHECK(lf_sv_cumulative(sv, 100, (lf_norm)norm, cum) == 0);
        for (int i = 0; i < 100; i++) CHECK(cum[i] == (double)(i + 1) / 100.0);
    }
    const int64_t n = 64;
    float *eye = lf_calloc((size_t)(n * n), sizeof(float));
    for (int64_t i = 0; i < n; i++) eye[i * n + i] = 1.0f;
    CHECK(lf_sv_compute(eye, n, n, LF_SV_DEFAULT, sv) == 0);
    CHECK(lf_sv_cumulative(sv, n, LF_NORM_SUM, cum) == 0);
    for (int64_t i = 0; i < n; i++) CHECK(cum[i] == (double)(i + 1) / (double)n);
    lf_free(eye);

    const double s3[3] = {3, 2, 1};
    const double want_sum[3] = {1.0 / 2, 5.0 / 6, 1.0}, want_energy[3] = {9.0 / 14, 13.0 / 14, 1.0};
    CHECK(lf_sv_cumulative(s3, 3, LF_NORM_SUM, cum) == 0);
    CHECK_ARRAYS_D("sum {3,2,1}", cum, want_sum, 3, 0, EPS64);
    CHECK(lf_sv_cumulative(s3, 3, LF_NORM_ENERGY, cum) == 0);
    CHECK_ARRAYS_D("energy {3,2,1}", cum, want_energy, 3, 0, EPS64);
}

/* Compensated summation matters: sigma = {1, then 2^20 values of 2^-60}. The exact
 * total is 1 + 2^-40 (representable), so cum[0] = 1 / (1 + 2^-40) and cum at the
 * middle index 2^19 + 1 = (1 + 2^-41) / (1 + 2^-40). A plain running sum never
 * moves off 1 (each 2^-60 is below half an ulp of 1) and gives cum[0] = 1, wrong by
 * 9e-13: far outside the 1-ulp tolerance. */
static void test_cumulative_compensated(void)
{
    const int64_t r = (1 << 20) + 1;
    double *sv = malloc((size_t)r * sizeof *sv), *cum = malloc((size_t)r * sizeof *cum);
    sv[0] = 1.0;
    for (int64_t i = 1; i < r; i++) sv[i] = ldexp(1.0, -60);
    CHECK(lf_sv_cumulative(sv, r, LF_NORM_SUM, cum) == 0);
    double total = 1.0 + ldexp(1.0, -40);
    CHECK_NEAR(cum[0], 1.0 / total, EPS64);
    CHECK_NEAR(cum[r / 2], (1.0 + ldexp(1.0, -41)) / total, EPS64);
    CHECK(cum[r - 1] == 1.0);
    check_notef("cum[0] - 1/(1+2^-40) = %.1e", cum[0] - 1.0 / total);
    free(sv), free(cum);
}

/* Invariants on a real spectrum (attention matrix): non-decreasing, last value 1
 * exactly, never above 1; the curve matches a long-double reference to 4 eps64;
 * energy lies above sum (squares weight the large values more: for descending
 * values the energy share of the top i is at least their sum share). */
static void test_cumulative_invariants(void)
{
    const int64_t n = 256;
    float *a = malloc((size_t)(n * n) * sizeof *a);
    attention_matrix(a, n, n, 4.0, n, 31);
    double sv[256], cs[256], ce[256], want[256];
    CHECK(lf_sv_compute(a, n, n, LF_SV_DEFAULT, sv) == 0);
    CHECK(lf_sv_cumulative(sv, n, LF_NORM_SUM, cs) == 0);
    CHECK(lf_sv_cumulative(sv, n, LF_NORM_ENERGY, ce) == 0);
    long double tot = 0, acc = 0;
    for (int64_t i = 0; i < n; i++) tot += sv[i];
    for (int64_t i = 0; i < n; i++) want[i] = (double)((acc += sv[i]) / tot);
    double e = CHECK_ARRAYS_D("sum vs long double", cs, want, n, 0, 4 * EPS64);
    for (int64_t i = 1; i < n; i++) CHECK(cs[i] >= cs[i - 1] && ce[i] >= ce[i - 1]);
    for (int64_t i = 0; i < n; i++) CHECK(cs[i] <= 1.0 && ce[i] >= cs[i] * (1 - 4 * EPS64));
    CHECK(cs[n - 1] == 1.0 && ce[n - 1] == 1.0);
    check_notef("max |cum - ref| %.1e", e);
    free(a);
}

/* The zero matrix: NaN curve and -1 (documented: 0/0 is undefined). Bad input. */
static void test_cumulative_errors(void)
{
    double z[4] = {0, 0, 0, 0}, cum[4] = {0, 0, 0, 0}, v = 0;
    CHECK(lf_sv_cumulative(z, 4, LF_NORM_SUM, cum) == -1);
    CHECK(strstr(lf_error_get(), "zero") != NULL);
    for (int i = 0; i < 4; i++) CHECK(isnan(cum[i]));
    CHECK(lf_sv_cumulative_at(z, 4, LF_NORM_ENERGY, 2, &v) == -1 && isnan(v));
    const double unsorted[3] = {1, 2, 0.5}, negative[3] = {2, 1, -1}, nan3[3] = {2, NAN, 1};
    CHECK(lf_sv_cumulative(unsorted, 3, LF_NORM_SUM, cum) == -1);
    CHECK(strstr(lf_error_get(), "descending") != NULL);
    CHECK(lf_sv_cumulative(negative, 3, LF_NORM_SUM, cum) == -1);
    CHECK(lf_sv_cumulative(nan3, 3, LF_NORM_SUM, cum) == -1);
    CHECK(lf_sv_cumulative(z, 0, LF_NORM_SUM, cum) == 0);
    CHECK(lf_sv_cumulative(z, 4, (lf_norm)5, cum) == -1);
}

/* Value at a 1-based index: bit-identical to the curve, index 128 of 512 is the
 * paper's heatmap value, and out-of-range indices are refused. */
static void test_cumulative_at(void)
{
    const int64_t n = 512;
    float *a = malloc((size_t)(n * n) * sizeof *a);
    attention_matrix(a, n, n, 2.0, n, 41);
    double *sv = malloc((size_t)n * sizeof *sv), *cum = malloc((size_t)n * sizeof *cum);
    CHECK(lf_sv_compute(a, n, n, LF_SV_DEFAULT, sv) == 0);
    for (int norm = 0; norm < 2; norm++) {
        CHECK(lf_sv_cumulative(sv, n, (lf_norm)norm, cum) == 0);
        const int64_t idx[5] = {1, 2, 128, 511, 512};
        for (int t = 0; t < 5; t++) {
            double v = -1;
            CHECK(lf_sv_cumulative_at(sv, n, (lf_norm)norm, idx[t], &v) == 0);
            CHECK_MSG(v == cum[idx[t] - 1], "norm %d index %lld: %.17g vs curve %.17g", norm,
                      (long long)idx[t], v, cum[idx[t] - 1]);
        }
    }
    double v128, head = 0, total = 0;
    CHECK(lf_sv_cumulative_at(sv, n, LF_NORM_SUM, 128, &v128) == 0);
    for (int64_t i = 0; i < n; i++) total += sv[i], head += i < 128 ? sv[i] : 0;
    CHECK_NEAR(v128, head / total, 1e-14);
    double v;
    CHECK(lf_sv_cumulative_at(sv, n, LF_NORM_SUM, 0, &v) == -1);
    CHECK(lf_sv_cumulative_at(sv, n, LF_NORM_SUM, n + 1, &v) == -1);
    check_notef("value at 128 of 512 (scores N(0, 4)): %.4f", v128);
    free(a), free(sv), free(cum);
}

/* ---- running statistics ------------------------------------------------------ */

/* Two-pass reference in long double: mean, then the sum of squared deviations. */
static void two_pass(const double *x, int64_t count, int64_t len, double *mean, double *std)
{
    for (int64_t j = 0; j < len; j++) {
        long double s = 0, ss = 0;
        for (int64_t i = 0; i < count; i++) s += x[i * len + j];
        long double mu = s / count;
        for (int64_t i = 0; i < count; i++) ss += (x[i * len + j] - mu) * (x[i * len + j] - mu);
        mean[j] = (double)mu;
        std[j] = (double)sqrtl(ss / (count - 1));
    }
}

/* Welford against two passes on data made to break the naive sum-of-squares
 * formula: mean 0.9, spread 1e-6 (E[x^2] - E[x]^2 would cancel 12 of 16 digits).
 * Welford's relative error on the std is ~count eps64 mean/spread in the worst case
 * and ~sqrt(count) eps64 mean/spread typically (5e-9 here); we allow 1e-8 relative.
 * The running mean takes one rounding of ~eps64 |mean| per update, a random walk of
 * ~sqrt(count) eps64 = 45 eps64: we allow 1e-13 relative (~450 eps64). */
static void test_welford_vs_two_pass(void)
{
    const int64_t count = 2000, len = 9;
    double *x = malloc((size_t)(count * len) * sizeof *x);
    lf_rng g;
    lf_rng_init(&g, 3, 3);
    for (int64_t i = 0; i < count * len; i++) x[i] = 0.9 + 1e-6 * lf_rng_normal(&g) * (1 + i % len);
    lf_welford w;
    CHECK(lf_welford_init(&w, len) == 0);
    for (int64_t i = 0; i < count; i++) CHECK(lf_welford_add(&w, x + i * len) == 0);
    double mean[9], std[9], rmean[9], rstd[9];
    two_pass(x, count, len, rmean, rstd);
    CHECK(lf_welford_std(&w, std) == 0);
    memcpy(mean, w.mean, sizeof mean);
    CHECK(w.count == count);
    CHECK_ARRAYS_D("mean", mean, rmean, len, 0, 1e-13);
    double e = 0;
    for (int64_t j = 0; j < len; j++) e = fmax(e, fabs(std[j] - rstd[j]) / rstd[j]);
    CHECK_MSG(e <= 1e-8, "std relative error %.3g > 1e-8", e);
    check_notef("std rel err %.1e", e);
    lf_welford_free(&w);
    lf_welford_free(&w); /* twice is safe */
    free(x);
}

/* Merge (Chan et al.) equals sequential adds: partial states over uneven slices,
 * merged in slice order, give the same mean and std to rounding (the formulas differ,
 * so not bit for bit; both means carry the ~sqrt(count) eps64 random walk of the
 * running update: 1e-13 relative, and 1e-12 on the std for O(1) data),
 * and merging the same slices in the same order twice gives identical bits. Empty
 * states merge as no-op / copy exactly. */
static void test_welford_merge(void)
{
    const int64_t count = 1001, len = 5;
    const int64_t cuts[5] = {0, 1, 1, 400, 1001}; /* slices of 1, 0, 399, 601 */
    double *x = malloc((size_t)(count * len) * sizeof *x);
    lf_rng g;
    lf_rng_init(&g, 4, 4);
    for (int64_t i = 0; i < count * len; i++) x[i] = lf_rng_uniform(&g) * (1 + i % len);
    lf_welford seq, parts[4], all, again;
    CHECK(lf_welford_init(&seq, len) == 0);
    for (int64_t i = 0; i < count; i++) CHECK(lf_welford_add(&seq, x + i * len) == 0);
    CHECK(lf_welford_init(&all, len) == 0 && lf_welford_init(&again, len) == 0);
    for (int p = 0; p < 4; p++) {
        CHECK(lf_welford_init(&parts[p], len) == 0);
        for (int64_t i = cuts[p]; i < cuts[p + 1]; i++) CHECK(lf_welford_add(&parts[p], x + i * len) == 0);
    }
    for (int p = 0; p < 4; p++) CHECK(lf_welford_merge(&all, &parts[p]) == 0);
    for (int p = 0; p < 4; p++) CHECK(lf_welford_merge(&again, &parts[p]) == 0);
    CHECK(all.count == count);
    double s1[5], s2[5];
    CHECK(lf_welford_std(&seq, s1) == 0 && lf_welford_std(&all, s2) == 0);
    CHECK_ARRAYS_D("merged mean", all.mean, seq.mean, len, 0, 1e-13);
    double e = CHECK_ARRAYS_D("merged std", s2, s1, len, 0, 1e-12);
    CHECK(memcmp(all.mean, again.mean, sizeof s1) == 0 && memcmp(all.m2, again.m2, sizeof s1) == 0);
    /* Into an empty state: an exact copy; an empty state merged in: nothing changes. */
    lf_welford empty;
    CHECK(lf_welford_init(&empty, len) == 0);
    CHECK(lf_welford_merge(&empty, &parts[3]) == 0);
    CHECK(empty.count == parts[3].count && memcmp(empty.mean, parts[3].mean, sizeof s1) == 0 &&
          memcmp(empty.m2, parts[3].m2, sizeof s1) == 0);
    CHECK(lf_welford_merge(&empty, &parts[1]) == 0);
    CHECK(empty.count == parts[3].count && memcmp(empty.mean, parts[3].mean, sizeof s1) == 0);
    lf_welford other;
    CHECK(lf_welford_init(&other, len + 1) == 0);
    CHECK(lf_welford_merge(&all, &other) == -1);
    check_notef("merged std rel diff %.1e", e);
    lf_welford_free(&seq), lf_welford_free(&all), lf_welford_free(&again), lf_welford_free(&empty),
        lf_welford_free(&other);
    for (int p = 0; p < 4; p++) lf_welford_free(&parts[p]);
    free(x);
}

/* Checkpoint and restore: a state rebuilt from (count, mean, m2) and continued gives
 * exactly the bits of an uninterrupted run. Invalid checkpoints, NaN input, and the
 * undefined std of fewer than two vectors. */
static void test_welford_checkpoint(void)
{
    const int64_t len = 4;
    double x[40];
    lf_rng g;
    lf_rng_init(&g, 6, 6);
    for (int i = 0; i < 40; i++) x[i] = lf_rng_normal(&g);
    lf_welford a, b;
    CHECK(lf_welford_init(&a, len) == 0);
    for (int i = 0; i < 10; i++) CHECK(lf_welford_add(&a, x + 4 * i) == 0);
    lf_welford half;
    CHECK(lf_welford_init(&half, len) == 0);
    for (int i = 0; i < 6; i++) CHECK(lf_welford_add(&half, x + 4 * i) == 0);
    CHECK(lf_welford_restore(&b, half.len, half.count, half.mean, half.m2) == 0);
    for (int i = 6; i < 10; i++) CHECK(lf_welford_add(&b, x + 4 * i) == 0);
    CHECK(b.count == a.count && memcmp(a.mean, b.mean, sizeof(double) * len) == 0 &&
          memcmp(a.m2, b.m2, sizeof(double) * len) == 0);
    /* NaN refused, state unchanged. */
    double bad[4] = {1, NAN, 2, 3}, before[4];
    memcpy(before, a.mean, sizeof before);
    CHECK(lf_welford_add(&a, bad) == -1 && a.count == 10 && memcmp(before, a.mean, sizeof before) == 0);
    /* Invalid checkpoints. */
    lf_welford c;
    double m2neg[4] = {0, -1, 0, 0}, zeros[4] = {0, 0, 0, 0};
    CHECK(lf_welford_restore(&c, len, 3, zeros, m2neg) == -1 && c.mean == NULL);
    CHECK(lf_welford_restore(&c, len, -1, zeros, zeros) == -1);
    CHECK(lf_welford_restore(&c, len, 0, before, zeros) == -1);
    CHECK(lf_welford_restore(&c, 0, 0, zeros, zeros) == -1);
    lf_welford_free(&c);
    /* std of < 2 vectors is NaN (sample std divides by count - 1). */
    double s[4];
    lf_welford one;
    CHECK(lf_welford_init(&one, len) == 0 && lf_welford_std(&one, s) == 0 && isnan(s[0]));
    CHECK(lf_welford_add(&one, x) == 0 && lf_welford_std(&one, s) == 0 && isnan(s[3]));
    CHECK(memcmp(one.mean, x, sizeof(double) * len) == 0);
    CHECK(lf_welford_add(&one, x + 4) == 0 && lf_welford_std(&one, s) == 0);
    CHECK_NEAR(s[0], fabs(x[0] - x[4]) / sqrt(2.0), 4 * EPS64 * fabs(x[0] - x[4]));
    CHECK(lf_welford_init(&c, 0) == -1);
    lf_welford_free(&a), lf_welford_free(&b), lf_welford_free(&half), lf_welford_free(&one);
}

int main(void)
{
    check_program = "test_spectrum";
    lf_threads_set(0);
    RUN(test_diagonal);
    RUN(test_orthogonal_diagonal);
    RUN(test_rank_r);
    RUN(test_attention_vs_float64);
    RUN(test_zero_rows_columns);
    RUN(test_batch_identical);
    RUN(test_sv_errors);
    RUN(test_cumulative_closed_forms);
    RUN(test_cumulative_compensated);
    RUN(test_cumulative_invariants);
    RUN(test_cumulative_errors);
    RUN(test_cumulative_at);
    RUN(test_welford_vs_two_pass);
    RUN(test_welford_merge);
    RUN(test_welford_checkpoint);
    return check_summary();
}
