/* lf_cuda.h - the CUDA backend's C interface (the .cu files of core/cuda): the same
 * operations as the CPU library with a _cuda suffix. Built only when nvcc is found
 * (NO_CUDA=1 turns it off); the CPU build never needs it.
 *
 * Conventions
 * - Pointers to arrays are DEVICE pointers (cudaMalloc'ed, e.g. by lf_cuda_alloc),
 *   row-major float32 as in the CPU library; masks are device uint8_t arrays. Shape
 *   arguments and plain scalars are host values. Exceptions are named in the comment
 *   of the function.
 * - Functions return 0 on success and -1 on failure with the library error set
 *   (error.h): bad arguments by name and value, failing CUDA / cuBLAS / cuSOLVER calls
 *   by file, line, call and the library's message. Every such call is checked, except
 *   the frees (and the wait before them) on cleanup paths, which keep the first error.
 * - Work is queued on the default (legacy) stream and the calls return without
 *   waiting, as CUDA does; a fault inside a kernel shows up at the next checked
 *   synchronizing call (lf_cuda_sync, lf_cuda_download). Call lf_cuda_sync before
 *   trusting results or timing them.
 * - One host thread at a time: the cuBLAS / cuSOLVER handles are per process.
 * - Numerics are those of the CPU twins up to rounding (summation order, the GPU's
 *   expf / erff); tests/test_cuda_*.c state the tolerances against the CPU code.
 *
 * lf_cuda_emulate.h runs the kernels' own bodies on the host, for tests without a GPU.
 *
 * Status (2026-12-01): written and compiled (sm_80, sm_90) on a machine without a GPU.
 * There, the argument checks, the tests' references and bounds (on the CPU twins), and
 * host emulations of the kernel bodies and of the cuBLAS argument translations pass;
 * nothing has run on a GPU yet (no parallel execution, no cuBLAS / cuSOLVER call, no
 * launch configuration, no shared-memory limit). Run tests/gpu_check.sh on a GPU (see
 * its header for machines without the suite's packages) before trusting any result.
 */
#ifndef LF_CUDA_H
#define LF_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C headers of the CPU library (no extern "C" of their own). */
#include "mlm.h"
#include "pretrain.h"
#include "model.h"
#include "projection.h"
#include "spectrum.h"

/* ---- device, memory, handles (runtime_cuda.cu) ------------------------------ */

/* Number of usable CUDA devices; 0 when there is no GPU or no driver (not an error). */
int lf_cuda_device_count(void);
/* Name of device 0 (or "none"). */
const char *lf_cuda_device_name(void);
/* Device memory: lf_cuda_alloc returns NULL (error set, naming the size) on failure;
 * bytes = 0 gives NULL without an error. lf_cuda_free waits for all queued work first
 * (a buffer is never freed under a running kernel); lf_cuda_free(NULL) does nothing. */
void *lf_cuda_alloc(size_t bytes);
void lf_cuda_free(void *p);
/* Accounting of lf_cuda_alloc, as mem.h's for lf_alloc: bytes requested and not yet
 * freed, their high-water mark (lf_cuda_mem_peak_reset sets it to the current bytes),
 * a budget (0 = none, the default: an allocation that would take the current bytes
 * above it fails like an out-of-memory, NULL with the error "device memory budget of
 * B bytes exceeded ..."), and the allocations refused so far for the budget or by
 * cudaMalloc's out-of-memory (cudaErrorMemoryAllocation; other cudaMalloc errors, such
 * as no device, are not counted), so that a caller can tell "did not fit" from other
 * failures. Memory the CUDA libraries allocate themselves (the context, cuBLAS's
 * workspace) is not counted: lf_cuda_mem_info sees it. */
size_t lf_cuda_mem_current(void);
size_t lf_cuda_mem_peak(void);
void lf_cuda_mem_peak_reset(void);
void lf_cuda_mem_limit_set(size_t bytes);
size_t lf_cuda_mem_limit(void);
size_t lf_cuda_mem_failures(void);
/* Host -> device and device -> host copies of bytes (host pointers are host memory). */
int lf_cuda_upload(void *dev, const void *host, size_t bytes);
int lf_cuda_download(void *host, const void *dev, size_t bytes);
/* Waits for all queued work; reports a fault of any earlier kernel. */
int lf_cuda_sync(void);
/* Free and total device memory in bytes (cudaMemGetInfo). */
int lf_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
/* Destroys the process's cuBLAS / cuSOLVER handles (created on first use). */
void lf_cuda_shutdown(void);

