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

extern "C" void lf_encoder_ws_free_cuda(lf_encoder_ws_cuda *ws)
{
    if (!ws) return;
    float *bufs[] = {ws->x, ws->qkv, ws->q, ws->k, ws->v, ws->ctx, ws->merged, ws->tmp, ws->ffn,
                     ws->kb, ws->vb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) lf_cuda_free(bufs[i]);
    lf_cuda_free(ws->slots);
    lf_cuda_free(ws->ids);
    lf_cuda_free(ws->pos);
    lf_cuda_free(ws->mask);
    free(ws->hpos);
    memset(ws, 0, sizeof *ws);
}

extern "C" int lf_encoder_ws_init_cuda(lf_encoder_ws_cuda *ws, const lf_model_cuda *m, int64_t B,
                                       int64_t n)
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
    if (!(ws->x = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->qkv = (float *)lf_cuda_alloc(rows * 3 * (size_t)C * f)) ||
        !(ws->q = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->k = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->v = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->ctx = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->merged = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->tmp = (float *)lf_cuda_alloc(rows * (size_t)C * f)) ||
        !(ws->ffn = (float *)lf_cuda_alloc(rows * (size_t)I * f)) ||
        !(ws->ids = (int32_t *)lf_cuda_alloc(rows * sizeof(int32_t))) ||
        !(ws->pos = (int32_t *)lf_cuda_alloc(rows * sizeof(int32_t))) ||
        !(ws->mask = (uint8_t *)lf_cuda_alloc(rows)) ||
        !(ws->hpos = (int32_t *)malloc(rows * sizeof(int32_t)))) {
        if (ws->x && !ws->hpos && ws->mask) lf_error_set("%s: out of host memory", fn);
        lf_error_prefix("%s: batch %lld x %lld", fn, (long long)B, (long long)n);
        lf_encoder_ws_free_cuda(ws);
        return -1;
    }
    return 0;
}

// Linformer scratch for projections of up to kp rows.
static int lf_ws_reserve_kb(lf_encoder_ws_cuda *ws, int64_t kp)
{
    if (kp <= ws->kb_cap) return 0;
    lf_cuda_free(ws->kb), lf_cuda_free(ws->vb), lf_cuda_free(ws->slots);
    ws->kb = ws->vb = NULL;
    ws->slots = NULL;
    ws->kb_cap = 0;
    if (!(ws->kb = (float *)lf_cuda_alloc((size_t)(kp * ws->D) * sizeof(float))) ||
        !(ws->vb = (float *)lf_cuda_alloc((size_t)(kp * ws->D) * sizeof(float))) ||
        !(ws->slots = (uint8_t *)lf_cuda_alloc(2 * (size_t)kp)))
        return -1;
    ws->kb_cap = kp;
    return 0;
}

// ---- forward --------------------------------------------------------------------------

// x[r, i] = (word[ids[r]] + type[0]) + pos[pos[r]] (Hugging Face's order, as the CPU).
__global__ void embed_kernel(const int32_t *ids, const int32_t *pos, const float *word,
                             const float *posemb, const float *type, int64_t total, int64_t C,
                             float *x)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = e / C, i = e % C;
        x[e] = (word[(int64_t)ids[r] * C + i] + type[i]) + posemb[(int64_t)pos[r] * C + i];
    }
}

// Position-embedding rows as lf_enc_positions (core/encoder.c): BERT offset + i;
// RoBERTa counts the non-pad ids from pad + 1 and gives pad ids row pad.
static void lf_positions(const lf_model_config *c, const int32_t *ids, int64_t B, int64_t n,
                         int32_t *pos)
{
    for (int64_t b = 0; b < B; b++) {
        const int32_t *row = ids + b * n;
        int32_t *prow = pos + b * n;
        if (c->family == LF_MODEL_ROBERTA) {
            int32_t count = 0;
            for (int64_t i = 0; i < n; i++) {
                if (row[i] != c->pad_token_id) count++;
                prow[i] = row[i] != c->pad_token_id ? c->pad_token_id + count : c->pad_token_id;
            }
        } else {
            for (int64_t i = 0; i < n; i++) prow[i] = c->position_offset + (int32_t)i;
        }
    }
}

static const char *const lf_attn_names[] = {"dense", "streamed", "streamed-blas", "linformer"};

extern "C" const char *lf_cuda_attn_name(lf_cuda_attn a)
{
    return (int)a >= 0 && (int)a < 4 ? lf_attn_names[a] : "unknown";
}

