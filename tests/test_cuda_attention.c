/* test_cuda_attention.c - dense, projected (Linformer) and streamed exact attention on
 * the GPU against a float64 reference and the CPU functions (core/attention.h): shapes
 * that are not multiples of the tiles, odd d and dv, d = 128 (the streamed kernel's
 * shared memory above 48 KiB), key masks with padding in the middle and at the end,
 * every key masked (zero rows, as the CPU code), P kept or not, several heads at once
 * (dense, projected and streamed); streamed attention both as the fused kernel and as
 * the cuBLAS-tiled variant.
 *
 * Tolerance, per output element (i, c), to first order in u = 2^-24:
 *   scores: |ds_ij| <= E_i = (d + 2) u scale max_j sum_t |q_it k_jt|   (float32 dot)
 *   probabilities: |dp_ij| / p_ij <= 2 E_i + 8 u                      (exp and shift)
 *   output: sum of up to n float32 terms p_ij v_jc, plus one rescale per key tile:
 *   |out - ref| <= (2 E_i + (n + 8 + n / 16) u) max_j |v_jc|.
 * The check uses twice that. An error in indexing, masking or the online rescaling is
 * of the order of max |v| and fails it. */
#include <stdlib.h>

#include "attention.h"
#include "check.h"
#include "rng.h"
#include "test_cuda_util.h"

