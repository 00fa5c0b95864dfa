/* test_mlm.c - the masked-LM model (core/mlm.h): its complete backward pass against
 * central finite differences of the float64 build on tiny configurations (every
 * trainable parameter, dense and Linformer attention under every sharing mode,
 * nonuniform k, every projection kind, padding masks, pre-/post-LN, dropout, a batch
 * shorter than max_len), the float32 fast path against the float64 build, Linformer
 * with identity projections against dense attention, determinism across runs and
 * thread counts, the loss at initialisation, bad input, and a learning test.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "mem.h"
#include "mlm.h"
#include "optim.h"
#include "parallel.h"
#include "rng.h"

/* ---- tiny configurations ------------------------------------------------------ */

enum { TV = 11, TN = 8, TC = 8, TH = 2, TL = 2, TF = 16, TB = 2 };

static int64_t tk[TL * TH];

static lf_mlm_config tiny(int linformer, lf_sharing sh, lf_proj_kind kind, int pre_ln,
                          const int64_t *k)
{
    lf_mlm_config c = lf_mlm_config_default();
    c.vocab = TV;
    c.max_len = TN;
    c.dim = TC;
    c.heads = TH;
    c.layers = TL;
    c.ffn = TF;
    c.pre_ln = pre_ln;
    c.linformer = linformer;
    c.sharing = sh;
    c.kind = kind;
    if (linformer) {
        memcpy(tk, k, sizeof tk);
        c.k = tk;
    }
    c.init_std = 0.5; /* large enough that attention is far from uniform */
    c.seed = 7;
    return c;
}

static const int64_t k_uni4[TL * TH] = {4, 4, 4, 4};
static const int64_t k_uni2[TL * TH] = {2, 2, 2, 2};
static const int64_t k_non[TL * TH] = {4, 2, 3, 5};

/* A batch of TB sequences of length n: sequence 0 has a padded position in the middle,
 * sequence 1 trailing padding; about half of the real positions carry a target. */
typedef struct {
    int32_t ids[TB * TN], targets[TB * TN];
    uint8_t mask[TB * TN];
    lf_mlm_batch b;
} tiny_batch;

static void tiny_batch_init(tiny_batch *t, int64_t n, int padded)
{
    lf_rng r;
    lf_rng_init(&r, 99, 0);
    for (int64_t i = 0; i < TB * n; i++) {
        t->ids[i] = (int32_t)(lf_rng_next(&r) % TV);
        t->mask[i] = 1;
        t->targets[i] = lf_rng_uniform(&r) < 0.5 ? (int32_t)(lf_rng_next(&r) % TV) : -1;
    }
    if (padded) {
        t->mask[3] = 0;
        t->mask[n + n - 1] = t->mask[n + n - 2] = 0;
        for (int64_t i = 0; i < TB * n; i++)
            if (!t->mask[i]) t->targets[i] = -1;
    }
    t->targets[0] = 5; /* at least one target */
    t->b.B = TB;
    t->b.n = n;
    t->b.ids = t->ids;
    t->b.targets = t->targets;
    t->b.mask = padded ? t->mask : NULL;
}

/* Moves every parameter off its initial value (biases 0, LN 1/0, conv 1/window) so
 * that no gradient is checked at a special point; applied to the float model, then
 * copied to the double one so both hold the same values. */
static void perturb(lf_mlm *f, lf_mlm64 *d)
{
    float *p = lf_mlm_params(f);
    double *q = lf_mlm64_params(d);
    const size_t np = lf_mlm_param_count(f);
    lf_rng r;
    lf_rng_init(&r, 5, 1);
    const lf_param_group *g;
    int ng = lf_mlm_groups(f, &g);
    for (int i = 0; i < ng; i++) {
        if (!g[i].trainable) continue;
        for (size_t j = g[i].offset; j < g[i].offset + g[i].count; j++)
            p[j] += (float)(0.2 * lf_rng_normal(&r));
    }
    for (size_t j = 0; j < np; j++) q[j] = p[j];
}

