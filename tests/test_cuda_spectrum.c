/* test_cuda_spectrum.c - lf_sv_batch_cuda (Gram + cuSOLVER) against LAPACKE_dgesdd on a
 * float64 copy, under the contract of spectrum.h for the Gram method:
 *   |sigma_i - ref_i| <= 2 eps32 sigma_0   (eps32 = 2^-23)
 * on softmax attention matrices (n = 512, nearly uniform to nearly one-hot, one with
 * 128 padded keys, whose zero singular values come out at rounding level on the GPU
 * since zero columns are not removed there), a Linformer-shaped 512 x 128 P, and
 * Gaussian matrices wide and tall (both Gram orientations). Batches: each matrix of a
 * batch equals the matrix computed alone. Also against the CPU Gram method (both
 * float64 computations, so within the same tolerance). Non-finite entries are refused
 * naming matrix, row and column. Argument checks run without a GPU. */
#include <lapacke.h>
#include <stdlib.h>

#include "check.h"
#include "rng.h"
#include "spectrum.h"
#include "test_cuda_util.h"

#define EPS32 (1.0 / 8388608.0)

static void ref_sv(const float *a, int64_t m, int64_t n, double *sv)
{
    double *d = malloc((size_t)(m * n) * sizeof *d);
    for (int64_t i = 0; i < m * n; i++) d[i] = a[i];
    int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, d, (int)n, sv, NULL, (int)m,
                              NULL, (int)n);
    if (info != 0) {
        fprintf(stderr, "reference dgesdd failed: info %d\n", info);
        abort();
    }
    free(d);
}

/* Softmax of N(0, s^2) scores in double, rounded to float; keys >= valid are padding. */
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

static void test_arguments(void)
{
    float x = 0;
    double sv = 0;
    CHECK(lf_sv_batch_cuda(&x, 1, 4, 4, LF_SV_SGESDD, &sv) == -1);
    CHECK(strstr(lf_error_get(), "only gram") != NULL);
    CHECK(lf_sv_batch_cuda(&x, -1, 4, 4, LF_SV_GRAM, &sv) == -1);
    CHECK(strstr(lf_error_get(), "negative") != NULL);
    CHECK(lf_sv_batch_cuda(&x, 1, (int64_t)1 << 32, 4, LF_SV_GRAM, &sv) == -1);
    CHECK(lf_sv_batch_cuda(NULL, 1, 4, 4, LF_SV_GRAM, &sv) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
    /* Empty batches and matrices: nothing to do, no device needed. */
    CHECK(lf_sv_batch_cuda(NULL, 0, 4, 4, LF_SV_GRAM, NULL) == 0);
    CHECK(lf_sv_batch_cuda(NULL, 3, 0, 4, LF_SV_GRAM, NULL) == 0);
}

static double max_rel_s0(const double *sv, const double *ref, int64_t r)
{
    double e = 0;
    for (int64_t i = 0; i < r; i++) e = fmax(e, fabs(sv[i] - ref[i]) / ref[0]);
    return e;
}

static void test_against_lapacke(void)
{
    struct {
        int64_t m, n, valid;
        double s; /* > 0: attention matrix with score scale s; 0: Gaussian */
    } cases[] = {{512, 512, 512, 0.5}, {512, 512, 512, 2.0}, {512, 512, 512, 16.0},
                 {512, 512, 384, 4.0}, {512, 128, 128, 3.0}, {200, 300, 300, 0.0},
                 {300, 200, 200, 0.0}};
    const int64_t count = 3; /* each case as a batch of three: the same matrix, scaled 1, 2, 0.5 */
    double worst = 0, worst_cpu = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t m = cases[c].m, n = cases[c].n, r = m < n ? m : n;
        size_t mn = (size_t)(m * n);
        float *a = malloc(count * mn * sizeof *a);
        if (cases[c].s > 0) {
            attention_matrix(a, m, n, cases[c].s, cases[c].valid, 100 + c);
        } else {
            lf_rng rr;
            lf_rng_init(&rr, 77, c);
            lf_rng_fill_normal(&rr, a, mn, 0.0, 1.0);
        }
        for (size_t i = 0; i < mn; i++) a[mn + i] = 2.0f * a[i], a[2 * mn + i] = 0.5f * a[i];
        double *ref = malloc((size_t)(count * r) * 8), *sv = malloc((size_t)(count * r) * 8);
        double *one = malloc((size_t)r * 8), *cpu = malloc((size_t)r * 8);
        for (int64_t b = 0; b < count; b++) ref_sv(a + b * mn, m, n, ref + b * r);
        float *da = tc_up(a, count * mn, 4);
        double *dsv = tc_dev((size_t)(count * r), 8);
        CHECK_MSG(lf_sv_batch_cuda(da, count, m, n, LF_SV_GRAM, dsv) == 0, "%s", lf_error_get());
        tc_down(sv, dsv, (size_t)(count * r), 8);
        for (int64_t b = 0; b < count; b++) {
            double e = max_rel_s0(sv + b * r, ref + b * r, r);
            CHECK_MSG(e <= 2 * EPS32, "case %zu matrix %lld: max |sv - ref| / s0 = %.3g > %.3g", c,
                      (long long)b, e, 2 * EPS32);
            for (int64_t i = 1; i < r; i++) CHECK(sv[b * r + i] <= sv[b * r + i - 1]);
            worst = fmax(worst, e);
        }
        /* The middle matrix alone gives the same values as within the batch. */
        CHECK(lf_sv_batch_cuda(da + mn, 1, m, n, LF_SV_GRAM, dsv) == 0);
        tc_down(one, dsv, (size_t)r, 8);
        CHECK(memcmp(one, sv + r, (size_t)r * 8) == 0);
        /* And the CPU Gram method agrees within the same tolerance. */
        CHECK(lf_sv_compute(a, m, n, LF_SV_GRAM, cpu) == 0);
        double ec = max_rel_s0(sv, cpu, r);
        CHECK_MSG(ec <= 2 * EPS32, "case %zu: GPU vs CPU gram %.3g", c, ec);
        worst_cpu = fmax(worst_cpu, ec);
        lf_cuda_free(da), lf_cuda_free(dsv);
        free(a), free(ref), free(sv), free(one), free(cpu);
    }
    check_notef("max |sv - ref| / s0 %.1e (tol %.1e); vs CPU gram %.1e", worst, 2 * EPS32, worst_cpu);
}