static void test_arguments(void)
{
    float x = 0;
    CHECK(lf_attention_dense_cuda(&x, &x, &x, NULL, 0, 4, 4, NULL, &x) == -1);
    CHECK(strstr(lf_error_get(), "positive") != NULL);
    CHECK(lf_attention_projected_cuda(&x, &x, &x, NULL, 8, 0, 4, 4, NULL, &x) == -1);
    CHECK(lf_attention_dense_cuda(NULL, &x, &x, NULL, 4, 4, 4, NULL, &x) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
    CHECK(lf_attention_streamed_cuda(&x, &x, &x, NULL, 8, 257, 4, &x) == -1);
    CHECK(strstr(lf_error_get(), "up to 256") != NULL);
    CHECK(lf_attention_streamed_heads_cuda(&x, &x, &x, NULL, 0, 8, 4, 4, &x) == -1);
    CHECK(lf_attention_streamed_heads_cuda(&x, &x, &x, NULL, 70000, 8, 4, 4, &x) == -1);
    CHECK(strstr(lf_error_get(), "grid") != NULL);
    CHECK(lf_attention_streamed_cuda(&x, NULL, &x, NULL, 8, 4, 4, &x) == -1);
    CHECK(lf_attention_streamed_blas_cuda(&x, &x, &x, NULL, 8, 0, 4, &x) == -1);
    CHECK(lf_attention_streamed_blas_cuda(&x, &x, NULL, NULL, 8, 4, 4, &x) == -1);
    CHECK(lf_attention_dense_heads_cuda(&x, &x, &x, NULL, 0, 8, 4, 4, NULL, &x) == -1);
    CHECK(lf_attention_projected_heads_cuda(&x, &x, &x, NULL, (int64_t)1 << 20, 1 << 12, 8, 4, 4,
                                            NULL, &x) == -1);
    CHECK(strstr(lf_error_get(), "32-bit") != NULL);
}

/* out [n, dv] in double and the bound of the header comment, for queries q [n, d]
 * against m keys. */
static void reference(const float *q, const float *k, const float *v, const uint8_t *mask,
                      int64_t n, int64_t m, int64_t d, int64_t dv, double *out, double *bound,
                      double *p)
{
    const double scale = 1.0 / sqrt((double)d);
    double *s = malloc((size_t)m * 8);
    for (int64_t i = 0; i < n; i++) {
        double mx = -INFINITY, es = 0;
        for (int64_t j = 0; j < m; j++) {
            double dot = 0, ab = 0;
            for (int64_t t = 0; t < d; t++) {
                dot += (double)q[i * d + t] * k[j * d + t];
                ab += fabs((double)q[i * d + t] * k[j * d + t]);
            }
            s[j] = dot * scale;
            if (!mask || mask[j]) mx = s[j] > mx ? s[j] : mx;
            es = ab * scale > es ? ab * scale : es;
        }
        double sum = 0;
        for (int64_t j = 0; j < m; j++) {
            s[j] = (mask && !mask[j]) ? 0.0 : exp(s[j] - mx);
            sum += s[j];
        }
        for (int64_t j = 0; j < m; j++) {
            s[j] = sum > 0 ? s[j] / sum : 0.0;
            if (p) p[i * m + j] = s[j];
        }
        const double e = (double)(d + 2) * TC_U32 * es;
        for (int64_t c = 0; c < dv; c++) {
            double o = 0, vmax = 0;
            for (int64_t j = 0; j < m; j++) {
                o += s[j] * v[j * dv + c];
                if (!mask || mask[j]) vmax = fabs(v[j * dv + c]) > vmax ? fabs(v[j * dv + c]) : vmax;
            }
            out[i * dv + c] = o;
            bound[i * dv + c] =
                2.0 * (2.0 * e + (double)(m + 8 + m / 16) * TC_U32) * vmax + 1e-30;
        }
    }
    free(s);
}

/* variant 0 = dense, 1 = projected (m keys), 2 = streamed (fused kernel), 3 = streamed
 * with cuBLAS; mask_kind 0 none, 1 some
 * padded, 2 all padded. gpu = 0 checks only the CPU function against the reference and
 * bound (runs without a GPU: it validates the reference and the tolerance themselves). */
static double attn_case(int variant, int64_t n, int64_t m, int64_t d, int64_t dv, int mask_kind,
                        int keep_p, uint64_t seed, int gpu)
{
    lf_rng r;
    lf_rng_init(&r, seed, 0);
    if (variant != 1) m = n;
    if (variant >= 2) keep_p = 0;
    float *q = malloc((size_t)(n * d) * 4), *k = malloc((size_t)(m * d) * 4);
    float *v = malloc((size_t)(m * dv) * 4), *got = malloc((size_t)(n * dv) * 4);
    float *cpu = malloc((size_t)(n * dv) * 4), *pg = malloc((size_t)(n * m) * 4);
    float *pc = malloc((size_t)(n * m) * 4);
    double *ref = malloc((size_t)(n * dv) * 8), *bound = malloc((size_t)(n * dv) * 8);
    double *pref = malloc((size_t)(n * m) * 8), *cpud = calloc((size_t)(n * dv), 8);
    uint8_t *mask = NULL;
    lf_rng_fill_normal(&r, q, (size_t)(n * d), 0.0, 1.0);
    lf_rng_fill_normal(&r, k, (size_t)(m * d), 0.0, 1.0);
    lf_rng_fill_normal(&r, v, (size_t)(m * dv), 0.0, 1.0);
    if (mask_kind) {
        mask = malloc((size_t)m);
        for (int64_t j = 0; j < m; j++) mask[j] = mask_kind == 1 && !(j % 6 == 1 || j >= m - m / 5);
    }
    reference(q, k, v, mask, n, m, d, dv, ref, bound, pref);
    float *pcpu = keep_p ? pc : NULL;
    if (variant == 0)
        CHECK(lf_attention_dense(q, k, v, mask, n, d, dv, pcpu, cpu) == 0);
    else if (variant == 1)
        CHECK(lf_attention_projected(q, k, v, mask, n, m, d, dv, pcpu, cpu) == 0);
    else
        CHECK(lf_attention_streamed(q, k, v, mask, n, d, dv, cpu) == 0);
    char what[128];
    static const char *names[] = {"dense", "projected", "streamed", "streamed (cuBLAS)"};
    snprintf(what, sizeof what, "%s%s n %lld keys %lld d %lld dv %lld mask %d", gpu ? "" : "cpu ",
             names[variant], (long long)n, (long long)m, (long long)d, (long long)dv, mask_kind);
    double worst;
    /* Probabilities: relative 2 E + (m + 8) u, E < 1e-4 for these sizes. */
    double *pb = malloc((size_t)(n * m) * 8);
    for (int64_t i = 0; i < n * m; i++) pb[i] = 1e-4 * pref[i] + 1e-9;
    if (!gpu) {
        worst = TC_CHECK_BOUNDED(what, cpu, ref, bound, (size_t)(n * dv));
        if (keep_p) TC_CHECK_BOUNDED("cpu probabilities", pc, pref, pb, (size_t)(n * m));
    } else {
        float *dq = tc_up(q, (size_t)(n * d), 4), *dk = tc_up(k, (size_t)(m * d), 4);
        float *dv_ = tc_up(v, (size_t)(m * dv), 4), *dout = tc_dev((size_t)(n * dv), 4);
        float *dp = keep_p ? tc_dev((size_t)(n * m), 4) : NULL;
        uint8_t *dm = mask ? tc_up(mask, (size_t)m, 1) : NULL;
        int rc;
        if (variant == 0)
            rc = lf_attention_dense_cuda(dq, dk, dv_, dm, n, d, dv, dp, dout);
        else if (variant == 1)
            rc = lf_attention_projected_cuda(dq, dk, dv_, dm, n, m, d, dv, dp, dout);
        else if (variant == 2)
            rc = lf_attention_streamed_cuda(dq, dk, dv_, dm, n, d, dv, dout);
        else
            rc = lf_attention_streamed_blas_cuda(dq, dk, dv_, dm, n, d, dv, dout);
        CHECK_MSG(rc == 0, "%s", lf_error_get());
        tc_down(got, dout, (size_t)(n * dv), 4);
        worst = TC_CHECK_BOUNDED(what, got, ref, bound, (size_t)(n * dv));
        /* The CPU result obeys the same bound: the two agree within twice it. */
        for (int64_t i = 0; i < n * dv; i++) cpud[i] = cpu[i], bound[i] *= 2;
        TC_CHECK_BOUNDED(what, got, cpud, bound, (size_t)(n * dv));
        if (mask_kind == 2) {
            int zeros = 1;
            for (int64_t i = 0; i < n * dv; i++) zeros &= got[i] == 0.0f;
            CHECK_MSG(zeros, "%s: all keys masked but the output is not zero", what);
        }
        if (dp) {
            tc_down(pg, dp, (size_t)(n * m), 4);
            TC_CHECK_BOUNDED("probabilities", pg, pref, pb, (size_t)(n * m));
        }
        lf_cuda_free(dq), lf_cuda_free(dk), lf_cuda_free(dv_), lf_cuda_free(dout),
            lf_cuda_free(dp), lf_cuda_free(dm);
    }
    free(q), free(k), free(v), free(got), free(cpu), free(pg), free(pc), free(ref), free(bound),
        free(pref), free(mask), free(cpud), free(pb);
    return worst;
}

static int on_gpu;

static void test_dense(void)
{
    double w = 0, t;
    for (int mk = 0; mk < 3; mk++) {
        t = attn_case(0, 200, 0, 64, 48, mk, mk == 1, 10 + (uint64_t)mk, on_gpu);
        w = t > w ? t : w;
    }
    t = attn_case(0, 77, 0, 33, 17, 1, 0, 13, on_gpu);
    w = t > w ? t : w;
    check_notef("worst |err| / bound %.3f", w);
}

static void test_projected(void)
{
    double w = 0, t;
    for (int mk = 0; mk < 3; mk++) {
        t = attn_case(1, 300, 64, 64, 64, mk, mk != 2, 20 + (uint64_t)mk, on_gpu);
        w = t > w ? t : w;
    }
    t = attn_case(1, 129, 40, 33, 17, 1, 0, 23, on_gpu);
    w = t > w ? t : w;
    check_notef("worst |err| / bound %.3f", w);
}

static void test_streamed(void)
{
    double w = 0, t;
    for (int mk = 0; mk < 3; mk++) {
        t = attn_case(2, 200, 0, 64, 48, mk, 0, 30 + (uint64_t)mk, on_gpu);
        w = t > w ? t : w;
    }
    t = attn_case(2, 77, 0, 33, 17, 1, 0, 33, on_gpu);   /* odd d: unpadded key rows */
    w = t > w ? t : w;
    t = attn_case(2, 70, 0, 128, 128, 1, 0, 34, on_gpu); /* > 48 KiB of shared memory */
    w = t > w ? t : w;
    t = attn_case(2, 1, 0, 8, 8, 0, 0, 35, on_gpu);      /* one query, one key */
    w = t > w ? t : w;
    t = attn_case(2, 1000, 0, 64, 64, 1, 0, 36, on_gpu); /* many tiles, maxima rising */
    w = t > w ? t : w;
    check_notef("worst |err| / bound %.3f", w);
}

static void test_streamed_blas(void)
{
    double w = 0, t;
    for (int mk = 0; mk < 3; mk++) {
        t = attn_case(3, 200, 0, 64, 48, mk, 0, 50 + (uint64_t)mk, on_gpu);
        w = t > w ? t : w;
    }
    t = attn_case(3, 77, 0, 33, 17, 1, 0, 53, on_gpu);
    w = t > w ? t : w;
    t = attn_case(3, 1300, 0, 64, 64, 1, 0, 54, on_gpu); /* three key tiles, the last partial */
    w = t > w ? t : w;
    check_notef("worst |err| / bound %.3f", w);
}

/* Dense and projected attention for several heads at once against the float64 reference
 * of each head (same bound), with P kept and not. */
static void test_heads_dense_projected(void)
{
    const int64_t H = 3, n = 150, d = 64, dv = 40;
    double worst = 0;
    for (int projected = 0; projected < 2; projected++)
        for (int keep = 0; keep < 2; keep++) {
            const int64_t m = projected ? 48 : n;
            lf_rng r;
            lf_rng_init(&r, 60 + (uint64_t)(projected * 2 + keep), 0);
            size_t qs = (size_t)(H * n * d), ks = (size_t)(H * m * d), vs = (size_t)(H * m * dv);
            size_t os = (size_t)(H * n * dv), ps = (size_t)(H * n * m);
            float *q = malloc(qs * 4), *k = malloc(ks * 4), *v = malloc(vs * 4), *got = malloc(os * 4);
            float *pg = malloc(ps * 4);
            double *ref = malloc(os * 8), *bound = malloc(os * 8), *pref = malloc(ps * 8);
            double *pb = malloc(ps * 8);
            uint8_t *mask = malloc((size_t)m);
            for (int64_t j = 0; j < m; j++) mask[j] = j % 7 != 4 && j < m - 5;
            lf_rng_fill_normal(&r, q, qs, 0.0, 1.0);
            lf_rng_fill_normal(&r, k, ks, 0.0, 1.0);
            lf_rng_fill_normal(&r, v, vs, 0.0, 1.0);
            for (int64_t h = 0; h < H; h++)
                reference(q + h * n * d, k + h * m * d, v + h * m * dv, mask, n, m, d, dv,
                          ref + h * n * dv, bound + h * n * dv, pref + h * n * m);
            float *dq = tc_up(q, qs, 4), *dk = tc_up(k, ks, 4), *dvv = tc_up(v, vs, 4);
            float *dout = tc_dev(os, 4), *dp = keep ? tc_dev(ps, 4) : NULL;
            uint8_t *dm = tc_up(mask, (size_t)m, 1);
            int rc = projected ? lf_attention_projected_heads_cuda(dq, dk, dvv, dm, H, n, m, d, dv, dp, dout)
                               : lf_attention_dense_heads_cuda(dq, dk, dvv, dm, H, n, d, dv, dp, dout);
            CHECK_MSG(rc == 0, "%s", lf_error_get());
            tc_down(got, dout, os, 4);
            double w = TC_CHECK_BOUNDED(projected ? "projected heads" : "dense heads", got, ref, bound, os);
            worst = w > worst ? w : worst;
            if (dp) {
                tc_down(pg, dp, ps, 4);
                for (size_t i = 0; i < ps; i++) pb[i] = 1e-4 * pref[i] + 1e-9;
                TC_CHECK_BOUNDED("heads probabilities", pg, pref, pb, ps);
            }
            lf_cuda_free(dq), lf_cuda_free(dk), lf_cuda_free(dvv), lf_cuda_free(dout), lf_cuda_free(dp),
                lf_cuda_free(dm);
            free(q), free(k), free(v), free(got), free(pg), free(ref), free(bound), free(pref), free(pb),
                free(mask);
        }
    check_notef("worst |err| / bound %.3f", worst);
}

/* Without a GPU: the fused streamed kernel's body run on the host (one thread per block),
 * against the float64 reference with the same bound, for single heads with every mask
 * kind, odd and large d, one query, many tiles, and three heads at once. */
static double emu_case(int64_t H, int64_t n, int64_t d, int64_t dv, int mask_kind, uint64_t seed)
{
    const int blas = H < 0; /* H = -1: the cuBLAS-tiled variant, one head */
    if (blas) H = 1;
    lf_rng r;
    lf_rng_init(&r, seed, 0);
    size_t qs = (size_t)(H * n * d), vs = (size_t)(H * n * dv);
    float *q = malloc(qs * 4), *k = malloc(qs * 4), *v = malloc(vs * 4), *got = malloc(vs * 4);
    double *ref = malloc(vs * 8), *bound = malloc(vs * 8);
    uint8_t *mask = NULL;
    lf_rng_fill_normal(&r, q, qs, 0.0, 1.0);
    lf_rng_fill_normal(&r, k, qs, 0.0, 1.0);
    lf_rng_fill_normal(&r, v, vs, 0.0, 1.0);
    if (mask_kind) {
        mask = malloc((size_t)n);
        for (int64_t j = 0; j < n; j++) mask[j] = mask_kind == 1 && !(j % 6 == 1 || j >= n - n / 5);
    }
    for (int64_t h = 0; h < H; h++)
        reference(q + h * n * d, k + h * n * d, v + h * n * dv, mask, n, n, d, dv, ref + h * n * dv,
                  bound + h * n * dv, NULL);
    for (size_t i = 0; i < vs; i++) got[i] = NAN;
    CHECK_MSG((blas ? lf_attention_streamed_blas_emulate(q, k, v, mask, n, d, dv, got)
                    : lf_attention_streamed_emulate(q, k, v, mask, H, n, d, dv, got)) == 0,
              "%s", lf_error_get());
    char what[112];
    snprintf(what, sizeof what, "emulated streamed %s H %lld n %lld d %lld dv %lld mask %d",
             blas ? "(cuBLAS tiles)" : "kernel", (long long)H, (long long)n, (long long)d, (long long)dv, mask_kind);
    double w = TC_CHECK_BOUNDED(what, got, ref, bound, vs);
    if (mask_kind == 2) {
        int zeros = 1;
        for (size_t i = 0; i < vs; i++) zeros &= got[i] == 0.0f;
        CHECK_MSG(zeros, "%s: all keys masked but the output is not zero", what);
    }
    free(q), free(k), free(v), free(got), free(ref), free(bound), free(mask);
    return w;
}

static void test_streamed_emulated(void)
{
    double w = 0;
    for (int mk = 0; mk < 3; mk++) w = fmax(w, emu_case(1, 200, 64, 48, mk, 70 + (uint64_t)mk));
    w = fmax(w, emu_case(1, 77, 33, 17, 1, 73));
    w = fmax(w, emu_case(1, 70, 128, 128, 1, 74));
    w = fmax(w, emu_case(1, 1, 8, 8, 0, 75));
    w = fmax(w, emu_case(1, 1000, 64, 64, 1, 76));
    w = fmax(w, emu_case(3, 150, 64, 32, 1, 77));
    /* The cuBLAS-tiled variant's tile loop and update kernel (products by lf_sgemm). */
    for (int mk = 0; mk < 3; mk++) w = fmax(w, emu_case(-1, 1300, 64, 48, mk, 80 + (uint64_t)mk));
    w = fmax(w, emu_case(-1, 77, 33, 17, 1, 83));
    float x = 0;
    CHECK(lf_attention_streamed_emulate(&x, &x, &x, NULL, 1, 4, 300, 4, &x) == -1);
    check_notef("worst |err| / bound %.3f", w);
}

/* Several heads in one launch equal each head alone (same kernel, same blocks). */
static void test_streamed_heads(void)
{
    const int64_t H = 3, n = 150, d = 64, dv = 32;
    lf_rng r;
    lf_rng_init(&r, 40, 0);
    size_t qs = (size_t)(H * n * d), vs = (size_t)(H * n * dv);
    float *q = malloc(qs * 4), *k = malloc(qs * 4), *v = malloc(vs * 4);
    float *all = malloc(vs * 4), *one = malloc(vs * 4);
    uint8_t mask[150];
    for (int i = 0; i < 150; i++) mask[i] = i < 130;
    lf_rng_fill_normal(&r, q, qs, 0.0, 1.0);
    lf_rng_fill_normal(&r, k, qs, 0.0, 1.0);
    lf_rng_fill_normal(&r, v, vs, 0.0, 1.0);
    float *dq = tc_up(q, qs, 4), *dk = tc_up(k, qs, 4), *dvv = tc_up(v, vs, 4), *dout = tc_dev(vs, 4);
    uint8_t *dm = tc_up(mask, 150, 1);
    CHECK(lf_attention_streamed_heads_cuda(dq, dk, dvv, dm, H, n, d, dv, dout) == 0);
    tc_down(all, dout, vs, 4);
    for (int64_t h = 0; h < H; h++)
        CHECK(lf_attention_streamed_cuda(dq + h * n * d, dk + h * n * d, dvv + h * n * dv, dm, n, d,
                                         dv, dout + h * n * dv) == 0);
    tc_down(one, dout, vs, 4);
    CHECK(memcmp(all, one, vs * 4) == 0);
    lf_cuda_free(dq), lf_cuda_free(dk), lf_cuda_free(dvv), lf_cuda_free(dout), lf_cuda_free(dm);
    free(q), free(k), free(v), free(all), free(one);
}

int main(void)
{
    check_program = "test_cuda_attention";
    RUN(test_arguments);
    if (tc_no_gpu(check_program)) {
        /* The reference and bounds, checked on the CPU twins. */
        RUN(test_dense);
        RUN(test_projected);
        RUN(test_streamed);
        RUN(test_streamed_blas);
        RUN(test_streamed_emulated);
        return check_summary();
    }
    on_gpu = 1;
    RUN(test_dense);
    RUN(test_projected);
    RUN(test_streamed);
    RUN(test_streamed_blas);
    RUN(test_heads_dense_projected);
    RUN(test_streamed_heads);
    RUN(test_streamed_emulated);
    lf_cuda_shutdown();
    return check_summary();
}
