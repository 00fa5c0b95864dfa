/* mlm_impl.h - the masked-LM model of mlm.h, written once for a real type: included by
 * mlm.c (float32, lf_sgemm) and mlm_f64.c (float64, cblas_dgemm, the reference for the
 * finite-difference tests). Not a public header.
 *
 * The includer defines REAL (float or double), MLM (the struct tag) and MLM_FN(name)
 * (the public prefix).
 *
 * Layout: rows = B n tokens, C = H D. Activations kept for the backward pass, per layer:
 *   ain   [rows, C]     attention input (post-LN: the layer input; pre-LN: LN1 of it)
 *   q,k,v [B, H, n, D]  heads, bias added; padded rows of k, v zeroed
 *   kb,vb [B, H, kmax, D], slot [B, H, kmax]  Linformer projected keys/values
 *   p     [B, H, n, w]  attention probabilities: w = n (dense); Linformer: each head's
 *                       [n, kp] packed with stride kp in an n x kmax block
 *   ctx   [rows, C]     heads merged
 *   xh1, rs1, xh2, rs2  LayerNorm x-hat [rows, C] and 1/sigma [rows]
 *   h     [rows, C]     middle residual stream (post-LN: LN1 output; pre-LN: x + attn)
 *   fin   [rows, C]     FFN input (post-LN: h itself; pre-LN: LN2(h))
 *   u, g  [rows, F]     FFN pre-activation and GELU(u)
 *   keep1, keep2        dropout masks [rows, C] (attention output, FFN output)
 *   x     [rows, C]     layer output (= next layer's input)
 * Backward of one head (c = 1/sqrt(D)), as in fit.c:
 *   dVb = P^T dO, dP = dO Vb^T, dS = P .* (dP - rowsum(dP .* P)),
 *   dQ = c dS Kb, dKb = c dS^T Q, then the projection's backward gives dK (and dE).
 * A shared projection gets the sum of its users' gradients: each (sequence, head,
 * key|value) writes its own buffer and the sum runs in item order, per layer in
 * reverse layer order, so the result does not depend on the thread count.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "gemm.h"
#include "lanes.h"
#include "mem.h"
#include "parallel.h"
#include "rng.h"
#include "softmax.h"
#include "tilegemm.h"

typedef REAL real;

/* ---- small kernels ------------------------------------------------------------ */

/* Loops over less work than this (elements, or multiply-adds for attention) stay on
 * the calling thread: a parallel region costs microseconds, far more than they do, and
 * much more when the cores are shared. Whether a loop runs in parallel never changes
 * its result (every iteration writes its own outputs). */
#define PAR_MIN 32768

/* C = alpha op(A) op(B) + beta C, row-major. Serial inside a parallel region. */
static void mm(int ta, int tb, int64_t m, int64_t n, int64_t k, real alpha, const real *a,
               int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
#ifdef MLM_DOUBLE
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
#else
    lf_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* Items of attention (one sequence and head): C = alpha op(A) op(B), overwritten, with
 * small operands (at most ITEM_MAX rows of B and columns of C). float builds with AVX2
 * use the register-blocked kernels of tilegemm.h, whose every element is one FMA chain
 * in a documented order on any machine, where OpenBLAS picks a small-matrix or packed
 * kernel by shape and build. Not faster: a training step took the same time with
 * OpenBLAS (35.0 against 34.9 ms at n = 256, k = 64). A transposed B goes through bt
 * [k, n]. */
#define ITEM_MAX 512
static void mm_item(int ta, int tb, int64_t m, int64_t n, int64_t k, real alpha, const real *a,
                    int64_t lda, const real *b, int64_t ldb, real *c, int64_t ldc, real *bt)
{
#if !defined(MLM_DOUBLE) && LF_HAVE_TILES
#if defined(__AVX512F__)
    const int cols_ok = 1;
#else
    const int cols_ok = n % 8 == 0; /* the AVX2 tiles take whole groups of eight columns */
#endif
    if (cols_ok && n <= ITEM_MAX && k <= ITEM_MAX) {
        if (tb) {
            for (int64_t t = 0; t < k; t++)
                for (int64_t j = 0; j < n; j++) bt[t * n + j] = b[j * ldb + t];
            b = bt;
            ldb = n;
        }
        if (ta)
            lf_gemm_small_at(m, n, k, alpha, a, lda, b, ldb, c, ldc);
        else
            lf_gemm_small(m, n, k, alpha, a, lda, b, ldb, c, ldc);
        return;
    }
#else
    (void)bt;
#endif
    mm(ta, tb, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc);
}

/* Column sums (bias, gamma and beta gradients) in double over ROW_BLOCKS fixed blocks
 * of rows: each block sums its rows in order into its own partial [N] (in parallel,
 * and fused with the pass that makes or reads those rows), then colsum_finish adds
 * the partials in block order. The blocks depend on the row count only, so the sums
 * do not depend on the thread count. part: [ROW_BLOCKS, N] doubles. */
#define ROW_BLOCKS 16
#define PG_CHUNK 512 /* projection-gradient elements summed per task */
#define EMB_COLS 16  /* embedding-gradient columns per task */

static int64_t row_blocks(int64_t rows) { return rows < ROW_BLOCKS ? rows : ROW_BLOCKS; }
static int64_t block_lo(int64_t blk, int64_t nb, int64_t rows) { return blk * rows / nb; }

/* db[j] += sum over blocks of part[blk * stride + j], per column in block order. */
static void colsum_finish(const double *part, int64_t stride, int64_t nb, int64_t N, real *db)
{
#pragma omp parallel for schedule(static) if (N * nb > PAR_MIN)
    for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t blk = 0; blk < nb; blk++) s += part[blk * stride + j];
        db[j] = (real)((double)db[j] + s);
    }
}

/* acc[j] += row[j], j < N. */
static void colsum_row(double *acc, const real *row, int64_t N)
{
    for (int64_t j = 0; j < N; j++) acc[j] += (double)row[j];
}

/* db[j] += sum_r dy[r, j]: deterministic (above). */
static void colsum_add(const real *dy, int64_t rows, int64_t N, real *db, double *part)
{
    const int64_t nb = row_blocks(rows);
#pragma omp parallel for schedule(static) if (nb > 1 && rows * N > PAR_MIN)
    for (int64_t blk = 0; blk < nb; blk++) {
        double *acc = part + blk * N;
        for (int64_t j = 0; j < N; j++) acc[j] = 0;
        for (int64_t r = block_lo(blk, nb, rows); r < block_lo(blk + 1, nb, rows); r++)
            colsum_row(acc, dy + r * N, N);
    }
    colsum_finish(part, N, nb, N, db);
}

/* Row sums in double (layer norm statistics, the softmax backward's row dot product),
 * in a fixed order that vectorizes: LF_LANES accumulators take every LF_LANES-th
 * element, then are added lane by lane, then the tail (lanes.h). (A single running sum
 * is a chain of dependent additions, ~4 cycles each, which made LN statistics cost as
 * much as a matrix product.) */
#ifdef MLM_DOUBLE
#define LD8 lf_d8_load_d
#else
#define LD8 lf_d8_load_f
#endif
/* sum x[i]. */
static double ln_sum(const real *x, int64_t C)
{
    lf_d8 a = {0};
    int64_t i = 0;
    for (; i + LF_LANES <= C; i += LF_LANES) a += LD8(x + i);
    double s = lf_d8_sum(&a);
    for (; i < C; i++) s += (double)x[i];
    return s;
}

/* sum (x[i] - c)^2, in lanes as ln_sum. */
static double ln_sqdev(const real *x, int64_t C, double c)
{
    lf_d8 q = {0};
    int64_t i = 0;
    for (; i + LF_LANES <= C; i += LF_LANES) {
        const lf_d8 d = LD8(x + i) - c;
        q += d * d;
    }
    double s = lf_d8_sum(&q);
    for (; i < C; i++) s += ((double)x[i] - c) * ((double)x[i] - c);
    return s;
}

