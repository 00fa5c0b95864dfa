/* test_ablation.c - the low-rank ablation's core (ablation_plan, ablation,
 * substitute): kind names, nonuniform-k specs, per-head measurements against direct
 * computations (a float64 SVD for the best rank-k error, a naive float64 Linformer
 * head for the output error, lf_lowrank_jl_error with the documented streams for
 * Theorem 1), the k = n identity giving zero error, batching and thread-count
 * independence, the conv kernel gradient against finite differences, fitted plans
 * against Gaussian ones on held-out data, sharing constraints after fitting, the
 * encoder with Linformer attention substituted (identity = the original model), and
 * bad input. (The Theorem-1 rate itself is checked in test_lowrank.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ablation.h"
#include "ablation_plan.h"
#include "attention.h"
#include "check.h"
#include "encoder.h"
#include "error.h"
#include "fit.h"
#include "lowrank.h"
#include "mem.h"
#include "model.h"
#include "parallel.h"
#include "plan_io.h"
#include "repo_path.h"
#include "rng.h"
#include "substitute.h"
/* last: lapacke.h (complex.h) defines I, a field name in encoder.h */
#include <lapacke.h>

static void fill_normal(float *x, size_t count, double std, uint64_t stream)
{
    lf_rng r;
    lf_rng_init(&r, 4242, stream);
    lf_rng_fill_normal(&r, x, count, 0.0, std);
}

/* ---- names and specs ---------------------------------------------------------- */

static void test_kind_names(void)
{
    const char *names[] = {"gaussian", "mean", "max", "conv", "fitted"};
    for (int i = 0; i < 5; i++) {
        lf_ab_kind k;
        CHECK(lf_ab_kind_parse(names[i], &k) == 0 && (int)k == i);
        CHECK(strcmp(lf_ab_kind_name(k), names[i]) == 0);
    }
    lf_ab_kind k;
    CHECK(lf_ab_kind_parse("linear", &k) != 0 && strstr(lf_error_get(), "gaussian, mean"));
    CHECK(lf_ab_kind_parse(NULL, &k) != 0);
    CHECK(lf_ab_kind_parse("Mean", &k) != 0);
    CHECK(lf_ab_kind_sharing_applies(LF_AB_GAUSSIAN) && lf_ab_kind_sharing_applies(LF_AB_CONV) &&
          lf_ab_kind_sharing_applies(LF_AB_FITTED));
    CHECK(!lf_ab_kind_sharing_applies(LF_AB_MEAN) && !lf_ab_kind_sharing_applies(LF_AB_MAX));
    CHECK(lf_ab_kind_is_fitted(LF_AB_CONV) && lf_ab_kind_is_fitted(LF_AB_FITTED) &&
          !lf_ab_kind_is_fitted(LF_AB_GAUSSIAN));
}

static void test_nonuniform_spec(void)
{
    int64_t k[6];
    double t = -1;
    CHECK(lf_ab_nonuniform_parse("256,256,128,128,64,64", 6, 512, k, &t) == 0);
    CHECK(t == 0 && k[0] == 256 && k[3] == 128 && k[5] == 64);
    CHECK(lf_ab_nonuniform_parse("spectrum:0.9", 6, 512, k, &t) == 0 && t == 0.9);
    CHECK(lf_ab_nonuniform_parse("spectrum:1", 6, 512, k, &t) == 0 && t == 1.0);
    const char *bad[] = {"256,256", "1,2,3,4,5,6,7", "0,1,1,1,1,1", "600,1,1,1,1,1", "1,,1,1,1,1",
                         "1,1,1,1,1,1,", "spectrum:0", "spectrum:1.5", "spectrum:", "spectrum:x",
                         "abc", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = lf_ab_nonuniform_parse(bad[i], 6, 512, k, &t);
        CHECK_MSG(rc != 0 && strstr(lf_error_get(), "--nonuniform"), "'%s' accepted", bad[i]);
    }
    /* k from the curve: layer 0 rises linearly (value (i+1)/n at index i), layer 1
     * reaches 0.95 at index 9 and stays, layer 2 never reaches the threshold. */
    const int64_t n = 100;
    double curve[3 * 100];
    for (int64_t i = 0; i < n; i++) {
        curve[i] = (double)(i + 1) / n;
        curve[n + i] = i < 9 ? 0.5 : 0.95;
        curve[2 * n + i] = 0.5;
    }
    int64_t kl[3];
    CHECK(lf_ab_k_from_spectrum(curve, 3, n, 0.9, kl) == 0);
    CHECK_MSG(kl[0] == 90 && kl[1] == 10 && kl[2] == 100, "k = %lld %lld %lld", (long long)kl[0],
              (long long)kl[1], (long long)kl[2]);
    /* equal total cost: round(mean) */
    int64_t real[6] = {185, 260, 225, 143, 150, 49}; /* sum 1012, mean 168.67 */
    CHECK(lf_ab_uniform_k(real, 6) == 169);
    int64_t half[2] = {1, 2}; /* 1.5 rounds up */
    CHECK(lf_ab_uniform_k(half, 2) == 2);
}

