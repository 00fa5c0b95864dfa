// mlm_ops_cuda.cu - the kernels of masked-LM training on the GPU (see mlm_ops_cuda.h):
// each is a __host__ __device__ functor run by a grid-stride kernel (one index per
// element), a block-per-row kernel (row reductions, lf_block_reduce) or a
// thread-per-column kernel, and on the host by the same functor with one thread per
// block (dev = 0, cuda_util.h's lf_blk), so that the tests without a GPU run the
// arithmetic and indexing of the device code.
#include <math.h>

#include "cuda_util.h"
#include "mlm_ops_cuda.h"

static const int kT = 256; // threads per block, a power of two (tree reductions)

struct lf_op_maxd {
    __host__ __device__ double operator()(double a, double b) const { return a > b ? a : b; }
};

// ---- the three launch shapes, on the device or the host ----------------------------

template <typename F> __global__ void each_kernel(int64_t total, F f)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        f(i);
}

// f(i) for i < total.
template <typename F> static int run_each(int dev, int64_t total, F f)
{
    if (total <= 0) return 0;
    if (!dev) {
        for (int64_t i = 0; i < total; i++) f(i);
        return 0;
    }
    int64_t blocks = (total + kT - 1) / kT;
    if (blocks > 65535) blocks = 65535;
    each_kernel<<<(unsigned)blocks, kT>>>(total, f);
    LF_CUDA_LAUNCHED();
    return 0;
}

template <typename F> __global__ void rows_kernel(F f)
{
    __shared__ double red[kT];
    f(LF_BLK(), red);
}

// f(blk, red) for every row blk.bx < rows and item blk.by < items, a block each.
template <typename F> static int run_rows(int dev, int64_t rows, int64_t items, F f)
{
    if (rows <= 0 || items <= 0) return 0;
    if (!dev) {
        double red[1];
        for (int64_t y = 0; y < items; y++)
            for (int64_t x = 0; x < rows; x++) f(lf_blk{0, 1, x, y}, red);
        return 0;
    }
    if (rows > INT32_MAX || items > 65535)
        LF_FAIL("mlm cuda: %lld rows x %lld items exceed a grid", (long long)rows, (long long)items);
    rows_kernel<<<dim3((unsigned)rows, (unsigned)items), kT>>>(f);
    LF_CUDA_LAUNCHED();
    return 0;
}

// ---- embeddings -------------------------------------------------------------------------

struct embed_f {
    const int32_t *ids;
    const float *tok, *pos;
    int64_t n, C;
    float *x;
    __host__ __device__ void operator()(int64_t i) const
    {
        const int64_t r = i / C, j = i % C;
        x[i] = tok[(int64_t)ids[r] * C + j] + pos[(r % n) * C + j];
    }
};

int lf_tr_embed(int dev, const int32_t *ids, const float *tok, const float *pos, int64_t rows,
                int64_t n, int64_t C, float *x)
{
    return run_each(dev, rows * C, embed_f{ids, tok, pos, n, C, x});
}

// Token rows: one thread per (distinct id, column) adds that id's rows in increasing r;
// position rows: one thread per (position, column) adds rows p, p + n, ... in order. Each
// sum runs in a register from the value already there, in the order of the CPU's loop
// over r (lf_mlm), so the result is the same bit for bit.
struct embed_grad_tok_f {
    const float *de;
    const int32_t *uid, *start, *order;
    int64_t C;
    float *gtok;
    __host__ __device__ void operator()(int64_t i) const
    {
        const int64_t u = i / C, j = i % C;
        float *t = gtok + (int64_t)uid[u] * C + j;
        float acc = *t;
        for (int32_t q = start[u]; q < start[u + 1]; q++) acc += de[(int64_t)order[q] * C + j];
        *t = acc;
    }
};

struct embed_grad_pos_f {
    const float *de;
    int64_t rows, n, C;
    float *gpos;
    __host__ __device__ void operator()(int64_t i) const
    {
        const int64_t p = i / C, j = i % C;
        float acc = gpos[p * C + j];
        for (int64_t r = p; r < rows; r += n) acc += de[r * C + j];
        gpos[p * C + j] = acc;
    }
};