/* sum x[i] y[i] in double, in lanes as ln_sum. */
static double ln_dot(const real *x, const real *y, int64_t n)
{
    lf_d8 a = {0};
    int64_t i = 0;
    for (; i + LF_LANES <= n; i += LF_LANES) a += LD8(x + i) * LD8(y + i);
    double s = lf_d8_sum(&a);
    for (; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}

/* y = LN(x) = g xhat + b with xhat = (x - mean) / sqrt(var + eps), statistics in
 * double (two passes: the mean, then squared deviations from it). Keeps xhat [C] and
 * rstd. y may alias x. */
static void ln_row(const real *x, int64_t C, const real *g, const real *b, double eps, real *xhat,
                   double *rstd, real *y)
{
    const double mean = ln_sum(x, C) / (double)C;
    const double var = ln_sqdev(x, C, mean) / (double)C;
    const double inv = 1.0 / sqrt(var + eps);
    *rstd = inv;
    for (int64_t i = 0; i < C; i++) {
        const double xh = ((double)x[i] - mean) * inv;
        xhat[i] = (real)xh;
        y[i] = (real)(xh * (double)g[i] + (double)b[i]);
    }
}

static void ln_forward(const real *x, int64_t rows, int64_t C, const real *g, const real *b,
                       double eps, real *xhat, double *rstd, real *y)
{
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        ln_row(x + r * C, C, g, b, eps, xhat + r * C, rstd + r, y + r * C);
}

/* dx (= or +=, per accumulate) from dy through LN; dg, db accumulated (column sums by
 * row blocks, colsum_finish; part [ROW_BLOCKS, 2 C]), in one pass over dy and xhat. dx
 * may alias dy when accumulate is 0 (a row is read before it is written). */
static void ln_backward(const real *dy, const real *xhat, const double *rstd, int64_t rows,
                        int64_t C, const real *g, real *dx, int accumulate, real *dg, real *db,
                        double *part)
{
    const int64_t nb = row_blocks(rows);
#pragma omp parallel for schedule(static) if (nb > 1 && rows * C > PAR_MIN)
    for (int64_t blk = 0; blk < nb; blk++) {
        double *ag = part + blk * 2 * C, *ab = ag + C;
        for (int64_t j = 0; j < 2 * C; j++) ag[j] = 0;
        for (int64_t r = block_lo(blk, nb, rows); r < block_lo(blk + 1, nb, rows); r++) {
            const real *dyr = dy + r * C, *xr = xhat + r * C;
            real *dxr = dx + r * C;
            for (int64_t j = 0; j < C; j++) {
                ag[j] += (double)dyr[j] * (double)xr[j];
                ab[j] += (double)dyr[j];
            }
            /* mean(dxhat), mean(dxhat xhat), in lanes as ln_sum */
            lf_d8 a1 = {0}, a2 = {0};
            int64_t j = 0;
            for (; j + LF_LANES <= C; j += LF_LANES) {
                const lf_d8 t = LD8(dyr + j) * LD8(g + j);
                a1 += t;
                a2 += t * LD8(xr + j);
            }
            double m1 = lf_d8_sum(&a1), m2 = lf_d8_sum(&a2);
            for (; j < C; j++) {
                const double t = (double)dyr[j] * (double)g[j];
                m1 += t;
                m2 += t * (double)xr[j];
            }
            m1 /= (double)C;
            m2 /= (double)C;
            for (j = 0; j < C; j++) {
                const double t = (double)dyr[j] * (double)g[j];
                const double v = rstd[r] * (t - m1 - (double)xr[j] * m2);
                dxr[j] = accumulate ? (real)((double)dxr[j] + v) : (real)v;
            }
        }
    }
    colsum_finish(part, 2 * C, nb, C, dg);
    colsum_finish(part + C, 2 * C, nb, C, db);
}

#ifdef MLM_DOUBLE
static double gelu_d(double u) { return 0.5 * u * (1.0 + erf(u * 0.70710678118654752)); }
static double gelu_grad_d(double u)
{
    return 0.5 * (1.0 + erf(u * 0.70710678118654752)) +
           u * 0.39894228040143268 * exp(-0.5 * u * u); /* 1/sqrt(2 pi) */
}
#endif

/* GELU(u) = u Phi(u) = 0.5 u (1 + erf(u / sqrt 2)) over count elements: g = GELU(u)
 * when g != NULL, and du *= GELU'(u) = Phi(u) + u phi(u) when du != NULL.
 * float64: libm erf and exp. float32: erf by Abramowitz & Stegun 7.1.26, |error| <=
 * 1.5e-7 (float resolution near 1), with exp(-u^2 / 2) from the vectorizable
 * lf_exp_inplace (relative error < 4e-7) shared by erf and phi. libm's scalar erf
 * costs ~60 ns, which made the GELU of the FFN (B n F per layer, forward and back)
 * cost as much as all the matrix products of a small model. */
#define GELU_CHUNK 256
static void gelu_block(const real *u, real *g, real *du, int64_t count)
{
#ifdef MLM_DOUBLE
    for (int64_t i = 0; i < count; i++) {
        if (g) g[i] = gelu_d(u[i]);
        if (du) du[i] *= gelu_grad_d(u[i]);
    }
#else
    float e[GELU_CHUNK];
    for (int64_t s = 0; s < count; s += GELU_CHUNK) {
        const int64_t m = count - s < GELU_CHUNK ? count - s : GELU_CHUNK;
        const float *us = u + s;
        for (int64_t i = 0; i < m; i++) e[i] = -0.5f * us[i] * us[i];
        lf_exp_inplace(e, m);
        for (int64_t i = 0; i < m; i++) {
            const float x = us[i] * 0.70710678f, ax = fabsf(x);
            const float t = 1.0f / (1.0f + 0.3275911f * ax);
            const float poly =
                t * (0.254829592f +
                     t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
            float er = 1.0f - poly * e[i];
            er = x < 0 ? -er : er;
            const float cdf = 0.5f * (1.0f + er);
            if (g) g[s + i] = us[i] * cdf;
            if (du) du[s + i] *= cdf + us[i] * 0.39894228f * e[i];
        }
    }
#endif
}

/* du [rows, F] *= GELU'(u), and db[j] += sum_r du[r, j] in the same pass (row blocks as
 * colsum_add; part [ROW_BLOCKS, F]). */
static void gelu_backward_colsum(const real *u, real *du, int64_t rows, int64_t F, real *db,
                                 double *part)
{
    const int64_t nb = row_blocks(rows);
#pragma omp parallel for schedule(static) if (nb > 1 && rows * F > PAR_MIN)
    for (int64_t blk = 0; blk < nb; blk++) {
        double *acc = part + blk * F;
        for (int64_t j = 0; j < F; j++) acc[j] = 0;
        for (int64_t r = block_lo(blk, nb, rows); r < block_lo(blk + 1, nb, rows); r++) {
            gelu_block(u + r * F, NULL, du + r * F, F);
            colsum_row(acc, du + r * F, F);
        }
    }
    colsum_finish(part, F, nb, F, db);
}

/* splitmix64 finaliser: a seed per (model seed, step, site) for the dropout streams. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* keep [rows, C]: 1 with probability 1 - p, drawn from (seed, step, site) stream row. */
static void dropout_mask(uint8_t *keep, int64_t rows, int64_t C, double p, uint64_t seed,
                         uint64_t step, int site)
{
    const uint64_t s = mix64(mix64(seed ^ 0x6d6c6d64726f70ULL) ^ mix64(step) ^ (uint64_t)site);
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        lf_rng rng;
        lf_rng_init(&rng, s, (uint64_t)r);
        for (int64_t j = 0; j < C; j++) keep[r * C + j] = lf_rng_uniform(&rng) >= p;
    }
}

/* ---- the model ---------------------------------------------------------------- */

/* Offsets of one layer's tensors in the parameter vector. */
typedef struct {
    size_t wqkv, bqkv, wo, bo, ln1g, ln1b, w1, b1, w2, b2, ln2g, ln2b;
} mlm_layer_off;

typedef struct {
    int64_t B, n;      /* the current batch (strides of every buffer below) */
    int64_t capB, capN, nt; /* sizes the buffers were made for: any B <= capB, n <= capN fits,
                             * since every buffer grows with B and n */
    real *x;           /* [(L + 1), rows, C] layer inputs/outputs; x[L] the encoder output */
    real *qkv;         /* [rows, 3C] scratch (forward products, backward dqkv) */
    real *q;           /* [L, B, H, n, D] */
    real *k, *v;       /* [L, H, n, B D]: per head, the sequences side by side */
    real *kb, *vb;     /* [L, H, kmax, B D] (Linformer) */
    real *dkb, *dvb;   /* [H, kmax, B D] their gradients, one layer at a time */
    uint8_t *slot;     /* [L, B, H, 2, kmax]: key slots (used by attention), value slots */
    real *p;           /* [L, B, H, n, w] */
    real *ctx, *h, *xh1, *xh2; /* [L, rows, C] each */
    real *ain, *fin;   /* [L, rows, C] the inputs of attention and FFN: pre-LN only (post-LN
                        * reads x and h, layer_ain / layer_fin) */
    double *rs1, *rs2; /* [L, rows] */
    real *u, *g;       /* [L, rows, F] */
    uint8_t *keep;     /* [(2 L + 1), rows, C] dropout masks: embedding, then 2 per layer */
    real *xhe;         /* [rows, C] LN_e x-hat */
    double *rse;       /* [rows] */
    real *hid;         /* [rows, C] final hidden states */
    real *d1, *d2, *d3, *d4; /* [rows, C] backward scratch */
    int dropped;       /* the last forward applied dropout */
    real *df;          /* [rows, F] backward scratch */
    double *part;      /* [ROW_BLOCKS, max(V, F, 3C)] column-sum partials */
    real *thr;         /* [nt, thr_stride] per-thread attention scratch */
    size_t thr_stride, bt_off; /* bt_off: where mm_item's transposed operand starts */
    real *pg;          /* [G, H, 2, pg_stride] projection gradients per use: G = 1 for
                        * linear projections (summed over the sequences), B for conv */
    size_t pg_stride;
    int64_t *masked;   /* [rows] positions with a target */
    real *logits;      /* [rows, V] (first n_masked rows used) */
    real *hm;          /* [rows, C] hidden states of the masked positions, then their gradient */
    double *row_loss;  /* [rows] */
} mlm_ws;

struct MLM {
    lf_mlm_config cfg;
    int64_t *k;          /* [L H] owned copy of cfg.k (Linformer) */
    int64_t kmax;
    lf_plan plan;        /* Linformer structure; plan weights are copied into params */
    size_t n_params;
    real *params, *grads;
    /* offsets */
    size_t tok, pos, lneg, lneb, obias;
    mlm_layer_off *lay;  /* [L] */
    size_t *proj_off;    /* [n_proj] */
    lf_param_group *groups;
    int n_groups, cap_groups;
    char *names;         /* group names arena */
    mlm_ws ws;
};

/* Linear and Gaussian projections: one product per head over all
 * sequences (attention_forward). */
static int proj_is_linear(const struct MLM *m)
{
    return m->cfg.linformer && (m->plan.kind == LF_PROJ_LINEAR || m->plan.kind == LF_PROJ_GAUSSIAN);
}

static void ws_free(mlm_ws *w)
{
    void *all[] = {w->x,   w->qkv, w->q,   w->k,   w->v,    w->kb,  w->vb,  w->slot, w->p,
                   w->ctx, w->ain, w->h,   w->fin, w->xh1,  w->xh2, w->rs1, w->rs2,  w->u,
                   w->g,   w->keep, w->xhe, w->rse, w->hid, w->d1,  w->d2,  w->d3,   w->d4,
                   w->df,  w->thr, w->pg,  w->dkb, w->dvb,  w->part, w->masked, w->logits,
                   w->hm,  w->row_loss};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lf_free(all[i]);
    memset(w, 0, sizeof *w);
}

/* Allocates count * size bytes after checking count as a product of four factors. */
static void *ws_alloc(int *bad, size_t a, size_t b, size_t c, size_t size)
{
    size_t t1, t2;
    if (lf_size_mul(a, b, &t1) || lf_size_mul(t1, c, &t2)) {
        *bad = 1;
        return NULL;
    }
    void *p = lf_alloc(t2, size);
    if (!p) *bad = 1;
    return p;
}

static int ws_ensure(struct MLM *m, int64_t B, int64_t n)
{
    mlm_ws *w = &m->ws;
    const int64_t nt = lf_threads_get();
    if (w->x && B <= w->capB && n <= w->capN && w->nt == nt) {
        w->B = B;
        w->n = n;
        return 0;
    }
    if (w->x) { /* grow to cover both the old and the new shape */
        if (w->capB > B) B = w->capB;
        if (w->capN > n) n = w->capN;
    }
    ws_free(w);
    const lf_mlm_config *c = &m->cfg;
    const size_t L = (size_t)c->layers, H = (size_t)c->heads, C = (size_t)c->dim,
                 D = C / H, F = (size_t)c->ffn, V = (size_t)c->vocab, rows = (size_t)(B * n),
                 N = (size_t)n, K = (size_t)(m->kmax > 0 ? m->kmax : 1);
    const size_t wdt = c->linformer ? K : N;
    const size_t R = sizeof(real);
    int bad = 0;
    w->x = ws_alloc(&bad, L + 1, rows, C, R);
    w->qkv = ws_alloc(&bad, 1, rows, 3 * C, R);
    w->q = ws_alloc(&bad, L, rows, C, R);
    w->k = ws_alloc(&bad, L, rows, C, R);
    w->v = ws_alloc(&bad, L, rows, C, R);
    if (c->linformer) {
        w->kb = ws_alloc(&bad, L * (size_t)B * H, K, D, R);
        w->vb = ws_alloc(&bad, L * (size_t)B * H, K, D, R);
        w->dkb = ws_alloc(&bad, (size_t)B * H, K, D, R);
        w->dvb = ws_alloc(&bad, (size_t)B * H, K, D, R);
        w->slot = ws_alloc(&bad, L * (size_t)B * H, 2 * K, 1, 1);
        size_t ps = 0;
        for (int p = 0; p < m->plan.n_proj; p++) {
            const lf_proj *pr = &m->plan.proj[p];
            size_t cnt = pr->kind == LF_PROJ_CONV ? (size_t)pr->window : (size_t)(pr->k * pr->n);
            if (cnt > ps) ps = cnt;
        }
        w->pg_stride = ps;
        w->pg = ws_alloc(&bad, (proj_is_linear(m) ? 1 : (size_t)B) * H * 2, ps, 1, R);
    }
    w->p = ws_alloc(&bad, L * (size_t)B * H, N, wdt, R);
    w->ctx = ws_alloc(&bad, L, rows, C, R);
    if (c->pre_ln) {
        w->ain = ws_alloc(&bad, L, rows, C, R);
        w->fin = ws_alloc(&bad, L, rows, C, R);
    }
    w->h = ws_alloc(&bad, L, rows, C, R);
    w->xh1 = ws_alloc(&bad, L, rows, C, R);
    w->xh2 = ws_alloc(&bad, L, rows, C, R);
    w->rs1 = ws_alloc(&bad, L, rows, 1, sizeof(double));
    w->rs2 = ws_alloc(&bad, L, rows, 1, sizeof(double));
    w->u = ws_alloc(&bad, L, rows, F, R);
    w->g = ws_alloc(&bad, L, rows, F, R);
    w->keep = ws_alloc(&bad, 2 * L + 1, rows, C, 1);
    w->xhe = ws_alloc(&bad, 1, rows, C, R);
    w->rse = ws_alloc(&bad, 1, rows, 1, sizeof(double));
    w->hid = ws_alloc(&bad, 1, rows, C, R);
    w->d1 = ws_alloc(&bad, 1, rows, C, R);
    w->d2 = ws_alloc(&bad, 1, rows, C, R);
    w->d3 = ws_alloc(&bad, 1, rows, C, R);
    w->d4 = ws_alloc(&bad, 1, rows, C, R);
    w->df = ws_alloc(&bad, 1, rows, F, R);
    w->part = ws_alloc(&bad, ROW_BLOCKS, V > F ? (V > 3 * C ? V : 3 * C) : (F > 3 * C ? F : 3 * C), 1,
                       sizeof(double));
    /* per thread: dP [n, w], dk/dv staging [n, D] and mm_item's transposed operand
     * [D, max(n, kmax)] per sequence and head; dX [n, B D] per head for linear projections */
    w->bt_off = N * wdt + 2 * N * D;
    w->thr_stride = w->bt_off + D * (N > K ? N : K);
    if (c->linformer && w->thr_stride < N * (size_t)B * D) w->thr_stride = N * (size_t)B * D;
    w->thr = ws_alloc(&bad, (size_t)nt, w->thr_stride, 1, R);
    w->masked = ws_alloc(&bad, rows, 1, 1, sizeof(int64_t));
    w->logits = ws_alloc(&bad, rows, V, 1, R);
    w->hm = ws_alloc(&bad, rows, C, 1, R);
    w->row_loss = ws_alloc(&bad, rows, 1, 1, sizeof(double));
    if (bad) {
        ws_free(w);
        LF_FAIL("mlm: out of memory for the activations of a %lld x %lld batch", (long long)B,
                (long long)n);
    }
    w->capB = B;
    w->capN = n;
    w->nt = nt;
    return 0;
}

/* ---- creation ----------------------------------------------------------------- */

static int cfg_check(const lf_mlm_config *c)
{
    const char *fn = "mlm config";
    if (!c) LF_FAIL("%s: NULL", fn);
    if (c->vocab < 1 || c->max_len < 1 || c->dim < 1 || c->heads < 1 || c->layers < 1 ||
        c->ffn < 1)
        LF_FAIL("%s: vocab %d, max_len %d, dim %d, heads %d, layers %d, ffn %d must all be >= 1",
                fn, c->vocab, c->max_len, c->dim, c->heads, c->layers, c->ffn);
    if (c->dim % c->heads != 0)
        LF_FAIL("%s: dim %d is not divisible by heads %d", fn, c->dim, c->heads);
    if ((int64_t)c->vocab * c->dim > INT32_MAX || (int64_t)c->max_len * c->dim > INT32_MAX ||
        (int64_t)c->ffn * c->dim > INT32_MAX || c->layers > 4096)
        LF_FAIL("%s: sizes too large", fn);
    if (!(c->dropout >= 0 && c->dropout < 1))
        LF_FAIL("%s: dropout %g must be in [0, 1)", fn, c->dropout);
    if (!(c->ln_eps > 0)) LF_FAIL("%s: ln_eps %g must be > 0", fn, c->ln_eps);
    if (!(c->init_std >= 0 && isfinite(c->init_std)))
        LF_FAIL("%s: init_std %g must be >= 0", fn, c->init_std);
    if (c->linformer && !c->k) LF_FAIL("%s: Linformer attention needs k per layer and head", fn);
    if (!(c->proj_lr_scale >= 0 && isfinite(c->proj_lr_scale)))
        LF_FAIL("%s: proj_lr_scale %g must be >= 0 (0 means 1)", fn, c->proj_lr_scale);
    if (c->proj_init_pool != 0 && c->proj_init_pool != 1)
        LF_FAIL("%s: proj_init_pool %d must be 0 or 1", fn, c->proj_init_pool);
    if (c->proj_init_pool && !(c->linformer && c->kind == LF_PROJ_LINEAR))
        LF_FAIL("%s: pooling initialisation is for learned linear projections, not %s", fn,
                c->linformer ? lf_proj_kind_name(c->kind) : "dense attention");
    return 0;
}

static void add_group(struct MLM *m, size_t *off, char **arena, const char *name, size_t count,
                      int decay, int trainable)
{
    size_t len = strlen(name) + 1;
    LF_ASSERT(m->n_groups < m->cap_groups && len <= 48);
    lf_param_group *g = &m->groups[m->n_groups++];
    memcpy(*arena, name, len);
    g->name = *arena;
    *arena += len;
    g->offset = *off;
    g->count = count;
    g->decay = decay;
    g->trainable = trainable;
    g->lr_scale = 1.0;
    *off += count;
}

void MLM_FN(free)(struct MLM *m)
{
    if (!m) return;
    ws_free(&m->ws);
    lf_plan_free(&m->plan);
    lf_free(m->k);
    lf_free(m->params);
    lf_free(m->grads);
    lf_free(m->lay);
    lf_free(m->proj_off);
    lf_free(m->groups);
    lf_free(m->names);
    lf_free(m);
}

int MLM_FN(create)(struct MLM **out, const lf_mlm_config *cfg)
{
    if (!out) LF_FAIL("mlm create: NULL output");
    *out = NULL;
    LF_TRY(cfg_check(cfg));
    struct MLM *m = lf_calloc(1, sizeof *m);
    if (!m) return -1;
    m->cfg = *cfg;
    const int L = cfg->layers, H = cfg->heads;
    const size_t C = (size_t)cfg->dim, F = (size_t)cfg->ffn, V = (size_t)cfg->vocab,
                 N = (size_t)cfg->max_len;
    if (cfg->linformer) {
        m->k = lf_alloc((size_t)L * H, sizeof(int64_t));
        if (!m->k) goto fail;
        memcpy(m->k, cfg->k, (size_t)L * H * sizeof(int64_t));
        m->cfg.k = m->k;
        if (lf_plan_init(&m->plan, L, H, cfg->max_len, m->k, cfg->sharing, cfg->kind, cfg->seed) !=
            0)
            goto fail;
        if (cfg->proj_init_pool && lf_plan_init_pooling(&m->plan) != 0) goto fail;
        for (int i = 0; i < L * H; i++)
            if (m->k[i] > m->kmax) m->kmax = m->k[i];
    } else {
        m->cfg.k = NULL;
    }
    const int n_proj = cfg->linformer ? m->plan.n_proj : 0;
    const int max_groups = 5 + 12 * L + n_proj; /* tok, pos, LN_e g/b, out_bias */
    m->groups = lf_calloc((size_t)max_groups, sizeof *m->groups);
    m->names = lf_alloc((size_t)max_groups, 48);
    m->lay = lf_calloc((size_t)L, sizeof *m->lay);
    m->proj_off = lf_calloc((size_t)(n_proj > 0 ? n_proj : 1), sizeof *m->proj_off);
    if (!m->groups || !m->names || !m->lay || !m->proj_off) goto fail;
    m->cap_groups = max_groups;

    size_t off = 0;
    char *arena = m->names, name[48];
    m->tok = off;
    add_group(m, &off, &arena, "tok_emb", V * C, 1, 1);
    m->pos = off;
    add_group(m, &off, &arena, "pos_emb", N * C, 1, 1);
    m->lneg = off;
    add_group(m, &off, &arena, cfg->pre_ln ? "ln_final.g" : "ln_emb.g", C, 0, 1);
    m->lneb = off;
    add_group(m, &off, &arena, cfg->pre_ln ? "ln_final.b" : "ln_emb.b", C, 0, 1);
    m->obias = off;
    add_group(m, &off, &arena, "out_bias", V, 0, 1);
    for (int l = 0; l < L; l++) {
        mlm_layer_off *lo = &m->lay[l];
        static const char *const nm[] = {"wqkv", "bqkv", "wo",   "bo", "ln1.g", "ln1.b",
                                         "w1",   "b1",   "w2",   "b2", "ln2.g", "ln2.b"};
        const size_t cnt[] = {3 * C * C, 3 * C, C * C, C, C, C, F * C, F, C * F, C, C, C};
        const int dec[] = {1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0};
        size_t *dst[] = {&lo->wqkv, &lo->bqkv, &lo->wo, &lo->bo, &lo->ln1g, &lo->ln1b,
                         &lo->w1,   &lo->b1,   &lo->w2, &lo->b2, &lo->ln2g, &lo->ln2b};
        for (int t = 0; t < 12; t++) {
            snprintf(name, sizeof name, "layer%d.%s", l, nm[t]);
            *dst[t] = off;
            add_group(m, &off, &arena, name, cnt[t], dec[t], 1);
        }
    }
    for (int p = 0; p < n_proj; p++) {
        const lf_proj *pr = &m->plan.proj[p];
        size_t cnt = 0;
        if (pr->kind == LF_PROJ_LINEAR || pr->kind == LF_PROJ_GAUSSIAN)
            cnt = (size_t)(pr->k * pr->n);
        else if (pr->kind == LF_PROJ_CONV)
            cnt = (size_t)pr->window;
        m->proj_off[p] = off;
        if (cnt == 0) continue; /* pooling: no parameters */
        snprintf(name, sizeof name, "proj%d.%s", p, lf_proj_kind_name(pr->kind));
        add_group(m, &off, &arena, name, cnt, 1, pr->kind != LF_PROJ_GAUSSIAN);
        m->groups[m->n_groups - 1].lr_scale = cfg->proj_lr_scale > 0 ? cfg->proj_lr_scale : 1.0;
    }
    m->n_params = off;
    m->params = lf_alloc(off, sizeof(real));
    m->grads = lf_calloc(off, sizeof(real));
    float *tmp = lf_alloc(off, sizeof(float));
    if (!m->params || !m->grads || !tmp) {
        lf_free(tmp);
        goto fail;
    }
    /* Draw in float (so the float32 and float64 builds start from the same values):
     * every group from its own stream; matrices and embeddings N(0, init_std), biases
     * and LN betas 0, LN gammas 1, projections as the plan drew them. */
    for (int gi = 0; gi < m->n_groups; gi++) {
        const lf_param_group *g = &m->groups[gi];
        float *t = tmp + g->offset;
        const char *dot = strrchr(g->name, '.');
        const char *last = dot ? dot + 1 : g->name;
        if (strncmp(g->name, "proj", 4) == 0) continue;
        if (strcmp(last, "g") == 0) {
            for (size_t i = 0; i < g->count; i++) t[i] = 1.0f;
        } else if (!g->decay) {
            memset(t, 0, g->count * sizeof(float));
        } else {
            lf_rng r;
            lf_rng_init(&r, cfg->seed, 1000 + (uint64_t)gi);
            lf_rng_fill_normal(&r, t, g->count, 0.0, cfg->init_std);
        }
    }
    for (int p = 0; p < n_proj; p++) {
        const lf_proj *pr = &m->plan.proj[p];
        size_t cnt = pr->kind == LF_PROJ_CONV ? (size_t)pr->window
                     : (pr->kind == LF_PROJ_LINEAR || pr->kind == LF_PROJ_GAUSSIAN)
                         ? (size_t)(pr->k * pr->n)
                         : 0;
        if (cnt) memcpy(tmp + m->proj_off[p], pr->weights, cnt * sizeof(float));
    }
    for (size_t i = 0; i < off; i++) m->params[i] = (real)tmp[i];
    lf_free(tmp);
    *out = m;
    return 0;
fail:
    lf_error_prefix("mlm create");
    MLM_FN(free)(m);
    return -1;
}

const lf_mlm_config *MLM_FN(get_config)(const struct MLM *m) { return m ? &m->cfg : NULL; }
const lf_plan *MLM_FN(plan)(const struct MLM *m)
{
    return m && m->cfg.linformer ? &m->plan : NULL;
}
size_t MLM_FN(param_count)(const struct MLM *m) { return m ? m->n_params : 0; }
real *MLM_FN(params)(struct MLM *m) { return m ? m->params : NULL; }
real *MLM_FN(grads)(struct MLM *m) { return m ? m->grads : NULL; }
int MLM_FN(groups)(const struct MLM *m, const lf_param_group **groups)
{
    if (!m) return 0;
    if (groups) *groups = m->groups;
    return m->n_groups;
}

/* ---- Linformer projections (own implementation: the backward needs them in REAL) -- */

/* Keys and values are kept head by head with the sequences side by side: for layer l
 * and head h, X_h [n, B D] (ld B D) holds sequence b's [n, D] in columns b D .. b D + D.
 * A linear projection is then one product over all sequences, Xbar_h = E X_h, instead
 * of one small product per sequence; pooling and convolution, whose windows depend on
 * each sequence's padding, run per sequence on the same layout. */

/* The scale of a linear projection: 1, or sqrt(k / kp) for a fixed Gaussian matrix of
 * which only the first kp < k rows are used (keeps its N(0, 1/k) entries' scale). */
static real proj_alpha(const lf_proj *pr, int64_t kp)
{
    return (pr->kind == LF_PROJ_GAUSSIAN && kp < pr->k) ? (real)(float)sqrt((double)pr->k / (double)kp)
                                                         : (real)1;
}

/* Pooling and convolution of one sequence: xbar [k, D] (ld ldb) from x [n_use, D] (ld
 * ldx; padded rows already zero); slot[j] = window j holds a valid row. */
static void proj_pool_forward(const lf_proj *pr, const real *w, const real *x, int64_t ldx,
                              int64_t n_use, int64_t D, const uint8_t *mask, real *xbar,
                              int64_t ldb, uint8_t *slot)
{
    const int64_t k = pr->k, n = pr->n;
    if (pr->kind == LF_PROJ_CONV) {
        const int64_t win = pr->window;
        for (int64_t j = 0; j < k; j++) {
            real *row = xbar + j * ldb;
            memset(row, 0, (size_t)D * sizeof(real));
            int64_t cnt = 0;
            for (int64_t t = 0; t < win; t++) {
                const int64_t i = j * win + t;
                if (i >= n_use) break;
                if (mask && !mask[i]) continue;
                for (int64_t c = 0; c < D; c++) row[c] += w[t] * x[i * ldx + c];
                cnt++;
            }
            slot[j] = cnt > 0;
        }
        return;
    }
    const int is_max = pr->kind == LF_PROJ_MAX;
    for (int64_t j = 0; j < k; j++) {
        int64_t lo = j * n / k, hi = (j + 1) * n / k, cnt = 0;
        if (hi > n_use) hi = n_use;
        real *row = xbar + j * ldb;
        for (int64_t i = lo; i < hi; i++) {
            if (mask && !mask[i]) continue;
            const real *xi = x + i * ldx;
            if (cnt == 0)
                memcpy(row, xi, (size_t)D * sizeof(real));
            else if (is_max)
                for (int64_t c = 0; c < D; c++) row[c] = xi[c] > row[c] ? xi[c] : row[c];
            else
                for (int64_t c = 0; c < D; c++) row[c] += xi[c];
            cnt++;
        }
        if (cnt == 0)
            memset(row, 0, (size_t)D * sizeof(real));
        else if (!is_max && cnt > 1)
            for (int64_t c = 0; c < D; c++) row[c] = (real)((double)row[c] / (double)cnt);
        slot[j] = cnt > 0;
    }
}

/* The backward of proj_pool_forward: dx [n_use, D] (contiguous) += d(xbar)/dx^T dxbar
 * (ld ldb); conv: dw [window] = the weight gradient of this sequence. */
static void proj_pool_backward(const lf_proj *pr, const real *w, const real *x, int64_t ldx,
                               int64_t n_use, int64_t D, const uint8_t *mask, const uint8_t *slot,
                               const real *dxbar, int64_t ldb, real *dx, real *dw)
{
    const int64_t k = pr->k, n = pr->n;
    if (pr->kind == LF_PROJ_CONV) {
        const int64_t win = pr->window;
        for (int64_t t = 0; t < win; t++) dw[t] = 0;
        for (int64_t j = 0; j < k; j++) {
            const real *g = dxbar + j * ldb;
            for (int64_t t = 0; t < win; t++) {
                const int64_t i = j * win + t;
                if (i >= n_use) break;
                if (mask && !mask[i]) continue;
                double s = 0;
                for (int64_t c = 0; c < D; c++) {
                    dx[i * D + c] += w[t] * g[c];
                    s += (double)g[c] * (double)x[i * ldx + c];
                }
                dw[t] = (real)((double)dw[t] + s);
            }
        }
        return;
    }
    for (int64_t j = 0; j < k; j++) {
        if (!slot[j]) continue;
        int64_t lo = j * n / k, hi = (j + 1) * n / k;
        if (hi > n_use) hi = n_use;
        const real *g = dxbar + j * ldb;
        if (pr->kind == LF_PROJ_MEAN) {
            int64_t cnt = 0;
            for (int64_t i = lo; i < hi; i++) cnt += !mask || mask[i];
            for (int64_t i = lo; i < hi; i++) {
                if (mask && !mask[i]) continue;
                for (int64_t c = 0; c < D; c++)
                    dx[i * D + c] = (real)((double)dx[i * D + c] + (double)g[c] / (double)cnt);
            }
        } else {
            /* the forward's winner: the first valid row with the largest value */
            for (int64_t c = 0; c < D; c++) {
                int64_t arg = -1;
                for (int64_t i = lo; i < hi; i++) {
                    if (mask && !mask[i]) continue;
                    if (arg < 0 || x[i * ldx + c] > x[arg * ldx + c]) arg = i;
                }
                if (arg >= 0) dx[arg * D + c] += g[c];
            }
        }
    }
}

/* The inputs of layer l's attention and FFN: LN1(x), LN2(h) pre-LN; x itself and h
 * post-LN (no copies). */
static real *layer_ain(struct MLM *m, int64_t l)
{
    const int64_t rc = m->ws.B * m->ws.n * m->cfg.dim;
    return (m->cfg.pre_ln ? m->ws.ain : m->ws.x) + l * rc;
}

static real *layer_fin(struct MLM *m, int64_t l)
{
    const int64_t rc = m->ws.B * m->ws.n * m->cfg.dim;
    return (m->cfg.pre_ln ? m->ws.fin : m->ws.h) + l * rc;
}

/* ---- attention ---------------------------------------------------------------- */

/* In place: each row of s [m, w] becomes its softmax over the entries with valid[j]
 * (NULL: all); the others become 0 (all 0 when none is valid). Double accumulation.
 * float64: libm exp, the reference. */
static void softmax_rows(real *s, int64_t m, int64_t w, const uint8_t *valid)
{
#ifndef MLM_DOUBLE
    /* float32: the library's vectorized softmax (same contract; its exponential is
     * within 4e-7 relative of libm's, whose scalar calls cost as much as the products) */
    lf_softmax_rows(s, m, w, w, valid);
#else
    for (int64_t i = 0; i < m; i++) {
        real *row = s + i * w;
        double mx = -INFINITY;
        for (int64_t j = 0; j < w; j++)
            if ((!valid || valid[j]) && (double)row[j] > mx) mx = (double)row[j];
        double z = 0;
        for (int64_t j = 0; j < w; j++) {
            const double e = (!valid || valid[j]) ? exp((double)row[j] - mx) : 0.0;
            row[j] = (real)e;
            z += e;
        }
        const double inv = z > 0 ? 1.0 / z : 0.0;
        for (int64_t j = 0; j < w; j++) row[j] = (real)((double)row[j] * inv);
    }
#endif
}

/* Pointers of layer l, sequence b, head h. */
typedef struct {
    real *q, *p;       /* [n, D], [n, w] */
    real *k, *v;       /* [n, D] with row stride ld (see the layout above) */
    real *kb, *vb;     /* [kp, D] with row stride ld (Linformer) */
    int64_t ld;        /* B D */
    uint8_t *slot;
    int64_t kp, w; /* projected length (n when dense) and the row stride of p */
    const lf_proj *e, *f;
    const real *ew, *fw;
} head_view;

/* Keys (which 0) or values (1) of layer l, head h, all sequences: [n, B D]; with
 * bar, their projections [kmax, B D]. */
static real *head_kv(struct MLM *m, int64_t l, int64_t h, int which, int bar)
{
    mlm_ws *ws = &m->ws;
    const int64_t lh = l * m->cfg.heads + h, BD = ws->B * (m->cfg.dim / m->cfg.heads);
    if (bar) return (which ? ws->vb : ws->kb) + lh * m->kmax * BD;
    return (which ? ws->v : ws->k) + lh * ws->n * BD;
}

static head_view head_at(struct MLM *m, int64_t l, int64_t b, int64_t h)
{
    mlm_ws *ws = &m->ws;
    const int64_t B = ws->B, n = ws->n, H = m->cfg.heads, D = m->cfg.dim / H, K = m->kmax;
    const int64_t item = (l * B + b) * H + h;
    head_view hv;
    memset(&hv, 0, sizeof hv);
    hv.q = ws->q + item * n * D;
    hv.ld = B * D;
    hv.k = head_kv(m, l, h, 0, 0) + b * D;
    hv.v = head_kv(m, l, h, 1, 0) + b * D;
    if (m->cfg.linformer) {
        hv.kb = head_kv(m, l, h, 0, 1) + b * D;
        hv.vb = head_kv(m, l, h, 1, 1) + b * D;
        hv.slot = ws->slot + item * 2 * K;
        hv.kp = m->k[l * H + h];
        hv.w = hv.kp; /* rows of p packed with stride kp inside the item's n x kmax block */
        const int pe = m->plan.index[(l * H + h) * 2], pf = m->plan.index[(l * H + h) * 2 + 1];
        hv.e = &m->plan.proj[pe];
        hv.f = &m->plan.proj[pf];
        hv.ew = m->params + m->proj_off[pe];
        hv.fw = m->params + m->proj_off[pf];
    } else {
        hv.kp = n;
        hv.w = n;
    }
    hv.p = ws->p + item * n * (m->cfg.linformer ? K : n);
    return hv;
}

/* y = a + b over d elements (distinct arrays, so that the loop is vectorized). */
static inline void add_rows(real *restrict y, const real *restrict a, const real *restrict b,
                            int64_t d)
{
    for (int64_t t = 0; t < d; t++) y[t] = a[t] + b[t];
}

/* Multi-head attention of layer l: ain -> q, k, v -> ctx (all in ws). */
static void attention_forward(struct MLM *m, int64_t l, const uint8_t *mask)
{
    mlm_ws *ws = &m->ws;
    const lf_mlm_config *c = &m->cfg;
    const int64_t B = ws->B, n = ws->n, rows = B * n, C = c->dim, H = c->heads, D = C / H;
    const int64_t BD = B * D;
    const mlm_layer_off *lo = &m->lay[l];
    const real *ain = layer_ain(m, l);
    real *ctx = ws->ctx + l * rows * C;
    mm(0, 1, rows, 3 * C, C, 1, ain, C, m->params + lo->wqkv, C, 0, ws->qkv, 3 * C);
    const real *bqkv = m->params + lo->bqkv;
    real *q = ws->q + l * rows * C, *k = ws->k + l * rows * C, *v = ws->v + l * rows * C;
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t b = r / n, i = r % n;
        const real *src = ws->qkv + r * 3 * C;
        const int pad = mask && !mask[r];
        for (int64_t h = 0; h < H; h++) {
            const int64_t dq = ((b * H + h) * n + i) * D, dkv = (h * n + i) * BD + b * D;
            add_rows(q + dq, src + h * D, bqkv + h * D, D);
            if (pad) {
                memset(k + dkv, 0, (size_t)D * sizeof(real));
                memset(v + dkv, 0, (size_t)D * sizeof(real));
            } else {
                add_rows(k + dkv, src + C + h * D, bqkv + C + h * D, D);
                add_rows(v + dkv, src + 2 * C + h * D, bqkv + 2 * C + h * D, D);
            }
        }
    }
    if (proj_is_linear(m)) {
        /* Kbar_h = alpha E K_h, Vbar_h = alpha F V_h: padded rows are 0, so a sequence with
         * no valid row projects to 0 */
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)ws->nt) if (H * n * BD * m->kmax > PAR_MIN)
        for (int64_t t = 0; t < 2 * H; t++) {
            const int64_t h = t / 2, which = t % 2, kp = m->k[l * H + h];
            const int pi = m->plan.index[(l * H + h) * 2 + which];
            const lf_proj *pr = &m->plan.proj[pi];
            mm(0, 0, kp, BD, n, proj_alpha(pr, kp), m->params + m->proj_off[pi], pr->n,
               head_kv(m, l, h, (int)which, 0), BD, 0, head_kv(m, l, h, (int)which, 1), BD);
        }
    }
    const real scale = (real)(1.0 / sqrt((double)D));
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)ws->nt) if (B * H > 1 && B * H * n * n * D > PAR_MIN)
    for (int64_t item = 0; item < B * H; item++) {
        const int64_t b = item / H, h = item % H;
        head_view hv = head_at(m, l, b, h);
        const uint8_t *mb = mask ? mask + b * n : NULL;
        real *out = ctx + b * n * C + h * D;
        real *bt = ws->thr + (size_t)lf_thread_id() * ws->thr_stride + ws->bt_off;
        if (c->linformer) {
            if (proj_is_linear(m)) { /* every slot holds the sequence's valid rows */
                int64_t valid = 0;
                for (int64_t i = 0; i < n; i++) valid += !mb || mb[i];
                memset(hv.slot, valid > 0, (size_t)hv.kp);
                memset(hv.slot + m->kmax, valid > 0, (size_t)hv.kp);
            } else {
                proj_pool_forward(hv.e, hv.ew, hv.k, hv.ld, n, D, mb, hv.kb, hv.ld, hv.slot);
                /* value slots equal the key slots (same kind, same windows); attention uses the latter */
                proj_pool_forward(hv.f, hv.fw, hv.v, hv.ld, n, D, mb, hv.vb, hv.ld, hv.slot + m->kmax);
            }
            mm_item(0, 1, n, hv.kp, D, scale, hv.q, D, hv.kb, hv.ld, hv.p, hv.w, bt);
            softmax_rows(hv.p, n, hv.kp, hv.slot);
            mm_item(0, 0, n, D, hv.kp, 1, hv.p, hv.w, hv.vb, hv.ld, out, C, bt);
        } else {
            mm_item(0, 1, n, n, D, scale, hv.q, D, hv.k, hv.ld, hv.p, n, bt);
            softmax_rows(hv.p, n, n, mb);
            mm_item(0, 0, n, D, n, 1, hv.p, n, hv.v, hv.ld, out, C, bt);
        }
    }
}

