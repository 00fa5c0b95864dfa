/* lf_cuda_emulate.h - the CUDA backend's kernels run on the HOST, for tests on machines
 * without a GPU. Each kernel's body is one __host__ __device__ function (cuda_util.h,
 * lf_blk) written so that it is right for any power-of-two thread count; the functions
 * below run it block after block with one thread each, on host arrays, with the same
 * arguments as the _cuda function they emulate (cuBLAS products replaced by lf_sgemm).
 * They check indexing, tiling, masking and the arithmetic of the kernels, not their
 * parallelism (races, missing barriers) or the cuBLAS/cuSOLVER calls: only a GPU run
 * checks those. Return 0, or -1 (error set) on bad arguments.
 */
#ifndef LF_CUDA_EMULATE_H
#define LF_CUDA_EMULATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "lf_cuda.h"

/* lf_sgemm_cuda's translation of a row-major product into cuBLAS's column-major call
 * (operands, sizes, flags, leading dimensions), executed by a naive host loop with
 * cuBLAS's column-major semantics (sums in double). */
int lf_sgemm_emulate(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
int lf_softmax_rows_emulate(const float *x, float *y, int64_t rows, int64_t cols,
                            const uint8_t *mask);
int lf_layernorm_emulate(const float *x, float *y, int64_t rows, int64_t cols, const float *w,
                         const float *b, double eps);
/* tanh_form 0: lf_gelu_cuda; 1: lf_gelu_tanh_cuda. */
int lf_gelu_emulate(const float *x, float *y, int64_t rows, int64_t cols, const float *bias,
                    int tanh_form);
int lf_add_bias_residual_emulate(float *y, int64_t rows, int64_t cols, const float *bias,
                                 const float *residual);
int lf_split_heads_emulate(const float *x, int64_t ldx, int64_t B, int64_t n, int64_t H,
                           int64_t D, float *out);
int lf_merge_heads_emulate(const float *in, int64_t B, int64_t n, int64_t H, int64_t D, float *x,
                           int64_t ldx);
/* Pooling and conv only (linear / gaussian are one cuBLAS product): -1 for those. */
int lf_proj_apply_emulate(const lf_proj *p, int64_t k_use, const float *x, int64_t n_use,
                          int64_t d, const uint8_t *mask, float *xbar, uint8_t *slot_valid);
/* The fused streamed kernel, heads as lf_attention_streamed_heads_cuda. */
int lf_attention_streamed_emulate(const float *q, const float *k, const float *v,
                                  const uint8_t *mask, int64_t heads, int64_t n, int64_t d,
                                  int64_t dv, float *out);
/* lf_attention_streamed_blas_cuda: its tile loop and online-update kernel, products by
 * lf_sgemm. */
int lf_attention_streamed_blas_emulate(const float *q, const float *k, const float *v,
                                       const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                       float *out);

/* lf_sv_batch_cuda's Gram step: the same cublasDsyrk arguments run by a host loop with
 * cuBLAS's semantics, then LAPACKE_dsyevd (as cusolverDnDsyevd) and the square roots in
 * descending order; host arrays. */
int lf_sv_batch_emulate(const float *a, int64_t count, int64_t m, int64_t n, double *sv);

/* Every projection kind (linear / gaussian: lf_apply_matrix_cuda's steps with
 * lf_sgemm_emulate). */
int lf_proj_apply_emulate_any(const lf_proj *p, int64_t k_use, const float *x, int64_t n_use,
                              int64_t d, const uint8_t *mask, float *xbar, uint8_t *slot_valid);
/* lf_attention_{dense,projected}_heads_cuda: heads heads of n queries against m keys. */
int lf_attention_heads_emulate(const float *q, const float *keys, const float *vals,
                               const uint8_t *mask, int64_t heads, int64_t n, int64_t m, int64_t d,
                               int64_t dv, float *p, float *out);

/* lf_attention_linformer_ws_cuda with e, f holding HOST weights. */
int lf_attention_linformer_ws_emulate(const float *q, const float *k, const float *v,
                                      const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                      const lf_proj_cuda *e, const lf_proj_cuda *f, int64_t kp,
                                      float *p, float *out, float *kb, float *vb, uint8_t *slots);
/* lf_encoder_forward_cuda's own code path (the same function) with every step replaced
 * by its host emulation: the host model m, host arrays; for Linformer, attn->proj holds
 * HOST weights (e.g. {kind, k, n, window, weights} of plan->proj[i]). */
int lf_encoder_forward_emulate(const lf_model *m, const int32_t *ids, const uint8_t *mask,
                               int64_t B, int64_t n, const lf_encoder_attn_cuda *attn,
                               float *hidden_out);

#ifdef __cplusplus
}
#endif

#endif
