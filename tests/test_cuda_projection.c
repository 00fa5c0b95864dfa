/* test_cuda_projection.c - lf_proj_apply_cuda against the CPU lf_proj_apply (itself
 * checked against definitions in tests/test_projection.c) for every kind, with and
 * without a mask (padding in the middle and at the end, NaN and Inf in padded rows, every
 * row padded), n_use < n, k_use < k, and column counts below and above one block.
 *
 * Tolerances: mean and max pooling do the same float operations in the same order on
 * both sides (adds in row order, one multiply by the float of 1/count; compares), so
 * they must agree exactly. Linear, gaussian and conv are float32 sums of m products:
 * each side is within (m + 2) u sum|terms| of the exact value whatever the order or
 * FMA use (Higham 3.1), so |gpu - cpu| <= 2 (m + 2) u sum|terms| (u = 2^-24), with the
 * sums of |terms| computed here in double. slot_valid must agree exactly. */
#include <stdlib.h>

#include "check.h"
#include "projection.h"
#include "rng.h"
#include "test_cuda_util.h"

static void test_arguments(void)
{
    lf_proj p = {LF_PROJ_MEAN, 4, 8, 0, NULL};
    lf_proj_cuda dp;
    float x = 0;
    CHECK(lf_proj_upload_cuda(&p, NULL) == -1);
    p.k = 9; /* k > n */
    CHECK(lf_proj_upload_cuda(&p, &dp) == -1 && dp.weights == NULL);
    CHECK(strstr(lf_error_get(), "not an initialised projection") != NULL);
    p.k = 4;
    p.kind = LF_PROJ_LINEAR; /* no weights */
    CHECK(lf_proj_upload_cuda(&p, &dp) == -1);
    CHECK(strstr(lf_error_get(), "without weights") != NULL);
    p.kind = LF_PROJ_CONV;
    p.window = 3; /* 3 * 4 != 8 */
    float w[3] = {1, 1, 1};
    p.weights = w;
    CHECK(lf_proj_upload_cuda(&p, &dp) == -1);
    CHECK(strstr(lf_error_get(), "window") != NULL);
    lf_proj_free_cuda(&dp);
    lf_proj_free_cuda(&dp); /* twice is safe */

    lf_proj_cuda q = {LF_PROJ_MEAN, 4, 8, 0, NULL};
    CHECK(lf_proj_apply_cuda(&q, 3, &x, 8, 2, NULL, &x, NULL) == -1);
    CHECK(strstr(lf_error_get(), "only works with its own k") != NULL);
    CHECK(lf_proj_apply_cuda(&q, 4, &x, 9, 2, NULL, &x, NULL) == -1);
    CHECK(strstr(lf_error_get(), "n_use = 9") != NULL);
    CHECK(lf_proj_apply_cuda(&q, 4, &x, 8, 0, NULL, &x, NULL) == -1);
    CHECK(strstr(lf_error_get(), "d = 0") != NULL);
    CHECK(lf_proj_apply_cuda(&q, 4, NULL, 8, 2, NULL, &x, NULL) == -1);
    CHECK(lf_proj_apply_cuda(NULL, 4, &x, 8, 2, NULL, &x, NULL) == -1);
    q.kind = LF_PROJ_LINEAR;
    CHECK(lf_proj_apply_cuda(&q, 5, &x, 8, 2, NULL, &x, NULL) == -1);
    CHECK(strstr(lf_error_get(), "k_use = 5") != NULL);
    CHECK(lf_proj_apply_cuda(&q, 4, &x, 8, 2, NULL, &x, NULL) == -1);
    CHECK(strstr(lf_error_get(), "without weights") != NULL);
}

static int on_gpu;

/* One comparison (on_gpu = 0: pooling and conv through lf_proj_apply_emulate, the
 * kernels' bodies on the host); mask_kind 0 = none, 1 = padding in the middle and at the end (NaN /
 * Inf in padded rows), 2 = every row padded. Returns the worst |err| / bound. */
