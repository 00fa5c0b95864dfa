// mlm_cuda.cu - the masked-LM loss and its gradient on the GPU (lf_mlm_cuda_loss), twin
// of lf_mlm_loss (core/mlm_impl.h, float32 build): the same steps in the same order,
// with the products in cuBLAS (FP32) and the rest in the kernels of mlm_ops_cuda.cu.
// Per attention head the products run batched over the sequences of the batch
// (strided-batched cuBLAS), where the CPU loops over (sequence, head). With emulate set
// at creation every step runs on the host instead (the kernels' bodies, products by
// lf_sgemm_emulate), one code path for both, so tests/test_cuda_mlm.c checks this file
// against the CPU model without a GPU.
//
// Not on the GPU yet: dropout, and the mean / max pooling and convolution projections
// (creation or the call fails, naming them).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.h"
#include "mlm_ops_cuda.h"

namespace {

struct layer_off {
    size_t wqkv, bqkv, wo, bo, ln1g, ln1b, w1, b1, w2, b2, ln2g, ln2b;
};

enum { kMaxBuffers = 64 };

} // namespace

struct lf_mlm_cuda {
    int dev; // 1: device, 0: host emulation
    const lf_mlm *host;
    lf_mlm_config cfg;
    const lf_plan *plan;
    int64_t kmax;
    size_t n_params;
    size_t tok, pos, lneg, lneb, obias;
    layer_off *lay;
    size_t *proj_off;
    // parameters and gradients
    float *P, *G;
    // work space for batches up to capB x capN
    int64_t capB, capN;
    float *x, *qkv, *q, *k, *v, *kb, *vb, *p, *ctx, *ain, *h, *fin, *xh1, *xh2, *u, *g, *xhe, *hid;
    double *rs1, *rs2, *rse, *colsum, *row_loss;
    float *d1, *d2, *d3, *d4, *df, *dp, *dkb, *dvb, *dk, *dv, *pg, *logits, *hm;
    int64_t pg_stride;
    int64_t *masked;
    int32_t *ids, *targets;
    int32_t *e_uid, *e_start, *e_order; // rows grouped by token id (lf_tr_embed_groups)
    uint8_t *mask, *slots;
    void *bufs[kMaxBuffers];
    int n_bufs;
    // host staging
    int64_t *h_masked;
    int32_t *h_targets;
    uint8_t *h_slots;
    double *h_row_loss;
    int32_t *h_e_count, *h_e_uid, *h_e_start, *h_e_order;
};

// ---- memory on the device or the host ---------------------------------------------------

static void *buf_alloc(lf_mlm_cuda *g, size_t count, size_t size)
{
    if (g->n_bufs >= kMaxBuffers) {
        lf_error_set("mlm cuda: too many buffers");
        return NULL;
    }
    size_t bytes = (count ? count : 1) * size;
    void *p = g->dev ? lf_cuda_alloc(bytes) : calloc(1, bytes);
    if (!p && !g->dev) lf_error_set("mlm cuda: out of host memory (%zu bytes)", bytes);
    if (p) g->bufs[g->n_bufs++] = p;
    return p;
}

// Frees the buffers from index `from` on (0: all; 2: the work space, keeping P and G).
static void bufs_free(lf_mlm_cuda *g, int from)
{
    for (int i = from; i < g->n_bufs; i++) {
        if (g->dev)
            lf_cuda_free(g->bufs[i]);
        else
            free(g->bufs[i]);
    }
    if (from < g->n_bufs) g->n_bufs = from;
}

static int up(const lf_mlm_cuda *g, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return 0;
    if (g->dev) return lf_cuda_upload(dst, src, bytes);
    memcpy(dst, src, bytes);
    return 0;
}

static int down(const lf_mlm_cuda *g, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return 0;
    if (g->dev) return lf_cuda_download(dst, src, bytes);
    memcpy(dst, src, bytes);
    return 0;
}

static int copy(const lf_mlm_cuda *g, float *dst, const float *src, int64_t count)
{
    if (count <= 0) return 0;
    if (g->dev) {
        LF_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)count * sizeof(float),
                                      cudaMemcpyDeviceToDevice));
        return 0;
    }
    memmove(dst, src, (size_t)count * sizeof(float));
    return 0;
}

static int zero(const lf_mlm_cuda *g, void *dst, size_t bytes)
{
    if (!bytes) return 0;
    if (g->dev) {
        LF_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes));
        return 0;
    }
    memset(dst, 0, bytes);
    return 0;
}

// ---- products -----------------------------------------------------------------------------