/* Without a GPU: the Gram step's cuBLAS arguments run on the host, for both
 * orientations and an attention matrix with padded keys, against LAPACKE_dgesdd. */
static void test_gram_emulated(void)
{
    struct {
        int64_t m, n, valid;
        double s;
    } cases[] = {{96, 96, 80, 3.0}, {120, 40, 40, 2.0}, {40, 120, 120, 0.0}, {64, 64, 64, 0.0}};
    double worst = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t m = cases[c].m, n = cases[c].n, r = m < n ? m : n;
        float *a = malloc((size_t)(m * n) * sizeof *a);
        if (cases[c].s > 0) {
            attention_matrix(a, m, n, cases[c].s, cases[c].valid, 200 + c);
        } else {
            lf_rng rr;
            lf_rng_init(&rr, 78, c);
            lf_rng_fill_normal(&rr, a, (size_t)(m * n), 0.0, 1.0);
        }
        double *ref = malloc((size_t)r * 8), *sv = malloc((size_t)r * 8);
        ref_sv(a, m, n, ref);
        CHECK_MSG(lf_sv_batch_emulate(a, 1, m, n, sv) == 0, "%s", lf_error_get());
        double e = max_rel_s0(sv, ref, r);
        CHECK_MSG(e <= 2 * EPS32, "emulated case %zu: max |sv - ref| / s0 = %.3g", c, e);
        worst = fmax(worst, e);
        free(a), free(ref), free(sv);
    }
    check_notef("max |sv - ref| / s0 %.1e (tol %.1e)", worst, 2 * EPS32);
}

static void test_nonfinite(void)
{
    const int64_t count = 3, m = 20, n = 30;
    float *a = malloc((size_t)(count * m * n) * 4);
    lf_rng r;
    lf_rng_init(&r, 5, 0);
    lf_rng_fill_normal(&r, a, (size_t)(count * m * n), 0.0, 1.0);
    a[2 * m * n + 7 * n + 11] = INFINITY; /* matrix 2, (7, 11) */
    a[1 * m * n + 5 * n + 9] = NAN;       /* matrix 1, (5, 9): the lowest is reported */
    float *da = tc_up(a, (size_t)(count * m * n), 4);
    double *dsv = tc_dev((size_t)(count * m), 8);
    CHECK(lf_sv_batch_cuda(da, count, m, n, LF_SV_GRAM, dsv) == -1);
    CHECK_MSG(strstr(lf_error_get(), "matrix 1 ") && strstr(lf_error_get(), "(5, 9)"), "%s",
              lf_error_get());
    lf_cuda_free(da), lf_cuda_free(dsv);
    free(a);
}

int main(void)
{
    check_program = "test_cuda_spectrum";
    RUN(test_arguments);
    if (tc_no_gpu(check_program)) {
        RUN(test_gram_emulated);
        return check_summary();
    }
    RUN(test_against_lapacke);
    RUN(test_nonfinite);
    lf_cuda_shutdown();
    return check_summary();
}
