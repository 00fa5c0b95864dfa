/* optim.c - AdamW with parameter groups, learning-rate schedules and global-norm
 * gradient clipping (see optim.h). Elementwise updates run in parallel (each
 * element is independent); norms sum fixed-size chunks in parallel (eight double
 * lanes within a chunk, lanes.h) and add the chunk sums in chunk order, so the result does not
 * depend on the thread count. */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "lanes.h"
#include "mem.h"
#include "parallel.h"

lf_adamw_hparams lf_adamw_hparams_default(void)
{
    lf_adamw_hparams h = {0.9, 0.98, 1e-6, 0.01};
    return h;
}

int lf_adamw_init(lf_adamw *opt, size_t n)
{
    if (!opt) LF_FAIL("lf_adamw_init: NULL optimizer");
    memset(opt, 0, sizeof *opt);
    opt->m = lf_calloc(n, sizeof(float));
    opt->v = lf_calloc(n, sizeof(float));
    if (!opt->m || !opt->v) {
        lf_adamw_free(opt);
        lf_error_prefix("lf_adamw_init: moments of %zu parameters", n);
        return -1;
    }
    opt->n = n;
    return 0;
}

void lf_adamw_free(lf_adamw *opt)
{
    if (!opt) return;
    lf_free(opt->m);
    lf_free(opt->v);
    memset(opt, 0, sizeof *opt);
}

static int lf_groups_check(const char *fn, size_t n, const lf_param_group *groups, int n_groups)
{
    if (n_groups < 0 || (n_groups > 0 && !groups)) LF_FAIL("%s: bad group table", fn);
    for (int g = 0; g < n_groups; g++) {
        const char *name = groups[g].name ? groups[g].name : "?";
        if (groups[g].offset > n || groups[g].count > n - groups[g].offset)
            LF_FAIL("%s: group %d (%s) [%zu, +%zu) lies outside the %zu parameters", fn, g, name,
                    groups[g].offset, groups[g].count, n);
        if (!(groups[g].lr_scale >= 0 && isfinite(groups[g].lr_scale)))
            LF_FAIL("%s: group %d (%s) has learning-rate scale %g (must be >= 0; 0 means 1)", fn,
                    g, name, groups[g].lr_scale);
    }
    return 0;
}

int lf_adamw_update_scaled(lf_adamw *opt, float *params, const float *grads, float grad_scale,
                           const lf_param_group *groups, int n_groups, double lr,
                           const lf_adamw_hparams *hp)
{
    const char *fn = "lf_adamw_update";
    if (!opt || !opt->m || !params || !grads || !hp) LF_FAIL("%s: NULL argument", fn);
    LF_TRY(lf_groups_check(fn, opt->n, groups, n_groups));
    if (!(hp->beta1 >= 0 && hp->beta1 < 1 && hp->beta2 >= 0 && hp->beta2 < 1 && hp->eps > 0 &&
          hp->weight_decay >= 0 && isfinite(lr) && isfinite(grad_scale) && grad_scale > 0))
        LF_FAIL("%s: hyper-parameters out of range (beta1 %g, beta2 %g, eps %g, wd %g, lr %g, "
                "gradient scale %g)",
                fn, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, lr, (double)grad_scale);
    /* The per-step constants are computed in double and rounded once; the elementwise
     * work is float (as PyTorch's AdamW), one vectorized pass over g, m, v and p. */
    const double t = (double)(opt->step + 1);
    const float b1 = (float)hp->beta1, b2 = (float)hp->beta2, ob1 = (float)(1.0 - hp->beta1),
                ob2 = (float)(1.0 - hp->beta2), eps = (float)hp->eps, s = grad_scale;
    const float c1 = (float)(1.0 / (1.0 - pow(hp->beta1, t))),
                c2 = (float)(1.0 / (1.0 - pow(hp->beta2, t)));
    float *restrict m = opt->m, *restrict v = opt->v, *restrict p = params;
    const float *restrict g = grads;
    /* One parallel region for all groups (a model has dozens, many of them small): every
     * thread takes its share of each group, with no barrier between groups. */
    size_t total = 0;
    for (int gr = 0; gr < n_groups; gr++) total += groups[gr].trainable ? groups[gr].count : 0;
#pragma omp parallel num_threads(lf_threads_get()) if (total > 32768)
    for (int gr = 0; gr < n_groups; gr++) {
        if (!groups[gr].trainable) continue;
        const int64_t lo = (int64_t)groups[gr].offset, hi = lo + (int64_t)groups[gr].count;
        const float wd = groups[gr].decay ? (float)hp->weight_decay : 0.0f;
        const float flr = (float)(groups[gr].lr_scale > 0 ? lr * groups[gr].lr_scale : lr);
#pragma omp for simd schedule(static) nowait
        for (int64_t i = lo; i < hi; i++) {
            const float gi = g[i] * s, pi = p[i];
            const float mi = b1 * m[i] + ob1 * gi;
            const float vi = b2 * v[i] + ob2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - flr * (mi * c1 / (sqrtf(vi * c2) + eps) + wd * pi);
        }
    }
    opt->step++;
    return 0;
}

