/* projection.c - Linformer projection plans (sharing modes, nonuniform k, kinds) and
 * the application of one projection to a sequence (see projection.h).
 *
 * Parameters are drawn per distinct projection from its own RNG stream (seed,
 * stream = projection index), so a plan is identical whatever the thread count and
 * whatever order its projections are filled in. Applying a linear or gaussian
 * projection is one product (lf_sgemm) on a prefix of E; pooling and conv are single
 * passes over x with the inner loop over the feature dimension d (contiguous,
 * vectorizable).
 */
#include "projection.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "gemm.h"
#include "mem.h"
#include "rng.h"
#include "tilegemm.h"
#include "parallel.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- names ------------------------------------------------------------------- */

static const char *const lf_sharing_names[] = {"none", "headwise", "kv", "layerwise"};
static const char *const lf_kind_names[] = {"linear", "gaussian", "mean", "max", "conv"};
#define LF_NSHARING ((int)(sizeof lf_sharing_names / sizeof lf_sharing_names[0]))
#define LF_NKIND ((int)(sizeof lf_kind_names / sizeof lf_kind_names[0]))

int lf_sharing_parse(const char *s, lf_sharing *out)
{
    if (s)
        for (int i = 0; i < LF_NSHARING; i++)
            if (strcmp(s, lf_sharing_names[i]) == 0) {
                if (out) *out = (lf_sharing)i;
                return 0;
            }
    LF_FAIL("sharing \"%s\": unknown (valid: none, headwise, kv, layerwise)", s ? s : "(null)");
}

const char *lf_sharing_name(lf_sharing s)
{
    return (int)s >= 0 && (int)s < LF_NSHARING ? lf_sharing_names[s] : "unknown";
}

int lf_proj_kind_parse(const char *s, lf_proj_kind *out)
{
    if (s) {
        /* "given" and "learned" name the same explicit matrix: whether it is
         * trained is the caller's business, not the projection's. */
        if (strcmp(s, "given") == 0 || strcmp(s, "learned") == 0) {
            if (out) *out = LF_PROJ_LINEAR;
            return 0;
        }
        for (int i = 0; i < LF_NKIND; i++)
            if (strcmp(s, lf_kind_names[i]) == 0) {
                if (out) *out = (lf_proj_kind)i;
                return 0;
            }
    }
    LF_FAIL("projection kind \"%s\": unknown (valid: linear, given, learned, gaussian, mean, max, "
            "conv)",
            s ? s : "(null)");
}

const char *lf_proj_kind_name(lf_proj_kind kind)
{
    return (int)kind >= 0 && (int)kind < LF_NKIND ? lf_kind_names[kind] : "unknown";
}

/* ---- plan -------------------------------------------------------------------- */

static int lf_kind_pools(lf_proj_kind kind)
{
    return kind == LF_PROJ_MEAN || kind == LF_PROJ_MAX || kind == LF_PROJ_CONV;
}

/* Distinct projection used by (layer, head, which) under a sharing mode; the
 * numbering is documented in projection.h. */
static int lf_share_index(lf_sharing s, int layer, int head, int which, int heads)
{
    switch (s) {
    case LF_SHARE_NONE: return (layer * heads + head) * 2 + which;
    case LF_SHARE_HEADWISE: return layer * 2 + which;
    case LF_SHARE_KV: return layer;
    case LF_SHARE_LAYERWISE: return 0;
    }
    return -1;
}

static int lf_share_count(lf_sharing s, int layers, int heads)
{
    switch (s) {
    case LF_SHARE_NONE: return 2 * layers * heads;
    case LF_SHARE_HEADWISE: return 2 * layers;
    case LF_SHARE_KV: return layers;
    case LF_SHARE_LAYERWISE: return 1;
    }
    return 0;
}

/* Fills one projection's parameters from its own stream (called in parallel). */
static void lf_proj_fill(lf_proj *p, uint64_t seed, int stream)
{
    lf_rng r;
    lf_rng_init(&r, seed, (uint64_t)stream);
    size_t count = (size_t)p->k * (size_t)p->n;
    switch (p->kind) {
    case LF_PROJ_LINEAR: {
        /* torch.nn.init.xavier_uniform_ on a [k, n] weight (fan_out = k, fan_in = n)
         * with fairseq Linformer's gain 1/sqrt(2). */
        double bound = sqrt(0.5) * sqrt(6.0 / (double)(p->k + p->n));
        lf_rng_fill_uniform(&r, p->weights, count, -bound, bound);
        break;
    }
    case LF_PROJ_GAUSSIAN:
        /* Theorem 1's R: entries N(0, 1/k), k = this projection's (largest) k. */
        lf_rng_fill_normal(&r, p->weights, count, 0.0, 1.0 / sqrt((double)p->k));
        break;
    case LF_PROJ_CONV:
        /* Starts as mean pooling, so an untrained conv is a sensible projection. */
        for (int64_t t = 0; t < p->window; t++) p->weights[t] = (float)(1.0 / (double)p->window);
        break;
    case LF_PROJ_MEAN:
    case LF_PROJ_MAX: break;
    }
}

