/* encoder.h - forward pass of a BERT/RoBERTa encoder (model.h) that exposes the
 * attention of every layer and head.
 *
 * For a batch of B sequences of n tokens (token type 0 everywhere):
 *   x = LN(word[id] + type[0] + pos[position])                  embeddings
 *   per layer:  q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv  split into H heads of D
 *               P = softmax(q k^T / sqrt(D)) per (sequence, head), padded keys excluded
 *               x = LN(x + concat_h(P v) Wo^T + bo)              post-LN, as BERT
 *               x = LN(x + GELU(x W1^T + b1) W2^T + b2)
 * Positions: BERT uses rows 0..n-1. RoBERTa numbers only the tokens that are not
 * pad_token_id, from pad_token_id + 1 on, and gives pad tokens row pad_token_id,
 * exactly as Hugging Face's create_position_ids_from_input_ids (from the ids, not
 * from the attention mask).
 *
 * Padding: mask [B, n], 1 = token, 0 = padding (NULL = none). Hugging Face adds
 * finfo.min to the scores of padded keys, which makes their probability exactly 0
 * after exp in float32; here they are excluded from the softmax, the same up to
 * rounding. Padded query rows are computed like any other (their values are
 * meaningless and never reach the real tokens). A sequence that is all padding
 * gets zero attention rows (Hugging Face: uniform); no real use has one.
 *
 * Numerics: float32 storage and products (matmuls through lf_sgemm over all B*n
 * rows at once; attention through lf_attention_dense); layer-norm mean and variance
 * are accumulated in double with two passes over the row, so eps = 1e-12 and large
 * activations lose nothing to cancellation. GELU is the exact erf form (erff) or
 * the tanh approximation, as the config says.
 *
 * Parallelism and determinism: OpenMP over rows for the element-wise work, over
 * (sequence, head) pairs for attention (serial attention inside each), lf_sgemm for
 * the products. Each of these computes every output element the same way whatever
 * the thread count, so results are bit-identical across thread counts. Results for
 * a sequence may differ in the last bits when it is run in another batch (B*n
 * changes how lf_sgemm splits its panels).
 *
 * Use, e.g. a spectrum of every layer's P with one layer in memory at a time:
 *     lf_encoder_ws ws;
 *     lf_encoder_ws_init(&ws, model, B, n);
 *     lf_encoder_hooks hooks = {.observe = analyse_layer, .user = &acc, .keep_probs = 1};
 *     lf_encoder_forward_hooked(model, ids, NULL, B, n, &hooks, NULL, NULL, &ws);
 *     ...  // analyse_layer(user, a) reads lf_encoder_attn_probs(a, b, h), n x n
 *     lf_encoder_ws_free(&ws);
 * and a Linformer substitution sets hooks.attention to a function that writes
 * lf_encoder_attn_head(a, a->out, b, h) from the q, k, v heads.
 */
#ifndef LF_ENCODER_H
#define LF_ENCODER_H

#include <stdint.h>

#include "model.h"

/* Buffers of one forward pass, made once for at most B sequences of at most n
 * tokens and reused by every call (no allocation per call, except the first call
 * that needs one layer's probabilities). Fields are read-only to callers. */
typedef struct {
    int64_t B, n;           /* capacity */
    int64_t C, H, D, I;     /* hidden, heads, head dim, intermediate of the model */
    float *x;      /* (B*n, C) hidden states, the residual stream */
    float *qkv;    /* (B*n, 3C) the fused projection before the head split */
    float *q;      /* (B, H, n, D) */
    float *k;      /* (B, H, n, D) */
    float *v;      /* (B, H, n, D) */
    float *ctx;    /* (B, H, n, D) attention output per head */
    float *merged; /* (B*n, C) heads concatenated */
    float *tmp;    /* (B*n, C) output of a projection before the residual */
    float *ffn;    /* (B*n, I) */
    int32_t *pos;  /* (B*n) position-embedding row of every token */
    float *probs;  /* (B, H, n, n) one layer's P, allocated when first needed */
    float *mem;    /* the allocation the buffers above (except probs) live in */
} lf_encoder_ws;

/* Sizes WS for the model M, at most B sequences of n tokens. -1 (error set) on bad
 * sizes, n above the model's positions, or out of memory; *ws is then zeroed. */