/* ---- synthetic layers ----------------------------------------------------------- */

enum { SL = 2, SH = 2, SN = 32, SD = 8, SB = 2 };

/* One layer's q, k, v, dense out and P for SB sequences, [B, H, n, D] etc. */
typedef struct {
    float q[SB * SH * SN * SD], k[SB * SH * SN * SD], v[SB * SH * SN * SD];
    float out[SB * SH * SN * SD], p[SB * SH * SN * SN];
} layer_data;

static void make_layer(layer_data *x, int layer, uint64_t salt)
{
    const size_t c = (size_t)SB * SH * SN * SD;
    fill_normal(x->q, c, 1.2, salt * 100 + (uint64_t)layer * 3);
    fill_normal(x->k, c, 1.2, salt * 100 + (uint64_t)layer * 3 + 1);
    fill_normal(x->v, c, 1.0, salt * 100 + (uint64_t)layer * 3 + 2);
    for (int64_t i = 0; i < SB * SH; i++) {
        const size_t o = (size_t)i * SN * SD;
        int rc = lf_attention_dense(x->q + o, x->k + o, x->v + o, NULL, SN, SD, SD,
                                    x->p + (size_t)i * SN * SN, x->out + o);
        CHECK(rc == 0);
    }
}

/* Feeds sequences [b0, b0 + count) of the layer to the ablation. */
static int feed(lf_ablation *ab, layer_data *x, int layer, int64_t b0, int64_t count)
{
    const size_t hs = (size_t)SH * SN * SD, ps = (size_t)SH * SN * SN;
    lf_encoder_attn a = {.layer = layer, .num_layers = SL, .B = count, .n = SN, .H = SH, .D = SD,
                         .mask = NULL, .hidden = NULL, .q = x->q + b0 * hs, .k = x->k + b0 * hs,
                         .v = x->v + b0 * hs, .out = x->out + b0 * hs, .probs = x->p + b0 * ps,
                         .probs_seq_stride = SH * SN * SN};
    return lf_ablation_observe(ab, &a);
}

/* Best rank-k error from a float64 SVD (LAPACKE_dgesvd) of P. */
static double svd_error_direct(const float *p, int64_t n, int64_t k)
{
    double *a = malloc((size_t)(n * n) * sizeof(double)), *s = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n * n; i++) a[i] = p[i];
    double superb[SN];
    int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', (int)n, (int)n, a, (int)n, s, NULL, (int)n,
                              NULL, (int)n, superb);
    CHECK(info == 0);
    double tail = 0, all = 0;
    for (int64_t i = 0; i < n; i++) {
        all += s[i] * s[i];
        if (i >= k) tail += s[i] * s[i];
    }
    free(a), free(s);
    return sqrt(tail / all);
}

/* Linformer head in float64 with explicit E, F [kp, n]: the output error. */
static double output_error_naive(const float *q, const float *k, const float *v, const float *dense,
                                 const double *e, const double *f, int64_t kp)
{
    double kb[SN * SD], vb[SN * SD], num = 0, den = 0;
    for (int64_t j = 0; j < kp; j++)
        for (int64_t c = 0; c < SD; c++) {
            double sk = 0, sv = 0;
            for (int64_t t = 0; t < SN; t++) sk += e[j * SN + t] * k[t * SD + c], sv += f[j * SN + t] * v[t * SD + c];
            kb[j * SD + c] = sk, vb[j * SD + c] = sv;
        }
    for (int64_t i = 0; i < SN; i++) {
        double s[SN], mx = -INFINITY, z = 0;
        for (int64_t j = 0; j < kp; j++) {
            double acc = 0;
            for (int64_t c = 0; c < SD; c++) acc += q[i * SD + c] * kb[j * SD + c];
            s[j] = acc / sqrt((double)SD);
            if (s[j] > mx) mx = s[j];
        }
        for (int64_t j = 0; j < kp; j++) z += (s[j] = exp(s[j] - mx));
        for (int64_t c = 0; c < SD; c++) {
            double o = 0;
            for (int64_t j = 0; j < kp; j++) o += s[j] / z * vb[j * SD + c];
            double d = o - dense[i * SD + c];
            num += d * d;
            den += (double)dense[i * SD + c] * dense[i * SD + c];
        }
    }
    return sqrt(num / den);
}

