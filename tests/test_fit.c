/* test_fit.c - fitting Linformer projections (core/fit.h): the gradient of the output
 * error against central finite differences in double, the sharing reduction against
 * per-head gradients, fitted projections against Gaussian ones on held-out synthetic
 * attention, sharing constraints after a fit, the k = n identity fixed point, and
 * determinism over runs and thread counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fit.h"
#include "lowrank.h"
#include "mem.h"
#include "parallel.h"
#include "projection.h"
#include "rng.h"

static void fill_normal_d(double *x, size_t count, double std, uint64_t stream)
{
    lf_rng r;
    lf_rng_init(&r, 77, stream);
    for (size_t i = 0; i < count; i++) x[i] = std * lf_rng_normal(&r);
}

/* ---- synthetic attention inputs --------------------------------------------- */

/* Q, K, V for examples x layers x heads. Each (layer, head) has a fixed positional
 * structure U [n, r] and maps A, B, C [r, d]; an example adds its own noise:
 *   Q = (U + s X) A,  K = (U + s Y) B,  V = (U + s Z) C
 * so attention has a low-rank, position-dependent structure shared across
 * sequences (what a fitted projection can learn and a random one cannot), with
 * per-sequence variation (so held-out sequences differ from the training ones). */
typedef struct {
    lf_fit_data data;
    float *buf;
    const float **q, **k, **v;
    int64_t *len;
    uint8_t **mask;
} synth;

static void synth_free(synth *s)
{
    free(s->buf);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->len);
    if (s->mask)
        for (int e = 0; e < s->data.examples; e++) free(s->mask[e]);
    free(s->mask);
    memset(s, 0, sizeof *s);
}

static void synth_init(synth *s, int examples, int layers, int heads, int64_t n, int64_t d,
                       int64_t dv, int r, double noise, uint64_t example_stream)
{
    memset(s, 0, sizeof *s);
    const int items = examples * layers * heads;
    const size_t per = (size_t)n * (size_t)(2 * d + dv);
    s->buf = malloc((size_t)items * per * sizeof(float));
    s->q = malloc((size_t)items * sizeof *s->q);
    s->k = malloc((size_t)items * sizeof *s->k);
    s->v = malloc((size_t)items * sizeof *s->v);
    double *u = malloc((size_t)n * r * sizeof(double)), *a = malloc((size_t)r * d * sizeof(double));
    double *b = malloc((size_t)r * d * sizeof(double)), *c = malloc((size_t)r * dv * sizeof(double));
    double *x = malloc((size_t)n * r * sizeof(double));
    for (int lh = 0; lh < layers * heads; lh++) {
        /* the head's structure: same for every example */
        fill_normal_d(u, (size_t)n * r, 1.0, 1000 + lh);
        fill_normal_d(a, (size_t)r * d, 1.5 / sqrt((double)r), 2000 + lh);
        fill_normal_d(b, (size_t)r * d, 1.5 / sqrt((double)r), 3000 + lh);
        fill_normal_d(c, (size_t)r * dv, 1.0 / sqrt((double)r), 4000 + lh);
        for (int e = 0; e < examples; e++) {
            const int i = e * layers * heads + lh;
            float *base = s->buf + (size_t)i * per;
            float *qs = base, *ks = base + n * d, *vs = base + 2 * n * d;
            const double *maps[3] = {a, b, c};
            float *outs[3] = {qs, ks, vs};
            const int64_t cols[3] = {d, d, dv};
            for (int w = 0; w < 3; w++) {
                fill_normal_d(x, (size_t)n * r, noise,
                              example_stream * 1000003u + (uint64_t)(i * 3 + w));
                for (int64_t t = 0; t < n; t++)
                    for (int64_t j = 0; j < cols[w]; j++) {
                        double acc = 0;
                        for (int l = 0; l < r; l++)
                            acc += (u[t * r + l] + x[t * r + l]) * maps[w][l * cols[w] + j];
                        outs[w][t * cols[w] + j] = (float)acc;
                    }
            }
            s->q[i] = qs;
            s->k[i] = ks;
            s->v[i] = vs;
        }
    }
    free(u);
    free(a);
    free(b);
    free(c);
    free(x);
    s->data = (lf_fit_data){.examples = examples, .layers = layers, .heads = heads, .d = d,
                            .dv = dv, .q = s->q, .k = s->k, .v = s->v};
}

/* Mean relative squared output error per example from lf_lowrank_output_error (the
 * library's independent float32 path), over layers and heads. */