int lf_encoder_ws_init(lf_encoder_ws *ws, const lf_model *m, int64_t B, int64_t n);
/* Frees every buffer; the struct is zeroed. Safe on a zeroed or freed ws. */
void lf_encoder_ws_free(lf_encoder_ws *ws);

/* One layer's attention, as handed to hooks. Tensors of heads are (B, H, n, D)
 * row-major: head h of sequence b starts at ((b H + h) n) D, see the helpers. */
typedef struct {
    int layer;              /* 0-based */
    int num_layers;
    int64_t B, n, H, D;
    const uint8_t *mask;    /* (B, n) or NULL */
    const float *hidden;    /* (B, n, C) the layer's input */
    const float *q;         /* (B, H, n, D) projections with their biases, unscaled: the */
    const float *k;         /*   scores are q k^T / sqrt(D) */
    const float *v;
    float *out;             /* (B, H, n, D) each head's output P v */
    float *probs;           /* P of every (sequence, head), each n x n row-major, or NULL */
    int64_t probs_seq_stride; /* floats from sequence b to b+1 in probs (H n^2, or L H n^2
                                 when lf_encoder_forward fills its probs argument) */
} lf_encoder_attn;

static inline const float *lf_encoder_attn_head(const lf_encoder_attn *a, const float *t,
                                                int64_t b, int64_t h)
{
    return t + ((b * a->H + h) * a->n) * a->D;
}
static inline float *lf_encoder_attn_probs(const lf_encoder_attn *a, int64_t b, int64_t h)
{
    return a->probs ? a->probs + b * a->probs_seq_stride + h * a->n * a->n : (float *)0;
}

/* A hook returns 0, or -1 with lf_error_set (the forward then fails with
 * "layer L: <message>"). */
typedef int (*lf_encoder_attn_fn)(void *user, lf_encoder_attn *a);

typedef struct {
    /* When set, replaces dense attention in every layer: it must write a->out for
     * every (sequence, head) from a->q, a->k, a->v and a->mask (Linformer
     * attention, a low-rank approximation, ...). a->probs is NULL for it. */
    lf_encoder_attn_fn attention;
    /* When set, called after each layer's attention, before the output projection,
     * with q, k, v and out final (read-only for it); with keep_probs and dense
     * attention, a->probs holds this layer's P. Analysis of layer l can happen here
     * while only one layer's P is in memory. */
    lf_encoder_attn_fn observe;
    void *user;
    int keep_probs;         /* materialize each layer's P for observe */
} lf_encoder_hooks;

/* Runs the encoder on ids (B, n) int32 with mask (B, n) or NULL, using WS (made for
 * this model with capacity >= B, n). hidden_out: (B, n, C) final hidden states, or
 * NULL. probs: (B, L, H, n, n) P of every layer and head, or NULL. Fails (-1, error
 * set) on an id outside the vocabulary, n above the model's positions, a WS made for
 * another model or too small. */
int lf_encoder_forward(const lf_model *m, const int32_t *ids, const uint8_t *mask, int64_t B,
                       int64_t n, float *hidden_out, float *probs, lf_encoder_ws *ws);

/* The same with HOOKS (NULL = none). With both probs and hooks->keep_probs, the
 * observer sees P inside the probs argument (probs_seq_stride = L H n^2). */
int lf_encoder_forward_hooked(const lf_model *m, const int32_t *ids, const uint8_t *mask,
                              int64_t B, int64_t n, const lf_encoder_hooks *hooks,
                              float *hidden_out, float *probs, lf_encoder_ws *ws);

/* The encoder's row operations, public so that the CUDA twins are tested against
 * them: y[0..C) = LN(y) with weight w and bias b (statistics in double), and
 * GELU(x) in the model's form (erf or tanh). */
void lf_enc_layernorm(float *y, int64_t C, const float *w, const float *b, double eps);
float lf_enc_gelu(float x, lf_activation act);

/* Position-embedding row of every token of ids (B, n) into pos (B, n): BERT
 * position_offset + i; RoBERTa counts the non-pad ids from pad_token_id + 1 and gives
 * pad ids row pad_token_id (see the top of this file). */
void lf_encoder_positions(const lf_model_config *c, const int32_t *ids, int64_t B, int64_t n,
                          int32_t *pos);

/* Multiply-add flops of one forward (2 per multiply-add; softmax, GELU and layer norm
 * not counted), for throughput figures. */
double lf_encoder_flops(const lf_model_config *c, int64_t B, int64_t n);

#endif
