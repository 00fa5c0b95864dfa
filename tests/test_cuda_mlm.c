/* test_cuda_mlm.c - masked-LM loss and gradient on the GPU (lf_mlm_cuda_loss) against the
 * float64 CPU model (lf_mlm64_loss, itself checked by finite differences in test_mlm.c)
 * on tiny configurations: dense and Linformer attention, post- and pre-LN, padding, every
 * sharing mode with nonuniform k, learned linear and fixed gaussian projections (k below
 * the plan's, so the gaussian rescaling is exercised).
 *
 * Tolerance, as test_mlm.c's float32-against-float64 check: loss within 1e-5 relative,
 * every parameter group's gradient within 1e-3 in relative norm. Float32 rounds every
 * product and activation at u = 6e-8; through two layers, softmax and LayerNorm
 * (condition ~1e1-1e2) gradients keep ~1e-5 relative accuracy; a wrong stride, offset,
 * missing term or swapped operand errs by O(1) in some group. A group whose float64
 * gradient is exactly 0 must be 0 here too.
 *
 * Without a GPU the same code path runs with every step emulated on the host (the
 * kernels' bodies, products by lf_sgemm_emulate); with one, the device run is checked
 * the same way and twice in a row for bit-identical results (fixed reduction orders). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlm_tiny.h"
#include "mlm.h"
#include "rng.h"
#include "test_cuda_util.h"

enum { TB = 3 };

/* One configuration: emulated (dev 0) or device (dev 1) loss and gradient against
 * float64; returns the worst group's relative error. */
static double check_config(const char *what, lf_mlm_config c, int64_t n, int padded, int dev)
{
    lf_mlm *f = NULL;
    lf_mlm64 *d = NULL;
    lf_mlm_cuda *g = NULL;
    double worst = 0;
    if (lf_mlm_create(&f, &c) != 0 || lf_mlm64_create(&d, &c) != 0) {
        CHECK_MSG(0, "%s: create: %s", what, lf_error_get());
        goto done;
    }
    perturb(f, d);
    if (lf_mlm_cuda_create(&g, f, !dev) != 0) {
        CHECK_MSG(0, "%s: cuda create: %s", what, lf_error_get());
        goto done;
    }
    tiny_batch tb;
    tiny_batch_init(&tb, TB, n, padded);
    double lref, lgot;
    int64_t mref, mgot;
    CHECK(lf_mlm64_loss(d, &tb.b, LF_MLM_BACKWARD, 0, &lref, &mref) == 0);
    const size_t np = lf_mlm_param_count(f);
    float *gr = malloc(np * sizeof *gr), *gr2 = malloc(np * sizeof *gr2);
    CHECK_MSG(lf_mlm_cuda_loss(g, lf_mlm_params(f), gr, &tb.b, LF_MLM_BACKWARD, 0, &lgot, &mgot) == 0,
              "%s: %s", what, lf_error_get());
    CHECK(mgot == mref);
    CHECK_MSG(fabs(lgot - lref) <= 1e-5 * fabs(lref), "%s: loss %.9g, float64 %.9g", what, lgot, lref);
    const double *gd = lf_mlm64_grads(d);
    const lf_param_group *gp;
    const int ng = lf_mlm_groups(f, &gp);
    for (int gi = 0; gi < ng; gi++) {
        double num = 0, den = 0;
        for (size_t j = gp[gi].offset; j < gp[gi].offset + gp[gi].count; j++) {
            num += (gr[j] - gd[j]) * (gr[j] - gd[j]);
            den += gd[j] * gd[j];
        }
        if (den == 0) {
            CHECK_MSG(num == 0, "%s: %s: gradient nonzero where float64 is zero", what, gp[gi].name);
            continue;
        }
        const double rel = sqrt(num / den);
        if (rel > worst) worst = rel;
        CHECK_MSG(rel <= 1e-3, "%s: %s: gradient rel. error %.3g against float64", what,
                  gp[gi].name, rel);
    }
    /* the same call again: the same numbers, bit for bit */
    double l2;
    CHECK(lf_mlm_cuda_loss(g, lf_mlm_params(f), gr2, &tb.b, LF_MLM_BACKWARD, 0, &l2, NULL) == 0);
    CHECK_MSG(l2 == lgot && memcmp(gr, gr2, np * sizeof *gr) == 0, "%s: a repeated call differs", what);
    /* forward only: the same loss */
    CHECK(lf_mlm_cuda_loss(g, lf_mlm_params(f), NULL, &tb.b, 0, 0, &l2, NULL) == 0 && l2 == lgot);
    free(gr);
    free(gr2);
done:
    lf_mlm_cuda_free(g);
    lf_mlm_free(f);
    lf_mlm64_free(d);
    return worst;
}