static void heldout_errors(const lf_plan *plan, const synth *s, double *per_example)
{
    const lf_fit_data *dt = &s->data;
    const int lh = dt->layers * dt->heads;
    for (int e = 0; e < dt->examples; e++) {
        double sum = 0;
        for (int h = 0; h < lh; h++) {
            const int i = e * lh + h;
            double err = NAN;
            int rc = lf_lowrank_output_error(dt->q[i], dt->k[i], dt->v[i], NULL, plan->n, dt->d,
                                             dt->dv, lf_plan_get(plan, h / dt->heads, h % dt->heads, 0),
                                             lf_plan_get(plan, h / dt->heads, h % dt->heads, 1),
                                             plan->k[h], &err);
            CHECK(rc == 0);
            sum += err * err;
        }
        per_example[e] = sum / lh;
    }
}

/* ---- gradient ---------------------------------------------------------------- */

/* Central differences in double: the truncation error is h^2 |J'''| / 6 ~ 1e-12 and
 * the rounding error ~ eps |J| / h ~ 1e-10 for J = O(1), h = 1e-6, against
 * gradient entries of order 1e-3..1, so a correct gradient agrees to ~1e-7
 * relative (measured: see the note); a sign, transpose, scale or missing softmax
 * term is off by O(1) relative. Hence rtol 1e-5 plus atol 1e-8 (entries near zero,
 * where the rounding error dominates). */
static void grad_case(int64_t n, int64_t d, int64_t dv, int64_t kp, const uint8_t *mask,
                      uint64_t stream, double *worst)
{
    double *q = malloc((size_t)(n * d) * sizeof(double)), *k = malloc((size_t)(n * d) * sizeof(double));
    double *v = malloc((size_t)(n * dv) * sizeof(double));
    double *e = malloc((size_t)(kp * n) * sizeof(double)), *f = malloc((size_t)(kp * n) * sizeof(double));
    double *de = malloc((size_t)(kp * n) * sizeof(double)), *df = malloc((size_t)(kp * n) * sizeof(double));
    double *fd_e = malloc((size_t)(kp * n) * sizeof(double)), *fd_f = malloc((size_t)(kp * n) * sizeof(double));
    fill_normal_d(q, (size_t)(n * d), 1.0, stream);
    fill_normal_d(k, (size_t)(n * d), 1.5, stream + 1);
    fill_normal_d(v, (size_t)(n * dv), 1.0, stream + 2);
    fill_normal_d(e, (size_t)(kp * n), 1.0 / sqrt((double)kp), stream + 3);
    fill_normal_d(f, (size_t)(kp * n), 1.0 / sqrt((double)kp), stream + 4);
    double j0 = NAN;
    CHECK(lf_fit_head_d(q, k, v, mask, n, d, dv, e, f, kp, &j0, de, df) == 0);
    CHECK(j0 > 0.01 && isfinite(j0)); /* a real mismatch, so the gradient is not tiny */
    const double h = 1e-6;
    for (int which = 0; which < 2; which++) {
        double *w = which ? f : e, *fd = which ? fd_f : fd_e;
        for (int64_t t = 0; t < kp * n; t++) {
            const double w0 = w[t];
            double jp = NAN, jm = NAN;
            w[t] = w0 + h;
            CHECK(lf_fit_head_d(q, k, v, mask, n, d, dv, e, f, kp, &jp, NULL, NULL) == 0);
            w[t] = w0 - h;
            CHECK(lf_fit_head_d(q, k, v, mask, n, d, dv, e, f, kp, &jm, NULL, NULL) == 0);
            w[t] = w0;
            fd[t] = (jp - jm) / (2 * h);
        }
    }
    CHECK_ARRAYS_D("dJ/dE", de, fd_e, (size_t)(kp * n), 1e-8, 1e-5);
    CHECK_ARRAYS_D("dJ/dF", df, fd_f, (size_t)(kp * n), 1e-8, 1e-5);
    for (int64_t t = 0; t < kp * n; t++) {
        double re = fabs(de[t] - fd_e[t]) / (1e-8 + fabs(fd_e[t]));
        double rf = fabs(df[t] - fd_f[t]) / (1e-8 + fabs(fd_f[t]));
        if (re > *worst) *worst = re;
        if (rf > *worst) *worst = rf;
    }
    if (mask) /* padded positions take no part: zero gradient in their columns */
        for (int64_t t = 0; t < n; t++)
            if (!mask[t])
                for (int64_t r = 0; r < kp; r++) CHECK(de[r * n + t] == 0 && df[r * n + t] == 0);
    free(q);
    free(k);
    free(v);
    free(e);
    free(f);
    free(de);
    free(df);
    free(fd_e);
    free(fd_f);
}

