/* fit.c - fitting Linformer projections to dense attention: the output-error
 * objective of one head, its exact gradient, and Adam over a projection plan under
 * its sharing constraint (see fit.h).
 *
 * Backward of one head (c = 1/sqrt(d), rows of padded queries have dO = 0):
 *   Kb = E K, Vb = F V, S = c Q Kb^T, Pb = rowsoftmax(S), O = Pb Vb
 *   J  = ||O - T||^2 / ||T||^2          dO  = 2 (O - T) / ||T||^2
 *   dVb = Pb^T dO                       dPb = dO Vb^T
 *   dS  = Pb .* (dPb - rowsum(dPb .* Pb))   (softmax Jacobian, row by row)
 *   dKb = c dS^T Q                      dE  = dKb K^T,  dF = dVb V^T
 * Everything is float64 and serial inside an item; the parallelism is over items.
 */
#include "fit.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "mem.h"
#include "parallel.h"

/* ---- one head in double ------------------------------------------------------ */

static void lf_dgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                     int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc)
{
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* In place: each row of s [m, w] becomes its softmax over the entries with
 * mask[j] != 0 (mask NULL: all); masked entries become 0. */
static void lf_softmax_rows_d(double *s, int64_t m, int64_t w, const uint8_t *mask)
{
    for (int64_t i = 0; i < m; i++) {
        double *row = s + i * w;
        double mx = -INFINITY;
        for (int64_t j = 0; j < w; j++)
            if ((!mask || mask[j]) && row[j] > mx) mx = row[j];
        double z = 0;
        for (int64_t j = 0; j < w; j++) {
            row[j] = (!mask || mask[j]) ? exp(row[j] - mx) : 0.0;
            z += row[j];
        }
        const double inv = z > 0 ? 1.0 / z : 0.0;
        for (int64_t j = 0; j < w; j++) row[j] *= inv;
    }
}

/* Per-thread work space of one head, sized for the largest item. */
typedef struct {
    double *q, *k, *v;  /* [n, d], [n, d], [n, dv]: inputs, padded rows zeroed */
    double *e, *f;      /* [kp, n]: the head's effective projections */
    double *kb, *vb;    /* [kp, d], [kp, dv] */
    double *s, *dp;     /* [n, kp]: Pb, then dPb -> dS */
    double *o;          /* [n, dv]: O, then dO */
    double *dkb, *dvb;  /* [kp, d], [kp, dv] */
    double *nn;         /* [n, n]: dense scores (targets only), or NULL */
} lf_fit_ws;

static void lf_fit_ws_free(lf_fit_ws *w)
{
    double **all[] = {&w->q, &w->k, &w->v, &w->e, &w->f, &w->kb, &w->vb,
                      &w->s, &w->dp, &w->o, &w->dkb, &w->dvb, &w->nn};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        lf_free(*all[i]);
        *all[i] = NULL;
    }
}

static int lf_fit_ws_init(lf_fit_ws *w, int64_t n, int64_t kp, int64_t d, int64_t dv, int dense)
{
    memset(w, 0, sizeof *w);
    const size_t N = (size_t)n, K = (size_t)kp, D = (size_t)d, DV = (size_t)dv, S = sizeof(double);
    w->q = lf_alloc(N * D, S);
    w->k = lf_alloc(N * D, S);
    w->v = lf_alloc(N * DV, S);
    w->e = lf_alloc(K * N, S);
    w->f = lf_alloc(K * N, S);
    w->kb = lf_alloc(K * D, S);
    w->vb = lf_alloc(K * DV, S);
    w->s = lf_alloc(N * K, S);
    w->dp = lf_alloc(N * K, S);
    w->o = lf_alloc(N * DV, S);
    w->dkb = lf_alloc(K * D, S);
    w->dvb = lf_alloc(K * DV, S);
    if (dense) w->nn = lf_alloc(N * N, S);
    if (!w->q || !w->k || !w->v || !w->e || !w->f || !w->kb || !w->vb || !w->s || !w->dp ||
        !w->o || !w->dkb || !w->dvb || (dense && !w->nn)) {
        lf_fit_ws_free(w);
        return -1;
    }
    return 0;
}