/* dx [n, D] (ld ldx) -> the key (which 0) or value (1) columns of head h in dqkv [rows,
 * 3C] for the rows of sequence b; padded keys and values were the constant 0. */
static void scatter_dkv(real *dqkv, const real *dx, int64_t ldx, int64_t b, int64_t n, int64_t C,
                        int64_t h, int64_t D, int which, const uint8_t *mb)
{
    for (int64_t i = 0; i < n; i++) {
        real *dst = dqkv + (b * n + i) * 3 * C + (1 + which) * C + h * D;
        const int pad = mb && !mb[i];
        for (int64_t x = 0; x < D; x++) dst[x] = pad ? 0 : dx[i * ldx + x];
    }
}

/* dctx [rows, C] -> dqkv [rows, 3C] (in ws->qkv, bias not included) and the gradients
 * of the layer's trainable projections (added to m->grads). */
static void attention_backward(struct MLM *m, int64_t l, const uint8_t *mask, const real *dctx)
{
    mlm_ws *ws = &m->ws;
    const lf_mlm_config *c = &m->cfg;
    const int64_t B = ws->B, n = ws->n, C = c->dim, H = c->heads, D = C / H, BD = B * D;
    const int64_t K = m->kmax;
    const real scale = (real)(1.0 / sqrt((double)D));
    const int linear = proj_is_linear(m);
    real *dqkv = ws->qkv;
    /* per sequence and head: everything but the linear projections' backward */
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)ws->nt) if (B * H > 1 && B * H * n * n * D > PAR_MIN)
    for (int64_t item = 0; item < B * H; item++) {
        const int64_t b = item / H, h = item % H;
        head_view hv = head_at(m, l, b, h);
        const uint8_t *mb = mask ? mask + b * n : NULL;
        const real *dout = dctx + b * n * C + h * D;
        real *t = ws->thr + (size_t)lf_thread_id() * ws->thr_stride;
        const int64_t kp = hv.kp, w = hv.w;
        real *dp = t, *dk = dp + n * w, *dv = dk + n * D;
        real *dq = dqkv + b * n * 3 * C + h * D;
        /* Linformer: dKbar, dVbar [kp, D] of this item inside the layer's [H, kmax, B D] */
        real *dkb = ws->dkb ? ws->dkb + h * K * BD + b * D : NULL;
        real *dvb = ws->dvb ? ws->dvb + h * K * BD + b * D : NULL;
        const real *kk = c->linformer ? hv.kb : hv.k, *vv = c->linformer ? hv.vb : hv.v;
        /* dV(b) = P^T dO, dP = dO V(b)^T, dS = P .* (dP - rowsum(dP .* P)) */
        real *bt = t + ws->bt_off;
        if (c->linformer)
            mm_item(1, 0, kp, D, n, 1, hv.p, w, dout, C, dvb, BD, bt);
        else
            mm_item(1, 0, kp, D, n, 1, hv.p, w, dout, C, dv, D, bt);
        mm_item(0, 1, n, kp, D, 1, dout, C, vv, hv.ld, dp, w, bt);
        for (int64_t i = 0; i < n; i++) {
            const real *pi = hv.p + i * w;
            real *gi = dp + i * w;
            const double dot = ln_dot(gi, pi, kp);
            for (int64_t j = 0; j < kp; j++) gi[j] = (real)((double)pi[j] * ((double)gi[j] - dot));
        }
        mm_item(0, 0, n, D, kp, scale, dp, w, kk, hv.ld, dq, 3 * C, bt);
        if (!c->linformer) {
            mm_item(1, 0, n, D, n, scale, dp, w, hv.q, D, dk, D, bt);
        } else {
            mm_item(1, 0, kp, D, n, scale, dp, w, hv.q, D, dkb, BD, bt);
            if (linear) continue; /* the projections' backward follows, head by head */
            memset(dk, 0, (size_t)(n * D) * sizeof(real));
            memset(dv, 0, (size_t)(n * D) * sizeof(real));
            real *pg = ws->pg + (size_t)item * 2 * ws->pg_stride;
            const int conv = hv.e->kind == LF_PROJ_CONV;
            proj_pool_backward(hv.e, hv.ew, hv.k, hv.ld, n, D, mb, hv.slot, dkb, BD, dk,
                               conv ? pg : NULL);
            proj_pool_backward(hv.f, hv.fw, hv.v, hv.ld, n, D, mb, hv.slot, dvb, BD, dv,
                               conv ? pg + ws->pg_stride : NULL);
        }
        scatter_dkv(dqkv, dk, D, b, n, C, h, D, 0, mb);
        scatter_dkv(dqkv, dv, D, b, n, C, h, D, 1, mb);
    }
    if (!c->linformer) return;
    if (linear) {
        /* per head and key|value, all sequences at once: dX_h = alpha E^T dXbar_h, and for
         * a learned E its gradient alpha dXbar_h X_h^T (one product summing the sequences) */
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)ws->nt) if (H * n * BD * K > PAR_MIN)
        for (int64_t t = 0; t < 2 * H; t++) {
            const int64_t h = t / 2, kp = m->k[l * H + h];
            const int which = (int)(t % 2);
            const int pi = m->plan.index[(l * H + h) * 2 + which];
            const lf_proj *pr = &m->plan.proj[pi];
            const real alpha = proj_alpha(pr, kp);
            const real *dxb = (which ? ws->dvb : ws->dkb) + h * K * BD, *x = head_kv(m, l, h, which, 0);
            real *dx = ws->thr + (size_t)lf_thread_id() * ws->thr_stride;
            mm(1, 0, n, BD, kp, alpha, m->params + m->proj_off[pi], pr->n, dxb, BD, 0, dx, BD);
            for (int64_t b = 0; b < B; b++)
                scatter_dkv(dqkv, dx + b * D, BD, b, n, C, h, D, which, mask ? mask + b * n : NULL);
            if (pr->kind != LF_PROJ_LINEAR) continue;
            real *pg = ws->pg + (size_t)t * ws->pg_stride;
            /* the product writes rows < kp and columns < n of the [k, n] gradient */
            if (kp < pr->k || n < pr->n) memset(pg, 0, ws->pg_stride * sizeof(real));
            mm(0, 1, kp, n, BD, alpha, dxb, BD, x, BD, 0, pg, pr->n);
        }
    }
    /* Shared projections: sum the users' gradients in order, in double: (head, key|value)
     * for linear projections (each already summed over the sequences), (sequence, head,
     * key|value) for convolutions. */
    const int64_t G = linear ? 1 : B;
    for (int p = 0; p < m->plan.n_proj; p++) {
        const lf_proj *pr = &m->plan.proj[p];
        if (pr->kind != LF_PROJ_LINEAR && pr->kind != LF_PROJ_CONV) continue;
        int users = 0;
        for (int64_t h = 0; h < H; h++)
            for (int which = 0; which < 2; which++)
                users += m->plan.index[(l * H + h) * 2 + which] == p;
        if (!users) continue;
        const int64_t cnt = pr->kind == LF_PROJ_CONV ? pr->window : pr->k * pr->n;
        real *g = m->grads + m->proj_off[p];
        const int *index = m->plan.index;
        /* Chunks of elements in parallel; within a chunk the users are added one after
         * another in order, a contiguous (vectorizable) pass each. */
        const int64_t chunks = (cnt + PG_CHUNK - 1) / PG_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1 && cnt * G * H > PAR_MIN)
        for (int64_t ch = 0; ch < chunks; ch++) {
            const int64_t lo = ch * PG_CHUNK, len = cnt - lo < PG_CHUNK ? cnt - lo : PG_CHUNK;
            double s[PG_CHUNK];
            for (int64_t e = 0; e < len; e++) s[e] = 0;
            for (int64_t gi = 0; gi < G; gi++)
                for (int64_t h = 0; h < H; h++)
                    for (int which = 0; which < 2; which++) {
                        if (index[(l * H + h) * 2 + which] != p) continue;
                        const real *src = ws->pg + ((size_t)(gi * H + h) * 2 + which) * ws->pg_stride + lo;
                        for (int64_t e = 0; e < len; e++) s[e] += (double)src[e];
                    }
            for (int64_t e = 0; e < len; e++) g[lo + e] = (real)((double)g[lo + e] + s[e]);
        }
    }
}

