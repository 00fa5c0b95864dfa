// encoder_cuda.cu - the BERT / RoBERTa encoder forward on the GPU, twin of
// lf_encoder_forward (core/encoder.c), with the attention of every layer chosen among
// dense, streamed exact (fused kernel or cuBLAS tiles) and Linformer (a projection
// plan). The same steps in the same order as the CPU code: embeddings (word + type) +
// position and layer norm; per layer the fused QKV product, its bias, the head split,
// attention, the merge, the output projection with bias and residual, layer norm, the
// feed-forward product with GELU, the second product with bias and residual, layer norm.
// Products run with the process's math (lf_cuda_set_math).
#include <string.h>

#include "cuda_util.h"
extern "C" {
#include "encoder.h"
#include "progress.h"
}

// The steps of the forward, on the device or (lf_encoder_forward_emulate) their host
// emulations: the forward below is one code path for both.
struct lf_enc_ops {
    void *(*alloc)(size_t);
    void (*release)(void *);
    int (*upload)(void *, const void *, size_t);
    int (*download)(void *, const void *, size_t);
    int (*gemm)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                int64_t, float, float *, int64_t);
    int (*bias_res)(float *, int64_t, int64_t, const float *, const float *);
    int (*split)(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, float *);
    int (*merge)(const float *, int64_t, int64_t, int64_t, int64_t, float *, int64_t);
    int (*layernorm)(const float *, float *, int64_t, int64_t, const float *, const float *, double);
    int (*gelu)(const float *, float *, int64_t, int64_t, const float *, int);
    int (*embed)(const int32_t *, const int32_t *, const float *, const float *, const float *,
                 int64_t, int64_t, float *);
    int (*dense_heads)(const float *, const float *, const float *, const uint8_t *, int64_t,
                       int64_t, int64_t, int64_t, float *, float *);
    int (*streamed_heads)(const float *, const float *, const float *, const uint8_t *, int64_t,
                          int64_t, int64_t, int64_t, float *);
    int (*streamed_blas)(const float *, const float *, const float *, const uint8_t *, int64_t,
                         int64_t, int64_t, float *);
    int (*linformer_ws)(const float *, const float *, const float *, const uint8_t *, int64_t,
                        int64_t, int64_t, const lf_proj_cuda *, const lf_proj_cuda *, int64_t,
                        float *, float *, float *, float *, uint8_t *);
    int (*gemm_batched)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                        int64_t, const float *, int64_t, int64_t, float, float *, int64_t,
                        int64_t, int64_t);
    int (*projected_heads)(const float *, const float *, const float *, const uint8_t *, int64_t,
                           int64_t, int64_t, int64_t, int64_t, float *, float *);
    int on_device; // 1: CUDA events time the attention; 0: the host clock
};

// ---- model --------------------------------------------------------------------------

// The tensors of lf_model_weights with their element counts, in one table so that the
// upload and the pointer translation cannot disagree.
#define LF_TENSORS(X)                                                                              \
    X(word_emb, (size_t)V * C)                                                                     \
    X(pos_emb, (size_t)P * C)                                                                      \
    X(type_emb, (size_t)T * C)                                                                     \
    X(emb_ln_w, (size_t)C)                                                                         \
    X(emb_ln_b, (size_t)C)                                                                         \
    X(qkv_w, (size_t)L * 3 * C * C)                                                                \
    X(qkv_b, (size_t)L * 3 * C)                                                                    \
    X(attn_out_w, (size_t)L * C * C)                                                               \
    X(attn_out_b, (size_t)L * C)                                                                   \
    X(attn_ln_w, (size_t)L * C)                                                                    \
    X(attn_ln_b, (size_t)L * C)                                                                    \
    X(ffn_in_w, (size_t)L * I * C)                                                                 \
    X(ffn_in_b, (size_t)L * I)                                                                     \
    X(ffn_out_w, (size_t)L * C * I)                                                                \
    X(ffn_out_b, (size_t)L * C)                                                                    \
    X(ffn_ln_w, (size_t)L * C)                                                                     \
    X(ffn_ln_b, (size_t)L * C)