/* Dense target T = softmax(c Q K^T) V [n, dv] over the valid keys and its squared
 * norm over the valid queries. Uses the same products and softmax as the Linformer
 * path below, so that E = F = I (k = n) reproduces T bit for bit. */
static void lf_fit_target(lf_fit_ws *w, const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                          double *t, double *den)
{
    const double c = 1.0 / sqrt((double)d);
    lf_dgemm(0, 1, n, n, d, c, w->q, d, w->k, d, 0.0, w->nn, n);
    lf_softmax_rows_d(w->nn, n, n, mask);
    lf_dgemm(0, 0, n, dv, n, 1.0, w->nn, n, w->v, dv, 0.0, t, dv);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        for (int64_t j = 0; j < dv; j++) sum += t[i * dv + j] * t[i * dv + j];
    }
    *den = sum;
}

/* J of one head with w->q, k, v, e, f loaded; gradients into de, df [kp, ld]
 * (columns 0..n-1) when de != NULL. */
static double lf_fit_head_core(lf_fit_ws *w, const uint8_t *mask, int64_t n, int64_t d,
                               int64_t dv, int64_t kp, const double *t, double den, double *de,
                               double *df, int64_t ld)
{
    const double c = 1.0 / sqrt((double)d);
    lf_dgemm(0, 0, kp, d, n, 1.0, w->e, n, w->k, d, 0.0, w->kb, d);
    lf_dgemm(0, 0, kp, dv, n, 1.0, w->f, n, w->v, dv, 0.0, w->vb, dv);
    lf_dgemm(0, 1, n, kp, d, c, w->q, d, w->kb, d, 0.0, w->s, kp);
    lf_softmax_rows_d(w->s, n, kp, NULL);
    lf_dgemm(0, 0, n, dv, kp, 1.0, w->s, kp, w->vb, dv, 0.0, w->o, dv);
    double num = 0;
    const double g = 2.0 / den;
    for (int64_t i = 0; i < n; i++) {
        double *oi = w->o + i * dv;
        if (mask && !mask[i]) {
            memset(oi, 0, (size_t)dv * sizeof(double));
            continue;
        }
        const double *ti = t + i * dv;
        for (int64_t j = 0; j < dv; j++) {
            const double r = oi[j] - ti[j];
            num += r * r;
            oi[j] = g * r; /* dO */
        }
    }
    if (!de) return num / den;
    lf_dgemm(1, 0, kp, dv, n, 1.0, w->s, kp, w->o, dv, 0.0, w->dvb, dv);
    lf_dgemm(0, 1, n, kp, dv, 1.0, w->o, dv, w->vb, dv, 0.0, w->dp, kp);
    for (int64_t i = 0; i < n; i++) {
        const double *pi = w->s + i * kp;
        double *gi = w->dp + i * kp;
        double dot = 0;
        for (int64_t j = 0; j < kp; j++) dot += gi[j] * pi[j];
        for (int64_t j = 0; j < kp; j++) gi[j] = pi[j] * (gi[j] - dot);
    }
    lf_dgemm(1, 0, kp, d, n, c, w->dp, kp, w->q, d, 0.0, w->dkb, d);
    lf_dgemm(0, 1, kp, n, d, 1.0, w->dkb, d, w->k, d, 0.0, de, ld);
    lf_dgemm(0, 1, kp, n, dv, 1.0, w->dvb, dv, w->v, dv, 0.0, df, ld);
    return num / den;
}

/* Copies x [n, cols] into dst as double, zeroing padded rows (whatever they hold:
 * garbage in a padded query row would otherwise reach the gradient as NaN * 0). */
static void lf_fit_load_f(double *dst, const float *x, int64_t n, int64_t cols, const uint8_t *mask)
{
    for (int64_t i = 0; i < n; i++) {
        double *di = dst + i * cols;
        if (mask && !mask[i]) {
            memset(di, 0, (size_t)cols * sizeof(double));
            continue;
        }
        for (int64_t j = 0; j < cols; j++) di[j] = (double)x[i * cols + j];
    }
}