static double apply_case(const lf_proj *p, int64_t k_use, int64_t n_use, int64_t d, int mask_kind,
                         uint64_t seed)
{
    lf_rng r;
    lf_rng_init(&r, seed, 0);
    const size_t xs = (size_t)(n_use * d), os = (size_t)(k_use * d);
    float *x = malloc(xs * 4), *ref = malloc(os * 4), *got = malloc(os * 4);
    uint8_t *mask = NULL, *sv_ref = malloc((size_t)k_use), *sv_got = malloc((size_t)k_use);
    double *refd = malloc(os * 8), *bound = malloc(os * 8);
    lf_rng_fill_uniform(&r, x, xs, -1.0, 1.0);
    if (mask_kind) {
        mask = malloc((size_t)n_use);
        for (int64_t i = 0; i < n_use; i++) {
            mask[i] = mask_kind == 1 && !(i % 5 == 2 || i >= n_use - 6);
            if (!mask[i])
                for (int64_t c = 0; c < d; c++) x[i * d + c] = (c % 2) ? NAN : INFINITY;
        }
    }
    CHECK(lf_proj_apply(p, k_use, x, n_use, d, mask, ref, sv_ref) == 0);

    lf_proj_cuda dp = {LF_PROJ_MEAN, 0, 0, 0, NULL};
    float *dx = NULL, *dout = NULL, *got2 = malloc(os * 4);
    uint8_t *dmask = NULL, *dsv = NULL;
    if (!on_gpu) { /* the kernels' bodies on the host */
        memset(got, 0xff, os * 4);
        memset(sv_got, 0xff, (size_t)k_use);
        CHECK(lf_proj_apply_emulate(p, k_use, x, n_use, d, mask, got, sv_got) == 0);
        CHECK(lf_proj_apply_emulate(p, k_use, x, n_use, d, mask, got2, NULL) == 0);
    } else {
        CHECK(lf_proj_upload_cuda(p, &dp) == 0);
        dx = tc_up(x, xs, 4), dout = tc_dev(os, 4);
        dmask = mask ? tc_up(mask, (size_t)n_use, 1) : NULL;
        dsv = tc_dev((size_t)k_use, 1);
        CHECK(lf_proj_apply_cuda(&dp, k_use, dx, n_use, d, dmask, dout, dsv) == 0);
        tc_down(got, dout, os, 4);
        tc_down(sv_got, dsv, (size_t)k_use, 1);
        /* And without slot_valid. */
        CHECK(lf_proj_apply_cuda(&dp, k_use, dx, n_use, d, dmask, dout, NULL) == 0);
        tc_down(got2, dout, os, 4);
    }
    CHECK(memcmp(got, got2, os * 4) == 0);

    char what[128];
    snprintf(what, sizeof what, "%s%s k_use %lld n_use %lld d %lld mask %d", on_gpu ? "" : "emulated ",
             lf_proj_kind_name(p->kind),
             (long long)k_use, (long long)n_use, (long long)d, mask_kind);
    CHECK_MSG(memcmp(sv_ref, sv_got, (size_t)k_use) == 0, "%s: slot_valid differs", what);
    double worst = 0;
    if (p->kind == LF_PROJ_MEAN || p->kind == LF_PROJ_MAX) {
        TC_CHECK_EQUAL(what, got, ref, os);
    } else {
        /* sum |terms| of each output, from the definitions (projection.h). */
        float alpha = 1.0f;
        if (p->kind == LF_PROJ_GAUSSIAN && k_use < p->k) alpha = (float)sqrt((double)p->k / (double)k_use);
        int64_t m = p->kind == LF_PROJ_CONV ? p->window : n_use;
        for (int64_t j = 0; j < k_use; j++)
            for (int64_t c = 0; c < d; c++) {
                double a = 0;
                for (int64_t t = 0; t < m; t++) {
                    int64_t i = p->kind == LF_PROJ_CONV ? j * p->window + t : t;
                    if (i >= n_use || (mask && !mask[i])) continue;
                    double wv = p->kind == LF_PROJ_CONV ? p->weights[t] : alpha * p->weights[j * p->n + i];
                    a += fabs(wv * (double)x[i * d + c]);
                }
                refd[j * d + c] = ref[j * d + c];
                bound[j * d + c] = 2.0 * (double)(m + 2) * TC_U32 * a + 1e-30;
            }
        worst = TC_CHECK_BOUNDED(what, got, refd, bound, os);
    }
    lf_proj_free_cuda(&dp);
    lf_cuda_free(dx), lf_cuda_free(dout), lf_cuda_free(dmask), lf_cuda_free(dsv);
    free(x), free(ref), free(got), free(got2), free(mask), free(sv_ref), free(sv_got), free(refd),
        free(bound);
    return worst;
}

static void test_kinds(void)
{
    const lf_proj_kind kinds[] = {LF_PROJ_LINEAR, LF_PROJ_GAUSSIAN, LF_PROJ_MEAN, LF_PROJ_MAX,
                                  LF_PROJ_CONV};
    double worst = 0;
    for (int ki = on_gpu ? 0 : 2; ki < 5; ki++) { /* without a GPU: mean, max, conv */
        /* n = 96, k = 24 (conv: window 4); pooling also with n = 100 (uneven windows). */
        for (int uneven = 0; uneven < 2; uneven++) {
            if (uneven && kinds[ki] != LF_PROJ_MEAN && kinds[ki] != LF_PROJ_MAX) continue;
            int64_t n = uneven ? 100 : 96, k = 24;
            lf_plan plan;
            CHECK(lf_plan_init(&plan, 1, 1, n, &k, LF_SHARE_NONE, kinds[ki], 7 + (uint64_t)ki) == 0);
            const lf_proj *p = lf_plan_get(&plan, 0, 0, 0);
            if (!p) {
                lf_plan_free(&plan);
                continue;
            }
            lf_proj conv_p = *p;
            float cw[4] = {0.5f, -1.25f, 2.0f, 0.75f}; /* conv: weights other than 1/window */
            if (kinds[ki] == LF_PROJ_CONV) conv_p.weights = cw;
            const lf_proj *pp = kinds[ki] == LF_PROJ_CONV ? &conv_p : p;
            for (int mk = 0; mk < 3; mk++)
                for (int di = 0; di < 2; di++) {
                    int64_t d = di ? 300 : 40;
                    double w = apply_case(pp, k, n, d, mk, 100 + (uint64_t)(ki * 10 + mk * 2 + di));
                    worst = w > worst ? w : worst;
                    w = apply_case(pp, k, n - 7, d, mk, 200 + (uint64_t)(ki * 10 + mk * 2 + di));
                    worst = w > worst ? w : worst;
                }
            if (on_gpu && (kinds[ki] == LF_PROJ_LINEAR || kinds[ki] == LF_PROJ_GAUSSIAN)) {
                double w = apply_case(p, 10, n - 3, 64, 1, 300 + (uint64_t)ki);
                worst = w > worst ? w : worst;
            }
            lf_plan_free(&plan);
        }
    }
    check_notef("worst |err| / bound %.3f (linear, gaussian, conv)", worst);
}

int main(void)
{
    check_program = "test_cuda_projection";
    RUN(test_arguments);
    if (tc_no_gpu(check_program)) {
        RUN(test_kinds); /* pooling and conv kernel bodies, emulated on the host */
        return check_summary();
    }
    on_gpu = 1;
    RUN(test_kinds);
    lf_cuda_shutdown();
    return check_summary();
}