extern "C" int lf_model_upload_cuda(const lf_model *m, lf_model_cuda *dm)
{
    if (!dm) LF_FAIL("lf_model_upload_cuda: NULL output");
    memset(dm, 0, sizeof *dm);
    if (!m || !m->params) LF_FAIL("lf_model_upload_cuda: no model");
    const lf_model_config *c = &m->config;
    const size_t V = (size_t)c->vocab_size, P = (size_t)c->max_position_embeddings,
                 T = (size_t)c->type_vocab_size, C = (size_t)c->hidden_size,
                 L = (size_t)c->num_hidden_layers, I = (size_t)c->intermediate_size;
    // The device allocation mirrors the host one: the same offsets from params.
    size_t span = 0;
#define LF_SPAN(name, count)                                                                       \
    {                                                                                              \
        size_t end_ = (size_t)(m->w.name - m->params) + (count);                                   \
        if (m->w.name < m->params) LF_FAIL("lf_model_upload_cuda: %s outside the parameters", #name); \
        if (end_ > span) span = end_;                                                              \
    }
    LF_TENSORS(LF_SPAN)
#undef LF_SPAN
    float *d = (float *)lf_cuda_alloc(span * sizeof(float));
    if (!d) {
        lf_error_prefix("lf_model_upload_cuda: %zu parameters", span);
        return -1;
    }
    if (lf_cuda_upload(d, m->params, span * sizeof(float)) != 0) {
        lf_cuda_free(d);
        return -1;
    }
    dm->config = *c;
    dm->params = d;
#define LF_POINT(name, count) dm->w.name = d + (m->w.name - m->params);
    LF_TENSORS(LF_POINT)
#undef LF_POINT
    return 0;
}

extern "C" void lf_model_free_cuda(lf_model_cuda *dm)
{
    if (!dm) return;
    lf_cuda_free(dm->params);
    memset(dm, 0, sizeof *dm);
}

// ---- workspace ----------------------------------------------------------------------

static void lf_ws_free(const lf_enc_ops *ops, lf_encoder_ws_cuda *ws)
{
    if (!ws) return;
    float *bufs[] = {ws->x, ws->qkv, ws->q, ws->k, ws->v, ws->ctx, ws->merged, ws->tmp, ws->ffn,
                     ws->kb, ws->vb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) ops->release(bufs[i]);
    ops->release(ws->slots);
    ops->release(ws->ids);
    ops->release(ws->pos);
    ops->release(ws->mask);
    free(ws->hpos);
    memset(ws, 0, sizeof *ws);
}

static int lf_ws_init(const lf_enc_ops *ops, lf_encoder_ws_cuda *ws, const lf_model_cuda *m,
                      int64_t B, int64_t n)
{
    const char *fn = "lf_encoder_ws_init_cuda";
    if (!ws) LF_FAIL("%s: no workspace (NULL)", fn);
    memset(ws, 0, sizeof *ws);
    if (!m || !m->params) LF_FAIL("%s: no model", fn);
    const lf_model_config *c = &m->config;
    if (B < 1 || n < 1) LF_FAIL("%s: batch %lld x %lld: sizes must be positive", fn, (long long)B, (long long)n);
    if (n > c->max_seq_len)
        LF_FAIL("%s: sequence length %lld exceeds the model's maximum of %d positions", fn,
                (long long)n, c->max_seq_len);
    const int64_t C = c->hidden_size, I = c->intermediate_size;
    if (B > INT32_MAX / n || B * n > INT32_MAX / (3 * C > I ? 3 * C : I))
        LF_FAIL("%s: batch %lld x %lld tokens is too large", fn, (long long)B, (long long)n);
    const size_t rows = (size_t)(B * n), f = sizeof(float);
    ws->B = B, ws->n = n, ws->C = C, ws->H = c->num_attention_heads, ws->D = c->head_dim, ws->inter = I;
    if (!(ws->x = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->qkv = (float *)ops->alloc(rows * 3 * (size_t)C * f)) ||
        !(ws->q = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->k = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->v = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->ctx = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->merged = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->tmp = (float *)ops->alloc(rows * (size_t)C * f)) ||
        !(ws->ffn = (float *)ops->alloc(rows * (size_t)I * f)) ||
        !(ws->ids = (int32_t *)ops->alloc(rows * sizeof(int32_t))) ||
        !(ws->pos = (int32_t *)ops->alloc(rows * sizeof(int32_t))) ||
        !(ws->mask = (uint8_t *)ops->alloc(rows)) ||
        !(ws->hpos = (int32_t *)malloc(rows * sizeof(int32_t)))) {
        if (ws->x && !ws->hpos && ws->mask) lf_error_set("%s: out of host memory", fn);
        lf_error_prefix("%s: batch %lld x %lld", fn, (long long)B, (long long)n);
        lf_ws_free(ops, ws);
        return -1;
    }
    return 0;
}

// Linformer scratch for projections of up to kp rows.
static int lf_ws_reserve_kb(const lf_enc_ops *ops, lf_encoder_ws_cuda *ws, int64_t kp)
{
    if (kp <= ws->kb_cap) return 0;
    ops->release(ws->kb), ops->release(ws->vb), ops->release(ws->slots);
    ws->kb = ws->vb = NULL;
    ws->slots = NULL;
    ws->kb_cap = 0;
    if (!(ws->kb = (float *)ops->alloc((size_t)(kp * ws->D) * sizeof(float))) ||
        !(ws->vb = (float *)ops->alloc((size_t)(kp * ws->D) * sizeof(float))) ||
        !(ws->slots = (uint8_t *)ops->alloc(2 * (size_t)kp)))
        return -1;
    ws->kb_cap = kp;
    return 0;
}

// ---- forward --------------------------------------------------------------------------

// x[r, i] = (word[ids[r]] + type[0]) + pos[pos[r]] (Hugging Face's order, as the CPU).
__host__ __device__ static inline void embed_body(int64_t e, const int32_t *ids, const int32_t *pos,
                                                  const float *word, const float *posemb,
                                                  const float *type, int64_t C, float *x)
{
    int64_t r = e / C, i = e % C;
    x[e] = (word[(int64_t)ids[r] * C + i] + type[i]) + posemb[(int64_t)pos[r] * C + i];
}

__global__ void embed_kernel(const int32_t *ids, const int32_t *pos, const float *word,
                             const float *posemb, const float *type, int64_t total, int64_t C,
                             float *x)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x)
        embed_body(e, ids, pos, word, posemb, type, C, x);
}