void lf_plan_free(lf_plan *plan)
{
    if (!plan) return;
    if (plan->proj)
        for (int i = 0; i < plan->n_proj; i++) lf_free(plan->proj[i].weights);
    lf_free(plan->proj);
    lf_free(plan->index);
    lf_free(plan->k);
    memset(plan, 0, sizeof *plan);
}

int lf_plan_init(lf_plan *plan, int layers, int heads, int64_t n, const int64_t *k,
                 lf_sharing sharing, lf_proj_kind kind, uint64_t seed)
{
    if (!plan) LF_FAIL("lf_plan_init: NULL plan");
    memset(plan, 0, sizeof *plan); /* safe to free from here on, whatever happens */
    if (layers < 1 || heads < 1)
        LF_FAIL("lf_plan_init: layers = %d and heads = %d must both be >= 1", layers, heads);
    if ((int64_t)layers * heads * 2 > INT_MAX)
        LF_FAIL("lf_plan_init: %d layers x %d heads is too many", layers, heads);
    if (n < 1) LF_FAIL("lf_plan_init: n = %lld must be >= 1", (long long)n);
    if (n > INT_MAX) LF_FAIL("lf_plan_init: n = %lld exceeds the BLAS integer range", (long long)n);
    if ((int)sharing < 0 || (int)sharing >= LF_NSHARING)
        LF_FAIL("lf_plan_init: sharing mode %d is not one of none, headwise, kv, layerwise",
                (int)sharing);
    if ((int)kind < 0 || (int)kind >= LF_NKIND)
        LF_FAIL("lf_plan_init: projection kind %d is not one of linear, gaussian, mean, max, conv",
                (int)kind);
    if (!k) LF_FAIL("lf_plan_init: NULL k (need one k per layer and head)");

    const int lh = layers * heads;
    for (int i = 0; i < lh; i++) {
        if (k[i] < 1 || k[i] > n)
            LF_FAIL("lf_plan_init: k = %lld at layer %d head %d is out of range 1..%lld (n)",
                    (long long)k[i], i / heads, i % heads, (long long)n);
        if (kind == LF_PROJ_CONV && n % k[i] != 0)
            LF_FAIL("lf_plan_init: conv needs k to divide n (kernel = stride = n/k), but layer %d "
                    "head %d has k = %lld and n = %lld",
                    i / heads, i % heads, (long long)k[i], (long long)n);
    }

    const int n_proj = lf_share_count(sharing, layers, heads);
    plan->layers = layers;
    plan->heads = heads;
    plan->n = n;
    plan->sharing = sharing;
    plan->kind = kind;
    plan->k = lf_alloc((size_t)lh, sizeof *plan->k);
    plan->index = lf_alloc((size_t)lh * 2, sizeof *plan->index);
    plan->proj = lf_calloc((size_t)n_proj, sizeof *plan->proj);
    /* first user of each projection, to name both sides of a k conflict */
    int *first = lf_alloc((size_t)n_proj, sizeof *first);
    if (!plan->k || !plan->index || !plan->proj || !first) {
        lf_free(first);
        lf_plan_free(plan);
        lf_error_prefix("lf_plan_init");
        return -1;
    }
    plan->n_proj = n_proj; /* after proj exists, so lf_plan_free never walks a NULL array */
    memcpy(plan->k, k, (size_t)lh * sizeof *k);
    for (int p = 0; p < n_proj; p++) first[p] = -1;

    for (int i = 0; i < lh; i++) {
        for (int which = 0; which < 2; which++) {
            int p = lf_share_index(sharing, i / heads, i % heads, which, heads);
            LF_ASSERT(p >= 0 && p < n_proj);
            plan->index[i * 2 + which] = p;
            lf_proj *pr = &plan->proj[p];
            if (first[p] < 0) {
                first[p] = i;
                pr->k = k[i];
            } else if (k[i] != pr->k) {
                if (lf_kind_pools(kind)) {
                    int f = first[p];
                    lf_error_set("lf_plan_init: %s sharing of a %s projection needs equal k "
                                 "for all its users, but layer %d head %d has k = %lld and "
                                 "layer %d head %d has k = %lld (only linear and gaussian can "
                                 "be shared across different k)",
                                 lf_sharing_name(sharing), lf_proj_kind_name(kind), f / heads,
                                 f % heads, (long long)k[f], i / heads, i % heads,
                                 (long long)k[i]);
                    lf_free(first);
                    lf_plan_free(plan);
                    return -1;
                }
                if (k[i] > pr->k) pr->k = k[i];
            }
        }
    }
    lf_free(first);

    /* Allocate serially (so an out-of-memory message reaches the caller's thread),
     * then draw in parallel: each projection has its own stream. */
    for (int p = 0; p < n_proj; p++) {
        lf_proj *pr = &plan->proj[p];
        pr->kind = kind;
        pr->n = n;
        pr->window = kind == LF_PROJ_CONV ? n / pr->k : 0;
        if (kind == LF_PROJ_LINEAR || kind == LF_PROJ_GAUSSIAN) {
            size_t count;
            if (lf_size_mul((size_t)pr->k, (size_t)n, &count) == 0)
                pr->weights = lf_alloc(count, sizeof(float));
        } else if (kind == LF_PROJ_CONV) {
            pr->weights = lf_alloc((size_t)pr->window, sizeof(float));
        }
        if (kind == LF_PROJ_MEAN || kind == LF_PROJ_MAX) continue; /* no parameters */
        if (!pr->weights) {
            lf_error_prefix("lf_plan_init: weights of projection %d of %d (k = %lld, n = %lld)", p,
                            n_proj, (long long)pr->k, (long long)n);
            lf_plan_free(plan);
            return -1;
        }
    }
#pragma omp parallel for schedule(dynamic, 1) if (n_proj > 1)
    for (int p = 0; p < n_proj; p++) lf_proj_fill(&plan->proj[p], seed, p);
    return 0;
}