int64_t lf_tr_embed_groups(const int32_t *ids, int64_t rows, int64_t V, int32_t *count,
                           int32_t *uid, int32_t *start, int32_t *order)
{
    for (int64_t t = 0; t <= V; t++) count[t] = 0;
    for (int64_t r = 0; r < rows; r++) count[ids[r] + 1]++;
    int64_t groups = 0;
    for (int64_t t = 0; t < V; t++) {
        if (count[t + 1] > 0) {
            uid[groups] = (int32_t)t;
            start[groups++] = count[t];
        }
        count[t + 1] += count[t]; // count[t]: first slot of id t
    }
    start[groups] = (int32_t)rows;
    for (int64_t r = 0; r < rows; r++) order[count[ids[r]]++] = (int32_t)r; // stable
    return groups;
}

int lf_tr_embed_grad(int dev, const float *de, int64_t groups, const int32_t *uid,
                     const int32_t *start, const int32_t *order, int64_t rows, int64_t n,
                     int64_t C, float *gtok, float *gpos)
{
    LF_TRY(run_each(dev, groups * C, embed_grad_tok_f{de, uid, start, order, C, gtok}));
    return run_each(dev, (rows < n ? rows : n) * C, embed_grad_pos_f{de, rows, n, C, gpos});
}

// ---- layer norm -------------------------------------------------------------------------

struct ln_forward_f {
    const float *x;
    int64_t C;
    const float *g, *b;
    double eps;
    float *xhat;
    double *rstd;
    float *y;
    __host__ __device__ void operator()(const lf_blk blk, double *red) const
    {
        const float *row = x + blk.bx * C;
        double s = 0;
        for (int64_t j = blk.tid; j < C; j += blk.nthreads) s += (double)row[j];
        const double mean = lf_block_reduce(blk, s, red, lf_op_add()) / (double)C;
        double q = 0;
        for (int64_t j = blk.tid; j < C; j += blk.nthreads) {
            const double d = (double)row[j] - mean;
            q += d * d;
        }
        const double inv = 1.0 / sqrt(lf_block_reduce(blk, q, red, lf_op_add()) / (double)C + eps);
        if (blk.tid == 0) rstd[blk.bx] = inv;
        // every read of the row for the statistics precedes the reduction's last barrier
        for (int64_t j = blk.tid; j < C; j += blk.nthreads) {
            const double xh = ((double)row[j] - mean) * inv;
            xhat[blk.bx * C + j] = (float)xh;
            y[blk.bx * C + j] = (float)(xh * (double)g[j] + (double)b[j]);
        }
    }
};

int lf_tr_ln_forward(int dev, const float *x, int64_t rows, int64_t C, const float *g,
                     const float *b, double eps, float *xhat, double *rstd, float *y)
{
    return run_rows(dev, rows, 1, ln_forward_f{x, C, g, b, eps, xhat, rstd, y});
}

struct ln_backward_f {
    const float *dy, *xhat;
    const double *rstd;
    int64_t C;
    const float *g;
    float *dx;
    int accumulate;
    __host__ __device__ void operator()(const lf_blk blk, double *red) const
    {
        const float *dyr = dy + blk.bx * C, *xr = xhat + blk.bx * C;
        double a1 = 0, a2 = 0;
        for (int64_t j = blk.tid; j < C; j += blk.nthreads) {
            const double t = (double)dyr[j] * (double)g[j];
            a1 += t;
            a2 += t * (double)xr[j];
        }
        const double m1 = lf_block_reduce(blk, a1, red, lf_op_add()) / (double)C;
        const double m2 = lf_block_reduce(blk, a2, red, lf_op_add()) / (double)C;
        const double rs = rstd[blk.bx];
        float *dxr = dx + blk.bx * C;
        for (int64_t j = blk.tid; j < C; j += blk.nthreads) {
            const double t = (double)dyr[j] * (double)g[j];
            const double v = rs * (t - m1 - (double)xr[j] * m2);
            dxr[j] = accumulate ? (float)((double)dxr[j] + v) : (float)v;
        }
    }
};

