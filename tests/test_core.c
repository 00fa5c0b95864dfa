/* test_core.c - the small core pieces: errors, checked allocation, RNG, exp and softmax.
 *
 * RNG golden values come from an independent Python implementation
 * (tests/ref_rng.py) and from the xoshiro256** reference sequence for state
 * {1, 2, 3, 4}. Exp and softmax are checked against double-precision libm.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "gemm.h"
#include "parallel.h"
#include "mem.h"
#include "rng.h"
#include "softmax.h"

static void test_error_messages(void)
{
    lf_error_set("reading %s: %d", "x.h5", 3);
    CHECK(strcmp(lf_error_get(), "reading x.h5: 3") == 0);
    lf_error_prefix("bin/attn");
    CHECK(strcmp(lf_error_get(), "bin/attn: reading x.h5: 3") == 0);
    lf_error_clear();
    CHECK(strcmp(lf_error_get(), "unknown error") == 0);
}

static void test_alloc(void)
{
    size_t before = lf_mem_current();
    float *a = lf_alloc(1000, sizeof(float));
    CHECK(a != NULL);
    CHECK(((uintptr_t)a % LF_ALIGN) == 0);
    CHECK(lf_mem_current() == before + 4000);
    lf_mem_peak_reset();
    double *b = lf_calloc(500, sizeof(double));
    CHECK(b && b[0] == 0.0 && b[499] == 0.0);
    CHECK(lf_mem_peak() == before + 8000);
    lf_free(b);
    CHECK(lf_mem_peak() == before + 8000);
    CHECK(lf_mem_current() == before + 4000);
    lf_free(a);
    CHECK(lf_mem_current() == before);
    /* Overflowing sizes fail cleanly with a message. */
    CHECK(lf_alloc(SIZE_MAX / 2, 4) == NULL);
    CHECK(strstr(lf_error_get(), "overflow") != NULL);
    size_t out;
    int64_t dims[3] = {1 << 30, 1 << 30, 1 << 30};
    CHECK(lf_size_dims(3, dims, &out) == -1);
    dims[1] = -1;
    CHECK(lf_size_dims(3, dims, &out) == -1);
    int64_t ok[2] = {3, 5};
    CHECK(lf_size_dims(2, ok, &out) == 0 && out == 15);
    void *z = lf_alloc(0, 8); /* valid and freeable */
    CHECK(z != NULL);
    lf_free(z);
    lf_free(NULL);
}

static void test_rng_golden(void)
{
    /* Reference sequence of xoshiro256** for the state {1, 2, 3, 4}. */
    lf_rng r = {{1, 2, 3, 4}};
    const uint64_t ref[4] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL};
    for (int i = 0; i < 4; i++) CHECK(lf_rng_next(&r) == ref[i]);
    /* Seeding, from tests/ref_rng.py. */
    const uint64_t g00[4] = {0x3f9e3171d51e610bULL, 0x5b81d5fc3322c514ULL, 0x7fc02e15fd06b1a5ULL,
                             0x01cba7ea4283e549ULL};
    const uint64_t g427[4] = {0xa71000553f46706cULL, 0x3257b1fb3c1fa87dULL, 0xbb73b38dba9e014aULL,
                              0x7a694153f8e9c084ULL};
    lf_rng_init(&r, 0, 0);
    for (int i = 0; i < 4; i++) CHECK(lf_rng_next(&r) == g00[i]);
    lf_rng_init(&r, 42, 7);
    for (int i = 0; i < 4; i++) CHECK(lf_rng_next(&r) == g427[i]);
}

/* Moments of 10^6 normals: the sample mean has standard error 1e-3 and the sample
 * variance 1.4e-3, so 5 standard errors (5e-3, 7e-3) fail with probability < 1e-6
 * for a correct generator; fourth moment 3 (std err ~1e-2, bound 0.05). Uniform
 * mean 1/2 (std err 2.9e-4). */
static void test_rng_moments(void)
{
    const size_t n = 1000000;
    float *x = malloc(n * sizeof *x);
    lf_rng r;
    lf_rng_init(&r, 7, 3);
    lf_rng_fill_normal(&r, x, n, 0.0, 1.0);
    double m = 0, v = 0, k4 = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m /= n;
    for (size_t i = 0; i < n; i++) {
        double dd = x[i] - m;
        v += dd * dd;
        k4 += dd * dd * dd * dd;
    }
    v /= n - 1;
    k4 /= n * v * v;
    CHECK_NEAR(m, 0.0, 5e-3);
    CHECK_NEAR(v, 1.0, 7e-3);
    CHECK_NEAR(k4, 3.0, 0.05);
    lf_rng_fill_uniform(&r, x, n, 0.0, 1.0);
    double u = 0, lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        u += x[i];
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
    }
    CHECK_NEAR(u / n, 0.5, 1.5e-3);
    CHECK(lo >= 0.0 && hi <= 1.0);
    check_notef("mean %.1e var %.4f kurtosis %.3f", m, v, k4);
    free(x);
}

