/* encoder.c - BERT/RoBERTa encoder forward with attention hooks (see encoder.h).
 *
 * Layout of one layer, rows = B*n tokens of the batch at once:
 *   qkv (rows, 3C) = x Wqkv^T              one lf_sgemm for the three projections
 *   q, k, v (B, H, n, D)                   bias added while splitting the heads, so each
 *                                          head is a contiguous [n, D] block for attention
 *   ctx (B, H, n, D)                       lf_attention_dense per (sequence, head), or a hook
 *   merged (rows, C) -> tmp = merged Wo^T -> x = LN(x + tmp + bo)
 *   ffn (rows, I) = GELU(x W1^T + b1) -> tmp = ffn W2^T -> x = LN(x + tmp + b2)
 */
#include "encoder.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.h"
#include "error.h"
#include "gemm.h"
#include "mem.h"
#include "parallel.h"

#define LF_ENC_ALIGN 64

static size_t lf_enc_round(size_t bytes)
{
    return (bytes + LF_ENC_ALIGN - 1) / LF_ENC_ALIGN * LF_ENC_ALIGN;
}

void lf_encoder_ws_free(lf_encoder_ws *ws)
{
    if (!ws) return;
    lf_free(ws->mem);
    lf_free(ws->probs);
    memset(ws, 0, sizeof *ws);
}

static int lf_enc_check_len(const lf_model_config *c, int64_t B, int64_t n, const char *fn)
{
    if (B < 1 || n < 1)
        LF_FAIL("%s: batch %lld x %lld tokens: sizes must be positive", fn, (long long)B,
                (long long)n);
    if (n > c->max_seq_len)
        LF_FAIL("%s: sequence length %lld exceeds the model's maximum of %d positions "
                "(max_position_embeddings %d)",
                fn, (long long)n, c->max_seq_len, c->max_position_embeddings);
    /* lf_sgemm and BLAS take int dimensions: rows * max(3C, I) must stay in range. */
    if (B > INT32_MAX / n)
        LF_FAIL("%s: batch %lld x %lld tokens is too large", fn, (long long)B, (long long)n);
    return 0;
}

int lf_encoder_ws_init(lf_encoder_ws *ws, const lf_model *m, int64_t B, int64_t n)
{
    const char *fn = "lf_encoder_ws_init";
    if (!ws) LF_FAIL("%s: no workspace (NULL)", fn);
    memset(ws, 0, sizeof *ws);
    if (!m) LF_FAIL("%s: no model (NULL)", fn);
    const lf_model_config *c = &m->config;
    LF_TRY(lf_enc_check_len(c, B, n, fn));
    const size_t rows = (size_t)B * (size_t)n, C = (size_t)c->hidden_size,
                 I = (size_t)c->intermediate_size;
    size_t rc, ri;
    if (lf_size_mul(rows, C, &rc) || lf_size_mul(rows, I, &ri) || rc > SIZE_MAX / 16 ||
        ri > SIZE_MAX / 16) {
        lf_error_prefix("%s: batch %lld x %lld", fn, (long long)B, (long long)n);
        return -1;
    }
    /* x, qkv (3), q, k, v, ctx, merged, tmp: 10 row-by-C blocks; ffn; pos. */
    const size_t fbytes = sizeof(float);
    size_t sizes[] = {rc * fbytes,     3 * rc * fbytes, rc * fbytes, rc * fbytes,
                      rc * fbytes,     rc * fbytes,     rc * fbytes, rc * fbytes,
                      ri * fbytes,     rows * sizeof(int32_t)};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t r = lf_enc_round(sizes[i]);
        if (total > SIZE_MAX - r) LF_FAIL("%s: workspace too large", fn);
        total += r;
    }
    unsigned char *mem = lf_alloc(total, 1);
    if (!mem) {
        lf_error_prefix("%s: workspace for %lld x %lld tokens", fn, (long long)B, (long long)n);
        return -1;
    }
    unsigned char *p = mem;
    void **slots[] = {(void **)&ws->x,   (void **)&ws->qkv,    (void **)&ws->q,
                      (void **)&ws->k,   (void **)&ws->v,      (void **)&ws->ctx,
                      (void **)&ws->merged, (void **)&ws->tmp, (void **)&ws->ffn,
                      (void **)&ws->pos};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *slots[i] = p;
        p += lf_enc_round(sizes[i]);
    }
    ws->mem = (float *)mem;
    ws->B = B;
    ws->n = n;
    ws->C = c->hidden_size;
    ws->H = c->num_attention_heads;
    ws->D = c->head_dim;
    ws->I = c->intermediate_size;
    return 0;
}

