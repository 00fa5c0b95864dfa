/* effbench.h - the efficiency benchmark (the Linformer paper's Table 3): full encoder
 * inference (encoder.h) on random tokens with three attention variants, and the
 * measurement of one (variant, n, k) point: time per token, memory per sequence,
 * and the largest batch that fits a memory budget.
 *
 * Variants, each an attention hook of lf_encoder_forward_hooked:
 *   dense      P = softmax(Q K^T / sqrt(D)) materialized for every (sequence, head)
 *              of the layer at once, (B, H, n, n) floats, as a standard Transformer
 *              implementation holds it (lf_attention_dense with p);
 *   streamed   exact attention without P (lf_attention_streamed: key tiles, online
 *              softmax, O(n) extra memory);
 *   linformer  lf_attention_linformer with layerwise sharing: one k x n projection
 *              for every layer, head, keys and values (the paper's Table 3 setting),
 *              kind linear, initialised as fairseq (projection.h); its context
 *              mapping Pbar (B, H, n, k) is materialized like dense P, as the paper's
 *              (fairseq) implementation holds it.
 * The rest of the encoder (projections, feed-forward, layer norms) is the same code
 * for all three. Heads and sequences are spread over the threads, one (sequence,
 * head) pair per thread with serial attention inside, as the encoder's own dense
 * attention does; with fewer pairs than threads, pairs in turn, each parallel inside.
 *
 * Memory is what lf_alloc accounts (mem.h): "fixed" is in use before the first
 * forward (weights, projection); the high-water mark of a batch-1 forward above
 * fixed bounds one sequence (workspace, P, token ids, plus per-call scratch), which
 * gives a first largest batch floor((budget - fixed) / bound). When a second batch
 * size B runs (the timed batch, or the largest batch when that is cheap), "per
 * sequence" is the slope (peak_B - peak_1) / (B - 1) and "scratch" the rest of
 * peak_1; from the timed batch the largest batch becomes
 * floor((budget - fixed - scratch) / per_sequence). Allocations run under
 * lf_mem_limit_set(budget), so a point that does not fit fails its allocation
 * (recorded as skipped, with the reason) instead of being killed by the system.
 *
 * The same measurement runs on the CUDA device (lf_bench_run_point_cuda, in
 * core/cuda/effbench_cuda.cu) through a backend (lf_bench_backend below): there the
 * encoder is lf_encoder_forward_cuda with the same three variants (dense: P of the
 * whole layer kept in one (B, H, n, n) device buffer; streamed: the fused
 * online-softmax kernel, lf_attention_streamed_heads_cuda; linformer: the same
 * layerwise plan, Pbar kept in (B, H, n, k)), the memory is that of lf_cuda_alloc's
 * accounting (lf_cuda.h; weights and projection uploaded per point are the fixed
 * memory), the budget is lowered to the device's free memory (cudaMemGetInfo) less a
 * reserve when that is smaller, and times are wall times of a forward followed by a
 * device synchronization (the attention's from CUDA events). Points are measured one
 * after the other, not interleaved.
 */
#ifndef LF_EFFBENCH_H
#define LF_EFFBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "model.h"
#include "projection.h"

typedef enum { LF_BENCH_DENSE, LF_BENCH_STREAMED, LF_BENCH_LINFORMER } lf_bench_variant;
#define LF_BENCH_NVARIANTS 3

/* "dense", "streamed", "linformer"; "unknown" outside the enum. */
const char *lf_bench_variant_name(lf_bench_variant v);

/* State of the attention hook. */
typedef struct {
    lf_bench_variant variant;
    const lf_plan *plan; /* linformer: a plan for the layers and heads (any sharing) */
    float *probs;        /* dense: (B, H, n, n) floats for P; linformer: (B, H, n, k) for
                            Pbar; or NULL (then formed a row block at a time, not kept) */
    int64_t probs_batch; /* sequences probs holds */
    int64_t probs_stride; /* floats per (sequence, head) in probs: n^2 or n k */
    double seconds;      /* wall time spent in the hook, accumulated */
} lf_bench_attn;

/* The hook (lf_encoder_attn_fn): writes a->out for every (sequence, head) with the
 * variant of user (an lf_bench_attn). Linformer uses the plan's projections of
 * (layer, head) with the plan's k. Fails (-1, error set) on a plan that does not
 * match the layer/heads, on n above the plan's n, or a probs buffer too small. */