static int lf_embed_cuda(const int32_t *ids, const int32_t *pos, const float *word,
                         const float *posemb, const float *type, int64_t rows, int64_t C, float *x)
{
    int64_t total = rows * C, blocks = (total + 255) / 256;
    embed_kernel<<<(unsigned)(blocks > 65535 ? 65535 : blocks), 256>>>(ids, pos, word, posemb, type,
                                                                       total, C, x);
    LF_CUDA_LAUNCHED();
    return 0;
}

static int lf_embed_emulate(const int32_t *ids, const int32_t *pos, const float *word,
                            const float *posemb, const float *type, int64_t rows, int64_t C, float *x)
{
    for (int64_t e = 0; e < rows * C; e++) embed_body(e, ids, pos, word, posemb, type, C, x);
    return 0;
}

static int lf_gelu_act_cuda(const float *x, float *y, int64_t rows, int64_t cols, const float *bias,
                            int tanh_form)
{
    return tanh_form ? lf_gelu_tanh_cuda(x, y, rows, cols, bias) : lf_gelu_cuda(x, y, rows, cols, bias);
}

static int lf_host_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
static void *lf_host_alloc(size_t bytes) { return bytes ? malloc(bytes) : NULL; }

static const lf_enc_ops lf_ops_cuda = {lf_cuda_alloc, lf_cuda_free, lf_cuda_upload,
                                       lf_cuda_download, lf_sgemm_cuda, lf_add_bias_residual_cuda,
                                       lf_split_heads_cuda, lf_merge_heads_cuda, lf_layernorm_cuda,
                                       lf_gelu_act_cuda, lf_embed_cuda,
                                       lf_attention_dense_heads_cuda,
                                       lf_attention_streamed_heads_cuda,
                                       lf_attention_streamed_blas_cuda,
                                       lf_attention_linformer_ws_cuda, lf_sgemm_batched_cuda,
                                       lf_attention_projected_heads_cuda, 1};