// One layer's attention for every (sequence, head): q, k, v, ctx are (B, H, n, D).
static int lf_layer_attention(const lf_encoder_attn_cuda *at, lf_encoder_ws_cuda *ws, int64_t l,
                              int64_t B, int64_t n, const uint8_t *dmask)
{
    const int64_t H = ws->H, D = ws->D, hs = n * D;
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *mb = dmask ? dmask + b * n : NULL;
        float *q = ws->q + b * H * hs, *k = ws->k + b * H * hs, *v = ws->v + b * H * hs;
        float *o = ws->ctx + b * H * hs;
        int rc = 0;
        switch (at->attn) {
        case LF_CUDA_ATTN_DENSE: rc = lf_attention_dense_heads_cuda(q, k, v, mb, H, n, D, D, NULL, o); break;
        case LF_CUDA_ATTN_STREAMED: rc = lf_attention_streamed_heads_cuda(q, k, v, mb, H, n, D, D, o); break;
        case LF_CUDA_ATTN_STREAMED_BLAS:
            for (int64_t h = 0; h < H && rc == 0; h++)
                rc = lf_attention_streamed_blas_cuda(q + h * hs, k + h * hs, v + h * hs, mb, n, D, D,
                                                     o + h * hs);
            break;
        case LF_CUDA_ATTN_LINFORMER:
            for (int64_t h = 0; h < H && rc == 0; h++) {
                const lf_plan *pl = at->plan;
                const int ie = pl->index[(l * H + h) * 2], iv = pl->index[(l * H + h) * 2 + 1];
                const int64_t kp = pl->k[l * H + h];
                rc = lf_ws_reserve_kb(ws, kp);
                if (rc == 0)
                    rc = lf_attention_linformer_ws_cuda(q + h * hs, k + h * hs, v + h * hs, mb, n, D,
                                                        D, &at->proj[ie], &at->proj[iv], kp, NULL,
                                                        o + h * hs, ws->kb, ws->vb, ws->slots);
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

extern "C" int lf_encoder_forward_cuda(const lf_model_cuda *m, const int32_t *ids,
                                       const uint8_t *mask, int64_t B, int64_t n,
                                       const lf_encoder_attn_cuda *attn, float *hidden_out,
                                       lf_encoder_ws_cuda *ws)
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
    lf_encoder_attn_cuda dense = {LF_CUDA_ATTN_DENSE, NULL, NULL};
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
    for (int64_t i = 0; i < rows; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            LF_FAIL("%s: token id %d at sequence %lld position %lld is outside the vocabulary "
                    "[0, %d)",
                    fn, (int)ids[i], (long long)(i / n), (long long)(i % n), c->vocab_size);

    lf_positions(c, ids, B, n, ws->hpos);
    LF_TRY(lf_cuda_upload(ws->ids, ids, (size_t)rows * sizeof(int32_t)));
    LF_TRY(lf_cuda_upload(ws->pos, ws->hpos, (size_t)rows * sizeof(int32_t)));
    const uint8_t *dmask = NULL;
    if (mask) {
        LF_TRY(lf_cuda_upload(ws->mask, mask, (size_t)rows));
        dmask = ws->mask;
    }
    {
        int64_t total = rows * C, blocks = (total + 255) / 256;
        embed_kernel<<<(unsigned)(blocks > 65535 ? 65535 : blocks), 256>>>(
            ws->ids, ws->pos, w->word_emb, w->pos_emb, w->type_emb, total, C, ws->x);
        LF_CUDA_LAUNCHED();
    }
    LF_TRY(lf_layernorm_cuda(ws->x, ws->x, rows, C, w->emb_ln_w, w->emb_ln_b, eps));

    for (int64_t l = 0; l < L; l++) {
        int ok =
            lf_sgemm_cuda(0, 1, rows, 3 * C, C, 1.0f, ws->x, C, w->qkv_w + l * 3 * C * C, C, 0.0f,
                          ws->qkv, 3 * C) == 0 &&
            lf_add_bias_residual_cuda(ws->qkv, rows, 3 * C, w->qkv_b + l * 3 * C, NULL) == 0 &&
            lf_split_heads_cuda(ws->qkv, 3 * C, B, n, H, D, ws->q) == 0 &&
            lf_split_heads_cuda(ws->qkv + C, 3 * C, B, n, H, D, ws->k) == 0 &&
            lf_split_heads_cuda(ws->qkv + 2 * C, 3 * C, B, n, H, D, ws->v) == 0 &&
            lf_layer_attention(attn, ws, l, B, n, dmask) == 0 &&
            lf_merge_heads_cuda(ws->ctx, B, n, H, D, ws->merged, C) == 0 &&
            lf_sgemm_cuda(0, 1, rows, C, C, 1.0f, ws->merged, C, w->attn_out_w + l * C * C, C, 0.0f,
                          ws->tmp, C) == 0 &&
            lf_add_bias_residual_cuda(ws->tmp, rows, C, w->attn_out_b + l * C, ws->x) == 0 &&
            lf_layernorm_cuda(ws->tmp, ws->x, rows, C, w->attn_ln_w + l * C, w->attn_ln_b + l * C,
                              eps) == 0 &&
            lf_sgemm_cuda(0, 1, rows, I, C, 1.0f, ws->x, C, w->ffn_in_w + l * I * C, C, 0.0f,
                          ws->ffn, I) == 0 &&
            (c->hidden_act == LF_ACT_GELU_TANH
                 ? lf_gelu_tanh_cuda(ws->ffn, ws->ffn, rows, I, w->ffn_in_b + l * I)
                 : lf_gelu_cuda(ws->ffn, ws->ffn, rows, I, w->ffn_in_b + l * I)) == 0 &&
            lf_sgemm_cuda(0, 1, rows, C, I, 1.0f, ws->ffn, I, w->ffn_out_w + l * C * I, I, 0.0f,
                          ws->tmp, C) == 0 &&
            lf_add_bias_residual_cuda(ws->tmp, rows, C, w->ffn_out_b + l * C, ws->x) == 0 &&
            lf_layernorm_cuda(ws->tmp, ws->x, rows, C, w->ffn_ln_w + l * C, w->ffn_ln_b + l * C,
                              eps) == 0;
        if (!ok) {
            lf_error_prefix("%s: layer %lld", fn, (long long)l);
            return -1;
        }
    }
    if (hidden_out) LF_TRY(lf_cuda_download(hidden_out, ws->x, (size_t)rows * (size_t)C * sizeof(float)));
    return 0;
}