/* Central differences on the float64 build for every trainable parameter.
 * Step h = 1e-5: truncation error h^2 |f'''| / 6 ~ 1e-10 for this O(1)-curvature loss,
 * rounding error ~ 1e-16 * |loss| * (condition ~ 1e2) / h ~ 1e-9. The analytic
 * gradient must agree within 1e-7 + 1e-6 |g|: a missing term, a wrong index or a
 * wrong sign errs by a sizeable fraction of the gradient (>= 1e-3 relative), while a
 * correct backward, computed in double, stays below ~1e-8. */
static void fd_check(const lf_mlm_config *cfg, int64_t n, int padded, int dropout)
{
    lf_mlm *f = NULL;
    lf_mlm64 *d = NULL;
    CHECK(lf_mlm_create(&f, cfg) == 0);
    CHECK(lf_mlm64_create(&d, cfg) == 0);
    if (!f || !d) {
        printf("    create: %s\n", lf_error_get());
        lf_mlm_free(f);
        lf_mlm64_free(d);
        return;
    }
    perturb(f, d);
    tiny_batch tb;
    tiny_batch_init(&tb, n, padded);
    const int flags = dropout ? LF_MLM_DROPOUT : 0;
    double loss = 0, lossf = 0;
    int64_t nm = 0;
    CHECK(lf_mlm64_loss(d, &tb.b, flags | LF_MLM_BACKWARD, 3, &loss, &nm) == 0);
    CHECK(lf_mlm_loss(f, &tb.b, flags | LF_MLM_BACKWARD, 3, &lossf, NULL) == 0);
    CHECK(nm > 0 && isfinite(loss));
    const size_t np = lf_mlm64_param_count(d);
    double *ga = malloc(np * sizeof *ga);
    memcpy(ga, lf_mlm64_grads(d), np * sizeof *ga);
    double *p = lf_mlm64_params(d);
    const lf_param_group *g;
    int ng = lf_mlm64_groups(d, &g);
    double worst = 0;
    const char *worst_name = "";
    int checked = 0;
    for (int gi = 0; gi < ng; gi++) {
        double gnorm = 0;
        for (size_t j = g[gi].offset; j < g[gi].offset + g[gi].count; j++) gnorm += ga[j] * ga[j];
        if (!g[gi].trainable) {
            CHECK_MSG(gnorm == 0, "%s is fixed but has a gradient", g[gi].name);
            continue;
        }
        /* a group whose gradient is identically zero would make the check vacuous */
        CHECK_MSG(gnorm > 0, "%s: gradient is all zero", g[gi].name);
        for (size_t j = g[gi].offset; j < g[gi].offset + g[gi].count; j++) {
            const double h = 1e-5, save = p[j];
            double lp, lm;
            p[j] = save + h;
            lf_mlm64_loss(d, &tb.b, flags, 3, &lp, NULL);
            p[j] = save - h;
            lf_mlm64_loss(d, &tb.b, flags, 3, &lm, NULL);
            p[j] = save;
            const double fd = (lp - lm) / (2 * h);
            const double err = fabs(fd - ga[j]) / (1e-7 + 1e-6 * fabs(ga[j]));
            if (err > worst) {
                worst = err;
                worst_name = g[gi].name;
            }
            CHECK_MSG(err <= 1, "%s[%zu]: analytic %.10g, finite differences %.10g", g[gi].name,
                      j - g[gi].offset, ga[j], fd);
            checked++;
        }
    }
    /* float32 against float64, group by group: ||gf - gd|| <= 1e-3 ||gd||. Float32
     * rounds every product and activation at u = 6e-8; through two layers, softmax and
     * LayerNorm (condition numbers ~1e1-1e2) the gradients keep ~1e-5 relative
     * accuracy (measured ~1e-6-1e-5); an error in the float path (a wrong stride or a
     * missing term specific to lf_sgemm use) is O(1). */
    CHECK_NEAR(lossf, loss, 1e-5 * fabs(loss));
    const float *gf = lf_mlm_grads(f);
    double worst_rel = 0;
    for (int gi = 0; gi < ng; gi++) {
        double num = 0, den = 0;
        for (size_t j = g[gi].offset; j < g[gi].offset + g[gi].count; j++) {
            num += (gf[j] - ga[j]) * (gf[j] - ga[j]);
            den += ga[j] * ga[j];
        }
        if (den == 0) {
            CHECK_MSG(num == 0, "%s: float32 gradient nonzero where float64 is zero", g[gi].name);
            continue;
        }
        double rel = sqrt(num / den);
        if (rel > worst_rel) worst_rel = rel;
        CHECK_MSG(rel <= 1e-3, "%s: float32 vs float64 gradient rel. error %.3g", g[gi].name, rel);
    }
    check_notef("%d params, worst FD err/tol %.3g (%s), f32 vs f64 worst group %.2g", checked,
                worst, worst_name, worst_rel);
    free(ga);
    lf_mlm_free(f);
    lf_mlm64_free(d);
}

