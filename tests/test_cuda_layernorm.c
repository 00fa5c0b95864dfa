/* test_cuda_layernorm.c - lf_layernorm_cuda and lf_gelu_cuda against reference loops.
 * The references are the encoder's CPU layer norm and GELU (lf_enc_layernorm,
 * lf_enc_gelu in core/encoder.c), plus float64 references.
 *
 * Tolerances
 *   layer norm: both sides accumulate in double (only the order differs, ~1e-16
 *     relative) and round once to float, so they differ by at most one float ulp:
 *     |gpu - cpu| <= 2^-23 |cpu| + 1e-9 (the absolute part covers outputs near 0,
 *     where the double statistics' 1e-16 relative error exceeds an ulp).
 *   GELU against float64 0.5 t (1 + erf(t / sqrt 2)) of the same float t: CUDA's erff
 *     is within 2 ulp (<= 2^-23 for |erf| < 1), 1 + erf rounds by <= 2^-23, the two
 *     products by 2^-24 each: |gpu - ref| <= 0.5 |t| 2^-22 + 2^-22 |ref| + 1e-38.
 *     glibc's erff obeys the same bound, so the CPU loop is checked against it too.
 *   GELU tanh: see gelu_tanh_ref. Without a GPU both bounds are checked on the CPU
 *     loops (glibc's erff / tanhf), which validates the references and bounds. */
#include <stdlib.h>

#include "check.h"
#include "encoder.h"
#include "rng.h"
#include "test_cuda_util.h"

static float cpu_gelu(float x) { return lf_enc_gelu(x, LF_ACT_GELU_ERF); }
static float cpu_gelu_tanh(float x) { return lf_enc_gelu(x, LF_ACT_GELU_TANH); }

/* The tanh GELU in double and its bound for a float t: the argument z = k (t + c t^3)
 * takes <= 5 roundings (<= 6u relative of Z = |k t| + |k c t^3|), tanh' <= 1, tanhf is
 * within 2 ulp (<= 2^-23), 1 + tanh rounds by <= 2^-23, the products by 2u: with a
 * factor ~1.5 to spare, |y - ref| <= 0.5 |t| (8 u Z + 2^-21) + 2^-22 |ref| + 1e-38. */
static void gelu_tanh_ref(float t, double *ref, double *bound)
{
    const double k = sqrt(2.0 / M_PI), td = t;
    *ref = 0.5 * td * (1.0 + tanh(k * (td + 0.044715 * td * td * td)));
    double Z = fabs(k * td) + fabs(k * 0.044715 * td * td * td);
    *bound = 0.5 * fabs(td) * (8.0 * TC_U32 * Z + 1.0 / 2097152.0) + fabs(*ref) / 4194304.0 + 1e-38;
}