static int lf_dense_heads_emulate(const float *q, const float *k, const float *v,
                                  const uint8_t *mask, int64_t H, int64_t n, int64_t d, int64_t dv,
                                  float *p, float *out)
{
    return lf_attention_heads_emulate(q, k, v, mask, H, n, n, d, dv, p, out);
}

// lf_sgemm_batched_cuda on the host: batch lf_sgemm_emulate calls (row-major semantics,
// matrix i at a + i stride_a, ...; a stride of 0 shares the operand).
static int lf_sgemm_batched_emulate(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                                    const float *a, int64_t lda, int64_t sa, const float *b,
                                    int64_t ldb, int64_t sb, float beta, float *c, int64_t ldc,
                                    int64_t sc, int64_t batch)
{
    for (int64_t i = 0; i < batch; i++)
        LF_TRY(lf_sgemm_emulate(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta,
                                c + i * sc, ldc));
    return 0;
}

static int lf_projected_heads_emulate(const float *q, const float *kb, const float *vb,
                                      const uint8_t *slots, int64_t H, int64_t n, int64_t kp,
                                      int64_t d, int64_t dv, float *p, float *out)
{
    return lf_attention_heads_emulate(q, kb, vb, slots, H, n, kp, d, dv, p, out);
}

static const lf_enc_ops lf_ops_emulate = {lf_host_alloc, free, lf_host_copy, lf_host_copy,
                                          lf_sgemm_emulate, lf_add_bias_residual_emulate,
                                          lf_split_heads_emulate, lf_merge_heads_emulate,
                                          lf_layernorm_emulate, lf_gelu_emulate, lf_embed_emulate,
                                          lf_dense_heads_emulate, lf_attention_streamed_emulate,
                                          lf_attention_streamed_blas_emulate,
                                          lf_attention_linformer_ws_emulate,
                                          lf_sgemm_batched_emulate, lf_projected_heads_emulate, 0};


static const char *const lf_attn_names[] = {"dense", "streamed", "streamed-blas", "linformer"};

extern "C" const char *lf_cuda_attn_name(lf_cuda_attn a)
{
    return (int)a >= 0 && (int)a < 4 ? lf_attn_names[a] : "unknown";
}

// One layer's attention for every (sequence, head): q, k, v, ctx are (B, H, n, D).
// Linformer for all H heads of a sequence at once, when every head of layer l uses the
// same E, F and kp, both are matrices (linear, gaussian), there is no padding mask, and
// kept probabilities (if any) are contiguous per head (pstride = n kp): Kbar = E K and
// Vbar = F V as one strided-batched product each (E shared, stride 0), then projected
// attention of the H heads (lf_attention_projected_heads_cuda). The same products as
// lf_attention_linformer_ws_cuda head by head (without a mask a matrix projection's
// slots all count, so the slot mask is omitted), in 3 + 2 launches instead of 7 H.
static int lf_linformer_heads_ok(const lf_plan *pl, int64_t l, int64_t H, int64_t n,
                                 const uint8_t *mask, const float *pb, int64_t pstride)
{
    if (mask) return 0;
    const int ie = pl->index[l * H * 2], iv = pl->index[l * H * 2 + 1];
    const int64_t kp = pl->k[l * H];
    for (int64_t h = 1; h < H; h++)
        if (pl->index[(l * H + h) * 2] != ie || pl->index[(l * H + h) * 2 + 1] != iv ||
            pl->k[l * H + h] != kp)
            return 0;
    for (int i = 0; i < 2; i++) {
        const lf_proj *p = &pl->proj[i ? iv : ie];
        if (p->kind != LF_PROJ_LINEAR && p->kind != LF_PROJ_GAUSSIAN) return 0;
        if (kp < 1 || kp > p->k || n > p->n) return 0;
    }
    return !pb || pstride == n * kp;
}