/* The explicit matrix of a projection as lf_proj_apply uses it with k_use = kp. */
static void explicit_matrix(const lf_proj *pr, int64_t kp, double *e)
{
    memset(e, 0, (size_t)(kp * SN) * sizeof(double));
    for (int64_t j = 0; j < kp; j++) {
        if (pr->kind == LF_PROJ_MEAN) {
            int64_t a = j * SN / kp, b = (j + 1) * SN / kp;
            for (int64_t c = a; c < b; c++) e[j * SN + c] = 1.0 / (double)(b - a);
        } else {
            const double s = pr->kind == LF_PROJ_GAUSSIAN && kp < pr->k ? sqrt((double)pr->k / kp) : 1;
            for (int64_t c = 0; c < SN; c++) e[j * SN + c] = s * pr->weights[j * pr->n + c];
        }
    }
}

static void identity_plan(lf_plan *pl, int64_t n)
{
    int64_t k[SL * SH];
    for (int i = 0; i < SL * SH; i++) k[i] = n;
    CHECK(lf_plan_init(pl, SL, SH, n, k, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 0) == 0);
    memset(pl->proj[0].weights, 0, (size_t)(n * n) * sizeof(float));
    for (int64_t i = 0; i < n; i++) pl->proj[0].weights[i * n + i] = 1.0f;
}

static void test_measurements_vs_direct(void)
{
    static layer_data lay[SL];
    for (int l = 0; l < SL; l++) make_layer(&lay[l], l, 1);
    const int64_t ks[3] = {4, 8, SN};
    int64_t k8[SL * SH];
    for (int i = 0; i < SL * SH; i++) k8[i] = 8;
    lf_plan mean, gauss, ident;
    CHECK(lf_ab_plan_make(&mean, LF_AB_MEAN, SL, SH, SN, k8, LF_SHARE_NONE, 3, NULL, NULL, NULL) == 0);
    CHECK(lf_ab_plan_make(&gauss, LF_AB_GAUSSIAN, SL, SH, SN, k8, LF_SHARE_HEADWISE, 3, NULL, NULL,
                          NULL) == 0);
    identity_plan(&ident, SN);
    const lf_plan *plans[4] = {&mean, &gauss, &ident, NULL};
    const int T = 3;
    lf_ablation ab;
    CHECK(lf_ablation_init(&ab, SL, SH, SN, ks, 3, plans, 4, T, 11) == 0);
    for (int l = 0; l < SL; l++) CHECK(feed(&ab, &lay[l], l, 0, SB) == 0);

    double svd[3 * SL * SH], jl[3 * SL * SH], jls[3 * SL * SH], jlo[3 * SL * SH];
    double out[4 * SL * SH];
    lf_ab_stat_results(&ab.svd, svd, NULL);
    lf_ab_stat_results(&ab.jl, jl, jls);
    lf_ab_stat_results(&ab.jl_out, jlo, NULL);
    lf_ab_stat_results(&ab.out, out, NULL);
    double worst_svd = 0, worst_out = 0, worst_ident = 0;
    int jl_exact = 1;
    for (int l = 0; l < SL; l++)
        for (int h = 0; h < SH; h++) {
            for (int ki = 0; ki < 3; ki++) {
                /* Gram-matrix singular values are accurate to ~1e-9 of sigma_0 (spectrum.h);
                 * the relative tail error they give is good to ~1e-8 here; 1e-7 allowed. */
                double direct = 0, jl_d = 0, jlo_d = 0, sq = 0;
                double vals[SB * 3];
                for (int b = 0; b < SB; b++) {
                    const float *p = lay[l].p + ((size_t)(b * SH + h)) * SN * SN;
                    direct += svd_error_direct(p, SN, ks[ki]) / SB;
                    const uint64_t stream = (uint64_t)(((b * SL + l) * SH + h) * 3 + ki);
                    double e[3], eo[3];
                    CHECK(lf_lowrank_jl_error(p, SN, SN, ks[ki], NULL, 0, T, 11, stream, e, NULL, NULL) == 0);
                    CHECK(lf_lowrank_jl_error(p, SN, SN, ks[ki],
                                              lay[l].v + ((size_t)(b * SH + h)) * SN * SD, SD, T, 11,
                                              stream, eo, NULL, NULL) == 0);
                    for (int t = 0; t < T; t++) jl_d += e[t], jlo_d += eo[t], vals[b * T + t] = e[t];
                }
                jl_d /= SB * T, jlo_d /= SB * T;
                for (int i = 0; i < SB * T; i++) sq += (vals[i] - jl_d) * (vals[i] - jl_d);
                const int idx = (ki * SL + l) * SH + h;
                if (fabs(svd[idx] - direct) > worst_svd) worst_svd = fabs(svd[idx] - direct);
                if (ks[ki] == SN) CHECK(svd[idx] == 0.0);
                /* the same draws: equal up to the order of the mean's additions */
                jl_exact &= fabs(jl[idx] - jl_d) <= 1e-12 * jl_d && fabs(jlo[idx] - jlo_d) <= 1e-12 * jlo_d;
                CHECK_NEAR(jls[idx], sqrt(sq / (SB * T - 1)), 1e-9);
            }
            /* output errors against the naive float64 head (float32 products in the
             * library: ~1e-6 relative on the outputs; 2e-5 absolute on errors ~0.5) */
            for (int pi = 0; pi < 2; pi++) {
                const lf_plan *pl = plans[pi];
                double e[8 * SN], f[8 * SN], direct = 0;
                explicit_matrix(lf_plan_get(pl, l, h, 0), 8, e);
                explicit_matrix(lf_plan_get(pl, l, h, 1), 8, f);
                for (int b = 0; b < SB; b++) {
                    const size_t o = ((size_t)(b * SH + h)) * SN * SD;
                    direct += output_error_naive(lay[l].q + o, lay[l].k + o, lay[l].v + o,
                                                 lay[l].out + o, e, f, 8) / SB;
                }
                double d = fabs(out[(pi * SL + l) * SH + h] - direct);
                if (d > worst_out) worst_out = d;
            }
            /* k = n, identity E = F: Linformer attention is standard attention; the two
             * float32 paths agree to rounding (~1e-7 relative). */
            double id = out[(2 * SL + l) * SH + h];
            if (id > worst_ident) worst_ident = id;
            CHECK(isnan(out[(3 * SL + l) * SH + h])); /* NULL plan: no numbers */
        }
    CHECK_MSG(worst_svd < 1e-7, "svd_error vs dgesvd: %.3g", worst_svd);
    CHECK_MSG(worst_out < 2e-5, "output_error vs naive float64: %.3g", worst_out);
    CHECK_MSG(worst_ident < 1e-6, "identity output error %.3g", worst_ident);
    CHECK_MSG(jl_exact, "jl_error differs from lf_lowrank_jl_error with the documented streams");
    check_notef("svd %.1e, output %.1e, identity %.1e", worst_svd, worst_out, worst_ident);

    /* The same sequences one at a time, and with one thread: identical statistics. */
    for (int threads = 1; threads <= 2; threads++) {
        lf_threads_set(threads);
        lf_ablation ab2;
        CHECK(lf_ablation_init(&ab2, SL, SH, SN, ks, 3, plans, 4, T, 11) == 0);
        for (int b = 0; b < SB; b++)
            for (int l = 0; l < SL; l++) CHECK(feed(&ab2, &lay[l], l, b, 1) == 0);
        int same = memcmp(ab.svd.mean, ab2.svd.mean, sizeof svd) == 0 &&
                   memcmp(ab.jl.mean, ab2.jl.mean, sizeof jl) == 0 &&
                   memcmp(ab.jl.m2, ab2.jl.m2, sizeof jl) == 0 &&
                   memcmp(ab.out.mean, ab2.out.mean, 3 * SL * SH * sizeof(double)) == 0;
        CHECK_MSG(same, "batching/threads %d changed the statistics", threads);
        lf_ablation_free(&ab2);
    }
    lf_threads_set(0);
    lf_ablation_free(&ab);
    lf_plan_free(&mean), lf_plan_free(&gauss), lf_plan_free(&ident);
}