static int mm(const lf_mlm_cuda *g, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc)
{
    if (g->dev) return lf_sgemm_cuda_ex(LF_CUDA_FP32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return lf_sgemm_emulate(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// batch products, matrix i at a + i sa, b + i sb, c + i sc.
static int mmb(const lf_mlm_cuda *g, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, int64_t sa, const float *b, int64_t ldb, int64_t sb,
               float beta, float *c, int64_t ldc, int64_t sc, int64_t batch)
{
    if (g->dev)
        return lf_sgemm_batched_cuda(ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc,
                                     sc, batch);
    for (int64_t i = 0; i < batch; i++)
        LF_TRY(lf_sgemm_emulate(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta,
                                c + i * sc, ldc));
    return 0;
}

static int bias_res(const lf_mlm_cuda *g, float *y, int64_t rows, int64_t cols, const float *bias,
                    const float *res)
{
    return g->dev ? lf_add_bias_residual_cuda(y, rows, cols, bias, res)
                  : lf_add_bias_residual_emulate(y, rows, cols, bias, res);
}

// dx = (accumulate ? dx : 0) + LN backward of dy; dgam += sum dy xhat, dbeta += sum dy
// (column sums first: dx may alias dy when not accumulating).
static int ln_back(lf_mlm_cuda *g, const float *dy, const float *xhat, const double *rstd,
                   int64_t rows, int64_t C, const float *gam, float *dx, int accumulate, float *dgam,
                   float *dbeta)
{
    LF_TRY(lf_tr_colsum(g->dev, dy, xhat, rows, C, C, g->colsum, dbeta, dgam));
    return lf_tr_ln_backward_rows(g->dev, dy, xhat, rstd, rows, C, gam, dx, accumulate);
}

// ---- creation -------------------------------------------------------------------------------

extern "C" void lf_mlm_cuda_free(lf_mlm_cuda *g)
{
    if (!g) return;
    bufs_free(g, 0);
    free(g->lay);
    free(g->proj_off);
    free(g->h_masked);
    free(g->h_targets);
    free(g->h_slots);
    free(g->h_row_loss);
    free(g->h_e_count);
    free(g->h_e_uid);
    free(g->h_e_start);
    free(g->h_e_order);
    free(g);
}

extern "C" int lf_mlm_cuda_create(lf_mlm_cuda **out, const lf_mlm *m, int emulate)
{
    const char *fn = "mlm cuda create";
    if (!out) LF_FAIL("%s: NULL output", fn);
    *out = NULL;
    if (!m) LF_FAIL("%s: NULL model", fn);
    const lf_mlm_config *c = lf_mlm_get_config(m);
    if (c->heads > 32) LF_FAIL("%s: %d heads (the GPU path takes at most 32)", fn, c->heads);
    const lf_plan *plan = lf_mlm_plan(m);
    if (plan)
        for (int p = 0; p < plan->n_proj; p++)
            if (plan->proj[p].kind != LF_PROJ_LINEAR && plan->proj[p].kind != LF_PROJ_GAUSSIAN)
                LF_FAIL("%s: %s projections are not on the GPU yet (linear and gaussian are)", fn,
                        lf_proj_kind_name(plan->proj[p].kind));
    lf_mlm_cuda *g = (lf_mlm_cuda *)calloc(1, sizeof *g);
    if (!g) LF_FAIL("%s: out of memory", fn);
    g->dev = !emulate;
    g->host = m;
    g->cfg = *c;
    g->plan = plan;
    g->n_params = lf_mlm_param_count(m);
    const int L = c->layers, H = c->heads, n_proj = plan ? plan->n_proj : 0;
    if (plan)
        for (int i = 0; i < L * H; i++)
            if (c->k[i] > g->kmax) g->kmax = c->k[i];
    // The parameter layout from the group table: tok, pos, LN g, LN b, out bias, 12 per
    // layer, then one per projection (linear and gaussian all have weights).
    const lf_param_group *gr;
    const int ng = lf_mlm_groups(m, &gr);
    g->lay = (layer_off *)calloc((size_t)L, sizeof *g->lay);
    g->proj_off = (size_t *)calloc((size_t)(n_proj > 0 ? n_proj : 1), sizeof *g->proj_off);
    if (!g->lay || !g->proj_off) {
        lf_mlm_cuda_free(g);
        LF_FAIL("%s: out of memory", fn);
    }
    if (ng != 5 + 12 * L + n_proj) {
        lf_mlm_cuda_free(g);
        LF_FAIL("%s: %d parameter groups, expected %d", fn, ng, 5 + 12 * L + n_proj);
    }
    g->tok = gr[0].offset;
    g->pos = gr[1].offset;
    g->lneg = gr[2].offset;
    g->lneb = gr[3].offset;
    g->obias = gr[4].offset;
    for (int l = 0; l < L; l++) {
        size_t *dst[] = {&g->lay[l].wqkv, &g->lay[l].bqkv, &g->lay[l].wo,   &g->lay[l].bo,
                         &g->lay[l].ln1g, &g->lay[l].ln1b, &g->lay[l].w1,   &g->lay[l].b1,
                         &g->lay[l].w2,   &g->lay[l].b2,   &g->lay[l].ln2g, &g->lay[l].ln2b};
        for (int t = 0; t < 12; t++) *dst[t] = gr[5 + 12 * l + t].offset;
    }
    for (int p = 0; p < n_proj; p++) g->proj_off[p] = gr[5 + 12 * L + p].offset;
    g->P = (float *)buf_alloc(g, g->n_params, sizeof(float));
    g->G = (float *)buf_alloc(g, g->n_params, sizeof(float));
    if (!g->P || !g->G) {
        lf_error_prefix(fn);
        lf_mlm_cuda_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

// Work space for B x n (kept while batches fit).
static int ws_ensure(lf_mlm_cuda *g, int64_t B, int64_t n)
{
    if (B <= g->capB && n <= g->capN) return 0;
    if (B < g->capB) B = g->capB; // grow to cover both the old and the new batch
    if (n < g->capN) n = g->capN;
    bufs_free(g, 2); // keep P and G, the first two buffers
    free(g->h_masked);
    free(g->h_targets);
    free(g->h_slots);
    free(g->h_row_loss);
    free(g->h_e_count);
    free(g->h_e_uid);
    free(g->h_e_start);
    free(g->h_e_order);
    g->h_masked = NULL;
    g->h_targets = NULL;
    g->h_slots = NULL;
    g->h_row_loss = NULL;
    g->h_e_count = g->h_e_uid = g->h_e_start = g->h_e_order = NULL;
    g->capB = g->capN = 0;
    const lf_mlm_config *c = &g->cfg;
    const size_t L = (size_t)c->layers, H = (size_t)c->heads, C = (size_t)c->dim,
                 F = (size_t)c->ffn, V = (size_t)c->vocab, D = C / H;
    const size_t rows = (size_t)(B * n), K = (size_t)g->kmax, W = c->linformer ? K : (size_t)n;
    const size_t wide = 3 * C > F ? (3 * C > V ? 3 * C : V) : (F > V ? F : V);
    int bad = 0;
#define A(field, count, type)                                                                      \
    do {                                                                                           \
        g->field = (type *)buf_alloc(g, (count), sizeof(type));                                    \
        bad |= !g->field;                                                                          \
    } while (0)
    A(x, (L + 1) * rows * C, float);
    A(qkv, rows * 3 * C, float);
    A(q, L * rows * C, float);
    A(k, L * rows * C, float);
    A(v, L * rows * C, float);
    A(p, L * (size_t)B * H * (size_t)n * W, float);
    A(ctx, L * rows * C, float);
    const size_t pre = c->pre_ln ? L * rows * C : 0; // post-LN: ain is x, fin is h
    A(ain, pre, float);
    A(h, L * rows * C, float);
    A(fin, pre, float);
    A(xh1, L * rows * C, float);
    A(xh2, L * rows * C, float);
    A(u, L * rows * F, float);
    A(g, L * rows * F, float);
    A(xhe, rows * C, float);
    A(hid, rows * C, float);
    A(rs1, L * rows, double);
    A(rs2, L * rows, double);
    A(rse, rows, double);
    A(colsum, (size_t)lf_tr_colsum_scratch((int64_t)rows, (int64_t)wide), double);
    A(row_loss, rows, double);
    A(d1, rows * C, float);
    A(d2, rows * C, float);
    A(d3, rows * C, float);
    A(d4, rows * C, float);
    A(df, rows * F, float);
    A(dp, (size_t)B * H * (size_t)n * W, float);
    A(dk, rows * C, float);
    A(dv, rows * C, float);
    A(logits, rows * V, float);
    A(hm, rows * C, float);
    A(masked, rows, int64_t);
    A(ids, rows, int32_t);
    A(targets, rows, int32_t);
    A(e_uid, rows, int32_t);
    A(e_start, rows + 1, int32_t);
    A(e_order, rows, int32_t);
    A(mask, rows, uint8_t);
    if (c->linformer) {
        A(kb, L * (size_t)B * H * K * D, float);
        A(vb, L * (size_t)B * H * K * D, float);
        A(dkb, (size_t)B * H * K * D, float);
        A(dvb, (size_t)B * H * K * D, float);
        A(slots, L * (size_t)B * H * 2 * K, uint8_t);
        g->pg_stride = (int64_t)K * c->max_len;
        A(pg, (size_t)B * H * 2 * (size_t)g->pg_stride, float);
    }
#undef A
    g->h_masked = (int64_t *)malloc(rows * sizeof(int64_t));
    g->h_targets = (int32_t *)malloc(rows * sizeof(int32_t));
    g->h_row_loss = (double *)malloc(rows * sizeof(double));
    g->h_slots = (uint8_t *)malloc(c->linformer ? L * (size_t)B * H * 2 * K : 1);
    g->h_e_count = (int32_t *)malloc((V + 1) * sizeof(int32_t));
    g->h_e_uid = (int32_t *)malloc(rows * sizeof(int32_t));
    g->h_e_start = (int32_t *)malloc((rows + 1) * sizeof(int32_t));
    g->h_e_order = (int32_t *)malloc(rows * sizeof(int32_t));
    if (bad || !g->h_masked || !g->h_targets || !g->h_row_loss || !g->h_slots || !g->h_e_count ||
        !g->h_e_uid || !g->h_e_start || !g->h_e_order) {
        if (!bad) lf_error_set("out of host memory");
        lf_error_prefix("mlm cuda: work space for a batch of %lld x %lld", (long long)B,
                        (long long)n);
        return -1;
    }
    g->capB = B;
    g->capN = n;
    return 0;
}

// ---- forward --------------------------------------------------------------------------------

struct step {
    int64_t B, n, rows, C, H, D, F;
    const uint8_t *mask; // work-space copy, NULL without padding
};

static float *ain_of(lf_mlm_cuda *g, const step &s, int64_t l)
{
    return g->cfg.pre_ln ? g->ain + l * s.rows * s.C : g->x + l * s.rows * s.C;
}
static float *fin_of(lf_mlm_cuda *g, const step &s, int64_t l)
{
    return g->cfg.pre_ln ? g->fin + l * s.rows * s.C : g->h + l * s.rows * s.C;
}

// The projection of layer l, head h, which (0 = E, 1 = F): weights and scale.
static const lf_proj *proj_of(lf_mlm_cuda *g, int64_t l, int64_t h, int which, const float **w,
                              float *alpha)
{
    const int p = g->plan->index[(l * g->cfg.heads + h) * 2 + which];
    const lf_proj *pr = &g->plan->proj[p];
    const int64_t kp = g->cfg.k[l * g->cfg.heads + h];
    *w = g->P + g->proj_off[p];
    *alpha = (pr->kind == LF_PROJ_GAUSSIAN && kp < pr->k) ? (float)sqrt((double)pr->k / (double)kp)
                                                         : 1.0f;
    return pr;
}

// Head h of layer l as attention reads it: its keys and values (Linformer: the projected
// ones), their stride from one sequence to the next, their number w (the width of the
// probabilities), and which of them count (valid + b valid_stride; NULL: all).
struct head_kv {
    float *keys, *vals;
    int64_t stride, w;
    const uint8_t *valid;
    int64_t valid_stride;
};

static head_kv kv_of(lf_mlm_cuda *g, const step &s, int64_t l, int64_t h)
{
    const int64_t B = s.B, n = s.n, H = s.H, D = s.D, K = g->kmax;
    if (g->cfg.linformer) {
        const int64_t off = (l * B * H + h) * K * D;
        return head_kv{g->kb + off, g->vb + off, H * K * D, g->cfg.k[l * H + h],
                       g->slots + (l * B * H + h) * 2 * K, H * 2 * K};
    }
    const int64_t off = l * s.rows * s.C + h * n * D;
    return head_kv{g->k + off, g->v + off, H * n * D, n, s.mask, n};
}

static int attention_forward(lf_mlm_cuda *g, const step &s, int64_t l)
{
    const int64_t B = s.B, n = s.n, rows = s.rows, C = s.C, H = s.H, D = s.D;
    const int64_t W = g->cfg.linformer ? g->kmax : n;
    const layer_off &lo = g->lay[l];
    float *q = g->q + l * rows * C, *k = g->k + l * rows * C, *v = g->v + l * rows * C;
    float *ctx = g->ctx + l * rows * C, *p = g->p + l * B * H * n * W;
    LF_TRY(mm(g, 0, 1, rows, 3 * C, C, 1, ain_of(g, s, l), C, g->P + lo.wqkv, C, 0, g->qkv, 3 * C));
    LF_TRY(lf_tr_qkv_split(g->dev, g->qkv, g->P + lo.bqkv, s.mask, B, n, H, D, q, k, v));
    const float scale = (float)(1.0 / sqrt((double)D));
    for (int64_t h = 0; h < H; h++) {
        const float *qh = q + h * n * D;
        const head_kv kv = kv_of(g, s, l, h);
        if (g->cfg.linformer) // Kb = E K, Vb = F V
            for (int which = 0; which < 2; which++) {
                const float *w;
                float alpha;
                const lf_proj *pr = proj_of(g, l, h, which, &w, &alpha);
                LF_TRY(mmb(g, 0, 0, kv.w, D, n, alpha, w, pr->n, 0, (which ? v : k) + h * n * D, D,
                           H * n * D, 0, which ? kv.vals : kv.keys, D, kv.stride, B));
            }
        float *ph = p + h * n * W;
        LF_TRY(mmb(g, 0, 1, n, kv.w, D, scale, qh, D, H * n * D, kv.keys, D, kv.stride, 0, ph, kv.w,
                   H * n * W, B));
        LF_TRY(lf_tr_softmax(g->dev, ph, B, H * n * W, n, kv.w, kv.w, kv.valid, kv.valid_stride));
        LF_TRY(mmb(g, 0, 0, n, D, kv.w, 1, ph, kv.w, H * n * W, kv.vals, D, kv.stride, 0,
                   ctx + h * D, C, n * C, B));
    }
    return 0;
}

static int layer_forward(lf_mlm_cuda *g, const step &s, int64_t l)
{
    const int64_t rows = s.rows, C = s.C, F = s.F;
    const layer_off &lo = g->lay[l];
    const float *P = g->P;
    const double eps = g->cfg.ln_eps;
    float *xin = g->x + l * rows * C, *xout = g->x + (l + 1) * rows * C;
    float *h = g->h + l * rows * C, *xh1 = g->xh1 + l * rows * C, *xh2 = g->xh2 + l * rows * C;
    double *rs1 = g->rs1 + l * rows, *rs2 = g->rs2 + l * rows;
    float *u = g->u + l * rows * F, *gl = g->g + l * rows * F;
    if (g->cfg.pre_ln)
        LF_TRY(lf_tr_ln_forward(g->dev, xin, rows, C, P + lo.ln1g, P + lo.ln1b, eps, xh1, rs1,
                                ain_of(g, s, l)));
    LF_TRY(attention_forward(g, s, l));
    float *a = g->d1;
    LF_TRY(mm(g, 0, 1, rows, C, C, 1, g->ctx + l * rows * C, C, P + lo.wo, C, 0, a, C));
    LF_TRY(bias_res(g, a, rows, C, P + lo.bo, xin));
    if (g->cfg.pre_ln) {
        LF_TRY(copy(g, h, a, rows * C));
        LF_TRY(lf_tr_ln_forward(g->dev, h, rows, C, P + lo.ln2g, P + lo.ln2b, eps, xh2, rs2,
                                fin_of(g, s, l)));
    } else {
        LF_TRY(lf_tr_ln_forward(g->dev, a, rows, C, P + lo.ln1g, P + lo.ln1b, eps, xh1, rs1, h));
    }
    LF_TRY(mm(g, 0, 1, rows, F, C, 1, fin_of(g, s, l), C, P + lo.w1, C, 0, u, F));
    LF_TRY(lf_tr_bias_gelu(g->dev, u, gl, rows, F, P + lo.b1));
    float *f = g->d1;
    LF_TRY(mm(g, 0, 1, rows, C, F, 1, gl, F, P + lo.w2, F, 0, f, C));
    LF_TRY(bias_res(g, f, rows, C, P + lo.b2, h));
    if (g->cfg.pre_ln) return copy(g, xout, f, rows * C);
    return lf_tr_ln_forward(g->dev, f, rows, C, P + lo.ln2g, P + lo.ln2b, eps, xh2, rs2, xout);
}

// ---- backward -------------------------------------------------------------------------------

// dctx [rows, C] -> dqkv [rows, 3C] (in g->qkv) and the layer's projection gradients.
static int attention_backward(lf_mlm_cuda *g, const step &s, int64_t l, const float *dctx)
{
    const int64_t B = s.B, n = s.n, rows = s.rows, C = s.C, H = s.H, D = s.D;
    const int lin = g->cfg.linformer;
    const int64_t K = g->kmax, W = lin ? K : n;
    const float *q = g->q + l * rows * C, *k = g->k + l * rows * C, *v = g->v + l * rows * C;
    const float *p = g->p + l * B * H * n * W;
    float *dqkv = g->qkv;
    const float scale = (float)(1.0 / sqrt((double)D));
    const int learn = lin && g->cfg.kind == LF_PROJ_LINEAR;
    if (learn) LF_TRY(zero(g, g->pg, (size_t)(B * H * 2 * g->pg_stride) * sizeof(float)));
    for (int64_t h = 0; h < H; h++) {
        const float *qh = q + h * n * D, *ph = p + h * n * W, *doh = dctx + h * D;
        const head_kv kv = kv_of(g, s, l, h);
        const int64_t w = kv.w, ps = H * n * W;
        float *dph = g->dp + h * n * W, *dkh = g->dk + h * n * D, *dvh = g->dv + h * n * D;
        // the gradients of what attention read: dK, dV, or Linformer's dKb, dVb (kv.stride)
        float *dkeys = lin ? g->dkb + h * K * D : dkh, *dvals = lin ? g->dvb + h * K * D : dvh;
        // dV = P^T dO, dP = dO V^T, dS = P .* (dP - rowsum(dP .* P)), dQ = dS K, dK = dS^T Q
        LF_TRY(mmb(g, 1, 0, w, D, n, 1, ph, w, ps, doh, C, n * C, 0, dvals, D, kv.stride, B));
        LF_TRY(mmb(g, 0, 1, n, w, D, 1, doh, C, n * C, kv.vals, D, kv.stride, 0, dph, w, ps, B));
        LF_TRY(lf_tr_softmax_backward(g->dev, ph, dph, B, ps, n, w, w));
        LF_TRY(mmb(g, 0, 0, n, D, w, scale, dph, w, ps, kv.keys, D, kv.stride, 0, dqkv + h * D,
                   3 * C, n * 3 * C, B));
        LF_TRY(mmb(g, 1, 0, w, D, n, scale, dph, w, ps, qh, D, H * n * D, 0, dkeys, D, kv.stride, B));
        if (!lin) continue;
        // through the projections: dK = E^T dKb, dE (per sequence) = dKb K^T
        for (int which = 0; which < 2; which++) {
            const float *pw;
            float alpha;
            const lf_proj *pr = proj_of(g, l, h, which, &pw, &alpha);
            const float *dxb = which ? dvals : dkeys, *x = (which ? v : k) + h * n * D;
            LF_TRY(mmb(g, 1, 0, n, D, w, alpha, pw, pr->n, 0, dxb, D, kv.stride, 0,
                       which ? dvh : dkh, D, H * n * D, B));
            if (learn)
                LF_TRY(mmb(g, 0, 1, w, n, D, alpha, dxb, D, kv.stride, x, D, H * n * D, 0,
                           g->pg + (h * 2 + which) * g->pg_stride, pr->n, H * 2 * g->pg_stride, B));
        }
    }
    LF_TRY(lf_tr_kv_merge(g->dev, g->dk, g->dv, s.mask, B, n, H, D, dqkv));
    if (!learn) return 0;
    // Shared projections: the users' gradients in (sequence, head, key|value) order.
    for (int p_ = 0; p_ < g->plan->n_proj; p_++) {
        int users[64], nu = 0;
        for (int64_t h = 0; h < H; h++)
            for (int which = 0; which < 2; which++)
                if (g->plan->index[(l * H + h) * 2 + which] == p_) users[nu++] = (int)(h * 2 + which);
        if (!nu) continue;
        const lf_proj *pr = &g->plan->proj[p_];
        LF_TRY(lf_tr_proj_grad(g->dev, g->pg, g->pg_stride, B, 2 * H, users, nu, pr->k * pr->n,
                               g->G + g->proj_off[p_]));
    }
    return 0;
}

// FFN backward from dfo: weight and bias gradients, dfin = beta dfin + ...
static int ffn_backward(lf_mlm_cuda *g, const step &s, int64_t l, const float *dfo, float *dfin,
                        float beta)
{
    const int64_t rows = s.rows, C = s.C, F = s.F;
    const layer_off &lo = g->lay[l];
    float *G = g->G;
    const float *u = g->u + l * rows * F, *gl = g->g + l * rows * F;
    LF_TRY(lf_tr_colsum(g->dev, dfo, NULL, rows, C, C, g->colsum, G + lo.b2, NULL));
    LF_TRY(mm(g, 1, 0, C, F, rows, 1, dfo, C, gl, F, 1, G + lo.w2, F));
    float *du = g->df;
    LF_TRY(mm(g, 0, 0, rows, F, C, 1, dfo, C, g->P + lo.w2, F, 0, du, F));
    LF_TRY(lf_tr_gelu_backward(g->dev, u, du, rows * F));
    LF_TRY(lf_tr_colsum(g->dev, du, NULL, rows, F, F, g->colsum, G + lo.b1, NULL));
    LF_TRY(mm(g, 1, 0, F, C, rows, 1, du, F, fin_of(g, s, l), C, 1, G + lo.w1, C));
    return mm(g, 0, 0, rows, C, F, 1, du, F, g->P + lo.w1, C, beta, dfin, C);
}

static int attn_block_backward(lf_mlm_cuda *g, const step &s, int64_t l, const float *da,
                               float *dain, float beta)
{
    const int64_t rows = s.rows, C = s.C;
    const layer_off &lo = g->lay[l];
    float *G = g->G;
    LF_TRY(lf_tr_colsum(g->dev, da, NULL, rows, C, C, g->colsum, G + lo.bo, NULL));
    LF_TRY(mm(g, 1, 0, C, C, rows, 1, da, C, g->ctx + l * rows * C, C, 1, G + lo.wo, C));
    float *dctx = g->d4;
    LF_TRY(mm(g, 0, 0, rows, C, C, 1, da, C, g->P + lo.wo, C, 0, dctx, C));
    LF_TRY(attention_backward(g, s, l, dctx));
    LF_TRY(lf_tr_colsum(g->dev, g->qkv, NULL, rows, 3 * C, 3 * C, g->colsum, G + lo.bqkv, NULL));
    LF_TRY(mm(g, 1, 0, 3 * C, C, rows, 1, g->qkv, 3 * C, ain_of(g, s, l), C, 1, G + lo.wqkv, C));
    return mm(g, 0, 0, rows, C, 3 * C, 1, g->qkv, 3 * C, g->P + lo.wqkv, C, beta, dain, C);
}

// dx: the gradient at the layer's output in, at its input out.
static int layer_backward(lf_mlm_cuda *g, const step &s, int64_t l, float *dx)
{
    const int64_t rows = s.rows, C = s.C;
    const layer_off &lo = g->lay[l];
    const float *P = g->P;
    float *G = g->G;
    const float *xh1 = g->xh1 + l * rows * C, *xh2 = g->xh2 + l * rows * C;
    const double *rs1 = g->rs1 + l * rows, *rs2 = g->rs2 + l * rows;
    float *dh = g->d1, *t = g->d3;
    if (!g->cfg.pre_ln) {
        // x' = LN2(h + f), fin = h;  h = LN1(x + a), ain = x
        LF_TRY(ln_back(g, dx, xh2, rs2, rows, C, P + lo.ln2g, dh, 0, G + lo.ln2g, G + lo.ln2b));
        LF_TRY(copy(g, t, dh, rows * C));
        LF_TRY(ffn_backward(g, s, l, t, dh, 1));
        LF_TRY(ln_back(g, dh, xh1, rs1, rows, C, P + lo.ln1g, dx, 0, G + lo.ln1g, G + lo.ln1b));
        LF_TRY(copy(g, t, dx, rows * C));
        return attn_block_backward(g, s, l, t, dx, 1);
    }
    // x' = h + f, fin = LN2(h);  h = x + a, ain = LN1(x)
    LF_TRY(copy(g, dh, dx, rows * C));
    float *dfin = g->d2;
    LF_TRY(ffn_backward(g, s, l, dx, dfin, 0));
    LF_TRY(ln_back(g, dfin, xh2, rs2, rows, C, P + lo.ln2g, dh, 1, G + lo.ln2g, G + lo.ln2b));
    float *dain = g->d2;
    LF_TRY(attn_block_backward(g, s, l, dh, dain, 0));
    LF_TRY(ln_back(g, dain, xh1, rs1, rows, C, P + lo.ln1g, dh, 1, G + lo.ln1g, G + lo.ln1b));
    return copy(g, dx, dh, rows * C);
}

// ---- the step -------------------------------------------------------------------------------

extern "C" int lf_mlm_cuda_loss(lf_mlm_cuda *g, const float *params, float *grads,
                                const lf_mlm_batch *b, int flags, uint64_t dropout_step,
                                double *loss, int64_t *n_masked)
{
    (void)dropout_step;
    if (!g || !params || !loss) LF_FAIL("mlm cuda loss: NULL model, parameters or loss");
    const int backward = flags & LF_MLM_BACKWARD;
    if (backward && !grads) LF_FAIL("mlm cuda loss: NULL gradient");
    if ((flags & LF_MLM_DROPOUT) && g->cfg.dropout > 0)
        LF_FAIL("mlm cuda loss: dropout is not on the GPU yet (train with --dropout 0)");
    LF_TRY(lf_mlm_batch_check(&g->cfg, b, "mlm cuda loss"));
    if (b->B > 65535) LF_FAIL("mlm cuda loss: batch of %lld sequences (at most 65535)", (long long)b->B);
    LF_TRY(ws_ensure(g, b->B, b->n));
    const lf_mlm_config *c = &g->cfg;
    step s;
    s.B = b->B;
    s.n = b->n;
    s.rows = s.B * s.n;
    s.C = c->dim;
    s.H = c->heads;
    s.D = s.C / s.H;
    s.F = c->ffn;
    s.mask = b->mask ? g->mask : NULL;
    const int64_t rows = s.rows, C = s.C, V = c->vocab, L = c->layers, B = s.B, n = s.n;
    const float *P = g->P;

    // Host-side preparation: the masked positions and their targets, Linformer slots.
    int64_t M = 0;
    for (int64_t r = 0; r < rows; r++)
        if (b->targets[r] >= 0) {
            g->h_masked[M] = r;
            g->h_targets[M++] = b->targets[r];
        }
    if (n_masked) *n_masked = M;
    LF_TRY(up(g, g->P, params, g->n_params * sizeof(float)));
    LF_TRY(up(g, g->ids, b->ids, (size_t)rows * sizeof(int32_t)));
    if (b->mask) LF_TRY(up(g, g->mask, b->mask, (size_t)rows));
    LF_TRY(up(g, g->masked, g->h_masked, (size_t)M * sizeof(int64_t)));
    LF_TRY(up(g, g->targets, g->h_targets, (size_t)M * sizeof(int32_t)));
    int64_t groups = 0;
    if (backward) {
        groups = lf_tr_embed_groups(b->ids, rows, V, g->h_e_count, g->h_e_uid, g->h_e_start,
                                    g->h_e_order);
        LF_TRY(up(g, g->e_uid, g->h_e_uid, (size_t)groups * sizeof(int32_t)));
        LF_TRY(up(g, g->e_start, g->h_e_start, (size_t)(groups + 1) * sizeof(int32_t)));
        LF_TRY(up(g, g->e_order, g->h_e_order, (size_t)rows * sizeof(int32_t)));
    }
    if (c->linformer) {
        // key and value slots of (layer, sequence, head): the first k of them count when
        // the sequence has a real token (padded keys are zero rows of the product)
        const int64_t H = s.H, K = g->kmax;
        for (int64_t bb = 0; bb < B; bb++) {
            int64_t valid = 0;
            for (int64_t i = 0; i < n; i++) valid += !b->mask || b->mask[bb * n + i];
            for (int64_t l = 0; l < L; l++)
                for (int64_t h = 0; h < H; h++) {
                    uint8_t *sl = g->h_slots + ((l * B + bb) * H + h) * 2 * K;
                    for (int64_t j = 0; j < 2 * K; j++)
                        sl[j] = (uint8_t)(valid > 0 && (j % K) < c->k[l * H + h]);
                }
        }
        LF_TRY(up(g, g->slots, g->h_slots, (size_t)(L * B * H * 2 * K)));
    }

    // forward
    float *x0 = g->x;
    LF_TRY(lf_tr_embed(g->dev, g->ids, P + g->tok, P + g->pos, rows, n, C, x0));
    if (!c->pre_ln)
        LF_TRY(lf_tr_ln_forward(g->dev, x0, rows, C, P + g->lneg, P + g->lneb, c->ln_eps, g->xhe,
                                g->rse, x0));
    for (int64_t l = 0; l < L; l++) LF_TRY(layer_forward(g, s, l));
    float *xl = g->x + L * rows * C;
    if (c->pre_ln)
        LF_TRY(lf_tr_ln_forward(g->dev, xl, rows, C, P + g->lneg, P + g->lneb, c->ln_eps, g->xhe,
                                g->rse, g->hid));
    else
        LF_TRY(copy(g, g->hid, xl, rows * C));
    if (backward) memset(grads, 0, g->n_params * sizeof(float));
    if (M == 0) {
        *loss = 0;
        return 0;
    }
    LF_TRY(lf_tr_gather_rows(g->dev, g->hid, g->masked, M, C, g->hm));
    float *lg = g->logits;
    LF_TRY(mm(g, 0, 1, M, V, C, 1, g->hm, C, P + g->tok, C, 0, lg, V));
    LF_TRY(lf_tr_xent(g->dev, lg, M, V, P + g->obias, g->targets, g->row_loss));
    LF_TRY(down(g, g->h_row_loss, g->row_loss, (size_t)M * sizeof(double)));
    double sum = 0;
    for (int64_t i = 0; i < M; i++) sum += g->h_row_loss[i];
    *loss = sum / (double)M;
    if (!backward) return 0;

    // backward
    float *G = g->G;
    LF_TRY(zero(g, G, g->n_params * sizeof(float)));
    LF_TRY(lf_tr_colsum(g->dev, lg, NULL, M, V, V, g->colsum, G + g->obias, NULL));
    LF_TRY(mm(g, 1, 0, V, C, M, 1, lg, V, g->hm, C, 1, G + g->tok, C));
    LF_TRY(mm(g, 0, 0, M, C, V, 1, lg, V, P + g->tok, C, 0, g->hm, C));
    float *dh = g->hid;
    LF_TRY(zero(g, dh, (size_t)(rows * C) * sizeof(float)));
    LF_TRY(lf_tr_scatter_rows(g->dev, g->hm, g->masked, M, C, dh));
    float *gx = g->x + L * rows * C; // x[L] is no longer needed: the running gradient
    if (c->pre_ln)
        LF_TRY(ln_back(g, dh, g->xhe, g->rse, rows, C, P + g->lneg, gx, 0, G + g->lneg, G + g->lneb));
    else
        LF_TRY(copy(g, gx, dh, rows * C));
    for (int64_t l = L - 1; l >= 0; l--) LF_TRY(layer_backward(g, s, l, gx));
    float *de = gx;
    if (!c->pre_ln) {
        de = g->d1;
        LF_TRY(ln_back(g, gx, g->xhe, g->rse, rows, C, P + g->lneg, de, 0, G + g->lneg, G + g->lneb));
    }
    LF_TRY(lf_tr_embed_grad(g->dev, de, groups, g->e_uid, g->e_start, g->e_order, rows, n, C,
                            G + g->tok, G + g->pos));
    return down(g, grads, G, g->n_params * sizeof(float));
}

// ---- bin/pretrain's backend (pretrain.h) ------------------------------------------------------

namespace {
struct backend_state {
    lf_mlm_cuda *g;
    int emulate;
};
} // namespace

static int backend_attach(void *user, lf_mlm *m)
{
    backend_state *s = (backend_state *)user;
    lf_mlm_cuda_free(s->g);
    s->g = NULL;
    if (lf_mlm_get_config(m)->dropout > 0)
        LF_FAIL("--device %s: dropout is not on the GPU yet (use --dropout 0)",
                s->emulate ? "cuda-emulate" : "cuda");
    return lf_mlm_cuda_create(&s->g, m, s->emulate);
}

static int backend_loss(void *user, lf_mlm *m, const lf_mlm_batch *b, int flags,
                        uint64_t dropout_step, double *loss, int64_t *n_masked)
{
    backend_state *s = (backend_state *)user;
    if (!s->g) LF_FAIL("mlm cuda: no model attached");
    return lf_mlm_cuda_loss(s->g, lf_mlm_params(m), (flags & LF_MLM_BACKWARD) ? lf_mlm_grads(m) : NULL,
                            b, flags, dropout_step, loss, n_masked);
}

static void backend_detach(void *user)
{
    backend_state *s = (backend_state *)user;
    lf_mlm_cuda_free(s->g);
    s->g = NULL;
}

extern "C" int lf_pretrain_backend_cuda(lf_pretrain_backend *out, int emulate)
{
    memset(out, 0, sizeof *out);
    if (!emulate && lf_cuda_device_count() < 1) LF_FAIL("--device cuda: no CUDA device found");
    backend_state *s = (backend_state *)calloc(1, sizeof *s);
    if (!s) LF_FAIL("mlm cuda: out of memory");
    s->emulate = emulate;
    out->attach = backend_attach;
    out->loss = backend_loss;
    out->detach = backend_detach;
    out->user = s;
    out->device = emulate ? "cuda-emulate" : "cuda";
    return 0;
}

extern "C" void lf_pretrain_backend_cuda_free(lf_pretrain_backend *b)
{
    if (!b || !b->user) return;
    backend_detach(b->user);
    free(b->user);
    b->user = NULL;
}