int lf_tr_ln_backward_rows(int dev, const float *dy, const float *xhat, const double *rstd,
                           int64_t rows, int64_t C, const float *g, float *dx, int accumulate)
{
    return run_rows(dev, rows, 1, ln_backward_f{dy, xhat, rstd, C, g, dx, accumulate});
}

// ---- column sums --------------------------------------------------------------------------

int64_t lf_tr_colsum_scratch(int64_t rows, int64_t cols)
{
    return 2 * ((rows + LF_TR_COLSUM_ROWS - 1) / LF_TR_COLSUM_ROWS) * cols;
}

struct colsum_part_f { // index = chunk * cols + j; part: sums of x, then (y) of x y
    const float *x, *y;
    int64_t rows, cols, ld, n_part;
    double *part;
    __host__ __device__ void operator()(int64_t i) const
    {
        const int64_t ch = i / cols, j = i % cols, r0 = ch * LF_TR_COLSUM_ROWS;
        const int64_t r1 = r0 + LF_TR_COLSUM_ROWS < rows ? r0 + LF_TR_COLSUM_ROWS : rows;
        double s = 0, sy = 0;
        for (int64_t r = r0; r < r1; r++) {
            const double v = (double)x[r * ld + j];
            s += v;
            if (y) sy += v * (double)y[r * ld + j];
        }
        part[i] = s;
        if (y) part[n_part + i] = sy;
    }
};

struct colsum_total_f {
    const double *part;
    int64_t chunks, cols;
    float *acc, *acc_xy;
    __host__ __device__ void operator()(int64_t j) const
    {
        double s = 0, sy = 0;
        for (int64_t ch = 0; ch < chunks; ch++) {
            s += part[ch * cols + j];
            if (acc_xy) sy += part[(chunks + ch) * cols + j];
        }
        acc[j] = (float)((double)acc[j] + s);
        if (acc_xy) acc_xy[j] = (float)((double)acc_xy[j] + sy);
    }
};

int lf_tr_colsum(int dev, const float *x, const float *y, int64_t rows, int64_t cols, int64_t ld,
                 double *scratch, float *acc, float *acc_xy)
{
    if (!y != !acc_xy) LF_FAIL("lf_tr_colsum: y and acc_xy go together");
    const int64_t chunks = (rows + LF_TR_COLSUM_ROWS - 1) / LF_TR_COLSUM_ROWS, n_part = chunks * cols;
    if (run_each(dev, n_part, colsum_part_f{x, y, rows, cols, ld, n_part, scratch})) return -1;
    return run_each(dev, cols, colsum_total_f{scratch, chunks, cols, acc, acc_xy});
}

// ---- GELU ------------------------------------------------------------------------------------

struct bias_gelu_f {
    float *u, *g;
    int64_t F;
    const float *bias;
    __host__ __device__ void operator()(int64_t i) const
    {
        const float t = u[i] + bias[i % F];
        u[i] = t;
        g[i] = 0.5f * t * (1.0f + erff(t * 0.70710678f));
    }
};

int lf_tr_bias_gelu(int dev, float *u, float *g, int64_t rows, int64_t F, const float *bias)
{
    return run_each(dev, rows * F, bias_gelu_f{u, g, F, bias});
}

struct gelu_backward_f {
    const float *u;
    float *du;
    __host__ __device__ void operator()(int64_t i) const
    {
        const float x = u[i];
        const float cdf = 0.5f * (1.0f + erff(x * 0.70710678f));
        du[i] *= cdf + x * 0.39894228f * expf(-0.5f * x * x);
    }
};

int lf_tr_gelu_backward(int dev, const float *u, float *du, int64_t count)
{
    return run_each(dev, count, gelu_backward_f{u, du});
}

// ---- heads --------------------------------------------------------------------------------

// Index i over (row r = b n + t, column c = h D + x) of a [B n, C] matrix, and the
// matching element of a [B, H, n, D] one.
__host__ __device__ static inline int64_t head_index(int64_t i, int64_t n, int64_t H, int64_t D,
                                                     int64_t *r, int64_t *c)
{
    const int64_t C = H * D;
    *r = i / C;
    *c = i % C;
    const int64_t b = *r / n, t = *r % n, h = *c / D, x = *c % D;
    return ((b * H + h) * n + t) * D + x;
}