static int lf_linformer_heads(const lf_enc_ops *ops, const lf_encoder_attn_cuda *at,
                              lf_encoder_ws_cuda *ws, int64_t l, int64_t n, const float *q,
                              const float *k, const float *v, float *pb, float *o)
{
    const lf_plan *pl = at->plan;
    const int64_t H = ws->H, D = ws->D, kp = pl->k[l * H];
    const lf_proj_cuda *e = &at->proj[pl->index[l * H * 2]], *f = &at->proj[pl->index[l * H * 2 + 1]];
    LF_TRY(lf_ws_reserve_kb(ops, ws, H * kp));
    // Gaussian users with fewer rows than the shared matrix rescale (lf_apply_matrix_cuda).
    const float ae = e->kind == LF_PROJ_GAUSSIAN && kp < e->k ? (float)sqrt((double)e->k / (double)kp) : 1.0f;
    const float af = f->kind == LF_PROJ_GAUSSIAN && kp < f->k ? (float)sqrt((double)f->k / (double)kp) : 1.0f;
    LF_TRY(ops->gemm_batched(0, 0, kp, D, n, ae, e->weights, e->n, 0, k, D, n * D, 0.0f, ws->kb, D,
                             kp * D, H));
    LF_TRY(ops->gemm_batched(0, 0, kp, D, n, af, f->weights, f->n, 0, v, D, n * D, 0.0f, ws->vb, D,
                             kp * D, H));
    return ops->projected_heads(q, ws->kb, ws->vb, NULL, H, n, kp, D, D, pb, o);
}

// With at->probs, the probabilities of (sequence b, head h) go to probs + (b H + h) pstride.
static int lf_layer_attention(const lf_enc_ops *ops, const lf_encoder_attn_cuda *at,
                              lf_encoder_ws_cuda *ws, int64_t l, int64_t B, int64_t n,
                              const uint8_t *dmask, int64_t pstride)
{
    const int64_t H = ws->H, D = ws->D, hs = n * D;
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *mb = dmask ? dmask + b * n : NULL;
        float *q = ws->q + b * H * hs, *k = ws->k + b * H * hs, *v = ws->v + b * H * hs;
        float *o = ws->ctx + b * H * hs;
        float *pb = at->probs ? at->probs + b * H * pstride : NULL;
        int rc = 0;
        switch (at->attn) {
        case LF_CUDA_ATTN_DENSE: rc = ops->dense_heads(q, k, v, mb, H, n, D, D, pb, o); break;
        case LF_CUDA_ATTN_STREAMED: rc = ops->streamed_heads(q, k, v, mb, H, n, D, D, o); break;
        case LF_CUDA_ATTN_STREAMED_BLAS:
            for (int64_t h = 0; h < H && rc == 0; h++)
                rc = ops->streamed_blas(q + h * hs, k + h * hs, v + h * hs, mb, n, D, D, o + h * hs);
            break;
        case LF_CUDA_ATTN_LINFORMER:
            if (lf_linformer_heads_ok(at->plan, l, H, n, mb, pb, pstride)) {
                rc = lf_linformer_heads(ops, at, ws, l, n, q, k, v, pb, o);
                break;
            }
            for (int64_t h = 0; h < H && rc == 0; h++) {
                const lf_plan *pl = at->plan;
                const int ie = pl->index[(l * H + h) * 2], iv = pl->index[(l * H + h) * 2 + 1];
                const int64_t kp = pl->k[l * H + h];
                rc = lf_ws_reserve_kb(ops, ws, kp);
                if (rc == 0)
                    rc = ops->linformer_ws(q + h * hs, k + h * hs, v + h * hs, mb, n, D,
                                                        D, &at->proj[ie], &at->proj[iv], kp,
                                                        pb ? pb + h * pstride : NULL, o + h * hs,
                                                        ws->kb, ws->vb, ws->slots);
            }
            break;
        }
        if (rc != 0) {
            lf_error_prefix("sequence %lld", (long long)b);
            return -1;
        }
    }
    return 0;
}