int lf_plan_init_pooling(lf_plan *plan)
{
    if (!plan || !plan->proj) LF_FAIL("lf_plan_init_pooling: NULL or uninitialised plan");
    if (plan->kind != LF_PROJ_LINEAR)
        LF_FAIL("lf_plan_init_pooling: the plan's projections are %s; pooling initialisation "
                "is for linear ones", lf_proj_kind_name(plan->kind));
    for (int p = 0; p < plan->n_proj; p++) {
        const lf_proj *pr = &plan->proj[p];
        const int64_t k = pr->k, n = pr->n;
        memset(pr->weights, 0, (size_t)(k * n) * sizeof(float));
        for (int64_t j = 0; j < k; j++) {
            const int64_t lo = j * n / k, hi = (j + 1) * n / k;
            for (int64_t i = lo; i < hi; i++) pr->weights[j * n + i] = (float)(1.0 / (double)(hi - lo));
        }
    }
    return 0;
}

static int lf_plan_check_head(const char *fn, const lf_plan *plan, int layer, int head)
{
    if (!plan || !plan->index) LF_FAIL("%s: NULL or uninitialised plan", fn);
    if (layer < 0 || layer >= plan->layers || head < 0 || head >= plan->heads)
        LF_FAIL("%s: (layer %d, head %d) outside the plan's %d layers x %d heads", fn, layer, head,
                plan->layers, plan->heads);
    return 0;
}

const lf_proj *lf_plan_get(const lf_plan *plan, int layer, int head, int which)
{
    if (lf_plan_check_head("lf_plan_get", plan, layer, head) != 0) return NULL;
    if (which != 0 && which != 1) {
        lf_error_set("lf_plan_get: which = %d must be 0 (key) or 1 (value)", which);
        return NULL;
    }
    return &plan->proj[plan->index[(layer * plan->heads + head) * 2 + which]];
}

int64_t lf_plan_k(const lf_plan *plan, int layer, int head)
{
    if (lf_plan_check_head("lf_plan_k", plan, layer, head) != 0) return -1;
    return plan->k[layer * plan->heads + head];
}

size_t lf_plan_param_count(const lf_plan *plan)
{
    if (!plan || !plan->proj) return 0;
    size_t total = 0;
    for (int p = 0; p < plan->n_proj; p++) {
        const lf_proj *pr = &plan->proj[p];
        switch (pr->kind) {
        case LF_PROJ_LINEAR:
        case LF_PROJ_GAUSSIAN: total += (size_t)pr->k * (size_t)pr->n; break;
        case LF_PROJ_CONV: total += (size_t)pr->window; break;
        case LF_PROJ_MEAN:
        case LF_PROJ_MAX: break;
        }
    }
    return total;
}