struct qkv_split_f {
    const float *qkv, *bqkv;
    const uint8_t *mask;
    int64_t n, H, D;
    float *q, *k, *v;
    __host__ __device__ void operator()(int64_t i) const
    {
        int64_t r, c;
        const int64_t dst = head_index(i, n, H, D, &r, &c), C = H * D;
        const float *src = qkv + r * 3 * C;
        const int pad = mask && !mask[r];
        q[dst] = src[c] + bqkv[c];
        k[dst] = pad ? 0.0f : src[C + c] + bqkv[C + c];
        v[dst] = pad ? 0.0f : src[2 * C + c] + bqkv[2 * C + c];
    }
};

int lf_tr_qkv_split(int dev, const float *qkv, const float *bqkv, const uint8_t *mask, int64_t B,
                    int64_t n, int64_t H, int64_t D, float *q, float *k, float *v)
{
    return run_each(dev, B * n * H * D, qkv_split_f{qkv, bqkv, mask, n, H, D, q, k, v});
}

struct kv_merge_f {
    const float *dk, *dv;
    const uint8_t *mask;
    int64_t n, H, D;
    float *dqkv;
    __host__ __device__ void operator()(int64_t i) const
    {
        int64_t r, c;
        const int64_t src = head_index(i, n, H, D, &r, &c), C = H * D;
        const int pad = mask && !mask[r];
        dqkv[r * 3 * C + C + c] = pad ? 0.0f : dk[src];
        dqkv[r * 3 * C + 2 * C + c] = pad ? 0.0f : dv[src];
    }
};

int lf_tr_kv_merge(int dev, const float *dk, const float *dv, const uint8_t *mask, int64_t B,
                   int64_t n, int64_t H, int64_t D, float *dqkv)
{
    return run_each(dev, B * n * H * D, kv_merge_f{dk, dv, mask, n, H, D, dqkv});
}

// ---- attention softmax ------------------------------------------------------------------------

struct softmax_f {
    float *s;
    int64_t item_stride, cols, ld;
    const uint8_t *valid;
    int64_t valid_stride;
    __host__ __device__ void operator()(const lf_blk blk, double *red) const
    {
        float *row = s + blk.by * item_stride + blk.bx * ld;
        const uint8_t *ok = valid ? valid + blk.by * valid_stride : NULL;
        double mx = -INFINITY;
        for (int64_t j = blk.tid; j < cols; j += blk.nthreads)
            if ((!ok || ok[j]) && (double)row[j] > mx) mx = (double)row[j];
        mx = lf_block_reduce(blk, mx, red, lf_op_maxd());
        double z = 0;
        for (int64_t j = blk.tid; j < cols; j += blk.nthreads) {
            const float e = (!ok || ok[j]) ? expf(row[j] - (float)mx) : 0.0f;
            row[j] = e;
            z += (double)e;
        }
        z = lf_block_reduce(blk, z, red, lf_op_add());
        const double inv = z > 0 ? 1.0 / z : 0.0;
        for (int64_t j = blk.tid; j < cols; j += blk.nthreads) row[j] = (float)((double)row[j] * inv);
    }
};

int lf_tr_softmax(int dev, float *s, int64_t items, int64_t item_stride, int64_t rows,
                  int64_t cols, int64_t ld, const uint8_t *valid, int64_t valid_stride)
{
    return run_rows(dev, rows, items, softmax_f{s, item_stride, cols, ld, valid, valid_stride});
}

struct softmax_backward_f {
    const float *p;
    float *dp;
    int64_t item_stride, cols, ld;
    __host__ __device__ void operator()(const lf_blk blk, double *red) const
    {
        const int64_t off = blk.by * item_stride + blk.bx * ld;
        const float *pr = p + off;
        float *gr = dp + off;
        double d = 0;
        for (int64_t j = blk.tid; j < cols; j += blk.nthreads) d += (double)gr[j] * (double)pr[j];
        d = lf_block_reduce(blk, d, red, lf_op_add());
        for (int64_t j = blk.tid; j < cols; j += blk.nthreads)
            gr[j] = (float)((double)pr[j] * ((double)gr[j] - d));
    }
};