static void test_arguments(void)
{
    float x = 0;
    CHECK(lf_layernorm_cuda(&x, &x, 0, 4, &x, &x, 1e-12) == -1);
    CHECK(strstr(lf_error_get(), "bad shape") != NULL);
    CHECK(lf_layernorm_cuda(&x, &x, 2, 4, NULL, &x, 1e-12) == -1);
    CHECK(lf_layernorm_cuda(&x, &x, 2, 4, &x, &x, -1.0) == -1);
    CHECK(strstr(lf_error_get(), "eps") != NULL);
    CHECK(lf_layernorm_cuda(&x, &x, 2, 4, &x, &x, NAN) == -1);
    CHECK(lf_gelu_cuda(&x, &x, 2, 0, NULL) == -1);
    CHECK(lf_gelu_cuda(NULL, &x, 2, 3, NULL) == -1);
    CHECK(lf_gelu_tanh_cuda(&x, NULL, 2, 3, NULL) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
}

static int on_gpu;

/* Host arrays in and out: on the GPU, or the kernels' bodies on the host. */
static int run_layernorm(const float *x, float *y, int64_t rows, int64_t cols, const float *w,
                         const float *b, double eps)
{
    if (!on_gpu) return lf_layernorm_emulate(x, y, rows, cols, w, b, eps);
    const size_t total = (size_t)(rows * cols);
    float *dx = tc_up(x, total, 4), *dw = tc_up(w, (size_t)cols, 4), *db = tc_up(b, (size_t)cols, 4);
    int rc = lf_layernorm_cuda(dx, dx, rows, cols, dw, db, eps);
    if (rc == 0) tc_down(y, dx, total, 4);
    lf_cuda_free(dx), lf_cuda_free(dw), lf_cuda_free(db);
    return rc;
}

static int run_gelu(const float *x, float *y, int64_t rows, int64_t cols, const float *bias,
                    int tanh_form)
{
    if (!on_gpu) return lf_gelu_emulate(x, y, rows, cols, bias, tanh_form);
    const size_t total = (size_t)(rows * cols);
    float *dx = tc_up(x, total, 4), *dy = tc_dev(total, 4);
    float *db = bias ? tc_up(bias, (size_t)cols, 4) : NULL;
    int rc = tanh_form ? lf_gelu_tanh_cuda(dx, dy, rows, cols, db) : lf_gelu_cuda(dx, dy, rows, cols, db);
    if (rc == 0) tc_down(y, dy, total, 4);
    lf_cuda_free(dx), lf_cuda_free(dy), lf_cuda_free(db);
    return rc;
}

static double ln_case(int64_t rows, int64_t cols, double offset, double spread, double eps,
                      uint64_t seed)
{
    lf_rng r;
    lf_rng_init(&r, seed, 0);
    size_t total = (size_t)(rows * cols);
    float *x = malloc(total * 4), *ref = malloc(total * 4), *got = malloc(total * 4);
    float *w = malloc((size_t)cols * 4), *b = malloc((size_t)cols * 4);
    lf_rng_fill_normal(&r, x, total, offset, spread);
    lf_rng_fill_normal(&r, w, (size_t)cols, 1.0, 0.2);
    lf_rng_fill_normal(&r, b, (size_t)cols, 0.0, 0.2);
    memcpy(ref, x, total * 4);
    for (int64_t i = 0; i < rows; i++) lf_enc_layernorm(ref + i * cols, cols, w, b, eps);
    memset(got, 0xff, total * 4);
    CHECK_MSG(run_layernorm(x, got, rows, cols, w, b, eps) == 0, "%s", lf_error_get());
    char what[96];
    snprintf(what, sizeof what, "layernorm %lldx%lld offset %g", (long long)rows, (long long)cols,
             offset);
    double e = check_arrays_f(__FILE__, __LINE__, what, got, ref, total, 1e-9, 1.0 / 8388608.0);
    /* In place gives the same bits (run_layernorm works in place on the device; the
     * emulation is run in place here). */
    float *got2 = malloc(total * 4);
    memcpy(got2, x, total * 4);
    CHECK(run_layernorm(got2, got2, rows, cols, w, b, eps) == 0);
    CHECK(memcmp(got, got2, total * 4) == 0);
    free(x), free(ref), free(got), free(got2), free(w), free(b);
    return e;
}

static void test_layernorm(void)
{
    double e = 0, t;
    t = ln_case(37, 768, 0.0, 1.0, 1e-12, 1);
    e = t > e ? t : e;
    /* Large mean, small spread: a one-pass variance would cancel. */
    t = ln_case(9, 384, 1000.0, 0.01, 1e-12, 2);
    e = t > e ? t : e;
    /* One column: variance 0, y = b exactly (eps = 1e-5 keeps inv finite). */
    t = ln_case(5, 1, 3.0, 1.0, 1e-5, 3);
    e = t > e ? t : e;
    /* Rows longer than the block (several elements per thread). */
    t = ln_case(3, 3001, -2.0, 5.0, 1e-6, 4);
    e = t > e ? t : e;
    check_notef("max |gpu - cpu| %.2e", e);
}

/* Without a GPU: the CPU loop against the float64 reference and bound (validates them). */
static void test_gelu_reference_cpu(void)
{
    const size_t total = 200003;
    lf_rng r;
    lf_rng_init(&r, 6, 0);
    float *x = malloc(total * 4), *cpu = malloc(total * 4);
    double *ref = malloc(total * 8), *bound = malloc(total * 8);
    lf_rng_fill_normal(&r, x, total, 0.0, 4.0);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 12.0f, x[3] = -12.0f, x[4] = 1e-30f, x[5] = -7.5f;
    for (size_t i = 0; i < total; i++) {
        ref[i] = 0.5 * (double)x[i] * (1.0 + erf((double)x[i] / sqrt(2.0)));
        bound[i] = 0.5 * fabs((double)x[i]) / 4194304.0 + fabs(ref[i]) / 4194304.0 + 1e-38;
        cpu[i] = cpu_gelu(x[i]);
    }
    double w = TC_CHECK_BOUNDED("cpu gelu", cpu, ref, bound, total);
    for (size_t i = 0; i < total; i++) {
        gelu_tanh_ref(x[i], &ref[i], &bound[i]);
        cpu[i] = cpu_gelu_tanh(x[i]);
    }
    double wt = TC_CHECK_BOUNDED("cpu gelu tanh", cpu, ref, bound, total);
    check_notef("worst |err| / bound: erf %.3f, tanh %.3f", w, wt);
    free(x), free(cpu), free(ref), free(bound);
}

static void test_gelu(void)
{
    const int64_t rows = 61, cols = 517;
    const size_t total = (size_t)(rows * cols);
    lf_rng r;
    lf_rng_init(&r, 5, 0);
    float *x = malloc(total * 4), *bias = malloc((size_t)cols * 4), *got = malloc(total * 4);
    float *cpu = malloc(total * 4);
    double *ref = malloc(total * 8), *bound = malloc(total * 8);
    lf_rng_fill_normal(&r, x, total, 0.0, 3.0);
    lf_rng_fill_normal(&r, bias, (size_t)cols, 0.0, 1.0);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 12.0f, x[3] = -12.0f, x[4] = 1e-30f, x[5] = -7.5f;
    double worst = 0;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (size_t i = 0; i < total; i++) {
            float t = with_bias ? x[i] + bias[i % (size_t)cols] : x[i];
            ref[i] = 0.5 * (double)t * (1.0 + erf((double)t / sqrt(2.0)));
            bound[i] = 0.5 * fabs((double)t) / 4194304.0 + fabs(ref[i]) / 4194304.0 + 1e-38;
            cpu[i] = cpu_gelu(t);
        }
        memset(got, 0xff, total * 4);
        CHECK(run_gelu(x, got, rows, cols, with_bias ? bias : NULL, 0) == 0);
        double w = TC_CHECK_BOUNDED(with_bias ? "gelu(x + b)" : "gelu(x)", got, ref, bound, total);
        worst = w > worst ? w : worst;
        TC_CHECK_BOUNDED("cpu gelu (reference loop)", cpu, ref, bound, total);
    }
    /* In place. */
    memcpy(got, x, total * 4);
    float *got2 = malloc(total * 4);
    CHECK(run_gelu(x, got2, rows, cols, NULL, 0) == 0);
    CHECK(run_gelu(got, got, rows, cols, NULL, 0) == 0);
    CHECK(memcmp(got, got2, total * 4) == 0);
    check_notef("%sworst |err| / bound %.3f", on_gpu ? "" : "emulated: ", worst);
    free(x), free(bias), free(got), free(got2), free(cpu), free(ref), free(bound);
}