static void lf_fit_load_d(double *dst, const double *x, int64_t n, int64_t cols,
                          const uint8_t *mask)
{
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i])
            memset(dst + i * cols, 0, (size_t)cols * sizeof(double));
        else
            memcpy(dst + i * cols, x + i * cols, (size_t)cols * sizeof(double));
    }
}

int lf_fit_head_d(const double *q, const double *k, const double *v, const uint8_t *mask,
                  int64_t n, int64_t d, int64_t dv, const double *e, const double *f, int64_t kp,
                  double *loss, double *de, double *df)
{
    if (!q || !k || !v || !e || !f || !loss) LF_FAIL("lf_fit_head_d: NULL argument");
    if ((de == NULL) != (df == NULL)) LF_FAIL("lf_fit_head_d: de and df must both be set or NULL");
    if (n < 1 || d < 1 || dv < 1 || kp < 1 || n > (1 << 20) || d > (1 << 20) || dv > (1 << 20) ||
        kp > (1 << 20))
        LF_FAIL("lf_fit_head_d: sizes out of range (n %lld, d %lld, dv %lld, k %lld)",
                (long long)n, (long long)d, (long long)dv, (long long)kp);
    lf_fit_ws w;
    double *t = lf_alloc((size_t)n * (size_t)dv, sizeof(double));
    if (!t || lf_fit_ws_init(&w, n, kp, d, dv, 1) != 0) {
        lf_free(t);
        lf_error_prefix("lf_fit_head_d: work space");
        return -1;
    }
    lf_fit_load_d(w.q, q, n, d, mask);
    lf_fit_load_d(w.k, k, n, d, mask);
    lf_fit_load_d(w.v, v, n, dv, mask);
    memcpy(w.e, e, (size_t)(kp * n) * sizeof(double));
    memcpy(w.f, f, (size_t)(kp * n) * sizeof(double));
    double den;
    lf_fit_target(&w, mask, n, d, dv, t, &den);
    int rc = -1;
    if (!(den > 0) || !isfinite(den)) {
        lf_error_set("lf_fit_head_d: the dense output is zero or not finite: J is undefined");
    } else {
        *loss = lf_fit_head_core(&w, mask, n, d, dv, kp, t, den, de, df, n);
        rc = 0;
    }
    lf_fit_ws_free(&w);
    lf_free(t);
    return rc;
}

/* ---- a plan ------------------------------------------------------------------ */

/* Items are (example, layer, head), example-major. Targets are computed once. */
typedef struct {
    const lf_plan *plan;
    const lf_fit_data *data;
    int items;
    int64_t nmax, kmax;
    size_t *t_off;  /* [items]: offset of each target in t */
    double *t;      /* targets, [len, dv] each */
    double *den;    /* [items] */
    size_t *p_off;  /* [n_proj]: offset of each projection in the parameter vector */
    size_t params;
} lf_fit_ctx;

static int64_t lf_fit_len(const lf_fit_ctx *x, int ex)
{
    return x->data->len ? x->data->len[ex] : x->plan->n;
}

static const uint8_t *lf_fit_mask(const lf_fit_ctx *x, int ex)
{
    return x->data->mask ? x->data->mask[ex] : NULL;
}

static void lf_fit_ctx_free(lf_fit_ctx *x)
{
    lf_free(x->t_off);
    lf_free(x->t);
    lf_free(x->den);
    lf_free(x->p_off);
    memset(x, 0, sizeof *x);
}

