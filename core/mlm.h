/* mlm.h - an encoder masked language model (BERT/RoBERTa shape) with dense or Linformer
 * attention, its forward pass, its complete backward pass, and flat parameter views.
 *
 *   x0   = LN_e(tok[id] + pos[t])                 (post-LN; pre-LN: x0 = tok[id] + pos[t])
 *   per layer (post-LN, RoBERTa):  h = LN1(x + drop(MHA(x)));  x' = LN2(h + drop(FFN(h)))
 *            (pre-LN option):      h = x + drop(MHA(LN1(x)));  x' = h + drop(FFN(LN2(h)))
 *   hidden = x_L (post-LN) or LN_e(x_L) (pre-LN: LN_e is the final LayerNorm)
 *   logits = hidden tok^T + out_bias              (output layer tied to the token embeddings)
 *   loss   = mean over masked positions of -log softmax(logits)[target]
 * MHA: H heads of D = C / H; one product for Q, K, V; per head dense softmax(Q K^T /
 * sqrt(D)) V, or Linformer softmax(Q (E K)^T / sqrt(D)) (F V) with E, F from a
 * projection plan (projection.h: every sharing mode, nonuniform k, kinds linear
 * (learned), gaussian (fixed), mean, max, conv (learned kernel)). FFN: W2 GELU(W1 h + b1)
 * + b2 with the exact erf GELU. LayerNorm statistics in double. Dropout (optional,
 * hidden dropout after the embeddings, the attention output and the FFN output) draws
 * its masks from (seed, dropout_step, site, row), so a step is reproducible.
 *
 * Padding (mask 0): padded keys/values contribute nothing (dense: excluded from the
 * softmax; Linformer: their rows are zeroed before the projection and pooling/conv
 * slots that saw no real token are excluded, as lf_proj_apply). Padded positions
 * should carry target -1: the loss covers targets >= 0 only.
 *
 * Two builds of the same source (mlm_impl.h): lf_mlm, float32 with lf_sgemm and OpenMP,
 * the one to train with; lf_mlm64, float64 with cblas_dgemm, the reference the tests
 * check by finite differences and compare the float32 path against.
 *
 * Memory: every activation of the batch is kept for the backward pass, including the
 * attention probabilities, L B H n n floats for dense attention (L B H n kmax for
 * Linformer); the work space is kept between calls and reused for any batch no larger
 * in B and n (it grows to cover both otherwise).
 *
 * Not here (yet): dropout on the attention probabilities; RoBERTa's LM-head transform
 * (dense + GELU + LN before the tied output layer). The GPU twin of lf_mlm_loss is
 * lf_mlm_cuda_loss (core/cuda/lf_cuda.h).
 *
 * Determinism: every parallel loop writes disjoint outputs, every reduction (bias and
 * LayerNorm gradients over row blocks fixed by the row count, embedding scatter, shared
 * projection gradients, loss) runs in a fixed order, and lf_sgemm and the attention
 * kernels (tilegemm.h) are bit-identical for any thread count; so gradients and loss
 * are reproducible for a given seed (and, as tested, across thread counts).
 */
#ifndef LF_MLM_H
#define LF_MLM_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "projection.h"

typedef struct {
    int vocab;   /* V */
    int max_len; /* n: position embeddings and the projections' n */
    int dim;     /* C, divisible by heads */
    int heads;   /* H */
    int layers;  /* L */
    int ffn;     /* F: FFN inner size */
    int pre_ln;  /* 0: post-LN (RoBERTa), 1: pre-LN */
    int linformer;       /* 0: dense attention; 1: Linformer per the plan below */
    lf_sharing sharing;  /* Linformer only */
    lf_proj_kind kind;   /* Linformer only */
    int proj_init_pool;  /* linear only: 1 = E, F start as mean pooling (lf_plan_init_pooling),
                          * 0 = the plan's Xavier draw */
    double proj_lr_scale; /* learning-rate multiplier of the projections' parameter groups
                           * (lf_param_group.lr_scale; 0 means 1) */
    const int64_t *k;    /* Linformer only: [layers * heads] per-head k (copied) */
    double dropout;      /* hidden dropout probability in [0, 1); used when asked per call */
    double ln_eps;       /* e.g. 1e-5 */
    double init_std;     /* N(0, init_std) for matrices and embeddings, e.g. 0.02 */
    uint64_t seed;       /* parameters (and the plan) are drawn from it */
} lf_mlm_config;

/* One batch: ids, targets [B, n] (targets -1 where there is no loss), mask [B, n]
 * (1 = token, 0 = padding; NULL = no padding). 1 <= n <= max_len. */
typedef struct {
    int64_t B, n;
    const int32_t *ids;
    const int32_t *targets;
    const uint8_t *mask;
} lf_mlm_batch;

enum { LF_MLM_BACKWARD = 1, LF_MLM_DROPOUT = 2 };

#define LF_MLM_DECLARE(T, R, P)                                                                    \
    typedef struct T T;                                                                            \
    /* Builds the model and draws its parameters; fails (error set, *out NULL) on a bad            \
     * configuration, naming it. */                                                                \
    int P##create(T **out, const lf_mlm_config *cfg);                                              \
    void P##free(T *m);                                                                            \
    /* The configuration (its k points into the model). */                                        \
    const lf_mlm_config *P##get_config(const T *m);                                                    \
    /* The projection plan, for its structure (index, k, kinds); NULL when dense. Its weights   \
     * are the initial values only: the live ones are the parameter groups "projP.kind". */     \
    const lf_plan *P##plan(const T *m);                                                            \
    size_t P##param_count(const T *m);                                                             \
    /* Flat parameter and gradient vectors, P##param_count elements, laid out per the groups:     \
     * a checkpoint saves/restores the parameters through this view. */                           \
    R *P##params(T *m);                                                                            \
    R *P##grads(T *m);                                                                             \
    /* The group table (one group per tensor; decay on matrices and embeddings, not on            \
     * biases and LayerNorm; gaussian projections are not trainable). Returns the count. */       \
    int P##groups(const T *m, const lf_param_group **groups);                                      \
    /* Forward (and with LF_MLM_BACKWARD the gradient of the loss, overwriting the gradient       \
     * vector; with LF_MLM_DROPOUT dropout masks from dropout_step). *loss: mean cross-entropy    \
     * over targets >= 0 (0 with zero gradient when there are none); *n_masked (may be NULL):     \
     * their count. Fails (error set) on bad ids, targets or sizes. */                            \
    int P##loss(T *m, const lf_mlm_batch *b, int flags, uint64_t dropout_step, double *loss,       \
                int64_t *n_masked);

LF_MLM_DECLARE(lf_mlm, float, lf_mlm_)
LF_MLM_DECLARE(lf_mlm64, double, lf_mlm64_)

/* The batch's sizes, ids and targets against the configuration c: 0, or -1 with one error
 * line prefixed fn naming the first bad entry (lf_mlm_loss and its GPU twin call it). */
int lf_mlm_batch_check(const lf_mlm_config *c, const lf_mlm_batch *b, const char *fn);

/* Sensible small defaults (vocab 256, n 128, C 128, 4 heads, 4 layers, F 512, post-LN,
 * dense, no dropout, ln_eps 1e-5, init_std 0.02, seed 1). */
lf_mlm_config lf_mlm_config_default(void);

#endif
