/* optim.c - AdamW with parameter groups, learning-rate schedules and global-norm
 * gradient clipping (see optim.h). Elementwise updates run in parallel (each
 * element is independent); norms sum fixed-size chunks in parallel and add the
 * chunk sums in chunk order, so the result does not depend on the thread count. */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "error.h"
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
    for (int g = 0; g < n_groups; g++)
        if (groups[g].offset > n || groups[g].count > n - groups[g].offset)
            LF_FAIL("%s: group %d (%s) [%zu, +%zu) lies outside the %zu parameters", fn, g,
                    groups[g].name ? groups[g].name : "?", groups[g].offset, groups[g].count, n);
    return 0;
}

int lf_adamw_update(lf_adamw *opt, float *params, const float *grads, const lf_param_group *groups,
                    int n_groups, double lr, const lf_adamw_hparams *hp)
{
    const char *fn = "lf_adamw_update";
    if (!opt || !opt->m || !params || !grads || !hp) LF_FAIL("%s: NULL argument", fn);
    LF_TRY(lf_groups_check(fn, opt->n, groups, n_groups));
    if (!(hp->beta1 >= 0 && hp->beta1 < 1 && hp->beta2 >= 0 && hp->beta2 < 1 && hp->eps > 0 &&
          hp->weight_decay >= 0 && isfinite(lr)))
        LF_FAIL("%s: hyper-parameters out of range (beta1 %g, beta2 %g, eps %g, wd %g, lr %g)", fn,
                hp->beta1, hp->beta2, hp->eps, hp->weight_decay, lr);
    const double t = (double)(opt->step + 1);
    const double b1 = hp->beta1, b2 = hp->beta2;
    const double c1 = 1.0 / (1.0 - pow(b1, t)), c2 = 1.0 / (1.0 - pow(b2, t));
    float *m = opt->m, *v = opt->v;
    const int nt = lf_threads_get();
    for (int g = 0; g < n_groups; g++) {
        if (!groups[g].trainable) continue;
        const int64_t lo = (int64_t)groups[g].offset, hi = lo + (int64_t)groups[g].count;
        const double wd = groups[g].decay ? hp->weight_decay : 0.0;
#pragma omp parallel for schedule(static) num_threads(nt) if (hi - lo > 32768)
        for (int64_t i = lo; i < hi; i++) {
            const double gi = grads[i], p = params[i];
            const double mi = b1 * m[i] + (1.0 - b1) * gi;
            const double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
            m[i] = (float)mi;
            v[i] = (float)vi;
            /* the update uses the moments as stored, so a restored (m, v) continues
             * bit-identically */
            const double mh = (double)m[i] * c1, vh = (double)v[i] * c2;
            params[i] = (float)(p - lr * (mh / (sqrt(vh) + hp->eps) + wd * p));
        }
    }
    opt->step++;
    return 0;
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

/* Sum of squares of x[lo, hi) in chunks of a fixed size, chunk sums added in order. */
#define LF_NORM_CHUNK 4096
static double lf_sumsq_range(const float *x, size_t lo, size_t hi)
{
    if (hi <= lo) return 0.0;
    const int64_t chunks = (int64_t)((hi - lo + LF_NORM_CHUNK - 1) / LF_NORM_CHUNK);
    double *part = lf_alloc((size_t)chunks, sizeof(double));
    double total = 0;
    if (!part) { /* serial fallback gives the same chunked order */
        for (int64_t c = 0; c < chunks; c++) {
            size_t a = lo + (size_t)c * LF_NORM_CHUNK, b = a + LF_NORM_CHUNK < hi ? a + LF_NORM_CHUNK : hi;
            double s = 0;
            for (size_t i = a; i < b; i++) s += (double)x[i] * (double)x[i];
            total += s;
        }
        return total;
    }
#pragma omp parallel for schedule(static) num_threads(lf_threads_get()) if (chunks > 8)
    for (int64_t c = 0; c < chunks; c++) {
        size_t a = lo + (size_t)c * LF_NORM_CHUNK, b = a + LF_NORM_CHUNK < hi ? a + LF_NORM_CHUNK : hi;
        double s = 0;
        for (size_t i = a; i < b; i++) s += (double)x[i] * (double)x[i];
        part[c] = s;
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

int lf_grad_clip(float *grads, size_t n, const lf_param_group *groups, int n_groups,
                 double max_norm, double *norm_out)
{
    const double norm = lf_grad_norm(grads, n, groups, n_groups);
    if (norm_out) *norm_out = norm;
    if (!(max_norm > 0) || !(norm > max_norm)) return 0;
    const double scale = max_norm / norm;
    if (!groups) {
        for (size_t i = 0; i < n; i++) grads[i] = (float)((double)grads[i] * scale);
        return 1;
    }
    for (int g = 0; g < n_groups; g++) {
        if (groups[g].offset > n || groups[g].count > n - groups[g].offset) continue;
        for (size_t i = groups[g].offset; i < groups[g].offset + groups[g].count; i++)
            grads[i] = (float)((double)grads[i] * scale);
    }
    return 1;
}