static void test_gradient_finite_differences(void)
{
    double worst = 0;
    grad_case(7, 3, 4, 3, NULL, 10, &worst);
    grad_case(9, 5, 2, 9, NULL, 20, &worst); /* k = n */
    grad_case(6, 4, 3, 1, NULL, 30, &worst); /* k = 1: softmax over one slot is constant */
    const uint8_t mask[8] = {1, 1, 0, 1, 1, 1, 0, 0};
    grad_case(8, 3, 3, 4, mask, 40, &worst);
    check_notef("worst relative difference %.2g", worst);
}

/* The plan's gradient is the mean over items of each user's gradient, scaled by the
 * gaussian row factor: compare with lf_fit_head_d on the same (float) weights, for
 * every sharing mode, with nonuniform k, unequal lengths and a mask. */
static void test_plan_gradient_sums_users(void)
{
    const int L = 2, H = 2, E = 2;
    const int64_t n = 12, d = 4, dv = 3;
    const int64_t ks[4] = {5, 3, 4, 5};
    synth s;
    synth_init(&s, E, L, H, n, d, dv, 3, 0.5, 1);
    int64_t len[2] = {12, 9};
    uint8_t m1[9] = {1, 1, 1, 0, 1, 1, 1, 1, 0};
    const uint8_t *masks[2] = {NULL, m1};
    s.data.len = len;
    s.data.mask = masks;
    double worst = 0;
    for (int kind = 0; kind < 2; kind++)
        for (int sh = 0; sh < 4; sh++) {
            lf_plan plan;
            CHECK(lf_plan_init(&plan, L, H, n, ks, (lf_sharing)sh,
                               kind ? LF_PROJ_GAUSSIAN : LF_PROJ_LINEAR, 5) == 0);
            size_t P = lf_plan_param_count(&plan);
            double *grad = calloc(P, sizeof(double)), *ref = calloc(P, sizeof(double));
            size_t *off = calloc((size_t)plan.n_proj, sizeof(size_t));
            for (int p = 1; p < plan.n_proj; p++)
                off[p] = off[p - 1] + (size_t)(plan.proj[p - 1].k * plan.proj[p - 1].n);
            double loss = NAN, ref_loss = 0;
            CHECK(lf_fit_loss_grad(&plan, &s.data, &loss, grad) == 0);
            for (int ex = 0; ex < E; ex++)
                for (int h = 0; h < L * H; h++) {
                    const int i = ex * L * H + h;
                    const int64_t ln = len[ex], kp = ks[h];
                    double *q = malloc((size_t)(ln * d) * sizeof(double));
                    double *k = malloc((size_t)(ln * d) * sizeof(double));
                    double *v = malloc((size_t)(ln * dv) * sizeof(double));
                    double *ef[2], *g[2];
                    for (int64_t t = 0; t < ln * d; t++) {
                        q[t] = s.q[i][t];
                        k[t] = s.k[i][t];
                    }
                    for (int64_t t = 0; t < ln * dv; t++) v[t] = s.v[i][t];
                    double alpha[2];
                    for (int w = 0; w < 2; w++) {
                        const lf_proj *pr = lf_plan_get(&plan, h / H, h % H, w);
                        alpha[w] = (kind && kp < pr->k) ? (double)(float)sqrt((double)pr->k / kp) : 1.0;
                        ef[w] = malloc((size_t)(kp * ln) * sizeof(double));
                        g[w] = malloc((size_t)(kp * ln) * sizeof(double));
                        for (int64_t r = 0; r < kp; r++)
                            for (int64_t c = 0; c < ln; c++)
                                ef[w][r * ln + c] = alpha[w] * pr->weights[r * n + c];
                    }
                    double j = NAN;
                    CHECK(lf_fit_head_d(q, k, v, masks[ex], ln, d, dv, ef[0], ef[1], kp, &j, g[0],
                                        g[1]) == 0);
                    ref_loss += j / (E * L * H);
                    for (int w = 0; w < 2; w++) {
                        int p = plan.index[h * 2 + w];
                        for (int64_t r = 0; r < kp; r++)
                            for (int64_t c = 0; c < ln; c++)
                                ref[off[p] + (size_t)(r * n + c)] +=
                                    alpha[w] * g[w][r * ln + c] / (E * L * H);
                        free(ef[w]);
                        free(g[w]);
                    }
                    free(q);
                    free(k);
                    free(v);
                }
            CHECK_NEAR(loss, ref_loss, 1e-12 * ref_loss);
            double gmax = 0;
            for (size_t t = 0; t < P; t++) gmax = fmax(gmax, fabs(ref[t]));
            double w = CHECK_ARRAYS_D("plan gradient", grad, ref, P, 1e-12 * gmax, 1e-9);
            if (w / gmax > worst) worst = w / gmax;
            free(grad);
            free(ref);
            free(off);
            lf_plan_free(&plan);
        }
    synth_free(&s);
    check_notef("worst |diff| / max|grad| %.2g over 2 kinds x 4 sharing modes", worst);
}

