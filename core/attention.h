/* attention.h - one attention head: dense, streamed exact and projected (Linformer).
 *
 * Layout: row-major float32. q, k: [n, d]; v: [n, dv]; out: [n, dv]. Scores are
 * Q K^T / sqrt(d). mask: [n] over the keys/values, 1 = token, 0 = padding (NULL =
 * no padding); padded keys get probability 0. Query rows are all computed (padded
 * queries attend to the real tokens like any other row).
 *
 * All three parallelize over blocks of query rows with OpenMP; inside a block the
 * products are single-threaded BLAS, or, with at most 256 keys (Linformer's k), a
 * register-blocked kernel of attention.c (AVX2 or AVX-512). Every output element is
 * computed the same way whatever the thread count: results are bit-identical across
 * thread counts.
 */
#ifndef LF_ATTENTION_H
#define LF_ATTENTION_H

#include <stdint.h>

/* Standard attention with P = softmax(Q K^T / sqrt(d)) materialized. p: [n, n] or
 * NULL (then P is formed a row block at a time and not kept). */
int lf_attention_dense(const float *q, const float *k, const float *v, const uint8_t *mask,
                       int64_t n, int64_t d, int64_t dv, float *p, float *out);

/* Exact attention without materializing P: key tiles with an online softmax
 * (running max and sum per row), O(n * (d + dv)) memory; equal to dense up to
 * rounding. */
int lf_attention_streamed(const float *q, const float *k, const float *v, const uint8_t *mask,
                          int64_t n, int64_t d, int64_t dv, float *out);

/* Linformer's attention on projected keys and values: Pbar = softmax(Q kbar^T /
 * sqrt(d)) (n x kp), out = Pbar vbar. kbar: [kp, d]; vbar: [kp, dv]; slot_mask: [kp]
 * (0 = projected slot that saw no real token, excluded; NULL = all valid). p: [n, kp]
 * or NULL. The projections themselves are in projection.h. */
int lf_attention_projected(const float *q, const float *kbar, const float *vbar,
                           const uint8_t *slot_mask, int64_t n, int64_t kp, int64_t d, int64_t dv,
                           float *p, float *out);

/* The same, with the keys and values produced inside the same parallel region: every
 * thread first calls pro->run(ctx, thread, threads) (e.g. computing E K and F V),
 * then, after a barrier, one thread calls pro->finish(ctx) (may be NULL), and only
 * then are kbar, vbar and slot_mask read. Saves a fork/join per head; used by
 * linformer.c. If run fails on any thread, returns -1 and leaves the error message
 * to the prologue's owner. */
typedef struct {
    int (*run)(void *ctx, int thread, int threads);
    void (*finish)(void *ctx);
    void *ctx;
} lf_attend_prologue;
int lf_attention_projected_after(const float *q, const float *kbar, const float *vbar,
                                 const uint8_t *slot_mask, int64_t n, int64_t kp, int64_t d,
                                 int64_t dv, float *p, float *out, const lf_attend_prologue *pro);

/* Forward flop counts used by benchmarks (multiply-add = 2 flops; softmax not counted). */
double lf_attention_dense_flops(int64_t n, int64_t d, int64_t dv);
double lf_attention_linformer_flops(int64_t n, int64_t kp, int64_t d, int64_t dv);

#endif
