/* projection.h - Linformer's projection plan: sharing modes, nonuniform k, kinds.
 *
 * A plan says, for every (layer, head, key|value), which projection it uses, with
 * what k, of which kind, and where its parameters live. Sharing modes and
 * nonuniform k are just different plans:
 *   none       one projection per (layer, head, key|value)     2 L H distinct
 *   headwise   per layer one E (keys) and one F (values)       2 L
 *   kv         per layer one matrix, E = F                     L
 *   layerwise  one matrix for every layer, head, key and value 1
 * For L = 12, H = 12 that gives 288 / 24 / 12 / 1 (the paper's 24 / 12 / 1).
 *
 * Kinds: linear (explicit k x n matrix, learned or given; Xavier-uniform init with
 * gain 1/sqrt(2) as fairseq, i.e. U(-b, b) with b = sqrt(1/2) sqrt(6 / (k + n))),
 * gaussian (fixed, entries N(0, 1/k), Theorem 1), mean and max pooling (slot j covers
 * positions [floor(j n/k), floor((j+1) n/k)): the windows partition 0..n-1, sizes
 * differ by at most one; note PyTorch's AdaptiveAvgPool1d ends its windows at
 * ceil((j+1) n/k), so its windows overlap when k does not divide n), conv (kernel =
 * stride = n/k, one kernel shared by all channels, i.e. a block-structured E;
 * requires k | n; initialised to 1/window, i.e. mean pooling).
 *
 * Nonuniform k with sharing: a shared linear/gaussian projection has k = the largest
 * k among its users and each user takes its first k rows (gaussian rows are rescaled
 * by sqrt(k_max / k) so entries stay N(0, 1/k)). Pooling and conv projections cannot
 * serve users with different k; lf_plan_init rejects such plans.
 *
 * A sequence shorter than the plan's n uses the first n_use columns (official code).
 */
#ifndef LF_PROJECTION_H
#define LF_PROJECTION_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LF_SHARE_NONE, LF_SHARE_HEADWISE, LF_SHARE_KV, LF_SHARE_LAYERWISE } lf_sharing;
typedef enum { LF_PROJ_LINEAR, LF_PROJ_GAUSSIAN, LF_PROJ_MEAN, LF_PROJ_MAX, LF_PROJ_CONV } lf_proj_kind;

/* Names are case-sensitive. "none", "headwise", "kv", "layerwise"; -1 (error set,
 * listing the valid names) for anything else, NULL included. */
int lf_sharing_parse(const char *s, lf_sharing *out);
const char *lf_sharing_name(lf_sharing s);
/* "linear" (also "given", "learned"), "gaussian", "mean", "max", "conv". */
int lf_proj_kind_parse(const char *s, lf_proj_kind *out);
/* The canonical name ("linear" for all three aliases); "unknown" for a value
 * outside the enum. Same for lf_sharing_name. */
const char *lf_proj_kind_name(lf_proj_kind kind);

/* One distinct projection and its parameters. */
typedef struct {
    lf_proj_kind kind;
    int64_t k;      /* rows: projected length */
    int64_t n;      /* columns: maximum sequence length */
    int64_t window; /* conv: n / k; 0 otherwise */
    float *weights; /* linear, gaussian: [k, n]; conv: [window]; mean, max: NULL (owned by the plan) */
} lf_proj;

typedef struct {
    int layers, heads;
    int64_t n;
    lf_sharing sharing;
    lf_proj_kind kind;
    int64_t *k;   /* [layers * heads]: k of each head */
    int n_proj;   /* number of distinct projections */
    lf_proj *proj; /* [n_proj] */
    int *index;   /* [layers * heads * 2]: projection of (layer, head, 0 = key | 1 = value) */
} lf_plan;

/* Numbering of the distinct projections, index[(layer * heads + head) * 2 + which]:
 *   none       (layer * heads + head) * 2 + which
 *   headwise   layer * 2 + which
 *   kv         layer
 *   layerwise  0
 *
 * k: [layers * heads] per-head k, layer-major (each 1 <= k <= n; copied). Needs
 * layers, heads, n >= 1; conv needs k | n for every head. Parameters are
 * initialised by kind from (seed, stream = projection index), so they do not depend
 * on the thread count. Fails (error set) on impossible combinations, naming the
 * offending layer/head and values; on failure *plan is zeroed (safe to free). */
int lf_plan_init(lf_plan *plan, int layers, int heads, int64_t n, const int64_t *k,
                 lf_sharing sharing, lf_proj_kind kind, uint64_t seed);
/* Re-initialises every projection of a linear plan as mean pooling: row j of each
 * k x n matrix is 1 / |W_j| on the window W_j = [floor(j n/k), floor((j+1) n/k)) of
 * the mean kind, 0 elsewhere. Such an E starts as a local projection (as conv does) but
 * stays a free k x n matrix in training. A user of a shared projection with fewer rows
 * takes the first k of these windows. Fails (error set) for a plan that is not linear. */
int lf_plan_init_pooling(lf_plan *plan);
/* Frees everything and zeroes *plan; safe on a zeroed or failed plan, and twice. */
void lf_plan_free(lf_plan *plan);

/* The projection of (layer, head, which = 0 key | 1 value), owned by the plan; NULL
 * (error set) for an index outside the plan. Its k may exceed the head's k (shared
 * linear/gaussian): pass lf_plan_k as k_use to lf_proj_apply. */
const lf_proj *lf_plan_get(const lf_plan *plan, int layer, int head, int which);
/* The head's own k; -1 (error set) for an index outside the plan. */
int64_t lf_plan_k(const lf_plan *plan, int layer, int head);
/* Trainable/stored parameter count over distinct projections (linear: k n; conv:
 * window; gaussian counts k n stored values; pooling 0). */
size_t lf_plan_param_count(const lf_plan *plan);

/* xbar[k_use, d] = projection of x[n_use, d] (row-major, leading dimension d), with
 * 1 <= n_use <= proj->n (first n_use columns) and 1 <= k_use <= proj->k (first k_use
 * rows; must equal proj->k for pooling and conv). mask: [n_use] or NULL (1 = token,
 * 0 = padding); padded rows of x contribute nothing, whatever they hold (NaN and Inf
 * included); x is not modified. slot_valid: [k_use] or NULL, set to 0 for slots that
 * saw no real token (pass it to lf_attention_projected as slot_mask); such slots get
 * a zero row.
 *   linear/gaussian: one lf_sgemm with E[:k_use, :n_use]; gaussian multiplies by
 *     sqrt(k / k_use) when k_use < k. Every slot sees every position, so slot_valid
 *     is all 1 unless no row at all is valid. Trailing padding costs nothing; padding
 *     between tokens costs a temporary copy of x (n_use x d).
 *   mean/max: over the valid rows of the window (windows of the plan's n, clipped
 *     to n_use).
 *   conv: xbar[j] = sum_t w[t] x[j window + t] over valid rows below n_use.
 * xbar must not overlap x. Bit-identical for any thread count. Pooling and conv run
 * on the calling thread; the product is serial inside an OpenMP region and split
 * into OpenMP panels outside one (gemm.h). Safe to call from several threads. */
int lf_proj_apply(const lf_proj *p, int64_t k_use, const float *x, int64_t n_use, int64_t d,
                  const uint8_t *mask, float *xbar, uint8_t *slot_valid);

#endif