int lf_adamw_update(lf_adamw *opt, float *params, const float *grads, const lf_param_group *groups,
                    int n_groups, double lr, const lf_adamw_hparams *hp)
{
    return lf_adamw_update_scaled(opt, params, grads, 1.0f, groups, n_groups, lr, hp);
}

double lf_lr_at(const lf_lr_schedule *s, int64_t step)
{
    if (!s) return 0.0;
    if (step < 0) step = 0;
    if (step < s->warmup) return s->peak * (double)(step + 1) / (double)s->warmup;
    const double f = s->final_frac;
    int64_t span = s->total - s->warmup;
    if (span < 1) span = 1;
    double r = (double)(step - s->warmup) / (double)span;
    if (r > 1) r = 1;
    switch (s->decay) {
    case LF_DECAY_LINEAR: return s->peak * (1.0 - (1.0 - f) * r);
    case LF_DECAY_COSINE: return s->peak * (f + (1.0 - f) * 0.5 * (1.0 + cos(M_PI * r)));
    case LF_DECAY_CONSTANT: return s->peak;
    }
    return s->peak;
}

int lf_decay_parse(const char *s, lf_decay_kind *out)
{
    static const char *const names[] = {"linear", "cosine", "constant"};
    if (s)
        for (int i = 0; i < 3; i++)
            if (strcmp(s, names[i]) == 0) {
                if (out) *out = (lf_decay_kind)i;
                return 0;
            }
    LF_FAIL("decay \"%s\": unknown (valid: linear, cosine, constant)", s ? s : "(null)");
}

/* Sum of squares of x[a, b) in a fixed order: LF_LANES double accumulators take
 * every LF_LANES-th element (lanes.h), then are added lane by lane, then the tail. */
#define LF_NORM_CHUNK 4096
static double lf_sumsq_chunk(const float *x, size_t a, size_t b)
{
    lf_d8 acc = {0};
    size_t i = a;
    for (; i + LF_LANES <= b; i += LF_LANES) {
        const lf_d8 v = lf_d8_load_f(x + i);
        acc += v * v;
    }
    double s = lf_d8_sum(&acc);
    for (; i < b; i++) s += (double)x[i] * (double)x[i];
    return s;
}

/* Sum of squares of x[lo, hi) in chunks of a fixed size, chunk sums added in order. */
static double lf_sumsq_range(const float *x, size_t lo, size_t hi)
{
    if (hi <= lo) return 0.0;
    const int64_t chunks = (int64_t)((hi - lo + LF_NORM_CHUNK - 1) / LF_NORM_CHUNK);
    double *part = lf_alloc((size_t)chunks, sizeof(double));
    double total = 0;
    if (!part) { /* serial fallback gives the same chunked order */
        for (int64_t c = 0; c < chunks; c++) {
            size_t a = lo + (size_t)c * LF_NORM_CHUNK, b = a + LF_NORM_CHUNK < hi ? a + LF_NORM_CHUNK : hi;
            total += lf_sumsq_chunk(x, a, b);
        }
        return total;
    }
#pragma omp parallel for schedule(static) num_threads(lf_threads_get()) if (chunks > 8)
    for (int64_t c = 0; c < chunks; c++) {
        size_t a = lo + (size_t)c * LF_NORM_CHUNK, b = a + LF_NORM_CHUNK < hi ? a + LF_NORM_CHUNK : hi;
        part[c] = lf_sumsq_chunk(x, a, b);
    }
    for (int64_t c = 0; c < chunks; c++) total += part[c];
    lf_free(part);
    return total;
}

double lf_grad_norm(const float *grads, size_t n, const lf_param_group *groups, int n_groups)
{
    if (!grads) return 0.0;
    if (!groups) return sqrt(lf_sumsq_range(grads, 0, n));
    double s = 0;
    for (int g = 0; g < n_groups; g++) {
        if (groups[g].offset > n || groups[g].count > n - groups[g].offset) continue;
        s += lf_sumsq_range(grads, groups[g].offset, groups[g].offset + groups[g].count);
    }
    return sqrt(s);
}

float lf_grad_clip_scale(const float *grads, size_t n, const lf_param_group *groups, int n_groups,
                         double max_norm, double *norm_out)
{
    const double norm = lf_grad_norm(grads, n, groups, n_groups);
    if (norm_out) *norm_out = norm;
    if (!(max_norm > 0) || !(norm > max_norm)) return 1.0f;
    return (float)(max_norm / norm);
}

int lf_grad_clip(float *grads, size_t n, const lf_param_group *groups, int n_groups,
                 double max_norm, double *norm_out)
{
    double norm;
    const float scale = lf_grad_clip_scale(grads, n, groups, n_groups, max_norm, &norm);
    if (norm_out) *norm_out = norm;
    if (!(max_norm > 0) || !(norm > max_norm)) return 0;
    if (!groups) {
        for (size_t i = 0; i < n; i++) grads[i] *= scale;
        return 1;
    }
    for (int g = 0; g < n_groups; g++) {
        if (groups[g].offset > n || groups[g].count > n - groups[g].offset) continue;
        for (size_t i = groups[g].offset; i < groups[g].offset + groups[g].count; i++)
            grads[i] *= scale;
    }
    return 1;
}