/* (encoder.h) Statistics in double (two passes): the mean is removed before the
 * squares are summed, so no cancellation, and eps down to 1e-12 still counts. */
void lf_enc_layernorm(float *y, int64_t C, const float *w, const float *b, double eps)
{
    double sum = 0;
    for (int64_t i = 0; i < C; i++) sum += y[i];
    const double mean = sum / (double)C;
    double sq = 0;
    for (int64_t i = 0; i < C; i++) {
        double d = (double)y[i] - mean;
        sq += d * d;
    }
    const double inv = 1.0 / sqrt(sq / (double)C + eps);
    for (int64_t i = 0; i < C; i++)
        y[i] = (float)(((double)y[i] - mean) * inv * (double)w[i] + (double)b[i]);
}

float lf_enc_gelu(float x, lf_activation act)
{
    if (act == LF_ACT_GELU_TANH) {
        const float k = 0.7978845608028654f; /* sqrt(2/pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

/* Position-embedding rows (see encoder.h); the CUDA encoder uses these too. */
void lf_encoder_positions(const lf_model_config *c, const int32_t *ids, int64_t B, int64_t n,
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

double lf_encoder_flops(const lf_model_config *c, int64_t B, int64_t n)
{
    const double rows = (double)B * (double)n, C = c->hidden_size, I = c->intermediate_size;
    const double per_layer = 2.0 * rows * C * (3.0 * C + C + 2.0 * I) /* projections, FFN */
                             + 4.0 * (double)B * (double)n * (double)n * C; /* QK^T and PV */
    return per_layer * c->num_hidden_layers;
}

/* Dense attention of one layer for every (sequence, head). P goes to
 * pbase + b * pstride + h n^2 when pbase is set. */
static int lf_enc_dense(const lf_encoder_ws *ws, const uint8_t *mask, int64_t B, int64_t n,
                        float *pbase, int64_t pstride, int nt)
{
    const int64_t H = ws->H, D = ws->D, pairs = B * H;
    int failed = 0;
    char msg[256] = "";
    /* Enough pairs: one pair per thread at a time, each attention serial inside
     * (nested regions run one thread). Few pairs: pairs in turn, each parallel over
     * its query blocks. lf_attention_dense gives the same bits either way. */
    const int outer = nt > 1 && pairs >= nt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (outer)
    for (int64_t pair = 0; pair < pairs; pair++) {
        int64_t b = pair / H, h = pair % H;
        size_t off = (size_t)pair * (size_t)n * (size_t)D;
        float *p = pbase ? pbase + b * pstride + h * n * n : NULL;
        int rc = lf_attention_dense(ws->q + off, ws->k + off, ws->v + off, mask ? mask + b * n : NULL,
                                    n, D, D, p, ws->ctx + off);
        if (rc != 0) {
#pragma omp critical(lf_enc_error)
            if (!failed) {
                failed = 1;
                snprintf(msg, sizeof msg, "sequence %lld head %lld: %s", (long long)b,
                         (long long)h, lf_error_get());
            }
        }
    }
    if (failed) LF_FAIL("%s", msg);
    return 0;
}

int lf_encoder_forward_hooked(const lf_model *m, const int32_t *ids, const uint8_t *mask,
                              int64_t B, int64_t n, const lf_encoder_hooks *hooks,
                              float *hidden_out, float *probs, lf_encoder_ws *ws)
{
    const char *fn = "lf_encoder_forward";
    if (!m || !ids || !ws) LF_FAIL("%s: NULL model, ids or workspace", fn);
    const lf_model_config *c = &m->config;
    const lf_model_weights *w = &m->w;
    LF_TRY(lf_enc_check_len(c, B, n, fn));
    if (!ws->mem) LF_FAIL("%s: workspace not initialized (lf_encoder_ws_init)", fn);
    if (ws->C != c->hidden_size || ws->H != c->num_attention_heads ||
        ws->I != c->intermediate_size)
        LF_FAIL("%s: the workspace was made for another model (hidden %lld, heads %lld)", fn,
                (long long)ws->C, (long long)ws->H);
    if (B > ws->B || n > ws->n)
        LF_FAIL("%s: batch %lld x %lld tokens exceeds the workspace's %lld x %lld", fn,
                (long long)B, (long long)n, (long long)ws->B, (long long)ws->n);
    if (hooks && hooks->attention && probs)
        LF_FAIL("%s: probs cannot be collected when a hook replaces dense attention", fn);
    for (int64_t i = 0; i < B * n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            LF_FAIL("%s: token id %d at sequence %lld position %lld is outside the vocabulary "
                    "[0, %d)",
                    fn, (int)ids[i], (long long)(i / n), (long long)(i % n), c->vocab_size);

    const int nt = lf_threads_get();
    const int64_t C = c->hidden_size, H = c->num_attention_heads, D = c->head_dim,
                  I = c->intermediate_size, L = c->num_hidden_layers, rows = B * n;
    const double eps = c->layer_norm_eps;
    const lf_activation act = c->hidden_act;

    /* Where this call's P goes: the caller's (B, L, H, n, n), else one layer's worth in
     * the workspace when an observer asked for it, else nowhere. */
    const int want_ws_probs = !probs && hooks && hooks->observe && hooks->keep_probs &&
                              !hooks->attention;
    if (want_ws_probs && !ws->probs) {
        size_t count;
        int64_t dims[4] = {ws->B, H, ws->n, ws->n};
        if (lf_size_dims(4, dims, &count) != 0) return -1;
        ws->probs = lf_alloc(count, sizeof(float));
        if (!ws->probs) {
            lf_error_prefix("%s: attention probabilities of one layer", fn);
            return -1;
        }
    }
    const int64_t pstride = probs ? L * H * n * n : H * n * n;

    /* Embeddings. */
    lf_encoder_positions(c, ids, B, n, ws->pos);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        const float *we = w->word_emb + (int64_t)ids[r] * C;
        const float *pe = w->pos_emb + (int64_t)ws->pos[r] * C;
        const float *te = w->type_emb; /* token type 0 */
        float *x = ws->x + r * C;
        /* Hugging Face's order: (word + type) + position. */
        for (int64_t i = 0; i < C; i++) x[i] = (we[i] + te[i]) + pe[i];
        lf_enc_layernorm(x, C, w->emb_ln_w, w->emb_ln_b, eps);
    }

    for (int64_t l = 0; l < L; l++) {
        /* Q, K, V of every token in one product, then split into heads. */
        lf_sgemm(0, 1, rows, 3 * C, C, 1.0f, ws->x, C, w->qkv_w + l * 3 * C * C, C, 0.0f, ws->qkv,
                 3 * C);
        const float *bqkv = w->qkv_b + l * 3 * C;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t b = r / n, i = r % n;
            const float *src = ws->qkv + r * 3 * C;
            for (int64_t h = 0; h < H; h++) {
                const int64_t dst = ((b * H + h) * n + i) * D;
                for (int64_t j = 0; j < D; j++) {
                    ws->q[dst + j] = src[h * D + j] + bqkv[h * D + j];
                    ws->k[dst + j] = src[C + h * D + j] + bqkv[C + h * D + j];
                    ws->v[dst + j] = src[2 * C + h * D + j] + bqkv[2 * C + h * D + j];
                }
            }
        }

        float *pbase = probs ? probs + l * H * n * n : want_ws_probs ? ws->probs : NULL;
        lf_encoder_attn a = {.layer = (int)l,
                             .num_layers = (int)L,
                             .B = B,
                             .n = n,
                             .H = H,
                             .D = D,
                             .mask = mask,
                             .hidden = ws->x,
                             .q = ws->q,
                             .k = ws->k,
                             .v = ws->v,
                             .out = ws->ctx,
                             .probs = NULL,
                             .probs_seq_stride = 0};
        if (hooks && hooks->attention) {
            if (hooks->attention(hooks->user, &a) != 0) {
                lf_error_prefix("%s: layer %lld: attention hook", fn, (long long)l);
                return -1;
            }
        } else if (lf_enc_dense(ws, mask, B, n, pbase, pstride, nt) != 0) {
            lf_error_prefix("%s: layer %lld", fn, (long long)l);
            return -1;
        }
        if (hooks && hooks->observe) {
            a.probs = hooks->attention ? NULL : pbase;
            a.probs_seq_stride = a.probs ? pstride : 0;
            if (hooks->observe(hooks->user, &a) != 0) {
                lf_error_prefix("%s: layer %lld: observer", fn, (long long)l);
                return -1;
            }
        }

        /* Heads back to token rows, output projection, residual, LayerNorm. */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t b = r / n, i = r % n;
            for (int64_t h = 0; h < H; h++)
                memcpy(ws->merged + r * C + h * D, ws->ctx + ((b * H + h) * n + i) * D,
                       (size_t)D * sizeof(float));
        }
        lf_sgemm(0, 1, rows, C, C, 1.0f, ws->merged, C, w->attn_out_w + l * C * C, C, 0.0f, ws->tmp,
                 C);
        const float *bo = w->attn_out_b + l * C;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t r = 0; r < rows; r++) {
            float *x = ws->x + r * C;
            const float *t = ws->tmp + r * C;
            for (int64_t i = 0; i < C; i++) x[i] = (t[i] + bo[i]) + x[i];
            lf_enc_layernorm(x, C, w->attn_ln_w + l * C, w->attn_ln_b + l * C, eps);
        }

        /* Feed-forward. */
        lf_sgemm(0, 1, rows, I, C, 1.0f, ws->x, C, w->ffn_in_w + l * I * C, C, 0.0f, ws->ffn, I);
        const float *b1 = w->ffn_in_b + l * I;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t r = 0; r < rows; r++) {
            float *f = ws->ffn + r * I;
            for (int64_t i = 0; i < I; i++) f[i] = lf_enc_gelu(f[i] + b1[i], act);
        }
        lf_sgemm(0, 1, rows, C, I, 1.0f, ws->ffn, I, w->ffn_out_w + l * C * I, I, 0.0f, ws->tmp, C);
        const float *b2 = w->ffn_out_b + l * C;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t r = 0; r < rows; r++) {
            float *x = ws->x + r * C;
            const float *t = ws->tmp + r * C;
            for (int64_t i = 0; i < C; i++) x[i] = (t[i] + b2[i]) + x[i];
            lf_enc_layernorm(x, C, w->ffn_ln_w + l * C, w->ffn_ln_b + l * C, eps);
        }
    }
    if (hidden_out) memcpy(hidden_out, ws->x, (size_t)rows * (size_t)C * sizeof(float));
    return 0;
}

int lf_encoder_forward(const lf_model *m, const int32_t *ids, const uint8_t *mask, int64_t B,
                       int64_t n, float *hidden_out, float *probs, lf_encoder_ws *ws)
{
    return lf_encoder_forward_hooked(m, ids, mask, B, n, NULL, hidden_out, probs, ws);
}