static int lf_fit_check(const lf_plan *plan, const lf_fit_data *data)
{
    if (!plan || !plan->proj || !plan->index || !plan->k) LF_FAIL("fit: NULL or uninitialised plan");
    if (!data || !data->q || !data->k || !data->v) LF_FAIL("fit: NULL data or Q/K/V arrays");
    if (plan->kind != LF_PROJ_LINEAR && plan->kind != LF_PROJ_GAUSSIAN)
        LF_FAIL("fit: a %s plan has no [k, n] matrix to fit (use linear or gaussian)",
                lf_proj_kind_name(plan->kind));
    if (data->layers != plan->layers || data->heads != plan->heads)
        LF_FAIL("fit: data has %d layers x %d heads but the plan %d x %d", data->layers,
                data->heads, plan->layers, plan->heads);
    if (data->examples < 1) LF_FAIL("fit: examples = %d must be >= 1", data->examples);
    if (data->d < 1 || data->dv < 1 || data->d > (1 << 20) || data->dv > (1 << 20))
        LF_FAIL("fit: head dimensions d = %lld, dv = %lld out of range", (long long)data->d,
                (long long)data->dv);
    if ((int64_t)data->examples * plan->layers * plan->heads > (1 << 30))
        LF_FAIL("fit: too many (example, layer, head) items");
    for (int ex = 0; ex < data->examples; ex++) {
        int64_t len = data->len ? data->len[ex] : plan->n;
        if (len < 1 || len > plan->n)
            LF_FAIL("fit: example %d has length %lld, outside 1..%lld (the plan's n)", ex,
                    (long long)len, (long long)plan->n);
    }
    int items = data->examples * plan->layers * plan->heads;
    for (int i = 0; i < items; i++)
        if (!data->q[i] || !data->k[i] || !data->v[i])
            LF_FAIL("fit: NULL Q, K or V for example %d layer %d head %d",
                    i / (plan->layers * plan->heads), i / plan->heads % plan->layers,
                    i % plan->heads);
    return 0;
}

/* Loads item i's inputs (as double, padded rows zeroed) into w. */
static void lf_fit_load_item(const lf_fit_ctx *x, lf_fit_ws *w, int i)
{
    const lf_fit_data *data = x->data;
    const int ex = i / (data->layers * data->heads);
    const int64_t len = lf_fit_len(x, ex);
    const uint8_t *mask = lf_fit_mask(x, ex);
    lf_fit_load_f(w->q, data->q[i], len, data->d, mask);
    lf_fit_load_f(w->k, data->k[i], len, data->d, mask);
    lf_fit_load_f(w->v, data->v[i], len, data->dv, mask);
}

static int lf_fit_ctx_init(lf_fit_ctx *x, const lf_plan *plan, const lf_fit_data *data)
{
    memset(x, 0, sizeof *x);
    LF_TRY(lf_fit_check(plan, data));
    /* First use sets the thread count and makes BLAS serial: a threaded dgemm inside
     * the item loop would oversubscribe the cores. */
    (void)lf_threads_get();
    x->plan = plan;
    x->data = data;
    x->items = data->examples * plan->layers * plan->heads;
    const int lh = plan->layers * plan->heads;
    for (int i = 0; i < lh; i++)
        if (plan->k[i] > x->kmax) x->kmax = plan->k[i];
    x->t_off = lf_alloc((size_t)x->items, sizeof *x->t_off);
    x->den = lf_alloc((size_t)x->items, sizeof *x->den);
    x->p_off = lf_alloc((size_t)plan->n_proj, sizeof *x->p_off);
    if (!x->t_off || !x->den || !x->p_off) goto oom;
    size_t total = 0;
    for (int i = 0; i < x->items; i++) {
        int64_t len = lf_fit_len(x, i / lh);
        if (len > x->nmax) x->nmax = len;
        x->t_off[i] = total;
        total += (size_t)len * (size_t)data->dv;
    }
    for (int p = 0; p < plan->n_proj; p++) {
        x->p_off[p] = x->params;
        x->params += (size_t)plan->proj[p].k * (size_t)plan->proj[p].n;
    }
    x->t = lf_alloc(total, sizeof(double));
    if (!x->t) goto oom;

    int failed = 0;
#pragma omp parallel
    {
        lf_fit_ws w;
        int ok = lf_fit_ws_init(&w, x->nmax, 1, data->d, data->dv, 1) == 0;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < x->items; i++) {
            if (!ok) continue;
            lf_fit_load_item(x, &w, i);
            lf_fit_target(&w, lf_fit_mask(x, i / lh), lf_fit_len(x, i / lh), data->d, data->dv,
                          x->t + x->t_off[i], &x->den[i]);
        }
        if (ok) lf_fit_ws_free(&w);
    }
    if (failed) goto oom;
    for (int i = 0; i < x->items; i++)
        if (!(x->den[i] > 0) || !isfinite(x->den[i])) {
            lf_error_set("fit: example %d layer %d head %d: the dense attention output is %s, so "
                         "the relative error is undefined (check Q, K, V and the mask)",
                         i / lh, i / plan->heads % plan->layers, i % plan->heads,
                         isfinite(x->den[i]) ? "zero" : "not finite");
            lf_fit_ctx_free(x);
            return -1;
        }
    return 0;
