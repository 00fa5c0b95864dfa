/* ablation_plan.c - the plans of the low-rank ablation: kinds, construction and
 * fitting (fitted linear matrices, fitted conv kernels), nonuniform k (see
 * ablation_plan.h).
 */
#include "ablation_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mem.h"

static const char *const kind_names[LF_AB_KINDS] = {"gaussian", "mean", "max", "conv", "fitted"};

int lf_ab_kind_parse(const char *s, lf_ab_kind *out)
{
    for (int i = 0; s && i < LF_AB_KINDS; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (lf_ab_kind)i;
            return 0;
        }
    LF_FAIL("unknown projection '%s' (gaussian, mean, max, conv, fitted)", s ? s : "(null)");
}

const char *lf_ab_kind_name(lf_ab_kind kind)
{
    return (int)kind >= 0 && kind < LF_AB_KINDS ? kind_names[kind] : "unknown";
}

int lf_ab_kind_sharing_applies(lf_ab_kind kind) { return kind != LF_AB_MEAN && kind != LF_AB_MAX; }

int lf_ab_kind_is_fitted(lf_ab_kind kind) { return kind == LF_AB_CONV || kind == LF_AB_FITTED; }

static lf_fit_opts fit_opts_for(const lf_ab_fit_opts *o, double lr_rel, int64_t kmax, int64_t n)
{
    lf_fit_opts f = lf_fit_opts_default();
    f.steps = o->steps;
    f.lr = lr_rel * (double)kmax / (double)n;
    f.lr_final = o->lr_final;
    return f;
}

/* Every projection of a linear plan set to the mean-pooling matrix of its k:
 * row j averages positions [floor(j n / k), floor((j + 1) n / k)) (projection.h). */
static void set_mean_pooling(lf_plan *plan)
{
    for (int p = 0; p < plan->n_proj; p++) {
        lf_proj *pr = &plan->proj[p];
        memset(pr->weights, 0, (size_t)(pr->k * pr->n) * sizeof(float));
        for (int64_t j = 0; j < pr->k; j++) {
            int64_t a = j * pr->n / pr->k, b = (j + 1) * pr->n / pr->k;
            for (int64_t c = a; c < b; c++) pr->weights[j * pr->n + c] = 1.0f / (float)(b - a);
        }
    }
}

int lf_ab_plan_make(lf_plan *plan, lf_ab_kind kind, int layers, int heads, int64_t n,
                    const int64_t *k, lf_sharing sharing, uint64_t seed,
                    const lf_fit_data *train, const lf_ab_fit_opts *opts, double *train_loss)
{
    memset(plan, 0, sizeof *plan);
    if (train_loss) *train_loss = NAN;
    if ((int)kind < 0 || kind >= LF_AB_KINDS) LF_FAIL("ablation plan: bad kind %d", (int)kind);
    if (lf_ab_kind_is_fitted(kind) && (!train || !opts))
        LF_FAIL("ablation plan: %s needs training data and fit options", lf_ab_kind_name(kind));
    static const lf_proj_kind base[LF_AB_KINDS] = {LF_PROJ_GAUSSIAN, LF_PROJ_MEAN, LF_PROJ_MAX,
                                                   LF_PROJ_CONV, LF_PROJ_LINEAR};
    LF_TRY(lf_plan_init(plan, layers, heads, n, k, sharing, base[kind], seed));
    if (!lf_ab_kind_is_fitted(kind)) return 0;
    int64_t kmax = 0;
    for (int i = 0; i < layers * heads; i++)
        if (k[i] > kmax) kmax = k[i];
    lf_fit_opts fo = fit_opts_for(opts, kind == LF_AB_CONV ? opts->lr_rel_conv : opts->lr_rel, kmax, n);
    int rc;
    if (kind == LF_AB_FITTED) {
        set_mean_pooling(plan);
        rc = lf_fit_plan(plan, train, &fo, train_loss);
    } else {
        rc = lf_ab_fit_conv(plan, train, &fo, train_loss);
    }
    if (rc != 0) {
        lf_error_prefix("fitting %s (sharing %s)", lf_ab_kind_name(kind), lf_sharing_name(sharing));
        lf_plan_free(plan);
        return -1;
    }
    return 0;
}

