/* test_optim.c - AdamW, learning-rate schedules and gradient clipping (core/optim.h)
 * against closed forms computed here by hand, and the gradient norm against a naive
 * sum, including thread-count independence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "mem.h"
#include "optim.h"
#include "parallel.h"

/* Bias-corrected first step: m = (1-b1) g, v = (1-b2) g^2, mhat = g, vhat = g^2, so
 *   p1 = p0 - lr (g / (|g| + eps) + wd p0)            (decay group)
 *   p1 = p0 - lr g / (|g| + eps)                       (no-decay group)
 * and the fixed group is untouched. Second step from the stored moments:
 *   m2 = b1 m1 + (1-b1) g2,  v2 = b2 v1 + (1-b2) g2^2,
 *   p2 = p1 - lr (m2 / (1-b1^2) / (sqrt(v2 / (1-b2^2)) + eps) + wd p1).
 * Evaluated in double here; the implementation rounds m, v and p to float once each,
 * so agreement to a few float ulps (rel. 1e-6) is expected. */
static void test_adamw_closed_form(void)
{
    float p[6] = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -3.0f};
    const float g1[6] = {0.1f, -0.2f, 0.0f, 1e-3f, 5.0f, 7.0f};
    const float g2[6] = {-0.3f, 0.05f, 0.4f, 2e-3f, -1.0f, 1.0f};
    lf_param_group groups[3] = {{"w", 0, 3, 1, 1, 1}, {"b", 3, 2, 0, 1, 1}, {"fixed", 5, 1, 1, 0, 1}};
    lf_adamw opt;
    CHECK(lf_adamw_init(&opt, 6) == 0);
    lf_adamw_hparams hp = {0.9, 0.98, 1e-6, 0.1};
    const double lr = 0.01;
    double p0[6], p1[6], p2[6];
    for (int i = 0; i < 6; i++) p0[i] = p[i];
    for (int i = 0; i < 6; i++) {
        const double g = g1[i], wd = i < 3 ? hp.weight_decay : 0;
        p1[i] = i == 5 ? p0[i] : p0[i] - lr * (g / (fabs(g) + hp.eps) + wd * p0[i]);
    }
    CHECK(lf_adamw_update(&opt, p, g1, groups, 3, lr, &hp) == 0);
    CHECK(opt.step == 1);
    for (int i = 0; i < 6; i++) CHECK_NEAR(p[i], p1[i], 1e-6 * fabs(p1[i]) + 1e-7);
    CHECK(p[5] == -3.0f && opt.m[5] == 0 && opt.v[5] == 0);
    for (int i = 0; i < 5; i++) {
        const double m1 = 0.1 * g1[i], v1 = 0.02 * (double)g1[i] * g1[i];
        const double m2 = 0.9 * m1 + 0.1 * g2[i], v2 = 0.98 * v1 + 0.02 * (double)g2[i] * g2[i];
        const double mh = m2 / (1 - 0.81), vh = v2 / (1 - 0.98 * 0.98);
        const double wd = i < 3 ? hp.weight_decay : 0;
        p2[i] = (double)p[i] - lr * (mh / (sqrt(vh) + hp.eps) + wd * (double)p[i]);
    }
    p2[5] = p[5];
    CHECK(lf_adamw_update(&opt, p, g2, groups, 3, lr, &hp) == 0);
    for (int i = 0; i < 6; i++) CHECK_NEAR(p[i], p2[i], 1e-6 * fabs(p2[i]) + 1e-7);
    /* zero gradient on a decay group: pure decoupled decay p (1 - lr wd) */
    float q[1] = {2.0f};
    const float z[1] = {0};
    lf_param_group one = {"w", 0, 1, 1, 1, 1};
    lf_adamw o2;
    CHECK(lf_adamw_init(&o2, 1) == 0);
    CHECK(lf_adamw_update(&o2, q, z, &one, 1, lr, &hp) == 0);
    CHECK_NEAR(q[0], 2.0 * (1 - lr * hp.weight_decay), 1e-6);
    /* a group outside the vector is an error */
    lf_param_group bad = {"x", 0, 7, 0, 1, 1};
    CHECK(lf_adamw_update(&o2, q, z, &bad, 1, lr, &hp) != 0 && strstr(lf_error_get(), "outside"));
    lf_adamw_free(&opt);
    lf_adamw_free(&o2);
}