static void run_all(int dev)
{
    struct {
        const char *name;
        int lin;
        lf_sharing sh;
        lf_proj_kind kind;
        int pre_ln;
        const int64_t *k;
        int64_t n;
        int padded;
    } cases[] = {
        {"dense post-LN padded", 0, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, NULL, TN, 1},
        {"dense pre-LN n=6", 0, LF_SHARE_NONE, LF_PROJ_LINEAR, 1, NULL, 6, 0},
        {"linear none nonuniform padded", 1, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, k_non, TN, 1},
        {"linear headwise", 1, LF_SHARE_HEADWISE, LF_PROJ_LINEAR, 0, k_uni4, TN, 1},
        {"linear kv nonuniform pre-LN", 1, LF_SHARE_KV, LF_PROJ_LINEAR, 1, k_non, TN, 1},
        {"linear layerwise n=6", 1, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 0, k_uni4, 6, 1},
        {"gaussian nonuniform padded", 1, LF_SHARE_NONE, LF_PROJ_GAUSSIAN, 0, k_non, TN, 1},
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lf_mlm_config c = tiny(cases[i].lin, cases[i].sh, cases[i].kind, cases[i].pre_ln, cases[i].k);
        double w = check_config(cases[i].name, c, cases[i].n, cases[i].padded, dev);
        if (w > worst) worst = w;
    }
    check_notef("%s: %zu configurations, worst group rel. error against float64 %.2g",
                dev ? "device" : "emulated", sizeof cases / sizeof cases[0], worst);
}

static void test_emulated(void) { run_all(0); }
static void test_device(void) { run_all(1); }

/* What the GPU path refuses, with one clear error each. */
static void test_refusals(void)
{
    lf_mlm *f = NULL;
    lf_mlm_cuda *g = NULL;
    lf_mlm_config c = tiny(1, LF_SHARE_NONE, LF_PROJ_CONV, 0, k_uni4);
    CHECK(lf_mlm_create(&f, &c) == 0);
    CHECK(lf_mlm_cuda_create(&g, f, 1) == -1 && g == NULL);
    CHECK_MSG(strstr(lf_error_get(), "conv projections are not on the GPU") != NULL, "%s",
              lf_error_get());
    lf_mlm_free(f);
    CHECK(lf_mlm_cuda_create(&g, NULL, 1) == -1 && strstr(lf_error_get(), "NULL model"));
    c = tiny(0, LF_SHARE_NONE, LF_PROJ_LINEAR, 0, NULL);
    c.dropout = 0.1;
    CHECK(lf_mlm_create(&f, &c) == 0 && lf_mlm_cuda_create(&g, f, 1) == 0);
    tiny_batch tb;
    tiny_batch_init(&tb, TB, TN, 0);
    double loss;
    float *gr = malloc(lf_mlm_param_count(f) * sizeof *gr);
    CHECK(lf_mlm_cuda_loss(g, lf_mlm_params(f), gr, &tb.b, LF_MLM_BACKWARD | LF_MLM_DROPOUT, 0,
                           &loss, NULL) == -1);
    CHECK(strstr(lf_error_get(), "dropout") != NULL);
    tb.ids[4] = TV;
    CHECK(lf_mlm_cuda_loss(g, lf_mlm_params(f), gr, &tb.b, LF_MLM_BACKWARD, 0, &loss, NULL) == -1);
    CHECK_MSG(strstr(lf_error_get(), "token id 11 at sequence 0 position 4") != NULL, "%s",
              lf_error_get());
    free(gr);
    lf_mlm_cuda_free(g);
    lf_mlm_free(f);
}

int main(void)
{
    check_program = "test_cuda_mlm";
    RUN(test_refusals);
    RUN(test_emulated);
    if (tc_no_gpu(check_program)) return check_summary();
    RUN(test_device);
    lf_cuda_shutdown();
    return check_summary();
}