static void test_rng_streams(void)
{
    lf_rng a, b;
    lf_rng_init(&a, 5, 0);
    lf_rng_init(&b, 5, 0);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= lf_rng_next(&a) == lf_rng_next(&b);
    CHECK(same);
    lf_rng_init(&a, 5, 0);
    lf_rng_init(&b, 5, 1);
    int equal = 0;
    for (int i = 0; i < 100; i++) equal += lf_rng_next(&a) == lf_rng_next(&b);
    CHECK(equal == 0);
}

/* lf_exp_inplace against double exp: a Cephes-style float exp has relative error
 * below ~2 ulp (2.4e-7); we allow 4e-7 over [-87, 88] on a fine grid plus the
 * special values. */
static void test_exp_accuracy(void)
{
    const int64_t n = 2000001;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (int64_t i = 0; i < n; i++) x[i] = -87.0f + 175.0f * (float)i / (float)(n - 1);
    memcpy(y, x, n * sizeof *x);
    lf_exp_inplace(y, n);
    double worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        double ref = exp((double)x[i]);
        double rel = fabs(y[i] - ref) / ref;
        if (!(rel <= worst)) {
            worst = rel;
            wi = i;
        }
    }
    CHECK_MSG(worst <= 4e-7, "exp(%.9g) = %.9g, relative error %.3g", x[wi], y[wi], worst);
    float sp[6] = {0.0f, -100.0f, 100.0f, NAN, -INFINITY, INFINITY};
    lf_exp_inplace(sp, 6);
    CHECK(sp[0] == 1.0f);
    CHECK(sp[1] == 0.0f);
    CHECK(isinf(sp[2]) && sp[2] > 0);
    CHECK(isnan(sp[3]));
    CHECK(sp[4] == 0.0f);
    CHECK(isinf(sp[5]));
    /* The softmax passes' own exponential (by hand on eight lanes where AVX2 is
     * available): exp(x - 0) through lf_softmax_exp_shifted, same contract; the
     * special values fill two whole vectors of eight. */
    memcpy(y, x, n * sizeof *x);
    lf_softmax_exp_shifted(y, n, 0.0f, NULL);
    double worst2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double ref = exp((double)x[i]);
        double rel = fabs(y[i] - ref) / ref;
        if (!(rel <= worst2)) {
            worst2 = rel;
            wi = i;
        }
    }
    CHECK_MSG(worst2 <= 4e-7, "shifted exp(%.9g) = %.9g, relative error %.3g", x[wi], y[wi],
              worst2);
    float sp8[16] = {0.0f, -100.0f, 100.0f, NAN, -INFINITY, INFINITY, 88.5f, -87.5f,
                     0.0f, -100.0f, 100.0f, NAN, -INFINITY, INFINITY, 88.5f, -87.5f};
    lf_softmax_exp_shifted(sp8, 16, 0.0f, NULL);
    for (int l = 0; l < 16; l += 8) {
        CHECK(sp8[l] == 1.0f && sp8[l + 1] == 0.0f && sp8[l + 4] == 0.0f && sp8[l + 7] == 0.0f);
        CHECK(isinf(sp8[l + 2]) && isinf(sp8[l + 5]) && isinf(sp8[l + 6]) && isnan(sp8[l + 3]));
    }
    check_notef("max relative error %.2e (%.2f ulp), softmax passes %.2e", worst, worst / 5.96e-8,
                worst2);
    free(x), free(y);
}

/* lf_softmax_exp_shifted (vector lanes by hand where AVX2/AVX-512 is available) is
 * bit-identical to the scalar definition: exp(x - max) element by element
 * (lf_exp_inplace), zero where masked, the sum accumulated in eight double lanes
 * (element j into lane j mod 8, in order, lanes added 0..7). Lengths 1..70 cover
 * every tail of eight and sixteen lanes, with and without a mask. */
