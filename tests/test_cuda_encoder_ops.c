/* test_cuda_encoder_ops.c - the encoder-layer data movement on the GPU against loops
 * written here from the definitions: bias and residual adds (the same float adds in the
 * same order, so exact equality) and the head split / merge (pure copies: exact), on
 * shapes with B, n, H, D all different and a leading dimension wider than H D (the Q, K
 * and V parts of a fused QKV product). Argument checks run without a GPU. */
#include <stdlib.h>

#include "check.h"
#include "rng.h"
#include "test_cuda_util.h"

static void test_arguments(void)
{
    float x = 0;
    CHECK(lf_add_bias_residual_cuda(&x, 0, 3, NULL, NULL) == -1);
    CHECK(lf_add_bias_residual_cuda(NULL, 2, 3, &x, NULL) == -1);
    CHECK(lf_add_bias_residual_cuda(&x, 2, 3, NULL, NULL) == 0); /* nothing to add */
    CHECK(lf_split_heads_cuda(&x, 7, 1, 2, 2, 4, &x) == -1);     /* ldx 7 < 8 */
    CHECK(strstr(lf_error_get(), "leading dimension") != NULL);
    CHECK(lf_split_heads_cuda(&x, 8, 0, 2, 2, 4, &x) == -1);
    CHECK(strstr(lf_error_get(), "positive") != NULL);
    CHECK(lf_merge_heads_cuda(NULL, 1, 2, 2, 4, &x, 8) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
}

static int on_gpu;

static void test_bias_residual(void)
{
    const int64_t rows = 33, cols = 301;
    const size_t total = (size_t)(rows * cols);
    lf_rng r;
    lf_rng_init(&r, 1, 0);
    float *y = malloc(total * 4), *res = malloc(total * 4), *b = malloc((size_t)cols * 4);
    float *ref = malloc(total * 4), *got = malloc(total * 4);
    lf_rng_fill_normal(&r, y, total, 0.0, 1.0);
    lf_rng_fill_normal(&r, res, total, 0.0, 3.0);
    lf_rng_fill_normal(&r, b, (size_t)cols, 0.0, 0.5);
    float *dres = on_gpu ? tc_up(res, total, 4) : NULL, *db = on_gpu ? tc_up(b, (size_t)cols, 4) : NULL;
    for (int mode = 1; mode < 4; mode++) { /* 1 bias, 2 residual, 3 both */
        for (size_t i = 0; i < total; i++) {
            float t = y[i];
            if (mode & 1) t = t + b[i % (size_t)cols];
            if (mode & 2) t = t + res[i];
            ref[i] = t;
        }
        if (on_gpu) {
            float *dy = tc_up(y, total, 4);
            CHECK(lf_add_bias_residual_cuda(dy, rows, cols, (mode & 1) ? db : NULL,
                                            (mode & 2) ? dres : NULL) == 0);
            tc_down(got, dy, total, 4);
            lf_cuda_free(dy);
        } else {
            memcpy(got, y, total * 4);
            CHECK(lf_add_bias_residual_emulate(got, rows, cols, (mode & 1) ? b : NULL,
                                               (mode & 2) ? res : NULL) == 0);
        }
        TC_CHECK_EQUAL(mode == 1 ? "bias" : mode == 2 ? "residual" : "bias + residual", got, ref,
                       total);
    }
    lf_cuda_free(dres), lf_cuda_free(db);
    free(y), free(res), free(b), free(ref), free(got);
}

static void test_split_merge(void)
{
    const int64_t B = 2, n = 13, H = 3, D = 5, C = H * D, ldx = 3 * C; /* fused QKV rows */
    const size_t xs = (size_t)(B * n * ldx), hs = (size_t)(B * H * n * D);
    float *x = malloc(xs * 4), *heads = malloc(hs * 4), *ref = malloc(hs * 4);
    float *back = malloc(xs * 4);
    for (size_t i = 0; i < xs; i++) x[i] = (float)i; /* every element distinct */
    float *dx = on_gpu ? tc_up(x, xs, 4) : NULL, *dh = on_gpu ? tc_dev(hs, 4) : NULL;
    for (int part = 0; part < 3; part++) { /* Q, K, V */
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < n; i++)
                    for (int64_t c = 0; c < D; c++)
                        ref[((b * H + h) * n + i) * D + c] = x[(b * n + i) * ldx + part * C + h * D + c];
        /* Merge back into a NaN-filled copy: the part's columns come back, the others
         * stay untouched. */
        if (on_gpu) {
            CHECK(lf_split_heads_cuda(dx + part * C, ldx, B, n, H, D, dh) == 0);
            tc_down(heads, dh, hs, 4);
            float *dback = tc_dev(xs, 4);
            CHECK(lf_merge_heads_cuda(dh, B, n, H, D, dback + part * C, ldx) == 0);
            tc_down(back, dback, xs, 4);
            lf_cuda_free(dback);
        } else {
            CHECK(lf_split_heads_emulate(x + part * C, ldx, B, n, H, D, heads) == 0);
            memset(back, 0xff, xs * 4);
            CHECK(lf_merge_heads_emulate(heads, B, n, H, D, back + part * C, ldx) == 0);
        }
        TC_CHECK_EQUAL("split", heads, ref, hs);
        int untouched = 1, equal = 1;
        for (size_t i = 0; i < xs; i++) {
            int64_t col = (int64_t)(i % (size_t)ldx);
            if (col >= part * C && col < (part + 1) * C)
                equal &= back[i] == x[i];
            else
                untouched &= isnan(back[i]) != 0;
        }
        CHECK_MSG(equal, "merge: part %d does not come back equal", part);
        CHECK_MSG(untouched, "merge wrote outside the part's columns");
    }
    lf_cuda_free(dx), lf_cuda_free(dh);
    free(x), free(heads), free(ref), free(back);
}

int main(void)
{
    check_program = "test_cuda_encoder_ops";
    RUN(test_arguments);
    if (tc_no_gpu(check_program)) { /* the kernels' bodies on the host */
        RUN(test_bias_residual);
        RUN(test_split_merge);
        return check_summary();
    }
    on_gpu = 1;
    RUN(test_bias_residual);
    RUN(test_split_merge);
    lf_cuda_shutdown();
    return check_summary();
}