/* x[rows, C] *= keep / (1 - p) where keep was drawn (no-op without dropout). */
static void apply_dropout(real *x, const uint8_t *keep, int64_t count, double p)
{
    const real s = (real)(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (count > PAR_MIN)
    for (int64_t i = 0; i < count; i++) x[i] = keep[i] ? x[i] * s : 0;
}

/* The end of a sublayer: y[rows, C] += bias (per column), then dropout with keep
 * (NULL: none), then y += res. */
static void bias_dropout_residual(real *y, const real *bias, const uint8_t *keep, double p,
                                  const real *res, int64_t rows, int64_t C)
{
    if (!keep) { /* one pass: (y + bias) + res */
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < C; j++) y[r * C + j] = (y[r * C + j] + bias[j]) + res[r * C + j];
        return;
    }
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < C; j++) y[r * C + j] += bias[j];
    apply_dropout(y, keep, rows * C, p);
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
    for (int64_t i = 0; i < rows * C; i++) y[i] += res[i];
}

static void layer_forward(struct MLM *m, int64_t l, const uint8_t *mask, double pdrop)
{
    mlm_ws *ws = &m->ws;
    const lf_mlm_config *c = &m->cfg;
    const int64_t rows = ws->B * ws->n, C = c->dim, F = c->ffn;
    const mlm_layer_off *lo = &m->lay[l];
    const real *P = m->params;
    const double eps = c->ln_eps;
    real *xin = ws->x + l * rows * C, *xout = ws->x + (l + 1) * rows * C;
    real *h = ws->h + l * rows * C;
    real *xh1 = ws->xh1 + l * rows * C, *xh2 = ws->xh2 + l * rows * C;
    double *rs1 = ws->rs1 + l * rows, *rs2 = ws->rs2 + l * rows;
    real *u = ws->u + l * rows * F, *g = ws->g + l * rows * F;
    uint8_t *keep1 = ws->keep + (size_t)(1 + 2 * l) * rows * C, *keep2 = keep1 + rows * C;

    if (c->pre_ln) ln_forward(xin, rows, C, P + lo->ln1g, P + lo->ln1b, eps, xh1, rs1, layer_ain(m, l));
    attention_forward(m, l, mask);
    /* a = x + drop(attention): it is h pre-LN, LN1's input post-LN */
    real *a = c->pre_ln ? h : ws->d1;
    mm(0, 1, rows, C, C, 1, ws->ctx + l * rows * C, C, P + lo->wo, C, 0, a, C);
    bias_dropout_residual(a, P + lo->bo, ws->dropped ? keep1 : NULL, pdrop, xin, rows, C);
    if (c->pre_ln)
        ln_forward(h, rows, C, P + lo->ln2g, P + lo->ln2b, eps, xh2, rs2, layer_fin(m, l));
    else
        ln_forward(a, rows, C, P + lo->ln1g, P + lo->ln1b, eps, xh1, rs1, h);
    const real *fin = layer_fin(m, l);
    mm(0, 1, rows, F, C, 1, fin, C, P + lo->w1, C, 0, u, F);
    const real *b1 = P + lo->b1;
#pragma omp parallel for schedule(static) if (rows * F > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < F; j++) u[r * F + j] += b1[j];
        gelu_block(u + r * F, g + r * F, NULL, F);
    }
    /* f = h + drop(FFN): the layer output pre-LN, LN2's input post-LN */
    real *f = c->pre_ln ? xout : ws->d1;
    mm(0, 1, rows, C, F, 1, g, F, P + lo->w2, F, 0, f, C);
    bias_dropout_residual(f, P + lo->b2, ws->dropped ? keep2 : NULL, pdrop, h, rows, C);
    if (!c->pre_ln) ln_forward(f, rows, C, P + lo->ln2g, P + lo->ln2b, eps, xh2, rs2, xout);
}