static void test_exp_shifted_matches_scalar(void)
{
    float row[70], got[70], ref[70];
    uint8_t mask[70];
    int mismatches = 0;
    for (int64_t n = 1; n <= 70; n++)
        for (int masked = 0; masked < 2; masked++) {
            for (int64_t j = 0; j < n; j++) {
                row[j] = 9.0f * sinf(0.7f * (float)(j + n)) - 3.0f;
                mask[j] = (uint8_t)((j * 7 + n) % 5 != 0);
            }
            const uint8_t *mk = masked ? mask : NULL;
            const float max = 4.5f;
            for (int64_t j = 0; j < n; j++) ref[j] = row[j] - max;
            lf_exp_inplace(ref, n);
            double lane[8] = {0};
            for (int64_t j = 0; j < n; j++) {
                if (mk && !mk[j]) ref[j] = 0.0f;
                lane[j % 8] += ref[j];
            }
            double want = 0.0;
            for (int l = 0; l < 8; l++) want += lane[l];
            memcpy(got, row, (size_t)n * sizeof *got);
            double sum = lf_softmax_exp_shifted(got, n, max, mk);
            if (sum != want || memcmp(got, ref, (size_t)n * sizeof *got) != 0) mismatches++;
        }
    CHECK_MSG(mismatches == 0, "%d of 140 rows differ from the scalar definition", mismatches);
}

static void test_softmax_row(void)
{
    /* Against double softmax, with huge magnitudes that would overflow a naive exp. */
    float row[7] = {1000.0f, 999.0f, -1000.0f, 998.5f, 0.0f, 1000.0f, -3.0f};
    uint8_t mask[7] = {1, 1, 1, 0, 1, 1, 1};
    double ref[7], mx = -INFINITY, sum = 0;
    for (int j = 0; j < 7; j++)
        if (mask[j]) mx = fmax(mx, row[j]);
    for (int j = 0; j < 7; j++) {
        ref[j] = mask[j] ? exp((double)row[j] - mx) : 0.0;
        sum += ref[j];
    }
    float reff[7];
    for (int j = 0; j < 7; j++) reff[j] = (float)(ref[j] / sum);
    CHECK(lf_softmax_row(row, 7, mask) == 1000.0f);
    CHECK_ARRAYS("softmax", row, reff, 7, 1e-8, 4e-7);
    CHECK(row[3] == 0.0f);
    /* All masked -> zeros. */
    float z[3] = {1, 2, 3};
    uint8_t none[3] = {0, 0, 0};
    lf_softmax_row(z, 3, none);
    CHECK(z[0] == 0.0f && z[1] == 0.0f && z[2] == 0.0f);
    /* A long row (exercise the vector lanes and tails): sums to 1. */
    float big[1003];
    for (int j = 0; j < 1003; j++) big[j] = sinf((float)j) * 20.0f;
    lf_softmax_row(big, 1003, NULL);
    double s = 0;
    for (int j = 0; j < 1003; j++) s += big[j];
    CHECK_NEAR(s, 1.0, 1e-6);
    /* NaN propagates instead of being hidden. */
    float nanrow[4] = {0.0f, NAN, 1.0f, 2.0f};
    lf_softmax_row(nanrow, 4, NULL);
    int anynan = 0;
    for (int j = 0; j < 4; j++) anynan |= isnan(nanrow[j]);
    CHECK(anynan);
}

/* lf_softmax_rows on rows long enough for the vector lanes (n = 45: five lanes of
 * eight and a tail), with a stride, masked entries in lanes and tail, a NaN in a
 * lane, +inf and -inf scores, and a fully masked row: against double softmax, and
 * bit-identical to lf_softmax_row row by row. */
static void test_softmax_rows(void)
{
    enum { R = 6, N = 45, LD = 48 };
    float s[R * LD], t[R * LD];
    uint8_t mask[N];
    for (int j = 0; j < N; j++) mask[j] = (j % 7) != 3;
    for (int i = 0; i < R * LD; i++) s[i] = sinf(0.37f * (float)i) * 30.0f;
    s[1 * LD + 11] = NAN;      /* an unmasked NaN shows in the row */
    s[2 * LD + 3] = 1e30f;      /* masked: ignored */
    s[3 * LD + 12] = -INFINITY; /* exp(-inf) = 0 */
    for (int j = 0; j < N; j++) s[4 * LD + j] = mask[j] ? -INFINITY : 1.0f; /* all masked */
    memcpy(t, s, sizeof s);
    float ref[R][N];
    for (int i = 0; i < R; i++) {
        double mx = -INFINITY, sum = 0, e[N];
        for (int j = 0; j < N; j++)
            if (mask[j] && s[i * LD + j] > mx) mx = s[i * LD + j];
        for (int j = 0; j < N; j++) {
            e[j] = mask[j] && mx > -INFINITY ? exp((double)s[i * LD + j] - mx) : 0.0;
            sum += e[j];
        }
        for (int j = 0; j < N; j++) ref[i][j] = sum > 0 ? (float)(e[j] / sum) : 0.0f;
    }
    lf_softmax_rows(s, R, N, LD, mask);
    for (int i = 0; i < R; i++) lf_softmax_row(t + i * LD, N, mask);
    CHECK(memcmp(s, t, sizeof s) == 0);
    CHECK(isnan(s[1 * LD + 11]));
    for (int i = 0; i < R; i++) {
        if (i == 1) continue;
        CHECK_ARRAYS("rows", s + i * LD, ref[i], N, 1e-8, 4e-7);
        for (int j = 0; j < N; j++)
            if (!mask[j]) CHECK(s[i * LD + j] == 0.0f);
    }
    /* Entries between rows (the stride's padding) are untouched. */
    CHECK(s[LD - 1] == t[LD - 1] && s[LD - 1] == sinf(0.37f * (float)(LD - 1)) * 30.0f);
}