int lf_tr_softmax_backward(int dev, const float *p, float *dp, int64_t items, int64_t item_stride,
                           int64_t rows, int64_t cols, int64_t ld)
{
    return run_rows(dev, rows, items, softmax_backward_f{p, dp, item_stride, cols, ld});
}

// ---- loss ---------------------------------------------------------------------------------------

struct xent_f {
    float *logits;
    int64_t M, V;
    const float *bias;
    const int32_t *target;
    double *row_loss;
    __host__ __device__ void operator()(const lf_blk blk, double *red) const
    {
        float *row = logits + blk.bx * V;
        const int32_t tg = target[blk.bx];
        double mx = -INFINITY;
        for (int64_t j = blk.tid; j < V; j += blk.nthreads) {
            row[j] += bias[j];
            if ((double)row[j] > mx) mx = (double)row[j];
        }
        mx = lf_block_reduce(blk, mx, red, lf_op_maxd()); // ends with a barrier: row is final
        const double target_logit = (double)row[tg];
        LF_SYNC(); // every thread has read row[tg] before it is overwritten
        double z = 0;
        for (int64_t j = blk.tid; j < V; j += blk.nthreads) {
            const float e = expf(row[j] - (float)mx);
            row[j] = e;
            z += (double)e;
        }
        z = lf_block_reduce(blk, z, red, lf_op_add());
        if (blk.tid == 0) row_loss[blk.bx] = mx + log(z) - target_logit;
        const double inv = 1.0 / z, invm = 1.0 / (double)M;
        for (int64_t j = blk.tid; j < V; j += blk.nthreads)
            row[j] = (float)(((double)row[j] * inv - (j == tg ? 1.0 : 0.0)) * invm);
    }
};

int lf_tr_xent(int dev, float *logits, int64_t M, int64_t V, const float *bias,
               const int32_t *target, double *row_loss)
{
    return run_rows(dev, M, 1, xent_f{logits, M, V, bias, target, row_loss});
}

struct gather_f {
    const float *src;
    const int64_t *idx;
    int64_t C;
    float *dst;
    int scatter;
    __host__ __device__ void operator()(int64_t i) const
    {
        const int64_t r = i / C, j = i % C;
        if (scatter)
            dst[idx[r] * C + j] = src[i];
        else
            dst[i] = src[idx[r] * C + j];
    }
};

int lf_tr_gather_rows(int dev, const float *src, const int64_t *idx, int64_t M, int64_t C,
                      float *dst)
{
    return run_each(dev, M * C, gather_f{src, idx, C, dst, 0});
}

int lf_tr_scatter_rows(int dev, const float *src, const int64_t *idx, int64_t M, int64_t C,
                       float *dst)
{
    return run_each(dev, M * C, gather_f{src, idx, C, dst, 1});
}

// ---- shared projection gradients ----------------------------------------------------------------

enum { kMaxUsers = 64 };
struct proj_grad_f {
    const float *pg;
    int64_t stride, B, slots;
    int users[kMaxUsers];
    int n_users;
    float *g;
    __host__ __device__ void operator()(int64_t e) const
    {
        double s = 0;
        for (int64_t b = 0; b < B; b++)
            for (int u = 0; u < n_users; u++) s += (double)pg[(b * slots + users[u]) * stride + e];
        g[e] = (float)((double)g[e] + s);
    }
};

int lf_tr_proj_grad(int dev, const float *pg, int64_t stride, int64_t B, int64_t slots,
                    const int *users, int n_users, int64_t count, float *g)
{
    if (n_users < 0 || n_users > kMaxUsers)
        LF_FAIL("mlm cuda: %d users of one projection in a layer (at most %d)", n_users, kMaxUsers);
    proj_grad_f f;
    f.pg = pg;
    f.stride = stride;
    f.B = B;
    f.slots = slots;
    for (int u = 0; u < n_users; u++) f.users[u] = users[u];
    f.n_users = n_users;
    f.g = g;
    return run_each(dev, count, f);
}