/* ---- fitting ----------------------------------------------------------------- */

#define FIT_L 2
#define FIT_H 2
#define FIT_N 64
#define FIT_D 16
#define FIT_K 8
#define FIT_TRAIN 8
#define FIT_TEST 8

static lf_fit_opts fit_opts(int steps)
{
    lf_fit_opts o = lf_fit_opts_default();
    o.steps = steps;
    o.lr = 2e-2;
    return o;
}

/* Held-out sequences differ from the training ones in their noise only: the
 * projections fitted to the shared structure must carry over. The margin: fitted
 * must beat gaussian on every one of the held-out sequences, and on average by a
 * factor of 2 (measured ~ see the note). */
static void test_fit_beats_gaussian(void)
{
    int64_t ks[FIT_L * FIT_H];
    for (int i = 0; i < FIT_L * FIT_H; i++) ks[i] = FIT_K;
    synth train, test;
    synth_init(&train, FIT_TRAIN, FIT_L, FIT_H, FIT_N, FIT_D, FIT_D, 4, 0.5, 100);
    synth_init(&test, FIT_TEST, FIT_L, FIT_H, FIT_N, FIT_D, FIT_D, 4, 0.5, 200);
    char note[256] = "";
    for (int sh = 0; sh < 4; sh++) {
        lf_plan plan;
        CHECK(lf_plan_init(&plan, FIT_L, FIT_H, FIT_N, ks, (lf_sharing)sh, LF_PROJ_GAUSSIAN, 9) == 0);
        double before[FIT_TEST], after[FIT_TEST], train0 = NAN, train1 = NAN, test0 = NAN, test1 = NAN;
        heldout_errors(&plan, &test, before);
        CHECK(lf_fit_loss(&plan, &train.data, &train0) == 0);
        CHECK(lf_fit_loss(&plan, &test.data, &test0) == 0);
        lf_fit_opts o = fit_opts(150);
        CHECK(lf_fit_plan(&plan, &train.data, &o, &train1) == 0);
        CHECK(lf_fit_loss(&plan, &test.data, &test1) == 0);
        heldout_errors(&plan, &test, after);
        double mb = 0, ma = 0;
        int wins = 0;
        for (int e = 0; e < FIT_TEST; e++) {
            mb += before[e] / FIT_TEST;
            ma += after[e] / FIT_TEST;
            wins += after[e] < before[e];
        }
        CHECK_MSG(wins == FIT_TEST, "%s: fitted better on %d of %d held-out sequences",
                  lf_sharing_name((lf_sharing)sh), wins, FIT_TEST);
        CHECK_MSG(ma < 0.5 * mb, "%s: held-out J %.4g fitted vs %.4g gaussian",
                  lf_sharing_name((lf_sharing)sh), ma, mb);
        CHECK(train1 < train0);
        /* the fit's own objective and the library's float32 output error agree */
        CHECK_NEAR(test1, ma, 1e-3 * ma);
        printf("    %-9s train J %.4f -> %.4f, held-out J %.4f -> %.4f (float path %.4f -> %.4f)\n",
               lf_sharing_name((lf_sharing)sh), train0, train1, test0, test1, mb, ma);
        size_t len = strlen(note);
        snprintf(note + len, sizeof note - len, "%s%s %.3f->%.3f", sh ? ", " : "held-out J: ",
                 lf_sharing_name((lf_sharing)sh), mb, ma);
        lf_plan_free(&plan);
    }
    check_notef("%s", note);
    synth_free(&train);
    synth_free(&test);
}

static int weights_equal(const lf_proj *a, const lf_proj *b)
{
    return a->k == b->k && a->n == b->n &&
           memcmp(a->weights, b->weights, (size_t)(a->k * a->n) * sizeof(float)) == 0;
}