/* ---- matrix products (gemm_cuda.cu) ------------------------------------------ */

/* Math of the float32 products:
 *   FP32  IEEE float32 products and sums (CUBLAS_COMPUTE_32F, default math mode);
 *   TF32  inputs rounded to TF32 (10-bit mantissa) on tensor cores, float32 sums
 *         (CUBLAS_COMPUTE_32F_FAST_TF32);
 *   BF16  inputs rounded to bfloat16 (8-bit mantissa) on tensor cores, float32 sums
 *         (CUBLAS_COMPUTE_32F_FAST_16BF).
 * For TF32 and BF16 cuBLAS is allowed, not obliged, to use the lower precision. */
typedef enum { LF_CUDA_FP32, LF_CUDA_TF32, LF_CUDA_BF16 } lf_cuda_math;
/* "fp32", "tf32", "bf16"; -1 (error set, listing the valid names) otherwise. */
int lf_cuda_math_parse(const char *s, lf_cuda_math *out);
const char *lf_cuda_math_name(lf_cuda_math math);
/* The math used by lf_sgemm_cuda and by every product inside the other functions of
 * this backend (process-wide; FP32 until set). */
void lf_cuda_set_math(lf_cuda_math math);
lf_cuda_math lf_cuda_get_math(void);

/* lf_sgemm (gemm.h) on the device: C[M,N] = alpha op(A) op(B) + beta C, row-major,
 * ta/tb 0 = as stored, 1 = transposed, with the process's math (lf_cuda_set_math).
 * m, n, k >= 0 (m = 0 or n = 0: nothing; k = 0: C = beta C); leading dimensions at
 * least the stored row length (and >= 1); sizes must fit cuBLAS's 32-bit ints. */