/* ---- conv kernels ------------------------------------------------------------- */

/* The linear mirror's projection p: the block matrix E[j, j w + t] = kernel[t]. */
static void conv_expand(const lf_proj *conv, lf_proj *lin)
{
    const int64_t w = conv->window;
    memset(lin->weights, 0, (size_t)(lin->k * lin->n) * sizeof(float));
    for (int64_t j = 0; j < conv->k; j++)
        for (int64_t t = 0; t < w; t++) lin->weights[j * lin->n + j * w + t] = conv->weights[t];
}

static void conv_mirror(const lf_plan *plan, lf_plan *lin)
{
    for (int p = 0; p < plan->n_proj; p++) conv_expand(&plan->proj[p], &lin->proj[p]);
}

/* d/dkernel[t] = sum over blocks j of dJ/dE[j, j w + t]; lin_grad holds the
 * mirror's [k, n] blocks in projection order, g the kernels in projection order. */
static void conv_reduce(const lf_plan *plan, const double *lin_grad, double *g)
{
    size_t go = 0;
    for (int p = 0, o = 0; p < plan->n_proj; o += (int)plan->proj[p].window, p++) {
        const lf_proj *pr = &plan->proj[p];
        for (int64_t t = 0; t < pr->window; t++) {
            double s = 0;
            for (int64_t j = 0; j < pr->k; j++) s += lin_grad[go + (size_t)(j * pr->n + j * pr->window + t)];
            g[o + t] = s;
        }
        go += (size_t)(pr->k * pr->n);
    }
}

int lf_ab_conv_loss_grad(const lf_plan *plan, const lf_fit_data *train, double *loss, double *grad)
{
    if (!plan || plan->kind != LF_PROJ_CONV || !loss || !grad) LF_FAIL("conv gradient: bad arguments");
    lf_plan lin;
    LF_TRY(lf_plan_init(&lin, plan->layers, plan->heads, plan->n, plan->k, plan->sharing,
                        LF_PROJ_LINEAR, 0));
    conv_mirror(plan, &lin);
    double *lg = lf_alloc(lf_plan_param_count(&lin), sizeof(double));
    int rc = lg ? lf_fit_loss_grad(&lin, train, loss, lg) : -1;
    if (rc == 0) conv_reduce(plan, lg, grad);
    lf_free(lg);
    lf_plan_free(&lin);
    return rc;
}