static void test_sharing_holds_after_fit(void)
{
    int64_t ks[FIT_L * FIT_H];
    for (int i = 0; i < FIT_L * FIT_H; i++) ks[i] = FIT_K;
    synth train;
    synth_init(&train, 4, FIT_L, FIT_H, 32, 8, 8, 4, 0.5, 300);
    for (int sh = 0; sh < 4; sh++) {
        lf_plan plan, init;
        CHECK(lf_plan_init(&plan, FIT_L, FIT_H, 32, ks, (lf_sharing)sh, LF_PROJ_LINEAR, 3) == 0);
        CHECK(lf_plan_init(&init, FIT_L, FIT_H, 32, ks, (lf_sharing)sh, LF_PROJ_LINEAR, 3) == 0);
        const int n_proj = plan.n_proj;
        lf_fit_opts o = fit_opts(20);
        double loss;
        CHECK(lf_fit_plan(&plan, &train.data, &o, &loss) == 0);
        CHECK(plan.n_proj == n_proj);
        for (int p = 0; p < plan.n_proj; p++) CHECK(!weights_equal(&plan.proj[p], &init.proj[p]));
        for (int l = 0; l < FIT_L; l++)
            for (int h = 0; h < FIT_H; h++) {
                const lf_proj *e = lf_plan_get(&plan, l, h, 0), *f = lf_plan_get(&plan, l, h, 1);
                const lf_proj *e00 = lf_plan_get(&plan, 0, 0, 0), *el0 = lf_plan_get(&plan, l, 0, 0);
                const lf_proj *fl0 = lf_plan_get(&plan, l, 0, 1);
                switch ((lf_sharing)sh) {
                case LF_SHARE_NONE:
                    CHECK(!weights_equal(e, f));
                    if (h > 0) CHECK(!weights_equal(e, el0));
                    break;
                case LF_SHARE_HEADWISE:
                    CHECK(weights_equal(e, el0) && weights_equal(f, fl0));
                    CHECK(!weights_equal(e, f));
                    if (l > 0) CHECK(!weights_equal(e, e00));
                    break;
                case LF_SHARE_KV:
                    CHECK(weights_equal(e, f) && weights_equal(e, el0));
                    if (l > 0) CHECK(!weights_equal(e, e00));
                    break;
                case LF_SHARE_LAYERWISE:
                    CHECK(weights_equal(e, f) && weights_equal(e, e00));
                    break;
                }
            }
        lf_plan_free(&plan);
        lf_plan_free(&init);
    }
    synth_free(&train);
}

/* k = n with E = F = I reproduces dense attention bit for bit (same products and
 * softmax on both sides), so J = 0 exactly, its gradient is exactly 0, and Adam
 * takes no step: the weights stay the identity. */
static void test_identity_fixed_point(void)
{
    const int64_t n = 16;
    int64_t ks[FIT_L * FIT_H];
    for (int i = 0; i < FIT_L * FIT_H; i++) ks[i] = n;
    synth train;
    synth_init(&train, 3, FIT_L, FIT_H, n, 8, 8, 4, 0.5, 400);
    for (int sh = 0; sh < 4; sh++) {
        lf_plan plan;
        CHECK(lf_plan_init(&plan, FIT_L, FIT_H, n, ks, (lf_sharing)sh, LF_PROJ_LINEAR, 3) == 0);
        for (int p = 0; p < plan.n_proj; p++)
            for (int64_t r = 0; r < n; r++)
                for (int64_t c = 0; c < n; c++) plan.proj[p].weights[r * n + c] = r == c;
        double loss0 = NAN, loss1 = NAN;
        size_t P = lf_plan_param_count(&plan);
        double *grad = malloc(P * sizeof(double));
        CHECK(lf_fit_loss_grad(&plan, &train.data, &loss0, grad) == 0);
        CHECK(loss0 == 0);
        size_t nonzero = 0;
        for (size_t t = 0; t < P; t++) nonzero += grad[t] != 0;
        CHECK(nonzero == 0);
        lf_fit_opts o = fit_opts(10);
        CHECK(lf_fit_plan(&plan, &train.data, &o, &loss1) == 0);
        CHECK(loss1 == 0);
        for (int p = 0; p < plan.n_proj; p++)
            for (int64_t r = 0; r < n; r++)
                for (int64_t c = 0; c < n; c++)
                    CHECK(plan.proj[p].weights[r * n + c] == (float)(r == c));
        free(grad);
        lf_plan_free(&plan);
    }
    synth_free(&train);
}

