/* mlm_tiny.h - the tiny masked-LM configurations shared by tests/test_mlm.c (finite
 * differences, float32 against float64) and tests/test_cuda_mlm.c (the GPU step against
 * float64): sizes, per-head k tables, the configuration builder and the perturbation that
 * moves every parameter off its initial value, and the tiny padded batches. */
#ifndef LF_TEST_MLM_TINY_H
#define LF_TEST_MLM_TINY_H

#include <string.h>

#include "mlm.h"
#include "rng.h"

enum { TV = 11, TN = 8, TC = 8, TH = 2, TL = 2, TF = 16 };

/* the k of the last tiny() Linformer configuration (it points there) */
__attribute__((unused)) static int64_t tk[TL * TH];

__attribute__((unused)) static lf_mlm_config tiny(int linformer, lf_sharing sh, lf_proj_kind kind,
                                                  int pre_ln, const int64_t *k)
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

__attribute__((unused)) static const int64_t k_uni4[TL * TH] = {4, 4, 4, 4};
__attribute__((unused)) static const int64_t k_uni2[TL * TH] = {2, 2, 2, 2};
__attribute__((unused)) static const int64_t k_non[TL * TH] = {4, 2, 3, 5};

/* Moves every parameter off its initial value (biases 0, LN 1/0, conv 1/window) so
 * that no gradient is checked at a special point; applied to the float model, then
 * copied to the double one so both hold the same values. */
__attribute__((unused)) static void perturb(lf_mlm *f, lf_mlm64 *d)
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

/* A batch of B <= TB_MAX sequences of length n <= TN: sequence 0 has a padded position in
 * the middle, sequence 1 trailing padding (its last two positions), sequence 2 (B = 3) all
 * padding but its first token; about half of the real positions carry a target. */
enum { TB_MAX = 3 };
typedef struct {
    int32_t ids[TB_MAX * TN], targets[TB_MAX * TN];
    uint8_t mask[TB_MAX * TN];
    lf_mlm_batch b;
} tiny_batch;

__attribute__((unused)) static void tiny_batch_init(tiny_batch *t, int64_t B, int64_t n,
                                                    int padded)
{
    lf_rng r;
    lf_rng_init(&r, 99, 0);
    for (int64_t i = 0; i < B * n; i++) {
        t->ids[i] = (int32_t)(lf_rng_next(&r) % TV);
        t->mask[i] = 1;
        t->targets[i] = lf_rng_uniform(&r) < 0.5 ? (int32_t)(lf_rng_next(&r) % TV) : -1;
    }
    if (padded) {
        t->mask[3] = 0;
        t->mask[n + n - 1] = t->mask[n + n - 2] = 0;
        if (B > 2)
            for (int64_t i = 2 * n + 1; i < 3 * n; i++) t->mask[i] = 0;
        for (int64_t i = 0; i < B * n; i++)
            if (!t->mask[i]) t->targets[i] = -1;
    }
    t->targets[0] = 5; /* at least one target */
    t->b = (lf_mlm_batch){B, n, t->ids, t->targets, padded ? t->mask : NULL};
}

#endif