static void test_schedule_values(void)
{
    lf_lr_schedule s = {1e-3, 0.1, 10, 110, LF_DECAY_LINEAR};
    /* warm-up: peak (step + 1) / warmup */
    CHECK_NEAR(lf_lr_at(&s, 0), 1e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 4), 5e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 9), 1e-3, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 10), 1e-3, 1e-15);
    /* r = 25/100: linear 1 - 0.9 * 0.25 = 0.775 */
    CHECK_NEAR(lf_lr_at(&s, 35), 7.75e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 60), 5.5e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 110), 1e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 500), 1e-4, 1e-15);
    s.decay = LF_DECAY_COSINE;
    /* r = 0.25: 0.1 + 0.9 (1 + cos(pi/4)) / 2 = 0.1 + 0.9 * 0.8535533905932737 */
    CHECK_NEAR(lf_lr_at(&s, 35), 1e-3 * (0.1 + 0.9 * 0.8535533905932737), 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 60), 5.5e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 85), 1e-3 * (0.1 + 0.9 * 0.1464466094067262), 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 110), 1e-4, 1e-15);
    CHECK_NEAR(lf_lr_at(&s, 9), 1e-3, 1e-15);
    s.decay = LF_DECAY_CONSTANT;
    CHECK_NEAR(lf_lr_at(&s, 80), 1e-3, 0);
    lf_lr_schedule nw = {2e-3, 0.0, 0, 100, LF_DECAY_LINEAR};
    CHECK_NEAR(lf_lr_at(&nw, 0), 2e-3, 0);
    CHECK_NEAR(lf_lr_at(&nw, 50), 1e-3, 1e-15);
    CHECK_NEAR(lf_lr_at(&nw, 100), 0, 1e-18);
    lf_decay_kind k;
    CHECK(lf_decay_parse("cosine", &k) == 0 && k == LF_DECAY_COSINE);
    CHECK(lf_decay_parse("cos", &k) != 0 && strstr(lf_error_get(), "linear, cosine"));
}

static void test_clip(void)
{
    float g[4] = {3, 4, 100, 0};
    lf_param_group groups[1] = {{"w", 0, 2, 1, 1, 1}}; /* only the first two elements */
    double norm = 0;
    CHECK(lf_grad_clip(g, 4, groups, 1, 1.0, &norm) == 1);
    CHECK_NEAR(norm, 5.0, 1e-12);
    CHECK_NEAR(g[0], 0.6, 1e-7);
    CHECK_NEAR(g[1], 0.8, 1e-7);
    CHECK(g[2] == 100);
    CHECK(lf_grad_clip(g, 4, groups, 1, 10.0, &norm) == 0);
    CHECK_NEAR(norm, 1.0, 1e-7);
    CHECK_NEAR(g[0], 0.6, 1e-7);
    CHECK(lf_grad_clip(g, 4, NULL, 0, 0.0, &norm) == 0); /* max_norm 0: off */
    CHECK_NEAR(norm, sqrt(1.0 + 10000.0), 1e-5);
    CHECK(lf_grad_clip(g, 4, NULL, 0, 50.0, NULL) == 1);
    CHECK_NEAR(lf_grad_norm(g, 4, NULL, 0), 50.0, 1e-4);
}

/* The chunked parallel norm against a naive double sum (same value up to double
 * rounding of ~1e5 terms: rel. 1e-12), bit-identical for 1 and 2 threads. */
static void test_norm_threads(void)
{
    const size_t n = 300001;
    float *g = malloc(n * sizeof *g);
    double naive = 0;
    for (size_t i = 0; i < n; i++) {
        g[i] = (float)sin((double)i * 0.37) * (float)(1 + i % 7);
        naive += (double)g[i] * g[i];
    }
    naive = sqrt(naive);
    lf_threads_set(1);
    const double a = lf_grad_norm(g, n, NULL, 0);
    lf_threads_set(2);
    const double b = lf_grad_norm(g, n, NULL, 0);
    CHECK_NEAR(a, naive, 1e-12 * naive);
    CHECK_MSG(a == b, "norm differs between 1 and 2 threads: %.17g vs %.17g", a, b);
    free(g);
}

/* pretrain's one-pass form (lf_grad_clip_scale + lf_adamw_update_scaled) against
 * lf_grad_clip then lf_adamw_update: the same float products in the same order, so
 * bit-identical parameters and moments over several steps, clipped and not. */
