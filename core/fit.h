/* fit.h - fitting Linformer's projections E and F to a pretrained model's attention.
 *
 * For one head with queries Q, keys K [n, d] and values V [n, dv], the objective is
 * the relative squared output error that lf_lowrank_output_error reports (squared):
 *
 *   T    = softmax(Q K^T / sqrt(d)) V                       (dense attention, the target)
 *   O    = softmax(Q (E K)^T / sqrt(d)) (F V)               (Linformer head)
 *   J    = ||O - T||_F^2 / ||T||_F^2                        (rows of real tokens only)
 *
 * with E, F in R^{k x n}. A plan (projection.h) is fitted on the mean of J over every
 * (example, layer, head); a matrix shared by several users gets the sum of its
 * users' gradients (headwise: the heads of a layer; kv: keys and values; layerwise:
 * everything), so sharing constraints hold by construction.
 *
 * Everything inside the objective and its gradient is float64 (cblas_dgemm, libm
 * exp): the inputs and the plan's weights are float32, but the differences O - T
 * that drive the fit are small against T and would lose their digits in float32.
 *
 * Determinism: the work is split over (example, layer, head) items with OpenMP; each
 * item is computed by one serial BLAS call sequence, and gradients and losses are
 * summed in item order, so the result is bit-identical for any thread count. There
 * is no randomness (full-batch optimisation), so no seed is needed.
 */
#ifndef LF_FIT_H
#define LF_FIT_H

#include <stdint.h>

#include "projection.h"

/* Training data: examples sequences, each with its Q, K, V per (layer, head). */
typedef struct {
    int examples, layers, heads; /* layers and heads must match the plan */
    int64_t d, dv;               /* head dimensions of Q, K and of V */
    /* [examples]: tokens of each sequence, 1 <= len <= plan n; NULL = all plan n. A
     * sequence shorter than the plan's n uses the first len columns of E and F. */
    const int64_t *len;
    /* [examples] or NULL; each [len] or NULL: 1 = token, 0 = padding. Padded keys
     * and values contribute nothing, padded queries are not part of the loss (as in
     * lf_lowrank_output_error). */
    const uint8_t *const *mask;
    /* [(example * layers + layer) * heads + head]: row-major Q, K [len, d], V [len, dv]
     * (the encoder's lf_encoder_attn_head views have this layout). Not copied: they
     * must stay valid during the call. */
    const float *const *q;
    const float *const *k;
    const float *const *v;
} lf_fit_data;

/* Adam on the full batch (no sampling), bias-corrected, with a cosine decay of the
 * learning rate from lr to lr * lr_final over the steps. Adam rather than gradient
 * descent: the scale of the gradient varies by orders of magnitude between heads,
 * sharing modes and k, and Adam's per-coordinate step needs no line search. */
typedef struct {
    int steps;       /* Adam steps (0: evaluate only) */
    double lr;       /* initial step, in units of the weights (e.g. 1e-2) */
    double lr_final; /* final lr as a fraction of lr (cosine decay); 1 = constant */
    double beta1, beta2, eps;
    int verbose;     /* > 0: print the loss every `verbose` steps on stderr */
} lf_fit_opts;

/* Sensible defaults: 200 steps, lr 1e-2, lr_final 0.1, beta 0.9 / 0.999, eps 1e-12
 * (the gradients of a relative objective are small; a larger eps would damp them). */
lf_fit_opts lf_fit_opts_default(void);

/* Mean of J over every (example, layer, head) for the plan as it is; the plan's
 * kind must be linear or gaussian (an explicit [k, n] matrix). */
int lf_fit_loss(const lf_plan *plan, const lf_fit_data *data, double *loss);

/* The same and its gradient with respect to every projection's weights: grad has
 * lf_plan_param_count(plan) doubles, the projections' [k, n] blocks in projection
 * order (plan->proj[0], plan->proj[1], ...). Columns beyond a sequence's length and
 * rows beyond every user's k get zero. */
int lf_fit_loss_grad(const lf_plan *plan, const lf_fit_data *data, double *loss, double *grad);

/* A session caches the dense targets of (plan, data) so that repeated evaluations
 * with changing weights (an optimiser of one's own, e.g. over conv kernels expanded
 * into the plan's matrices) pay for them once. The plan and data are kept by
 * pointer; the plan's structure must not change between calls, its weights may.
 * lf_fit_session_eval is lf_fit_loss_grad (grad may be NULL: loss only). */
typedef struct lf_fit_session lf_fit_session;
lf_fit_session *lf_fit_session_new(const lf_plan *plan, const lf_fit_data *data);
int lf_fit_session_eval(lf_fit_session *s, double *loss, double *grad);
void lf_fit_session_free(lf_fit_session *s);

/* Fits the plan's weights in place with Adam from their current values (e.g. the
 * gaussian or linear initialisation). Keeps the best iterate seen (the loss is
 * evaluated at every step anyway), so the training loss never ends above its start.
 * final_loss (may be NULL): the mean J of the weights left in the plan. The plan
 * keeps its kind: a fitted gaussian plan still rescales rows by sqrt(k / k_use) for
 * users with a smaller k, and the fit accounts for that. Memory: the dense targets
 * are cached, examples * layers * heads * n * dv doubles, plus two Adam moments and
 * a best copy of the parameters (double), plus per-thread work space. */
int lf_fit_plan(lf_plan *plan, const lf_fit_data *data, const lf_fit_opts *opts,
                double *final_loss);

/* One head in double, for checks: J and (when de, df are not NULL) dJ/dE, dJ/dF
 * [kp, n]. q, k: [n, d]; v: [n, dv]; mask: [n] or NULL; e, f: [kp, n]. The target is
 * computed from q, k, v on every call. */
int lf_fit_head_d(const double *q, const double *k, const double *v, const uint8_t *mask,
                  int64_t n, int64_t d, int64_t dv, const double *e, const double *f, int64_t kp,
                  double *loss, double *de, double *df);

#endif