/* lf_sgemm against a naive double loop for every transpose combination and both
 * split directions (tall and wide C), with ragged panel sizes and 2, 4 and 8 panels;
 * 1, 2 and 3 threads give bit-identical results. Tolerance: K <= 600 products of
 * N(0,1) floats; the float32 accumulation error is ~ eps sqrt(K) |partial sums|, 1e-5
 * to 3e-5 here (measured 2.7e-5 at K = 600), its worst-case bound gamma_K sum |a b| ~
 * 1e-2; a wrong panel offset or transpose errs by O(1). -> 1e-4 absolute + 1e-5
 * relative. */
static void test_sgemm(void)
{
    /* m, n, k: 4 row panels (96 rows, last 45), 4 column panels (112, last 65),
     * 2 row panels (32 and 28), 8 row panels (144, last 92) */
    const int64_t shapes[4][3] = {{333, 37, 300}, {29, 401, 300}, {60, 60, 600}, {1100, 20, 200}};
    lf_rng r;
    lf_rng_init(&r, 11, 0);
    double worst = 0;
    int saved = lf_threads_get();
    for (int sh = 0; sh < 4; sh++) {
        int64_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b);
        float *c1 = malloc(m * n * sizeof *a), *c2 = malloc(m * n * sizeof *a),
              *c3 = malloc(m * n * sizeof *a);
        float *ref = malloc(m * n * sizeof *a);
        lf_rng_fill_normal(&r, a, m * k, 0, 1);
        lf_rng_fill_normal(&r, b, k * n, 0, 1);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                /* A is stored m x k (lda k) or, transposed, k x m (lda m); same for B. */
                int64_t lda = ta ? m : k, ldb = tb ? k : n;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double acc = 0;
                        for (int64_t l = 0; l < k; l++) {
                            double av = ta ? a[l * lda + i] : a[i * lda + l];
                            double bv = tb ? b[j * ldb + l] : b[l * ldb + j];
                            acc += av * bv;
                        }
                        ref[i * n + j] = (float)(0.5 * acc + 2.0 * 1.0);
                    }
                for (int64_t i = 0; i < m * n; i++) c1[i] = c2[i] = c3[i] = 1.0f;
                lf_threads_set(1);
                lf_sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c1, n);
                lf_threads_set(2);
                lf_sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c2, n);
                lf_threads_set(3);
                lf_sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c3, n);
                worst = fmax(worst, CHECK_ARRAYS("sgemm", c2, ref, m * n, 1e-4, 1e-5));
                CHECK_MSG(memcmp(c1, c2, m * n * sizeof *c1) == 0,
                          "1 and 2 threads differ (shape %d, ta %d, tb %d)", sh, ta, tb);
                CHECK_MSG(memcmp(c1, c3, m * n * sizeof *c1) == 0,
                          "1 and 3 threads differ (shape %d, ta %d, tb %d)", sh, ta, tb);
            }
        free(a), free(b), free(c1), free(c2), free(c3), free(ref);
    }
    lf_threads_set(saved);
    check_notef("max |diff| %.1e", worst);
}

int main(void)
{
    check_program = "test_core";
    RUN(test_error_messages);
    RUN(test_alloc);
    RUN(test_rng_golden);
    RUN(test_rng_moments);
    RUN(test_rng_streams);
    RUN(test_exp_accuracy);
    RUN(test_exp_shifted_matches_scalar);
    RUN(test_softmax_row);
    RUN(test_softmax_rows);
    RUN(test_sgemm);
    return check_summary();
}