static void test_fused_clip_update(void)
{
    const size_t n = 70001; /* > 32768: the parallel path */
    float *g = malloc(n * sizeof *g), *g2 = malloc(n * sizeof *g2), *pa = malloc(n * sizeof *pa),
          *pb = malloc(n * sizeof *pb);
    lf_param_group groups[2] = {{"w", 0, 50000, 1, 1, 1}, {"b", 50000, 20001, 0, 1, 1}};
    lf_adamw oa, ob;
    CHECK(lf_adamw_init(&oa, n) == 0 && lf_adamw_init(&ob, n) == 0);
    lf_adamw_hparams hp = lf_adamw_hparams_default();
    for (size_t i = 0; i < n; i++) pa[i] = pb[i] = (float)cos((double)i * 0.11) * 0.05f;
    int clipped = 0;
    for (int step = 0; step < 4; step++) {
        const double amp = step % 2 ? 1e-4 : 1e-1; /* norms ~0.02 and ~20 against max 1 */
        for (size_t i = 0; i < n; i++) g[i] = g2[i] = (float)(amp * sin((double)i * 0.7 + step));
        double na, nb;
        clipped += lf_grad_clip(g, n, groups, 2, 1.0, &na);
        CHECK(lf_adamw_update(&oa, pa, g, groups, 2, 1e-3, &hp) == 0);
        const float s = lf_grad_clip_scale(g2, n, groups, 2, 1.0, &nb);
        CHECK(na == nb);
        CHECK(lf_adamw_update_scaled(&ob, pb, g2, s, groups, 2, 1e-3, &hp) == 0);
    }
    CHECK(clipped == 2);
    CHECK(memcmp(pa, pb, n * sizeof *pa) == 0);
    CHECK(memcmp(oa.m, ob.m, n * sizeof *pa) == 0 && memcmp(oa.v, ob.v, n * sizeof *pa) == 0);
    float s0 = 0.5f;
    CHECK(lf_adamw_update_scaled(&ob, pb, g2, -s0, groups, 2, 1e-3, &hp) != 0 &&
          strstr(lf_error_get(), "gradient scale"));
    lf_adamw_free(&oa);
    lf_adamw_free(&ob);
    free(g);
    free(g2);
    free(pa);
    free(pb);
}

/* A group's lr_scale multiplies its learning rate: a step at lr with scale 0.5 is
 * bit-identical to a step at lr / 2 (both round the same float rate), a scale of 0
 * reads as 1, and a negative or NaN scale is refused. */
static void test_lr_scale(void)
{
    float a[4] = {0.5f, -1.0f, 2.0f, 0.25f}, b[4], c[4];
    memcpy(b, a, sizeof a);
    memcpy(c, a, sizeof a);
    const float g[4] = {0.1f, -0.2f, 0.3f, 1e-3f};
    lf_param_group half[2] = {{"w", 0, 2, 1, 1, 0.5}, {"b", 2, 2, 0, 1, 0}};
    lf_param_group full[2] = {{"w", 0, 2, 1, 1, 1}, {"b", 2, 2, 0, 1, 1}};
    lf_adamw oa, ob, oc;
    CHECK(lf_adamw_init(&oa, 4) == 0 && lf_adamw_init(&ob, 4) == 0 && lf_adamw_init(&oc, 4) == 0);
    lf_adamw_hparams hp = lf_adamw_hparams_default();
    CHECK(lf_adamw_update(&oa, a, g, half, 2, 0.02, &hp) == 0);
    CHECK(lf_adamw_update(&ob, b, g, full, 1, 0.01, &hp) == 0);     /* w at lr / 2 */
    CHECK(lf_adamw_update(&oc, c, g, full + 1, 1, 0.02, &hp) == 0); /* b at lr */
    CHECK(a[0] == b[0] && a[1] == b[1] && a[0] != 0.5f);
    CHECK(a[2] == c[2] && a[3] == c[3] && a[2] != 2.0f);
    half[0].lr_scale = -1;
    CHECK(lf_adamw_update(&oa, a, g, half, 2, 0.02, &hp) != 0 &&
          strstr(lf_error_get(), "learning-rate scale"));
    half[0].lr_scale = NAN;
    CHECK(lf_adamw_update(&oa, a, g, half, 2, 0.02, &hp) != 0);
    lf_adamw_free(&oa);
    lf_adamw_free(&ob);
    lf_adamw_free(&oc);
}

int main(void)
{
    check_program = "test_optim";
    RUN(test_adamw_closed_form);
    RUN(test_schedule_values);
    RUN(test_clip);
    RUN(test_norm_threads);
    RUN(test_fused_clip_update);
    RUN(test_lr_scale);
    return check_summary();
}