/* ---- fitting -------------------------------------------------------------------- */

/* Training/held-out data with a shared positional structure (as test_fit.c): each
 * (layer, head) has fixed U [n, r] and maps; examples add their own noise. */
typedef struct {
    float *buf;
    const float **q, **k, **v;
    lf_fit_data data;
} fdata;

static void fdata_make(fdata *s, int examples, uint64_t ex_stream)
{
    const int items = examples * SL * SH, r = 4;
    const size_t per = (size_t)SN * 3 * SD;
    s->buf = malloc((size_t)items * per * sizeof(float));
    s->q = malloc((size_t)items * sizeof *s->q);
    s->k = malloc((size_t)items * sizeof *s->k);
    s->v = malloc((size_t)items * sizeof *s->v);
    float u[SN * 4], maps[3][4 * SD], x[SN * 4];
    for (int lh = 0; lh < SL * SH; lh++) {
        fill_normal(u, SN * r, 1.0, 500 + lh);
        for (int w = 0; w < 3; w++) fill_normal(maps[w], (size_t)r * SD, w < 2 ? 0.8 : 0.5, 600 + lh * 3 + w);
        for (int e = 0; e < examples; e++) {
            const int i = e * SL * SH + lh;
            float *base = s->buf + (size_t)i * per;
            for (int w = 0; w < 3; w++) {
                fill_normal(x, SN * r, 0.3, ex_stream * 100000 + (uint64_t)(i * 3 + w));
                for (int t = 0; t < SN; t++)
                    for (int c = 0; c < SD; c++) {
                        double acc = 0;
                        for (int j = 0; j < r; j++) acc += (u[t * r + j] + x[t * r + j]) * maps[w][j * SD + c];
                        base[w * SN * SD + t * SD + c] = (float)acc;
                    }
            }
            s->q[i] = base, s->k[i] = base + SN * SD, s->v[i] = base + 2 * SN * SD;
        }
    }
    s->data = (lf_fit_data){.examples = examples, .layers = SL, .heads = SH, .d = SD, .dv = SD,
                            .q = s->q, .k = s->k, .v = s->v};
}

