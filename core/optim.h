/* optim.h - training optimizer pieces: AdamW with parameter groups, the learning-rate
 * schedule (linear warm-up, then linear or cosine decay), global-norm gradient clipping.
 *
 * Parameters, gradients and the two Adam moments are flat float arrays of the same
 * length; a group table says which ranges are trained and which get weight decay
 * (the model's table, mlm.h, exempts biases and LayerNorm). The elementwise update is
 * float arithmetic (as PyTorch's AdamW) with per-step constants computed in double;
 * norms accumulate in double. Every reduction has a fixed order and every element is
 * updated on its own, so results are bit-identical for any thread count.
 *
 * Checkpoint hooks: lf_adamw's m, v and step are public and are the whole optimizer
 * state; saving them with the parameters and restoring them bit for bit resumes
 * training exactly (the schedule is a pure function of the step).
 */
#ifndef LF_OPTIM_H
#define LF_OPTIM_H

#include <stddef.h>
#include <stdint.h>

/* A contiguous range of the flat parameter vector. */
typedef struct {
    const char *name; /* e.g. "layer1.attn.wqkv" (owned by whoever made the table) */
    size_t offset, count;
    int decay;     /* 1: AdamW weight decay applies */
    int trainable; /* 0: fixed (e.g. a Gaussian projection): never updated */
    double lr_scale; /* the group's learning rate is lr * lr_scale; 0 (a table that
                      * does not set it) is read as 1 */
} lf_param_group;

typedef struct {
    double beta1, beta2, eps, weight_decay;
} lf_adamw_hparams;

/* beta 0.9 / 0.98, eps 1e-6, weight decay 0.01 (RoBERTa pretraining). */
lf_adamw_hparams lf_adamw_hparams_default(void);

typedef struct {
    size_t n;
    float *m, *v;  /* [n] first and second moments */
    int64_t step;  /* updates done so far */
} lf_adamw;

/* Zeroed moments, step 0. On failure *opt is zeroed (safe to free). */
int lf_adamw_init(lf_adamw *opt, size_t n);
void lf_adamw_free(lf_adamw *opt);

/* One update of every trainable group, step -> step + 1, with t = step + 1:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr (mhat / (sqrt(vhat) + eps) + wd p [decay groups only])
 * with mhat = m / (1 - b1^t), vhat = v / (1 - b2^t) and lr times the group's lr_scale
 * (decoupled weight decay,
 * Loshchilov & Hutter; PyTorch's AdamW, which applies p *= 1 - lr wd first, is the
 * same to first order: here the decay uses the old p). Groups must lie within n.
 * Elements outside every group are left alone. */
int lf_adamw_update(lf_adamw *opt, float *params, const float *grads, const lf_param_group *groups,
                    int n_groups, double lr, const lf_adamw_hparams *hp);
/* The same update with the gradient g * grad_scale (float product; grad_scale > 0), as
 * if the gradient had been scaled first: lf_grad_clip followed by lf_adamw_update
 * gives bit-identical results to lf_adamw_update_scaled with lf_grad_clip_scale's
 * factor, in one pass instead of two. */
int lf_adamw_update_scaled(lf_adamw *opt, float *params, const float *grads, float grad_scale,
                           const lf_param_group *groups, int n_groups, double lr,
                           const lf_adamw_hparams *hp);

typedef enum { LF_DECAY_LINEAR, LF_DECAY_COSINE, LF_DECAY_CONSTANT } lf_decay_kind;

typedef struct {
    double peak;        /* learning rate at the end of warm-up */
    double final_frac;  /* lr at total_steps as a fraction of peak */
    int64_t warmup;     /* warm-up updates (0: none) */
    int64_t total;      /* total updates */
    lf_decay_kind decay;
} lf_lr_schedule;

/* Learning rate for update number step + 1 (step = updates already done):
 *   step < warmup:   peak (step + 1) / warmup
 *   otherwise:       with r = min(1, (step - warmup) / max(1, total - warmup)),
 *     linear   peak (1 - (1 - f) r)
 *     cosine   peak (f + (1 - f) (1 + cos(pi r)) / 2)
 *     constant peak
 * Past total the rate stays at peak f (linear, cosine). */
double lf_lr_at(const lf_lr_schedule *s, int64_t step);
/* "linear", "cosine", "constant"; -1 (error set) otherwise. */
int lf_decay_parse(const char *s, lf_decay_kind *out);

/* Global L2 norm of grads over the given groups (all n elements when groups is NULL),
 * in double with a fixed summation order. */
double lf_grad_norm(const float *grads, size_t n, const lf_param_group *groups, int n_groups);
/* The factor clipping would scale the gradient by: (float)(max_norm / norm) when the
 * norm exceeds max_norm > 0, else 1. *norm_out (may be NULL) gets the norm. */
float lf_grad_clip_scale(const float *grads, size_t n, const lf_param_group *groups, int n_groups,
                         double max_norm, double *norm_out);
/* If the norm exceeds max_norm > 0, multiplies the gradient by lf_grad_clip_scale's
 * factor (float products, in the same ranges). *norm_out (may be NULL) gets the norm
 * before clipping. max_norm <= 0: no clipping. Returns 1 when it clipped, 0 otherwise. */
int lf_grad_clip(float *grads, size_t n, const lf_param_group *groups, int n_groups,
                 double max_norm, double *norm_out);

#endif
