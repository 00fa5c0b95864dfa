// mlm_ops_cuda.h - internal to core/cuda: the kernels of masked-LM training on the GPU
// (mlm_ops_cuda.cu), used by mlm_cuda.cu. Each takes dev: 1 launches the kernel on the
// device (pointers are device pointers, the launch is asynchronous and checked), 0 runs
// the same kernel body on the host (host pointers; lf_cuda_emulate.h's scheme), so that
// the training step is one code path on both. Return 0, or -1 with the error set.
// Twins of the float32 CPU code in mlm_impl.h; where that code sums in a fixed order in
// double, so do these (in the order stated).
#ifndef LF_MLM_OPS_CUDA_H
#define LF_MLM_OPS_CUDA_H

#include <stdint.h>

// x[r, :] = tok[ids[r], :] + pos[r % n, :] for r < rows; C columns.
int lf_tr_embed(int dev, const int32_t *ids, const float *tok, const float *pos, int64_t rows,
                int64_t n, int64_t C, float *x);
// The rows r < rows grouped by token id (ids in [0, V)), on the host, for
// lf_tr_embed_grad: uid[u] is the u-th distinct id in increasing order and
// order[start[u] .. start[u + 1]) its rows in increasing r (uid, start: rows + 1 slots;
// order: rows; count: V + 1 slots of scratch). Returns the number of distinct ids.
int64_t lf_tr_embed_groups(const int32_t *ids, int64_t rows, int64_t V, int32_t *count,
                           int32_t *uid, int32_t *start, int32_t *order);
// Embedding gradients: gtok[ids[r], j] += de[r, j], gpos[r % n, j] += de[r, j], with the
// rows grouped by lf_tr_embed_groups (arrays on the device): one thread per (distinct
// id, column) and per (position, column), each adding its rows in increasing r (the
// CPU's order, bit for bit).
int lf_tr_embed_grad(int dev, const float *de, int64_t groups, const int32_t *uid,
                     const int32_t *start, const int32_t *order, int64_t rows, int64_t n,
                     int64_t C, float *gtok, float *gpos);
// Layer norm of each row (statistics in double, two passes): y = g xhat + b; keeps xhat
// (float) and rstd = 1 / sqrt(var + eps) (double). y may alias x.
int lf_tr_ln_forward(int dev, const float *x, int64_t rows, int64_t C, const float *g,
                     const float *b, double eps, float *xhat, double *rstd, float *y);
// dx = (accumulate ? dx : 0) + LN'^T dy per row (row means in double); dx may alias dy only
// when accumulate is 0. Not dg, db: those are lf_tr_colsum of dy (and dy xhat).
int lf_tr_ln_backward_rows(int dev, const float *dy, const float *xhat, const double *rstd,
                           int64_t rows, int64_t C, const float *g, float *dx, int accumulate);
// acc[j] += sum_r x[r, j] and, with y (and acc_xy), acc_xy[j] += sum_r x[r, j] y[r, j] in the
// same pass, over rows of leading dimension ld, in double: partial sums over chunks of
// LF_TR_COLSUM_ROWS rows, then the chunks in order. scratch: lf_tr_colsum_scratch(rows,
// cols) doubles.
#define LF_TR_COLSUM_ROWS 256
int64_t lf_tr_colsum_scratch(int64_t rows, int64_t cols);
int lf_tr_colsum(int dev, const float *x, const float *y, int64_t rows, int64_t cols, int64_t ld,
                 double *scratch, float *acc, float *acc_xy);
// u[r, j] += bias[j]; g = GELU(u) (exact erf form), count = rows F elements.
int lf_tr_bias_gelu(int dev, float *u, float *g, int64_t rows, int64_t F, const float *bias);
// du *= GELU'(u) = Phi(u) + u phi(u), count elements.
int lf_tr_gelu_backward(int dev, const float *u, float *du, int64_t count);
// qkv [B n, 3C] + bqkv -> q, k, v [B, H, n, D]; keys and values of padded positions
// (mask 0) are 0.
int lf_tr_qkv_split(int dev, const float *qkv, const float *bqkv, const uint8_t *mask, int64_t B,
                    int64_t n, int64_t H, int64_t D, float *q, float *k, float *v);
// dk, dv [B, H, n, D] -> the K and V parts of dqkv [B n, 3C] (0 at padded positions).
int lf_tr_kv_merge(int dev, const float *dk, const float *dv, const uint8_t *mask, int64_t B,
                   int64_t n, int64_t H, int64_t D, float *dqkv);
// In place, for items i < items (item i at s + i item_stride) of rows rows of cols
// entries (leading dimension ld): each row's softmax over the entries j with
// valid[i valid_stride + j] (valid NULL: all); the others 0 (all 0 when none is valid).
int lf_tr_softmax(int dev, float *s, int64_t items, int64_t item_stride, int64_t rows,
                  int64_t cols, int64_t ld, const uint8_t *valid, int64_t valid_stride);
// Its backward, in place on dp (same layout as p): dp = p (dp - sum_j dp p) per row.
int lf_tr_softmax_backward(int dev, const float *p, float *dp, int64_t items, int64_t item_stride,
                           int64_t rows, int64_t cols, int64_t ld);
// Cross-entropy rows: logits [M, V] += bias, row_loss[i] = logsumexp - logit[target[i]],
// logits become the gradient (softmax - onehot) / M.
int lf_tr_xent(int dev, float *logits, int64_t M, int64_t V, const float *bias,
               const int32_t *target, double *row_loss);
// dst[i, :] = src[idx[i], :] (gather) and dst[idx[i], :] = src[i, :] (scatter), M rows of C.
int lf_tr_gather_rows(int dev, const float *src, const int64_t *idx, int64_t M, int64_t C,
                      float *dst);
int lf_tr_scatter_rows(int dev, const float *src, const int64_t *idx, int64_t M, int64_t C,
                       float *dst);
// A shared projection's gradient: g[e] += sum over b < B, then u < n_users of
// pg[(b slots + users[u]) stride + e], in double in that order (the CPU's (sequence,
// head, key|value) order), for e < count.
int lf_tr_proj_grad(int dev, const float *pg, int64_t stride, int64_t B, int64_t slots,
                    const int *users, int n_users, int64_t count, float *g);

#endif