static void fdata_free(fdata *s)
{
    free(s->buf), free(s->q), free(s->k), free(s->v);
}

static void test_conv_gradient_fd(void)
{
    fdata tr;
    fdata_make(&tr, 2, 1);
    int64_t k[SL * SH];
    for (int i = 0; i < SL * SH; i++) k[i] = 8; /* window 4 */
    lf_plan pl;
    CHECK(lf_plan_init(&pl, SL, SH, SN, k, LF_SHARE_HEADWISE, LF_PROJ_CONV, 0) == 0);
    /* move away from mean pooling so that no gradient is special */
    for (int p = 0; p < pl.n_proj; p++)
        for (int t = 0; t < 4; t++) pl.proj[p].weights[t] = 0.25f + 0.05f * (float)((p + 3 * t) % 5 - 2);
    double loss, g[4 * 2 * SL];
    CHECK(lf_ab_conv_loss_grad(&pl, &tr.data, &loss, g) == 0);
    /* Central differences with the step actually taken in float: truncation h^2 J'''
     * ~ 1e-6 relative for h = 1e-3, rounding ~1e-16 / 1e-3; rtol 1e-4 + atol 1e-7. */
    double worst = 0;
    int o = 0;
    for (int p = 0; p < pl.n_proj; p++)
        for (int t = 0; t < 4; t++, o++) {
            float w0 = pl.proj[p].weights[t];
            float wp = w0 + 1e-3f, wm = w0 - 1e-3f;
            double lp, lm, tmp[4 * 2 * SL];
            pl.proj[p].weights[t] = wp;
            CHECK(lf_ab_conv_loss_grad(&pl, &tr.data, &lp, tmp) == 0);
            pl.proj[p].weights[t] = wm;
            CHECK(lf_ab_conv_loss_grad(&pl, &tr.data, &lm, tmp) == 0);
            pl.proj[p].weights[t] = w0;
            double fd = (lp - lm) / ((double)wp - (double)wm);
            double r = fabs(fd - g[o]) / (1e-7 + 1e-4 * fabs(fd));
            if (r > worst) worst = r;
        }
    CHECK_MSG(worst <= 1, "conv gradient vs finite differences: worst ratio %.3g", worst);
    check_notef("worst |fd - g| / tol = %.2g", worst);
    lf_plan_free(&pl);
    fdata_free(&tr);
}

/* Mean relative output error of a plan over the examples' heads
 * (lf_lowrank_output_error: the library's independent float32 path). */
static double heldout(const lf_plan *pl, const fdata *s)
{
    double sum = 0;
    const int items = s->data.examples * SL * SH;
    for (int i = 0; i < items; i++) {
        const int l = i / SH % SL, h = i % SH;
        double e;
        CHECK(lf_lowrank_output_error(s->q[i], s->k[i], s->v[i], NULL, SN, SD, SD,
                                      lf_plan_get(pl, l, h, 0), lf_plan_get(pl, l, h, 1),
                                      lf_plan_k(pl, l, h), &e) == 0);
        sum += e;
    }
    return sum / items;
}