/* ---- apply ------------------------------------------------------------------- */

/* xbar [k, d] = alpha E[:k, :n] x: a short, wide matrix times a tall, narrow one.
 * With the suite's kernels (tilegemm.h) the long inner dimension n is streamed
 * without the copies OpenBLAS makes of both operands (the product is bound by
 * memory bandwidth: at k = d = 64 it does 16 flops per byte read); every element is
 * one FMA chain over n, so splitting rows among threads (outside a parallel region;
 * inside one, the product is serial) changes no bit. Otherwise lf_sgemm: one
 * serial sgemm inside a parallel region, OpenMP panels on its own. */
static void lf_project_product(int64_t k, int64_t d, int64_t n, float alpha, const float *e,
                               int64_t lde, const float *x, float *xbar)
{
#if LF_HAVE_TILES
#if !defined(__AVX512F__)
    if (d % 8 == 0)
#endif
    {
#ifdef _OPENMP
        if (omp_get_level() == 0 && 2.0 * (double)k * (double)d * (double)n >= 4.0e6) {
            const int64_t rows = 24; /* four tiles of six rows */
            const int64_t parts = (k + rows - 1) / rows;
#pragma omp parallel for schedule(static) num_threads(lf_threads_get())
            for (int64_t t = 0; t < parts; t++) {
                int64_t r0 = t * rows, r = k - r0 < rows ? k - r0 : rows;
                lf_gemm_stream(r, d, n, alpha, e + r0 * lde, lde, x, d, xbar + r0 * d, d);
            }
            return;
        }
#endif
        lf_gemm_stream(k, d, n, alpha, e, lde, x, d, xbar, d);
        return;
    }
#endif
    lf_sgemm(0, 0, k, d, n, alpha, e, lde, x, d, 0.0f, xbar, d);
}

/* xbar = E[:k_use, :n_use] x with padded rows of x contributing nothing. */
static int lf_apply_matrix(const lf_proj *p, int64_t k_use, const float *x, int64_t n_use,
                           int64_t d, const uint8_t *mask, float *xbar, uint8_t *slot_valid)
{
    /* Trailing padding (the usual case) just shortens the product; only padding
     * between real tokens needs a copy of x with those rows zeroed. Zeroing costs
     * n d, less than gathering the matching columns of E (k n) when k > d, and
     * keeps garbage (NaN, Inf) in padded rows out of the arithmetic. */
    int64_t n_eff = n_use, valid = n_use;
    if (mask) {
        n_eff = 0;
        valid = 0;
        for (int64_t i = 0; i < n_use; i++)
            if (mask[i]) {
                valid++;
                n_eff = i + 1;
            }
    }
    if (slot_valid) memset(slot_valid, valid > 0, (size_t)k_use);
    if (valid == 0) {
        memset(xbar, 0, (size_t)k_use * (size_t)d * sizeof(float));
        return 0;
    }
    const float *xs = x;
    float *scratch = NULL;
    if (valid < n_eff) {
        scratch = lf_alloc((size_t)n_eff, (size_t)d * sizeof(float));
        if (!scratch) {
            lf_error_prefix("lf_proj_apply: copy of x without its padded rows");
            return -1;
        }
        for (int64_t i = 0; i < n_eff; i++) {
            float *dst = scratch + i * d;
            if (mask[i])
                memcpy(dst, x + i * d, (size_t)d * sizeof(float));
            else
                memset(dst, 0, (size_t)d * sizeof(float));
        }
        xs = scratch;
    }
    /* A gaussian user with fewer rows than the shared matrix rescales them so its
     * entries are N(0, 1/k_use), as Theorem 1 wants for its own k. */
    float alpha = 1.0f;
    if (p->kind == LF_PROJ_GAUSSIAN && k_use < p->k)
        alpha = (float)sqrt((double)p->k / (double)k_use);
    lf_project_product(k_use, d, n_eff, alpha, p->weights, p->n, xs, xbar);
    lf_free(scratch);
    return 0;
}

/* Mean or max over the valid rows of each window [floor(j n/k), floor((j+1) n/k))
 * clipped to n_use. Pooling and conv stay on the calling thread: they are one
 * memory-bound read of x (~0.1 ms for n = 16384, d = 64, some 50x less than the
 * product of a linear projection) and callers already parallelize over heads. */