// Times of every layer's attention (lf_encoder_attn_cuda.seconds): on the device a pair
// of CUDA events per layer, read after the forward; in the emulation the host clock.
struct lf_attn_clock {
    int on_device;
    int64_t count;     // events created (2 per layer)
    cudaEvent_t *ev;
    double t0, host_total;
};

static void lf_clock_free(lf_attn_clock *c)
{
    for (int64_t i = 0; i < c->count; i++) cudaEventDestroy(c->ev[i]);
    free(c->ev);
    c->ev = NULL;
    c->count = 0;
}

static int lf_clock_init(lf_attn_clock *c, int on_device, int64_t L)
{
    memset(c, 0, sizeof *c);
    c->on_device = on_device;
    if (!on_device || L < 1) return 0;
    if (!(c->ev = (cudaEvent_t *)calloc((size_t)(2 * L), sizeof *c->ev)))
        LF_FAIL("lf_encoder_forward_cuda: out of host memory for %lld events", (long long)(2 * L));
    for (; c->count < 2 * L; c->count++) {
        cudaError_t err = cudaEventCreate(&c->ev[c->count]);
        if (err != cudaSuccess) {
            lf_error_set("%s:%d: cudaEventCreate: %s", __FILE__, __LINE__, cudaGetErrorString(err));
            lf_clock_free(c);
            return -1;
        }
    }
    return 0;
}

// Before (end = 0) or after (end = 1) the attention of layer l.
static int lf_clock_mark(lf_attn_clock *c, int64_t l, int end)
{
    if (!c) return 0;
    if (!c->on_device) {
        if (!end) c->t0 = lf_now();
        else c->host_total += lf_now() - c->t0;
        return 0;
    }
    if (2 * l + end >= c->count) LF_FAIL("lf_encoder_forward_cuda: layer %lld has no event", (long long)l);
    LF_CUDA_CHECK(cudaEventRecord(c->ev[2 * l + end], 0));
    return 0;
}

// Adds the attention time of the L layers to *seconds (waits for the last event).
static int lf_clock_read(lf_attn_clock *c, int64_t L, double *seconds)
{
    if (!c->on_device) {
        *seconds += c->host_total;
        return 0;
    }
    if (L < 1) return 0;
    LF_CUDA_CHECK(cudaEventSynchronize(c->ev[2 * L - 1]));
    double total = 0;
    for (int64_t l = 0; l < L; l++) {
        float ms = 0;
        LF_CUDA_CHECK(cudaEventElapsedTime(&ms, c->ev[2 * l], c->ev[2 * l + 1]));
        total += ms;
    }
    *seconds += total * 1e-3;
    return 0;
}