static void test_fitted_vs_gaussian_and_sharing(void)
{
    fdata tr, te;
    fdata_make(&tr, 3, 1);
    fdata_make(&te, 2, 2); /* held out: other noise */
    int64_t k[SL * SH];
    for (int i = 0; i < SL * SH; i++) k[i] = 8;
    lf_ab_fit_opts fo = {60, 0.05, 0.1, 0.1};
    const lf_sharing modes[4] = {LF_SHARE_NONE, LF_SHARE_HEADWISE, LF_SHARE_KV, LF_SHARE_LAYERWISE};
    const int nproj[4] = {2 * SL * SH, 2 * SL, SL, 1};
    char note[200] = "";
    for (int s = 0; s < 4; s++) {
        lf_plan g, fit, conv, mean;
        double lf, lc, l0;
        CHECK(lf_ab_plan_make(&g, LF_AB_GAUSSIAN, SL, SH, SN, k, modes[s], 5, NULL, NULL, NULL) == 0);
        CHECK(lf_ab_plan_make(&fit, LF_AB_FITTED, SL, SH, SN, k, modes[s], 5, &tr.data, &fo, &lf) == 0);
        CHECK(lf_ab_plan_make(&conv, LF_AB_CONV, SL, SH, SN, k, modes[s], 5, &tr.data, &fo, &lc) == 0);
        CHECK(lf_ab_plan_make(&mean, LF_AB_MEAN, SL, SH, SN, k, modes[s], 5, NULL, NULL, NULL) == 0);
        CHECK(lf_fit_loss(&fit, &tr.data, &l0) == 0 && fabs(l0 - lf) <= 1e-12 * lf);
        const double eg = heldout(&g, &te), ef = heldout(&fit, &te), ec = heldout(&conv, &te),
                     em = heldout(&mean, &te);
        CHECK_MSG(ef < eg && ec < eg, "%s: held-out fitted %.4f conv %.4f vs gaussian %.4f",
                  lf_sharing_name(modes[s]), ef, ec, eg);
        /* Both fits start from mean pooling and keep their best training iterate. */
        CHECK_MSG(ef < em && ec <= em, "%s: held-out fitted %.4f conv %.4f vs mean %.4f",
                  lf_sharing_name(modes[s]), ef, ec, em);
        /* Sharing constraints in the fitted parameters: the projection of every
         * (layer, head, key|value) is the one the mode prescribes. */
        CHECK(fit.n_proj == nproj[s] && conv.n_proj == nproj[s]);
        for (int l = 0; l < SL; l++)
            for (int h = 0; h < SH; h++)
                for (int w = 0; w < 2; w++) {
                    int want = modes[s] == LF_SHARE_NONE       ? (l * SH + h) * 2 + w
                               : modes[s] == LF_SHARE_HEADWISE ? l * 2 + w
                               : modes[s] == LF_SHARE_KV       ? l
                                                               : 0;
                    CHECK(lf_plan_get(&fit, l, h, w) == &fit.proj[want]);
                    CHECK(lf_plan_get(&conv, l, h, w) == &conv.proj[want]);
                }
        snprintf(note + strlen(note), sizeof note - strlen(note), "%s g %.2f m %.2f c %.2f f %.2f; ",
                 lf_sharing_name(modes[s]), eg, em, ec, ef);
        lf_plan_free(&g), lf_plan_free(&fit), lf_plan_free(&conv), lf_plan_free(&mean);
    }
    check_notef("%s", note);
    fdata_free(&tr), fdata_free(&te);
}

/* ---- substitution into the encoder ------------------------------------------------ */

static void test_compare_closed_form(void)
{
    /* B = 3 sequences of n = 2 tokens, C = 2: X rows (1,0), (0,1).
     * Y = 2X: change 1, cosine 1; Y = -X: change 2, cosine -1;
     * Y rows (0,1), (0,1) (mean (0,1) vs (.5,.5)): change 1, cosine 1/sqrt 2. */
    float x[12] = {1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1};
    float y[12] = {2, 0, 0, 2, -1, 0, 0, -1, 0, 1, 0, 1};
    double ch[3], co[3];
    CHECK(lf_substitute_compare(x, y, NULL, 3, 2, 2, ch, co) == 0);
    CHECK_NEAR(ch[0], 1, 1e-15);
    CHECK_NEAR(co[0], 1, 1e-15);
    CHECK_NEAR(ch[1], 2, 1e-15);
    CHECK_NEAR(co[1], -1, 1e-15);
    CHECK_NEAR(ch[2], 1, 1e-15);
    CHECK_NEAR(co[2], 1 / sqrt(2.0), 1e-15);
    /* a mask drops the second token: only (1,0) vs (2,0) etc. */
    uint8_t mask[6] = {1, 0, 1, 0, 1, 0};
    CHECK(lf_substitute_compare(x, y, mask, 3, 2, 2, ch, co) == 0);
    CHECK_NEAR(ch[2], sqrt(2.0), 1e-15);
    CHECK_NEAR(co[2], 0, 1e-15);
    uint8_t none[6] = {0};
    CHECK(lf_substitute_compare(x, y, none, 3, 2, 2, ch, co) != 0 && strstr(lf_error_get(), "no token"));
}