static void lf_apply_pool(const lf_proj *p, const float *x, int64_t n_use, int64_t d,
                          const uint8_t *mask, float *xbar, uint8_t *slot_valid)
{
    const int64_t k = p->k, n = p->n;
    const int is_max = p->kind == LF_PROJ_MAX;
    for (int64_t j = 0; j < k; j++) {
        int64_t lo = j * n / k, hi = (j + 1) * n / k;
        if (hi > n_use) hi = n_use;
        float *restrict row = xbar + j * d;
        int64_t count = 0;
        for (int64_t i = lo; i < hi; i++) {
            if (mask && !mask[i]) continue;
            const float *restrict xi = x + i * d;
            if (count == 0)
                memcpy(row, xi, (size_t)d * sizeof(float));
            else if (is_max)
                for (int64_t c = 0; c < d; c++) row[c] = xi[c] > row[c] ? xi[c] : row[c];
            else
                for (int64_t c = 0; c < d; c++) row[c] += xi[c];
            count++;
        }
        if (count == 0) {
            memset(row, 0, (size_t)d * sizeof(float));
        } else if (!is_max && count > 1) {
            const float inv = (float)(1.0 / (double)count);
            for (int64_t c = 0; c < d; c++) row[c] *= inv;
        }
        if (slot_valid) slot_valid[j] = count > 0;
    }
}

/* xbar[j] = sum_t w[t] x[j window + t] over valid rows below n_use. */
static void lf_apply_conv(const lf_proj *p, const float *x, int64_t n_use, int64_t d,
                          const uint8_t *mask, float *xbar, uint8_t *slot_valid)
{
    const int64_t k = p->k, window = p->window;
    const float *w = p->weights;
    for (int64_t j = 0; j < k; j++) {
        float *restrict row = xbar + j * d;
        memset(row, 0, (size_t)d * sizeof(float));
        int64_t count = 0;
        for (int64_t t = 0; t < window; t++) {
            int64_t i = j * window + t;
            if (i >= n_use) break;
            if (mask && !mask[i]) continue;
            const float *restrict xi = x + i * d;
            const float wt = w[t];
            for (int64_t c = 0; c < d; c++) row[c] += wt * xi[c];
            count++;
        }
        if (slot_valid) slot_valid[j] = count > 0;
    }
}

int lf_proj_apply(const lf_proj *p, int64_t k_use, const float *x, int64_t n_use, int64_t d,
                  const uint8_t *mask, float *xbar, uint8_t *slot_valid)
{
    if (!p) LF_FAIL("lf_proj_apply: NULL projection");
    if (!x || !xbar) LF_FAIL("lf_proj_apply: NULL x or xbar");
    if ((int)p->kind < 0 || (int)p->kind >= LF_NKIND || p->k < 1 || p->n < p->k)
        LF_FAIL("lf_proj_apply: not an initialised projection (kind %d, k = %lld, n = %lld)",
                (int)p->kind, (long long)p->k, (long long)p->n);
    if (d < 1 || d > INT_MAX)
        LF_FAIL("lf_proj_apply: d = %lld is out of range 1..%d", (long long)d, INT_MAX);
    if (n_use < 1 || n_use > p->n)
        LF_FAIL("lf_proj_apply: n_use = %lld is out of range 1..%lld (the projection's n)",
                (long long)n_use, (long long)p->n);
    if (lf_kind_pools(p->kind)) {
        if (k_use != p->k)
            LF_FAIL("lf_proj_apply: k_use = %lld but a %s projection only works with its own k = "
                    "%lld",
                    (long long)k_use, lf_proj_kind_name(p->kind), (long long)p->k);
    } else if (k_use < 1 || k_use > p->k) {
        LF_FAIL("lf_proj_apply: k_use = %lld is out of range 1..%lld (the projection's k)",
                (long long)k_use, (long long)p->k);
    }
    if ((p->kind != LF_PROJ_MEAN && p->kind != LF_PROJ_MAX) && !p->weights)
        LF_FAIL("lf_proj_apply: %s projection without weights", lf_proj_kind_name(p->kind));

    switch (p->kind) {
    case LF_PROJ_LINEAR:
    case LF_PROJ_GAUSSIAN: return lf_apply_matrix(p, k_use, x, n_use, d, mask, xbar, slot_valid);
    case LF_PROJ_MEAN:
    case LF_PROJ_MAX: lf_apply_pool(p, x, n_use, d, mask, xbar, slot_valid); return 0;
    case LF_PROJ_CONV: lf_apply_conv(p, x, n_use, d, mask, xbar, slot_valid); return 0;
    }
    return -1; /* unreachable: kind was checked above */
}