static int lf_forward(const lf_enc_ops *ops, const lf_model_cuda *m, const int32_t *ids,
                      const uint8_t *mask, int64_t B, int64_t n, const lf_encoder_attn_cuda *attn,
                      float *hidden_out, lf_encoder_ws_cuda *ws, lf_attn_clock *clock)
{
    const char *fn = "lf_encoder_forward_cuda";
    if (!m || !m->params || !ids || !ws || !ws->x) LF_FAIL("%s: NULL model, ids or workspace", fn);
    const lf_model_config *c = &m->config;
    const lf_model_weights *w = &m->w;
    const int64_t C = c->hidden_size, H = c->num_attention_heads, D = c->head_dim,
                  I = c->intermediate_size, L = c->num_hidden_layers, rows = B * n;
    const double eps = c->layer_norm_eps;
    if (B < 1 || n < 1) LF_FAIL("%s: batch %lld x %lld: sizes must be positive", fn, (long long)B, (long long)n);
    if (ws->C != C || ws->H != H || ws->inter != I)
        LF_FAIL("%s: the workspace was made for another model (hidden %lld, heads %lld)", fn,
                (long long)ws->C, (long long)ws->H);
    if (B > ws->B || n > ws->n)
        LF_FAIL("%s: batch %lld x %lld tokens exceeds the workspace's %lld x %lld", fn,
                (long long)B, (long long)n, (long long)ws->B, (long long)ws->n);
    lf_encoder_attn_cuda dense = {LF_CUDA_ATTN_DENSE, NULL, NULL, NULL, 0, NULL};
    if (!attn) attn = &dense;
    if ((int)attn->attn < 0 || (int)attn->attn > 3) LF_FAIL("%s: unknown attention %d", fn, (int)attn->attn);
    if (attn->attn == LF_CUDA_ATTN_LINFORMER) {
        const lf_plan *pl = attn->plan;
        if (!pl || !attn->proj) LF_FAIL("%s: Linformer attention needs a plan and its device projections", fn);
        if (pl->layers != L || pl->heads != H)
            LF_FAIL("%s: the plan has %d layers x %d heads, the model %lld x %lld", fn, pl->layers,
                    pl->heads, (long long)L, (long long)H);
        if (n > pl->n)
            LF_FAIL("%s: sequence length %lld exceeds the plan's n = %lld", fn, (long long)n,
                    (long long)pl->n);
    }
    // Floats of one head's probabilities in attn->probs: n x n (dense), n x the plan's
    // largest k (linformer).
    int64_t pstride = 0;
    if (attn->probs && attn->attn == LF_CUDA_ATTN_DENSE) pstride = n * n;
    if (attn->probs && attn->attn == LF_CUDA_ATTN_LINFORMER)
        for (int64_t i = 0; i < L * H; i++)
            if (n * attn->plan->k[i] > pstride) pstride = n * attn->plan->k[i];
    if (pstride > 0 && (double)B * (double)H * (double)pstride > (double)attn->probs_floats)
        LF_FAIL("%s: the probability buffer holds %zu floats, %s attention of %lld x %lld heads "
                "needs %.0f",
                fn, attn->probs_floats, lf_cuda_attn_name(attn->attn), (long long)B, (long long)H,
                (double)B * (double)H * (double)pstride);
    for (int64_t i = 0; i < rows; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            LF_FAIL("%s: token id %d at sequence %lld position %lld is outside the vocabulary "
                    "[0, %d)",
                    fn, (int)ids[i], (long long)(i / n), (long long)(i % n), c->vocab_size);

    lf_encoder_positions(c, ids, B, n, ws->hpos);
    LF_TRY(ops->upload(ws->ids, ids, (size_t)rows * sizeof(int32_t)));
    LF_TRY(ops->upload(ws->pos, ws->hpos, (size_t)rows * sizeof(int32_t)));
    const uint8_t *dmask = NULL;
    if (mask) {
        LF_TRY(ops->upload(ws->mask, mask, (size_t)rows));
        dmask = ws->mask;
    }
    LF_TRY(ops->embed(ws->ids, ws->pos, w->word_emb, w->pos_emb, w->type_emb, rows, C, ws->x));
    LF_TRY(ops->layernorm(ws->x, ws->x, rows, C, w->emb_ln_w, w->emb_ln_b, eps));

    for (int64_t l = 0; l < L; l++) {
        int ok =
            ops->gemm(0, 1, rows, 3 * C, C, 1.0f, ws->x, C, w->qkv_w + l * 3 * C * C, C, 0.0f,
                          ws->qkv, 3 * C) == 0 &&
            ops->bias_res(ws->qkv, rows, 3 * C, w->qkv_b + l * 3 * C, NULL) == 0 &&
            ops->split(ws->qkv, 3 * C, B, n, H, D, ws->q) == 0 &&
            ops->split(ws->qkv + C, 3 * C, B, n, H, D, ws->k) == 0 &&
            ops->split(ws->qkv + 2 * C, 3 * C, B, n, H, D, ws->v) == 0 &&
            lf_clock_mark(clock, l, 0) == 0 &&
            lf_layer_attention(ops, attn, ws, l, B, n, dmask, pstride) == 0 &&
            lf_clock_mark(clock, l, 1) == 0 &&
            ops->merge(ws->ctx, B, n, H, D, ws->merged, C) == 0 &&
            ops->gemm(0, 1, rows, C, C, 1.0f, ws->merged, C, w->attn_out_w + l * C * C, C, 0.0f,
                          ws->tmp, C) == 0 &&
            ops->bias_res(ws->tmp, rows, C, w->attn_out_b + l * C, ws->x) == 0 &&
            ops->layernorm(ws->tmp, ws->x, rows, C, w->attn_ln_w + l * C, w->attn_ln_b + l * C,
                              eps) == 0 &&
            ops->gemm(0, 1, rows, I, C, 1.0f, ws->x, C, w->ffn_in_w + l * I * C, C, 0.0f,
                          ws->ffn, I) == 0 &&
            ops->gelu(ws->ffn, ws->ffn, rows, I, w->ffn_in_b + l * I,
                      c->hidden_act == LF_ACT_GELU_TANH) == 0 &&
            ops->gemm(0, 1, rows, C, I, 1.0f, ws->ffn, I, w->ffn_out_w + l * C * I, I, 0.0f,
                          ws->tmp, C) == 0 &&
            ops->bias_res(ws->tmp, rows, C, w->ffn_out_b + l * C, ws->x) == 0 &&
            ops->layernorm(ws->tmp, ws->x, rows, C, w->ffn_ln_w + l * C, w->ffn_ln_b + l * C,
                              eps) == 0;
        if (!ok) {
            lf_error_prefix("%s: layer %lld", fn, (long long)l);
            return -1;
        }
    }
    if (hidden_out) LF_TRY(ops->download(hidden_out, ws->x, (size_t)rows * (size_t)C * sizeof(float)));
    return 0;
}

// lf_forward with the attention timed when attn->seconds asks for it.
static int lf_forward_timed(const lf_enc_ops *ops, const lf_model_cuda *m, const int32_t *ids,
                            const uint8_t *mask, int64_t B, int64_t n,
                            const lf_encoder_attn_cuda *attn, float *hidden_out,
                            lf_encoder_ws_cuda *ws)
{
    if (!attn || !attn->seconds || !m) return lf_forward(ops, m, ids, mask, B, n, attn, hidden_out, ws, NULL);
    const int64_t L = m->config.num_hidden_layers;
    lf_attn_clock clock;
    LF_TRY(lf_clock_init(&clock, ops->on_device, L));
    int rc = lf_forward(ops, m, ids, mask, B, n, attn, hidden_out, ws, &clock);
    if (rc == 0) rc = lf_clock_read(&clock, L, attn->seconds);
    lf_clock_free(&clock);
    return rc;
}

extern "C" int lf_encoder_forward_cuda(const lf_model_cuda *m, const int32_t *ids,
                                       const uint8_t *mask, int64_t B, int64_t n,
                                       const lf_encoder_attn_cuda *attn, float *hidden_out,
                                       lf_encoder_ws_cuda *ws)
{
    return lf_forward_timed(&lf_ops_cuda, m, ids, mask, B, n, attn, hidden_out, ws);
}

extern "C" int lf_encoder_ws_init_cuda(lf_encoder_ws_cuda *ws, const lf_model_cuda *m, int64_t B,
                                       int64_t n)
{
    return lf_ws_init(&lf_ops_cuda, ws, m, B, n);
}

extern "C" void lf_encoder_ws_free_cuda(lf_encoder_ws_cuda *ws) { lf_ws_free(&lf_ops_cuda, ws); }

extern "C" int lf_encoder_forward_emulate(const lf_model *m, const int32_t *ids, const uint8_t *mask,
                                          int64_t B, int64_t n, const lf_encoder_attn_cuda *attn,
                                          float *hidden_out)
{
    if (!m || !m->params) LF_FAIL("lf_encoder_forward_emulate: no model");
    lf_model_cuda hm;
    hm.config = m->config;
    hm.w = m->w; // host weights: the emulation reads them in place
    hm.params = m->params;
    lf_encoder_ws_cuda ws;
    LF_TRY(lf_ws_init(&lf_ops_emulate, &ws, &hm, B, n));
    int rc = lf_forward_timed(&lf_ops_emulate, &hm, ids, mask, B, n, attn, hidden_out, &ws);
    lf_ws_free(&lf_ops_emulate, &ws);
    return rc;
}