int lf_ab_fit_conv(lf_plan *plan, const lf_fit_data *train, const lf_fit_opts *opts,
                   double *final_loss)
{
    if (!plan || plan->kind != LF_PROJ_CONV) LF_FAIL("conv fit: not a conv plan");
    if (!opts || opts->steps < 0) LF_FAIL("conv fit: bad options");
    /* The mirror has the same sharing, so the same projection numbering (projection.h). */
    lf_plan lin;
    LF_TRY(lf_plan_init(&lin, plan->layers, plan->heads, plan->n, plan->k, plan->sharing,
                        LF_PROJ_LINEAR, 0));
    conv_mirror(plan, &lin);
    lf_fit_session *sess = lf_fit_session_new(&lin, train);
    if (!sess) {
        lf_plan_free(&lin);
        return -1;
    }
    size_t P = 0, G = lf_plan_param_count(&lin);
    for (int p = 0; p < plan->n_proj; p++) P += (size_t)plan->proj[p].window;
    double *theta = lf_alloc(P, sizeof(double)), *m = lf_calloc(P, sizeof(double));
    double *v = lf_calloc(P, sizeof(double)), *g = lf_alloc(P, sizeof(double));
    float *best = lf_alloc(P, sizeof(float));
    double *grad = lf_alloc(G, sizeof(double));
    int rc = -1;
    if (!theta || !m || !v || !g || !best || !grad) goto done;
    for (int p = 0, o = 0; p < plan->n_proj; o += (int)plan->proj[p].window, p++)
        for (int64_t t = 0; t < plan->proj[p].window; t++) theta[o + t] = plan->proj[p].weights[t];
    double best_loss = INFINITY, b1t = 1, b2t = 1;
    for (int step = 0;; step++) {
        conv_mirror(plan, &lin);
        double loss;
        if (lf_fit_session_eval(sess, &loss, step < opts->steps ? grad : NULL) != 0) goto done;
        if (loss < best_loss) {
            best_loss = loss;
            for (int p = 0, o = 0; p < plan->n_proj; o += (int)plan->proj[p].window, p++)
                memcpy(best + o, plan->proj[p].weights, (size_t)plan->proj[p].window * sizeof(float));
        }
        if (step >= opts->steps) break;
        conv_reduce(plan, grad, g);
        const double lr = opts->lr * (opts->lr_final + (1 - opts->lr_final) * 0.5 *
                                                           (1 + cos(M_PI * step / (double)opts->steps)));
        b1t *= opts->beta1;
        b2t *= opts->beta2;
        for (size_t j = 0; j < P; j++) {
            m[j] = opts->beta1 * m[j] + (1 - opts->beta1) * g[j];
            v[j] = opts->beta2 * v[j] + (1 - opts->beta2) * g[j] * g[j];
            const double den = sqrt(v[j] / (1 - b2t)) + opts->eps;
            if (den > 0) theta[j] -= lr * (m[j] / (1 - b1t)) / den;
        }
        for (int p = 0, o = 0; p < plan->n_proj; o += (int)plan->proj[p].window, p++)
            for (int64_t t = 0; t < plan->proj[p].window; t++)
                plan->proj[p].weights[t] = (float)theta[o + t];
    }
    for (int p = 0, o = 0; p < plan->n_proj; o += (int)plan->proj[p].window, p++)
        memcpy(plan->proj[p].weights, best + o, (size_t)plan->proj[p].window * sizeof(float));
    if (final_loss) *final_loss = best_loss;
    rc = 0;
done:
    if (rc != 0 && !theta) lf_error_prefix("conv fit: optimiser state");
    lf_free(theta), lf_free(m), lf_free(v), lf_free(g), lf_free(best), lf_free(grad);
    lf_fit_session_free(sess);
    lf_plan_free(&lin);
    return rc;
}

/* ---- nonuniform k -------------------------------------------------------------- */

int lf_ab_nonuniform_parse(const char *spec, int layers, int64_t n, int64_t *k_layer,
                           double *threshold)
{
    if (!spec) LF_FAIL("--nonuniform: empty");
    *threshold = 0;
    if (strncmp(spec, "spectrum:", 9) == 0) {
        char *end;
        double t = strtod(spec + 9, &end);
        if (end == spec + 9 || *end || !(t > 0 && t <= 1))
            LF_FAIL("--nonuniform: '%s': expected spectrum:T with 0 < T <= 1", spec);
        *threshold = t;
        return 0;
    }
    int count = 0;
    const char *s = spec;
    while (1) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || (*end && *end != ','))
            LF_FAIL("--nonuniform: '%s': expected %d comma-separated k (one per layer) or "
                    "spectrum:T", spec, layers);
        if (count >= layers)
            LF_FAIL("--nonuniform: '%s' lists more than the model's %d layers", spec, layers);
        if (v < 1 || v > n)
            LF_FAIL("--nonuniform: k = %lld for layer %d is outside 1..%lld", v, count + 1,
                    (long long)n);
        k_layer[count++] = v;
        if (!*end) break;
        s = end + 1;
    }
    if (count != layers)
        LF_FAIL("--nonuniform: '%s' lists %d k but the model has %d layers", spec, count, layers);
    return 0;
}

int lf_ab_k_from_spectrum(const double *layer_mean, int layers, int64_t n, double threshold,
                          int64_t *k_layer)
{
    if (!layer_mean || !k_layer || layers < 1 || n < 1) LF_FAIL("k from spectrum: bad arguments");
    for (int l = 0; l < layers; l++) {
        int64_t k = n;
        for (int64_t i = 0; i < n; i++)
            if (layer_mean[l * n + i] >= threshold) {
                k = i + 1;
                break;
            }
        k_layer[l] = k;
    }
    return 0;
}

int64_t lf_ab_uniform_k(const int64_t *k_layer, int layers)
{
    int64_t s = 0;
    for (int l = 0; l < layers; l++) s += k_layer[l];
    int64_t u = (2 * s + layers) / (2 * layers); /* round half up */
    return u < 1 ? 1 : u;
}