static void test_substitute_encoder(void)
{
    char dir[PATH_MAX], cfg[PATH_MAX + 64], st[PATH_MAX + 64], vocab[PATH_MAX + 64];
    repo_path("tests/data", dir, sizeof dir);
    snprintf(cfg, sizeof cfg, "%s/encoder_tiny_config.json", dir);
    snprintf(st, sizeof st, "%s/encoder_tiny.safetensors", dir);
    snprintf(vocab, sizeof vocab, "%s/encoder_tiny_vocab.txt", dir);
    lf_model *m = lf_model_load_files(cfg, st, vocab);
    CHECK_MSG(m, "tiny model: %s", lf_error_get());
    if (!m) return;
    const int L = m->config.num_hidden_layers, H = m->config.num_attention_heads;
    const int64_t n = 64, B = 2, C = m->config.hidden_size;
    int32_t ids[2 * 64];
    lf_rng r;
    lf_rng_init(&r, 9, 0);
    for (int i = 0; i < B * n; i++) ids[i] = 5 + (int32_t)(lf_rng_uniform(&r) * 90);
    lf_encoder_ws ws;
    CHECK(lf_encoder_ws_init(&ws, m, B, n) == 0);
    float *x = malloc((size_t)(B * n * C) * sizeof(float)), *y = malloc((size_t)(B * n * C) * sizeof(float));
    CHECK(lf_encoder_forward(m, ids, NULL, B, n, x, NULL, &ws) == 0);
    int64_t kk[64];
    for (int i = 0; i < L * H; i++) kk[i] = n;
    lf_plan id;
    CHECK(lf_plan_init(&id, L, H, n, kk, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 0) == 0);
    memset(id.proj[0].weights, 0, (size_t)(n * n) * sizeof(float));
    for (int64_t i = 0; i < n; i++) id.proj[0].weights[i * n + i] = 1.0f;
    lf_encoder_hooks hk = {.attention = lf_substitute_attention, .user = &id};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hk, y, NULL, &ws) == 0);
    double ch[2], co[2];
    CHECK(lf_substitute_compare(x, y, NULL, B, n, C, ch, co) == 0);
    /* identity projections: the same model up to float32 rounding through 2 layers */
    CHECK_MSG(ch[0] < 1e-5 && ch[1] < 1e-5, "identity changed the hidden states by %.3g, %.3g", ch[0], ch[1]);
    CHECK(co[0] > 1 - 1e-9 && co[1] > 1 - 1e-9);
    /* mean pooling to k = 8 changes them */
    for (int i = 0; i < L * H; i++) kk[i] = 8;
    lf_plan mp;
    CHECK(lf_plan_init(&mp, L, H, n, kk, LF_SHARE_NONE, LF_PROJ_MEAN, 0) == 0);
    hk.user = &mp;
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hk, y, NULL, &ws) == 0);
    double ch2[2], co2[2];
    CHECK(lf_substitute_compare(x, y, NULL, B, n, C, ch2, co2) == 0);
    CHECK(ch2[0] > 1e-3 && co2[0] < 1);
    check_notef("identity change %.1e; mean k=8 change %.3f cosine %.4f", ch[0], ch2[0], co2[0]);
    /* a plan for another shape is refused */
    lf_plan wrong;
    for (int i = 0; i < L * H; i++) kk[i] = 8;
    CHECK(lf_plan_init(&wrong, L, H, 32, kk, LF_SHARE_NONE, LF_PROJ_MEAN, 0) == 0);
    hk.user = &wrong;
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hk, y, NULL, &ws) != 0 &&
          strstr(lf_error_get(), "does not fit"));
    lf_plan_free(&id), lf_plan_free(&mp), lf_plan_free(&wrong);
    free(x), free(y);
    lf_encoder_ws_free(&ws);
    lf_model_free(m);
}

