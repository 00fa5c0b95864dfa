/* ablation.h - per-head low-rank measurements of a pretrained model's attention,
 * accumulated over sequences (the work behind bin/lowrank's /lowrank/svd_error,
 * jl_error and output_error).
 *
 * For every sequence, layer l, head h and k in a list:
 *   svd_error    ||P - P_k||_F / ||P||_F, the best rank-k error (Eckart-Young, from the
 *                singular values of P; lowrank.h)
 *   jl_error     ||P R^T R - P||_F / ||P||_F for R [k, n] with N(0, 1/k) entries,
 *                `trials` draws (Theorem 1; lf_lowrank_jl_error)
 *   jl_out_error ||P R^T R V - P V||_F / ||P V||_F with the same draws' distribution
 *                (the theorem's guarantee is per column; this is its output-level form)
 * and for every plan in a list:
 *   output_error ||P V - softmax(Q (E K)^T / sqrt d) (F V)||_F / ||P V||_F  (as
 *                lf_lowrank_output_error, with P V taken from the encoder's output)
 * Means over sequences (JL: over sequences and trials) and sample standard
 * deviations (NaN for a single value) are kept with Welford updates in sequence
 * order. The JL draws of (sequence s, layer, head, k index) use the RNG stream
 * ((s L + l) H + h) nk + ki, so results do not depend on batching or threads.
 *
 * Sequences must be unpadded (mask NULL): every measurement is over all n tokens.
 */
#ifndef LF_ABLATION_H
#define LF_ABLATION_H

#include <stdint.h>

#include "encoder.h"
#include "projection.h"
#include "spectrum.h"

typedef struct {
    double *mean, *m2; /* [count] */
    int64_t *n;        /* [count] values added per entry */
    int64_t count;
} lf_ab_stat;

typedef struct {
    int layers, heads;
    int64_t n;
    int nk;
    int64_t *ks;          /* [nk] */
    int nplans;
    const lf_plan *const *plans; /* [nplans], not owned; NULL entries are skipped (NaN) */
    int jl_trials;        /* 0: no JL measurements */
    uint64_t seed;
    int64_t *seen;        /* [layers]: sequences added per layer */
    lf_ab_stat svd, jl, jl_out; /* [nk, layers, heads] */
    lf_ab_stat out;             /* [nplans, layers, heads] */
} lf_ablation;

/* plans: [nplans] (may hold NULL), each made for (layers, heads, n); kept by
 * pointer. ks: [nk], each in 1..n (copied). */
int lf_ablation_init(lf_ablation *ab, int layers, int heads, int64_t n, const int64_t *ks, int nk,
                     const lf_plan *const *plans, int nplans, int jl_trials, uint64_t seed);
void lf_ablation_free(lf_ablation *ab);

/* An encoder observe hook (user = the lf_ablation): adds layer a->layer of the batch;
 * needs a->probs (hooks.keep_probs = 1) and a->mask == NULL. Parallel over
 * (sequence, head, k) and (plan, sequence, head) items with serial work inside. */
int lf_ablation_observe(void *user, lf_encoder_attn *a);

/* Mean and std of a statistic, into arrays of its count (either may be NULL). */
void lf_ab_stat_results(const lf_ab_stat *s, double *mean, double *std);

#endif