int lf_bench_attention(void *user, lf_encoder_attn *a);

/* Attention flops of one forward of the whole encoder (every layer and head,
 * multiply-add = 2; softmax not counted; linformer includes E K and F V). */
double lf_bench_attention_flops(lf_bench_variant v, const lf_model_config *c, int64_t B,
                                int64_t n, int64_t k);

typedef struct {
    const lf_model *model;
    lf_bench_variant variant;
    int64_t n;
    int64_t k;              /* linformer: projected length, 1 <= k < n; ignored otherwise */
    size_t budget;          /* bytes through lf_alloc (weights included); > 0 */
    int64_t batch_tokens;   /* timed batch: min(max batch, max(1, batch_tokens / n)) */
    int64_t verify_tokens;  /* run once at the max batch when it is larger than the timed
                               batch and max_batch * n <= verify_tokens (0 = never) */
    int repeats;            /* timed forwards after one warm-up; >= 1 */
    uint64_t seed;          /* tokens and projection */
    size_t base_bytes;      /* lf_alloc bytes in use that every point shares (the model):
                               anything in use beyond them belongs to other points held
                               meanwhile and is not charged to this one. 0 = everything
                               in use at the call is this point's (nothing held). */
} lf_bench_point_cfg;

typedef struct {
    int skipped;                 /* 1: not measured, reason says why */
    char reason[256];
    double time_per_token;       /* s: median forward time / (batch n) */
    double time_best_per_token;  /* s: the same from the fastest forward (other load on the
                                    machine only ever adds time) */
    double attn_time_per_token;  /* s: the same for the time inside the attention hook */
    double attn_gflops;          /* attention flops / median attention time */
    double forward_seconds;      /* median forward time */
    size_t fixed_bytes;          /* lf_alloc in use before the first forward */
    size_t seq_bytes;            /* per sequence (see above) */
    size_t scratch_bytes;        /* per-call scratch that does not grow with the batch
                                    (0 unless seq_exact) */
    int seq_exact;               /* 1: seq_bytes is the difference of two batch sizes,
                                    0: the batch-1 bound */
    size_t peak_bytes;           /* lf_alloc high-water mark of the forward at the timed
                                    batch (fixed included) */
    size_t rss_peak_bytes;       /* resident-set high-water mark of the point (bench.h) */
    int rss_per_point;           /* 1 when the RSS mark was reset for this point */
    int64_t max_batch;           /* largest batch that fits the budget */
    int64_t batch;               /* batch of the timed forwards */
    int verified;                /* 1: a forward at max_batch ran within the budget */
    size_t budget_bytes;         /* budget the point was held to (cfg->budget; on the CUDA
                                    device at most its free memory less a reserve) */
    size_t device_bytes;         /* CUDA: device memory in use after the warm-up forward at
                                    the timed batch beyond what was in use before the point,
                                    as cudaMemGetInfo sees it (also cuBLAS's workspace and
                                    the allocation granularity); 0 on the CPU */
} lf_bench_point;

/* Measures one point on the CPU (see the top of this file): lf_bench_point_prepare,
 * repeats x lf_bench_point_time, lf_bench_point_finish. Returns 0 with out filled, also when
 * the point is skipped for the budget (out->skipped = 1, out->reason); -1 (error
 * set) on any other failure (bad configuration, a failing forward). The memory
 * limit in force before the call is restored afterwards. */
int lf_bench_run_point(const lf_bench_point_cfg *cfg, lf_bench_point *out);

/* The same in steps, so that the timed forwards of several points can be
 * interleaved (p1, p2, p3, p1, p2, p3, ...): on a shared machine whose load drifts,
 * every variant then sees the same conditions and their ratios stay fair.
 *   prepare: memory per sequence, largest batch and timed batch, and the warm-up
 *            forward at the timed batch, whose buffers stay allocated. 0 with *st
 *            set; 0 with *st NULL when skipped (out says why); -1 on error. Other
 *            points may be held meanwhile (set cfg->base_bytes): the budget applies
 *            to this point's own memory, and peak_bytes is that of its warm-up.
 *   time:    one timed forward (call cfg->repeats times).
 *   finish:  medians, the largest-batch check when cheap, frees the state (also on
 *            failure). abort frees a state without results. */