static void test_gelu_tanh(void)
{
    const int64_t rows = 29, cols = 333;
    const size_t total = (size_t)(rows * cols);
    lf_rng r;
    lf_rng_init(&r, 8, 0);
    float *x = malloc(total * 4), *bias = malloc((size_t)cols * 4), *got = malloc(total * 4);
    double *ref = malloc(total * 8), *bound = malloc(total * 8);
    lf_rng_fill_normal(&r, x, total, 0.0, 3.0);
    lf_rng_fill_normal(&r, bias, (size_t)cols, 0.0, 1.0);
    x[0] = 0.0f, x[1] = 12.0f, x[2] = -12.0f, x[3] = 1e-30f;
    double worst = 0;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (size_t i = 0; i < total; i++)
            gelu_tanh_ref(with_bias ? x[i] + bias[i % (size_t)cols] : x[i], &ref[i], &bound[i]);
        memset(got, 0xff, total * 4);
        CHECK(run_gelu(x, got, rows, cols, with_bias ? bias : NULL, 1) == 0);
        double w = TC_CHECK_BOUNDED(with_bias ? "gelu tanh (x + b)" : "gelu tanh (x)", got, ref, bound, total);
        worst = w > worst ? w : worst;
    }
    check_notef("%sworst |err| / bound %.3f", on_gpu ? "" : "emulated: ", worst);
    free(x), free(bias), free(got), free(ref), free(bound);
}

int main(void)
{
    check_program = "test_cuda_layernorm";
    RUN(test_arguments);
    RUN(test_gelu_reference_cpu);
    if (tc_no_gpu(check_program)) { /* the kernels' bodies on the host */
        RUN(test_layernorm);
        RUN(test_gelu);
        RUN(test_gelu_tanh);
        return check_summary();
    }
    on_gpu = 1;
    RUN(test_layernorm);
    RUN(test_gelu);
    RUN(test_gelu_tanh);
    lf_cuda_shutdown();
    return check_summary();
}