int lf_sgemm_cuda(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* The same with an explicit math. */
int lf_sgemm_cuda_ex(lf_cuda_math math, int ta, int tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc);
/* batch products at once: matrix i of A, B, C starts at a + i stride_a (likewise b,
 * c); e.g. one product per attention head. batch >= 0. */
int lf_sgemm_batched_cuda(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t lda, int64_t stride_a, const float *b,
                          int64_t ldb, int64_t stride_b, float beta, float *c, int64_t ldc,
                          int64_t stride_c, int64_t batch);

/* ---- element-wise and row kernels (softmax_cuda.cu, layernorm_cuda.cu) ------- */

/* Row softmax as lf_softmax_row, for rows x cols row-major x -> y (may alias); mask
 * [cols] or NULL. One block per row, float32 values with a double sum. */
int lf_softmax_rows_cuda(const float *x, float *y, int64_t rows, int64_t cols, const uint8_t *mask);

/* Layer norm of each row of x [rows, cols] into y (may alias): y = (x - mean) /
 * sqrt(var + eps) * w + b with mean and (biased) variance over the row in double,
 * two passes (as the encoder's CPU layer norm, core/encoder.c). w, b: [cols]. */
int lf_layernorm_cuda(const float *x, float *y, int64_t rows, int64_t cols, const float *w,
                      const float *b, double eps);

/* y = GELU(x + bias), exact erf form 0.5 t (1 + erf(t / sqrt 2)) with t = x + bias
 * (erff, as the encoder's CPU GELU), x, y [rows, cols] (may alias), bias [cols] or
 * NULL (then t = x). */
int lf_gelu_cuda(const float *x, float *y, int64_t rows, int64_t cols, const float *bias);
/* The tanh approximation 0.5 t (1 + tanh(sqrt(2/pi) (t + 0.044715 t^3))), same arguments
 * (Hugging Face's "gelu_new"; the encoder's LF_ACT_GELU_TANH). */
int lf_gelu_tanh_cuda(const float *x, float *y, int64_t rows, int64_t cols, const float *bias);

/* ---- encoder-layer data movement (encoder_ops_cuda.cu) ------------------------- */

/* y[rows, cols] += bias[cols] (if not NULL), then += residual[rows, cols] (if not NULL),
 * in that order: y = (y + b) + r, each add rounded in float. */
int lf_add_bias_residual_cuda(float *y, int64_t rows, int64_t cols, const float *bias,
                              const float *residual);
/* Head split of a projection: x holds B n rows of leading dimension ldx >= H D, head
 * h in columns h D .. h D + D - 1 (e.g. the Q, K or V part of a fused (B n, 3C) QKV
 * product: x = qkv + 0, C or 2C, ldx = 3C); out (B, H, n, D) contiguous. */
int lf_split_heads_cuda(const float *x, int64_t ldx, int64_t B, int64_t n, int64_t H, int64_t D,
                        float *out);
/* The inverse: in (B, H, n, D) -> x rows of leading dimension ldx (columns h D ..). */
int lf_merge_heads_cuda(const float *in, int64_t B, int64_t n, int64_t H, int64_t D, float *x,
                        int64_t ldx);

/* ---- sequence projections (projection_cuda.cu) -------------------------------- */

/* A projection (projection.h) with its parameters on the device. */
typedef struct {
    lf_proj_kind kind;
    int64_t k, n, window; /* as lf_proj */
    float *weights;       /* device copy: linear, gaussian [k, n]; conv [window]; else NULL */
} lf_proj_cuda;

/* Copies the host projection p (its weights) to the device; on failure *dp is
 * zeroed (safe to free). */
int lf_proj_upload_cuda(const lf_proj *p, lf_proj_cuda *dp);
/* Frees the device weights and zeroes *dp; safe on a zeroed one and twice. */
void lf_proj_free_cuda(lf_proj_cuda *dp);

/* lf_proj_apply on the device, same arguments and semantics (x [n_use, d], mask
 * [n_use] or NULL, xbar [k_use, d], slot_valid [k_use] or NULL: all device arrays;
 * padded rows of x contribute nothing, NaN and Inf included). linear/gaussian: a
 * masked x is first copied with its padded rows zeroed (scratch n_use x d), then one
 * product. mean/max/conv: one thread per (slot, column), rows in order. */
int lf_proj_apply_cuda(const lf_proj_cuda *p, int64_t k_use, const float *x, int64_t n_use,
                       int64_t d, const uint8_t *mask, float *xbar, uint8_t *slot_valid);

/* Device copies of every projection of a plan: *out = [plan->n_proj] (free with
 * lf_plan_free_cuda(*out, plan->n_proj)); indices as plan->proj (use lf_plan's index
 * and k on the host to pick them). */
int lf_plan_upload_cuda(const lf_plan *plan, lf_proj_cuda **out);
void lf_plan_free_cuda(lf_proj_cuda *proj, int n_proj);

/* ---- attention (attention_cuda.cu, linformer_cuda.cu) ---------------------------- */

/* lf_attention_linformer on the device: Kbar = E K, Vbar = F V (first kp rows), a slot
 * counts if both saw a real token, then lf_attention_projected_cuda. e, f: device
 * projections (lf_proj_upload_cuda). Allocates its scratch; the _ws form takes it:
 * kb [kp, d], vb [kp, dv], slots [2 kp]. */
int lf_attention_linformer_cuda(const float *q, const float *k, const float *v,
                                const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                const lf_proj_cuda *e, const lf_proj_cuda *f, int64_t kp, float *p,
                                float *out);
int lf_attention_linformer_ws_cuda(const float *q, const float *k, const float *v,
                                   const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                   const lf_proj_cuda *e, const lf_proj_cuda *f, int64_t kp,
                                   float *p, float *out, float *kb, float *vb, uint8_t *slots);

/* lf_attention_dense / lf_attention_projected on the device: scores by cuBLAS,
 * lf_softmax_rows_cuda, P V by cuBLAS. p: [n, n] (resp. [n, kp]) or NULL (then P
 * is formed for blocks of query rows in a scratch of at most 64 MiB, at least one row). */
int lf_attention_dense_cuda(const float *q, const float *k, const float *v, const uint8_t *mask,
                            int64_t n, int64_t d, int64_t dv, float *p, float *out);
int lf_attention_projected_cuda(const float *q, const float *kbar, const float *vbar,
                                const uint8_t *slot_mask, int64_t n, int64_t kp, int64_t d,
                                int64_t dv, float *p, float *out);

/* The same for heads independent heads at once (strided-batched products, one softmax
 * over all rows): head h reads q + h n d, k / kbar + h m d, v / vbar + h m dv (m = n
 * or kp) and writes out + h n dv and, when p != NULL, p + h n m (p: [heads, n, m]).
 * The mask [m] (or NULL) is shared by all heads (one sequence). */
int lf_attention_dense_heads_cuda(const float *q, const float *k, const float *v,
                                  const uint8_t *mask, int64_t heads, int64_t n, int64_t d,
                                  int64_t dv, float *p, float *out);
int lf_attention_projected_heads_cuda(const float *q, const float *kbar, const float *vbar,
                                      const uint8_t *slot_mask, int64_t heads, int64_t n,
                                      int64_t kp, int64_t d, int64_t dv, float *p, float *out);

/* lf_attention_streamed on the device: exact attention without materializing P, one
 * thread block per (head, tile of query rows), key tiles in shared memory with an
 * online softmax (running max and a double sum per row). */
int lf_attention_streamed_cuda(const float *q, const float *k, const float *v,
                               const uint8_t *mask, int64_t n, int64_t d, int64_t dv, float *out);
/* The same result by the CPU's algorithm with cuBLAS doing the flops: tiles of 512 keys,
 * scores of all queries against a tile by cuBLAS (scratch n x 512 floats), an
 * online-softmax row kernel, acc += P_tile V_tile by cuBLAS (with the process's math).
 * Much faster than the fused kernel above for large n; memory O(n (512 + dv)). */
int lf_attention_streamed_blas_cuda(const float *q, const float *k, const float *v,
                                    const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                    float *out);
/* heads independent heads in one launch: head h reads q + h n d, k + h n d, v + h n
 * dv and writes out + h n dv; the mask [n] (or NULL) is shared by all heads. d and
 * dv up to 256 (shared-memory tiles). */
int lf_attention_streamed_heads_cuda(const float *q, const float *k, const float *v,
                                     const uint8_t *mask, int64_t heads, int64_t n, int64_t d,
                                     int64_t dv, float *out);

/* ---- encoder (encoder_cuda.cu) ---------------------------------------------------- */

/* A model (model.h) with its parameters on the device: w holds device pointers. */
typedef struct {
    lf_model_config config;
    lf_model_weights w;
    float *params; /* the device allocation w points into */
} lf_model_cuda;
/* Copies every parameter of m to the device; on failure *dm is zeroed. */
int lf_model_upload_cuda(const lf_model *m, lf_model_cuda *dm);
void lf_model_free_cuda(lf_model_cuda *dm);

/* Device buffers of one forward for at most B sequences of n tokens (as lf_encoder_ws);
 * hpos is host memory. */
typedef struct {
    int64_t B, n, C, H, D, inter; /* capacity; hidden, heads, head dim, intermediate size
                                     ("I" would clash with complex.h's macro) */
    float *x, *qkv, *q, *k, *v, *ctx, *merged, *tmp, *ffn;
    float *kb, *vb;  /* Linformer scratch, kb_cap x D each, grown on demand */
    uint8_t *slots;  /* [2 kb_cap] */
    int64_t kb_cap;
    int32_t *ids, *pos;
    uint8_t *mask;
    int32_t *hpos;
} lf_encoder_ws_cuda;
int lf_encoder_ws_init_cuda(lf_encoder_ws_cuda *ws, const lf_model_cuda *m, int64_t B, int64_t n);
void lf_encoder_ws_free_cuda(lf_encoder_ws_cuda *ws);

/* Attention of every layer: dense (lf_attention_dense_heads_cuda), streamed
 * (lf_attention_streamed_heads_cuda, the fused kernel), streamed-blas
 * (lf_attention_streamed_blas_cuda per head), linformer (lf_attention_linformer_ws_cuda
 * per head with the plan's projection and k of each (layer, head); plan: the host plan,
 * proj: its device projections from lf_plan_upload_cuda; when every head of a layer
 * shares E, F and k, both are matrices (linear, gaussian) and there is no mask, the
 * same products for all heads of a sequence at once: E K and F V as strided-batched
 * products, then lf_attention_projected_heads_cuda). */
typedef enum {
    LF_CUDA_ATTN_DENSE,
    LF_CUDA_ATTN_STREAMED,
    LF_CUDA_ATTN_STREAMED_BLAS,
    LF_CUDA_ATTN_LINFORMER
} lf_cuda_attn;
const char *lf_cuda_attn_name(lf_cuda_attn a);
/* Optional, for benchmarks (zero them otherwise):
 *   probs    dense and linformer: a device buffer of probs_floats floats that keeps the
 *            attention probabilities of the forward, (B, H, n, m) with m = n (dense) or
 *            the plan's largest k (linformer; head (b, h) at (b H + h) n m, its first
 *            n kp floats used), as a standard implementation holds them; then no score
 *            scratch is allocated inside. The forward fails if the buffer is too small.
 *            NULL: P is formed in blocks and not kept. Ignored by streamed attention.
 *   seconds  if not NULL, the time of every layer's attention (CUDA events around it;
 *            host clock in the emulation) is added to *seconds; the forward then waits
 *            for its last attention to finish. */
typedef struct {
    lf_cuda_attn attn;
    const lf_plan *plan;
    const lf_proj_cuda *proj;
    float *probs;
    size_t probs_floats;
    double *seconds;
} lf_encoder_attn_cuda;

/* lf_encoder_forward on the device: ids (B, n) and mask (B, n) or NULL are HOST arrays
 * (copied up); attn NULL = dense; hidden_out (B, n, C) HOST array or NULL (the result
 * stays in ws->x on the device). The same errors as the CPU forward for bad ids and
 * sizes. */
int lf_encoder_forward_cuda(const lf_model_cuda *m, const int32_t *ids, const uint8_t *mask,
                            int64_t B, int64_t n, const lf_encoder_attn_cuda *attn,
                            float *hidden_out, lf_encoder_ws_cuda *ws);

/* ---- spectra (spectrum_cuda.cu) ---------------------------------------------------- */

/* lf_sv_batch on the device with the Gram method only (method must be LF_SV_GRAM):
 * count matrices a [count, m, n] (device, float32, matrix c at a + c m n) -> sv
 * [count, min(m, n)] (DEVICE doubles, descending). Each matrix is converted to
 * double, its smaller Gram matrix formed by cublasDsyrk and its eigenvalues found by
 * cusolverDnDsyevd (values only); sigma = sqrt(max(lambda, 0)). Unlike the CPU code
 * all-zero rows and columns are not removed first, so the zero singular values they
 * add come out as rounding-level values (<= ~sqrt(n eps64) sigma_0) rather than
 * exact zeros; the contract |sigma_i - ref_i| <= 2 eps32 sigma_0 still holds. Fails
 * (error set) on a non-finite entry (naming matrix, row and column) or if the solver
 * does not converge (naming the matrix). */
int lf_sv_batch_cuda(const float *a, int64_t count, int64_t m, int64_t n, lf_sv_method method,
                     double *sv);

/* ---- masked-LM training (mlm_cuda.cu, mlm_ops_cuda.cu) ---------------------------- */

/* lf_mlm_loss on the GPU for the model m (its configuration, projection plan and
 * parameter layout; m must outlive the twin). emulate = 1 runs every step on the host
 * instead (the kernels' bodies, lf_sgemm_emulate), for tests without a GPU. Creation
 * fails for what the GPU path does not do yet: mean / max pooling and convolution
 * projections, more than 32 heads. */
typedef struct lf_mlm_cuda lf_mlm_cuda;
int lf_mlm_cuda_create(lf_mlm_cuda **out, const lf_mlm *m, int emulate);
void lf_mlm_cuda_free(lf_mlm_cuda *g);
/* lf_mlm_loss's contract with HOST arrays: params (lf_mlm_param_count floats) are copied
 * up, the batch too; *loss as lf_mlm_loss; with LF_MLM_BACKWARD the gradient is copied
 * down into grads. Products in FP32 (cuBLAS), reductions in double in a fixed order:
 * deterministic. Dropout is refused (LF_MLM_DROPOUT with a dropout > 0). */
int lf_mlm_cuda_loss(lf_mlm_cuda *g, const float *params, float *grads, const lf_mlm_batch *b,
                     int flags, uint64_t dropout_step, double *loss, int64_t *n_masked);
/* bin/pretrain --device cuda (emulate 0; fails when there is no GPU) or cuda-emulate
 * (emulate 1: the GPU code path on the host, slow, for tests): a backend (pretrain.h) whose
 * loss is lf_mlm_cuda_loss. The optimizer, checkpoints and logs stay on the host. Free
 * with lf_pretrain_backend_cuda_free. */
int lf_pretrain_backend_cuda(lf_pretrain_backend *out, int emulate);
void lf_pretrain_backend_cuda_free(lf_pretrain_backend *b);

#ifdef __cplusplus
}
#endif

#endif
