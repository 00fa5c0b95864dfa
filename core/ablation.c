/* ablation.c - per-head low-rank measurements accumulated over sequences: best
 * rank-k error, Theorem-1 errors and Linformer output errors (see ablation.h).
 */
#include "ablation.h"

#include <math.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "lowrank.h"
#include "mem.h"
#include "parallel.h"

static int stat_init(lf_ab_stat *s, int64_t count)
{
    s->count = count;
    s->mean = lf_calloc((size_t)count, sizeof(double));
    s->m2 = lf_calloc((size_t)count, sizeof(double));
    s->n = lf_calloc((size_t)count, sizeof(int64_t));
    return s->mean && s->m2 && s->n ? 0 : -1;
}

static void stat_free(lf_ab_stat *s)
{
    lf_free(s->mean), lf_free(s->m2), lf_free(s->n);
    memset(s, 0, sizeof *s);
}

static void stat_add(lf_ab_stat *s, int64_t i, double x)
{
    s->n[i]++;
    double d = x - s->mean[i];
    s->mean[i] += d / (double)s->n[i];
    s->m2[i] += d * (x - s->mean[i]);
}

void lf_ab_stat_results(const lf_ab_stat *s, double *mean, double *std)
{
    for (int64_t i = 0; i < s->count; i++) {
        if (mean) mean[i] = s->n[i] > 0 ? s->mean[i] : NAN;
        if (std) std[i] = s->n[i] > 1 ? sqrt(s->m2[i] / (double)(s->n[i] - 1)) : NAN;
    }
}

void lf_ablation_free(lf_ablation *ab)
{
    if (!ab) return;
    lf_free(ab->ks), lf_free(ab->seen);
    stat_free(&ab->svd), stat_free(&ab->jl), stat_free(&ab->jl_out), stat_free(&ab->out);
    memset(ab, 0, sizeof *ab);
}

int lf_ablation_init(lf_ablation *ab, int layers, int heads, int64_t n, const int64_t *ks, int nk,
                     const lf_plan *const *plans, int nplans, int jl_trials, uint64_t seed)
{
    memset(ab, 0, sizeof *ab);
    if (layers < 1 || heads < 1 || n < 1 || nk < 0 || nplans < 0 || jl_trials < 0 ||
        (nk > 0 && !ks) || (nplans > 0 && !plans))
        LF_FAIL("ablation: bad sizes (layers %d, heads %d, n %lld, %d k, %d plans, %d trials)",
                layers, heads, (long long)n, nk, nplans, jl_trials);
    for (int i = 0; i < nk; i++)
        if (ks[i] < 1 || ks[i] > n) LF_FAIL("ablation: k = %lld outside 1..%lld", (long long)ks[i], (long long)n);
    for (int i = 0; i < nplans; i++)
        if (plans[i] && (plans[i]->layers != layers || plans[i]->heads != heads || plans[i]->n < n))
            LF_FAIL("ablation: plan %d is for %d layers x %d heads, n %lld; the model has %d x %d, "
                    "n %lld",
                    i, plans[i]->layers, plans[i]->heads, (long long)plans[i]->n, layers, heads,
                    (long long)n);
    ab->layers = layers, ab->heads = heads, ab->n = n, ab->nk = nk, ab->nplans = nplans;
    ab->plans = plans, ab->jl_trials = jl_trials, ab->seed = seed;
    const int64_t lh = (int64_t)layers * heads;
    ab->ks = lf_alloc((size_t)(nk > 0 ? nk : 1), sizeof(int64_t));
    ab->seen = lf_calloc((size_t)layers, sizeof(int64_t));
    if (!ab->ks || !ab->seen || stat_init(&ab->svd, nk * lh) || stat_init(&ab->jl, nk * lh) ||
        stat_init(&ab->jl_out, nk * lh) || stat_init(&ab->out, nplans * lh)) {
        lf_ablation_free(ab);
        LF_FAIL("ablation: out of memory");
    }
    if (nk > 0) memcpy(ab->ks, ks, (size_t)nk * sizeof(int64_t));
    return 0;
}