static void test_fd_dense_post_ln(void)
{
    lf_mlm_config c = tiny(0, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, NULL);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_dense_pre_ln(void)
{
    lf_mlm_config c = tiny(0, LF_SHARE_NONE, LF_PROJ_LINEAR, 1, NULL);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_linear_none(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, k_uni4);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_linear_headwise_nonuniform(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_HEADWISE, LF_PROJ_LINEAR, 0, k_non);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_linear_kv_pre_ln_nonuniform(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_KV, LF_PROJ_LINEAR, 1, k_non);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_linear_layerwise_nonuniform(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 0, k_non);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_linear_layerwise_short_batch(void)
{
    /* n = 6 < max_len = 8: the first 6 columns of the shared E */
    lf_mlm_config c = tiny(1, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 1, k_uni4);
    fd_check(&c, 6, 1, 0);
}

static void test_fd_gaussian_headwise_nonuniform(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_HEADWISE, LF_PROJ_GAUSSIAN, 0, k_non);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_mean_pool(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_NONE, LF_PROJ_MEAN, 1, k_uni4);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_max_pool(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_HEADWISE, LF_PROJ_MAX, 0, k_uni4);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_conv_none(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_NONE, LF_PROJ_CONV, 0, k_uni4);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_conv_kv_short_batch(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_KV, LF_PROJ_CONV, 1, k_uni2);
    fd_check(&c, 6, 1, 0);
}

static void test_fd_conv_layerwise(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_LAYERWISE, LF_PROJ_CONV, 0, k_uni2);
    fd_check(&c, TN, 1, 0);
}

static void test_fd_dropout(void)
{
    lf_mlm_config c = tiny(0, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, NULL);
    c.dropout = 0.25;
    fd_check(&c, TN, 1, 1);
    lf_mlm_config c2 = tiny(1, LF_SHARE_HEADWISE, LF_PROJ_LINEAR, 1, k_non);
    c2.dropout = 0.25;
    fd_check(&c2, TN, 1, 1);
}

static void test_fd_no_padding(void)
{
    lf_mlm_config c = tiny(1, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, k_uni4);
    fd_check(&c, TN, 0, 0);
}

int main(void)
{
    check_program = "test_mlm";
    lf_threads_set(2);
    RUN(test_fd_dense_post_ln);
    RUN(test_fd_dense_pre_ln);
    RUN(test_fd_linear_none);
    RUN(test_fd_linear_headwise_nonuniform);
    RUN(test_fd_linear_kv_pre_ln_nonuniform);
    RUN(test_fd_linear_layerwise_nonuniform);
    RUN(test_fd_linear_layerwise_short_batch);
    RUN(test_fd_gaussian_headwise_nonuniform);
    RUN(test_fd_mean_pool);
    RUN(test_fd_max_pool);
    RUN(test_fd_conv_none);
    RUN(test_fd_conv_kv_short_batch);
    RUN(test_fd_conv_layerwise);
    RUN(test_fd_dropout);
    RUN(test_fd_no_padding);
    return check_summary();
}