static void fit_once(const synth *s, int threads, lf_sharing sh, float **out, size_t *count,
                     double *loss)
{
    int64_t ks[FIT_L * FIT_H] = {8, 6, 8, 4};
    lf_threads_set(threads);
    lf_plan plan;
    CHECK(lf_plan_init(&plan, FIT_L, FIT_H, 32, ks, sh, LF_PROJ_GAUSSIAN, 11) == 0);
    lf_fit_opts o = fit_opts(15);
    CHECK(lf_fit_plan(&plan, &s->data, &o, loss) == 0);
    *count = lf_plan_param_count(&plan);
    *out = malloc(*count * sizeof(float));
    size_t off = 0;
    for (int p = 0; p < plan.n_proj; p++) {
        size_t c = (size_t)(plan.proj[p].k * plan.proj[p].n);
        memcpy(*out + off, plan.proj[p].weights, c * sizeof(float));
        off += c;
    }
    lf_plan_free(&plan);
}

static void test_deterministic(void)
{
    synth s;
    synth_init(&s, 5, FIT_L, FIT_H, 32, 8, 8, 4, 0.5, 500);
    for (int sh = 0; sh < 4; sh += 3) { /* none and layerwise: most and fewest matrices */
        float *a, *b, *c;
        size_t na, nb, nc;
        double la, lb, lc;
        fit_once(&s, 1, (lf_sharing)sh, &a, &na, &la);
        fit_once(&s, 1, (lf_sharing)sh, &b, &nb, &lb);
        fit_once(&s, 2, (lf_sharing)sh, &c, &nc, &lc);
        CHECK(na == nb && na == nc);
        CHECK(memcmp(a, b, na * sizeof(float)) == 0 && la == lb);
        CHECK_MSG(memcmp(a, c, na * sizeof(float)) == 0 && la == lc,
                  "%s: 1 and 2 threads differ (loss %.17g vs %.17g)",
                  lf_sharing_name((lf_sharing)sh), la, lc);
        free(a);
        free(b);
        free(c);
    }
    lf_threads_set(0);
    synth_free(&s);
}

static void test_bad_input(void)
{
    int64_t ks[FIT_L * FIT_H] = {4, 4, 4, 4};
    synth s;
    synth_init(&s, 2, FIT_L, FIT_H, 16, 4, 4, 2, 0.5, 600);
    lf_plan plan;
    double loss;
    CHECK(lf_plan_init(&plan, FIT_L, FIT_H, 16, ks, LF_SHARE_NONE, LF_PROJ_MEAN, 1) == 0);
    CHECK(lf_fit_loss(&plan, &s.data, &loss) == -1 && strstr(lf_error_get(), "mean"));
    lf_plan_free(&plan);
    CHECK(lf_plan_init(&plan, FIT_L, FIT_H, 16, ks, LF_SHARE_NONE, LF_PROJ_LINEAR, 1) == 0);
    lf_fit_data bad = s.data;
    bad.heads = 3;
    CHECK(lf_fit_loss(&plan, &bad, &loss) == -1 && strstr(lf_error_get(), "heads"));
    int64_t len[2] = {16, 17};
    bad = s.data;
    bad.len = len;
    CHECK(lf_fit_loss(&plan, &bad, &loss) == -1 && strstr(lf_error_get(), "length 17"));
    /* an all-zero V makes the dense output zero: J is undefined, not 0 */
    float *zero = calloc(16 * 4, sizeof(float));
    const float *vz[8];
    for (int i = 0; i < 8; i++) vz[i] = i == 5 ? zero : s.v[i];
    bad = s.data;
    bad.v = vz;
    CHECK(lf_fit_loss(&plan, &bad, &loss) == -1 && strstr(lf_error_get(), "example 1 layer 0 head 1"));
    lf_fit_opts o = fit_opts(-1);
    CHECK(lf_fit_plan(&plan, &s.data, &o, &loss) == -1);
    free(zero);
    lf_plan_free(&plan);
    synth_free(&s);
}

int main(void)
{
    check_program = "test_fit";
    RUN(test_gradient_finite_differences);
    RUN(test_plan_gradient_sums_users);
    RUN(test_fit_beats_gaussian);
    RUN(test_sharing_holds_after_fit);
    RUN(test_identity_fixed_point);
    RUN(test_deterministic);
    RUN(test_bad_input);
    return check_summary();
}