oom:
    lf_error_set("fit: out of memory for the targets and work space (%d items, n %lld, dv %lld)",
                 x->items, (long long)x->nmax, (long long)data->dv);
    lf_fit_ctx_free(x);
    return -1;
}

/* Gaussian users with fewer rows than the shared matrix see them scaled by
 * sqrt(k / k_use), exactly as lf_proj_apply computes it (in float). */
static double lf_fit_alpha(const lf_proj *p, int64_t kp)
{
    if (p->kind == LF_PROJ_GAUSSIAN && kp < p->k) return (double)(float)sqrt((double)p->k / (double)kp);
    return 1.0;
}

static void lf_fit_load_proj(double *dst, const lf_proj *p, int64_t kp, int64_t len)
{
    const double a = lf_fit_alpha(p, kp);
    for (int64_t r = 0; r < kp; r++)
        for (int64_t c = 0; c < len; c++) dst[r * len + c] = a * (double)p->weights[r * p->n + c];
}

/* Items per batch of per-item gradients: bounded memory (~256 MiB). The result does
 * not depend on it: the reduction adds items in item order whatever the batching. */
static int lf_fit_batch(const lf_fit_ctx *x)
{
    double per = 2.0 * (double)x->kmax * (double)x->nmax * sizeof(double);
    double b = 256.0 * 1024 * 1024 / per;
    if (b < 1) b = 1;
    return b > x->items ? x->items : (int)b;
}

