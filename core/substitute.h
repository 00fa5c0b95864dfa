/* substitute.h - a pretrained encoder with Linformer attention substituted in every
 * layer, and how far its outputs move from the original model's.
 *
 * lf_substitute_attention is an encoder attention hook (encoder.h, hooks.attention,
 * user = an lf_plan made for the model's layers and heads): for every (sequence,
 * head) of the layer it writes
 *     out = softmax(Q (E K)^T / sqrt(D)) (F V)
 * with E, F, k the plan's projections for (layer, head) (lf_proj_apply and
 * lf_attention_projected, the same path as lf_lowrank_output_error). The rest of
 * the model (output projection, FFN, layer norms) is unchanged, so errors compound
 * through the layers as they would in a Linformer fine-tuned from this model before
 * any training.
 *
 * lf_substitute_compare measures, per sequence b (real tokens only when a mask is
 * given), for the final hidden states X (original) and Y (substituted), [n, C] each:
 *     rel_change[b] = ||Y - X||_F / ||X||_F
 *     cosine[b]     = cos(mean_t X_t, mean_t Y_t)   (mean-pooled sentence embeddings,
 *                                                   as sentence-transformers pools)
 * in double.
 */
#ifndef LF_SUBSTITUTE_H
#define LF_SUBSTITUTE_H

#include <stdint.h>

#include "encoder.h"
#include "projection.h"

/* Hook: user = const lf_plan *. Parallel over (sequence, head), serial inside;
 * bit-identical for any thread count. */
int lf_substitute_attention(void *user, lf_encoder_attn *a);

/* x, y: [B, n, C]; mask [B, n] or NULL; rel_change, cosine: [B] (either may be
 * NULL). Fails (error set) when a sequence has no token or X is zero. */
int lf_substitute_compare(const float *x, const float *y, const uint8_t *mask, int64_t B,
                          int64_t n, int64_t C, double *rel_change, double *cosine);

#endif