typedef struct lf_bench_state lf_bench_state;
int lf_bench_point_prepare(const lf_bench_point_cfg *cfg, lf_bench_point *out, lf_bench_state **st);
int lf_bench_point_time(lf_bench_state *st);
int lf_bench_point_finish(lf_bench_state *st, lf_bench_point *out);
void lf_bench_point_abort(lf_bench_state *st);

/* ---- backends ------------------------------------------------------------------ */

/* Where a point runs: the memory accounting its budget applies to and the forward at
 * one batch size. The measurement above (prepare, time, finish) is the same code for
 * every backend. */
typedef struct {
    const char *name;   /* "cpu", "cuda" */
    size_t run_size;    /* bytes of the state of one batch size's buffers (a "run") */
    /* The accounting of the memory the budget applies to (mem.h's functions on the CPU). */
    size_t (*mem_current)(void);
    size_t (*mem_peak)(void);
    void (*mem_peak_reset)(void);
    size_t (*mem_limit)(void);
    void (*mem_limit_set)(size_t bytes);
    size_t (*mem_failures)(void);
    /* Optional (NULL = none): fixed memory of a point besides the plan, allocated under
     * the budget after the plan is made (the CUDA device: the model and the projection
     * uploaded); *ctx goes to the run functions, teardown frees it. A failure that
     * raised mem_failures skips the point, any other is an error. */
    int (*setup)(const lf_bench_point_cfg *cfg, const lf_plan *plan, void **ctx);
    void (*teardown)(void *ctx);
    /* Buffers for B sequences in run (run_size zeroed bytes; nothing allocated is left
     * on failure), one forward (seconds: its wall time, the device synchronized;
     * attn_seconds: the time inside attention), and freeing them (zeroes run). */
    int (*run_init)(void *ctx, const lf_bench_point_cfg *cfg, const lf_plan *plan, int64_t B,
                    void *run);
    int (*forward)(void *ctx, const lf_bench_point_cfg *cfg, void *run, double *seconds,
                   double *attn_seconds);
    void (*run_free)(void *run);
    /* Optional: device memory in use by every means (lf_bench_point.device_bytes). */
    size_t (*device_used)(void);
} lf_bench_backend;

extern const lf_bench_backend lf_bench_backend_cpu;

/* lf_bench_point_prepare and lf_bench_run_point on a given backend (those two are
 * these on lf_bench_backend_cpu). */
int lf_bench_point_prepare_on(const lf_bench_backend *be, const lf_bench_point_cfg *cfg,
                              lf_bench_point *out, lf_bench_state **st);
int lf_bench_run_point_on(const lf_bench_backend *be, const lf_bench_point_cfg *cfg,
                          lf_bench_point *out);

/* For backends: the random tokens of a point, count = B n ids (the same first rows for
 * every batch size), and the floats of the kept probabilities of B sequences (dense:
 * B H n n, linformer: B H n k, streamed: 0); -1 (error set) on overflow. */
void lf_bench_tokens(const lf_bench_point_cfg *cfg, size_t count, int32_t *ids);
int lf_bench_probs_count(const lf_bench_point_cfg *cfg, int64_t B, size_t *count);

/* The CUDA device (core/cuda/effbench_cuda.cu, linked when the build has nvcc; the
 * build then defines LF_BENCH_HAVE_CUDA_ENCODER, which removes the stand-ins of
 * effbench.c that fail with "built without the CUDA encoder").
 *   lf_bench_cuda_available: 1 when a CUDA device is usable, else 0 with the error
 *     set ("no CUDA device ...").
 *   lf_bench_run_point_cuda: lf_bench_run_point on the device (the backend described
 *     at the top of this file); cfg->base_bytes is ignored (nothing else is held on
 *     the device). An out-of-memory on the device skips the point like the budget.
 *   lf_bench_sgemm_rate_cuda: lf_bench_sgemm_rate (bench.h) for lf_sgemm_cuda with
 *     the process's math (lf_cuda.h; FP32 unless set), m x m x m, the device
 *     synchronized around each product.
 *   lf_bench_cuda_device_name: the device's name ("none" without one or without CUDA). */
int lf_bench_cuda_available(void);
int lf_bench_run_point_cuda(const lf_bench_point_cfg *cfg, lf_bench_point *out);
int lf_bench_sgemm_rate_cuda(int64_t m, double min_time, double *gflops);
const char *lf_bench_cuda_device_name(void);

#endif
