/* ablation_plan.h - the projection plans compared by the low-rank ablation
 * (bin/lowrank): the projection kinds as the ablation names them, how each kind is
 * built (drawn, parameter-free, or fitted to a model's attention), and the per-layer
 * k of a nonuniform plan (a list, or chosen from the attention spectrum).
 *
 * Kinds and what sharing means for each:
 *   gaussian  fixed N(0, 1/k) matrices (Theorem 1), drawn from (seed, projection
 *             index). Sharing is real: "none" draws 2 L H independent matrices,
 *             "headwise" one E and one F per layer, "kv" one per layer (E = F),
 *             "layerwise" a single matrix for everything.
 *   mean, max pooling over windows of n/k positions: no parameters, so every sharing
 *             mode gives the same projection. The ablation computes them once and
 *             stores the same numbers under every sharing mode, with
 *             lf_ab_kind_sharing_applies() = 0 recorded in the file.
 *   conv      Linformer's convolution (kernel = stride = n/k, one kernel shared by
 *             the channels): initialised to mean pooling (kernel 1/window) and its
 *             kernel fitted to the model like `fitted`, one kernel per distinct
 *             projection of the sharing mode (2 L H / 2 L / L / 1 kernels).
 *   fitted    a free k x n matrix per distinct projection, initialised to the mean-
 *             pooling matrix (so the fit starts from the mean baseline, not from
 *             noise) and fitted with lf_fit_plan (Adam on the output error) on the
 *             training sequences.
 * Step sizes of both fits are relative to the initial weight scale k/n (a window's
 * 1/size), so one setting serves every k.
 */
#ifndef LF_ABLATION_PLAN_H
#define LF_ABLATION_PLAN_H

#include <stdint.h>

#include "fit.h"
#include "projection.h"

typedef enum { LF_AB_GAUSSIAN, LF_AB_MEAN, LF_AB_MAX, LF_AB_CONV, LF_AB_FITTED } lf_ab_kind;
#define LF_AB_KINDS 5

/* "gaussian", "mean", "max", "conv", "fitted"; -1 (error set, listing them) else. */
int lf_ab_kind_parse(const char *s, lf_ab_kind *out);
const char *lf_ab_kind_name(lf_ab_kind kind);
/* 1 when the sharing mode changes the projection (gaussian, conv, fitted), 0 for
 * the parameter-free mean and max pooling. */
int lf_ab_kind_sharing_applies(lf_ab_kind kind);
/* 1 for the kinds fitted to data (conv, fitted). */
int lf_ab_kind_is_fitted(lf_ab_kind kind);

/* Fit settings of the ablation: steps of Adam and the step size relative to k/n. */
typedef struct {
    int steps;
    double lr_rel;      /* fitted: Adam's lr = lr_rel * k / n (k = the plan's largest k) */
    double lr_rel_conv; /* conv: the same for the kernels (few parameters, each shared by
                         * every slot: a larger step suits them) */
    double lr_final; /* cosine decay to lr * lr_final */
} lf_ab_fit_opts;

/* Builds *plan of KIND with per-head k[L * H] and SHARING. Learned kinds are fitted
 * on TRAIN (required for them, ignored otherwise) and their final training loss
 * (mean relative squared output error, fit.h) goes to *train_loss (NaN for the
 * others; may be NULL). Fails (error set, *plan zeroed) on combinations the plan
 * cannot express (conv with k not dividing n, pooling/conv shared by heads of
 * different k) and on fit failures. Deterministic for a seed and thread count. */
int lf_ab_plan_make(lf_plan *plan, lf_ab_kind kind, int layers, int heads, int64_t n,
                    const int64_t *k, lf_sharing sharing, uint64_t seed,
                    const lf_fit_data *train, const lf_ab_fit_opts *opts, double *train_loss);

/* Fits the kernels of a conv plan in place (Adam, lf_fit_opts, on the output error of
 * the equivalent block-structured linear plan E[j, j w + t] = kernel[t], whose
 * gradient summed over each kernel's positions is the kernel's gradient); keeps the
 * best iterate. */
int lf_ab_fit_conv(lf_plan *plan, const lf_fit_data *train, const lf_fit_opts *opts,
                   double *final_loss);
/* The loss (mean J, fit.h) of a conv plan and its gradient with respect to every
 * kernel (grad: the sum of the windows of the plan's projections, in projection
 * order). For tests and other optimisers. */
int lf_ab_conv_loss_grad(const lf_plan *plan, const lf_fit_data *train, double *loss, double *grad);

/* Nonuniform k: SPEC is a comma list of `layers` per-layer k ("256,256,128,128,64,64")
 * or "spectrum:T" with 0 < T <= 1. For a list, *threshold = 0 and k_layer[layers]
 * receives it (each in 1..n); for spectrum:T, *threshold = T and k_layer is left for
 * lf_ab_k_from_spectrum. One clear error naming the spec otherwise. */
int lf_ab_nonuniform_parse(const char *spec, int layers, int64_t n, int64_t *k_layer,
                           double *threshold);
/* In each layer, the smallest k whose value of the mean normalized cumulative curve
 * layer_mean [layers, n] (spectrum_stats) reaches T (n when none does). */
int lf_ab_k_from_spectrum(const double *layer_mean, int layers, int64_t n, double threshold,
                          int64_t *k_layer);
/* The uniform k of equal total cost: round(mean of k_layer), at least 1 (the cost of
 * a layer's Linformer attention is linear in its k). */
int64_t lf_ab_uniform_k(const int64_t *k_layer, int layers);

#endif