/* lf_plan_save: read back what was written, padding included. */
static void test_plan_save(void)
{
    int64_t k[SL * SH];
    for (int i = 0; i < SL * SH; i++) k[i] = i < SH ? 8 : 4; /* layer 0: k 8, layer 1: k 4 */
    lf_plan lin, conv, mean;
    CHECK(lf_plan_init(&lin, SL, SH, SN, k, LF_SHARE_HEADWISE, LF_PROJ_LINEAR, 1) == 0);
    CHECK(lf_plan_init(&conv, SL, SH, SN, k, LF_SHARE_KV, LF_PROJ_CONV, 1) == 0);
    CHECK(lf_plan_init(&mean, SL, SH, SN, k, LF_SHARE_NONE, LF_PROJ_MEAN, 1) == 0);
    for (int t = 0; t < 4; t++) conv.proj[0].weights[t] = 0.1f * (float)(t + 1); /* window 4 */
    for (int t = 0; t < 8; t++) conv.proj[1].weights[t] = -(float)t;              /* window 8 */
    lf_h5 *f = lf_h5_create("plans.h5", "test", 1);
    CHECK(f != NULL);
    if (!f) return;
    CHECK(lf_plan_save(f, "/lin", &lin) == 0);
    CHECK(lf_plan_save(f, "/conv", &conv) == 0);
    CHECK(lf_plan_save(f, "/mean", &mean) != 0 && strstr(lf_error_get(), "no parameters"));
    CHECK(lf_h5_close(f, 1) == 0);
    f = lf_h5_open("plans.h5");
    CHECK(f != NULL);
    if (!f) return;
    int rank;
    int64_t dims[8];
    float *w = NULL;
    int32_t *idx = NULL, *kk = NULL;
    CHECK(lf_h5_read_f32(f, "/lin/weights", 3, &rank, dims, &w) == 0);
    CHECK(rank == 3 && dims[0] == 2 * SL && dims[1] == 8 && dims[2] == SN);
    int same = 1;
    for (int p = 0; p < lin.n_proj && w; p++)
        for (int64_t r = 0; r < 8; r++)
            for (int64_t c = 0; c < SN; c++) {
                float want = r < lin.proj[p].k ? lin.proj[p].weights[r * SN + c] : 0.0f;
                same &= w[(p * 8 + r) * SN + c] == want;
            }
    CHECK_MSG(same, "linear weights differ (or padding is not zero)");
    lf_free(w);
    CHECK(lf_h5_read_i32(f, "/lin/index", 3, &rank, dims, &idx) == 0);
    CHECK(lf_h5_read_i32(f, "/lin/k", 2, &rank, dims, &kk) == 0);
    for (int l = 0; l < SL && idx && kk; l++)
        for (int h = 0; h < SH; h++) {
            CHECK(idx[(l * SH + h) * 2] == l * 2 && idx[(l * SH + h) * 2 + 1] == l * 2 + 1);
            CHECK(kk[l * SH + h] == (l == 0 ? 8 : 4));
        }
    lf_free(idx), lf_free(kk);
    CHECK(lf_h5_read_f32(f, "/conv/weights", 2, &rank, dims, &w) == 0);
    CHECK(rank == 2 && dims[0] == SL && dims[1] == 8); /* windows 4 and 8 */
    if (w) {
        CHECK(w[0] == conv.proj[0].weights[0] && w[3] == conv.proj[0].weights[3] && w[4] == 0 && w[7] == 0);
        CHECK(w[8 + 7] == conv.proj[1].weights[7]);
    }
    lf_free(w);
    lf_h5_close(f, 0);
    lf_plan_free(&lin), lf_plan_free(&conv), lf_plan_free(&mean);
}

static void test_bad_input(void)
{
    lf_ablation ab;
    int64_t ks[2] = {4, 64};
    CHECK(lf_ablation_init(&ab, SL, SH, SN, ks, 2, NULL, 0, 1, 0) != 0 && strstr(lf_error_get(), "k = 64"));
    CHECK(lf_ablation_init(&ab, SL, SH, SN, ks, 1, NULL, 0, 1, 0) == 0);
    static layer_data lay;
    make_layer(&lay, 0, 3);
    uint8_t mask[SB * SN];
    memset(mask, 1, sizeof mask);
    lf_encoder_attn a = {.layer = 0, .num_layers = SL, .B = SB, .n = SN, .H = SH, .D = SD,
                         .mask = mask, .q = lay.q, .k = lay.k, .v = lay.v, .out = lay.out,
                         .probs = lay.p, .probs_seq_stride = SH * SN * SN};
    CHECK(lf_ablation_observe(&ab, &a) != 0 && strstr(lf_error_get(), "padded"));
    a.mask = NULL, a.probs = NULL;
    CHECK(lf_ablation_observe(&ab, &a) != 0 && strstr(lf_error_get(), "keep_probs"));
    a.probs = lay.p, a.layer = 5;
    CHECK(lf_ablation_observe(&ab, &a) != 0);
    lf_ablation_free(&ab);
    int64_t k[SL * SH];
    for (int i = 0; i < SL * SH; i++) k[i] = 7;
    lf_plan pl;
    CHECK(lf_ab_plan_make(&pl, LF_AB_FITTED, SL, SH, SN, k, LF_SHARE_NONE, 0, NULL, NULL, NULL) != 0 &&
          strstr(lf_error_get(), "training data"));
    lf_ab_fit_opts fo = {1, 0.01, 0.01, 1};
    fdata tr;
    fdata_make(&tr, 1, 1);
    CHECK(lf_ab_plan_make(&pl, LF_AB_CONV, SL, SH, SN, k, LF_SHARE_NONE, 0, &tr.data, &fo, NULL) != 0);
    CHECK(pl.proj == NULL); /* zeroed on failure */
    k[0] = 16; /* mean pooling shared by heads of different k */
    CHECK(lf_ab_plan_make(&pl, LF_AB_MEAN, SL, SH, SN, k, LF_SHARE_LAYERWISE, 0, NULL, NULL, NULL) != 0);
    fdata_free(&tr);
}

int main(void)
{
    check_program = "test_ablation";
    RUN(test_kind_names);
    RUN(test_nonuniform_spec);
    RUN(test_measurements_vs_direct);
    RUN(test_conv_gradient_fd);
    RUN(test_fitted_vs_gaussian_and_sharing);
    RUN(test_compare_closed_form);
    RUN(test_substitute_encoder);
    RUN(test_plan_save);
    RUN(test_bad_input);
    return check_summary();
}