/* out[i] = keep[i] ? x[i] / (1 - p) : 0, or x when there was no dropout (returns the
 * array holding the result). */
static const real *dropout_back(const real *x, real *out, const uint8_t *keep, int64_t count,
                                int dropped, double p)
{
    if (!dropped) return x;
    const real s = (real)(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (count > PAR_MIN)
    for (int64_t i = 0; i < count; i++) out[i] = keep[i] ? x[i] * s : 0;
    return out;
}

/* FFN backward from dfo (gradient at the FFN output): weight and bias gradients, and
 * dfin = beta dfin + d(FFN)/d(fin)^T dfo. dfin may be dfo: dfo is read only before
 * dfin is written. */
static void ffn_backward(struct MLM *m, int64_t l, const real *dfo, real *dfin, real beta)
{
    mlm_ws *ws = &m->ws;
    const int64_t rows = ws->B * ws->n, C = m->cfg.dim, F = m->cfg.ffn;
    const mlm_layer_off *lo = &m->lay[l];
    const real *P = m->params;
    real *G = m->grads;
    const real *u = ws->u + l * rows * F, *g = ws->g + l * rows * F, *fin = layer_fin(m, l);
    colsum_add(dfo, rows, C, G + lo->b2, ws->part);
    mm(1, 0, C, F, rows, 1, dfo, C, g, F, 1, G + lo->w2, F);
    real *du = ws->df;
    mm(0, 0, rows, F, C, 1, dfo, C, P + lo->w2, F, 0, du, F);
    gelu_backward_colsum(u, du, rows, F, G + lo->b1, ws->part);
    mm(1, 0, F, C, rows, 1, du, F, fin, C, 1, G + lo->w1, C);
    mm(0, 0, rows, C, F, 1, du, F, P + lo->w1, C, beta, dfin, C);
}

/* Attention block backward from da (gradient at the attention output after Wo):
 * gradients of Wo, bo, Wqkv, bqkv, projections; dain = beta dain + ... dain may be da:
 * da is read only before dain is written. */
static void attn_block_backward(struct MLM *m, int64_t l, const uint8_t *mask, const real *da,
                                real *dain, real beta)
{
    mlm_ws *ws = &m->ws;
    const int64_t rows = ws->B * ws->n, C = m->cfg.dim;
    const mlm_layer_off *lo = &m->lay[l];
    const real *P = m->params;
    real *G = m->grads;
    colsum_add(da, rows, C, G + lo->bo, ws->part);
    mm(1, 0, C, C, rows, 1, da, C, ws->ctx + l * rows * C, C, 1, G + lo->wo, C);
    real *dctx = ws->d4;
    mm(0, 0, rows, C, C, 1, da, C, P + lo->wo, C, 0, dctx, C);
    attention_backward(m, l, mask, dctx);
    colsum_add(ws->qkv, rows, 3 * C, G + lo->bqkv, ws->part);
    mm(1, 0, 3 * C, C, rows, 1, ws->qkv, 3 * C, layer_ain(m, l), C, 1, G + lo->wqkv, C);
    mm(0, 0, rows, C, 3 * C, 1, ws->qkv, 3 * C, P + lo->wqkv, C, beta, dain, C);
}

/* dx: gradient at the layer output in, at the layer input out. */
static void layer_backward(struct MLM *m, int64_t l, const uint8_t *mask, double pdrop, real *dx)
{
    mlm_ws *ws = &m->ws;
    const int64_t rows = ws->B * ws->n, C = m->cfg.dim;
    const mlm_layer_off *lo = &m->lay[l];
    const real *P = m->params;
    real *G = m->grads;
    const real *xh1 = ws->xh1 + l * rows * C, *xh2 = ws->xh2 + l * rows * C;
    const double *rs1 = ws->rs1 + l * rows, *rs2 = ws->rs2 + l * rows;
    const uint8_t *keep1 = ws->keep + (size_t)(1 + 2 * l) * rows * C, *keep2 = keep1 + rows * C;
    real *dh = ws->d1, *t = ws->d3;
    if (!m->cfg.pre_ln) {
        /* x' = LN2(h + drop(f)), fin = h;  h = LN1(x + drop(a)), ain = x */
        ln_backward(dx, xh2, rs2, rows, C, P + lo->ln2g, dh, 0, G + lo->ln2g, G + lo->ln2b, ws->part);
        /* dfo may be dh itself: ffn_backward reads it before it adds to dh (likewise da, dx) */
        const real *dfo = dropout_back(dh, t, keep2, rows * C, ws->dropped, pdrop);
        ffn_backward(m, l, dfo, dh, 1);
        ln_backward(dh, xh1, rs1, rows, C, P + lo->ln1g, dx, 0, G + lo->ln1g, G + lo->ln1b, ws->part);
        const real *da = dropout_back(dx, t, keep1, rows * C, ws->dropped, pdrop);
        attn_block_backward(m, l, mask, da, dx, 1);
    } else {
        /* x' = h + drop(f), fin = LN2(h);  h = x + drop(a), ain = LN1(x). dx becomes dh
         * (the residual passes it on) and then the gradient at x, in place. */
        const real *dfo = dropout_back(dx, t, keep2, rows * C, ws->dropped, pdrop);
        real *dfin = ws->d2;
        ffn_backward(m, l, dfo, dfin, 0);
        ln_backward(dfin, xh2, rs2, rows, C, P + lo->ln2g, dx, 1, G + lo->ln2g, G + lo->ln2b, ws->part);
        const real *da = dropout_back(dx, t, keep1, rows * C, ws->dropped, pdrop);
        real *dain = ws->d2;
        attn_block_backward(m, l, mask, da, dain, 0);
        ln_backward(dain, xh1, rs1, rows, C, P + lo->ln1g, dx, 1, G + lo->ln1g, G + lo->ln1b, ws->part);
    }
}

/* One masked position's output row: logits (+ the output bias) in, the cross-entropy
 * against target tg returned, and the row overwritten by dlogits = (softmax - onehot)
 * / M, M the number of masked positions. */
static double output_row(real *row, const real *ob, int64_t V, int32_t tg, int64_t M)
{
    for (int64_t j = 0; j < V; j++) row[j] += ob[j];
    const double target_logit = (double)row[tg];
#ifdef MLM_DOUBLE
    double mx = -INFINITY, z = 0;
    for (int64_t j = 0; j < V; j++)
        if (row[j] > mx) mx = row[j];
    for (int64_t j = 0; j < V; j++) {
        row[j] = exp(row[j] - mx);
        z += row[j];
    }
#else
    /* the library's vectorized softmax pieces: the maximum (exact in any order), one
     * exponential per logit (relative error < 4e-7) kept for the gradient, their sum
     * in eight double lanes. libm's scalar exp, twice per logit, cost a fifth of a
     * training step with a WordPiece vocabulary, and a single running sum a twentieth. */
    const float mxf = lf_row_max(row, V, NULL);
    const double mx = (double)mxf, z = lf_softmax_exp_shifted(row, V, mxf, NULL);
#endif
    const double row_loss = mx + log(z) - target_logit;
    /* dlogits = (softmax - onehot) / M */
    const double inv = 1.0 / z, invm = 1.0 / (double)M, ptg = (double)row[tg] * inv;
    const real sc = (real)(inv * invm); /* one rounding per entry, as a float scale */
    for (int64_t j = 0; j < V; j++) row[j] *= sc;
    row[tg] = (real)((ptg - 1.0) * invm);
    return row_loss;
}

int MLM_FN(loss)(struct MLM *m, const lf_mlm_batch *b, int flags, uint64_t dropout_step,
                 double *loss, int64_t *n_masked)
{
    if (!m || !loss) LF_FAIL("mlm loss: NULL model or loss");
    LF_TRY(lf_mlm_batch_check(&m->cfg, b, "mlm loss"));
    LF_TRY(ws_ensure(m, b->B, b->n));
    m->ws.B = b->B;
    m->ws.n = b->n;
    mlm_ws *ws = &m->ws;
    const lf_mlm_config *c = &m->cfg;
    const int64_t B = b->B, n = b->n, rows = B * n, C = c->dim, V = c->vocab, L = c->layers;
    const double pdrop = (flags & LF_MLM_DROPOUT) ? c->dropout : 0.0;
    const int backward = flags & LF_MLM_BACKWARD;
    const real *P = m->params;
    ws->dropped = pdrop > 0;
    if (ws->dropped)
        for (int64_t site = 0; site < 2 * L + 1; site++)
            dropout_mask(ws->keep + (size_t)site * rows * C, rows, C, pdrop, c->seed, dropout_step,
                         (int)site);

    /* embeddings */
    real *x0 = ws->x;
#pragma omp parallel for schedule(static) if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const real *te = P + m->tok + (int64_t)b->ids[r] * C, *pe = P + m->pos + (r % n) * C;
        for (int64_t j = 0; j < C; j++) x0[r * C + j] = te[j] + pe[j];
    }
    if (!c->pre_ln) ln_forward(x0, rows, C, P + m->lneg, P + m->lneb, c->ln_eps, ws->xhe, ws->rse, x0);
    if (ws->dropped) apply_dropout(x0, ws->keep, rows * C, pdrop);
    for (int64_t l = 0; l < L; l++) layer_forward(m, l, b->mask, pdrop);
    real *xl = ws->x + L * rows * C;
    if (c->pre_ln)
        ln_forward(xl, rows, C, P + m->lneg, P + m->lneb, c->ln_eps, ws->xhe, ws->rse, ws->hid);
    else
        memcpy(ws->hid, xl, (size_t)(rows * C) * sizeof(real));

    /* loss over the masked positions */
    int64_t M = 0;
    for (int64_t r = 0; r < rows; r++)
        if (b->targets[r] >= 0) ws->masked[M++] = r;
    if (n_masked) *n_masked = M;
    if (backward) memset(m->grads, 0, m->n_params * sizeof(real));
    if (M == 0) {
        *loss = 0;
        return 0;
    }
    for (int64_t i = 0; i < M; i++)
        memcpy(ws->hm + i * C, ws->hid + ws->masked[i] * C, (size_t)C * sizeof(real));
    real *lg = ws->logits;
    mm(0, 1, M, V, C, 1, ws->hm, C, P + m->tok, C, 0, lg, V);
    const real *ob = P + m->obias;
    /* Rows by the row blocks of colsum_add, so that the output bias's gradient (the
     * column sums of dlogits) is summed while each row is in cache, in colsum_add's
     * order. */
    const int64_t nbm = row_blocks(M);
#pragma omp parallel for schedule(static) if (nbm > 1 && M * V > PAR_MIN)
    for (int64_t blk = 0; blk < nbm; blk++) {
        double *acc = ws->part + blk * V;
        if (backward)
            for (int64_t j = 0; j < V; j++) acc[j] = 0;
        for (int64_t i = block_lo(blk, nbm, M); i < block_lo(blk + 1, nbm, M); i++) {
            real *row = lg + i * V;
            ws->row_loss[i] = output_row(row, ob, V, b->targets[ws->masked[i]], M);
            if (backward) colsum_row(acc, row, V);
        }
    }
    double sum = 0;
    for (int64_t i = 0; i < M; i++) sum += ws->row_loss[i];
    *loss = sum / (double)M;
    if (!backward) return 0;

    real *G = m->grads;
    colsum_finish(ws->part, V, nbm, V, G + m->obias);
    mm(1, 0, V, C, M, 1, lg, V, ws->hm, C, 1, G + m->tok, C);
    mm(0, 0, M, C, V, 1, lg, V, P + m->tok, C, 0, ws->hm, C);
    real *dh = ws->hid; /* the hidden states are no longer needed: their gradient */
    memset(dh, 0, (size_t)(rows * C) * sizeof(real));
    for (int64_t i = 0; i < M; i++)
        memcpy(dh + ws->masked[i] * C, ws->hm + i * C, (size_t)C * sizeof(real));
    real *g = ws->x + L * rows * C; /* x[L] is no longer needed either */
    if (c->pre_ln)
        ln_backward(dh, ws->xhe, ws->rse, rows, C, P + m->lneg, g, 0, G + m->lneg, G + m->lneb, ws->part);
    else
        memcpy(g, dh, (size_t)(rows * C) * sizeof(real));
    for (int64_t l = L - 1; l >= 0; l--) layer_backward(m, l, b->mask, pdrop, g);
    /* embeddings: x0 = drop(LN_e(e)) (post-LN) or drop(e) (pre-LN) */
    const real *de0 = dropout_back(g, ws->d3, ws->keep, rows * C, ws->dropped, pdrop);
    real *de = ws->d1;
    if (!c->pre_ln)
        ln_backward(de0, ws->xhe, ws->rse, rows, C, P + m->lneg, de, 0, G + m->lneg, G + m->lneb, ws->part);
    else
        memcpy(de, de0, (size_t)(rows * C) * sizeof(real));
    /* scatter, deterministic: blocks of EMB_COLS columns in parallel, rows in order
     * (a block is a cache line of each row) */
    real *gt = G + m->tok, *gp = G + m->pos;
    const int32_t *ids = b->ids;
    const int64_t blocks = (C + EMB_COLS - 1) / EMB_COLS;
#pragma omp parallel for schedule(static) if (blocks > 1 && rows * C > PAR_MIN)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t lo = blk * EMB_COLS, hi = lo + EMB_COLS < C ? lo + EMB_COLS : C;
        for (int64_t r = 0; r < rows; r++) {
            real *t = gt + (int64_t)ids[r] * C, *q = gp + (r % n) * C;
            const real *d = de + r * C;
            for (int64_t j = lo; j < hi; j++) {
                t[j] += d[j];
                q[j] += d[j];
            }
        }
    }
    return 0;
}