/* Mean J over the items, and (grad != NULL) its gradient [params]. */
static int lf_fit_eval(const lf_fit_ctx *x, double *loss, double *grad)
{
    const lf_plan *plan = x->plan;
    const lf_fit_data *data = x->data;
    const int lh = plan->layers * plan->heads;
    const int64_t d = data->d, dv = data->dv;
    const int batch = grad ? lf_fit_batch(x) : x->items;
    const size_t slot = 2 * (size_t)x->kmax * (size_t)x->nmax; /* de then df, [kp, len] each */
    double *losses = lf_alloc((size_t)x->items, sizeof(double));
    double *g = grad ? lf_alloc((size_t)batch, slot * sizeof(double)) : NULL;
    /* One reduction task per row of every projection: rows are independent, and
     * each adds its users in item order. */
    int64_t rows = 0;
    for (int p = 0; p < plan->n_proj; p++) rows += plan->proj[p].k;
    if (!losses || (grad && !g)) {
        lf_free(losses);
        lf_free(g);
        lf_error_prefix("fit: per-item buffers");
        return -1;
    }
    if (grad) memset(grad, 0, x->params * sizeof(double));
    const double scale = 1.0 / (double)x->items;
    int failed = 0;
    for (int b0 = 0; b0 < x->items; b0 += batch) {
        const int b1 = b0 + batch < x->items ? b0 + batch : x->items;
#pragma omp parallel
        {
            lf_fit_ws w;
            int ok = lf_fit_ws_init(&w, x->nmax, x->kmax, d, dv, 0) == 0;
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int i = b0; i < b1; i++) {
                if (!ok) continue;
                const int ex = i / lh, h = i % lh;
                const int64_t len = lf_fit_len(x, ex), kp = plan->k[h];
                const lf_proj *pe = &plan->proj[plan->index[h * 2]];
                const lf_proj *pf = &plan->proj[plan->index[h * 2 + 1]];
                lf_fit_load_item(x, &w, i);
                lf_fit_load_proj(w.e, pe, kp, len);
                lf_fit_load_proj(w.f, pf, kp, len);
                double *de = grad ? g + (size_t)(i - b0) * slot : NULL;
                double *df = grad ? de + slot / 2 : NULL;
                losses[i] = lf_fit_head_core(&w, lf_fit_mask(x, ex), len, d, dv, kp,
                                             x->t + x->t_off[i], x->den[i], de, df, len);
            }
            if (ok) lf_fit_ws_free(&w);
        }
        if (failed || !grad) continue;
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t row = 0; row < rows; row++) {
            int p = 0;
            int64_t r = row;
            while (r >= plan->proj[p].k) r -= plan->proj[p++].k;
            const lf_proj *pr = &plan->proj[p];
            double *gr = grad + x->p_off[p] + (size_t)r * (size_t)pr->n;
            for (int i = b0; i < b1; i++) {
                const int h = i % lh;
                const int64_t len = lf_fit_len(x, i / lh), kp = plan->k[h];
                if (r >= kp) continue;
                for (int which = 0; which < 2; which++) {
                    if (plan->index[h * 2 + which] != p) continue;
                    /* d/dW of a W scaled by alpha: alpha times d/d(alpha W). */
                    const double a = lf_fit_alpha(pr, kp) * scale;
                    const double *src =
                        g + (size_t)(i - b0) * slot + (which ? slot / 2 : 0) + (size_t)(r * len);
                    for (int64_t c = 0; c < len; c++) gr[c] += a * src[c];
                }
            }
        }
    }
    double sum = 0;
    int bad = -1;
    if (!failed)
        for (int i = 0; i < x->items; i++) {
            if (!isfinite(losses[i]) && bad < 0) bad = i;
            sum += losses[i];
        }
    lf_free(losses);
    lf_free(g);
    if (failed) LF_FAIL("fit: out of memory for the per-thread work space");
    if (bad >= 0)
        LF_FAIL("fit: non-finite objective at example %d layer %d head %d (check the inputs and "
                "the projections)",
                bad / lh, bad / plan->heads % plan->layers, bad % plan->heads);
    *loss = sum * scale;
    return 0;
}

/* ---- public ------------------------------------------------------------------ */

lf_fit_opts lf_fit_opts_default(void)
{
    lf_fit_opts o = {.steps = 200, .lr = 1e-2, .lr_final = 0.1, .beta1 = 0.9, .beta2 = 0.999,
                     .eps = 1e-12, .verbose = 0};
    return o;
}

int lf_fit_loss(const lf_plan *plan, const lf_fit_data *data, double *loss)
{
    if (!loss) LF_FAIL("lf_fit_loss: NULL loss");
    lf_fit_ctx x;
    LF_TRY(lf_fit_ctx_init(&x, plan, data));
    int rc = lf_fit_eval(&x, loss, NULL);
    lf_fit_ctx_free(&x);
    return rc;
}

int lf_fit_loss_grad(const lf_plan *plan, const lf_fit_data *data, double *loss, double *grad)
{
    if (!loss || !grad) LF_FAIL("lf_fit_loss_grad: NULL loss or grad");
    lf_fit_ctx x;
    LF_TRY(lf_fit_ctx_init(&x, plan, data));
    int rc = lf_fit_eval(&x, loss, grad);
    lf_fit_ctx_free(&x);
    return rc;
}

struct lf_fit_session {
    lf_fit_ctx x;
};

lf_fit_session *lf_fit_session_new(const lf_plan *plan, const lf_fit_data *data)
{
    lf_fit_session *s = lf_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (lf_fit_ctx_init(&s->x, plan, data) != 0) {
        lf_free(s);
        return NULL;
    }
    return s;
}

int lf_fit_session_eval(lf_fit_session *s, double *loss, double *grad)
{
    if (!s || !loss) LF_FAIL("lf_fit_session_eval: NULL session or loss");
    return lf_fit_eval(&s->x, loss, grad);
}

void lf_fit_session_free(lf_fit_session *s)
{
    if (!s) return;
    lf_fit_ctx_free(&s->x);
    lf_free(s);
}