/* Records the first failure of a parallel loop (message copied under a lock). */
typedef struct {
    int failed;
    char msg[512];
} fail_rec;

static void fail_note(fail_rec *f, const char *what, int64_t b, int64_t h)
{
#pragma omp critical(lf_ablation_fail)
    if (!f->failed) {
        f->failed = 1;
        snprintf(f->msg, sizeof f->msg, "%s, sequence %lld head %lld: %s", what, (long long)b,
                 (long long)h, lf_error_get());
    }
}

int lf_ablation_observe(void *user, lf_encoder_attn *a)
{
    lf_ablation *ab = user;
    const int l = a->layer;
    const int64_t B = a->B, n = a->n, H = a->H, D = a->D, nk = ab->nk;
    if (l < 0 || l >= ab->layers || H != ab->heads || n != ab->n)
        LF_FAIL("ablation: layer %d with %lld heads and n %lld does not match %d layers, %d heads, "
                "n %lld",
                l, (long long)H, (long long)n, ab->layers, ab->heads, (long long)ab->n);
    if (a->mask) LF_FAIL("ablation: padded sequences are not supported (mask given)");
    if (!a->probs) LF_FAIL("ablation: the attention matrices are needed (keep_probs)");
    const int64_t s0 = ab->seen[l];
    int rc = -1;
    const int64_t BH = B * H, n_sv = n;
    double *sv = lf_alloc((size_t)(BH * n_sv), sizeof(double));
    double *svd_v = lf_alloc((size_t)(BH * (nk > 0 ? nk : 1)), sizeof(double));
    const int64_t jl_items = ab->jl_trials > 0 ? BH * nk : 0;
    double *jl_v = lf_alloc((size_t)(jl_items * ab->jl_trials + 1), sizeof(double));
    double *jlo_v = lf_alloc((size_t)(jl_items * ab->jl_trials + 1), sizeof(double));
    const int64_t out_items = (int64_t)ab->nplans * BH;
    double *out_v = lf_alloc((size_t)(out_items + 1), sizeof(double));
    fail_rec fr = {0, ""};
    if (!sv || !svd_v || !jl_v || !jlo_v || !out_v) goto done;

    /* Singular values of every (sequence, head) P; then the best rank-k errors. */
    for (int64_t b = 0; b < B; b++)
        if (lf_sv_batch(lf_encoder_attn_probs(a, b, 0), H, n, n, LF_SV_DEFAULT, sv + b * H * n_sv) != 0) {
            lf_error_prefix("ablation: singular values, layer %d sequence %lld", l, (long long)(s0 + b));
            goto done;
        }
    for (int64_t i = 0; i < BH && nk > 0; i++)
        if (lf_lowrank_best_errors(sv + i * n_sv, n_sv, ab->ks, nk, svd_v + i * nk, NULL) != 0) {
            lf_error_prefix("ablation: best rank-k error, layer %d sequence %lld head %lld", l,
                            (long long)(s0 + i / H), (long long)(i % H));
            goto done;
        }

    /* Theorem 1: items (sequence, head, k), serial BLAS inside each. */
    const int nt = lf_threads_get();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < jl_items; it++) {
        const int64_t b = it / (H * nk), h = it / nk % H, ki = it % nk;
        const float *p = lf_encoder_attn_probs(a, b, h);
        const float *v = lf_encoder_attn_head(a, a->v, b, h);
        const uint64_t stream = (uint64_t)((((s0 + b) * ab->layers + l) * H + h) * nk + ki);
        const int64_t T = ab->jl_trials;
        if (lf_lowrank_jl_error(p, n, n, ab->ks[ki], NULL, 0, T, ab->seed, stream, jl_v + it * T,
                                NULL, NULL) != 0 ||
            lf_lowrank_jl_error(p, n, n, ab->ks[ki], v, D, T, ab->seed, stream, jlo_v + it * T, NULL,
                                NULL) != 0)
            fail_note(&fr, "ablation: JL error", s0 + b, h);
    }
    if (fr.failed) {
        lf_error_set("layer %d: %s", l, fr.msg);
        goto done;
    }

    /* Output errors: items (plan, sequence, head). */
    int64_t kmax = 1;
    for (int p = 0; p < ab->nplans; p++)
        if (ab->plans[p])
            for (int64_t i = 0; i < (int64_t)ab->layers * H; i++)
                if (ab->plans[p]->k[i] > kmax) kmax = ab->plans[p]->k[i];