int lf_fit_plan(lf_plan *plan, const lf_fit_data *data, const lf_fit_opts *opts,
                double *final_loss)
{
    lf_fit_opts o = opts ? *opts : lf_fit_opts_default();
    if (o.steps < 0 || !(o.lr >= 0) || !(o.lr_final >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) ||
        !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps >= 0))
        LF_FAIL("lf_fit_plan: bad options (steps %d >= 0, lr %g >= 0, lr_final %g >= 0, betas "
                "%g, %g in [0, 1), eps %g >= 0)",
                o.steps, o.lr, o.lr_final, o.beta1, o.beta2, o.eps);
    lf_fit_ctx x;
    LF_TRY(lf_fit_ctx_init(&x, plan, data));
    const size_t P = x.params;
    double *theta = lf_alloc(P, sizeof(double)), *grad = lf_alloc(P, sizeof(double));
    double *m = lf_calloc(P, sizeof(double)), *v = lf_calloc(P, sizeof(double));
    float *best = lf_alloc(P, sizeof(float));
    int rc = -1;
    if (!theta || !grad || !m || !v || !best) {
        lf_error_prefix("lf_fit_plan: optimiser state (%zu parameters)", P);
        goto done;
    }
    for (int p = 0; p < plan->n_proj; p++) {
        const lf_proj *pr = &plan->proj[p];
        const size_t cnt = (size_t)pr->k * (size_t)pr->n;
        for (size_t j = 0; j < cnt; j++) theta[x.p_off[p] + j] = pr->weights[j];
        memcpy(best + x.p_off[p], pr->weights, cnt * sizeof(float));
    }
    double best_loss = INFINITY;
    double b1t = 1, b2t = 1;
    for (int step = 0;; step++) {
        double loss;
        /* The loss and gradient are those of the float weights stored in the plan:
         * what is fitted is what lf_proj_apply will use. */
        if (lf_fit_eval(&x, &loss, step < o.steps ? grad : NULL) != 0) goto done;
        if (o.verbose > 0 && (step % o.verbose == 0 || step == o.steps))
            fprintf(stderr, "fit: step %d loss %.6g\n", step, loss);
        if (loss < best_loss) {
            best_loss = loss;
            for (int p = 0; p < plan->n_proj; p++)
                memcpy(best + x.p_off[p], plan->proj[p].weights,
                       (size_t)plan->proj[p].k * (size_t)plan->proj[p].n * sizeof(float));
        }
        if (step >= o.steps) break;
        const double lr = o.lr * (o.lr_final + (1 - o.lr_final) * 0.5 *
                                                   (1 + cos(M_PI * (double)step / (double)o.steps)));
        b1t *= o.beta1;
        b2t *= o.beta2;
        const double c1 = 1.0 / (1 - b1t), c2 = 1.0 / (1 - b2t);
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < P; j++) {
            m[j] = o.beta1 * m[j] + (1 - o.beta1) * grad[j];
            v[j] = o.beta2 * v[j] + (1 - o.beta2) * grad[j] * grad[j];
            const double den = sqrt(v[j] * c2) + o.eps;
            if (den > 0) theta[j] -= lr * (m[j] * c1) / den; /* eps = 0 and g = 0: no step */
        }
        for (int p = 0; p < plan->n_proj; p++) {
            lf_proj *pr = &plan->proj[p];
            const size_t cnt = (size_t)pr->k * (size_t)pr->n;
            for (size_t j = 0; j < cnt; j++) pr->weights[j] = (float)theta[x.p_off[p] + j];
        }
    }
    for (int p = 0; p < plan->n_proj; p++)
        memcpy(plan->proj[p].weights, best + x.p_off[p],
               (size_t)plan->proj[p].k * (size_t)plan->proj[p].n * sizeof(float));
    if (final_loss) *final_loss = best_loss;
    rc = 0;
done:
    lf_free(theta);
    lf_free(grad);
    lf_free(m);
    lf_free(v);
    lf_free(best);
    lf_fit_ctx_free(&x);
    return rc;
}