#pragma omp parallel num_threads(nt)
    {
        float *kb = lf_alloc((size_t)(kmax * D), sizeof(float));
        float *vb = lf_alloc((size_t)(kmax * D), sizeof(float));
        float *lin = lf_alloc((size_t)(n * D), sizeof(float));
        uint8_t *sk = lf_alloc((size_t)kmax, 1), *svm = lf_alloc((size_t)kmax, 1);
        const int ok = kb && vb && lin && sk && svm;
        if (!ok) fail_note(&fr, "ablation: work space", s0, 0);
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < out_items; it++) {
            const int pi = (int)(it / BH);
            const int64_t b = it / H % B, h = it % H;
            const lf_plan *plan = ab->plans[pi];
            if (!ok || !plan) {
                out_v[it] = NAN;
                continue;
            }
            const int64_t kp = lf_plan_k(plan, l, (int)h);
            const float *q = lf_encoder_attn_head(a, a->q, b, h);
            const float *k = lf_encoder_attn_head(a, a->k, b, h);
            const float *v = lf_encoder_attn_head(a, a->v, b, h);
            const float *dense = lf_encoder_attn_head(a, a->out, b, h);
            if (lf_proj_apply(lf_plan_get(plan, l, (int)h, 0), kp, k, n, D, NULL, kb, sk) != 0 ||
                lf_proj_apply(lf_plan_get(plan, l, (int)h, 1), kp, v, n, D, NULL, vb, svm) != 0) {
                fail_note(&fr, "ablation: projection", s0 + b, h);
                continue;
            }
            for (int64_t j = 0; j < kp; j++) sk[j] = sk[j] && svm[j];
            if (lf_attention_projected(q, kb, vb, sk, n, kp, D, D, NULL, lin) != 0) {
                fail_note(&fr, "ablation: projected attention", s0 + b, h);
                continue;
            }
            const double num = lf_sumsq_diff(lin, dense, (size_t)(n * D));
            const double den = lf_sumsq(dense, (size_t)(n * D));
            out_v[it] = sqrt(num / den);
            if (!isfinite(out_v[it])) {
                lf_error_set("non-finite output error (||P V||^2 = %g)", den);
                fail_note(&fr, "ablation: output error", s0 + b, h);
            }
        }
        lf_free(kb), lf_free(vb), lf_free(lin), lf_free(sk), lf_free(svm);
    }
    if (fr.failed) {
        lf_error_set("layer %d: %s", l, fr.msg);
        goto done;
    }

    /* Accumulate in sequence order (deterministic). */
    const int64_t lh = (int64_t)ab->layers * H;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            for (int64_t ki = 0; ki < nk; ki++) {
                const int64_t idx = ki * lh + l * H + h;
                stat_add(&ab->svd, idx, svd_v[(b * H + h) * nk + ki]);
                for (int64_t t = 0; t < (jl_items ? ab->jl_trials : 0); t++) {
                    const int64_t it = (b * H + h) * nk + ki;
                    stat_add(&ab->jl, idx, jl_v[it * ab->jl_trials + t]);
                    stat_add(&ab->jl_out, idx, jlo_v[it * ab->jl_trials + t]);
                }
            }
            for (int p = 0; p < ab->nplans; p++)
                if (ab->plans[p]) stat_add(&ab->out, p * lh + l * H + h, out_v[p * BH + b * H + h]);
        }
    ab->seen[l] += B;
    rc = 0;
done:
    if (rc != 0 && (!sv || !svd_v || !jl_v || !jlo_v || !out_v)) lf_error_set("ablation: out of memory");
    lf_free(sv), lf_free(svd_v), lf_free(jl_v), lf_free(jlo_v), lf_free(out_v);
    return rc;
}
